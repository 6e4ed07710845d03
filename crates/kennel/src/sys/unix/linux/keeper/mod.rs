//! The keeper (Linux): a small process between the supervisor and each child's tree
//! that makes the tree die with the supervisor — even with `kill -9` — and catches every
//! descendant that escapes the process group.
//!
//! ```text
//! supervisor ──(socketpair, fd 3)── keeper [child subreaper] ── leader [own group] ── …
//! ```
//!
//! # Why a keeper, and not `PR_SET_PDEATHSIG` or a PID namespace
//!
//! * `PR_SET_PDEATHSIG` fires when the *thread* that forked the child exits, not the
//!   process (a child forked from a tokio blocking-pool thread that retires after 10 s of
//!   idleness would be killed early), it only reaches the leader (grandchildren survive),
//!   and it is not inherited.
//! * A PID namespace kills everything when its init dies, but it needs root or an
//!   unprivileged user namespace (Ubuntu 24.04's AppArmor forbids those), the child
//!   becomes PID 1 (which ignores `SIGTERM` unless it installs a handler — the ladder's
//!   graceful rung would silently do nothing), and every pid it prints is a namespace
//!   pid, useless to the caller.
//! * The keeper needs nothing but `fork`/`exec`. Its end of the control socket closes
//!   when the supervisor dies *for any reason*, which the kernel guarantees; the keeper
//!   then kills the tree. Being the tree's child subreaper, every orphaned descendant
//!   (double fork, `setsid`, `nohup … &`) is reparented to it, so the keeper sees the
//!   whole tree — per tree, so a supervisor running many children never has to guess
//!   which tree an orphan came from.
//!
//! Cost: one extra `fork`+`exec` of the supervisor's own binary per child (measured in
//! `docs/BENCHMARKS.md`, and see `docs/DECISIONS.md`).
//!
//! # Protocol (text lines on the socket)
//!
//! keeper → supervisor: `H` hello, first, as soon as [`init`] recognised the argument
//! (see [Handshake](#handshake)); `L <pid>` leader started; `F <errno>` spawn failed;
//! `X <code|-> <signal|-> [pid…]` leader exited (with the tree's live processes at that
//! moment); `E` no process of the tree is left.
//! supervisor → keeper: `S <signo>` signal the tree; `K` kill the tree (repeated until it
//! is empty); `R` leave what is left running (keep-leftovers). EOF: kill the tree
//! (unless released), reap the leader, exit.
//!
//! # Handshake
//!
//! A keeper (and the shared [guard](super::guard)) is the supervisor's binary re-run
//! with a `__kennel-…` argument; only [`init`] turns it into one. A binary that calls
//! `init()` late, or only on some code path, runs something else instead — typically
//! it exits with a usage error, or it runs its own `main` for a while. So every helper
//! first writes the hello line `H` on its control socket, and the supervisor waits for
//! it ([`await_hello`], [`HELLO_DEADLINE`]) before it relies on the helper. Without the
//! hello the helper's process group is killed and reaped and the spawn fails with
//! `SpawnError::GuardNotStarted`, which says to call `init()` first in `main`
//! (`docs/DECISIONS.md`: a supervisor-death guarantee that does not hold is never
//! claimed).
//!
//! # PID reuse
//!
//! The keeper signals the group only while the leader is unreaped, and other processes
//! only while they are its own unreaped children (reparented orphans): an unreaped pid
//! cannot be reused. Deeper descendants of an orphan are reached when their parent dies
//! and they are reparented to the keeper; the kill rung repeats until nothing is left,
//! so a fork loop converges.

mod link;
mod process;

pub(crate) use link::{pass_ctl_fd, Keeper};
pub(crate) use process::release_stdio;

use std::ffi::OsString;
use std::io::{self, Read as _};
use std::os::fd::{OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal as Sig, WaitId, WaitIdOptions};

use crate::HelperFailure;

/// `argv[1]` that turns the supervisor's binary into a keeper.
pub(crate) const KEEPER_ARG: &str = "__kennel-keeper";

/// The fd the control socket is placed at in the keeper.
pub(crate) const CTL_FD: RawFd = 3;

static ENABLED: AtomicBool = AtomicBool::new(false);
static PROGRAM: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// The first line every helper (keeper, guard) writes on its control socket: proof that
/// the re-run binary entered [`init`] as a helper.
pub(super) const HELLO: &str = "H";

/// How long a freshly started helper may take to say hello. A binary that calls
/// [`init`] first answers within milliseconds of its `exec` (the dynamic loader and
/// `main`'s first line); 10 s covers a machine under heavy load, and bounds how long a
/// spawn hangs on a binary that runs its own long `main` instead.
pub(super) const HELLO_DEADLINE: Duration = Duration::from_secs(10);

/// Say hello to the supervisor. A supervisor that is already gone makes this fail; the
/// helper then reads EOF on the socket and does its teardown as usual.
pub(super) fn say_hello(ctl: &OwnedFd) {
    let _ = send(ctl, &format!("{HELLO}\n"));
}

/// Why a helper's hello did not come.
pub(super) enum HelloError {
    /// The binary did not answer as a helper: it never entered [`init`].
    NotAHelper(HelperFailure),
    /// Reading the socket failed.
    Io(io::Error),
}

