//! The Windows shapes of the fixture matrix's rows (docs/REPORT.md): a detached
//! grandchild, a child left behind by a leader that exits 0, a suspended tree, a
//! grandchild holding stdout, a spawn loop. Whatever the shape, the job holds every
//! process and the run ends them all.

use std::time::Duration;

use crate::prelude::*;

/// Kills the run: every process of `pids` must be gone at the outcome, each with the
/// job kill's exit code.
async fn kill_ends_them_all(child: &mut Child, seen: &mut Seen, procs: &Procs, pids: &[u32]) {
    child.kill();
    let outcome = read_to_end(child, seen).await;
    procs.assert_gone();
    assert_eq!(outcome.reason, EndReason::Killed);
    for pid in pids {
        assert_eq!(procs.exit_code(*pid), Some(KILLED as u32), "pid {pid}");
    }
}

/// Runs `args`, whose leader exits 0 leaving one process (its only pid line) behind:
/// the outcome reports the exit 0 and the leftover, killed by the job.
async fn left_behind_by_exit_0(args: &[&str]) -> Outcome {
    let (mut child, mut seen, pids, procs) =
        spawn_ready(fixture(args).drain_timeout(Duration::from_millis(500)), 1).await;
    let outcome = read_to_end(&mut child, &mut seen).await;
    procs.assert_gone();
    assert_eq!(outcome.reason, EndReason::Exited);
    assert_eq!(outcome.status.code, Some(0));
    assert_eq!(outcome.leftovers_killed, pids);
    assert_eq!(procs.exit_code(pids[0]), Some(KILLED as u32));
    outcome
}

/// `DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP` (no console, its own console group)
/// does not leave the job, and `CREATE_BREAKAWAY_FROM_JOB` is refused: the kill ends the
/// detached grandchild with its leader.
#[tokio::test]
async fn a_detached_grandchild_in_its_own_group_is_killed_with_the_job() {
    let (mut child, mut seen, pids, procs) =
        spawn_ready(fixture(&["daemon", "--leader-stays"]), 2).await;
    let roles: Vec<String> = seen.lines().into_iter().map(|l| l.role).collect();
    assert_eq!(roles, ["leader", "daemon"]);
    let stderr = String::from_utf8_lossy(&seen.stderr).into_owned();
    assert!(
        stderr.contains("breakaway refused 5\n"),
        "CREATE_BREAKAWAY_FROM_JOB must be refused (ERROR_ACCESS_DENIED): {stderr:?}"
    );
    kill_ends_them_all(&mut child, &mut seen, &procs, &pids).await;
}

/// The Windows `nohup … &`: a detached child with its stdio on `NUL`, left by a leader
/// that exits 0. The run reports the leader's exit 0 and kills the leftover.
#[tokio::test]
async fn a_detached_child_left_by_a_leader_that_exits_0_is_killed() {
    left_behind_by_exit_0(&["nohup"]).await;
}

/// Every thread of every process suspended (`NtSuspendProcess`): no console handler
/// can run, `TerminateJobObject` ends them all the same.
#[tokio::test]
async fn a_suspended_tree_is_killed() {
    let mut child = fixture(&["tree", "--depth", "2", "--width", "3", "--stop"])
        .spawn()
        .unwrap();
    let mut seen = Seen::default();
    read_until(&mut child, &mut seen, |s| {
        String::from_utf8_lossy(&s.stdout).contains("stopped\n")
    })
    .await;
    let pids = seen.pids();
    assert_eq!(pids.len(), 4);
    let procs = Procs::open(&pids);
    kill_ends_them_all(&mut child, &mut seen, &procs, &pids).await;
}

/// Leader → intermediate → holder: the holder inherited stdout and outlives both. The
/// drain stops waiting after the drain timeout and the holder is killed.
#[tokio::test]
async fn a_grandchild_holding_stdout_hits_the_drain_timeout() {
    let outcome = left_behind_by_exit_0(&["hold-pipe"]).await;
    assert_eq!(outcome.drain, Drain::Timeout);
}

/// A chain that starts processes as fast as it can while the job is terminated: every
/// member that ever printed is gone once the outcome arrives, and nothing printed after.
#[tokio::test]
async fn a_spawn_loop_is_ended_by_the_job_kill() {
    let (mut child, mut seen, _, procs) =
        spawn_ready(fixture(&["fork-loop", "--count", "200"]), 3).await;
    child.kill();
    let outcome = read_to_end(&mut child, &mut seen).await;
    procs.assert_gone();
    assert_eq!(outcome.reason, EndReason::Killed);
    // Members started between our read and the kill: none may be running now.
    let running: Vec<u32> = seen
        .pids()
        .into_iter()
        .filter(|p| open(*p).is_some())
        .collect();
    assert!(
        running.is_empty(),
        "loopers alive after the outcome: {running:?}"
    );
}
