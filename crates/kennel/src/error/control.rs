//! The errors of requests to a running child: stdin and signals.

use std::io;
use std::time::Duration;

use crate::Signal;

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

pub(super) fn describe_signal(kind: SignalErrorKind) -> &'static str {
    match kind {
        SignalErrorKind::Finished => "the tree has already ended",
        SignalErrorKind::Unsupported => "this signal has no meaning on this platform",
        SignalErrorKind::Os => "the operating system refused",
    }
}
