//! Pidfds of our own children: waiting for an exit without reaping and without a
//! thread (the fd is readable once the process exits), signalling the process pinned
//! (a pid reused since cannot be reached), and — Linux 6.9+ — signalling its whole
//! process group through the same pin (`PIDFD_SIGNAL_PROCESS_GROUP`).
//!
//! # Why the group goes through the pidfd
//!
//! A process group id is its leader's pid, and a pid number is free for reuse as soon
//! as no task uses it — as pid, process group or session. So `killpg(pgid)` is safe
//! only while the leader is unreaped (the zombie holds the number); that is why the
//! group tier used to keep the leader a zombie until the teardown, and why "is anyone
//! left?" then had to list `/proc` (`killpg(pgid, 0)` succeeds for the zombie itself):
//! ~130 µs and 15% of the sidecar's CPU per exit (issue 16). A pidfd pins the
//! kernel's `struct pid`, not the number: once every member of the group is gone the
//! number may be handed out again, but to a new `struct pid`, so a signal through the
//! old pidfd finds no task (`ESRCH`) and can never reach a newcomer. With it the leader
//! is reaped as soon as its exit is known, and the empty-group test is one system call.

use std::io;
use std::os::fd::{AsFd as _, AsRawFd as _, OwnedFd};
use std::sync::OnceLock;

use rustix::process::{WaitId, WaitIdOptions};
use tokio::io::unix::AsyncFd;

use super::super::group::{convert_status, to_pid};
use crate::ExitStatus;

/// `PIDFD_SIGNAL_PROCESS_GROUP` (linux/pidfd.h, Linux 6.9): the signal goes to the
/// process group the pidfd's process leads.
const PIDFD_SIGNAL_PROCESS_GROUP: libc::c_uint = 1 << 2;

/// A pidfd of our unreaped child, registered with the reactor: readable once the
/// process exits, so no thread blocks and nobody else's child is reaped.
pub(crate) struct Pidfd(AsyncFd<OwnedFd>);

impl Pidfd {
    /// Open a pidfd for `pid`, our unreaped child. `Ok(None)` when the kernel has none
    /// (ENOSYS, kernel < 5.3) or a seccomp filter refuses it (EPERM): the caller falls
    /// back to a blocking `waitid` on a worker thread.
    pub(crate) fn open(pid: u32) -> io::Result<Option<Pidfd>> {
        // The child cannot have been reaped yet (only we wait for it), so the pid still
        // names it.
        match rustix::process::pidfd_open(to_pid(pid), rustix::process::PidfdFlags::empty()) {
            Ok(fd) => {
                // SAFETY: `fd` is an open pidfd that the AsyncFd owns from here on; it is
                // never replaced or closed behind its back.
                let registered =
                    unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) };
                Ok(Some(Pidfd(registered.map_err(io::Error::from)?)))
            }
            Err(e) if e == rustix::io::Errno::NOSYS || e == rustix::io::Errno::PERM => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Register `fd`, a pidfd of our unreaped child, with the reactor.
    pub(crate) fn from_owned(fd: OwnedFd) -> io::Result<Pidfd> {
        // SAFETY: `fd` is an open pidfd that the AsyncFd owns from here on; it is never
        // replaced or closed behind its back.
        let registered =
            unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) };
        Ok(Pidfd(registered.map_err(io::Error::from)?))
    }

    /// Wait until the process exits, without reaping it (`WNOWAIT`).
    pub(crate) async fn wait_exit(&self) -> io::Result<ExitStatus> {
        loop {
            let mut guard = self.0.readable().await?;
            let status = rustix::process::waitid(
                WaitId::PidFd(self.0.get_ref().as_fd()),
                WaitIdOptions::EXITED | WaitIdOptions::NOWAIT | WaitIdOptions::NOHANG,
            )?;
            match status {
                Some(status) => return Ok(convert_status(&status)),
                None => guard.clear_ready(),
            }
        }
    }

    /// Send `signal` to the process (it is pinned: no other process can be reached).
    pub(crate) fn signal(&self, signal: rustix::process::Signal) {
        let _ = rustix::process::pidfd_send_signal(self.0.get_ref(), signal);
    }

    /// Reap the process if it has exited (`waitid(P_PIDFD, WEXITED | WNOHANG)`).
    /// `Ok(true)` once it is reaped — by this call, or earlier by someone else
    /// (`ECHILD`).
    pub(crate) fn reap(&self) -> io::Result<bool> {
        match rustix::process::waitid(
            WaitId::PidFd(self.0.get_ref().as_fd()),
            WaitIdOptions::EXITED | WaitIdOptions::NOHANG,
        ) {
            Ok(status) => Ok(status.is_some()),
            Err(rustix::io::Errno::CHILD) => Ok(true),
            Err(e) => Err(e.into()),
        }
    }

    /// Send `signal` (`None`: only test) to the process group this process leads, even
    /// after the leader was reaped. `Ok(false)`: no member is left (`ESRCH`); the
    /// zombies of members whose parent has not reaped them count as members. Only
    /// where [`group_signals`] says the kernel has it.
    pub(crate) fn signal_group(&self, signal: Option<rustix::process::Signal>) -> io::Result<bool> {
        send_to_group(
            self.0.get_ref().as_raw_fd(),
            signal.map_or(0, |s| s.as_raw()),
        )
    }
}

/// Whether this kernel signals a process group through a pidfd (Linux 6.9+, and no
/// seccomp filter refusing it). Asked once, of this process's own group, with signal 0.
pub(crate) fn group_signals() -> bool {
    static WORKS: OnceLock<bool> = OnceLock::new();
    *WORKS.get_or_init(|| {
        rustix::process::pidfd_open(
            rustix::process::getpid(),
            rustix::process::PidfdFlags::empty(),
        )
        .is_ok_and(|me| send_to_group(me.as_raw_fd(), 0).is_ok())
    })
}

fn send_to_group(pidfd: i32, signal: i32) -> io::Result<bool> {
    // rustix's `pidfd_send_signal` takes no flags (and no signal 0).
    // SAFETY: pidfd_send_signal(2) reads only its integer arguments; `info` may be
    // null (the kernel then fills in a `kill`-like siginfo), and `pidfd` is an open fd
    // the caller owns for the duration of the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd,
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            PIDFD_SIGNAL_PROCESS_GROUP,
        )
    };
    if rc == 0 {
        return Ok(true);
    }
    match io::Error::last_os_error() {
        e if e.raw_os_error() == Some(libc::ESRCH) => Ok(false),
        e => Err(e),
    }
}
