//! 200 spawn/cancel cycles leave the test process's fd count where it started.
//!
//! A test binary of its own: the fd table is per process, so other tests running in
//! parallel threads would move the count.
#![cfg(target_os = "linux")]

use std::time::Duration;

use kennel::{Command, Event, StdinMode};

const FIXTURE: &str = env!("CARGO_BIN_EXE_kennel-fixture");
const PATIENCE: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_spawn_cancel_cycles_leak_no_fd_and_no_process() {
    // One warm-up cycle so lazily created runtime fds (signal pipe, blocking pool) exist,
    // counted once its tree is gone. Counted at rest: the empty cgroups kept for the next
    // trees (a directory fd each, with its `cgroup.events` and `cpu.stat` once read)
    // come and go with the spawns.
    let warm = cycle().await;
    assert_all_gone(&warm);
    let before = kennel_tests::fd_count_at_rest(std::process::id());
    let mut all = Vec::new();
    for _ in 0..200 {
        all.extend(cycle().await);
    }
    let _cleanup = Cleanup(all.clone());
    let settled = kennel_tests::wait_until(PATIENCE, || {
        kennel_tests::fd_count_at_rest(std::process::id()) == before
    });
    assert!(
        settled,
        "fd count {} → {}: {:?}",
        before,
        kennel_tests::fd_count_at_rest(std::process::id()),
        kennel_tests::open_fds()
    );
    assert_all_gone(&all);
}

async fn cycle() -> Vec<u32> {
    let mut child = Command::new(FIXTURE)
        .args(["tree", "--depth", "2", "--width", "1"])
        .stdin(StdinMode::Piped)
        .spawn()
        .unwrap();
    let mut out = Vec::new();
    while kennel_tests::parse_pid_lines(&out).len() < 2 {
        match tokio::time::timeout(PATIENCE, child.next_event()).await {
            Ok(Some(Event::Stdout(b))) => out.extend_from_slice(&b),
            other => panic!("expected pid lines, got {other:?}"),
        }
    }
    child.cancel();
    let outcome = tokio::time::timeout(PATIENCE, child.wait()).await.unwrap();
    assert_eq!(outcome.reason, kennel::EndReason::Cancelled);
    kennel_tests::parse_pid_lines(&out)
        .iter()
        .map(|l| l.pid)
        .collect()
}

fn assert_all_gone(pids: &[u32]) {
    if let Err(left) = kennel_tests::wait_all_reaped(pids, PATIENCE) {
        panic!("left behind: {left:?}");
    }
}

struct Cleanup(Vec<u32>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        kennel_tests::kill_pids(&self.0);
    }
}