/// Read one line from a helper's control socket before `deadline`: `Ok(None)` on EOF,
/// `TimedOut` at the deadline.
///
/// A read with a timeout is never restarted after a signal handler ran (signal(7)),
/// whatever `SA_RESTART` says: `EINTR` retries against the same deadline.
pub(super) fn read_line(sock: &mut UnixStream, deadline: Instant) -> io::Result<Option<String>> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::from(io::ErrorKind::TimedOut));
        }
        sock.set_read_timeout(Some(left))?;
        match sock.read(&mut byte) {
            Ok(1) if byte[0] == b'\n' => {
                return Ok(Some(String::from_utf8_lossy(&line).into_owned()))
            }
            Ok(1) => line.push(byte[0]),
            Ok(_) => return Ok(None),
            // The timeout expired (EAGAIN) or a handler ran: the loop checks the deadline.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::Interrupted
                        | io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e),
        }
    }
}

/// Wait for a freshly started helper's hello ([`HELLO_DEADLINE`]).
pub(super) fn await_hello(sock: &mut UnixStream) -> Result<(), HelloError> {
    match read_line(sock, Instant::now() + HELLO_DEADLINE) {
        Ok(Some(line)) if line == HELLO => Ok(()),
        Ok(Some(line)) => Err(HelloError::NotAHelper(HelperFailure::Unexpected(line))),
        Ok(None) => Err(HelloError::NotAHelper(HelperFailure::Exited)),
        Err(e) if e.kind() == io::ErrorKind::TimedOut => Err(HelloError::NotAHelper(
            HelperFailure::NoAnswer(HELLO_DEADLINE),
        )),
        Err(e) => Err(HelloError::Io(e)),
    }
}

/// Kill a helper that failed its handshake — its whole process group: a binary that
/// did not enter [`init`] may have started processes of its own — and reap it. The
/// helper is our unreaped child and leads its group, so neither id can have been
/// reused.
pub(super) fn abandon(helper: Pid) {
    let _ = rustix::process::kill_process_group(helper, Sig::KILL);
    let _ = rustix::process::kill_process(helper, Sig::KILL);
    while let Err(rustix::io::Errno::INTR) =
        rustix::process::waitid(WaitId::Pid(helper), WaitIdOptions::EXITED)
    {}
}

/// How a helper started from this binary (`args`) is shown in an error: the real path
/// rather than `/proc/self/exe`.
pub(crate) fn helper_command_line(arg: &str) -> String {
    let program = program();
    let shown = if program == std::path::Path::new("/proc/self/exe") {
        std::fs::read_link(&program).unwrap_or(program)
    } else {
        program
    };
    format!("{} {arg}", shown.display())
}

/// Become a keeper if asked to by `argv`; otherwise remember that this binary can host
/// keepers.
pub(crate) fn init() {
    let mut args = std::env::args_os();
    let first = args.nth(1);
    let helper = [KEEPER_ARG, super::guard::GUARD_ARG]
        .iter()
        .any(|arg| first.as_deref() == Some(std::ffi::OsStr::new(arg)));
    if helper {
        // A guard or keeper holds the power to end trees: no child may trace it, nor
        // end it with `kill $PPID` (it ends when its control socket closes, or by
        // SIGKILL). Best effort: it works without (and neither call fails on Linux).
        let _ = super::orphans::make_undumpable();
        set_termination_signals(libc::SIG_IGN);
    }
    if first.as_deref() == Some(std::ffi::OsStr::new(KEEPER_ARG)) {
        let rest: Vec<OsString> = args.collect();
        let code = match process::run(rest) {
            Ok(()) => 0,
            Err(_) => 1,
        };
        std::process::exit(code);
    }
    if first.as_deref() == Some(std::ffi::OsStr::new(super::guard::GUARD_ARG)) {
        std::process::exit(i32::from(super::guard::run().is_err()));
    }
    ENABLED.store(true, Ordering::Release);
}

/// Set SIGINT, SIGTERM and SIGHUP to `disposition` (`SIG_IGN` or `SIG_DFL`).
/// Async-signal-safe (only `sigaction`), so callable between fork and exec.
pub(crate) fn set_termination_signals(disposition: libc::sighandler_t) {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: a zeroed sigaction with SIG_IGN/SIG_DFL as handler and an empty
        // mask is valid; sigaction(2) is async-signal-safe.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = disposition;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
    }
}

/// Use another binary that calls [`init`] (e.g. `kennel`) as the keeper.
pub(crate) fn use_program(path: PathBuf) -> bool {
    PROGRAM.set(path).is_ok()
}

/// Whether a keeper can be started: [`init`] ran in this binary, or a keeper program was
/// named.
pub(crate) fn enabled() -> bool {
    ENABLED.load(Ordering::Acquire) || PROGRAM.get().is_some()
}

/// The binary to start as a keeper.
pub(crate) fn program() -> PathBuf {
    PROGRAM
        .get()
        .cloned()
        .unwrap_or_else(|| PathBuf::from("/proc/self/exe"))
}

/// Write all of `line` to a helper's control socket.
pub(super) fn send(fd: &OwnedFd, line: &str) -> io::Result<()> {
    let mut bytes = line.as_bytes();
    while !bytes.is_empty() {
        match rustix::io::write(fd, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
