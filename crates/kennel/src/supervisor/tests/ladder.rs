//! Ending a running tree: the ladder's rungs and their timing, a second cancel, kill,
//! the timeout, a dropped handle, and the errors met on the way.

use super::fake::*;
use super::*;
use crate::supervisor::Child;
use crate::{Command, Outcome};

/// `cmd`'s tree, which dies of the signals in `dies_of`, ended by `end`
/// (`Child::cancel`, `Child::kill`) one second after its start: its outcome, and the
/// probe.
async fn ended_after_a_second(
    cmd: &Command,
    dies_of: &[Signal],
    end: fn(&Child),
) -> (Outcome, Probe) {
    let (mut child, probe) = start(cmd, forever(dies_of), None);
    sleep(secs(1.0)).await;
    end(&child);
    (child.wait().await, probe)
}

#[tokio::test(start_paused = true)]
async fn a_tree_that_obeys_the_first_rung_is_not_forced() {
    let (outcome, probe) = ended_after_a_second(&cmd(), &[Signal::Term], Child::cancel).await;
    assert_eq!(outcome.reason, EndReason::Cancelled);
    assert_eq!(outcome.status, killed_by(Signal::Term));
    assert_eq!(outcome.ladder_step, Some(0));
    assert!(!outcome.forced);
    assert_eq!(probe.log(), first_rung(secs(1.0), Signal::Term));
    assert_eq!(outcome.wall_time, secs(1.0));
}

#[tokio::test(start_paused = true)]
async fn the_default_ladder_kills_after_the_default_grace() {
    let (mut child, probe) = start(&cmd(), forever(&[]), None);
    child.cancel();
    let outcome = child.wait().await;
    assert_eq!(
        probe.log(),
        walked(
            Duration::ZERO,
            Signal::Term,
            &[(DEFAULT_GRACE, Signal::Kill)]
        )
    );
    assert_eq!(outcome.status, killed_by(Signal::Kill));
    assert_eq!(outcome.ladder_step, Some(1));
    assert!(outcome.forced);
    assert_eq!(outcome.wall_time, DEFAULT_GRACE);
}

#[tokio::test(start_paused = true)]
async fn the_ladder_walks_its_rungs_on_time() {
    let ladder = Ladder::new()
        .then(Signal::Int, secs(2.0))
        .then(Signal::Term, secs(1.0));
    let (outcome, probe) = ended_after_a_second(&cmd().ladder(ladder), &[], Child::cancel).await;
    assert_eq!(
        probe.log(),
        walked(
            secs(1.0),
            Signal::Int,
            &[(secs(3.0), Signal::Term), (secs(4.0), Signal::Kill)]
        )
    );
    assert_eq!(outcome.ladder_step, Some(2));
    assert!(outcome.forced);
    assert_eq!(outcome.reason, EndReason::Cancelled);
}

#[tokio::test(start_paused = true)]
async fn a_second_cancel_jumps_to_the_forceful_rung() {
    let (mut child, probe) = start(&cmd(), forever(&[]), None);
    sleep(secs(1.0)).await;
    child.cancel();
    sleep(secs(0.5)).await;
    child.cancel();
    let outcome = child.wait().await;
    assert_eq!(
        probe.log(),
        walked(secs(1.0), Signal::Term, &[(secs(1.5), Signal::Kill)])
    );
    assert_eq!(outcome.reason, EndReason::Cancelled);
    assert_eq!(outcome.ladder_step, Some(1));
    assert!(outcome.forced);
    assert_eq!(outcome.wall_time, secs(1.5));
}

#[tokio::test(start_paused = true)]
async fn cancel_with_uses_the_given_ladder() {
    let (child, probe) = start(&cmd(), forever(&[]), None);
    let ladder = Ladder::graceful(Signal::Int, secs(0.25));
    child.controller().cancel_with(ladder);
    let outcome = child.output().await.outcome;
    assert_eq!(
        probe.log(),
        walked(Duration::ZERO, Signal::Int, &[(secs(0.25), Signal::Kill)])
    );
    assert_eq!(outcome.ladder_step, Some(1));
}

