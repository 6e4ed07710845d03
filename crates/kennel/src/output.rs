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
use std::io::Write as _;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::sync::{mpsc, oneshot, watch};

use crate::sys::imp::PipeReader;
use crate::{CapPolicy, Event, OutputCap, StreamReport};

/// Bytes read from a pipe per `read(2)`.
pub const CHUNK_SIZE: usize = 64 * 1024;

/// Events buffered per child before the readers block (see the module docs).
pub const EVENT_CAPACITY: usize = 16;

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
///   [`Event::Exit`] is sent, in the order they were written;
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
        Ok(Self::new(duplicate(&std::io::stdout())?))
    }

    /// Forward to this process's standard error (a duplicate of its descriptor).
    ///
    /// # Errors
    ///
    /// When the descriptor cannot be duplicated.
    pub fn stderr() -> std::io::Result<Self> {
        Ok(Self::new(duplicate(&std::io::stderr())?))
    }
}

#[cfg(unix)]
fn duplicate(stream: &impl std::os::fd::AsFd) -> std::io::Result<File> {
    Ok(File::from(stream.as_fd().try_clone_to_owned()?))
}

#[cfg(windows)]
fn duplicate(stream: &impl std::os::windows::io::AsHandle) -> std::io::Result<File> {
    Ok(File::from(stream.as_handle().try_clone_to_owned()?))
}

/// Which stream a reader serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StreamKind {
    Stdout,
    Stderr,
}

impl StreamKind {
    fn event(self, bytes: Bytes) -> Event {
        match self {
            StreamKind::Stdout => Event::Stdout(bytes),
            StreamKind::Stderr => Event::Stderr(bytes),
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
    pub(crate) error: Option<String>,
}

pub(crate) struct Reader {
    pub(crate) kind: StreamKind,
    pub(crate) pipe: PipeReader,
    pub(crate) tx: mpsc::Sender<Event>,
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

    /// Read chunks and deliver them as events or to the forward destination.
    async fn copy(&mut self, result: &mut ReaderResult, stop: &mut Stopping) {
        let mut limiter = Limiter::new(self.cap.map(|c| c.bytes));
        loop {
            if stop.check(&self.stop) {
                break;
            }
            let stopping = stop.stopping;
            self.state.set(WAITING);
            // The chunk buffer is allocated only once the pipe is readable: a quiet
            // child must not pin CHUNK_SIZE per stream while its reader waits.
            let mut buf = BytesMut::new();
            let read = if stopping {
                read_chunk(&self.pipe, &mut buf)
            } else {
                tokio::select! {
                    biased;
                    ready = self.pipe.readable() => match ready {
                        Ok(()) => read_chunk(&self.pipe, &mut buf),
                        Err(e) => Err(e),
                    },
                    _ = self.stop.wait_for(|stop| *stop) => {
                        stop.stopping = true;
                        continue;
                    }
                }
            };
            let n = match read {
                Ok(0) => {
                    result.eof = true;
                    break;
                }
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if stopping {
                        break;
                    }
                    continue;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    result.error = Some(self.read_failed(result, &e));
                    break;
                }
            };
            stop.took(n);
            let keep = limiter.admit(&buf[..n]);
            if keep < n {
                result.report.cap_hit = true;
                result.report.dropped += (n - keep) as u64;
                if let (Some(cap), Some(tx)) = (self.cap, self.cap_kill.take()) {
                    if cap.policy == CapPolicy::Kill {
                        let _ = tx.send(());
                    } else {
                        self.cap_kill = Some(tx);
                    }
                }
            }
            if keep == 0 {
                continue;
            }
            result.report.bytes += keep as u64;
            // A small read in a 64 KiB buffer would pin the whole buffer while it waits
            // in the channel: copy it out instead.
            let chunk = if keep < CHUNK_SIZE / 4 {
                Bytes::copy_from_slice(&buf[..keep])
            } else {
                buf.truncate(keep);
                buf.freeze()
            };
            self.state.set(SENDING);
            if let Some(forward) = &self.forward {
                if let Err(e) = write_blocking(&forward.file, chunk).await {
                    result.error = Some(self.forward_failed(result, &e));
                    break;
                }
            } else if self.tx.send(self.kind.event(chunk)).await.is_err() {
                // The handle is gone; the supervisor is tearing the tree down.
                break;
            }
        }
    }

    /// Splice the pipe into `dst` until EOF, stop or error; see the module docs.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    async fn splice(
        &mut self,
        dst: &File,
        result: &mut ReaderResult,
        stop: &mut Stopping,
    ) -> Spliced {
        use crate::sys::splice::{at_eof, move_bytes, ready_now, DestinationReady};
        use std::os::fd::AsFd as _;

        // Registered with the runtime the first time the destination is full.
        let mut dst_ready: Option<DestinationReady> = None;
        // Whether to wait for the pipe's readiness before the next splice: only after
        // it was cleared and then seen empty, the one state in which a write is sure
        // to make a new edge.
        let mut wait_source = true;
        loop {
            if stop.check(&self.stop) {
                return Spliced::Done;
            }
            self.state.set(WAITING);
            if wait_source && !stop.stopping {
                let ready = tokio::select! {
                    biased;
                    ready = self.pipe.readable() => ready,
                    _ = self.stop.wait_for(|stop| *stop) => {
                        stop.stopping = true;
                        continue;
                    }
                };
                if let Err(e) = ready {
                    result.error = Some(self.read_failed(result, &e));
                    return Spliced::Done;
                }
            }
            let moved = move_bytes(self.pipe.as_fd(), dst.as_fd());
            match moved {
                Ok(0) => {
                    result.eof = true;
                    return Spliced::Done;
                }
                Ok(n) => {
                    stop.took(n);
                    result.report.bytes += n as u64;
                    // Go again without waiting for readiness: the pipe's readiness
                    // may have been cleared, and a writer that refills a pipe that
                    // was not empty makes no new edge on every kernel. Stay within the
                    // runtime's cooperative budget instead.
                    wait_source = false;
                    tokio::task::coop::consume_budget().await;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    // Clear the pipe's readiness *before* looking at it, so a write
                    // after the look sets it again.
                    let _ = self.pipe.try_io(|| -> std::io::Result<()> {
                        Err(std::io::ErrorKind::WouldBlock.into())
                    });
                    match ready_now(self.pipe.as_fd(), dst.as_fd()) {
                        // Both ready a moment later: go again (the readiness was
                        // cleared, so do not wait for it).
                        Ok((true, true)) => {
                            wait_source = false;
                            tokio::task::yield_now().await;
                        }
                        Ok((false, _)) => {
                            // The pipe is empty (its readiness was cleared before this
                            // check, so a later write wakes us).
                            if stop.stopping {
                                return Spliced::Done;
                            }
                            wait_source = true;
                        }
                        Ok((true, false)) if at_eof(self.pipe.as_fd()) => {
                            // Nothing left to move: the full destination does not matter.
                            result.eof = true;
                            return Spliced::Done;
                        }
                        Ok((true, false)) => {
                            // The destination is full: wait for it as for a consumer.
                            self.state.set(SENDING);
                            let ready =
                                dst_ready.get_or_insert_with(|| DestinationReady::new(dst.as_fd()));
                            if let Err(e) = ready.wait(dst.as_fd()).await {
                                result.error = Some(self.forward_failed(result, &e));
                                return Spliced::Done;
                            }
                            wait_source = false;
                        }
                        Err(e) => {
                            result.error = Some(self.forward_failed(result, &e));
                            return Spliced::Done;
                        }
                    }
                }
                Err(e)
                    if e.kind() == std::io::ErrorKind::InvalidInput && result.report.bytes == 0 =>
                {
                    return Spliced::Unsupported;
                }
                Err(e) => {
                    // The source is a pipe we own: the error is the destination's.
                    result.error = Some(self.forward_failed(result, &e));
                    return Spliced::Done;
                }
            }
        }
    }

