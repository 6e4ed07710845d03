//! Output streams handed to the child as they are: kennel neither reads nor counts them.

use std::process::Stdio;

use crate::{Command, OutputMode};

impl Command {
    /// Connect stdout to `stdio` as it is — a file, a pipe's write end, a FIFO — so the
    /// tree writes straight into it and kennel reads nothing (as with
    /// [`OutputMode::Inherit`]: no events, no byte counts, no caps, and the drain
    /// does not wait for it). A descendant holding it after the leader exits is
    /// ended by the teardown of leftovers, unless leftovers are kept. Replaces an
    /// earlier [`Command::stdout`] or [`Command::forward_stdout`].
    ///
    /// The `Stdio` is taken by the first spawn: a clone of this command spawned later
    /// fails with `InvalidInput` (a `Stdio` cannot be copied).
    pub fn given_stdout(mut self, stdio: impl Into<Stdio>) -> Self {
        self = self.stdout(OutputMode::Inherit);
        self.given.stdout = crate::sys::Given::slot(stdio.into());
        self
    }

    /// Connect stderr to `stdio` as it is, as [`Command::given_stdout`] does for stdout.
    pub fn given_stderr(mut self, stdio: impl Into<Stdio>) -> Self {
        self = self.stderr(OutputMode::Inherit);
        self.given.stderr = crate::sys::Given::slot(stdio.into());
        self
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
