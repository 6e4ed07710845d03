//! The cloneable side of the handle: [`Controller`] (stdin, signals, cancel, kill),
//! which talks to the run loop over channels.

use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot, watch, Mutex};
use tokio::time::Instant;

use super::Control;
use crate::sys::imp::PipeWriter;
use crate::{EndReason, Ladder, Signal, SignalError, SignalErrorKind, StdinError, StdinErrorKind};

/// The parent's end of the child's stdin, shared by every handle.
pub(super) enum StdinSlot {
    NotPiped,
    Open(PipeWriter),
    Closed,
}

/// What the handles share with each other (the run loop holds the other ends).
pub(super) struct Shared {
    pub(super) pid: u32,
    pub(super) started: Instant,
    pub(super) ctl: mpsc::UnboundedSender<Control>,
    pub(super) stdin: Arc<Mutex<StdinSlot>>,
    pub(super) finished: watch::Receiver<bool>,
    pub(super) tree_ended: watch::Receiver<bool>,
}

/// A cloneable handle to control a running child from other tasks: stdin, signals,
/// cancel, kill. It does not keep the tree alive: dropping the [`Child`](crate::Child) still kills it.
#[derive(Clone)]
pub struct Controller {
    pub(super) shared: Arc<Shared>,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("pid", &self.shared.pid)
            .finish()
    }
}

impl Controller {
    /// The leader's pid.
    pub fn id(&self) -> u32 {
        self.shared.pid
    }

    /// Run the termination ladder on the whole tree (reason `cancelled`). A second
    /// cancel while the ladder runs jumps to the forceful rung. Does nothing once the
    /// run is over.
    pub fn cancel(&self) {
        let _ = self
            .shared
            .ctl
            .send(Control::Cancel(EndReason::Cancelled, None));
    }

    /// [`cancel`](Self::cancel) with `ladder` instead of the one the command was
    /// given (e.g. a shorter grace for an interactive stop). The outcome's
    /// `ladder_step` then indexes `ladder`. When a ladder is already running, this
    /// jumps to the forceful rung like a second `cancel`, whatever `ladder` says.
    pub fn cancel_with(&self, ladder: Ladder) {
        let _ = self
            .shared
            .ctl
            .send(Control::Cancel(EndReason::Cancelled, Some(ladder)));
    }

    /// Run the ladder because the supervisor is shutting down (reason
    /// `supervisor_shutdown`).
    pub fn shutdown(&self) {
        let _ = self
            .shared
            .ctl
            .send(Control::Cancel(EndReason::SupervisorShutdown, None));
    }

    /// Go straight to the forceful rung (reason `killed`).
    pub fn kill(&self) {
        let _ = self.shared.ctl.send(Control::Kill);
    }

    /// Send `signal` to every process of the tree.
    ///
    /// # Errors
    ///
    /// [`SignalErrorKind::Finished`] once the tree is gone; [`SignalErrorKind::Os`] if
    /// the OS refused; [`SignalErrorKind::Unsupported`] for a signal this platform
    /// cannot deliver.
    pub async fn signal(&self, signal: Signal) -> Result<(), SignalError> {
        let finished = || Err(self.signal_error(signal, SignalErrorKind::Finished, None));
        let mut ended = self.shared.finished.clone();
        let (reply_tx, reply_rx) = oneshot::channel();
        if self
            .shared
            .ctl
            .send(Control::Signal(signal, reply_tx))
            .is_err()
        {
            return finished();
        }
        // The run's end answers too: a request sent while the run drops its control
        // channel can be left in the channel, neither answered nor dropped (tokio's
        // receiver drains the channel once, and this send may land just after), and
        // waiting for its reply alone waited forever. Once the run is over, the tree
        // is gone: `Finished`.
        tokio::select! {
            biased;
            reply = reply_rx => reply.unwrap_or_else(|_| finished()),
            _ = ended.wait_for(|f| *f) => finished(),
        }
    }

    fn signal_error(
        &self,
        signal: Signal,
        kind: SignalErrorKind,
        source: Option<std::io::Error>,
    ) -> SignalError {
        SignalError {
            pid: self.shared.pid,
            signal,
            kind,
            elapsed: self.shared.started.elapsed(),
            source,
        }
    }

