//! # kennel — spawn, cancel and drain whole process trees
//!
//! kennel runs a child process with piped stdio and supervises its whole *tree*:
//!
//! 1. **spawn** — the child leads its own containment (a process group on Unix) from its
//!    first instruction, so it cannot fork anything outside it;
//! 2. **cancel** — a termination [`Ladder`] (default `SIGTERM`, 5 s, `SIGKILL`) reaches
//!    every process of the tree, on [`Child::cancel`], on timeout, or when the handle is
//!    dropped; a stopped tree is continued so it can act on the signal;
//! 3. **tree termination** — when the leader exits, what it left behind is torn down too
//!    (unless asked not to), and the leader stays unreaped until then, so no signal can
//!    reach a process that reused its pid;
//! 4. **output drain** — stdout and stderr are read concurrently into a bounded channel
//!    (backpressure reaches the child, memory stays bounded); the [`Event::Exit`] comes
//!    only after both pipes reached EOF or the drain timeout expired, and after every
//!    byte read before it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kennel::SpawnError> {
//! use std::time::Duration;
//! use kennel::{Command, Event};
//!
//! let mut child = Command::new("cargo")
//!     .args(["test", "--workspace"])
//!     .timeout(Duration::from_secs(300))
//!     .spawn()?;
//! while let Some(event) = child.next_event().await {
//!     match event {
//!         Event::Stdout(chunk) => { /* bytes exactly as read */ }
//!         Event::Stderr(chunk) => { /* … */ }
//!         Event::Exit(outcome) => {
//!             println!("{:?} after {:?}, drain {:?}", outcome.reason, outcome.wall_time, outcome.drain);
//!         }
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! # Supervisor death
//!
//! On Linux a tree can die with its supervisor — even when the supervisor is killed
//! with `kill -9` — through a guard or keeper process. A tree in a cgroup needs nothing
//! from the program: without [`keeper::init()`](keeper::init) its guard is a clone of
//! the supervisor that needs no binary (Linux ≥ 5.16). A tree without a cgroup needs a
//! keeper, the supervisor's own binary re-run, and so `keeper::init()` as the **first
//! statement of `main`**; see [`keeper`] for what happens otherwise. Whether a tree
//! has the guarantee is reported, never assumed: [`Child::dies_with_supervisor`],
//! [`Outcome::dies_with_supervisor`].
//!
//! # Platform-specific behavior
//!
//! * Unix: one process group per child (`setpgid` at spawn), signalled with `killpg`;
//!   the leader is waited for with `waitid(WNOWAIT)` through a pidfd (Linux) so it is
//!   reaped only after its group is gone.
//! * `SIGPIPE` must be ignored in the supervising process (Rust binaries do this by
//!   default) for stdin writes to a child that stopped reading to fail with
//!   [`StdinErrorKind::BrokenPipe`] instead of killing the supervisor.
//!
//! # Coming from `tokio::process`
//!
//! [`compat`] has tokio's surface — `&mut self` builders, `spawn`/`output`/`status`,
//! a child with `stdin`/`stdout`/`stderr` handles implementing `AsyncWrite`/`AsyncRead`,
//! `wait() -> io::Result<std::process::ExitStatus>`, `try_wait`, `kill` — over this
//! crate's machinery, so changing `use tokio::process::Command;` to
//! `use kennel::compat::Command;` puts the whole tree under kennel. Where the meaning
//! differs (the tree is killed, not just the leader; output is drained before the
//! status; a dropped child's tree is killed by default) is in one table in its docs.

#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod compat;
mod environment;
mod error;
mod given;
mod ladder;
mod limits;
mod outcome;
mod output;
mod plan;
mod signal;
mod spec;
mod supervisor;
#[allow(unsafe_code)]
mod sys;
mod tree;