#[tokio::test(start_paused = true)]
async fn kill_goes_straight_to_the_forceful_rung() {
    let (outcome, probe) = ended_after_a_second(&cmd(), &[Signal::Term], Child::kill).await;
    assert_eq!(probe.log(), vec![(secs(1.0), Signal::Kill)]);
    assert_eq!(outcome.reason, EndReason::Killed);
    assert_eq!(
        outcome.ladder_step,
        Some(Ladder::default().forceful_index())
    );
    assert!(outcome.forced);
    assert_eq!(outcome.status, killed_by(Signal::Kill));
}

#[tokio::test(start_paused = true)]
async fn a_timeout_while_running_runs_the_ladder() {
    let (mut child, probe) = start(&cmd().timeout(secs(2.0)), forever(&[Signal::Term]), None);
    let outcome = child.wait().await;
    assert_eq!(outcome.reason, EndReason::TimedOut);
    assert_eq!(probe.log(), first_rung(secs(2.0), Signal::Term));
    assert_eq!(outcome.wall_time, secs(2.0));
}

#[tokio::test(start_paused = true)]
async fn dropping_the_child_kills_and_reaps_the_tree() {
    let (child, probe) = start(&cmd(), forever(&[Signal::Term]), None);
    let controller = child.controller();
    sleep(secs(1.0)).await;
    drop(child);
    controller.tree_ended().await;
    while probe.reaped().is_none() {
        sleep(POLL_MAX).await;
    }
    assert_eq!(probe.log(), vec![(secs(1.0), Signal::Kill)]);
    assert_eq!(probe.reaped(), Some(secs(1.0)));
}

#[tokio::test(start_paused = true)]
async fn a_failed_wait_kills_the_tree_and_says_so() {
    let mut script = forever(&[]);
    script.wait_fails = true;
    let (mut child, probe) = start(&cmd(), script, None);
    let outcome = child.wait().await;
    assert_eq!(probe.log(), vec![(Duration::ZERO, Signal::Kill)]);
    assert_eq!(outcome.reason, EndReason::Killed);
    assert_eq!(
        outcome.status,
        ExitStatus {
            code: None,
            signal: None
        }
    );
    let [RunError::Wait { pid, .. }] = &outcome.errors[..] else {
        panic!("{:?}", outcome.errors);
    };
    assert_eq!(*pid, PID);
    assert_eq!(
        outcome.errors[0].report(),
        "cannot learn how pid 4242 exited (0.000s after spawn); the tree was killed: \
         the fake cannot wait"
    );
}

#[tokio::test(start_paused = true)]
async fn a_refused_ladder_signal_is_reported_and_the_ladder_goes_on() {
    let mut script = forever(&[]);
    script.refuses = vec![Signal::Term];
    let (mut child, probe) = start(&cmd().grace(Signal::Term, secs(1.0)), script, None);
    child.cancel();
    let outcome = child.wait().await;
    assert_eq!(
        probe.log(),
        walked(Duration::ZERO, Signal::Term, &[(secs(1.0), Signal::Kill)])
    );
    let [RunError::Signal {
        signal: Signal::Term,
        kind: SignalErrorKind::Os,
        ..
    }] = &outcome.errors[..]
    else {
        panic!("{:?}", outcome.errors);
    };
    assert_eq!(
        outcome.errors[0].report(),
        "cannot send SIGTERM to the tree of pid 4242: the operating system refused \
         (0.000s after spawn): the fake refuses"
    );
}

#[tokio::test(start_paused = true)]
async fn a_tree_that_outlives_the_first_sigkill_is_killed_again() {
    let script = Script {
        survives_kills: 2,
        members: vec![PID + 1],
        ..forever(&[])
    };
    let (mut child, probe) = start(&cmd(), script, None);
    child.kill();
    let outcome = tokio::time::timeout(secs(60.0), child.wait())
        .await
        .expect("the run waited for members that outlived the SIGKILL");
    let kills: Vec<Duration> = probe
        .log()
        .into_iter()
        .filter(|(_, s)| *s == Signal::Kill)
        .map(|(at, _)| at)
        .collect();
    assert_eq!(kills.len(), 3, "{:?}", probe.log());
    assert!(kills.windows(2).all(|w| w[0] < w[1]), "{kills:?}");
    assert_eq!(outcome.status, killed_by(Signal::Kill));
    assert_eq!(outcome.reason, EndReason::Killed);
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
}
