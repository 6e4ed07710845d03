//! A group leader reaped as soon as it exits (Linux 6.9+, `PIDFD_SIGNAL_PROCESS_GROUP`):
//! the rest of its process group is still signalled — through the pidfd — and torn
//! down; on an older kernel the leader stays a zombie until the teardown, as before.
//! Both containments: the default (the group inside a cgroup) and the group alone,
//! where the pidfd is the only way to the members.

use std::time::Duration;

use kennel::ContainmentOptions;
use kennel_tests::{is_zombie, proc_state, wait_until};

use crate::prelude::*;

/// Whether this kernel signals a process group through a pidfd: signal 0 to the group
/// our own pid leads — none, as the test binary is no group leader, so a kernel that
/// knows the flag answers `ESRCH` and an older one `EINVAL`.
fn kernel_pins_groups() -> bool {
    // SAFETY: pidfd_open and pidfd_send_signal read only integer arguments (a null
    // siginfo is allowed); the fd is closed right after.
    let (rc, errno) = unsafe {
        let fd = libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0);
        if fd < 0 {
            return false;
        }
        let rc = libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd,
            0,
            std::ptr::null::<libc::siginfo_t>(),
            1u32 << 2, // PIDFD_SIGNAL_PROCESS_GROUP
        );
        let errno = std::io::Error::last_os_error().raw_os_error();
        libc::close(fd as i32);
        (rc, errno)
    };
    rc == 0 || errno == Some(libc::ESRCH)
}

/// The default containment, and the process group alone.
pub fn containments() -> [(&'static str, ContainmentOptions); 2] {
    [
        ("default", ContainmentOptions::default()),
        (
            "group only",
            ContainmentOptions {
                cgroup: false,
                keeper: false,
            },
        ),
    ]
}

// Multi-threaded: the run loop must reap the leader while this test polls `/proc`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reaped_leaders_group_is_still_cancelled() {
    for (name, containment) in containments() {
        // The leader exits at once; its two children hold stdout, so the drain waits
        // (30 s) and the tree lives on without its leader until the cancel.
        let mut child = fixture(&["tree", "--depth", "2", "--width", "2", "--exit-leader"])
            .containment(containment)
            .drain_timeout(Duration::from_secs(30))
            .spawn()
            .unwrap();
        let leader = child.id();
        let mut seen = Seen::default();
        read_until(&mut child, &mut seen, |s| s.pids().len() == 3).await;
        let pids = seen.pids();
        let _cleanup = Cleanup(pids.clone());
        let members = &pids[1..];
        if kernel_pins_groups() {
            // Reaped once its exit is known, while its group still runs.
            let gone = wait_until(PATIENCE, || proc_state(leader).is_none());
            assert!(
                gone,
                "{name}: leader {leader} not reaped: {}",
                describe(leader)
            );
        } else {
            let zombie = wait_until(PATIENCE, || is_zombie(leader));
            assert!(zombie, "{name}: leader {leader}: {}", describe(leader));
        }
        assert!(members.iter().all(|&p| is_alive(p)), "{name}: {seen:?}");
        child.cancel();
        let outcome = read_to_end(&mut child, &mut seen).await;
        eprintln!(
            "DEBUG {name} {outcome:?} {:?}",
            members.iter().map(|&p| describe(p)).collect::<Vec<_>>()
        );
        assert_eq!(outcome.status.code, Some(0), "{name}: {outcome:?}");
        assert_eq!(outcome.reason, EndReason::Cancelled, "{name}: {outcome:?}");
        assert_eq!(outcome.ladder_step, Some(0), "{name}: SIGTERM reached them");
        assert_all_gone(members);
    }
}