pub use environment::Environment;
pub use error::{
    HelperFailure, RunError, SignalError, SignalErrorKind, SpawnError, StdinError, StdinErrorKind,
};
#[cfg(unix)]
pub use given::make_fifo;
pub use ladder::{Ladder, Rung, DEFAULT_GRACE};
pub use limits::{
    parse_cpus, parse_pids, parse_size, LimitKind, LimitValueError, Limits, ParseLimitError, Usage,
};
pub use outcome::{
    Containment, Drain, EndReason, EscapeFound, Escapee, ExitStatus, Outcome, StreamReport,
};
pub use output::{Forward, CHUNK_SIZE, EVENT_CAPACITY};
pub use plan::ContainmentOptions;
pub use signal::{ParseSignalError, Signal};
pub use spec::{
    CapPolicy, Command, OutputCap, OutputMode, StdinMode, DEFAULT_COLLECT_CAP,
    DEFAULT_DRAIN_TIMEOUT,
};
pub use supervisor::{Child, Controller, Event, Output};

/// Make this process a child subreaper (Linux) and reap the zombies of orphans that are
/// reparented to it. For binaries that own all their children (like `kennel run` and
/// `kennel serve`): a backstop for trees whose keeper died. Other processes' children
/// are never reaped: kennel's own are registered before they can exit.
///
/// # Errors
///
/// The OS error of `prctl`, or `Unsupported` off Linux.
pub fn become_subreaper() -> std::io::Result<()> {
    sys::imp::become_subreaper()
}

/// [`become_subreaper`], and also count every orphan reparented to this process as a
/// process of kennel's trees: when a cgroup tree ends (however it ends), adopted
/// orphans that left their cgroup (by writing to another cgroup's `cgroup.procs`) and
/// are not in another live tree's cgroup are killed and reported in
/// [`Outcome::escapees_killed`]. Only for binaries whose children are **all** started
/// by kennel (`kennel run`, `kennel serve`): a child started some other way would be
/// taken for an escapee.
///
/// # Errors
///
/// As [`become_subreaper`].
pub fn sweep_adopted_orphans() -> std::io::Result<()> {
    sys::imp::sweep_adopted()
}

/// Make this process a hard target for its own children (Linux): non-dumpable
/// (`prctl(PR_SET_DUMPABLE, 0)`), so a child running as the same user can neither
/// `ptrace` the supervisor nor read its memory or environment through `/proc` — which
/// would expose every other child's output and environment. Children are unaffected
/// (`execve` makes them dumpable again). The guard and the keepers do this themselves;
/// `kennel run` and `kennel serve` call it at start. Root can still trace anything.
///
/// # Errors
///
/// The OS error of `prctl`, or `Unsupported` off Linux.
pub fn make_undumpable() -> std::io::Result<()> {
    sys::imp::make_undumpable()
}

/// Termination signals sent to the supervisor itself, with their sender (Linux), so a
/// supervisor can tell a request from outside (its caller, a terminal) from a child of
/// its own trees trying to shut it down (`kill -TERM $PPID`).
///
/// # Platform-specific behavior
///
/// Linux only: elsewhere [`OwnSignals::install`](own_signals::OwnSignals::install) fails
/// with `Unsupported`.
pub mod own_signals {
    use crate::Signal;

    /// A caught SIGINT, SIGTERM or SIGHUP.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Caught {
        /// Which one.
        pub signal: Signal,
        /// The pid that sent it with `kill(2)`; `None` when the kernel sent it (a
        /// terminal's Ctrl-C or hang-up).
        pub sender: Option<u32>,
        /// Whether the sender is a process of a tree this process supervises (a
        /// descendant, or a member of one of its cgroups) at the time it is looked at.
        /// A sender that already exited is not.
        pub from_a_tree: bool,
    }

    /// SIGINT, SIGTERM and SIGHUP of this process, caught from [`OwnSignals::install`] on.
    /// Replaces any other handling of those three signals (do not also use
    /// `tokio::signal` for them).
    pub struct OwnSignals(crate::sys::imp::own_signals::Receiver);

    impl OwnSignals {
        /// Install the handlers. Must run inside a tokio runtime.
        ///
        /// # Errors
        ///
        /// The OS error of creating the self-pipe or of `sigaction`; `Unsupported` off
        /// Linux.
        pub fn install() -> std::io::Result<OwnSignals> {
            crate::sys::imp::own_signals::install().map(OwnSignals)
        }

        /// The next caught signal.
        ///
        /// # Errors
        ///
        /// The OS error of reading the self-pipe (not expected).
        ///
        /// # Cancel safety
        ///
        /// Cancel safe in practice: records are 8 bytes, written and read whole.
        pub async fn recv(&mut self) -> std::io::Result<Caught> {
            let (raw, sender) = self.0.recv().await?;
            let signal = Signal::from_number(raw);
            let from_a_tree = sender.is_some_and(crate::sys::imp::own_signals::in_our_trees);
            Ok(Caught {
                signal,
                sender,
                from_a_tree,
            })
        }
    }
}

