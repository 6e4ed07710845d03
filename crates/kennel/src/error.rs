//! Typed errors, one enum per operation. Messages are lowercase sentences that carry the
//! context (program, pid, stage, elapsed time); the OS error is the `source()`, not
//! repeated in the message.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::Signal;

/// Spawning failed; nothing was started (or what was started is already gone).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpawnError {
    /// The program does not exist (or is not in `PATH`).
    #[error("cannot spawn `{program}` in {}: the program was not found", cwd.display())]
    NotFound {
        /// The program as given.
        program: String,
        /// The working directory it would have run in.
        cwd: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The program exists but may not be executed.
    #[error("cannot spawn `{program}` in {}: permission denied (is it executable?)", cwd.display())]
    PermissionDenied {
        /// The program as given.
        program: String,
        /// The working directory it would have run in.
        cwd: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The working directory does not exist or is not a directory.
    #[error("cannot spawn `{program}`: the working directory {} does not exist or is not a directory", cwd.display())]
    BadCwd {
        /// The program as given.
        program: String,
        /// The working directory asked for.
        cwd: PathBuf,
    },
    /// Any other OS failure, with the stage it happened in.
    #[error("cannot spawn `{program}` in {}: {stage} failed", cwd.display())]
    Os {
        /// The program as given.
        program: String,
        /// The working directory it would have run in.
        cwd: PathBuf,
        /// What kennel was doing (e.g. `"fork/exec"`, `"pidfd_open"`).
        stage: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The supervisor-death guarantee was asked for (the default
    /// [`ContainmentOptions`](crate::ContainmentOptions)) but the process that provides
    /// it — the shared guard, or the tree's keeper: this binary re-run with a
    /// `__kennel-…` argument — never entered [`keeper::init`](crate::keeper::init).
    /// That happens when `init()` is not the first thing `main` does, or runs only on
    /// some code path. Nothing was started. The fix is in the message: call `init()`
    /// first in `main`, or switch the guarantee off for this command
    /// (`ContainmentOptions { keeper: false, .. }`), which runs the tree without it and
    /// says so ([`Child::dies_with_supervisor`](crate::Child::dies_with_supervisor)).
    #[error("cannot spawn `{program}`: the process that kills the tree if this one dies did not start (`{helper}` {failure}); call `kennel::keeper::init()` first in `main`, before anything else runs, or switch the guarantee off for this command with `ContainmentOptions {{ keeper: false, .. }}`")]
    GuardNotStarted {
        /// The program as given.
        program: String,
        /// The command line the guard or keeper was started as.
        helper: String,
        /// How it failed to answer.
        failure: HelperFailure,
    },
    /// `spawn` was called outside a tokio runtime.
    #[error("cannot spawn `{program}`: no tokio runtime is running on this thread")]
    NoRuntime {
        /// The program as given.
        program: String,
    },
}

impl SpawnError {
    /// The program that failed to spawn.
    pub fn program(&self) -> &str {
        match self {
            SpawnError::NotFound { program, .. }
            | SpawnError::PermissionDenied { program, .. }
            | SpawnError::BadCwd { program, .. }
            | SpawnError::Os { program, .. }
            | SpawnError::GuardNotStarted { program, .. }
            | SpawnError::NoRuntime { program } => program,
        }
    }
}

/// How a guard or keeper failed its handshake: the binary re-run as one did not answer
/// as one. Every guard and keeper writes a hello line on its control socket as soon as
/// [`keeper::init`](crate::keeper::init) recognises its argument.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HelperFailure {
    /// It closed its control socket (usually: it exited) before saying hello.
    Exited,
    /// It said nothing before the deadline.
    NoAnswer(Duration),
    /// It wrote something other than the hello.
    Unexpected(String),
}

impl std::fmt::Display for HelperFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HelperFailure::Exited => write!(f, "exited without answering its handshake"),
            HelperFailure::NoAnswer(waited) => write!(
                f,
                "did not answer its handshake within {:.0} s",
                waited.as_secs_f64()
            ),
            HelperFailure::Unexpected(line) => {
                write!(f, "answered {line:?} instead of its handshake")
            }
        }
    }
}

