//! Output readers: one task per piped stream, feeding a bounded channel.
//!
//! # Why a bounded channel of 16 chunks
//!
//! Each reader reads at most [`CHUNK_SIZE`] (64 KiB, one default Linux pipe buffer) at a
//! time and sends it into the child's event channel, which holds [`EVENT_CAPACITY`] (16)
//! events. A consumer that stops reading therefore costs at most 16 × 64 KiB = 1 MiB per
//! child plus the kernel's pipe buffers; after that the reader blocks in `send`, stops
//! draining the pipe, and the child blocks in `write(2)` — backpressure reaches the
//! producer instead of growing memory. 16 keeps the reader a few scheduling quanta ahead
//! of a consumer that briefly stalls (a JSON encoder, a slow terminal) without making an
//! idle child cost anything: buffers are allocated only when data is readable, so a
//! thousand quiet children hold no chunk memory at all.
//!
//! Readers never abort on an error: a read error is recorded in the report and treated
//! as EOF (the `FusedBufReader` habit from nextest), so the drain always finishes.
//!
//! # Forwarded streams
//!
//! A stream given a [`Forward`] destination is not turned into events: its reader moves
//! the bytes to the destination itself, with `splice(2)` on Linux (the kernel moves pipe
//! pages; no copy through user space, no second thread), else by the same read loop
//! that makes events, writing each chunk on a blocking thread. Why `splice` on the
//! reader task rather than a dedicated thread: the reader already waits on the pipe's
//! readiness in tokio, both calls are non-blocking (`SPLICE_F_NONBLOCK`), and a full
//! destination is awaited as readiness too, so nothing blocks a runtime thread, the
//! drain timeout and the ladder keep running, and the stop signal is seen as for any
//! reader. Everything else is shared with event delivery: the byte count, the final
//! non-blocking drain, and the rule that a reader blocked on its consumer (here the
//! destination) is "delivering", not "waiting for a holder".
//!
//! `splice` needs to see no bytes, so it is used only when the stream has no cap (a cap
//! cuts on a UTF-8 boundary, which needs the bytes). It is tried per stream at run time:
//! `EINVAL` on the first call (a terminal, a file opened with `O_APPEND`, a socket type
//! without splice support) switches that stream to copying for the rest of the run.

use std::fs::File;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, watch};

use crate::supervisor::Item;
use crate::sys::imp::PipeReader;
use crate::{OutputCap, OutputMode, RunError, StreamReport};

mod copy;
mod limit;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod splice;

/// Bytes read from a pipe per `read(2)`.
pub const CHUNK_SIZE: usize = 64 * 1024;

/// Events buffered per child before the readers block (see the module docs).
pub const EVENT_CAPACITY: usize = 16;

/// One output stream's settings: where it goes and its cap.
#[derive(Clone, Debug, Default)]
pub(crate) struct OutputSpec {
    pub(crate) to: OutputTarget,
    pub(crate) cap: Option<OutputCap>,
}

/// Where an output stream goes: a mode, or forwarded (a pipe whose bytes are copied
/// to a destination instead of delivered as events). Setting one replaces the other.
#[derive(Clone, Debug)]
pub(crate) enum OutputTarget {
    Mode(OutputMode),
    Forward(Forward),
}

impl Default for OutputTarget {
    fn default() -> Self {
        OutputTarget::Mode(OutputMode::default())
    }
}

impl From<OutputMode> for OutputTarget {
    fn from(mode: OutputMode) -> Self {
        OutputTarget::Mode(mode)
    }
}

impl From<Forward> for OutputTarget {
    fn from(dest: Forward) -> Self {
        OutputTarget::Forward(dest)
    }
}

impl OutputSpec {
    /// What the child's end of the stream is: a forwarded stream is piped.
    pub(crate) fn mode(&self) -> OutputMode {
        match self.to {
            OutputTarget::Mode(mode) => mode,
            OutputTarget::Forward(_) => OutputMode::Piped,
        }
    }

    /// Where the stream is forwarded, if it is.
    pub(crate) fn forward(&self) -> Option<&Forward> {
        match &self.to {
            OutputTarget::Mode(_) => None,
            OutputTarget::Forward(dest) => Some(dest),
        }
    }
}

