//! Handing the controlling terminal to a child's process group, as a shell does for a
//! foreground job.
//!
//! # What the OS does, and where it races
//!
//! * Only the terminal's foreground process group may read from it (others get
//!   `SIGTTIN`, and stop) or change its modes (`SIGTTOU`). A child in a process group of
//!   its own — every kennel tree — is therefore in the background until someone calls
//!   `tcsetpgrp(fd, child_group)`.
//! * `tcsetpgrp` from a background process raises `SIGTTOU` (whose default stops the
//!   process) unless the caller blocks or ignores it. Taking the terminal back happens
//!   while the supervisor is in the background, so it is done with `SIGTTOU` blocked
//!   in the calling thread (`pthread_sigmask`; the disposition is process-wide and
//!   would be inherited by later children if it were set to ignore).
//! * The hand-over happens after the spawn, in the supervisor (a shell does it in both
//!   parent and child; kennel's child may be started by a keeper, where no hook runs).
//!   A child that touched the terminal before it was its own was stopped by
//!   `SIGTTIN`/`SIGTTOU`; [`Foreground::give_to`]'s caller resumes the tree with
//!   `SIGCONT` once it is handed over.

use std::io;
use std::os::fd::AsFd;

use rustix::process::Pid;
use rustix::termios::{tcgetattr, tcgetpgrp, tcsetattr, tcsetpgrp, OptionalActions, Termios};

/// The terminal on stdin, handed to a child's process group; see the module docs.
pub(crate) struct Foreground {
    ours: Pid,
    theirs: Pid,
    our_modes: Termios,
    their_modes: std::sync::Mutex<Option<Termios>>,
}

/// Run `f` with `SIGTTOU` blocked in this thread (see the module docs).
fn with_ttou_blocked<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: `set` and `old` are plain sigset_t values initialised by sigemptyset /
    // written by pthread_sigmask before use; only this thread's mask changes, and it is
    // restored before returning.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTTOU);
        let blocked = libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old) == 0;
        let result = f();
        if blocked {
            libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        }
        result
    }
}

impl Foreground {
    /// If stdin is a terminal whose foreground group is this process's, make `pgid` its
    /// foreground group. `Ok(None)` when there is no such terminal (nothing to do).
    pub(crate) fn give_to(pgid: u32) -> io::Result<Option<Foreground>> {
        let stdin = io::stdin();
        let fd = stdin.as_fd();
        if !rustix::termios::isatty(fd) {
            return Ok(None);
        }
        let ours = rustix::process::getpgrp();
        if tcgetpgrp(fd).ok() != Some(ours) {
            return Ok(None);
        }
        let theirs = i32::try_from(pgid)
            .ok()
            .and_then(Pid::from_raw)
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        let our_modes = tcgetattr(fd)?;
        with_ttou_blocked(|| tcsetpgrp(fd, theirs))?;
        Ok(Some(Foreground {
            ours,
            theirs,
            our_modes,
            their_modes: std::sync::Mutex::new(None),
        }))
    }

    /// Take the terminal back: this process's group in the foreground again, its modes
    /// as they were before [`give_to`](Self::give_to) (the child's are kept for
    /// [`give_again`](Self::give_again)).
    pub(crate) fn take_back(&self) -> io::Result<()> {
        let stdin = io::stdin();
        let fd = stdin.as_fd();
        with_ttou_blocked(|| {
            if let Ok(mut modes) = self.their_modes.lock() {
                *modes = tcgetattr(fd).ok();
            }
            tcsetpgrp(fd, self.ours)?;
            tcsetattr(fd, OptionalActions::Drain, &self.our_modes)?;
            Ok(())
        })
    }

    /// Hand the terminal to the child's group again (after a [`take_back`]
    /// (Self::take_back)), with the modes it had then.
    pub(crate) fn give_again(&self) -> io::Result<()> {
        let stdin = io::stdin();
        let fd = stdin.as_fd();
        with_ttou_blocked(|| {
            if let Some(modes) = self.their_modes.lock().ok().and_then(|mut m| m.take()) {
                tcsetattr(fd, OptionalActions::Drain, &modes)?;
            }
            tcsetpgrp(fd, self.theirs)?;
            Ok(())
        })
    }
}
