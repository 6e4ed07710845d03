//! The leader's spawn when it joins a cgroup (Linux): `clone3(CLONE_VM | CLONE_VFORK |
//! CLONE_PIDFD | CLONE_INTO_CGROUP)` ([`clone3`]: born in the cgroup), else
//! `clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD)` with the cgroup join done by the child
//! before `exec` — the way glibc's `posix_spawn` starts a program.
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
//! `posix_spawn` with one more step: [`clone3`] (or glibc's `clone` wrapper) runs
//! [`child`] on a stack of its own while the parent thread waits (`CLONE_VFORK`) until
//! the child has called `exec` or exited. Where `clone3` puts the child in its cgroup,
//! that step is skipped: no migration (see [`clone3`] for what that saves).
//!
//! # What the child may do
//!
//! The child shares the parent's memory: it only reads what the parent prepared before
//! the clone (argv, envp, paths, fds, all in [`ChildArgs`]) and writes its failure into
//! two atomics there; it allocates nothing, takes no lock and calls only
//! async-signal-safe system call wrappers. Signals are blocked in the parent thread
//! around the clone (all but `SIGCHLD` while it has no handler: see `signals`), so no
//! handler of the parent runs on the child's stack; the child resets every caught
//! signal (and `SIGPIPE`, as std does) to its default and unblocks all signals just
//! before `exec`, so the program starts as std would start it.
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
use self::prep::{null_terminated, output_fds, stdin_fds, PooledStack};
pub(in crate::sys::unix::linux) use self::signals::{clone_blocked, Blocked};
use self::signals::{discard_pending, reset_signals, reset_sigpipe, with_signals_blocked};
use crate::sys::unix::start::{SpawnFailed, Spawned};
use crate::sys::Launch;

mod clone3;
mod prep;
mod signals;

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

pub(super) fn failed(stage: &'static str) -> impl FnOnce(io::Error) -> SpawnFailed {
    move |source| SpawnFailed { stage, source }
}

/// The cgroup a leader starts in: its directory (for `CLONE_INTO_CGROUP`) and its
/// `cgroup.procs` (opened only for a child to join through where the kernel cannot
/// place it there).
#[derive(Clone, Copy)]
pub(crate) struct CgroupFds<'a> {
    pub(crate) dir: RawFd,
    pub(crate) procs: &'a dyn Fn() -> io::Result<RawFd>,
}

/// How the child gets into its cgroup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Join {
    /// Born there (`clone3` with `CLONE_INTO_CGROUP`), else as [`Join::Write`].
    Clone3,
    /// It writes to `cgroup.procs` itself before `exec` (a migration).
    Write,
}

/// Start `launch`'s program as leader of a new process group inside the cgroup `into`:
/// born there where the kernel can (`clone3`), else joining it before `exec`. `Ok(None)`:
/// the kernel has no `CLONE_PIDFD` (< 5.2), the caller spawns another way.
pub(crate) fn spawn(launch: &Launch<'_>, into: CgroupFds) -> Result<Option<Spawned>, SpawnFailed> {
    let join = if clone3::refused() {
        Join::Write
    } else {
        Join::Clone3
    };
    spawn_joining(launch, into, join)
}

