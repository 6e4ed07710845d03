//! The leader exits while descendants still hold its stdout: the drain waits at most the
//! drain timeout, then the leftovers are killed through the job and reported.

use std::time::{Duration, Instant};

use crate::prelude::*;

#[tokio::test]
async fn leftovers_holding_stdout_hit_the_drain_timeout_and_are_killed() {
    // The root exits once the whole tree printed; child and grandchild keep stdout open.
    let drain = Duration::from_millis(500);
    let tree = fixture(&["tree", "--depth", "3", "--width", "1", "--exit-leader"]);
    let (mut child, mut seen, pids) = spawn_printed(tree.drain_timeout(drain), 3).await;
    let root = pids[0];
    // The root may have exited already; the holders are alive until the teardown.
    let holders: Vec<u32> = pids[1..].to_vec();
    let procs = Procs::open(&holders);
    let started = Instant::now();
    let outcome = read_to_end(&mut child, &mut seen).await;
    procs.assert_gone();
    assert_eq!(outcome.reason, EndReason::Exited);
    assert_eq!(outcome.status.code, Some(0), "the root exited 0 on its own");
    assert_eq!(outcome.pid, root);
    assert_eq!(outcome.drain, Drain::Timeout);
    let mut killed = outcome.leftovers_killed.clone();
    killed.sort_unstable();
    let mut expected = holders.clone();
    expected.sort_unstable();
    assert_eq!(killed, expected, "leftovers reported");
    assert!(started.elapsed() >= drain / 2, "waited for the drain");
    for pid in holders {
        assert_eq!(procs.exit_code(pid), Some(KILLED as u32));
    }
}

#[tokio::test]
async fn keep_leftovers_leaves_them_running_outside_the_run() {
    let tree = fixture(&["tree", "--depth", "2", "--width", "1", "--exit-leader"])
        .drain_timeout(Duration::from_millis(200))
        .keep_leftovers(true);
    let (mut child, mut seen, pids) = spawn_printed(tree, 2).await;
    let procs = Procs::open(&pids[1..]);
    let outcome = read_to_end(&mut child, &mut seen).await;
    assert_eq!(outcome.drain, Drain::Timeout);
    assert!(outcome.leftovers_killed.is_empty());
    drop(child);
    // The job handle is closed by now; KILL_ON_JOB_CLOSE was cleared, so the kept
    // process still runs (Procs' Drop ends it).
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(procs.running(), vec![pids[1]]);
}
