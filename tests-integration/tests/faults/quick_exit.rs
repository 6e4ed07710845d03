//! Programs that end before the supervisor finished its setup: exiting at once (the
//! leader may be gone before kennel registers it), or not runnable at all. Each run
//! ends with a correct outcome or a typed error; nothing hangs, nothing is left.

use kennel::{Command, EndReason, SpawnError};

use crate::prelude::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn library_instant_exits_are_reported_exactly() {
    kennel::keeper::use_program(KENNEL);
    for round in 0..100 {
        let code: i32 = round % 7;
        let outcome = tokio::time::timeout(
            PATIENCE,
            Command::new(FIXTURE)
                .args(["exit", &code.to_string()])
                .output(),
        )
        .await
        .unwrap_or_else(|_| panic!("round {round}: hung"))
        .expect("spawn");
        assert_eq!(outcome.outcome.reason, EndReason::Exited, "round {round}");
        assert_eq!(outcome.outcome.status.code, Some(code), "round {round}");
    }
    match Command::new("/nonexistent/kennel-no-such-program").spawn() {
        Err(SpawnError::NotFound { program, .. }) => {
            assert_eq!(program, "/nonexistent/kennel-no-such-program")
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert!(kennel_tests::zombie_children_of(std::process::id()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sidecar_instant_exits_are_reported_exactly() {
    let mut sc = Sidecar::start().await;
    for round in 0..60 {
        let id = format!("q{round}");
        let code = round % 5;
        sc.send(spawn_request(&id, &["exit", &code.to_string()], json!({})))
            .await;
        // Also a program that cannot run at all, between them.
        sc.send(json!({"op": "spawn", "id": format!("bad{round}"), "cmd": "/nonexistent/x"}))
            .await;
    }
    for round in 0..60 {
        let id = format!("q{round}");
        let exit = sc
            .seen_or_wait("exit", |e| e["event"] == "exit" && e["id"] == id.as_str())
            .await;
        assert_eq!(exit["code"], round % 5, "{exit}");
        assert_eq!(exit["reason"], "exited", "{exit}");
        assert_child_order(&sc.events_of(&id));
        let bad_id = format!("bad{round}");
        let bad = sc
            .seen_or_wait("spawn error", |e| e["id"] == bad_id.as_str())
            .await;
        assert_eq!(bad["code"], "spawn_failed", "{bad}");
    }
    sc.finish().await;
    assert_eq!(sc.wait_exit().await, Some(0));
    assert!(kennel_tests::zombie_children_of(sc.pid).is_empty());
}
