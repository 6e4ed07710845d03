//! Signals around the clone and in the child: every signal blocked in the parent thread
//! while the child borrows its memory (no handler of ours runs on the child's stack),
//! and in the child, before `exec`, handlers back to their defaults and pending
//! signals of the supervisor's group dropped.
//!
//! # `SIGCHLD` during a spawn
//!
//! A program's exit sends `SIGCHLD` to the thread that spawned it. With no handler the
//! kernel drops it at once — unless that thread blocks it: then it is queued for the
//! whole process and wakes some other thread (which then ignores it). A spawn blocks
//! every signal until the child's `exec`, which under load is ~1.5 ms of waiting for
//! CPUs, and with 8 spawns in flight the thread is often spawning again when an
//! earlier program exits: `perf record -e signal:signal_generate` counted 400 of 1071
//! `SIGCHLD`s delivered (a wake-up each) and 647 dropped. So a spawn leaves `SIGCHLD`
//! unblocked when it has no handler ([`Blocked::AllButUnhandledSigchld`]): the
//! child's copy of the handler table, taken at the clone, then has none for it either,
//! and nothing of ours can run on its stack. (Only a handler that another thread
//! installs between the check and the clone, while someone signals the supervisor's
//! process group with `SIGCHLD` before the child's `setpgid`, could; the guard, which
//! lives on in our memory, keeps every signal blocked.)

use std::ffi::{c_int, c_void};
use std::io;
use std::ptr;

/// Which signals the calling thread blocks around a clone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::sys::unix::linux) enum Blocked {
    /// Every signal: the child starts, and may stay, with all of them blocked.
    All,
    /// Every signal but `SIGCHLD` when it has no handler (module docs).
    AllButUnhandledSigchld,
}

/// `clone(child, stack, flags, arg, parent_tid)` with the signals of the calling
/// thread that `blocked` names blocked around it: the child starts with them blocked
/// (no handler of ours ever runs on its stack) and the caller's mask is restored
/// after. Returns the child's pid.
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
    blocked: Blocked,
) -> io::Result<u32> {
    with_signals_blocked(blocked, || {
        // SAFETY: the caller's contract (above) is clone's.
        let pid = unsafe { libc::clone(child, stack, flags, arg, parent_tid) };
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(pid.unsigned_abs())
    })
}

/// Run `f` with the signals `blocked` names blocked in the calling thread (a child
/// cloned meanwhile starts with them blocked: no handler of ours ever runs on its
/// stack), then restore the caller's mask.
pub(super) fn with_signals_blocked<T>(blocked: Blocked, f: impl FnOnce() -> T) -> T {
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
    if blocked == Blocked::AllButUnhandledSigchld && !handled(libc::SIGCHLD) {
        // SAFETY: `only` is a valid sigset, emptied then given SIGCHLD; unblocking a
        // signal with no handler lets no code of ours run (module docs).
        unsafe {
            let mut only: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut only);
            libc::sigaddset(&mut only, libc::SIGCHLD);
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &only, ptr::null_mut());
        }
    }
    let result = f();
    // SAFETY: restores the mask saved above.
    unsafe {
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, ptr::null_mut());
    }
    result
}

/// Whether `sig` has a handler (neither `SIG_DFL` nor `SIG_IGN`); an error reading it
/// counts as handled.
fn handled(sig: c_int) -> bool {
    // SAFETY: a zeroed sigaction is valid to receive the current one.
    let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: only reads the disposition of `sig` into `current`.
    if unsafe { libc::sigaction(sig, ptr::null(), &mut current) } != 0 {
        return true;
    }
    current.sa_sigaction != libc::SIG_DFL && current.sa_sigaction != libc::SIG_IGN
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
            // SAFETY: only in the child (this function's contract).
            unsafe { set_default(sig) };
        }
    }
}

/// `SIGPIPE` back to its default (std's runtime ignores it; a program expects the
/// default): all a child born with `CLONE_CLEAR_SIGHAND` has left to reset.
///
/// # Safety
///
/// Only in the child.
pub(super) unsafe fn reset_sigpipe() {
    // SAFETY: only in the child (this function's contract).
    unsafe { set_default(libc::SIGPIPE) };
}

/// # Safety
///
/// Only in the child.
unsafe fn set_default(sig: c_int) {
    // SAFETY: a zeroed sigaction is SIG_DFL with no flags and an empty mask.
    let default: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: sets `sig` to its default disposition in the child only (no
    // CLONE_SIGHAND: the child has its own copy of the handler table).
    unsafe { libc::sigaction(sig, &default, ptr::null_mut()) };
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
/// Only in the child, with every signal blocked (but `SIGCHLD` when it has no
/// handler: never pending then, the kernel drops it).
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `sig` is blocked in the calling thread.
    fn is_blocked(sig: c_int) -> bool {
        // SAFETY: a zeroed sigset is valid to receive the current mask.
        let mut mask: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: reads this thread's mask only (a null `set` changes nothing).
        unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, ptr::null(), &mut mask) };
        // SAFETY: `mask` was filled above.
        unsafe { libc::sigismember(&mask, sig) == 1 }
    }

    #[test]
    fn a_spawn_leaves_sigchld_unblocked_only_while_it_has_no_handler() {
        assert!(
            !handled(libc::SIGCHLD),
            "the test process has no SIGCHLD handler"
        );
        let during = |blocked| {
            with_signals_blocked(blocked, || {
                (is_blocked(libc::SIGCHLD), is_blocked(libc::SIGTERM))
            })
        };
        assert_eq!(during(Blocked::AllButUnhandledSigchld), (false, true));
        assert_eq!(during(Blocked::All), (true, true));
        assert!(
            !is_blocked(libc::SIGCHLD) && !is_blocked(libc::SIGTERM),
            "the mask is restored"
        );

        extern "C" fn nothing(_: c_int) {}
        // SAFETY: a zeroed sigaction is SIG_DFL with an empty mask; `nothing` is an
        // async-signal-safe handler (it does nothing); SA_RESTART keeps other tests'
        // system calls from seeing EINTR while it is installed; the old disposition
        // (SIG_DFL, asserted above) is put back below.
        let old = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = nothing as extern "C" fn(c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            let mut old: libc::sigaction = std::mem::zeroed();
            assert_eq!(libc::sigaction(libc::SIGCHLD, &action, &mut old), 0);
            old
        };
        let with_handler = during(Blocked::AllButUnhandledSigchld);
        // SAFETY: restores the disposition saved above.
        unsafe { libc::sigaction(libc::SIGCHLD, &old, ptr::null_mut()) };
        assert_eq!(
            with_handler,
            (true, true),
            "a handled SIGCHLD stays blocked"
        );
    }
}
