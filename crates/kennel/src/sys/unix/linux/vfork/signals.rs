//! Signals around the clone and in the child: every signal blocked in the parent thread
//! while the child borrows its memory (no handler of ours runs on the child's stack),
//! and in the child, before `exec`, handlers back to their defaults and pending
//! signals of the supervisor's group dropped.

use std::ffi::{c_int, c_void};
use std::io;
use std::ptr;

/// `clone(child, stack, flags, arg, parent_tid)` with every signal of the calling
/// thread blocked around it: the child starts with all signals blocked (no handler of
/// ours ever runs on its stack) and the caller's mask is restored after. Returns the
/// child's pid.
///
/// # Safety
///
/// As `clone(2)` with `CLONE_VM`: `stack` must be the top of memory the child alone
/// uses for as long as it runs, `child` must only make async-signal-safe calls that
/// touch neither the caller's thread-local storage (`errno` included) nor its heap,
/// and `arg` must stay valid for as long as the child reads it.
pub(in crate::sys::unix::linux) unsafe fn clone_blocked(
    child: extern "C" fn(*mut c_void) -> c_int,
    stack: *mut c_void,
    flags: c_int,
    arg: *mut c_void,
    parent_tid: *mut c_int,
) -> io::Result<u32> {
    with_signals_blocked(|| {
        // SAFETY: the caller's contract (above) is clone's.
        let pid = unsafe { libc::clone(child, stack, flags, arg, parent_tid) };
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(pid.unsigned_abs())
    })
}

/// Run `f` with every signal of the calling thread blocked (a child cloned meanwhile
/// starts with all signals blocked: no handler of ours ever runs on its stack), then
/// restore the caller's mask.
pub(super) fn with_signals_blocked<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: sigset_t is plain data, filled by sigfillset before use.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `all` and `old` are valid sigsets; blocking every signal of this thread
    // for the clone keeps our handlers off the child's stack (restored below).
    unsafe {
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
    }
    let result = f();
    // SAFETY: restores the mask saved above.
    unsafe {
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, ptr::null_mut());
    }
    result
}

/// Every signal with a handler (and `SIGPIPE`, which std's runtime ignores) back to
/// its default; ignored signals stay ignored, as across any `exec`.
///
/// # Safety
///
/// Only in the child.
pub(super) unsafe fn reset_signals(sigmax: c_int) {
    for sig in 1..=sigmax {
        // SAFETY: a zeroed sigaction is valid to receive the current one.
        let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: reads the disposition of `sig` into `current`.
        if unsafe { libc::sigaction(sig, ptr::null(), &mut current) } != 0 {
            continue;
        }
        let handled =
            current.sa_sigaction != libc::SIG_DFL && current.sa_sigaction != libc::SIG_IGN;
        if handled || sig == libc::SIGPIPE {
            // SAFETY: a zeroed sigaction is SIG_DFL with no flags and an empty mask.
            let default: libc::sigaction = unsafe { std::mem::zeroed() };
            // SAFETY: sets `sig` to its default disposition in the child only (no
            // CLONE_SIGHAND: the child has its own copy of the handler table).
            unsafe { libc::sigaction(sig, &default, ptr::null_mut()) };
        }
    }
}

/// Drop every signal pending in the child (all are blocked since the clone). Until its
/// `setpgid` the child was in the supervisor's process group, so what is pending was
/// sent to that group — e.g. a tree's `kill -HUP -<kennel's group>`, which the
/// supervisor ignores — not to this program, which nobody else can name before it
/// runs. Setting a pending signal's disposition to "ignore" discards it (POSIX); the
/// disposition is then put back.
///
/// # Safety
///
/// Only in the child, with every signal blocked.
pub(super) unsafe fn discard_pending(sigmax: c_int) {
    // SAFETY: a zeroed sigset is valid to receive the pending set.
    let mut pending: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: fills `pending` with this thread's and process's pending signals.
    if unsafe { libc::sigpending(&mut pending) } != 0 {
        return;
    }
    for sig in 1..=sigmax {
        // SAFETY: `pending` was filled by sigpending.
        if sig == libc::SIGKILL
            || sig == libc::SIGSTOP
            || unsafe { libc::sigismember(&pending, sig) } != 1
        {
            continue;
        }
        // SAFETY: zeroed sigactions are valid to receive the current one and as
        // SIG_IGN's base; both calls change `sig` in the child only (no CLONE_SIGHAND).
        unsafe {
            let mut current: libc::sigaction = std::mem::zeroed();
            let mut ignore: libc::sigaction = std::mem::zeroed();
            ignore.sa_sigaction = libc::SIG_IGN;
            if libc::sigaction(sig, &ignore, &mut current) == 0 {
                libc::sigaction(sig, &current, ptr::null_mut());
            }
        }
    }
}