/// Why a stdin operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StdinErrorKind {
    /// The child was not started with [`StdinMode::Piped`](crate::StdinMode::Piped).
    NotPiped,
    /// `close_stdin` was already called.
    Closed,
    /// Nobody reads the pipe any more (the child closed it or died: `EPIPE`).
    BrokenPipe,
    /// The run ended (outcome final) while the write was in flight.
    Finished,
    /// Another OS error.
    Io,
}

/// A stdin write or close failed.
#[derive(Debug, thiserror::Error)]
#[error("stdin of pid {pid}: {} ({written} of {len} bytes written, {:.3}s after spawn)", describe_stdin(*kind), elapsed.as_secs_f64())]
pub struct StdinError {
    /// The leader's pid.
    pub pid: u32,
    /// What went wrong.
    pub kind: StdinErrorKind,
    /// Bytes of this write that reached the pipe before the failure.
    pub written: usize,
    /// Bytes asked to write.
    pub len: usize,
    /// Time since spawn.
    pub elapsed: Duration,
    /// The OS error, when there was one.
    #[source]
    pub source: Option<io::Error>,
}

fn describe_stdin(kind: StdinErrorKind) -> &'static str {
    match kind {
        StdinErrorKind::NotPiped => "stdin is not piped",
        StdinErrorKind::Closed => "stdin was already closed",
        StdinErrorKind::BrokenPipe => "the child no longer reads stdin",
        StdinErrorKind::Finished => "the run ended while writing",
        StdinErrorKind::Io => "the write failed",
    }
}

/// Why a signal could not be delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignalErrorKind {
    /// The tree is gone: there is nobody left to signal.
    Finished,
    /// The signal has no meaning on this platform.
    Unsupported,
    /// The OS refused.
    Os,
}

/// Sending a signal to the tree failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot send {signal} to the tree of pid {pid}: {} ({:.3}s after spawn)", describe_signal(*kind), elapsed.as_secs_f64())]
pub struct SignalError {
    /// The leader's pid.
    pub pid: u32,
    /// The signal.
    pub signal: Signal,
    /// What went wrong.
    pub kind: SignalErrorKind,
    /// Time since spawn.
    pub elapsed: Duration,
    /// The OS error, when there was one.
    #[source]
    pub source: Option<io::Error>,
}

fn describe_signal(kind: SignalErrorKind) -> &'static str {
    match kind {
        SignalErrorKind::Finished => "the tree has already ended",
        SignalErrorKind::Unsupported => "this signal has no meaning on this platform",
        SignalErrorKind::Os => "the operating system refused",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_as_sentences_with_context() {
        let e = SpawnError::NotFound {
            program: "nope".into(),
            cwd: "/tmp".into(),
            source: io::Error::from(io::ErrorKind::NotFound),
        };
        assert_eq!(
            e.to_string(),
            "cannot spawn `nope` in /tmp: the program was not found"
        );
        let e = SpawnError::GuardNotStarted {
            program: "make".into(),
            helper: "/usr/bin/host __kennel-guard".into(),
            failure: HelperFailure::Exited,
        };
        assert_eq!(
            e.to_string(),
            "cannot spawn `make`: the process that kills the tree if this one dies did not start \
             (`/usr/bin/host __kennel-guard` exited without answering its handshake); call \
             `kennel::keeper::init()` first in `main`, before anything else runs, or switch the \
             guarantee off for this command with `ContainmentOptions { keeper: false, .. }`"
        );
        let e = StdinError {
            pid: 42,
            kind: StdinErrorKind::BrokenPipe,
            written: 3,
            len: 10,
            elapsed: Duration::from_millis(1500),
            source: None,
        };
        assert_eq!(
            e.to_string(),
            "stdin of pid 42: the child no longer reads stdin (3 of 10 bytes written, 1.500s after spawn)"
        );
        let e = SignalError {
            pid: 7,
            signal: Signal::Int,
            kind: SignalErrorKind::Finished,
            elapsed: Duration::from_millis(2),
            source: None,
        };
        assert_eq!(
            e.to_string(),
            "cannot send SIGINT to the tree of pid 7: the tree has already ended (0.002s after spawn)"
        );
    }
}
