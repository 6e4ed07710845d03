//! Shutdown: EOF on stdin, SIGTERM, and a caller that vanishes all run the ladder on
//! every child, report their exits, then `bye`, and leave no process behind.

use serde_json::{json, Value};

use crate::prelude::*;

/// Spawn a tree (7 processes) and a child that handles SIGTERM; returns all pids.
async fn start_children(sc: &mut Sidecar) -> Vec<u32> {
    sc.spawn("tree", &["tree", "--depth", "3", "--width", "2"], json!({}))
        .await;
    sc.spawn("trap", &["trap-term", "--exit-code", "7"], json!({}))
        .await;
    let mut pids = sc.wait_pids("tree", 7).await;
    pids.extend(sc.wait_pids("trap", 1).await);
    pids
}

fn assert_shutdown_events(sc: &Sidecar, rest: &[serde_json::Value], reason: &str) {
    let bye = rest.last().expect("events after shutdown");
    assert_eq!(bye["event"], "bye", "{bye}");
    assert_eq!(bye["reason"], reason);
    for id in ["tree", "trap"] {
        let events = sc.events_of(id);
        assert_child_order(&events);
        let exit = events.last().unwrap();
        assert_eq!(exit["reason"], "supervisor_shutdown", "{exit}");
    }
    let trap = sc.events_of("trap");
    let trap_exit = trap.last().unwrap();
    assert_eq!(trap_exit["code"], 7, "{trap_exit}");
    let out = String::from_utf8(sc.output_of("trap", "stdout")).unwrap();
    assert!(out.ends_with("got SIGTERM\n"), "{out}");
}

/// Starts children, has `trigger` start the shutdown, checks its events (`bye` with
/// `reason`), a clean exit (0) and that every tree is gone; returns the events after
/// the trigger.
async fn shut_down(reason: &str, trigger: impl AsyncFnOnce(&mut Sidecar)) -> Vec<Value> {
    let mut sc = Sidecar::start().await;
    let pids = start_children(&mut sc).await;
    trigger(&mut sc).await;
    let rest = sc.read_to_eof().await;
    assert_shutdown_events(&sc, &rest, reason);
    assert_eq!(sc.wait_exit().await, Some(0));
    assert_gone(&pids);
    rest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eof_on_stdin_shuts_down_cleanly() {
    shut_down("eof", async |sc| sc.close_stdin()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_shuts_down_cleanly() {
    shut_down("signal", async |sc| send_signal(sc.pid, libc::SIGTERM)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_request_names_its_id_in_bye() {
    let rest = shut_down("shutdown", async |sc| {
        sc.send(json!({"op": "shutdown", "id": "bye-now"})).await
    })
    .await;
    assert_eq!(rest.last().unwrap()["id"], "bye-now");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_caller_leaves_no_process_behind() {
    let mut sc = Sidecar::start().await;
    let mut pids = start_children(&mut sc).await;
    // A flooding child too, so the sidecar is writing when its reader disappears.
    sc.spawn(
        "flood",
        &["flood", "--bytes", "1000000000000", "--pid-stderr"],
        json!({}),
    )
    .await;
    sc.wait_event("stderr", "flood").await;
    pids.extend(
        parse_pid_lines(&sc.output_of("flood", "stderr"))
            .iter()
            .map(|l| l.pid),
    );
    sc.drop_pipes();
    // The sidecar notices (EOF on stdin, EPIPE on stdout), tears everything down and
    // exits.
    sc.wait_exit().await;
    assert_gone(&pids);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_escalates_the_shutdown() {
    let mut sc = Sidecar::start().await;
    let pids = sc
        .spawn_ignoring_tree("stubborn", (2, 2), json!({"grace_ms": 600_000}))
        .await;
    send_signal(sc.pid, libc::SIGTERM);
    // The signal is handled asynchronously: ask until the child is reported exiting.
    for i in 0.. {
        let q = format!("q{i}");
        sc.send(request::list(&q)).await;
        let list = sc.wait_event("list", &q).await;
        if list["children"][0]["state"] == "exiting" {
            break;
        }
        assert!(i < 10_000, "the shutdown never began");
    }
    send_signal(sc.pid, libc::SIGINT);
    let exit = sc.wait_event("exit", "stubborn").await;
    assert_eq!(exit["reason"], "supervisor_shutdown");
    assert_eq!(exit["forced"], true);
    let rest = sc.read_to_eof().await;
    assert_eq!(rest.last().unwrap()["event"], "bye");
    assert_eq!(sc.wait_exit().await, Some(0));
    assert_gone(&pids);
}
