//! The PID-namespace tier (Linux): the keeper becomes pid 1 — the init — of a new PID
//! namespace that holds the whole tree, so nothing of the tree can leave it, and when
//! the init dies (for any reason, `kill -9` included) the kernel kills every process in
//! the namespace. No guard is needed.
//!
//! ```text
//! supervisor ── keeper "outer" (host) ── keeper "inner" = pid 1 ── leader = pid 2 ── …
//!    │                 waits, exits with          [own PID + mount namespace,
//!    └── control socket ──────────────────────►    fresh /proc]
//! ```
//!
//! # How the init is obtained (no exec of another binary)
//!
//! The keeper is the supervisor's binary re-run with `__kennel-keeper`; right after its
//! hello it is single-threaded. [`enter`] `unshare`s a new PID and mount namespace
//! (plus a user namespace mapping only our own uid and gid when we are not root), then
//! `fork`s: the child is pid 1 of the new namespace and goes on as the keeper (it holds
//! the control socket, starts the leader as pid 2, reaps every orphan of the namespace,
//! forwards the supervisor's signals, reports the leader's exit). The parent, the
//! "outer", stays in the host namespace as the process the supervisor started: it
//! closes everything and waits for the inner, then exits with its status. A fork of a
//! single-threaded process is an ordinary process: no exec, no async-signal-safety
//! limits.
//!
//! # Why the namespace dies with the supervisor
//!
//! * The supervisor dies → the inner reads EOF on its control socket → it kills the tree
//!   and exits → the kernel kills whatever is left in the namespace (`zap_pid_ns_processes`).
//! * The outer is killed (`kill -9` of the keeper's group) → the inner's
//!   `PR_SET_PDEATHSIG` (`SIGKILL`) fires → same. The parent-death signal is armed by the
//!   inner right after the fork; a pipe whose write end only the outer holds tells the
//!   inner whether the outer died before that (`POLLHUP`). The outer is single-threaded,
//!   so the "thread that forked exits" caveat of `PR_SET_PDEATHSIG` does not apply.
//! * The inner itself is unkillable from inside: pid 1 of a namespace gets only the
//!   signals it has a handler for from its own namespace (the keeper has none; `SIGKILL`
//!   and `SIGSTOP` from inside are dropped), and the outer is invisible there (no pid in
//!   the namespace, not in its `/proc`).
//!
//! # Why a fresh `/proc` (and hence a mount namespace)
//!
//! Without it the tree's `/proc` is the host's: `ps` lists host processes under host
//! pids while `$$` and `kill` use namespace pids — a pid read from `/proc` then names a
//! *different* process (or none) when passed to `kill`. The keeper's own bookkeeping
//! reads `/proc/<pid>` with namespace pids too. So the inner makes `/` a slave mount
//! (mounts of the host still propagate in, nothing of the tree's propagates out) and
//! mounts a new `proc` on `/proc`. The supervisor translates the pids the keeper reports
//! (namespace pids) to host pids with [`host_pids`] (`NSpid` of the inner's
//! descendants in the host's `/proc`).
//!
//! # Unprivileged
//!
//! Without `CAP_SYS_ADMIN` the namespaces are created inside a new user namespace in
//! which only our own uid and gid are mapped (to themselves). The program runs as the
//! same uid without capabilities (they are dropped at `execve` of a non-root uid), but
//! files of unmapped owners (root's) show as `nobody`, `setgroups` is denied, and
//! set-user-id programs (`sudo`, `su`) do not gain privileges. `docs/DECISIONS.md` weighs
//! this.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

mod hostpids;
pub(crate) use hostpids::{leader_on_host, to_host};
use std::sync::OnceLock;

/// The environment variable that asks a keeper to become a namespace's init (its value
/// is [`NsMode::as_arg`]); the keeper removes it from the program's environment.
pub(crate) const ENV: &str = "KENNEL_KEEPER_PIDNS";

