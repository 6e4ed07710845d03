//! The shared guard (Linux): one process per supervisor that kills every child's cgroup
//! if the supervisor dies — even with `kill -9`.
//!
//! ```text
//! supervisor ──(socketpair, fd 3)── guard        (one, started at the first spawn)
//!      └── leader [own group, own cgroup] ── …   (spawned directly, as in the cgroup tier)
//! ```
//!
//! # Why a shared guard for cgroup trees, and a keeper per child otherwise
//!
//! The supervisor-death guarantee needs a process that outlives the supervisor and
//! knows where each tree is. With a cgroup per tree the *cgroup* says where the tree is
//! — every descendant, `setsid` daemons and double forks included, stays a member — so
//! one guard that knows the cgroup directories is enough: on EOF of its control socket
//! (which the kernel guarantees on any supervisor death) it writes `1` to each
//! `cgroup.kill`. A per-child [keeper](super::keeper) would add an `exec` of the
//! supervisor's binary and a `fork` from it to every spawn (measured: ~1.7 ms of CPU and
//! 3–4 ms of latency per child, 5× a plain `tokio::process` spawn; `docs/BENCHMARKS.md`)
//! for nothing the cgroup does not already give.
//!
//! Without a cgroup, the keeper stays: there the tree is only a process group, and only
//! a subreaper *above* the tree catches descendants that leave the group.
//!
//! # Two kinds of guard
//!
//! * **Exec'd** (this binary, or the program named with `keeper::use_program`, re-run
//!   with [`GUARD_ARG`]; the protocol below): where a helper binary is there, i.e.
//!   `keeper::init()` ran or a program was named. It has memory of its own, so the
//!   kernel's OOM killer taking the host does not take it too, and it is not dumpable.
//! * **[In-process](in_process)** (a `CLONE_VM` clone running raw system calls, no
//!   binary): everywhere else — a host that never called `init()`, as every tokio user
//!   of `kennel::compat`. It shares the host's memory, hence its dumpability, and the
//!   OOM killer (which kills every process sharing the victim's memory) takes it with
//!   the host: a tree survives an OOM kill of such a host. Why the exec'd guard is kept
//!   where it can run: `docs/DECISIONS.md`, "Containment without `keeper::init()`".
//!
//! Which one runs is chosen when a guard is started (first spawn, or restart): a host
//! that calls `init()` after its first cgroup spawn keeps its in-process guard until it
//! dies. A tree without a cgroup cannot use either: it needs a keeper, a helper binary.
//!
//! # No race with the fork
//!
//! A cgroup is announced to the guard (`A <dir>`, written to the socket) *before* the
//! child is forked, and the child joins the cgroup before `exec`: whatever the child ever
//! runs is in a cgroup the guard already knows, even if the supervisor dies during the
//! spawn (the guard reads what is in the socket before it sees EOF). A cgroup is
//! forgotten (`D <dir>`) only once its tree is gone (or released, for keep-leftovers).
//!
//! # Protocol of the exec'd guard (text lines on the socket)
//!
//! (The in-process guard's fixed-size messages: [`in_process`].) guard → supervisor: `H` once, first (the hello of the
//! [handshake](super::keeper#handshake): without it the guard is not trusted, see
//! below). supervisor → guard: `A <dir>` guard this cgroup; `D <dir>` forget it. EOF:
//! `cgroup.kill` every cgroup still known, wait briefly for each to empty, remove it,
//! exit.
//!
//! # Never claiming a guarantee that does not hold
//!
//! * **A guard that never starts.** The exec'd guard is this binary re-run; a binary that
//!   calls `keeper::init()` late or only on some code path runs something else and
//!   exits (or runs on). The supervisor waits for the hello; without it the spawn
//!   fails with `SpawnError::GuardNotStarted` (no keeper fallback: the keeper is the
//!   same binary re-run, and would fail the same way). Every later spawn tries again.
//! * **A guard that dies later** (someone kills it). Each guard has a generation; a
//!   [`Ticket`] remembers the one that covered its tree from the spawn. The next spawn
//!   notices the death, starts a new guard and re-announces every live cgroup, but a
//!   tree whose generation is gone reports `dies_with_supervisor() == false` for the
//!   rest of its run ([`covers`]): between the death and the restart a supervisor death
//!   would have left it running, and nothing watches the guard in the meantime.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;

