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
//! * The hand-over is done on both sides, as a shell does: by the child between `fork`
//!   and `exec` ([`claim_in_child`], from `Command::foreground_terminal`; through the
//!   keeper when there is one, told by [`CLAIM_ENV`]), so it never runs in the
//!   background, and by the supervisor after the spawn ([`Foreground::hand_to`]), which
//!   is a no-op then. The terminal's modes are saved before the spawn
//!   ([`Foreground::claim`]): the child may change them from its first instruction.

use std::io;
use std::os::fd::AsFd;

use rustix::process::Pid;
use rustix::termios::{tcgetattr, tcgetpgrp, tcsetattr, tcsetpgrp, OptionalActions, Termios};

/// The terminal on stdin, handed to a child's process group; see the module docs.
pub(crate) struct Foreground {
    ours: Pid,
    theirs: std::sync::Mutex<Option<Pid>>,
    our_modes: Termios,
    their_modes: std::sync::Mutex<Option<Termios>>,
}

/// Set on a keeper's environment when the program it starts must claim the terminal
/// (removed from the program's).
pub(crate) const CLAIM_ENV: &str = "__KENNEL_CLAIM_TERMINAL";

/// Between `fork` and `exec`, after `setpgid`: make this process's group the foreground
/// group of the terminal on stdin, if there is one. Async-signal-safe; errors are
/// ignored (not a terminal, no controlling terminal: nothing to claim).
pub(crate) fn claim_in_child() {
    // SAFETY: only async-signal-safe calls (sigemptyset, sigaddset, sigprocmask,
    // getpid, tcsetpgrp) on local values, in a single-threaded child before exec; the
    // signal mask is restored before returning.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTTOU);
        if libc::sigprocmask(libc::SIG_BLOCK, &set, &mut old) == 0 {
            libc::tcsetpgrp(0, libc::getpid());
            libc::sigprocmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        }
    }
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
    /// Before the spawn: if stdin is a terminal whose foreground group is this
    /// process's, save its modes. `Ok(None)` when there is no such terminal.
    pub(crate) fn claim() -> io::Result<Option<Foreground>> {
        let stdin = io::stdin();
        let fd = stdin.as_fd();
        if !rustix::termios::isatty(fd) {
            return Ok(None);
        }
        let ours = rustix::process::getpgrp();
        if tcgetpgrp(fd).ok() != Some(ours) {
            return Ok(None);
        }
        Ok(Some(Foreground {
            ours,
            theirs: std::sync::Mutex::new(None),
            our_modes: tcgetattr(fd)?,
            their_modes: std::sync::Mutex::new(None),
        }))
    }

    /// After the spawn: make `pgid` the foreground group (the child normally did it
    /// already, see the module docs).
    pub(crate) fn hand_to(&self, pgid: u32) -> io::Result<()> {
        let theirs = i32::try_from(pgid)
            .ok()
            .and_then(Pid::from_raw)
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        if let Ok(mut slot) = self.theirs.lock() {
            *slot = Some(theirs);
        }
        let stdin = io::stdin();
        with_ttou_blocked(|| tcsetpgrp(stdin.as_fd(), theirs))?;
        Ok(())
    }

    /// Take the terminal back: this process's group in the foreground again, its modes
    /// as they were before [`claim`](Self::claim) (the child's are kept for
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

    /// Hand the terminal to the child's group again (after
    /// [`take_back`](Self::take_back)), with the modes it had then.
    pub(crate) fn give_again(&self) -> io::Result<()> {
        let stdin = io::stdin();
        let fd = stdin.as_fd();
        with_ttou_blocked(|| {
            if let Some(modes) = self.their_modes.lock().ok().and_then(|mut m| m.take()) {
                tcsetattr(fd, OptionalActions::Drain, &modes)?;
            }
            if let Some(theirs) = self.theirs.lock().ok().and_then(|t| *t) {
                tcsetpgrp(fd, theirs)?;
            }
            Ok(())
        })
    }
}
