//! The leader's spawn when it joins a cgroup (Linux): `clone(CLONE_VM | CLONE_VFORK |
//! CLONE_PIDFD)`, the way glibc's `posix_spawn` starts a program, with the cgroup join
//! done by the child before `exec`.
//!
//! # Why not std's spawn
//!
//! std starts a program with `posix_spawn` (a `vfork`-like clone: the child borrows the
//! parent's memory until it calls `exec`) unless a `pre_exec` closure is set; then it
//! `fork`s, which copies the page tables of the whole (multi-threaded) supervisor and
//! makes every page copy-on-write: the copy, the faults afterwards and the TLB
//! shootdowns cost ~1 ms of latency per spawn here, 3–4× the `posix_spawn` itself, and
//! more with more threads and spawns in flight (`docs/DECISIONS.md`, issue 16). The
//! cgroup join must run between `fork` and `exec` (a child that runs before it has
//! joined could fork outside the cgroup), so it needs code in the child — and glibc
//! 2.36 has no `posix_spawnattr_setcgroup_np` (2.39 has). This module is that
//! `posix_spawn` with one more step: glibc's `clone` wrapper runs [`child`] on a stack
//! of its own while the parent thread waits (`CLONE_VFORK`) until the child has called
//! `exec` or exited.
//!
//! # What the child may do
//!
//! The child shares the parent's memory: it only reads what the parent prepared before
//! the clone (argv, envp, paths, fds, all in [`ChildArgs`]) and writes its failure into
//! two atomics there; it allocates nothing, takes no lock and calls only
//! async-signal-safe system call wrappers. Signals are blocked in the parent thread
//! around the clone, so no handler of the parent runs on the child's stack; the child
//! resets every caught signal (and `SIGPIPE`, as std does) to its default and unblocks
//! all signals just before `exec`, so the program starts as std would start it.
//!
//! # Same results as std's spawn
//!
//! The program is looked up in the child's `PATH` (the environment the command builds,
//! as std's `execvp` does; `/bin:/usr/bin` when it has none), trying each directory
//! like `execvp` (a directory where it is not executable is remembered as
//! `PermissionDenied` and the search goes on). `argv[0]` is the program as given. The
//! failures come back as the `io::Error` std would give. Unlike glibc's `execvp`, a
//! file without `#!` that the kernel cannot execute is not retried with `/bin/sh`
//! (`posix_spawnp`, which std uses wherever it can, does not either).

use std::ffi::{c_int, c_void};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;
use std::sync::atomic::{AtomicI32, Ordering};

pub(super) use self::prep::Stack;
use self::prep::{null_terminated, output_fds, stdin_fds};
use crate::sys::Launch;

mod prep;

/// A started leader, our unreaped child, with its pidfd and the parent's pipe ends.
pub(crate) struct Started {
    pub(crate) pid: u32,
    pub(crate) pidfd: OwnedFd,
    pub(crate) stdin: Option<OwnedFd>,
    pub(crate) stdout: Option<OwnedFd>,
    pub(crate) stderr: Option<OwnedFd>,
}

/// Why the spawn failed, and at which stage.
#[derive(Debug)]
pub(crate) struct Failed {
    /// `"fork/exec"` when the program could not be started (not found, not
    /// executable, …); otherwise the step that failed.
    pub(crate) stage: &'static str,
    pub(crate) source: io::Error,
}

/// The stages the child reports (index into [`STAGES`]).
pub(super) const STAGES: [&str; 5] = [
    "fork/exec",
    "setpgid in the child",
    "joining the cgroup",
    "setting up stdio in the child",
    "changing to the working directory",
];
const EXEC: i32 = 0;
const PGID: i32 = 1;
const JOIN: i32 = 2;
const STDIO: i32 = 3;
const CWD: i32 = 4;

pub(super) fn failed(stage: &'static str) -> impl FnOnce(io::Error) -> Failed {
    move |source| Failed { stage, source }
}

