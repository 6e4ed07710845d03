//! Spawns that fail leave nothing behind: no zombie, no fd, no process.
//!
//! The shape of hniksic/rust-subprocess#94: a library forks before it knows whether
//! `exec` will succeed, returns the exec error, and never waits for the child that
//! reported it — one zombie per failed spawn, forever (callers that probe for optional
//! binaries see the pid table grow). kennel's spawn paths fork too (the vfork-style
//! cgroup spawn, std's spawn for the process-group tier), so each is driven through the
//! three ways an exec fails.
//!
//! A test binary of its own: zombies and fds are counted for the whole process, which
//! other tests running in parallel threads would move.
#![cfg(target_os = "linux")]

use std::time::Duration;

use kennel::{Command, ContainmentOptions};

const FIXTURE: &str = env!("CARGO_BIN_EXE_kennel-fixture");
const PATIENCE: Duration = Duration::from_secs(20);
const ROUNDS: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_spawns_leave_no_zombie_no_fd_and_no_process() {
    let script = kennel_tests::NotExecutable::new("failed-spawns");
    let not_executable = script.path();

    let tiers = [
        ("default", ContainmentOptions::default()),
        (
            "process group",
            ContainmentOptions {
                cgroup: false,
                keeper: false,
            },
        ),
    ];
    let failing = |tier: ContainmentOptions| {
        [
            Command::new("kennel-no-such-program").containment(tier),
            Command::new(&not_executable).containment(tier),
            Command::new(FIXTURE)
                .args(["exit", "0"])
                .current_dir("/kennel/does/not/exist")
                .containment(tier),
        ]
    };
    // Warm-up: lazily created runtime fds (signal pipe, blocking pool) and the first
    // spawn's one-time state exist before counting.
    for (_, tier) in tiers {
        for cmd in failing(tier) {
            assert!(cmd.spawn().is_err());
        }
    }
    let me = std::process::id();
    let before = kennel_tests::fd_count_at_rest(std::process::id());
    for (name, tier) in tiers {
        for _ in 0..ROUNDS {
            for cmd in failing(tier) {
                let err = cmd.spawn().expect_err("the spawn must fail");
                assert!(
                    matches!(
                        err,
                        kennel::SpawnError::NotFound { .. }
                            | kennel::SpawnError::PermissionDenied { .. }
                            | kennel::SpawnError::BadCwd { .. }
                    ),
                    "{name}: {err:?}"
                );
            }
        }
    }
    drop(script);

    // The one child that may stay: the in-process guard this binary (which never calls
    // `keeper::init()`) started at its first cgroup spawn.
    let others = || {
        let guards = kennel_tests::own_image_children_of(me);
        let mut left = kennel_tests::children_of(me);
        left.retain(|c| !guards.contains(c));
        (left, guards.len())
    };
    let settled = kennel_tests::wait_until(PATIENCE, || {
        let (left, guards) = others();
        left.is_empty()
            && guards <= 1
            && kennel_tests::fd_count_at_rest(std::process::id()) == before
    });
    assert!(
        settled,
        "after {} failed spawns: children but the guard, guards {:?} (zombies {:?}), fd count {before} → {}: {:?}",
        ROUNDS * 3 * tiers.len(),
        others(),
        kennel_tests::zombie_children_of(me),
        kennel_tests::fd_count_at_rest(std::process::id()),
        kennel_tests::open_fds()
    );
}