use rustix::process::Pid;

use super::super::registry;
use super::keeper::{self, HelloError};
use crate::HelperFailure;

mod exec;
mod in_process;

pub(crate) use exec::run;

/// `argv[1]` that turns the supervisor's binary into the guard.
pub(crate) const GUARD_ARG: &str = "__kennel-guard";

/// Spawn a helper (the guard) and record it as ours before the orphan reaper can see
/// it exit, so its pid stays ours until we reap it.
fn spawn_ours(cmd: &mut std::process::Command) -> io::Result<std::process::Child> {
    let spawning =
        registry::spawning().ok_or_else(|| io::Error::other("the child registry is poisoned"))?;
    let child = cmd.spawn()?;
    spawning.record(child.id());
    Ok(child)
}

/// The supervisor's side of the running guard.
struct Link {
    ctl: Ctl,
    pid: Pid,
    /// Which guard this is: 1 for the first of this process, one more per restart.
    generation: u64,
}

/// The control socket of a guard of either kind.
enum Ctl {
    /// This binary (or the helper program) re-run as `__kennel-guard`: text lines.
    Exec(UnixStream),
    /// The [in-process](in_process) guard: fixed-size messages and directory fds.
    InProcess(OwnedFd),
}

/// The guard of this process, the cgroups it must know by slot (kept across guard
/// restarts, including failed ones; a free slot is `None` and reused), and the
/// generation of the last guard started.
struct Registry {
    link: Option<Link>,
    slots: Vec<Option<PathBuf>>,
    generation: u64,
}

static GUARD: Mutex<Registry> = Mutex::new(Registry {
    link: None,
    slots: Vec::new(),
    generation: 0,
});

/// Why the guard could not be started.
pub(crate) enum GuardError {
    /// The binary re-run as the guard did not answer as one (it never entered
    /// `keeper::init`): a keeper would fail the same way.
    NotAGuard(HelperFailure),
    /// An OS failure (fork, socket, a write to the guard): a keeper may still work
    /// (it is started the same way, so its own error says what failed, if it fails).
    Os,
}

impl From<io::Error> for GuardError {
    fn from(_: io::Error) -> Self {
        GuardError::Os
    }
}

/// Whether a guard can watch cgroup trees here: a helper binary hosts it
/// ([`keeper::init`] ran, or a program was named), or the kernel runs the in-process
/// one.
pub(crate) fn available() -> bool {
    keeper::enabled() || in_process::supported()
}

impl Link {
    /// Start a guard: the exec'd one where a helper binary can host it (it has its own
    /// memory, see the module docs), else the in-process one.
    fn start(generation: u64) -> Result<Link, GuardError> {
        if !keeper::enabled() {
            let started = in_process::start()?;
            return Ok(Link {
                ctl: Ctl::InProcess(started.ctl),
                pid: started.pid,
                generation,
            });
        }
        let (ours, theirs) = UnixStream::pair()?;
        let mut cmd = std::process::Command::new(keeper::program());
        cmd.arg(GUARD_ARG)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Not in the supervisor's group: a terminal's Ctrl-C must not take the
            // guard down before the supervisor has torn its trees down.
            .process_group(0);
        keeper::pass_ctl_fd(&mut cmd, &theirs);
        let child = spawn_ours(&mut cmd)?;
        drop(theirs);
        let pid = i32::try_from(child.id())
            .ok()
            .and_then(Pid::from_raw)
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidData))?;
        let mut ctl = ours;
        match keeper::await_hello(&mut ctl) {
            Ok(()) => {}
            Err(e) => {
                keeper::abandon(pid);
                registry::unregister(child.id());
                return Err(match e {
                    HelloError::NotAHelper(failure) => GuardError::NotAGuard(failure),
                    HelloError::Io(_) => GuardError::Os,
                });
            }
        }
        Ok(Link {
            ctl: Ctl::Exec(ctl),
            pid,
            generation,
        })
    }

    fn fd(&self) -> BorrowedFd<'_> {
        match &self.ctl {
            Ctl::Exec(s) => s.as_fd(),
            Ctl::InProcess(fd) => fd.as_fd(),
        }
    }

    /// Whether the guard still runs: it writes nothing after its hello, so a readable
    /// or hung-up socket means it closed its end (it died).
    fn alive(&self) -> bool {
        // Cannot tell (ENOMEM): do not claim it.
        super::closed_now(self.fd()).is_ok_and(|closed| !closed)
    }

    /// Guard the cgroup `dir` as `slot` (`guard`), or forget it.
    fn send(&mut self, guard: bool, slot: u32, dir: &Path) -> io::Result<()> {
        let ctl = match &self.ctl {
            Ctl::Exec(ctl) => ctl,
            Ctl::InProcess(ctl) => {
                let fd = match guard {
                    true => Some(rustix::fs::open(
                        dir,
                        rustix::fs::OFlags::PATH
                            | rustix::fs::OFlags::DIRECTORY
                            | rustix::fs::OFlags::CLOEXEC,
                        rustix::fs::Mode::empty(),
                    )?),
                    false => None,
                };
                return in_process::send(ctl, slot, fd.as_ref().map(AsFd::as_fd));
            }
        };
        let bytes = dir.as_os_str().as_bytes();
        if bytes.contains(&b'\n') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a cgroup path with a newline cannot be sent to the guard",
            ));
        }
        let mut line = Vec::with_capacity(bytes.len() + 3);
        line.extend_from_slice(&[if guard { b'A' } else { b'D' }, b' ']);
        line.extend_from_slice(bytes);
        line.push(b'\n');
        // A dead guard is an `EPIPE` (then a new one is started).
        super::send_all(ctl, &line)
    }
}

