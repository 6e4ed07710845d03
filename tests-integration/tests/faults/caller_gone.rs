//! The caller disappears while the sidecar is busy writing: EPIPE on its stdout with
//! stdin still open (the caller's read end closed, as when it crashed mid-stream), or
//! EOF on stdin. Either way every tree — escaped `setsid` writers included — is torn
//! down and the sidecar exits.

use crate::prelude::*;

async fn busy_sidecar() -> (Sidecar, Vec<u32>) {
    let mut sc = Sidecar::start().await;
    sc.spawn(
        "tree",
        &["seq", "--procs", "3", "--delay-us", "100"],
        json!({}),
    )
    .await;
    sc.spawn(
        "daemons",
        &["seq", "--procs", "3", "--setsid", "--delay-us", "100"],
        json!({}),
    )
    .await;
    sc.spawn("ignorer", &["ignore-signals"], json!({"grace_ms": 200}))
        .await;
    let mut pids = Vec::new();
    for (id, n) in [("tree", 3), ("daemons", 3), ("ignorer", 1)] {
        pids.extend(sc.wait_pids(id, n).await);
    }
    (sc, pids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn epipe_on_stdout_tears_down_every_tree_and_exits() {
    let (mut sc, pids) = busy_sidecar().await;
    // Close only our read end of its stdout; keep its stdin open.
    sc.drop_stdout();
    let code = sc.wait_exit().await;
    assert_eq!(code, Some(1), "EPIPE is an abnormal end");
    assert_gone(&pids);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eof_on_stdin_tears_down_every_tree_and_exits() {
    let (mut sc, pids) = busy_sidecar().await;
    sc.close_stdin();
    let rest = sc.read_to_eof().await;
    assert_eq!(rest.last().map(|e| e["event"].clone()), Some(json!("bye")));
    for id in ["tree", "daemons", "ignorer"] {
        assert_child_order(&sc.events_of(id));
    }
    assert_eq!(sc.wait_exit().await, Some(0));
    assert_gone(&pids);
}