/// The guard and the keepers: the processes that kill a tree when its supervisor dies,
/// even by `kill -9` (Linux).
///
/// They are the supervisor's own binary, re-run with a `__kennel-guard` or
/// `__kennel-keeper` argument; [`init`](keeper::init) is what turns that re-run into a guard or
/// keeper. So **`init()` must be the first statement of `main`**, on every code path,
/// before the command line is parsed and before any thread starts. (A program that
/// never calls it still gets a guard for its cgroup trees: a clone of itself that runs
/// no binary, see below.)
///
/// ```no_run
/// fn main() {
///     kennel::keeper::init(); // first: may turn this process into a guard or keeper
///     // … parse arguments, build the runtime, spawn with kennel …
/// }
/// ```
///
/// What happens otherwise:
///
/// * `init()` not called before a spawn (never, or later), and no program named: a tree
///   in a cgroup (where one is writable) is guarded by the *in-process guard*, a
///   `CLONE_VM` clone of the supervisor running a few raw system calls, no binary
///   involved (Linux ≥ 5.16); it has the guarantee except against the kernel's OOM
///   killer, which kills every process sharing the supervisor's memory, the guard
///   included. A tree without a cgroup needs a keeper: it runs without the guarantee
///   and says so — [`Child::dies_with_supervisor`](crate::Child::dies_with_supervisor)
///   and [`Outcome::dies_with_supervisor`](crate::Outcome::dies_with_supervisor) are
///   `false`, and a `kill -9` of the supervisor leaves the tree running.
/// * `init()` called, but not first (the re-run binary exits on an unknown argument, or
///   takes a path that does not call it): the guard or keeper never answers its
///   handshake and [`Command::spawn`](crate::Command::spawn) fails with
///   [`SpawnError::GuardNotStarted`], whose message
///   says what to do. A command that is fine without the guarantee can switch it off
///   (`ContainmentOptions { keeper: false, .. }`); it then runs, reported as
///   unprotected.
/// * A binary that must not re-run itself (a test harness) names one that calls
///   `init()` first, such as the `kennel` CLI, with [`use_program`](keeper::use_program).
// The example is about where `init()` goes in `main`: the `main` is the point.
#[allow(clippy::needless_doctest_main)]
pub mod keeper {
    /// Call as the first statement of `main` (before the command line is parsed and
    /// before any thread starts) of a binary that supervises with kennel. If the
    /// process was started as a guard or keeper, it runs as one and exits here;
    /// otherwise it records that this binary can host them, which turns on the
    /// supervisor-death guarantee for every [`Command`](crate::Command) spawned from it
    /// after this call (Linux; a no-op elsewhere). See the [module docs](self) for what
    /// happens if it is called late or only on some code path.
    pub fn init() {
        crate::sys::imp::helpers::init();
    }

    /// Use `program` — a binary whose `main` calls [`init`], such as the `kennel` CLI —
    /// as the keeper, for a process that cannot call [`init`] itself (a test harness, a
    /// binary that must not re-execute itself). Returns `false` if a program was already
    /// set (the first one stays). Linux; a no-op elsewhere.
    pub fn use_program(program: impl Into<std::path::PathBuf>) -> bool {
        crate::sys::imp::helpers::use_program(program.into())
    }
}

