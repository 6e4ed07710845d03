//! Consecutive `spawn` requests start together, off the request loop (issue 16): an id
//! is taken while its spawn is still starting, a request about a child that follows its
//! `spawn` finds it spawned, and `list` keeps spawn order.

use serde_json::json;

use crate::prelude::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_to_back_spawns_keep_ids_order_and_later_requests() {
    let mut sc = Sidecar::start().await;
    // One write: the sidecar reads these back to back, while the first spawns start.
    let requests = [
        spawn_request("a", &["echo-stdin"], json!({"stdin": "pipe"})),
        spawn_request("a", &["exit", "0"], json!({})),
        spawn_request("b", &["echo-stdin"], json!({"stdin": "pipe"})),
        spawn_request("c", &["echo-stdin"], json!({"stdin": "pipe"})),
        request::write("a", "to a\n"),
        // `a` stays until its stdin closes: the `list` (which waits for every spawn,
        // while `write a` waits only for `a`'s) comes first.
        request::list("q"),
        request::close_stdin("a"),
    ];
    send_batch(&mut sc, &requests).await;
    let e = sc.wait_error().await;
    assert_eq!(
        (e["code"].as_str(), e["id"].as_str(), e["op"].as_str()),
        (Some("duplicate_id"), Some("a"), Some("spawn")),
        "{e}"
    );
    let list = sc.wait_event("list", "q").await;
    assert_eq!(listed(&list), ["a", "b", "c"], "spawn order: {list}");
    let exit = sc.seen_event("exit", "a").await;
    assert_eq!(exit["code"], 0, "{exit}");
    assert_eq!(sc.output_of("a", "stdout"), b"to a\n");
    assert_child_order(&sc.events_of("a"));
    for id in ["b", "c"] {
        sc.send(request::close_stdin(id)).await;
        let exit = sc.wait_event("exit", id).await;
        assert_eq!(exit["code"], 0, "{exit}");
    }
    sc.finish().await;
}

/// A request waits for the spawn of the child it names, and only for that one (issue
/// 16): while the spawn of `held` is held back (a debug-build seam), the requests on
/// `a` read after it are answered and `a` runs to its end; the requests on `held` (and
/// so, the loop being sequential, whatever follows them) and the `list` wait for
/// `held`'s `spawned`, and none of them gets `unknown_id`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_waits_only_for_the_spawn_of_its_own_child() {
    let gate = std::env::temp_dir().join(format!("kennel-spawn-gate-{}", std::process::id()));
    let _ = std::fs::remove_file(&gate);
    let setting = format!("held:{}", gate.display());
    let mut sc = Sidecar::start_with_env(&[("KENNEL_TEST_SPAWN_GATE", &setting)]).await;
    sc.spawn("a", &["echo-stdin"], json!({"stdin": "pipe"}))
        .await;
    let tagged = |mut r: serde_json::Value, tag: &str| {
        r["req"] = json!(tag);
        r
    };
    let requests = [
        spawn_request("held", &["echo-stdin"], json!({"stdin": "pipe"})),
        tagged(request::write("a", "to a\n"), "w-a"),
        tagged(request::close_stdin("a"), "c-a"),
        tagged(request::write("held", "to held\n"), "w-held"),
        tagged(request::close_stdin("held"), "c-held"),
        request::list("q"),
    ];
    send_batch(&mut sc, &requests).await;
    let exit = sc.wait_event("exit", "a").await;
    assert_eq!(exit["code"], 0, "{exit}");
    assert_eq!(sc.output_of("a", "stdout"), b"to a\n");
    assert!(
        sc.events_of("held").is_empty() && !sc.log.iter().any(|e| e["event"] == "list"),
        "nothing about the held spawn before it is let go: {:?}",
        sc.log
    );
    std::fs::write(&gate, b"").expect("open the gate");
    let list = sc.wait_event("list", "q").await;
    let _ = std::fs::remove_file(&gate);
    assert_eq!(listed(&list), ["held"], "{list}");
    let exit = sc.seen_event("exit", "held").await;
    assert_eq!(exit["code"], 0, "{exit}");
    assert_eq!(sc.output_of("held", "stdout"), b"to held\n");
    let held = sc.events_of("held");
    assert_eq!(held[0]["event"], "spawned", "{held:?}");
    assert_child_order(&held);
    assert!(
        !sc.log.iter().any(|e| e["event"] == "error"),
        "no request failed: {:?}",
        sc.log
    );
    sc.finish().await;
}

/// Sends `requests` in one write, so the sidecar reads them back to back.
async fn send_batch(sc: &mut Sidecar, requests: &[serde_json::Value]) {
    let mut batch = Vec::new();
    for r in requests {
        batch.extend_from_slice(r.to_string().as_bytes());
        batch.push(b'\n');
    }
    sc.send_raw(&batch).await;
}

/// The ids of a `list` event, in its order.
fn listed(list: &serde_json::Value) -> Vec<&str> {
    list["children"]
        .as_array()
        .expect("children")
        .iter()
        .map(|c| c["id"].as_str().expect("an id"))
        .collect()
}

