//! The read loop: chunks from the pipe, delivered as events or written to a forward
//! destination on a blocking thread.

use std::fs::File;
use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};

use super::limit::Limiter;
use super::{Reader, ReaderResult, Stopping, CHUNK_SIZE, SENDING, WAITING};
use crate::sys::imp::PipeReader;
use crate::CapPolicy;

/// What one read gave.
enum Read {
    /// This many bytes are in the buffer.
    Bytes(usize),
    /// Nothing this time: look at the stop signal and go again.
    Again,
    /// The stream is over (EOF, a recorded error, or nothing left while stopping).
    End,
}

impl Reader {
    /// Read chunks and deliver them as events or to the forward destination.
    pub(super) async fn copy(&mut self, result: &mut ReaderResult, stop: &mut Stopping) {
        let mut limiter = Limiter::new(self.cap.map(|c| c.bytes));
        loop {
            if stop.check(&self.stop) {
                break;
            }
            // The chunk buffer is allocated only once the pipe is readable: a quiet
            // child must not pin CHUNK_SIZE per stream while its reader waits.
            let mut buf = BytesMut::new();
            let n = match self.read_some(&mut buf, result, stop).await {
                Read::Bytes(n) => n,
                Read::Again => continue,
                Read::End => break,
            };
            stop.took(n);
            let keep = self.admit(&mut limiter, &buf[..n], result);
            if keep == 0 {
                continue;
            }
            result.report.bytes += keep as u64;
            if !self.deliver(chunk_of(buf, keep), result).await {
                break;
            }
        }
    }

    /// Wait for the pipe (unless stopping: then only what is already there) and read.
    async fn read_some(
        &mut self,
        buf: &mut BytesMut,
        result: &mut ReaderResult,
        stop: &mut Stopping,
    ) -> Read {
        let stopping = stop.stopping;
        self.state.set(WAITING);
        let read = if stopping {
            read_chunk(&self.pipe, buf)
        } else {
            tokio::select! {
                biased;
                ready = self.pipe.readable() => match ready {
                    Ok(()) => read_chunk(&self.pipe, buf),
                    Err(e) => Err(e),
                },
                _ = self.stop.wait_for(|stop| *stop) => {
                    stop.stopping = true;
                    return Read::Again;
                }
            }
        };
        match read {
            Ok(0) => {
                result.eof = true;
                Read::End
            }
            Ok(n) => Read::Bytes(n),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if stopping {
                    Read::End
                } else {
                    Read::Again
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Read::Again,
            Err(e) => {
                result.error = Some(self.read_failed(result, e));
                Read::End
            }
        }
    }

    /// Apply the cap to `bytes`: how many to deliver. Passing a `kill` cap tells the
    /// supervisor (once).
    fn admit(&mut self, limiter: &mut Limiter, bytes: &[u8], result: &mut ReaderResult) -> usize {
        let keep = limiter.admit(bytes);
        if keep < bytes.len() {
            result.report.cap_hit = true;
            result.report.dropped += (bytes.len() - keep) as u64;
            if let (Some(cap), Some(tx)) = (self.cap, self.cap_kill.take()) {
                if cap.policy == CapPolicy::Kill {
                    let _ = tx.send(());
                } else {
                    self.cap_kill = Some(tx);
                }
            }
        }
        keep
    }

    /// Hand one chunk to the consumer or the destination; `false` when the stream must
    /// end (the destination failed, or the handle is gone).
    async fn deliver(&mut self, chunk: Bytes, result: &mut ReaderResult) -> bool {
        self.state.set(SENDING);
        if let Some(forward) = &self.forward {
            if let Err(e) = write_blocking(&forward.file, chunk).await {
                result.error = Some(self.forward_failed(result, e));
                return false;
            }
            true
        } else {
            // An error means the handle is gone; the supervisor is tearing the tree down.
            self.tx.send(self.kind.event(chunk)).await.is_ok()
        }
    }
}

/// The first `keep` bytes of `buf` as a chunk. A small read in a 64 KiB buffer would pin
/// the whole buffer while it waits in the channel: it is copied out instead.
fn chunk_of(mut buf: BytesMut, keep: usize) -> Bytes {
    if keep < CHUNK_SIZE / 4 {
        Bytes::copy_from_slice(&buf[..keep])
    } else {
        buf.truncate(keep);
        buf.freeze()
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