/// The controlling terminal, handed to a child's tree as a shell hands it to a
/// foreground job (Unix; on Windows there is never a terminal to hand over).
///
/// A tree kennel spawns runs in a process group of its own, so from a shell in a
/// terminal it is in the background: a read from the terminal stops it (`SIGTTIN`),
/// and Ctrl-C reaches the supervisor, not the tree. [`Foreground::claim`](terminal::Foreground::claim) (before the
/// spawn) saves the terminal, [`Command::foreground_terminal`](crate::Command::foreground_terminal)
/// makes the child take it between `fork` and `exec`, [`Foreground::hand_to`](terminal::Foreground::hand_to) (after the
/// spawn) does it from the supervisor's side too, and [`Foreground::take_back`](terminal::Foreground::take_back) (also run
/// on drop) restores the supervisor's group and the terminal's modes.
pub mod terminal {
    /// The terminal on stdin, handed to a child's process group. Dropping it takes the
    /// terminal back.
    pub struct Foreground {
        inner: crate::sys::imp::terminal::Foreground,
        given: std::sync::atomic::AtomicBool,
    }

    impl std::fmt::Debug for Foreground {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Foreground").finish_non_exhaustive()
        }
    }

    impl Foreground {
        /// Before the spawn: if stdin is a terminal and this process's group is its
        /// foreground group, save the terminal's modes and return the handle (then spawn
        /// with [`Command::foreground_terminal`](crate::Command::foreground_terminal)).
        /// `Ok(None)` when there is no such terminal.
        ///
        /// # Errors
        ///
        /// The OS error of `tcgetattr`.
        pub fn claim() -> std::io::Result<Option<Foreground>> {
            Ok(
                crate::sys::imp::terminal::Foreground::claim()?.map(|inner| Foreground {
                    inner,
                    // From here the child may take the terminal: dropping gives it back
                    // even if the spawn fails after the child claimed it.
                    given: std::sync::atomic::AtomicBool::new(true),
                }),
            )
        }

        /// After the spawn: make the process group `pgid` (a child's:
        /// [`Controller::id`](crate::Controller::id) is its leader and group id) the
        /// terminal's foreground group.
        ///
        /// # Errors
        ///
        /// The OS error of `tcsetpgrp` (e.g. the group is already gone).
        pub fn hand_to(&self, pgid: u32) -> std::io::Result<()> {
            self.given.store(true, std::sync::atomic::Ordering::Release);
            self.inner.hand_to(pgid)
        }

        /// Put this process's group back in the foreground, with the terminal's modes
        /// as they were before the hand-over (the child's modes are kept for
        /// [`give_again`](Self::give_again)). Idempotent.
        ///
        /// # Errors
        ///
        /// The OS error of `tcsetpgrp`/`tcsetattr`.
        pub fn take_back(&self) -> std::io::Result<()> {
            if self.given.swap(false, std::sync::atomic::Ordering::AcqRel) {
                self.inner.take_back()?;
            }
            Ok(())
        }

        /// Hand the terminal to the child's group again (when a stopped job is resumed).
        ///
        /// # Errors
        ///
        /// The OS error of `tcsetpgrp`/`tcsetattr`.
        pub fn give_again(&self) -> std::io::Result<()> {
            if !self.given.swap(true, std::sync::atomic::Ordering::AcqRel) {
                self.inner.give_again()?;
            }
            Ok(())
        }
    }

    impl Drop for Foreground {
        fn drop(&mut self) {
            let _ = self.take_back();
        }
    }
}

/// The containment tiers that work on this machine, strongest first (what a sidecar's
/// `hello` reports). Probing is cheap and has no side effects.
pub fn available_containment() -> Vec<Containment> {
    plan::available_with(&sys::imp::probe(), sys::imp::pid_namespace_works)
}
