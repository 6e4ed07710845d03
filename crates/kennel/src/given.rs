//! Output streams handed to the child as they are: kennel neither reads nor counts them.

use std::future::Future;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};

use crate::{Command, OutputMode};

/// The `given_*` setters: `name(Stream)` hands `stdio` to the stream as it is,
/// `name(Stream, eof)` also lets the drain wait for `eof`; both through
/// [`Command::give`].
macro_rules! given_setters {
    ($($(#[$doc:meta])* $name:ident($out:ident $(, $eof:ident)?);)*) => {$(
        $(#[$doc])*
        pub fn $name(
            self,
            stdio: impl Into<Stdio>,
            $($eof: impl Future<Output = ()> + Send + 'static,)?
        ) -> Self {
            self.give(Out::$out, stdio.into(), given_setters!(@eof $($eof)?))
        }
    )*};
    (@eof) => { None };
    (@eof $eof:ident) => { GivenEof::new($eof) };
}

impl Command {
    given_setters! {
        /// Connect stdout to `stdio` as it is — a file, a pipe's write end, a FIFO — so the
        /// tree writes straight into it and kennel reads nothing (as with
        /// [`OutputMode::Inherit`]: no events, no byte counts, no caps, and the drain
        /// does not wait for it). A descendant holding it after the leader exits is
        /// ended by the teardown of leftovers, unless leftovers are kept. Replaces an
        /// earlier [`Command::stdout`] or [`Command::forward_stdout`].
        ///
        /// The `Stdio` is taken by the first spawn: a clone of this command spawned later
        /// fails with `InvalidInput` (a `Stdio` cannot be copied).
        given_stdout(Stdout);

        /// Connect stderr to `stdio` as it is, as [`Command::given_stdout`] does for stdout.
        given_stderr(Stderr);

        /// Connect stdout to `stdio` as [`Command::given_stdout`] does, and let the drain
        /// wait for `eof` as it waits for a piped stream's EOF: for a stream that someone
        /// else reads (a socket whose other end is another process's) and who reports
        /// when it reached EOF. After the leader exits, descendants that still hold the
        /// stream run on until `eof` resolves, at most the drain timeout; then the
        /// teardown ends them (`drain: "timeout"` if `eof` had not resolved), and the run
        /// waits a short moment more for `eof` before it reports. `eof` is dropped
        /// unresolved when the run no longer needs it. The outcome counts no bytes for
        /// the stream.
        given_stdout_with_eof(Stdout, eof);

        /// Connect stderr to `stdio` and let the drain wait for `eof`, as
        /// [`Command::given_stdout_with_eof`] does for stdout.
        given_stderr_with_eof(Stderr, eof);
    }

    /// The four `given_*` setters: `stdio` for the stream `out` (not read by kennel), and
    /// the report of its EOF the drain waits for, if any.
    fn give(self, out: Out, stdio: Stdio, eof: Option<GivenEof>) -> Self {
        let slot = crate::sys::Given::slot(stdio);
        let mut cmd = match out {
            Out::Stdout => self.stdout(OutputMode::Inherit),
            Out::Stderr => self.stderr(OutputMode::Inherit),
        };
        let given = &mut cmd.given;
        let (slot_of, eof_of) = match out {
            Out::Stdout => (&mut given.stdout, &mut given.stdout_eof),
            Out::Stderr => (&mut given.stderr, &mut given.stderr_eof),
        };
        *slot_of = slot;
        *eof_of = eof;
        cmd
    }
}

/// Which output stream a `given_*` setter fills.
#[derive(Clone, Copy)]
enum Out {
    Stdout,
    Stderr,
}

/// A given stream's EOF as its reader reports it ([`Command::given_stdout_with_eof`]),
/// taken by the first spawn (a future cannot be copied: a clone of the command shares
/// it, as it shares the given `Stdio`).
#[derive(Clone)]
pub(crate) struct GivenEof(Arc<Mutex<Option<EofFuture>>>);

/// What [`GivenEof`] holds.
pub(crate) type EofFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

impl GivenEof {
    fn new(eof: impl Future<Output = ()> + Send + 'static) -> Option<GivenEof> {
        Some(GivenEof(Arc::new(Mutex::new(Some(Box::pin(eof))))))
    }

    /// The future, unless a spawn took it already.
    pub(crate) fn take(&self) -> Option<EofFuture> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

impl std::fmt::Debug for GivenEof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GivenEof")
    }
}

/// Create a FIFO (named pipe) at `path` with permissions `mode` (masked by the umask),
/// e.g. to hand its write end to a child with [`Command::given_stdout`]. Fails with
/// `AlreadyExists` if anything is there.
///
/// # Platform-specific behavior
///
/// Unix only (`mkfifo(3)`); Windows has no FIFOs in the file system.
#[cfg(unix)]
pub fn make_fifo(path: &std::path::Path, mode: u32) -> std::io::Result<()> {
    crate::sys::imp::fifo::mkfifo(path, mode)
}
