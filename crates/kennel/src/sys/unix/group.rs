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
//! Descendants that call `setsid()` or `setpgid()` leave the group and `killpg` misses
//! them: the cgroup and the keeper are the layers that catch those.

use std::io;

use rustix::process::{Pid, WaitId, WaitIdOptions, WaitIdStatus};

use super::linux::{self, Pidfd};
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
}

impl Group {
    /// The group led by our child `pid`.
    pub(crate) fn new(pid: u32) -> Group {
        Group {
            pid,
            pidfd: None,
            exited: false,
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
        let _ =
            rustix::process::kill_process_group(to_pid(self.pid), rustix::process::Signal::KILL);
    }
}

impl Layer for Group {
    fn signal(&mut self, signal: Signal) -> Result<(), TreeSignalError> {
        let sig = to_platform(signal)?;
        // The leader is unreaped, so the group id cannot belong to anyone else.
        let group = rustix::process::kill_process_group(to_pid(self.pid), sig);
        if !self.exited {
            if let Some(pidfd) = &self.pidfd {
                pidfd.signal(sig);
            }
        }
        match group {
            // An empty group (the leader is a zombie, nobody else is left).
            Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
            Err(e) => Err(TreeSignalError::Os(e.into())),
        }
    }

    fn alive(&mut self) -> bool {
        if !self.exited {
            return true;
        }
        if rustix::process::test_kill_process_group(to_pid(self.pid)).is_err() {
            return false;
        }
        // killpg(0) also succeeds for a group whose only members are zombies; where
        // the members cannot be listed, assume someone is alive.
        linux::group_members(self.pid).is_none_or(|members| !members.is_empty())
    }

    fn members(&mut self) -> Vec<u32> {
        linux::group_members(self.pid).unwrap_or_default()
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