    /// Write all of `data` to the child's stdin.
    ///
    /// # Errors
    ///
    /// A [`StdinError`] when stdin is not piped or closed, when the child stopped
    /// reading (`BrokenPipe`), or when the run ended while the write was blocked
    /// (`Finished`) — a child that never reads cannot deadlock the caller past the end
    /// of the run.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future may leave part of `data` written.
    pub async fn write_stdin(&self, data: &[u8]) -> Result<(), StdinError> {
        let mut finished = self.shared.finished.clone();
        let mut slot = tokio::select! {
            slot = self.shared.stdin.lock() => slot,
            _ = finished.wait_for(|f| *f) => {
                return Err(self.stdin_error(StdinErrorKind::Finished, 0, data.len(), None));
            }
        };
        let writer = match &mut *slot {
            StdinSlot::Open(writer) => writer,
            StdinSlot::NotPiped => {
                return Err(self.stdin_error(StdinErrorKind::NotPiped, 0, data.len(), None))
            }
            StdinSlot::Closed => {
                return Err(self.stdin_error(StdinErrorKind::Closed, 0, data.len(), None))
            }
        };
        let mut written = 0;
        while written < data.len() {
            let result = tokio::select! {
                biased;
                r = writer.write(&data[written..]) => r,
                _ = finished.wait_for(|f| *f) => {
                    return Err(self.stdin_error(StdinErrorKind::Finished, written, data.len(), None));
                }
            };
            match result {
                Ok(0) => {
                    return Err(self.stdin_error(
                        StdinErrorKind::BrokenPipe,
                        written,
                        data.len(),
                        None,
                    ))
                }
                Ok(n) => written += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let kind = if e.kind() == std::io::ErrorKind::BrokenPipe {
                        StdinErrorKind::BrokenPipe
                    } else {
                        StdinErrorKind::Io
                    };
                    return Err(self.stdin_error(kind, written, data.len(), Some(e)));
                }
            }
        }
        Ok(())
    }

    /// Close the child's stdin (it reads EOF).
    ///
    /// # Errors
    ///
    /// When stdin is not piped or was already closed.
    pub async fn close_stdin(&self) -> Result<(), StdinError> {
        let mut slot = self.shared.stdin.lock().await;
        match std::mem::replace(&mut *slot, StdinSlot::Closed) {
            StdinSlot::Open(_) => Ok(()),
            StdinSlot::NotPiped => {
                *slot = StdinSlot::NotPiped;
                Err(self.stdin_error(StdinErrorKind::NotPiped, 0, 0, None))
            }
            StdinSlot::Closed => Err(self.stdin_error(StdinErrorKind::Closed, 0, 0, None)),
        }
    }

    fn stdin_error(
        &self,
        kind: StdinErrorKind,
        written: usize,
        len: usize,
        source: Option<std::io::Error>,
    ) -> StdinError {
        StdinError {
            pid: self.shared.pid,
            kind,
            written,
            len,
            elapsed: self.shared.started.elapsed(),
            source,
        }
    }

    /// Whether the outcome is final.
    pub fn is_finished(&self) -> bool {
        *self.shared.finished.borrow()
    }

    /// Resolves once the run has ended the tree: every process of it is gone (or, with
    /// `keep_leftovers`, was left to run on its own), so nothing more will be written
    /// to its pipes. What remains is delivering what the tree wrote before it ended —
    /// a bounded amount (the pipes' contents, the event channel's
    /// [`EVENT_CAPACITY`](crate::EVENT_CAPACITY) chunks, one chunk in flight) — and then the `Exit` event.
    ///
    /// A consumer that holds output back (the sidecar's flow control) can stop holding
    /// it back from here on without unbounded memory, so a `kill` or `cancel` of a
    /// child whose output nobody reads still completes. Resolves at once when the run
    /// is over.
    pub async fn tree_ended(&self) {
        let mut ended = self.shared.tree_ended.clone();
        // An error means the supervisor is gone, which also ends the tree.
        let _ = ended.wait_for(|e| *e).await;
    }
}
