//! The Linux-only process controls, as the platforms without them answer: macOS and the
//! BSDs (no subreaper they can sweep, no `prctl`, no `si_pid` bookkeeping kennel relies
//! on) and Windows (orphans are not reparented; the Job Object already holds every
//! descendant; no per-process switch hides a process from another of the same user).
//! The types that cannot exist here are uninhabited, so callers carry no `cfg`.

use std::convert::Infallible;
use std::io;

fn unsupported<T>() -> io::Result<T> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// No child subreaper here.
pub(crate) fn become_subreaper() -> io::Result<()> {
    unsupported()
}

/// Unsupported, as [`become_subreaper`].
pub(crate) fn sweep_adopted() -> io::Result<()> {
    unsupported()
}

/// No `PR_SET_DUMPABLE` here.
pub(crate) fn make_undumpable() -> io::Result<()> {
    unsupported()
}

/// The guard and keepers do not exist here: nothing to become, nothing to record.
pub(crate) mod helpers {
    /// A no-op.
    pub(crate) fn init() {}

    /// No helper binary here: `false`.
    #[cfg_attr(
        windows,
        allow(
            dead_code,
            reason = "only the Unix spawn asks (the Job Object needs no helper)"
        )
    )]
    pub(crate) fn enabled() -> bool {
        false
    }

    /// Nothing to use the program for: `false`.
    pub(crate) fn use_program(_program: std::path::PathBuf) -> bool {
        false
    }
}

/// Termination signals with their sender: not available here.
pub(crate) mod own_signals {
    use super::{unsupported, Infallible};

    /// Never built: [`install`] always fails.
    pub(crate) struct Receiver(Infallible);

    /// `Unsupported`.
    pub(crate) fn install() -> std::io::Result<Receiver> {
        unsupported()
    }

    impl Receiver {
        /// Unreachable: no receiver exists.
        pub(crate) async fn recv(&mut self) -> std::io::Result<(i32, Option<u32>)> {
            match self.0 {}
        }
    }

    /// No tree can be told apart here: `false`.
    pub(crate) fn in_our_trees(_pid: u32) -> bool {
        false
    }
}