/// Start `launch`'s program as leader of a new process group inside the cgroup whose
/// `cgroup.procs` is `procs_fd`. `Ok(None)`: the kernel has no `CLONE_PIDFD` (< 5.2),
/// the caller spawns another way.
pub(crate) fn spawn(launch: &Launch<'_>, procs_fd: RawFd) -> Result<Option<Started>, Failed> {
    let exec = prep::Exec::of(launch)?;
    let (stdin, child_stdin) = stdin_fds(launch.stdin).map_err(failed("creating pipes"))?;
    let (stdout, child_stdout) = output_fds(launch.stdout).map_err(failed("creating pipes"))?;
    let (stderr, child_stderr) = output_fds(launch.stderr).map_err(failed("creating pipes"))?;
    let raw = |fd: &Option<OwnedFd>| fd.as_ref().map_or(-1, AsRawFd::as_raw_fd);
    let args = ChildArgs {
        candidates: null_terminated(&exec.candidates),
        argv: null_terminated(&exec.argv),
        envp: null_terminated(&exec.envp),
        cwd: exec.cwd.as_ref().map_or(ptr::null(), |c| c.as_ptr()),
        procs_fd,
        sigmax: libc::SIGRTMAX(),
        stdio: [raw(&child_stdin), raw(&child_stdout), raw(&child_stderr)],
        errno: AtomicI32::new(0),
        stage: AtomicI32::new(0),
    };
    let Some((pid, pidfd)) = clone_child(&args).map_err(failed("clone"))? else {
        return Ok(None);
    };
    // The child has called `exec` or exited: the child's ends are ours to close.
    drop((child_stdin, child_stdout, child_stderr));
    let errno = args.errno.load(Ordering::Acquire);
    if errno != 0 {
        // It exited (status 127) without running the program: reap it here, it is
        // nobody else's (the caller is `Spawning`: the reaper waits).
        reap(pid);
        let stage = usize::try_from(args.stage.load(Ordering::Acquire)).unwrap_or(0);
        return Err(Failed {
            stage: STAGES.get(stage).copied().unwrap_or(STAGES[0]),
            source: io::Error::from_raw_os_error(errno),
        });
    }
    Ok(Some(Started {
        pid,
        pidfd,
        stdin,
        stdout,
        stderr,
    }))
}

/// What the child reads (prepared before the clone, never changed while it runs) and
/// where it writes its failure.
struct ChildArgs {
    /// Paths to try `execve` with, in order; null-terminated.
    candidates: Vec<*const libc::c_char>,
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
    cwd: *const libc::c_char,
    procs_fd: RawFd,
    /// The highest signal number (`SIGRTMAX`).
    sigmax: c_int,
    /// The fds to place at 0, 1, 2 (-1: inherit ours).
    stdio: [RawFd; 3],
    errno: AtomicI32,
    stage: AtomicI32,
}

/// Clone the child on a stack of its own; returns once it has called `exec` or exited.
fn clone_child(args: &ChildArgs) -> io::Result<Option<(u32, OwnedFd)>> {
    let stack = Stack::new()?;
    let mut pidfd: c_int = -1;
    let flags = libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PIDFD | libc::SIGCHLD;
    // SAFETY: `child` runs on `stack` (ours, unused by anyone else, alive until after
    // the call: CLONE_VFORK returns only once the child has called exec or exited) and
    // only reads `args`, which outlives the call, and writes its atomics. With
    // CLONE_PIDFD the kernel stores the pidfd in `pidfd` (the parent_tid argument).
    let pid = unsafe {
        clone_blocked(
            child,
            stack.top(),
            flags,
            ptr::from_ref(args).cast_mut().cast::<c_void>(),
            &mut pidfd as *mut c_int,
        )
    };
    let pid = match pid {
        Ok(pid) => pid,
        // No CLONE_PIDFD (Linux < 5.2), or clone refused by a seccomp filter.
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::EINVAL | libc::ENOSYS | libc::EPERM)
            ) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    // SAFETY: the kernel returned a new pidfd that nothing else owns.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    Ok(Some((pid, pidfd)))
}

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
pub(super) unsafe fn clone_blocked(
    child: extern "C" fn(*mut c_void) -> c_int,
    stack: *mut c_void,
    flags: c_int,
    arg: *mut c_void,
    parent_tid: *mut c_int,
) -> io::Result<u32> {
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
    // SAFETY: the caller's contract (above) is clone's.
    let pid = unsafe { libc::clone(child, stack, flags, arg, parent_tid) };
    let error = io::Error::last_os_error();
    // SAFETY: restores the mask saved above.
    unsafe {
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, ptr::null_mut());
    }
    if pid < 0 {
        return Err(error);
    }
    Ok(pid.unsigned_abs())
}

