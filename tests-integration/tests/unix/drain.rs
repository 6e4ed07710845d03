//! The outcome waits for output, but not forever; leftovers are torn down.

use std::time::{Duration, Instant};

use crate::prelude::*;

#[tokio::test]
async fn grandchild_holding_stdout_ends_in_a_drain_timeout_and_is_killed() {
    let drain = Duration::from_millis(300);
    let started = Instant::now();
    let (outcome, seen) = run_to_end(fixture(&["hold-pipe"]).drain_timeout(drain)).await;
    let holder = seen
        .lines()
        .into_iter()
        .find(|l| l.role == "holder")
        .expect("holder pid line")
        .pid;
    let _cleanup = Cleanup(vec![holder]);
    assert_eq!(outcome.status.code, Some(0));
    assert_eq!(outcome.reason, EndReason::Exited);
    assert_eq!(outcome.drain, Drain::Timeout);
    assert!(outcome.leftovers_killed.contains(&holder), "{outcome:?}");
    // The outcome came within the drain timeout plus a margin for a loaded machine.
    assert!(started.elapsed() < drain + Duration::from_secs(5));
    assert!(outcome.wall_time >= drain);
    assert_all_gone(&[holder]);
}

/// Under the group alone too: there, once the leader is reaped at its exit (Linux
/// 6.9+), the group is found and signalled only through the leader's pidfd.
#[tokio::test]
async fn background_process_left_in_the_group_is_torn_down() {
    for (name, containment) in crate::group_pin::containments() {
        let (outcome, seen) = run_to_end(fixture(&["nohup"]).containment(containment)).await;
        let left = seen.pids();
        let _cleanup = Cleanup(left.clone());
        assert_eq!(left.len(), 1, "{name}: {seen:?}");
        assert_eq!(outcome.status.code, Some(0), "{name}");
        assert_eq!(
            outcome.drain,
            Drain::Complete,
            "{name}: the nohup child dropped its stdio"
        );
        assert_eq!(outcome.leftovers_killed, left, "{name}: {outcome:?}");
        assert_eq!(outcome.ladder_step, Some(0), "{name}");
        assert_all_gone(&left);
    }
}

#[tokio::test]
async fn keep_leftovers_leaves_them_running() {
    let (outcome, seen) = run_to_end(fixture(&["nohup"]).keep_leftovers(true)).await;
    let left = seen.pids();
    let _cleanup = Cleanup(left.clone());
    assert!(outcome.leftovers_killed.is_empty());
    assert_eq!(outcome.ladder_step, None);
    assert!(left.iter().all(|&p| is_alive(p)), "kept alive as asked");
}

#[tokio::test]
async fn leader_exit_with_a_live_tree_tears_the_tree_down_after_draining() {
    let (outcome, seen) = run_to_end(
        fixture(&["tree", "--depth", "2", "--width", "2", "--exit-leader"])
            .drain_timeout(Duration::from_millis(200)),
    )
    .await;
    let pids = seen.pids();
    let _cleanup = Cleanup(pids.clone());
    assert_eq!(pids.len(), 3);
    assert_eq!(outcome.status.code, Some(0));
    // The children still held stdout: drain timed out, then they were torn down.
    assert_eq!(outcome.drain, Drain::Timeout);
    let mut killed = outcome.leftovers_killed.clone();
    killed.sort_unstable();
    let mut children = pids[1..].to_vec();
    children.sort_unstable();
    assert_eq!(killed, children);
    assert_all_gone(&pids);
}
