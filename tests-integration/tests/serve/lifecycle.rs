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

/// brettwooldridge/NuProcess#130, revery-ui/rench#28, casual-simulation/node-deno-vm#34:
/// a signal sent to a child that has just exited must not look like a failure. The
/// sidecar answers `unknown_id` once it forgot the child, and a client can tell that
/// this answer raced the exit only if the `exit` came first (the Node client then
/// resolves the request): no `error` about a child may come before its `exit`.
/// `KENNEL_TEST_EXIT_GATE` holds the writer between forgetting the child and writing its
/// `exit` until a reply is queued; `signal` requests (no `req` tag: only an error is
/// answered) keep coming until one lands in that gap. Before the fix the writer wrote
/// every reply queued by then, this `unknown_id` included, before the `exit`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_about_a_child_that_just_exited_never_comes_before_its_exit() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let mut sc = Sidecar::start_with_env(&[("KENNEL_TEST_EXIT_GATE", "1")]).await;
    for round in 0..5 {
        let id = format!("q{round}");
        sc.spawn(&id, &["exit", "0"], json!({})).await;
        let signal = format!("{}\n", json!({"op": "signal", "id": id, "signal": "CONT"}));
        let answered = Arc::new(AtomicBool::new(false));
        let mut stdin = sc.take_stdin();
        let writing = tokio::spawn({
            let answered = answered.clone();
            async move {
                let deadline = std::time::Instant::now() + PATIENCE;
                while !answered.load(Ordering::Acquire) && std::time::Instant::now() < deadline {
                    stdin.send_raw(signal.as_bytes()).await.expect("write");
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
                stdin
            }
        });
        let error = sc
            .wait_for(&format!("an error about {id}"), |e| {
                e["event"] == "error" && e["id"] == id
            })
            .await;
        answered.store(true, Ordering::Release);
        sc.give_stdin(writing.await.expect("the writing task"));
        assert_eq!(error["code"], "unknown_id", "{error}");
        assert_eq!(error["op"], "signal", "{error}");
        let events = sc.events_of(&id);
        let exit = events.iter().position(|e| e["event"] == "exit");
        let first_error = events.iter().position(|e| e["event"] == "error");
        assert!(
            exit.is_some() && exit < first_error,
            "round {round}: the error came before the exit: {events:?}"
        );
    }
    sc.finish().await;
}
