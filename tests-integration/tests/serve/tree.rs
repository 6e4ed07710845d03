//! `signal`, `cancel` (twice), `kill` reach the whole tree; every pid is gone after.

use std::time::Instant;

use serde_json::json;

use crate::prelude::*;

const TREE: [&str; 5] = ["tree", "--depth", "3", "--width", "2"];

/// Spawn `t`, a tree of 7 that ignores SIGTERM with a 10-minute grace; returns its pids.
async fn spawn_ignoring_tree(sc: &mut Sidecar) -> Vec<u32> {
    sc.spawn_ignoring_tree("t", (3, 2), json!({"grace_ms": 600_000}))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signal_reaches_the_tree() {
    let mut sc = Sidecar::start().await;
    sc.spawn("t", &TREE, json!({})).await;
    let pids = sc.wait_pids("t", 7).await;
    sc.send(json!({"op": "signal", "id": "t", "signal": "SIGUSR1"}))
        .await;
    let exit = sc.wait_event("exit", "t").await;
    // Signalled, not cancelled.
    assert_eq!(exit["reason"], "exited", "{exit}");
    assert_eq!(exit["signal_name"], "SIGUSR1", "{exit}");
    assert_gone(&pids);
    sc.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_runs_the_ladder_on_the_tree() {
    let mut sc = Sidecar::start().await;
    sc.spawn("t", &TREE, json!({})).await;
    let pids = sc.wait_pids("t", 7).await;
    let exit = sc.end("cancel", "t").await;
    assert_eq!(exit["reason"], "cancelled");
    assert_eq!(exit["signal_name"], "SIGTERM");
    assert_eq!(exit["forced"], false);
    assert_eq!(exit["ladder_step"], 0);
    assert_gone(&pids);
    assert_child_order(&sc.events_of("t"));
    sc.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_cancel_jumps_to_the_last_rung() {
    let mut sc = Sidecar::start().await;
    let pids = spawn_ignoring_tree(&mut sc).await;
    let start = Instant::now();
    sc.send(request::cancel("t")).await;
    sc.send(request::list("q")).await;
    let list = sc.wait_event("list", "q").await;
    assert_eq!(list["children"][0]["state"], "exiting");
    let exit = sc.end("cancel", "t").await;
    assert!(
        start.elapsed() < PATIENCE,
        "the 10-minute grace was skipped"
    );
    assert_eq!(exit["reason"], "cancelled");
    assert_eq!(exit["forced"], true);
    assert_eq!(exit["ladder_step"], 1);
    assert_eq!(exit["signal_name"], "SIGKILL");
    assert_gone(&pids);
    sc.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_ends_the_tree_at_once() {
    let mut sc = Sidecar::start().await;
    let pids = spawn_ignoring_tree(&mut sc).await;
    let exit = sc.end("kill", "t").await;
    assert_eq!(exit["reason"], "killed");
    assert_eq!(exit["forced"], true);
    assert_eq!(exit["signal_name"], "SIGKILL");
    assert_gone(&pids);
    sc.finish().await;
}