/// A cgroup under the guard's protection until this is dropped (then the guard forgets
/// it: drop it only once the tree is gone or released).
#[derive(Debug)]
pub(crate) struct Ticket {
    dir: PathBuf,
    slot: u32,
    generation: u64,
}

impl Ticket {
    /// The guard generation that has covered this tree since its spawn.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }
}

/// Whether the guard of `generation` still runs: then it has covered every cgroup
/// announced to it without a gap since the announcement.
pub(crate) fn covers(generation: u64) -> bool {
    let Ok(registry) = GUARD.lock() else {
        return false;
    };
    registry
        .link
        .as_ref()
        .is_some_and(|link| link.generation == generation && link.alive())
}

/// Put the cgroup `dir` under the guard, starting the guard on first use (and again if
/// it died, re-announcing every cgroup it guarded).
///
/// # Errors
///
/// [`GuardError::NotAGuard`]: the binary does not enter the guard (the spawn must
/// fail); [`GuardError::Os`]: the caller may fall back to a keeper.
pub(crate) fn register(dir: &Path) -> Result<Ticket, GuardError> {
    let mut registry = GUARD
        .lock()
        .map_err(|_| io::Error::other("the guard registry is poisoned"))?;
    if let Some(old) = registry.link.take_if(|link| !link.alive()) {
        // The guard is gone (its socket closed): reap it; a new one is started below.
        // It is registered as ours, so the orphan reaper has not taken it.
        keeper::abandon(old.pid);
        registry::unregister(old.pid.as_raw_nonzero().get().unsigned_abs());
    }
    if registry.link.is_none() {
        registry.generation += 1;
        let mut link = Link::start(registry.generation)?;
        // A restart: the new guard must know every cgroup still running.
        for (slot, d) in registry.slots.iter().enumerate() {
            if let (Some(d), Ok(slot)) = (d, u32::try_from(slot)) {
                link.send(true, slot, d)?;
            }
        }
        registry.link = Some(link);
    }
    let Registry { link, slots, .. } = &mut *registry;
    let Some(link) = link.as_mut() else {
        return Err(GuardError::Os);
    };
    let index = slots
        .iter()
        .position(Option::is_none)
        .unwrap_or(slots.len());
    let slot = u32::try_from(index).map_err(|_| GuardError::Os)?;
    link.send(true, slot, dir)?;
    match slots.get_mut(index) {
        Some(free) => *free = Some(dir.to_owned()),
        None => slots.push(Some(dir.to_owned())),
    }
    Ok(Ticket {
        dir: dir.to_owned(),
        slot,
        generation: link.generation,
    })
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Ok(mut registry) = GUARD.lock() {
            if let Some(free) = usize::try_from(self.slot)
                .ok()
                .and_then(|i| registry.slots.get_mut(i))
            {
                *free = None;
            }
            if let Some(link) = registry.link.as_mut() {
                let _ = link.send(false, self.slot, &self.dir);
            }
        }
    }
}
