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

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

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
}

impl Reader {
    pub(crate) async fn run(mut self) -> ReaderResult {
        let mut result = ReaderResult::default();
        let mut limiter = Limiter::new(self.cap.map(|c| c.bytes));
        let mut stopping = false;
        let mut final_drained = 0usize;
        loop {
            if !stopping && *self.stop.borrow() {
                stopping = true;
            }
            if stopping && final_drained >= FINAL_DRAIN_LIMIT {
                break;
            }
            self.state.set(WAITING);
            let mut buf = BytesMut::with_capacity(CHUNK_SIZE);
            let read = if stopping {
                self.pipe.try_read_buf(&mut buf)
            } else {
                tokio::select! {
                    biased;
                    ready = self.pipe.readable() => match ready {
                        Ok(()) => self.pipe.try_read_buf(&mut buf),
                        Err(e) => Err(e),
                    },
                    _ = self.stop.wait_for(|stop| *stop) => {
                        stopping = true;
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
                    result.error = Some(format!(
                        "reading {} failed after {} bytes: {e}",
                        self.kind.name(),
                        result.report.bytes + result.report.dropped
                    ));
                    break;
                }
            };
            if stopping {
                final_drained += n;
            }
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
            if self.tx.send(self.kind.event(chunk)).await.is_err() {
                // The handle is gone; the supervisor is tearing the tree down.
                break;
            }
        }
        self.state.set(DONE);
        result
    }
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
