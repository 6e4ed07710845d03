//! The process group layer: the leader is our direct child, made leader of a new
//! process group at spawn, and the group is signalled with `killpg`.
//!
//! A process group id is the leader's pid. While the leader is unreaped (running or a
//! zombie) its pid — hence the group id — cannot be handed to another process, so
//! `killpg(pgid)` can only reach this tree. The leader's exit is therefore learned with
//! `waitid(WEXITED | WNOWAIT)`, which leaves the zombie in place; the tree reaps it
//! only after the group is torn down. On Linux the wait goes through a pidfd
//! (readable when the process exits), so no thread blocks and nobody else's child is
//! reaped; elsewhere a blocking `waitid(WNOWAIT)` runs on the blocking pool.
//!
//! On Linux 6.9+ the pidfd reaches the group too (`PIDFD_SIGNAL_PROCESS_GROUP`,
//! `linux/pidfd.rs`), pinned: a number handed out again belongs to a new `struct pid`
//! the old pidfd never reaches. There the leader is reaped as soon as its exit is
//! known ([`Group::reap_early`]), every later signal and test goes through the pidfd,
//! and an empty group is one system call instead of a `/proc` listing.
//!
//! Descendants that call `setsid()` or `setpgid()` leave the group and `killpg` misses
//! them: the cgroup and the keeper are the layers that catch those.

use std::io;

use rustix::process::{Pid, WaitId, WaitIdOptions, WaitIdStatus};

use super::linux::{self, Pidfd};
use super::registry;
use super::signal::to_platform;
use crate::sys::Layer;
use crate::tree::TreeSignalError;
use crate::{ExitStatus, Signal};

/// The leader of a process group, our direct child.
pub(crate) struct Group {
    pid: u32,
    pidfd: Option<Pidfd>,
    /// The leader exited (it is a zombie until the tree reaps it).
    exited: bool,
    /// The leader was reaped as soon as it exited ([`Group::reap_early`]): the group
    /// is reached through the pidfd only, never through its number.
    reaped: bool,
}

impl Group {
    /// The group led by our child `pid`.
    pub(crate) fn new(pid: u32) -> Group {
        Group {
            pid,
            pidfd: None,
            exited: false,
            reaped: false,
        }
    }

    /// Wait for the leader through a pidfd where the kernel offers one.
    pub(crate) fn open_pidfd(&mut self) -> io::Result<()> {
        self.pidfd = Pidfd::open(self.pid)?;
        Ok(())
    }

    /// Wait for the leader through `fd`, a pidfd the spawn returned.
    pub(crate) fn adopt_pidfd(&mut self, fd: std::os::fd::OwnedFd) -> io::Result<()> {
        self.pidfd = Some(Pidfd::from_owned(fd)?);
        Ok(())
    }

    /// The leader's pid, which is also the group id.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// Note that the leader exited (learned some other way).
    pub(crate) fn mark_exited(&mut self) {
        self.exited = true;
    }

    /// Wait until the leader exits, without reaping it.
    pub(crate) async fn wait_exit(&mut self) -> io::Result<ExitStatus> {
        let status = match &self.pidfd {
            Some(pidfd) => pidfd.wait_exit().await?,
            None => {
                let pid = to_pid(self.pid);
                tokio::task::spawn_blocking(move || loop {
                    match rustix::process::waitid(
                        WaitId::Pid(pid),
                        WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
                    ) {
                        Ok(Some(status)) => return Ok(convert_status(&status)),
                        Ok(None) | Err(rustix::io::Errno::INTR) => continue,
                        Err(e) => return Err(io::Error::from(e)),
                    }
                })
                .await
                .map_err(io::Error::other)??
            }
        };
        self.exited = true;
        Ok(status)
    }

    /// SIGKILL the whole group now (the tree was abandoned before its teardown).
    pub(crate) fn kill_now(&self) {
        let _ = self.send(rustix::process::Signal::KILL);
    }

    /// Reap the exited leader now, where the group stays reachable without it: through
    /// its pidfd, on a kernel that signals a group that way. Whether the leader is
    /// reaped (then the tree must neither wait for it nor use its number again).
    pub(crate) fn reap_early(&mut self) -> bool {
        let Some(pidfd) = &self.pidfd else {
            return false;
        };
        if !self.exited || self.reaped || !linux::group_signals() {
            return self.reaped;
        }
        // Out of the registry first: once reaped, the pid may be our next spawn's, and
        // a late `unregister` would drop that child's record. Unregistered, the zombie
        // may be taken by the orphan reaper instead (its status is already ours).
        registry::unregister(self.pid);
        // Should the reap fail, the orphan reaper takes the zombie; either way the
        // number is no longer ours to use.
        let _ = pidfd.reap();
        self.reaped = true;
        true
    }

