//! A client that stops reading: the sidecar's memory stays bounded (the child blocks
//! instead), and once reading resumes the stream continues byte-exact.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::prelude::*;

/// The documented bound on the sidecar's resident memory with one flooding child and a
/// client that does not read (see `kennel_cli::serve` module docs: a few MiB of queues
/// on top of the binary).
const RSS_BOUND_KIB: u64 = 64 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_bounded_when_the_client_stops_reading() {
    let mut sc = Sidecar::start().await;
    let gib = (1u64 << 30).to_string();
    sc.spawn(
        "flood",
        &["flood", "--bytes", &gib, "--pid-stderr"],
        json!({}),
    )
    .await;
    let pid = {
        sc.wait_event("stderr", "flood").await;
        let lines = parse_pid_lines(&sc.output_of("flood", "stderr"));
        lines[0].pid
    };
    sc.wait_event("stdout", "flood").await;
    let before = rss_kib(sc.pid).expect("sidecar rss");

    // Stop reading. Sample until both the child's written byte count and the
    // sidecar's RSS have not moved for 2 s: backpressure reached the child.
    let deadline = Instant::now() + PATIENCE;
    let mut max_rss = 0;
    let mut last = (0, 0);
    let mut stable_since = Instant::now();
    loop {
        let rss = rss_kib(sc.pid).expect("sidecar rss");
        let written = wchar(pid).expect("child io");
        max_rss = max_rss.max(rss);
        if (rss, written) != last {
            last = (rss, written);
            stable_since = Instant::now();
        } else if stable_since.elapsed() >= Duration::from_secs(2) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no steady state: rss {rss} KiB, child wrote {written} bytes"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stalled_at = last.1;
    eprintln!(
        "stalled: sidecar VmRSS {before} KiB before, max {max_rss} KiB; child wrote {stalled_at} of 1 GiB"
    );
    assert!(
        max_rss < RSS_BOUND_KIB,
        "sidecar RSS {max_rss} KiB over the bound"
    );
    assert!(stalled_at < 1 << 30, "the child was blocked, not finished");
    assert!(is_alive(pid));

    // Resume: the stream continues where it stopped, byte-exact.
    let target = stalled_at as usize + 8 * 1024 * 1024;
    while sc.output_of("flood", "stdout").len() < target {
        let e = sc.wait_for("flood output", |e| e["id"] == "flood").await;
        assert_ne!(e["event"], "exit", "{e}");
    }
    let exit = sc.end("kill", "flood").await;
    sc.assert_text_prefix_counted("flood", &exit);
    assert_gone(&[pid]);
    sc.finish().await;
}

/// Control requests are served while the client reads nothing: a `kill` and a `cancel`
/// end their trees (seen in `/proc`) although the output behind them is stuck.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_requests_work_while_output_is_stuck() {
    let mut sc = Sidecar::start().await;
    let tree = sc.spawn_ignoring_tree("tree", (2, 3), json!({})).await;
    let gib = (1u64 << 30).to_string();
    sc.spawn(
        "flood",
        &["flood", "--bytes", &gib, "--pid-stderr"],
        json!({"grace_ms": 100}),
    )
    .await;
    sc.wait_event("stderr", "flood").await;
    let flood = parse_pid_lines(&sc.output_of("flood", "stderr"))[0].pid;

    // Stop reading until the flood is blocked in write(2).
    let deadline = Instant::now() + PATIENCE;
    let mut last = 0;
    let mut stable_since = Instant::now();
    while stable_since.elapsed() < Duration::from_secs(1) {
        let written = wchar(flood).expect("flood io");
        if written != last {
            last = written;
            stable_since = Instant::now();
        }
        assert!(Instant::now() < deadline, "the flood never blocked");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sc.send(request::kill("tree")).await;
    sc.send(json!({"op": "signal", "id": "flood", "signal": "SIGSTOP"}))
        .await;
    sc.send(request::cancel("flood")).await;
    // Still not reading: the trees go away anyway.
    assert_gone(&tree);
    assert_gone(&[flood]);

    let exit = sc.seen_event("exit", "tree").await;
    assert_eq!(exit["reason"], "killed");
    let exit = sc.seen_event("exit", "flood").await;
    assert_eq!(exit["reason"], "cancelled");
    sc.assert_text_prefix_counted("flood", &exit);
    sc.finish().await;
}
