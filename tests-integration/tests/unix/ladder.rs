//! The ladder escalates, and a second cancel jumps to the last rung.

use std::time::{Duration, Instant};

use crate::prelude::*;

#[tokio::test]
async fn sigterm_ignoring_tree_is_finished_by_sigkill_after_the_grace() {
    let grace = Duration::from_millis(400);
    let (mut child, mut seen, pids, _cleanup) = spawn_ready(
        fixture(&["tree", "--depth", "2", "--width", "2", "--ignore-term"])
            .ladder(Ladder::graceful(Signal::Term, grace)),
        3,
    )
    .await;

    let cancelled = Instant::now();
    child.cancel();
    let outcome = read_to_end(&mut child, &mut seen).await;
    let took = cancelled.elapsed();
    assert!(took >= grace, "escalated before the grace: {took:?}");
    assert!(outcome.forced);
    assert_eq!(outcome.ladder_step, Some(1));
    assert_eq!(outcome.status.signal, Some(9));
    assert_eq!(outcome.reason, EndReason::Cancelled);
    assert_all_gone(&pids);
}

#[tokio::test]
async fn multi_rung_ladder_walks_every_rung() {
    // INT is ignored too; TERM is ignored; only KILL ends it: rung index 2.
    let ladder = Ladder::new()
        .then(Signal::Int, Duration::from_millis(100))
        .then(Signal::Term, Duration::from_millis(100));
    let (mut child, mut seen, pids, _cleanup) =
        spawn_ready(fixture(&["ignore-signals"]).ladder(ladder), 1).await;
    child.cancel();
    let outcome = read_to_end(&mut child, &mut seen).await;
    assert_eq!(outcome.ladder_step, Some(2));
    assert!(outcome.forced);
    assert!(outcome.wall_time >= Duration::from_millis(200));
    assert_all_gone(&pids);
}

#[tokio::test]
async fn second_cancel_jumps_to_the_forceful_rung() {
    let grace = Duration::from_secs(60);
    let (mut child, mut seen, pids, _cleanup) = spawn_ready(
        fixture(&["tree", "--depth", "2", "--width", "2", "--ignore-term"])
            .ladder(Ladder::graceful(Signal::Term, grace)),
        3,
    )
    .await;
    child.cancel();
    child.cancel();
    let outcome = read_to_end(&mut child, &mut seen).await;
    assert!(outcome.wall_time < grace);
    assert!(outcome.forced);
    assert_eq!(outcome.reason, EndReason::Cancelled);
    assert_all_gone(&pids);
}

#[tokio::test]
async fn kill_goes_straight_to_sigkill() {
    let mut child = fixture(&["trap-term", "--exit-code", "7"]).spawn().unwrap();
    let mut seen = Seen::default();
    let pids = read_pids(&mut child, &mut seen, 1).await;
    child.kill();
    let outcome = read_to_end(&mut child, &mut seen).await;
    assert_eq!(outcome.reason, EndReason::Killed);
    assert_eq!(outcome.status.signal, Some(9));
    assert!(outcome.forced);
    assert_eq!(outcome.ladder_step, Some(1));
    assert!(!has_line(&seen.stdout, "got SIGTERM"));
    assert_all_gone(&pids);
}

#[tokio::test]
async fn a_child_that_handles_sigterm_exits_with_its_own_code() {
    let mut child = fixture(&["trap-term", "--exit-code", "7"]).spawn().unwrap();
    let mut seen = Seen::default();
    read_pids(&mut child, &mut seen, 1).await;
    child.cancel();
    let outcome = read_to_end(&mut child, &mut seen).await;
    assert_eq!(outcome.status.code, Some(7));
    assert_eq!(outcome.reason, EndReason::Cancelled);
    assert!(!outcome.forced);
    assert!(has_line(&seen.stdout, "got SIGTERM"), "{seen:?}");
}