    /// [`Layer::alive`] for a group whose tree a cgroup holds, asked once the cgroup is
    /// empty: only a member that moved itself out of the cgroup can be left, and the
    /// members may be taken from a recent census instead of a listing of `/proc`.
    pub(crate) fn alive_outside_cgroup(&mut self) -> bool {
        self.alive_by(true)
    }

    /// Whether a member is still running; with `census`, the members may come from a
    /// census (`linux/census.rs`), which is for a group whose tree a cgroup holds.
    fn alive_by(&mut self, census: bool) -> bool {
        if !self.exited {
            return true;
        }
        let anyone = match self.reaped {
            true => self.pinned_alive(),
            false => rustix::process::test_kill_process_group(to_pid(self.pid)).is_ok(),
        };
        // Both tests also succeed for a group whose only members are zombies (the
        // leader's, or a member's whose parent has not reaped it); where the members
        // cannot be listed, assume someone is alive. A member inside `exit(2)` is still
        // alive here (it holds its memory, files and sockets until it is a zombie),
        // though not a leftover (`members`).
        anyone && linux::group_present(self.pid, census).is_none_or(|members| !members.is_empty())
    }

    /// Whether the leader was reaped early ([`Group::reap_early`]).
    pub(crate) fn reaped_early(&self) -> bool {
        self.reaped
    }

    /// Send `sig` to the group: by its number while the leader is unreaped, through
    /// the pidfd once it is reaped. `Ok(false)`: nobody is left.
    fn send(&self, sig: rustix::process::Signal) -> io::Result<bool> {
        if self.reaped {
            return self.pinned(Some(sig));
        }
        match rustix::process::kill_process_group(to_pid(self.pid), sig) {
            Ok(()) => Ok(true),
            Err(rustix::io::Errno::SRCH) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// A signal (`None`: a test) through the pidfd to the group of a reaped leader.
    fn pinned(&self, sig: Option<rustix::process::Signal>) -> io::Result<bool> {
        match &self.pidfd {
            Some(pidfd) => pidfd.signal_group(sig),
            None => Ok(false),
        }
    }

    /// Whether a reaped leader's group has a member, zombies included.
    fn pinned_alive(&self) -> bool {
        // An error other than "nobody" (none is expected): assume someone.
        self.pinned(None).unwrap_or(true)
    }
}

impl Layer for Group {
    fn signal(&mut self, signal: Signal) -> Result<(), TreeSignalError> {
        let sig = to_platform(signal)?;
        // The leader is unreaped (or the group is reached through its pidfd), so the
        // signal cannot reach anyone else.
        let group = self.send(sig);
        if !self.exited {
            if let Some(pidfd) = &self.pidfd {
                pidfd.signal(sig);
            }
        }
        // `Ok(false)`: an empty group (nobody but the leader's zombie is left).
        group.map(|_| ()).map_err(TreeSignalError::Os)
    }

    fn alive(&mut self) -> bool {
        self.alive_by(false)
    }

    fn members(&mut self) -> Vec<u32> {
        if self.reaped && !self.pinned_alive() {
            return Vec::new();
        }
        let members = linux::group_members(self.pid).unwrap_or_default();
        // A reaped leader's number is free once the group is empty: if the group
        // emptied during the listing, what was listed may be a newcomer's.
        match self.reaped && !self.pinned_alive() {
            true => Vec::new(),
            false => members,
        }
    }

    fn close(&mut self) {
        // Close the pidfd now rather than when the supervisor task ends: once the
        // outcome is out, no fd of the run may remain open.
        self.pidfd = None;
    }
}

/// An exit status as `waitid` reports it.
pub(crate) fn convert_status(status: &WaitIdStatus) -> ExitStatus {
    if status.exited() {
        ExitStatus {
            code: status.exit_status(),
            signal: None,
        }
    } else {
        ExitStatus {
            code: None,
            signal: status.terminating_signal(),
        }
    }
}

/// A pid as rustix takes it.
pub(crate) fn to_pid(pid: u32) -> Pid {
    // A spawned child's pid is always positive; `Pid::INIT` is never signalled because
    // every signalling path is gated on an unreaped child of ours.
    i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .unwrap_or(Pid::INIT)
}
