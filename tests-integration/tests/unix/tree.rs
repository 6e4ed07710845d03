//! Whole trees end: cancel, timeout, signal, drop.

use std::time::{Duration, Instant};

use kennel_tests::checks;

use crate::prelude::*;

#[tokio::test]
async fn cancelled_tree_of_depth_3_is_gone_without_zombies() {
    let (mut child, mut seen, pids, _cleanup) =
        spawn_ready(fixture(&["tree", "--depth", "3", "--width", "2"]), 7).await;
    assert_eq!(pids.len(), 7);
    assert!(pids.iter().all(|&p| is_alive(p)));

    child.cancel();
    let outcome = read_to_end(&mut child, &mut seen).await;
    assert_eq!(outcome.reason, EndReason::Cancelled);
    assert_eq!(outcome.ladder_step, Some(0), "SIGTERM was enough");
    assert!(!outcome.forced);
    assert_eq!(outcome.status.signal, Some(15));
    assert_eq!(outcome.status.signal_name(), Some("SIGTERM"));
    assert_eq!(outcome.drain, Drain::Complete);
    assert_all_gone(&pids);
}

#[tokio::test]
async fn timeout_runs_the_ladder_on_the_tree() {
    let (mut child, mut seen, pids, _cleanup) = spawn_ready(
        fixture(&["tree", "--depth", "2", "--width", "3"]).timeout(Duration::from_millis(300)),
        4,
    )
    .await;
    let outcome = read_to_end(&mut child, &mut seen).await;
    assert_eq!(outcome.reason, EndReason::TimedOut);
    assert!(outcome.wall_time >= Duration::from_millis(300));
    assert_all_gone(&pids);
}

#[tokio::test]
async fn signal_reaches_every_process_of_the_tree() {
    let (mut child, mut seen, pids, _cleanup) =
        spawn_ready(fixture(&["tree", "--depth", "2", "--width", "2"]), 3).await;
    child.signal(Signal::Int).await.unwrap();
    let outcome = read_to_end(&mut child, &mut seen).await;
    assert_eq!(outcome.status.signal, Some(2));
    assert_eq!(outcome.reason, EndReason::Exited, "nobody cancelled it");
    assert_eq!(outcome.ladder_step, None);
    assert_all_gone(&pids);
    let late = child.signal(Signal::Int).await.unwrap_err();
    assert_eq!(late.kind, kennel::SignalErrorKind::Finished);
    assert!(late.to_string().contains("has already ended"), "{late}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_handle_kills_the_tree() {
    let (child, _seen, pids, _cleanup) = spawn_ready(fixture(TERM_IGNORING_TREE), 3).await;
    checks::dropping_the_handle_ends_the_tree(child, move || wait_all_reaped(&pids, PATIENCE))
        .await;
}

#[tokio::test]
async fn stopped_tree_is_cancelled_within_the_first_rung() {
    let grace = Duration::from_secs(30);
    let mut child = fixture(&["tree", "--depth", "2", "--width", "2", "--stop"])
        .ladder(Ladder::graceful(Signal::Term, grace))
        .spawn()
        .unwrap();
    let mut seen = Seen::default();
    read_until(&mut child, &mut seen, |s| has_line(&s.stdout, "stopped")).await;
    let pids = seen.pids();
    let _cleanup = Cleanup(pids.clone());
    assert_eq!(pids.len(), 3);
    assert!(
        kennel_tests::wait_until(PATIENCE, || pids
            .iter()
            .all(|&p| kennel_tests::is_stopped(p))),
        "tree never stopped: {:?}",
        pids.iter().map(|&p| describe(p)).collect::<Vec<_>>()
    );

    let cancelled = Instant::now();
    child.cancel();
    let outcome = read_to_end(&mut child, &mut seen).await;
    assert!(cancelled.elapsed() < grace, "SIGCONT let SIGTERM act");
    assert_eq!(outcome.ladder_step, Some(0));
    assert!(!outcome.forced);
    assert_all_gone(&pids);
}

#[tokio::test]
async fn exit_by_signal_is_reported_as_such() {
    let outcome = fixture(&["kill-self", "SEGV"])
        .output()
        .await
        .unwrap()
        .outcome;
    assert_eq!(outcome.status.code, None);
    assert_eq!(outcome.status.signal, Some(11));
    assert_eq!(outcome.status.signal_name(), Some("SIGSEGV"));
    assert_eq!(outcome.status.shell_code(), 139);
    assert_eq!(outcome.reason, EndReason::Exited);
    assert!(!outcome.success());
}
