//! The end of a run that ended by itself: the settle and the leftovers.

use super::fake::*;
use super::*;

#[tokio::test(start_paused = true)]
async fn a_natural_exit_is_reaped_before_the_exit_event() {
    let (mut child, probe) = start(&cmd(), exits_after(1.0, 3), None);
    let outcome = child.wait().await;
    assert_eq!(outcome.status.code, Some(3));
    assert_eq!(outcome.reason, EndReason::Exited);
    assert_eq!(outcome.ladder_step, None);
    assert!(!outcome.forced);
    assert_eq!(outcome.drain, Drain::Complete);
    assert_eq!(outcome.wall_time, secs(1.0));
    assert_eq!(probe.reaped(), Some(secs(1.0)));
    assert!(probe.log().is_empty());
    assert!(probe.swept(), "every run ends with a sweep");
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    // Fused.
    assert_eq!(child.wait().await, outcome);
}

#[tokio::test(start_paused = true)]
async fn a_tree_that_names_no_process_may_settle_before_it_counts_as_left_over() {
    let mut script = exits_after(1.0, 0);
    script.ghost = Some(SETTLE / 2);
    let (mut child, probe) = start(&cmd(), script, None);
    let outcome = child.wait().await;
    assert_eq!(
        outcome.ladder_step, None,
        "a clean exit never reports a ladder"
    );
    assert!(outcome.leftovers_killed.is_empty());
    assert!(probe.log().is_empty());
    let settled = secs(1.0) + SETTLE / 2;
    assert!(
        outcome.wall_time >= settled && outcome.wall_time <= settled + POLL_MIN,
        "{:?}",
        outcome.wall_time
    );
}

#[tokio::test(start_paused = true)]
async fn a_tree_that_stays_populated_past_the_settle_goes_through_the_ladder() {
    let mut script = exits_after(1.0, 0);
    script.ghost = Some(SETTLE * 10);
    script.obeys = vec![Signal::Term];
    let (mut child, probe) = start(&cmd(), script, None);
    let outcome = child.wait().await;
    assert_eq!(outcome.reason, EndReason::Exited);
    assert_eq!(outcome.ladder_step, Some(0));
    let log = probe.log();
    assert_eq!(log.len(), 2, "{log:?}");
    let settled = secs(1.0) + SETTLE;
    assert!(
        log[0].0 >= settled && log[0].0 <= settled + POLL_MIN,
        "{log:?}"
    );
    assert_eq!(log[0].1, Signal::Term);
}

#[tokio::test(start_paused = true)]
async fn members_left_after_a_natural_exit_go_through_the_ladder() {
    let mut script = exits_after(1.0, 0);
    script.members = vec![11, 12];
    script.obeys = vec![Signal::Term];
    let (mut child, probe) = start(&cmd(), script, None);
    let outcome = child.wait().await;
    assert_eq!(outcome.reason, EndReason::Exited);
    assert_eq!(outcome.status.code, Some(0));
    assert_eq!(outcome.leftovers_killed, vec![11, 12]);
    assert_eq!(outcome.ladder_step, Some(0));
    assert!(!outcome.forced);
    assert_eq!(probe.log(), first_rung(secs(1.0), Signal::Term));
}

#[tokio::test(start_paused = true)]
async fn kept_leftovers_are_released_instead_of_killed() {
    let mut script = exits_after(1.0, 0);
    script.members = vec![11];
    let (mut child, probe) = start(&cmd().keep_leftovers(true), script, None);
    let outcome = child.wait().await;
    assert_eq!(outcome.ladder_step, None);
    assert!(outcome.leftovers_killed.is_empty());
    assert!(probe.log().is_empty());
    assert!(probe.released());
    assert!(!probe.swept(), "kept leftovers are not swept either");
    assert_eq!(outcome.wall_time, secs(1.0));
}
