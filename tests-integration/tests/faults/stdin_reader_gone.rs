//! A child whose stdin reader goes away while a `write` is in flight (blocked on the
//! full pipe): the write fails with a typed error — exactly one reply, `stdin_closed`
//! — the child runs on, and nothing else is disturbed.

use kennel::{Command, Event, StdinErrorKind, StdinMode};

use crate::prelude::*;

const BIG: usize = 4 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn library_write_in_flight_gets_broken_pipe() {
    let mut child = Command::new(FIXTURE)
        .args(["drop-stdin", "--after-bytes", "100000"])
        .stdin(StdinMode::Piped)
        .spawn()
        .expect("spawn");
    let controller = child.controller();
    // 4 MiB cannot fit the pipe: the write is in flight when the reader drops stdin.
    let writer = tokio::spawn(async move { controller.write_stdin(&vec![b'y'; BIG]).await });
    let mut err = Vec::new();
    while !err.ends_with(b"\n") {
        match tokio::time::timeout(PATIENCE, child.next_event()).await {
            Ok(Some(Event::Stderr(b))) => err.extend_from_slice(&b),
            Ok(Some(Event::Stdout(_))) => {}
            other => panic!("expected output, got {other:?}"),
        }
    }
    assert_eq!(err, b"stdin closed 100000\n");
    let result = tokio::time::timeout(PATIENCE, writer)
        .await
        .expect("the write ends")
        .expect("the writer task");
    let e = result.expect_err("the reader is gone");
    assert_eq!(e.kind, StdinErrorKind::BrokenPipe, "{e}");
    // The child runs on; a later write fails the same way at once.
    assert!(!child.controller().is_finished());
    let again = child.write_stdin(b"more").await.expect_err("still gone");
    assert_eq!(again.kind, StdinErrorKind::BrokenPipe, "{again}");
    child.cancel();
    let outcome = tokio::time::timeout(PATIENCE, child.wait()).await.unwrap();
    assert_eq!(outcome.reason, kennel::EndReason::Cancelled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sidecar_write_in_flight_gets_one_stdin_closed_reply() {
    use base64::Engine as _;
    let mut sc = Sidecar::start().await;
    let mut by = Bystander::start(&mut sc, "by").await;
    sc.spawn(
        "d",
        &["drop-stdin", "--after-bytes", "100000"],
        json!({"stdin": "pipe"}),
    )
    .await;
    // Two 512 KiB writes, both queued before the reader goes away.
    let chunk = base64::engine::general_purpose::STANDARD.encode(vec![7u8; 512 * 1024]);
    for _ in 0..2 {
        sc.send(json!({"op": "write", "id": "d", "data_b64": chunk}))
            .await;
    }
    sc.seen_or_wait("stdin closed", |e| {
        e["id"] == "d" && e["event"] == "stderr" && e["data"] == "stdin closed 100000\n"
    })
    .await;
    // Exactly one reply per write: both fail (the first was in flight).
    let replies = seen_n(&mut sc, "write replies", 2, |e| {
        e["id"] == "d" && (e["event"] == "error" || e["event"] == "written")
    })
    .await;
    for r in &replies {
        assert_eq!(r["event"], "error", "{r}");
        assert_eq!(r["code"], "stdin_closed", "{r}");
    }
    by.ping(&mut sc).await;
    let exit = sc.end("cancel", "d").await;
    assert_eq!(exit["reason"], "cancelled", "{exit}");
    let extra = sc
        .events_of("d")
        .iter()
        .filter(|e| e["event"] == "error" || e["event"] == "written")
        .count();
    assert_eq!(extra, 2, "one reply per write");
    by.finish(&mut sc).await;
    sc.finish().await;
}
