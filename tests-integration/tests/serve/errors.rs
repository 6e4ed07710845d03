//! Every error code the sidecar can produce, each followed by a ping of a bystander
//! child: bad input never disturbs the sidecar or another child.

use serde_json::{json, Value};

use crate::prelude::*;

async fn expect_error(sc: &mut Sidecar, code: &str, id: Option<&str>, op: Option<&str>) -> Value {
    let e = sc.wait_error().await;
    assert_eq!(e["code"], code, "{e}");
    match id {
        Some(id) => assert_eq!(e["id"], id, "{e}"),
        None => assert!(e.get("id").is_none(), "no id expected: {e}"),
    }
    match op {
        Some(op) => assert_eq!(e["op"], op, "{e}"),
        None => assert!(e.get("op").is_none(), "no op expected: {e}"),
    }
    assert!(!e["message"].as_str().unwrap().is_empty());
    e
}

/// Send a spawn of `exit 0` as `id` with `extra` fields; expect it rejected with `code`.
async fn spawn_rejected(sc: &mut Sidecar, id: &str, extra: Value, code: &str) -> Value {
    sc.send(spawn_request(id, &["exit", "0"], extra)).await;
    expect_error(sc, code, Some(id), Some("spawn")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parser_errors_disturb_nobody() {
    let mut sc = Sidecar::start().await;
    let mut by = Bystander::start(&mut sc, "by").await;
    // (line, code, id, op)
    type Case = (
        &'static [u8],
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
    );
    let cases: [Case; 9] = [
        (b"{not json\n", "invalid_json", None, None),
        (b"\xff\xfe\n", "invalid_json", None, None),
        (b"[1,2]\n", "not_an_object", None, None),
        (b"{\"id\":\"x\"}\n", "missing_op", Some("x"), None),
        (
            b"{\"op\":\"launch\",\"id\":\"x\"}\n",
            "unknown_op",
            Some("x"),
            Some("launch"),
        ),
        (b"{\"op\":\"cancel\"}\n", "missing_id", None, Some("cancel")),
        (
            b"{\"op\":\"cancel\",\"id\":\"\"}\n",
            "invalid_id",
            None,
            Some("cancel"),
        ),
        (
            b"{\"op\":\"spawn\",\"id\":\"x\",\"cmd\":\"a\",\"timeout_ms\":0}\n",
            "invalid_field",
            Some("x"),
            Some("spawn"),
        ),
        (
            b"{\"op\":\"spawn\",\"id\":\"x\",\"cmd\":\"a\",\"timout_ms\":5}\n",
            "unknown_field",
            Some("x"),
            Some("spawn"),
        ),
    ];
    for (line, code, id, op) in cases {
        sc.send_raw(line).await;
        expect_error(&mut sc, code, id, op).await;
        by.ping(&mut sc).await;
    }
    // A line over 1 MiB is discarded without buffering it, then requests work again.
    let mut long = br#"{"op":"list","id":"big","pad":""#.to_vec();
    long.resize(1024 * 1024 + 100, b'a');
    long.extend_from_slice(b"\"}\n");
    sc.send_raw(&long).await;
    expect_error(&mut sc, "line_too_long", None, None).await;
    sc.send(request::list("after")).await;
    let list = sc.wait_event("list", "after").await;
    assert_eq!(list["children"][0]["id"], "by");
    by.ping(&mut sc).await;
    by.finish(&mut sc).await;
    sc.finish().await;
    assert_eq!(sc.wait_exit().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_errors_disturb_nobody() {
    let mut sc = Sidecar::start().await;
    let mut by = Bystander::start(&mut sc, "by").await;

    // duplicate_id: the bystander is alive.
    spawn_rejected(&mut sc, "by", json!({}), "duplicate_id").await;
    by.ping(&mut sc).await;

    // unknown_id, for every child operation.
    for op in ["cancel", "kill", "close_stdin"] {
        sc.send(json!({"op": op, "id": "ghost"})).await;
        expect_error(&mut sc, "unknown_id", Some("ghost"), Some(op)).await;
    }
    sc.send(request::write("ghost", "x")).await;
    expect_error(&mut sc, "unknown_id", Some("ghost"), Some("write")).await;
    sc.send(json!({"op": "signal", "id": "ghost", "signal": "TERM"}))
        .await;
    expect_error(&mut sc, "unknown_id", Some("ghost"), Some("signal")).await;
    by.ping(&mut sc).await;

    // spawn_failed: missing program, bad cwd.
    sc.send(json!({"op": "spawn", "id": "nf", "cmd": "/nonexistent/kennel-nope"}))
        .await;
    let e = expect_error(&mut sc, "spawn_failed", Some("nf"), Some("spawn")).await;
    assert!(
        e["message"].as_str().unwrap().contains("kennel-nope"),
        "{e}"
    );
    let e = spawn_rejected(
        &mut sc,
        "cwd",
        json!({"cwd": "/nonexistent/dir"}),
        "spawn_failed",
    )
    .await;
    assert!(
        e["message"].as_str().unwrap().contains("/nonexistent/dir"),
        "{e}"
    );
    by.ping(&mut sc).await;

    // stdin_not_piped.
    sc.spawn("np", &["never-read-stdin"], json!({})).await;
    sc.send(request::write("np", "x")).await;
    expect_error(&mut sc, "stdin_not_piped", Some("np"), Some("write")).await;
    sc.send(request::close_stdin("np")).await;
    expect_error(&mut sc, "stdin_not_piped", Some("np"), Some("close_stdin")).await;
    by.ping(&mut sc).await;

    // stdin_closed: write after close_stdin.
    sc.spawn("cl", &["never-read-stdin"], json!({"stdin": "pipe"}))
        .await;
    sc.send(request::close_stdin("cl")).await;
    sc.send(request::write("cl", "late")).await;
    expect_error(&mut sc, "stdin_closed", Some("cl"), Some("write")).await;
    by.ping(&mut sc).await;

    // stdin_closed: the child closed its end (it exited).
    sc.spawn("gone", &["print", "bye"], json!({"stdin": "pipe"}))
        .await;
    sc.wait_event("stdout", "gone").await;
    sc.send(json!({"op": "write", "id": "gone", "data": "x".repeat(200_000)}))
        .await;
    let e = sc
        .wait_for("write answer", |e| {
            e["id"] == "gone" && (e["event"] == "error" || e["event"] == "written")
        })
        .await;
    // Either the child's end was closed first (`stdin_closed`) or the write raced
    // the exit and the id was already forgotten (`unknown_id`); never a `written`.
    assert_eq!(e["event"], "error", "{e}");
    assert!(
        e["code"] == "stdin_closed" || e["code"] == "unknown_id",
        "{e}"
    );
    by.ping(&mut sc).await;

    // unsupported: a tier this host does not offer, or the base tier switched off.
    for (id, containment) in [
        ("jo", json!({"job_object": true})),
        ("ng", json!({"group": false})),
    ] {
        let extra = json!({ "containment": containment });
        spawn_rejected(&mut sc, id, extra, "unsupported").await;
    }
    by.ping(&mut sc).await;

    // Everything we started ends cleanly; the bystander saw all its pings.
    for id in ["np", "cl"] {
        let exit = sc.end("kill", id).await;
        assert_eq!(exit["reason"], "killed");
    }
    by.finish(&mut sc).await;
    sc.close_stdin();
    let rest = sc.read_to_eof().await;
    assert_eq!(rest.last().unwrap()["event"], "bye");
    assert_eq!(sc.wait_exit().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_children() {
    let mut sc = Sidecar::start_with(&["--max-children", "2"]).await;
    let mut by = Bystander::start(&mut sc, "by").await;
    sc.spawn("s1", &["never-read-stdin"], json!({})).await;
    spawn_rejected(&mut sc, "s2", json!({}), "too_many_children").await;
    by.ping(&mut sc).await;
    // Room again once a child's exit was written.
    sc.end("kill", "s1").await;
    sc.spawn("s2", &["exit", "0"], json!({})).await;
    sc.wait_event("exit", "s2").await;
    by.finish(&mut sc).await;
    sc.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_during_shutdown() {
    let mut sc = Sidecar::start().await;
    // A child that ignores SIGTERM keeps the shutdown going for its grace.
    sc.spawn("slow", &["ignore-signals"], json!({"grace_ms": 60_000}))
        .await;
    let pid = sc.wait_pids("slow", 1).await;
    sc.send(json!({"op": "shutdown", "id": "s1"})).await;
    spawn_rejected(&mut sc, "late", json!({}), "shutting_down").await;
    sc.send(json!({"op": "shutdown", "id": "s2"})).await;
    expect_error(&mut sc, "shutting_down", Some("s2"), Some("shutdown")).await;
    // Requests are still served: list shows the child exiting, kill ends it.
    sc.send(request::list("q")).await;
    let list = sc.wait_event("list", "q").await;
    assert_eq!(
        list["children"],
        json!([{"id": "slow", "pid": pid[0], "state": "exiting"}])
    );
    let exit = sc.end("kill", "slow").await;
    assert_eq!(exit["reason"], "supervisor_shutdown");
    assert_eq!(exit["forced"], true);
    let bye = sc.next().await.expect("bye");
    assert_eq!(
        bye,
        json!({"event": "bye", "reason": "shutdown", "id": "s1"})
    );
    assert!(sc.next().await.is_none(), "nothing after bye");
    assert_eq!(sc.wait_exit().await, Some(0));
    assert_gone(&pid);
}