/// The mode the supervisor asked this keeper for ([`ENV`]), if any.
pub(crate) fn requested() -> Option<NsMode> {
    NsMode::from_arg(std::env::var_os(ENV)?.to_str()?)
}

/// How a new PID namespace can be made on this host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NsMode {
    /// With `CAP_SYS_ADMIN` (root): a PID and a mount namespace.
    Privileged,
    /// Without: the same inside a new user namespace mapping only our uid and gid.
    UserNs,
}

impl NsMode {
    /// The argument that carries the mode to the keeper.
    pub(crate) fn as_arg(self) -> &'static str {
        match self {
            NsMode::Privileged => "pidns",
            NsMode::UserNs => "pidns+userns",
        }
    }

    /// The mode named by [`NsMode::as_arg`].
    pub(crate) fn from_arg(arg: &str) -> Option<NsMode> {
        match arg {
            "pidns" => Some(NsMode::Privileged),
            "pidns+userns" => Some(NsMode::UserNs),
            _ => None,
        }
    }

    fn flags(self) -> libc::c_int {
        let base = libc::CLONE_NEWPID | libc::CLONE_NEWNS;
        match self {
            NsMode::Privileged => base,
            NsMode::UserNs => base | libc::CLONE_NEWUSER,
        }
    }
}

/// How this host can make a PID namespace for a tree, if at all (probed once, by a
/// real attempt; see [`probe`]).
pub(crate) fn mode() -> Option<NsMode> {
    static MODE: OnceLock<Option<NsMode>> = OnceLock::new();
    *MODE.get_or_init(probe)
}

/// Try each mode for real: a forked child unshares the namespaces and forks a
/// grandchild (pid 1 of the new namespace) that makes the mounts [`enter`] makes. The
/// first mode whose grandchild succeeds wins. Root tries the privileged mode first;
/// anyone may fall back to a user namespace. Costs two forks of the calling process
/// per mode tried (about a millisecond), once per process.
pub(crate) fn probe() -> Option<NsMode> {
    // SAFETY: geteuid cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let modes: &[NsMode] = if root {
        &[NsMode::Privileged, NsMode::UserNs]
    } else {
        &[NsMode::UserNs]
    };
    modes.iter().copied().find(|&m| probe_mode(m))
}

fn probe_mode(mode: NsMode) -> bool {
    let flags = mode.flags();
    // SAFETY: the child and grandchild of this fork run only async-signal-safe system
    // calls (unshare, fork, mount, waitpid, _exit) on static C strings — no allocation,
    // no lock — so forking a multi-threaded caller is sound; the child is reaped below.
    unsafe {
        let child = libc::fork();
        if child < 0 {
            return false;
        }
        if child == 0 {
            if libc::unshare(flags) != 0 {
                libc::_exit(2);
            }
            let init = libc::fork();
            if init < 0 {
                libc::_exit(3);
            }
            if init == 0 {
                libc::_exit(if mount_fresh_proc_raw() { 0 } else { 4 });
            }
            let mut status = 0;
            while libc::waitpid(init, &mut status, 0) < 0 {
                if *libc::__errno_location() != libc::EINTR {
                    libc::_exit(5);
                }
            }
            libc::_exit(if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                6
            });
        }
        let mut status = 0;
        while libc::waitpid(child, &mut status, 0) < 0 {
            if *libc::__errno_location() != libc::EINTR {
                return false;
            }
        }
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
    }
}

/// Make `/` a recursive slave mount and mount a fresh `proc` on `/proc`.
/// Async-signal-safe (two `mount` calls on static strings).
fn mount_fresh_proc_raw() -> bool {
    const ROOT: &CStr = c"/";
    const PROC: &CStr = c"proc";
    const TARGET: &CStr = c"/proc";
    // SAFETY: mount(2) with static NUL-terminated strings and null data.
    unsafe {
        if libc::mount(
            std::ptr::null(),
            ROOT.as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_SLAVE,
            std::ptr::null(),
        ) != 0
        {
            return false;
        }
        libc::mount(
            PROC.as_ptr(),
            TARGET.as_ptr(),
            PROC.as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            std::ptr::null(),
        ) == 0
    }
}