/// [`spawn`] with the way into the cgroup chosen by the caller (tests take each).
pub(crate) fn spawn_joining(
    launch: &Launch<'_>,
    into: CgroupFds<'_>,
    join: Join,
) -> Result<Option<Spawned>, SpawnFailed> {
    let exec = prep::Exec::of(launch)?;
    let (stdin, child_stdin) = stdin_fds(launch.stdin).map_err(failed("creating pipes"))?;
    let (stdout, child_stdout) = output_fds(launch.stdout).map_err(failed("creating pipes"))?;
    let (stderr, child_stderr) = output_fds(launch.stderr).map_err(failed("creating pipes"))?;
    let raw = |fd: &Option<OwnedFd>| fd.as_ref().map_or(-1, AsRawFd::as_raw_fd);
    let mut args = ChildArgs {
        candidates: null_terminated(&exec.candidates),
        argv: null_terminated(&exec.argv),
        envp: null_terminated(exec.envp.entries()),
        cwd: exec.cwd.as_ref().map_or(ptr::null(), |c| c.as_ptr()),
        procs_fd: -1,
        handlers_cleared: false,
        sigmax: libc::SIGRTMAX(),
        stdio: [raw(&child_stdin), raw(&child_stdout), raw(&child_stderr)],
        errno: AtomicI32::new(0),
        stage: AtomicI32::new(0),
    };
    let Some((pid, pidfd)) = clone_child(&mut args, into, join)? else {
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
        return Err(SpawnFailed {
            stage: STAGES.get(stage).copied().unwrap_or(STAGES[0]),
            source: io::Error::from_raw_os_error(errno),
        });
    }
    Ok(Some(Spawned {
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
    /// `cgroup.procs` to join by writing `0`; -1 when the child is born in its cgroup.
    procs_fd: RawFd,
    /// Born with its handlers reset by the kernel (`clone3`'s `CLONE_CLEAR_SIGHAND`):
    /// only `SIGPIPE` is left for the child to reset.
    handlers_cleared: bool,
    /// The highest signal number (`SIGRTMAX`).
    sigmax: c_int,
    /// The fds to place at 0, 1, 2 (-1: inherit ours).
    stdio: [RawFd; 3],
    errno: AtomicI32,
    stage: AtomicI32,
}

/// Clone the child on a stack of its own, into the cgroup `into` (born there, or joining
/// it through `cgroup.procs`); returns once it has called `exec` or exited.
fn clone_child(
    args: &mut ChildArgs,
    into: CgroupFds<'_>,
    join: Join,
) -> Result<Option<(u32, OwnedFd)>, SpawnFailed> {
    let stack = PooledStack::take().map_err(failed("clone"))?;
    if join == Join::Clone3 {
        if let Some(born) = born_into(args, &stack, into.dir) {
            return Ok(Some(born));
        }
    }
    args.procs_fd = (into.procs)().map_err(failed("opening the cgroup's cgroup.procs"))?;
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
            Blocked::AllButUnhandledSigchld,
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
        Err(e) => return Err(failed("clone")(e)),
    };
    // SAFETY: the kernel returned a new pidfd that nothing else owns.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    Ok(Some((pid, pidfd)))
}

/// The child born in the cgroup whose directory is `dir` ([`clone3`]); `None` when the
/// kernel refused (no child was made: the caller joins the old way).
fn born_into(args: &mut ChildArgs, stack: &Stack, dir: RawFd) -> Option<(u32, OwnedFd)> {
    args.procs_fd = -1;
    args.handlers_cleared = true;
    let arg = ptr::from_ref(args).cast_mut().cast::<c_void>();
    let mut pidfd: c_int = -1;
    // SAFETY: as for `clone_blocked` in `clone_child`: `child` runs on `stack` (alive
    // until after the call, CLONE_VFORK), reads `args` and writes its atomics; the
    // kernel stores the pidfd in `pidfd`. Signals are blocked around the call.
    let born = with_signals_blocked(Blocked::AllButUnhandledSigchld, || unsafe {
        clone3::clone_into_cgroup(child, stack, dir, arg, &mut pidfd)
    });
    match born {
        Ok(pid) => {
            // SAFETY: the kernel returned a new pidfd that nothing else owns.
            Some((pid, unsafe { OwnedFd::from_raw_fd(pidfd) }))
        }
        Err(e) => {
            // Remembered if the kernel lacks it.
            clone3::note_refusal(&e);
            args.handlers_cleared = false;
            None
        }
    }
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
        if args.handlers_cleared {
            reset_sigpipe();
        } else {
            reset_signals(args.sigmax);
        }
        if libc::setpgid(0, 0) != 0 {
            fail(args, PGID);
        }
        // -1: born in the cgroup (`clone3`), nothing to join.
        if args.procs_fd >= 0 && libc::write(args.procs_fd, b"0".as_ptr().cast(), 1) != 1 {
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

#[cfg(test)]
mod tests;
