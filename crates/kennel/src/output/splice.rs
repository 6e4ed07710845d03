//! Forwarding with `splice(2)` (Linux): the kernel moves the pipe's pages to the
//! destination; see the parent module's docs for why it runs on the reader task.

use std::fs::File;
use std::os::fd::AsFd as _;

use super::{Reader, ReaderResult, Spliced, Stopping, SENDING, WAITING};
use crate::sys::splice::{at_eof, move_bytes, ready_now, DestinationReady};

/// What the splice loop does after one step.
enum Next {
    /// Wait for the pipe's readiness before the next splice: only after it was cleared
    /// and then seen empty, the one state in which a write is sure to make a new edge.
    Wait,
    /// Splice again without waiting for readiness.
    Go,
    /// Keep the current choice (an interrupted call).
    Same,
    /// The loop is over.
    End(Spliced),
}

impl Reader {
    /// Splice the pipe into `dst` until EOF, stop or error; see the module docs.
    pub(super) async fn splice(
        &mut self,
        dst: &File,
        result: &mut ReaderResult,
        stop: &mut Stopping,
    ) -> Spliced {
        // Registered with the runtime the first time the destination is full.
        let mut dst_ready: Option<DestinationReady> = None;
        let mut wait_source = true;
        loop {
            if stop.check(&self.stop) {
                return Spliced::Done;
            }
            self.state.set(WAITING);
            if wait_source && !stop.stopping {
                match self.source_ready(result, stop).await {
                    Next::Go => {}
                    Next::End(spliced) => return spliced,
                    Next::Wait | Next::Same => continue,
                }
            }
            let next = match move_bytes(self.pipe.as_fd(), dst.as_fd()) {
                Ok(0) => {
                    result.eof = true;
                    Next::End(Spliced::Done)
                }
                Ok(n) => {
                    stop.took(n);
                    result.report.bytes += n as u64;
                    // Go again without waiting for readiness: the pipe's readiness
                    // may have been cleared, and a writer that refills a pipe that
                    // was not empty makes no new edge on every kernel. Stay within the
                    // runtime's cooperative budget instead.
                    tokio::task::coop::consume_budget().await;
                    Next::Go
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Next::Same,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    self.blocked(dst, &mut dst_ready, result, stop).await
                }
                Err(e)
                    if e.kind() == std::io::ErrorKind::InvalidInput && result.report.bytes == 0 =>
                {
                    Next::End(Spliced::Unsupported)
                }
                Err(e) => {
                    // The source is a pipe we own: the error is the destination's.
                    result.error = Some(self.forward_failed(result, e));
                    Next::End(Spliced::Done)
                }
            };
            match next {
                Next::Wait => wait_source = true,
                Next::Go => wait_source = false,
                Next::Same => {}
                Next::End(spliced) => return spliced,
            }
        }
    }

    /// Wait for the pipe to be readable: [`Next::Go`] once it is, [`Next::Same`] when
    /// the stop signal came first (the loop looks at it again), [`Next::End`] on error.
    async fn source_ready(&mut self, result: &mut ReaderResult, stop: &mut Stopping) -> Next {
        let ready = tokio::select! {
            biased;
            ready = self.pipe.readable() => ready,
            _ = self.stop.wait_for(|stop| *stop) => {
                stop.stopping = true;
                return Next::Same;
            }
        };
        match ready {
            Ok(()) => Next::Go,
            Err(e) => {
                result.error = Some(self.read_failed(result, e));
                Next::End(Spliced::Done)
            }
        }
    }

    /// `splice` would block: find out whether the pipe is empty or the destination
    /// full, and wait for the destination as for a consumer.
    async fn blocked(
        &mut self,
        dst: &File,
        dst_ready: &mut Option<DestinationReady>,
        result: &mut ReaderResult,
        stop: &Stopping,
    ) -> Next {
        // Clear the pipe's readiness *before* looking at it, so a write after the look
        // sets it again.
        let _ = self
            .pipe
            .try_io(|| -> std::io::Result<()> { Err(std::io::ErrorKind::WouldBlock.into()) });
        match ready_now(self.pipe.as_fd(), dst.as_fd()) {
            // Both ready a moment later: go again (the readiness was cleared, so do not
            // wait for it).
            Ok((true, true)) => {
                tokio::task::yield_now().await;
                Next::Go
            }
            // The pipe is empty (its readiness was cleared before this check, so a later
            // write wakes us).
            Ok((false, _)) if stop.stopping => Next::End(Spliced::Done),
            Ok((false, _)) => Next::Wait,
            Ok((true, false)) if at_eof(self.pipe.as_fd()) => {
                // Nothing left to move: the full destination does not matter.
                result.eof = true;
                Next::End(Spliced::Done)
            }
            Ok((true, false)) => {
                // The destination is full: wait for it as for a consumer.
                self.state.set(SENDING);
                let ready = dst_ready.get_or_insert_with(|| DestinationReady::new(dst.as_fd()));
                if let Err(e) = ready.wait(dst.as_fd()).await {
                    result.error = Some(self.forward_failed(result, e));
                    return Next::End(Spliced::Done);
                }
                Next::Go
            }
            Err(e) => {
                result.error = Some(self.forward_failed(result, e));
                Next::End(Spliced::Done)
            }
        }
    }
}
