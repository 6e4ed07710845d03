//! `write` / `close_stdin`: `written` after the bytes reached the pipe, in order, text
//! and base64; pending writes are answered before the child's `exit`.

use base64::Engine as _;
use serde_json::json;

use crate::prelude::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_and_close_round_trip() {
    let mut sc = Sidecar::start().await;
    sc.spawn("cat", &["echo-stdin"], json!({"stdin": "pipe"}))
        .await;
    let mut sent = Vec::new();
    // Text, binary (base64), empty, and a big one that needs many pipe refills.
    let binary: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    let big = "0123456789abcdef".repeat(40_000); // 640 KB
    let writes = vec![
        request::write("cat", "héllo\n"),
        json!({"op": "write", "id": "cat", "data_b64": base64::engine::general_purpose::STANDARD.encode(&binary)}),
        request::write("cat", ""),
        request::write("cat", &big),
        request::write("cat", "end\n"),
    ];
    let mut lens = Vec::new();
    for w in &writes {
        let bytes = payload(w);
        lens.push(bytes.len() as u64);
        sent.extend_from_slice(&bytes);
        sc.send(w.clone()).await;
    }
    sc.send(request::close_stdin("cat")).await;
    let exit = sc.wait_event("exit", "cat").await;
    assert_eq!(exit["code"], 0, "{exit}");
    let written: Vec<u64> = sc
        .events_of("cat")
        .iter()
        .filter(|e| e["event"] == "written")
        .map(|e| e["bytes"].as_u64().unwrap())
        .collect();
    assert_eq!(written, lens, "one written per write, in order");
    assert_eq!(sc.output_of("cat", "stdout"), sent);
    assert_child_order(&sc.events_of("cat"));
    assert!(sc.events_of("cat").iter().all(|e| e["event"] != "error"));
    sc.finish().await;
}

/// Spawn `deaf`, a child with a piped stdin it never reads (and a short grace).
async fn spawn_deaf(sc: &mut Sidecar) {
    let extra = json!({"stdin": "pipe", "grace_ms": 100});
    sc.spawn("deaf", &["never-read-stdin"], extra).await;
}

/// A child that never reads: the first write fills the pipe and waits; cancel ends the
/// child, and every pending write is answered (with `stdin_closed`) before `exit`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_writes_are_answered_before_exit() {
    let mut sc = Sidecar::start().await;
    spawn_deaf(&mut sc).await;
    sc.wait_pids("deaf", 1).await;
    let chunk = "x".repeat(300_000);
    for _ in 0..3 {
        sc.send(request::write("deaf", &chunk)).await;
    }
    // Control requests are served although the writes are stuck.
    sc.send(request::list("q")).await;
    sc.wait_event("list", "q").await;
    let exit = sc.end("cancel", "deaf").await;
    assert_eq!(exit["reason"], "cancelled");
    let answers: Vec<_> = sc
        .events_of("deaf")
        .iter()
        .filter(|e| e["event"] == "written" || e["event"] == "error")
        .map(|e| e["code"].as_str().unwrap_or("written").to_owned())
        .collect();
    assert_eq!(
        answers.len(),
        3,
        "every write answered before exit: {answers:?}"
    );
    assert!(answers.iter().all(|a| a == "stdin_closed"), "{answers:?}");
    assert_child_order(&sc.events_of("deaf"));
    sc.finish().await;
}

/// Writes past the per-child queue bound are rejected, not buffered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_writes_are_bounded() {
    let mut sc = Sidecar::start().await;
    spawn_deaf(&mut sc).await;
    let chunk = "y".repeat(1_000_000);
    // 8 MiB per child: the ninth 1 MB write cannot fit.
    for _ in 0..10 {
        sc.send(request::write("deaf", &chunk)).await;
    }
    let e = sc.wait_error().await;
    assert_eq!(e["id"], "deaf");
    assert_eq!(e["code"], "stdin_full", "{e}");
    sc.end("kill", "deaf").await;
    let errors = sc
        .events_of("deaf")
        .iter()
        .filter(|e| e["event"] == "error")
        .count();
    assert_eq!(
        errors, 10,
        "every write got an error (rejected or child ended)"
    );
    sc.finish().await;
}