    fn read_failed(&self, result: &ReaderResult, e: &std::io::Error) -> String {
        format!(
            "reading {} failed after {} bytes: {e}",
            self.kind.name(),
            result.report.bytes + result.report.dropped
        )
    }

    fn forward_failed(&self, result: &ReaderResult, e: &std::io::Error) -> String {
        let stream = self.kind.name();
        let bytes = result.report.bytes;
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            format!(
                "the reader of the destination of {stream} went away after {bytes} bytes; \
                 {stream} was closed, so the tree's next writes to it fail"
            )
        } else {
            format!(
                "forwarding {stream} failed after {bytes} bytes: {e}; \
                 {stream} was closed, so the tree's next writes to it fail"
            )
        }
    }
}

/// One non-blocking read of up to [`CHUNK_SIZE`] bytes into `buf` (allocated here, when
/// there is something to read).
fn read_chunk(pipe: &PipeReader, buf: &mut BytesMut) -> std::io::Result<usize> {
    buf.reserve(CHUNK_SIZE);
    pipe.try_read_buf(buf)
}

/// Write one chunk to a forward destination on a blocking thread (a terminal or a slow
/// file must not block the runtime; works on a current-thread runtime too). Chunks are
/// written one at a time, in order.
async fn write_blocking(file: &Arc<File>, chunk: Bytes) -> std::io::Result<()> {
    let file = Arc::clone(file);
    tokio::task::spawn_blocking(move || {
        let mut rest = &chunk[..];
        while !rest.is_empty() {
            match (&*file).write(rest) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                // A destination someone made non-blocking: wait a little, as a blocking
                // write would.
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Applies a byte cap without splitting UTF-8 characters.
#[derive(Debug)]
pub(crate) struct Limiter {
    room: Option<u64>,
    /// Continuation bytes still owed to a character whose first bytes were delivered.
    owed: usize,
}

impl Limiter {
    pub(crate) fn new(cap: Option<u64>) -> Self {
        Limiter { room: cap, owed: 0 }
    }

    /// How many leading bytes of `chunk` to deliver.
    pub(crate) fn admit(&mut self, chunk: &[u8]) -> usize {
        let Some(room) = self.room else {
            return chunk.len();
        };
        let keep = if (chunk.len() as u64) <= room {
            chunk.len()
        } else {
            // room < chunk.len() <= usize::MAX, so the cast is lossless.
            let cut = room as usize;
            if cut < self.owed {
                // Finish the character begun in an earlier chunk (≤ 3 bytes over).
                self.owed.min(chunk.len())
            } else {
                utf8_floor(chunk, cut, self.owed)
            }
        };
        self.owed = owed_after(self.owed, &chunk[..keep]);
        // Once anything was dropped the stream is truncated for good: never resume
        // after a gap.
        self.room = Some(if keep < chunk.len() {
            0
        } else {
            room.saturating_sub(keep as u64)
        });
        keep
    }
}

/// Move `cut` back to the start of a UTF-8 character that straddles it (never into the
/// first `owed` bytes, which finish an earlier character).
fn utf8_floor(chunk: &[u8], cut: usize, owed: usize) -> usize {
    for back in 1..=3usize {
        let Some(i) = cut.checked_sub(back) else {
            break;
        };
        if i < owed {
            break;
        }
        let b = chunk[i];
        if b & 0b1100_0000 == 0b1000_0000 {
            continue; // continuation byte: keep looking for the lead
        }
        let len = utf8_len(b);
        return if len > back { i } else { cut };
    }
    cut
}

/// Length of the UTF-8 sequence a lead byte starts (1 for ASCII or invalid leads).
fn utf8_len(lead: u8) -> usize {
    match lead {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => 1,
    }
}

/// Continuation bytes still owed after delivering `delivered`, given `owed` before.
fn owed_after(owed: usize, delivered: &[u8]) -> usize {
    if delivered.len() < owed {
        return owed - delivered.len();
    }
    let tail_start = owed.max(delivered.len().saturating_sub(3));
    for i in (tail_start..delivered.len()).rev() {
        let b = delivered[i];
        if b & 0b1100_0000 == 0b1000_0000 {
            continue;
        }
        let len = utf8_len(b);
        let have = delivered.len() - i;
        return len.saturating_sub(have);
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deliver_all(cap: u64, chunks: &[&[u8]]) -> Vec<u8> {
        let mut limiter = Limiter::new(Some(cap));
        let mut out = Vec::new();
        for chunk in chunks {
            let keep = limiter.admit(chunk);
            out.extend_from_slice(&chunk[..keep]);
        }
        out
    }

    #[test]
    fn no_cap_delivers_everything() {
        let mut limiter = Limiter::new(None);
        assert_eq!(limiter.admit(b"hello"), 5);
    }

    #[test]
    fn ascii_is_cut_exactly_at_the_cap() {
        assert_eq!(deliver_all(7, &[b"hello", b" world"]), b"hello w");
        assert_eq!(deliver_all(5, &[b"hello", b" world"]), b"hello");
    }

    #[test]
    fn a_character_straddling_the_cap_is_left_out() {
        // "aé" = 61 C3 A9; a cap of 2 would split é.
        let out = deliver_all(2, &["aé".as_bytes()]);
        assert_eq!(out, b"a");
        let out = deliver_all(3, &["a€b".as_bytes()]); // € = E2 82 AC
        assert_eq!(out, b"a");
        assert!(std::str::from_utf8(&out).is_ok());
    }

    #[test]
    fn a_character_begun_in_an_earlier_chunk_is_finished() {
        // "€" split across two reads: E2 | 82 AC; the cap falls after E2.
        let out = deliver_all(2, &[b"\xE2", b"\x82\xACzz"]);
        assert_eq!(out, "€".as_bytes());
    }

    #[test]
    fn every_cut_of_text_stays_valid_utf8() {
        let text = "héllo wörld — ∑ 🎉 end".repeat(3);
        let bytes = text.as_bytes();
        for cap in 0..bytes.len() as u64 {
            for split in 1..bytes.len() {
                let (a, b) = bytes.split_at(split);
                let out = deliver_all(cap, &[a, b]);
                assert!(std::str::from_utf8(&out).is_ok(), "cap {cap} split {split}");
                assert!(out.len() as u64 <= cap + 3);
                assert_eq!(&bytes[..out.len()], &out[..]);
            }
        }
    }
}
