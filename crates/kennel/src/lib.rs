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
//! # Platform-specific behavior
//!
//! * Unix: one process group per child (`setpgid` at spawn), signalled with `killpg`;
//!   the leader is waited for with `waitid(WNOWAIT)` through a pidfd (Linux) so it is
//!   reaped only after its group is gone.
//! * `SIGPIPE` must be ignored in the supervising process (Rust binaries do this by
//!   default) for stdin writes to a child that stopped reading to fail with
//!   [`StdinErrorKind::BrokenPipe`] instead of killing the supervisor.

#![warn(missing_docs)]
#![deny(unsafe_code)]

mod error;
mod ladder;
mod outcome;
mod output;
mod signal;
mod spec;
mod supervisor;
#[allow(unsafe_code)]
mod sys;

pub use error::{
    HelperFailure, SignalError, SignalErrorKind, SpawnError, StdinError, StdinErrorKind,
};
pub use ladder::{Ladder, Rung, DEFAULT_GRACE};
pub use outcome::{Containment, Drain, EndReason, ExitStatus, Outcome, StreamReport};
pub use output::{Forward, CHUNK_SIZE, EVENT_CAPACITY};
pub use signal::{ParseSignalError, Signal};
pub use spec::{
    CapPolicy, Command, ContainmentOptions, OutputCap, OutputMode, StdinMode, DEFAULT_COLLECT_CAP,
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

/// The keeper: the per-child process that kills the tree when the supervisor dies.
pub mod keeper {
    /// Call first thing in `main` (before any thread starts) of a binary that supervises
    /// with kennel. If the process was started as a keeper, it runs the keeper and exits;
    /// otherwise it records that this binary can host keepers, which turns on the keeper
    /// tier for every [`Command`](crate::Command) spawned from it (Linux; a no-op
    /// elsewhere).
    pub fn init() {
        #[cfg(target_os = "linux")]
        crate::sys::imp::keeper::init();
    }

    /// Use `program` — a binary whose `main` calls [`init`], such as the `kennel` CLI —
    /// as the keeper, for a process that cannot call [`init`] itself (a test harness, a
    /// binary that must not re-execute itself). Returns `false` if a program was already
    /// set (the first one stays). Linux; a no-op elsewhere.
    pub fn use_program(program: impl Into<std::path::PathBuf>) -> bool {
        #[cfg(target_os = "linux")]
        {
            crate::sys::imp::keeper::use_program(program.into())
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = program.into();
            false
        }
    }
}

/// The containment tiers that work on this machine, strongest first (what a sidecar's
/// `hello` reports). Probing is cheap and has no side effects.
pub fn available_containment() -> Vec<Containment> {
    sys::imp::available()
}