/// How much a stopping reader still drains from the pipe without blocking, so bytes the
/// tree wrote before it died are delivered even when an escaped holder keeps the pipe.
const FINAL_DRAIN_LIMIT: usize = 1024 * 1024;

/// Where a forwarded stream's bytes go: a file, a pipe, a socket, a terminal… (see
/// [`Command::forward_stdout`](crate::Command::forward_stdout)).
///
/// On Linux, the bytes are moved with `splice(2)` from the child's pipe to the
/// destination, so forwarding costs about what the child writing there directly would.
/// Where the destination cannot take a splice (a terminal, a file opened with
/// `O_APPEND`, any destination on other platforms) or the stream has a cap, they are
/// read and written like any other output, with the write on a blocking thread so a
/// slow destination never blocks the runtime. Either way:
///
/// - every byte is counted in the stream's [`StreamReport`], and caps apply exactly as
///   for events (with a cap, the bytes are copied so the cut can respect UTF-8);
/// - a destination that is full (its reader is slow) is backpressure, as in a shell
///   pipeline: the child blocks once its own pipe is full too, and the drain does not
///   time out on it (the wait is for the destination, not for a pipe holder);
/// - bytes the tree wrote before the run ended are written to the destination before
///   [`Event::Exit`](crate::Event::Exit) is sent, in the order they were written;
/// - when the destination fails (its reader went away: `EPIPE`, or a write error), the
///   error is recorded in [`Outcome::errors`](crate::Outcome::errors) and kennel closes
///   its end of the child's pipe, so the tree's next writes fail with `EPIPE`/`SIGPIPE`
///   as they would writing to the destination directly.
///
/// kennel writes through its own handle to the destination: a duplicate for
/// [`Forward::stdout`]/[`Forward::stderr`], the given file otherwise. Do not set
/// `O_NONBLOCK` on a destination shared with other writers; kennel never changes its
/// flags.
#[derive(Clone, Debug)]
pub struct Forward {
    file: Arc<File>,
    pipe_size: Option<usize>,
}

impl Forward {
    /// Forward to `file` (anything that converts into a [`File`]: an `OwnedFd` or
    /// `OwnedHandle`, a pipe's write end, a socket's descriptor…).
    pub fn new(file: impl Into<File>) -> Self {
        Forward {
            file: Arc::new(file.into()),
            pipe_size: None,
        }
    }

    /// Ask the kernel to make the child's pipe for this stream `bytes` big (Linux,
    /// `F_SETPIPE_SZ`; best effort, ignored elsewhere). A bigger pipe lets the child run
    /// further ahead of a full destination and lets each `splice` move more: 1 MiB
    /// took `kennel run`'s passthrough from ~0.7× to ~0.83× of a direct pipe. Off by
    /// default because pipe memory counts against the user's `pipe-user-pages-soft`
    /// quota (64 MiB by default): once it is spent, every new pipe of the user is
    /// limited to a page or two. Use it for a few big streams, not for every child.
    #[must_use]
    pub fn pipe_size(mut self, bytes: usize) -> Self {
        self.pipe_size = Some(bytes);
        self
    }

    /// Forward to this process's standard output (a duplicate of its descriptor, so
    /// later changes to `std::io::stdout` do not matter).
    ///
    /// # Errors
    ///
    /// When the descriptor cannot be duplicated (no stdout, or out of descriptors).
    pub fn stdout() -> std::io::Result<Self> {
        Ok(Self::new(crate::sys::imp::duplicate(&std::io::stdout())?))
    }

    /// Forward to this process's standard error (a duplicate of its descriptor).
    ///
    /// # Errors
    ///
    /// When the descriptor cannot be duplicated.
    pub fn stderr() -> std::io::Result<Self> {
        Ok(Self::new(crate::sys::imp::duplicate(&std::io::stderr())?))
    }
}

/// Which stream a reader serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StreamKind {
    Stdout,
    Stderr,
}

impl StreamKind {
    fn event(self, bytes: Bytes) -> Item {
        match self {
            StreamKind::Stdout => Item::Stdout(bytes),
            StreamKind::Stderr => Item::Stderr(bytes),
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            StreamKind::Stdout => "stdout",
            StreamKind::Stderr => "stderr",
        }
    }
}