/// The child, between clone and exec. Only async-signal-safe calls; no allocation.
extern "C" fn child(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the `ChildArgs` the parent passed; it outlives the child's use
    // (the parent is suspended until exec or exit).
    let args = unsafe { &*arg.cast::<ChildArgs>() };
    // SAFETY: each call below is an async-signal-safe system call wrapper on memory
    // prepared by the parent or on this stack; on failure the child records errno and
    // the stage, then `_exit`s without running anything of the parent's.
    unsafe {
        reset_signals(args.sigmax);
        if libc::setpgid(0, 0) != 0 {
            fail(args, PGID);
        }
        if libc::write(args.procs_fd, b"0".as_ptr().cast(), 1) != 1 {
            fail(args, JOIN);
        }
        for (target, &fd) in args.stdio.iter().enumerate() {
            // The parent's fds are all ≥ 3 (`above_stdio`), so none is a target.
            if fd >= 0 && libc::dup2(fd, target as c_int) < 0 {
                fail(args, STDIO);
            }
        }
        if !args.cwd.is_null() && libc::chdir(args.cwd) != 0 {
            fail(args, CWD);
        }
        discard_pending(args.sigmax);
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, ptr::null_mut());
        let mut denied = false;
        let mut errno = libc::ENOENT;
        for &path in args.candidates.iter().take_while(|p| !p.is_null()) {
            libc::execve(path, args.argv.as_ptr(), args.envp.as_ptr());
            match *libc::__errno_location() {
                libc::EACCES => denied = true,
                libc::ENOENT | libc::ENOTDIR | libc::ESTALE | libc::ENODEV | libc::ETIMEDOUT => {}
                e => {
                    errno = e;
                    break;
                }
            }
        }
        if errno == libc::ENOENT && denied {
            errno = libc::EACCES;
        }
        *libc::__errno_location() = errno;
        fail(args, EXEC)
    }
}

/// Record errno and the stage for the parent, and exit without running anything else.
///
/// # Safety
///
/// Only in the child.
unsafe fn fail(args: &ChildArgs, stage: i32) -> ! {
    // SAFETY: reading errno of this thread (the child's copy of the TLS slot is the
    // parent's, which is suspended: nobody else uses it).
    let errno = unsafe { *libc::__errno_location() };
    args.errno.store(errno.max(1), Ordering::Release);
    args.stage.store(stage, Ordering::Release);
    // SAFETY: `_exit` ends the child at once (no atexit handlers, no flushing).
    unsafe { libc::_exit(127) }
}

/// Every signal with a handler (and `SIGPIPE`, which std's runtime ignores) back to
/// its default; ignored signals stay ignored, as across any `exec`.
///
/// # Safety
///
/// Only in the child.
unsafe fn reset_signals(sigmax: c_int) {
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
unsafe fn discard_pending(sigmax: c_int) {
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

fn reap(pid: u32) {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return;
    };
    while let Err(rustix::io::Errno::INTR) =
        rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty())
    {}
}
