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

use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use kennel::{Command, ContainmentOptions};

const FIXTURE: &str = env!("CARGO_BIN_EXE_kennel-fixture");
const PATIENCE: Duration = Duration::from_secs(20);
const ROUNDS: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_spawns_leave_no_zombie_no_fd_and_no_process() {
    let dir = std::env::temp_dir().join(format!("kennel-failed-spawns-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let not_executable = dir.join("script");
    std::fs::write(&not_executable, "#!/bin/sh\necho hi\n").unwrap();
    std::fs::set_permissions(&not_executable, std::fs::Permissions::from_mode(0o644)).unwrap();

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
    let before = kennel_tests::open_fd_count();
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
    std::fs::remove_dir_all(&dir).unwrap();

    let settled = kennel_tests::wait_until(PATIENCE, || {
        kennel_tests::children_of(me).is_empty() && kennel_tests::open_fd_count() == before
    });
    assert!(
        settled,
        "after {} failed spawns: children {:?} (zombies {:?}), fd count {before} → {}: {:?}",
        ROUNDS * 3 * tiers.len(),
        kennel_tests::children_of(me),
        kennel_tests::zombie_children_of(me),
        kennel_tests::open_fd_count(),
        kennel_tests::open_fds()
    );
}