/// What a reader is doing, observed by the supervisor at the drain deadline: a reader
/// that is blocked delivering to a slow consumer is not "waiting for a pipe holder".
#[derive(Clone, Debug, Default)]
pub(crate) struct ReaderState(Arc<AtomicU8>);

const WAITING: u8 = 0;
const SENDING: u8 = 1;
const DONE: u8 = 2;

impl ReaderState {
    fn set(&self, v: u8) {
        self.0.store(v, Ordering::Release);
    }

    /// Blocked in `send` to the consumer.
    pub(crate) fn sending(&self) -> bool {
        self.0.load(Ordering::Acquire) == SENDING
    }
}

/// The end of one reader.
#[derive(Debug, Default)]
pub(crate) struct ReaderResult {
    pub(crate) report: StreamReport,
    /// Reached EOF (as opposed to being stopped or losing its consumer).
    pub(crate) eof: bool,
    pub(crate) error: Option<RunError>,
}

pub(crate) struct Reader {
    /// The leader's pid (the context of the errors).
    pub(crate) pid: u32,
    pub(crate) kind: StreamKind,
    pub(crate) pipe: PipeReader,
    pub(crate) tx: mpsc::Sender<Item>,
    pub(crate) cap: Option<OutputCap>,
    pub(crate) stop: watch::Receiver<bool>,
    pub(crate) state: ReaderState,
    /// Fired once when a cap with the `kill` policy is passed.
    pub(crate) cap_kill: Option<oneshot::Sender<()>>,
    /// Forward the bytes there instead of sending events.
    pub(crate) forward: Option<Forward>,
}

/// Where the reader stands in stopping: once the supervisor says stop, the reader only
/// takes what is already in the pipe, at most [`FINAL_DRAIN_LIMIT`].
#[derive(Debug, Default)]
struct Stopping {
    stopping: bool,
    final_drained: usize,
}

impl Stopping {
    /// Notice the stop signal; `true` when the reader must end now.
    fn check(&mut self, stop: &watch::Receiver<bool>) -> bool {
        if !self.stopping && *stop.borrow() {
            self.stopping = true;
        }
        self.stopping && self.final_drained >= FINAL_DRAIN_LIMIT
    }

    fn took(&mut self, n: usize) {
        if self.stopping {
            self.final_drained += n;
        }
    }
}

/// How a splice loop ended.
#[cfg(any(target_os = "linux", target_os = "android"))]
enum Spliced {
    /// The stream is done (EOF, stop, or a recorded error).
    Done,
    /// The destination takes no splice: copy instead.
    Unsupported,
}

impl Reader {
    pub(crate) async fn run(mut self) -> ReaderResult {
        let mut result = ReaderResult::default();
        let mut stop = Stopping::default();
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Some(bytes) = self.forward.as_ref().and_then(|f| f.pipe_size) {
            use std::os::fd::AsFd as _;
            crate::sys::splice::resize_pipe(self.pipe.as_fd(), bytes);
        }
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if self.cap.is_none() {
            if let Some(forward) = self.forward.clone() {
                if let Spliced::Done = self.splice(&forward.file, &mut result, &mut stop).await {
                    self.state.set(DONE);
                    return result;
                }
                tracing::debug!(
                    stream = self.kind.name(),
                    "the forward destination takes no splice; copying"
                );
            }
        }
        self.copy(&mut result, &mut stop).await;
        self.state.set(DONE);
        result
    }

    fn read_failed(&self, result: &ReaderResult, e: std::io::Error) -> RunError {
        RunError::Read {
            pid: self.pid,
            stream: self.kind.name(),
            bytes: result.report.bytes + result.report.dropped,
            source: Arc::new(e),
        }
    }

    fn forward_failed(&self, result: &ReaderResult, e: std::io::Error) -> RunError {
        let (pid, stream, bytes) = (self.pid, self.kind.name(), result.report.bytes);
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            RunError::DestinationGone { pid, stream, bytes }
        } else {
            RunError::Forward {
                pid,
                stream,
                bytes,
                source: Arc::new(e),
            }
        }
    }
}
