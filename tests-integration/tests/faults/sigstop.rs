//! The sidecar stopped with SIGSTOP for seconds while children write, then continued:
//! no output is lost or reordered (the children block on their full pipes meanwhile),
//! and every stream is complete and exact.

use crate::prelude::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_then_continued_loses_no_output() {
    let mut sc = Sidecar::start().await;
    let ids = ["flood", "tree", "paced"];
    let seeds = [11u64, 12, 13];
    let plans: [(&[&str], u32, u64); 3] = [
        (
            &["seq", "--records", "60000", "--chunk", "4096", "--stderr"],
            1,
            60000,
        ),
        (&["seq", "--records", "3000", "--procs", "4"], 4, 3000),
        (
            &[
                "seq",
                "--records",
                "2000",
                "--procs",
                "2",
                "--delay-us",
                "200",
            ],
            2,
            2000,
        ),
    ];
    for ((id, seed), (args, _, _)) in ids.iter().zip(seeds).zip(plans) {
        let mut args: Vec<&str> = args.to_vec();
        let seed = seed.to_string();
        args.extend(["--seed", &seed]);
        sc.spawn(id, &args, json!({})).await;
    }
    // Output is flowing: stop the sidecar, let the pipes fill, continue it.
    sc.wait_event("stdout", "flood").await;
    send_signal(sc.pid, libc::SIGSTOP);
    assert!(kennel_tests::wait_until(
        SHORT,
        || kennel_tests::is_stopped(sc.pid)
    ));
    // Stopped for 2 s: the point of this test is the duration, not a condition.
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert!(kennel_tests::is_stopped(sc.pid), "still stopped after 2 s");
    send_signal(sc.pid, libc::SIGCONT);
    // Exits may come in any order: wait until the log has all three.
    let has_exit = |sc: &Sidecar, id: &str| sc.events_of(id).iter().any(|e| e["event"] == "exit");
    while !ids.iter().all(|id| has_exit(&sc, id)) {
        sc.wait_for("the exits", |e| e["event"] == "exit").await;
    }
    for ((id, seed), (_, writers, records)) in ids.iter().zip(seeds).zip(plans) {
        let exit = sc.events_of(id).last().map(|e| (*e).clone()).unwrap();
        assert_eq!(exit["reason"], "exited", "{exit}");
        assert_eq!(exit["code"], 0, "{exit}");
        assert_eq!(exit["drain"], "complete", "{exit}");
        for stream in ["stdout", "stderr"] {
            let bytes = sc.output_of(id, stream);
            assert_eq!(exit[stream]["bytes"], bytes.len(), "{id} {stream}");
            let mut c = SeqChecker::new(seed);
            c.feed(&bytes)
                .unwrap_or_else(|e| panic!("{id} {stream}: {e}"));
            if stream == "stdout" || *id == "flood" {
                c.finish_complete(writers, records)
                    .unwrap_or_else(|e| panic!("{id} {stream}: {e}"));
            } else {
                assert!(bytes.is_empty(), "{id}: unexpected stderr");
            }
        }
        assert_child_order(&sc.events_of(id));
    }
    sc.finish().await;
}
