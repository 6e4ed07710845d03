//! Signalling a cgroup's members through pidfds, verified in batches
//! ([`Cgroup::signal_all`](super::Cgroup::signal_all) says why a second listing
//! verifies them).

use std::collections::HashSet;
use std::os::fd::OwnedFd;

/// How many members' pidfds [`Cgroup::signal_all`](super::Cgroup::signal_all) holds
/// open at once (one listing of `cgroup.procs` verifies each batch): a tree of
/// thousands must not run this process out of file descriptors, and a signal must not
/// be skipped for want of one.
pub(super) const PIDFDS_AT_ONCE: usize = 64;

/// A pidfd for each pid that still names a process.
pub(super) fn open_pidfds(pids: &[u32]) -> Vec<(u32, OwnedFd)> {
    pids.iter()
        .filter_map(|&pid| {
            let p = i32::try_from(pid)
                .ok()
                .and_then(rustix::process::Pid::from_raw)?;
            let fd = rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).ok()?;
            Some((pid, fd))
        })
        .collect()
}

/// Signal, through the pidfds opened before `listed` was read, the processes whose
/// pid `listed` holds ([`Cgroup::signal_all`](super::Cgroup::signal_all) says why
/// that verifies them).
pub(super) fn signal_still_listed(
    pidfds: &[(u32, OwnedFd)],
    listed: &[u32],
    signal: rustix::process::Signal,
) {
    let listed: HashSet<u32> = listed.iter().copied().collect();
    for (pid, pidfd) in pidfds {
        if listed.contains(pid) {
            let _ = rustix::process::pidfd_send_signal(pidfd, signal);
        }
    }
}