/// What a failed [`enter`] could not do.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EnterError {
    /// `unshare` of the namespaces failed.
    #[error("creating the PID namespace failed")]
    Unshare(#[source] io::Error),
    /// Writing the user namespace's uid/gid maps failed.
    #[error("mapping our uid and gid into the user namespace failed")]
    Map(#[source] io::Error),
    /// The pipe or the fork failed.
    #[error("starting the namespace's init failed")]
    Fork(#[source] io::Error),
    /// Arming the parent-death signal failed, or the outer was already gone.
    #[error("tying the namespace's init to its parent failed")]
    DeathSignal(#[source] io::Error),
    /// Mounting a fresh `/proc` failed.
    #[error("mounting /proc in the PID namespace failed")]
    Mount(#[source] io::Error),
}

impl EnterError {
    /// The OS error number, for the keeper's `N <errno>` line (0 if there is none).
    pub(crate) fn errno(&self) -> i32 {
        let source = match self {
            EnterError::Unshare(e)
            | EnterError::Map(e)
            | EnterError::Fork(e)
            | EnterError::DeathSignal(e)
            | EnterError::Mount(e) => e,
        };
        source.raw_os_error().unwrap_or(0)
    }
}

/// Turn this single-threaded process into pid 1 of a new PID namespace.
///
/// Returns in the new init (the inner) only; the calling process itself (the outer)
/// never returns: it closes every descriptor except stdio (which it points at
/// `/dev/null`, so only the tree holds the child's pipes), waits for the inner and exits
/// with the inner's status. `Err` is returned in the calling process, before the fork or
/// in place of it, with nothing started.
///
/// Must be called while the process has a single thread (`unshare(CLONE_NEWUSER)`
/// refuses otherwise, and the outer's fork relies on it).
pub(crate) fn enter(mode: NsMode) -> Result<(), EnterError> {
    // SAFETY: getuid/getgid cannot fail.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    // SAFETY: unshare(2) with namespace flags only changes this process's namespaces.
    if unsafe { libc::unshare(mode.flags()) } != 0 {
        return Err(EnterError::Unshare(io::Error::last_os_error()));
    }
    if mode == NsMode::UserNs {
        write_maps(uid, gid).map_err(EnterError::Map)?;
    }
    let (alive_r, alive_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| EnterError::Fork(e.into()))?;
    // SAFETY: this process is single-threaded (documented precondition), so the child
    // is a complete copy and may run any code.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(EnterError::Fork(io::Error::last_os_error()));
    }
    if pid > 0 {
        drop(alive_r);
        outer(pid, alive_w);
    }
    drop(alive_w);
    // SAFETY: prctl(PR_SET_PDEATHSIG) only sets this process's parent-death signal.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) } != 0 {
        return Err(EnterError::DeathSignal(io::Error::last_os_error()));
    }
    // The outer holds the only write end: EOF now means it died before the death
    // signal was armed.
    if super::closed_now(&alive_r).unwrap_or(false) {
        return Err(EnterError::DeathSignal(io::Error::from(
            io::ErrorKind::BrokenPipe,
        )));
    }
    drop(alive_r);
    if !mount_fresh_proc_raw() {
        return Err(EnterError::Mount(io::Error::last_os_error()));
    }
    Ok(())
}

/// Map our own uid and gid to themselves in the new user namespace (the only mapping an
/// unprivileged process may write; `setgroups` must be denied before the gid map).
///
/// A non-dumpable process's `/proc/self` files belong to root, so the keeper (which
/// made itself non-dumpable) is dumpable while it writes them, and not again after.
fn write_maps(uid: libc::uid_t, gid: libc::gid_t) -> io::Result<()> {
    use rustix::process::{set_dumpable_behavior, DumpableBehavior};
    let was = rustix::process::dumpable_behavior()?;
    set_dumpable_behavior(DumpableBehavior::Dumpable)?;
    let written = (|| {
        std::fs::write("/proc/self/setgroups", "deny")?;
        std::fs::write("/proc/self/uid_map", format!("{uid} {uid} 1\n"))?;
        std::fs::write("/proc/self/gid_map", format!("{gid} {gid} 1\n"))
    })();
    set_dumpable_behavior(was)?;
    written
}

/// The outer's whole life: hold the inner's parent-death pipe, wait for the inner,
/// exit with its status.
fn outer(inner: libc::pid_t, alive_w: OwnedFd) -> ! {
    // Keep the pipe's write end at fd 3 and close every other descriptor (the control
    // socket included: the inner owns it now, and the supervisor must see EOF when the
    // inner goes).
    let keep: RawFd = 3;
    // SAFETY: dup2/close_range/open/dup2 on our own fd table; no Rust object in this
    // process is used after this point except `alive_w`'s number, which we leak.
    unsafe {
        if alive_w.as_raw_fd() != keep {
            libc::dup2(alive_w.as_raw_fd(), keep);
        }
        std::mem::forget(alive_w);
        libc::syscall(libc::SYS_close_range, keep + 1, libc::c_uint::MAX, 0);
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            for target in 0..3 {
                libc::dup2(null, target);
            }
            if null > 2 {
                libc::close(null);
            }
        }
    }
    let code = loop {
        let mut status = 0;
        // SAFETY: waitpid on our own child with a local status word.
        let r = unsafe { libc::waitpid(inner, &mut status, 0) };
        if r == inner {
            break if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                128 + libc::WTERMSIG(status)
            };
        }
        if io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            break 1;
        }
    };
    // SAFETY: _exit ends this process without running the (forked) parent's atexit
    // handlers or flushing buffers that belong to the keeper.
    unsafe { libc::_exit(code) }
}

