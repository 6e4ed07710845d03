//! The in-process guard of this very process (Linux): a test binary of its own that
//! never calls `kennel::keeper::init()` or `keeper::use_program`, so its cgroup trees
//! are guarded by a clone of it that runs no binary. A killed guard is replaced; many
//! spawns share one. (A host without `init()` killed with `kill -9` or exiting:
//! `unix_containment/noinit_host.rs`.)
#![cfg(target_os = "linux")]

use std::time::Duration;

use kennel::{Command, Containment, OutputMode};
use kennel_tests::marks::{assert_no_survivors, cgroup_available, marker};

const FIXTURE: &str = env!("CARGO_BIN_EXE_kennel-fixture");
const PATIENCE: Duration = Duration::from_secs(20);

/// The tests that look at this process's own guard run one at a time.
static OWN_GUARD: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// This process's in-process guards.
fn own_guards() -> Vec<u32> {
    kennel_tests::own_image_children_of(std::process::id())
}

fn tree(mark: &(String, String)) -> kennel::Child {
    Command::new(FIXTURE)
        .args(["tree", "--depth", "2", "--width", "2"])
        .env(&mark.0, &mark.1)
        .stdout(OutputMode::Null)
        .spawn()
        .unwrap()
}

/// This process never called `init()`: its guard is the in-process one. Killed, it is
/// replaced at the next spawn (and reaped); the tree it covered reports the gap for
/// the rest of its run, the next one is covered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_in_process_guard_is_replaced_and_the_old_tree_reports_the_gap() {
    if !cgroup_available("the in-process guard") {
        return;
    }
    let _serial = OWN_GUARD.lock().await;
    let mark = marker();
    let first = tree(&mark);
    assert_eq!(first.containment(), Containment::Cgroup);
    assert!(
        first.dies_with_supervisor(),
        "the in-process guard covers it"
    );
    let old = own_guards();
    assert_eq!(old.len(), 1, "one guard: {old:?}");
    kennel_tests::checks::a_killed_guard_leaves_a_gap(
        first,
        &old,
        PATIENCE,
        || tree(&mark),
        || {
            let new = own_guards();
            assert_eq!(new.len(), 1, "one guard: {new:?}");
            assert_ne!(new, old);
            assert!(
                !std::path::Path::new(&format!("/proc/{}", old[0])).exists(),
                "the dead guard was not reaped"
            );
        },
    )
    .await;
    assert_no_survivors(&mark, PATIENCE, "killed trees");
}

/// 200 spawns share one guard: no guard (and no zombie of one) is left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_spawns_leave_one_guard() {
    if !cgroup_available("the in-process guard") {
        return;
    }
    let _serial = OWN_GUARD.lock().await;
    for i in 0..200 {
        let mut child = Command::new("true").spawn().unwrap();
        assert!(child.dies_with_supervisor(), "spawn {i}");
        let outcome = child.wait().await;
        assert!(outcome.dies_with_supervisor, "spawn {i}: {outcome:?}");
    }
    let guards = own_guards();
    assert_eq!(guards.len(), 1, "one guard after 200 spawns: {guards:?}");
    // No zombie child either (a dead guard not reaped; the trees are reaped).
    let zombies = kennel_tests::zombie_children_of(std::process::id());
    assert!(zombies.is_empty(), "zombie children: {zombies:?}");
}
