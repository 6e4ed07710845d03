//! Signals on Windows: Kill is TerminateJobObject; Term/Break/Int are CTRL_BREAK_EVENT to
//! the child's console process group; Cont is accepted and does nothing; the rest are
//! unsupported (a typed error, never silently ignored).

use std::time::Duration;

use crate::prelude::*;

#[tokio::test]
async fn unix_only_signals_are_unsupported() {
    let (mut child, mut seen, _, _procs) =
        spawn_ready(fixture(&["sleep", "600000"]).ladder(kill_only()), 1).await;
    for signal in [Signal::Hup, Signal::Usr1, Signal::Stop, Signal::Other(40)] {
        let err = child.signal(signal).await.unwrap_err();
        assert_eq!(err.kind, SignalErrorKind::Unsupported, "{signal}: {err:?}");
    }
    child.signal(Signal::Cont).await.unwrap();
    child.signal(Signal::Kill).await.unwrap();
    let outcome = read_to_end(&mut child, &mut seen).await;
    assert_eq!(outcome.status.code, Some(KILLED));
    let err = child.signal(Signal::Kill).await.unwrap_err();
    assert_eq!(err.kind, SignalErrorKind::Finished);
}

/// `STATUS_CONTROL_C_EXIT`: how a process ended by the default console control handler
/// exits.
const CONTROL_C_EXIT: i32 = 0xC000_013Au32 as i32;

/// Needs real Windows: Wine 8.0 does not implement `GenerateConsoleCtrlEvent`.
#[tokio::test]
#[ignore = "needs real Windows: GenerateConsoleCtrlEvent"]
async fn the_graceful_rung_is_ctrl_break_to_the_process_group() {
    let (mut child, mut seen, _, procs) = spawn_ready(
        fixture(&["tree", "--depth", "2", "--width", "2"])
            .grace(Signal::Term, Duration::from_secs(20)),
        3,
    )
    .await;
    child.cancel();
    let outcome = read_to_end(&mut child, &mut seen).await;
    procs.assert_gone();
    assert!(
        !outcome.forced,
        "ended by CTRL_BREAK, not the forceful rung: {outcome:?}"
    );
    assert_eq!(outcome.status.code, Some(CONTROL_C_EXIT));
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
}

/// Needs real Windows: Wine 8.0 does not implement `GenerateConsoleCtrlEvent`.
#[tokio::test]
#[ignore = "needs real Windows: GenerateConsoleCtrlEvent"]
async fn signal_break_reaches_the_child() {
    let (mut child, mut seen, _, _procs) = spawn_ready(fixture(&["sleep", "600000"]), 1).await;
    child.signal(Signal::Break).await.unwrap();
    let outcome = read_to_end(&mut child, &mut seen).await;
    assert_eq!(outcome.reason, EndReason::Exited);
    assert_eq!(outcome.status.code, Some(CONTROL_C_EXIT));
}

/// Wherever the console event cannot be delivered (Wine; a supervisor without a
/// console), the graceful rung does not wait out its grace: the job is terminated at
/// once and the outcome records why. On real Windows with a console the event is
/// delivered instead, so this only checks that the run ends well before the grace.
#[tokio::test]
async fn an_undeliverable_graceful_rung_does_not_wait_out_the_grace() {
    let (mut child, mut seen, _, procs) = spawn_ready(
        fixture(&["sleep", "600000"]).grace(Signal::Term, Duration::from_secs(600)),
        1,
    )
    .await;
    child.cancel();
    let outcome = read_to_end(&mut child, &mut seen).await;
    procs.assert_gone();
    assert!(outcome.wall_time < Duration::from_secs(60), "{outcome:?}");
    if outcome.status.code == Some(KILLED) {
        assert!(
            outcome
                .errors
                .iter()
                .any(|e| e.report().contains("CTRL_BREAK_EVENT")),
            "{:?}",
            outcome.errors
        );
    } else {
        assert_eq!(outcome.status.code, Some(CONTROL_C_EXIT), "{outcome:?}");
    }
}

/// Needs real Windows: Wine 8.0 does not implement `GenerateConsoleCtrlEvent`. A tree
/// whose every process swallows the console control event (a handler returning TRUE)
/// outlives the graceful rung; the job kill after the grace ends it.
#[tokio::test]
#[ignore = "needs real Windows: GenerateConsoleCtrlEvent"]
async fn a_tree_that_swallows_ctrl_break_is_killed_after_the_grace() {
    let grace = Duration::from_secs(1);
    let (mut child, mut seen, pids, procs) = spawn_ready(
        fixture(&["tree", "--depth", "2", "--width", "2", "--ignore-term"])
            .grace(Signal::Term, grace),
        3,
    )
    .await;
    let cancelled = std::time::Instant::now();
    child.cancel();
    let outcome = read_to_end(&mut child, &mut seen).await;
    procs.assert_gone();
    assert!(cancelled.elapsed() >= grace, "waited out the grace");
    assert!(outcome.forced, "ended by the forceful rung: {outcome:?}");
    assert!(
        outcome.errors.is_empty(),
        "the event was delivered: {:?}",
        outcome.errors
    );
    for pid in pids {
        assert_eq!(procs.exit_code(pid), Some(KILLED as u32), "pid {pid}");
    }
}