/// In the init of a namespace [`enter`] made (pid 1; a keeper is never pid 1
/// otherwise): send `signal` to every process of the namespace but itself, however
/// it detached — `kill(-1, …)` from pid 1 reaches exactly the namespace. Nothing left
/// (`ESRCH`) is fine; nothing else can fail for the init.
pub(crate) fn signal_all_if_init(signal: i32) {
    if rustix::process::getpid().as_raw_nonzero().get() == 1 {
        // SAFETY: kill(2) with pid -1 from the namespace's init signals only the
        // namespace.
        unsafe { libc::kill(-1, signal) };
    }
}

/// Become the init of a new namespace if the supervisor asked ([`requested`]);
/// `Err(errno)` if that failed (the caller reports it and exits).
pub(crate) fn enter_if_asked() -> Result<(), i32> {
    match requested() {
        Some(mode) => enter(mode).map_err(|e| e.errno()),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_round_trip_through_their_argument() {
        for mode in [NsMode::Privileged, NsMode::UserNs] {
            assert_eq!(NsMode::from_arg(mode.as_arg()), Some(mode));
        }
        assert_eq!(NsMode::from_arg("-"), None);
        assert_eq!(
            NsMode::UserNs.flags() & libc::CLONE_NEWUSER,
            libc::CLONE_NEWUSER
        );
        assert_eq!(NsMode::Privileged.flags() & libc::CLONE_NEWUSER, 0);
    }

    #[test]
    fn the_probe_agrees_with_the_host() {
        // On a host where `unshare -Urpf --mount-proc true` works (the CI machine), the
        // probe must find a mode; as root the privileged one.
        let unshare = std::process::Command::new("unshare")
            .args(["-Urpf", "--mount-proc", "true"])
            .status();
        let Ok(status) = unshare else { return };
        if status.success() {
            let mode = probe().expect("a PID namespace can be made here");
            // SAFETY: geteuid cannot fail.
            if unsafe { libc::geteuid() } == 0 {
                assert_eq!(mode, NsMode::Privileged);
            }
        }
    }
}
