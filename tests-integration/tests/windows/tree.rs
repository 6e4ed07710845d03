//! The whole tree ends with the run: grandchildren included, whether the run is killed,
//! cancelled, dropped or timed out.

use kennel_tests::checks;

use crate::prelude::*;

/// `tree --depth 3 --width 2`: root, 2 children, 4 grandchildren (each node re-runs the
/// fixture, so every one is a separate process the job inherited).
const TREE: &[&str] = &["tree", "--depth", "3", "--width", "2"];
const TREE_SIZE: usize = 7;

#[tokio::test]
async fn kill_ends_every_process_of_the_tree() {
    let mut child = fixture(TREE).spawn().unwrap();
    assert_eq!(child.containment(), Containment::JobObject);
    let mut seen = Seen::default();
    let (pids, procs) = read_pids(&mut child, &mut seen, TREE_SIZE).await;
    assert_eq!(pids.len(), TREE_SIZE);
    assert_eq!(seen.lines()[0].pid, child.id());
    child.kill();
    let outcome = read_to_end(&mut child, &mut seen).await;
    procs.assert_gone();
    assert_eq!(outcome.reason, EndReason::Killed);
    assert!(outcome.forced);
    assert_eq!(outcome.status.code, Some(KILLED));
    assert_eq!(outcome.status.signal, None);
    assert_eq!(outcome.containment, Containment::JobObject);
    assert_eq!(outcome.drain, Drain::Complete);
    for pid in pids {
        assert_eq!(procs.exit_code(pid), Some(KILLED as u32), "pid {pid}");
    }
}

#[tokio::test]
async fn cancel_with_a_kill_only_ladder_ends_the_tree() {
    let (mut child, mut seen, _, procs) =
        spawn_ready(fixture(TREE).ladder(kill_only()), TREE_SIZE).await;
    child.cancel();
    let outcome = read_to_end(&mut child, &mut seen).await;
    procs.assert_gone();
    assert_eq!(outcome.reason, EndReason::Cancelled);
    assert!(outcome.forced);
    assert_eq!(outcome.ladder_step, Some(0));
}

#[tokio::test]
async fn timeout_ends_the_tree() {
    let command = fixture(TREE)
        .ladder(kill_only())
        // Long enough for the whole tree to be up (and report) on a loaded machine under
        // Wine before the timeout fires: 300 ms was seen to race the last grandchild.
        .timeout(std::time::Duration::from_secs(5));
    let (mut child, mut seen, _, procs) = spawn_ready(command, TREE_SIZE).await;
    let outcome = read_to_end(&mut child, &mut seen).await;
    procs.assert_gone();
    assert_eq!(outcome.reason, EndReason::TimedOut);
}

#[tokio::test]
async fn dropping_the_child_ends_the_tree() {
    let (child, _seen, _, procs) = spawn_ready(fixture(TREE), TREE_SIZE).await;
    // `procs` (which ends the tree when dropped) lives until the check is done.
    checks::dropping_the_handle_ends_the_tree(child, move || {
        procs.wait_gone(PATIENCE).map(|()| procs)
    })
    .await;
}

#[tokio::test]
async fn a_tree_that_exits_on_its_own_reports_its_code() {
    let outcome = fixture(&["exit", "7"]).spawn().unwrap().wait().await;
    assert_eq!(outcome.reason, EndReason::Exited);
    assert_eq!(outcome.status.code, Some(7));
    assert!(!outcome.forced);
    assert_eq!(outcome.drain, Drain::Complete);
    assert!(outcome.leftovers_killed.is_empty());
}