/// A spawn whose `exec` blocks its thread (a binary on a hung network file system, a
/// slow `binfmt_misc` handler; here a debug-build seam that blocks where the `exec`
/// does) holds back neither the requests read after it nor the other children — also
/// when it is the only spawn of an idle sidecar. Session 10 ran such a lone spawn on its
/// worker; when that worker was the one polling the reactor and the other slept, no
/// request was read until the exec returned. Which worker polls is the runtime's
/// choice, so the test goes round 12 times from an idle sidecar (before the fix, about
/// one round in six froze: this test failed 1 run in 6 with a single round).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spawn_stuck_in_its_exec_holds_back_nothing_else() {
    let gate = std::env::temp_dir().join(format!("kennel-exec-gate-{}", std::process::id()));
    let entered = gate.with_extension("entered");
    let setting = format!("stuck:{}", gate.display());
    let mut sc = Sidecar::start_with_env(&[("KENNEL_TEST_EXEC_GATE", &setting)]).await;
    for round in 0..12 {
        let (stuck, other) = (format!("stuck-{round}"), format!("other-{round}"));
        let _ = std::fs::remove_file(&gate);
        let _ = std::fs::remove_file(&entered);
        // Alone: no child, no other spawn in flight.
        sc.send(spawn_request(&stuck, &["exit", "3"], json!({})))
            .await;
        assert!(
            kennel_tests::wait_until(PATIENCE, || entered.exists()),
            "round {round}: the stuck spawn never reached its exec"
        );
        sc.send(spawn_request(&other, &["print", "meanwhile"], json!({})))
            .await;
        let exit = sc.wait_event("exit", &other).await;
        assert_eq!(exit["code"], 0, "round {round}: {exit}");
        assert_eq!(sc.output_of(&other, "stdout"), b"meanwhile\n");
        assert!(
            sc.events_of(&stuck).is_empty(),
            "round {round}: nothing about the stuck spawn before its exec returns: {:?}",
            sc.log
        );
        std::fs::write(&gate, b"").expect("open the gate");
        let exit = sc.seen_event("exit", &stuck).await;
        assert_eq!(exit["code"], 3, "round {round}: {exit}");
    }
    let _ = std::fs::remove_file(&gate);
    let _ = std::fs::remove_file(&entered);
    sc.finish().await;
}

/// The client goes away (EOF), or asks for a `shutdown`, while one spawn is stuck in
/// its `exec`: the children already running are ended at once, not when that `exec`
/// returns (on a hung network file system, never); the stuck spawn is still answered
/// (`spawned`, then its `exit`) once it returns, and only then does the sidecar say
/// `bye`.
async fn end_while_a_spawn_is_stuck_in_its_exec(shutdown: bool) {
    let gate =
        std::env::temp_dir().join(format!("kennel-end-gate-{}-{shutdown}", std::process::id()));
    let entered = gate.with_extension("entered");
    let _ = std::fs::remove_file(&gate);
    let _ = std::fs::remove_file(&entered);
    let setting = format!("stuck:{}", gate.display());
    let mut sc = Sidecar::start_with_env(&[("KENNEL_TEST_EXEC_GATE", &setting)]).await;
    let running = sc.spawn("running", &["sleep", "600000"], json!({})).await;
    let pid = running["pid"].as_u64().expect("a pid") as u32;
    sc.send(spawn_request("stuck", &["sleep", "600000"], json!({})))
        .await;
    assert!(
        kennel_tests::wait_until(PATIENCE, || entered.exists()),
        "the stuck spawn never reached its exec"
    );
    if shutdown {
        sc.send(json!({"op": "shutdown"})).await;
    } else {
        sc.close_stdin();
    }
    let exit = sc.wait_event("exit", "running").await;
    assert_eq!(exit["reason"], "supervisor_shutdown", "{exit}");
    assert_gone(&[pid]);
    assert!(
        sc.events_of("stuck").is_empty(),
        "nothing about the stuck spawn before its exec returns: {:?}",
        sc.log
    );
    std::fs::write(&gate, b"").expect("open the gate");
    if shutdown {
        sc.close_stdin();
    }
    let rest = sc.read_to_eof().await;
    let _ = std::fs::remove_file(&gate);
    let _ = std::fs::remove_file(&entered);
    let kinds: Vec<(&str, &str)> = rest
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap_or(""),
                e["id"].as_str().unwrap_or(""),
            )
        })
        .filter(|(event, _)| *event != "stdout" && *event != "stderr")
        .collect();
    assert_eq!(
        kinds,
        [("spawned", "stuck"), ("exit", "stuck"), ("bye", "")],
        "{rest:?}"
    );
    let exit = rest.iter().find(|e| e["event"] == "exit").expect("exit");
    assert_eq!(exit["reason"], "supervisor_shutdown", "{exit}");
    let bye = rest.last().expect("bye");
    assert_eq!(
        bye["reason"],
        if shutdown { "shutdown" } else { "eof" },
        "{bye}"
    );
    assert_eq!(sc.wait_exit().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_eof_ends_the_running_children_while_a_spawn_is_stuck_in_its_exec() {
    end_while_a_spawn_is_stuck_in_its_exec(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_ends_the_running_children_while_a_spawn_is_stuck_in_its_exec() {
    end_while_a_spawn_is_stuck_in_its_exec(true).await;
}
