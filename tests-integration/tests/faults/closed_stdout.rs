//! A child that closes its stdout early but keeps running: the stream ends (EOF), the
//! run does not — no `exit` until the child is cancelled, and then it reports exactly
//! the bytes written before the close.

use std::time::Duration;

use kennel::{Command, EndReason, Event, Ladder, Signal};

use crate::prelude::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn library_keeps_supervising_after_stdout_closed() {
    let mut child = Command::new(FIXTURE)
        .arg("close-stdout")
        .ladder(Ladder::graceful(Signal::Term, Duration::from_secs(5)))
        .spawn()
        .expect("spawn");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    while !err.ends_with(b"stdout closed\n") || parse_pid_lines(&out).is_empty() {
        match tokio::time::timeout(PATIENCE, child.next_event()).await {
            Ok(Some(Event::Stdout(b))) => out.extend_from_slice(&b),
            Ok(Some(Event::Stderr(b))) => err.extend_from_slice(&b),
            other => panic!("expected output, got {other:?}"),
        }
    }
    let pid = parse_pid_lines(&out)[0].pid;
    // Still running and still supervised: a signal reaches it, the run is not over.
    child.signal(Signal::Cont).await.expect("the tree is alive");
    assert!(kennel_tests::is_alive(pid) && !child.controller().is_finished());
    child.cancel();
    let outcome = tokio::time::timeout(PATIENCE, child.wait()).await.unwrap();
    assert_eq!(outcome.reason, EndReason::Cancelled, "{outcome:?}");
    assert_eq!(outcome.stdout.bytes, out.len() as u64);
    assert!(!outcome.forced, "SIGTERM ends it: {outcome:?}");
    assert_gone(&[pid]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sidecar_keeps_supervising_after_stdout_closed() {
    let mut sc = Sidecar::start().await;
    sc.spawn("c", &["close-stdout"], json!({})).await;
    let pid = sc.wait_pids("c", 1).await[0];
    sc.seen_or_wait("stdout closed", |e| {
        e["id"] == "c" && e["event"] == "stderr" && e["data"] == "stdout closed\n"
    })
    .await;
    // Still listed as running; a signal is accepted (no error comes back).
    sc.send(json!({"op": "signal", "id": "c", "signal": "SIGCONT"}))
        .await;
    sc.send(request::list("q")).await;
    let list = sc.wait_event("list", "q").await;
    assert_eq!(list["children"][0]["state"], "running", "{list}");
    assert!(sc.events_of("c").iter().all(|e| e["event"] != "exit"));
    let exit = sc.end("cancel", "c").await;
    assert_eq!(exit["reason"], "cancelled", "{exit}");
    assert_eq!(exit["stdout"]["bytes"], sc.output_of("c", "stdout").len());
    assert!(sc.events_of("c").iter().all(|e| e["event"] != "error"));
    assert_gone(&[pid]);
    sc.finish().await;
}
