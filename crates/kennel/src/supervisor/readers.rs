//! The run loop's side of the output readers: starting them, watching their progress
//! and their `kill` caps, stopping and joining them.

use std::future::Future as _;
use std::pin::Pin;
use std::task::Poll;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::Item;
use crate::given::EofFuture;
use crate::output::{Reader, ReaderResult, ReaderState, StreamKind};
use crate::sys::imp::PipeReader;
use crate::{Forward, OutputCap, RunError, StreamReport};

/// One piped stream to read: the parent's end of the pipe and what the command asked
/// for it.
pub(super) struct Stream {
    pub(super) pipe: PipeReader,
    pub(super) cap: Option<OutputCap>,
    pub(super) forward: Option<Forward>,
}

/// One reader task: its handle until it finished, then its result.
struct ReaderSlot {
    kind: StreamKind,
    handle: Option<JoinHandle<ReaderResult>>,
    result: Option<Result<ReaderResult, tokio::task::JoinError>>,
    state: ReaderState,
}

impl ReaderSlot {
    fn done(&self) -> bool {
        self.handle.as_ref().is_none_or(JoinHandle::is_finished)
    }
}

/// The reader tasks of one child (stdout, stderr).
pub(super) struct Readers {
    pid: u32,
    slots: [Option<ReaderSlot>; 2],
    /// One per reader; fires when its `kill` cap is passed.
    cap_kills: Vec<oneshot::Receiver<()>>,
    stop: watch::Sender<bool>,
}

impl Readers {
    /// Start a reader task for each piped stream (stdout, stderr), sending events into
    /// `tx`, and a watcher for each given stream whose EOF its reader reports (`eofs`):
    /// the drain waits for both alike.
    pub(super) fn start(
        pid: u32,
        tx: &mpsc::Sender<Item>,
        streams: [Option<Stream>; 2],
        eofs: [Option<EofFuture>; 2],
    ) -> Self {
        let (stop, stop_rx) = watch::channel(false);
        let mut cap_kills = Vec::new();
        let mut start = |kind, stream: Option<Stream>, eof: Option<EofFuture>| {
            let state = ReaderState::default();
            let task = match (stream, eof) {
                (Some(stream), _) => {
                    let (cap_tx, cap_rx) = oneshot::channel();
                    cap_kills.push(cap_rx);
                    let reader = Reader {
                        pid,
                        kind,
                        pipe: stream.pipe,
                        tx: tx.clone(),
                        cap: stream.cap,
                        stop: stop_rx.clone(),
                        state: state.clone(),
                        cap_kill: Some(cap_tx),
                        forward: stream.forward,
                    };
                    tokio::spawn(reader.run())
                }
                (None, Some(eof)) => tokio::spawn(watch_eof(eof, stop_rx.clone())),
                (None, None) => return None,
            };
            Some(ReaderSlot {
                kind,
                handle: Some(task),
                result: None,
                state,
            })
        };
        let [stdout, stderr] = streams;
        let [stdout_eof, stderr_eof] = eofs;
        let slots = [
            start(StreamKind::Stdout, stdout, stdout_eof),
            start(StreamKind::Stderr, stderr, stderr_eof),
        ];
        Readers {
            pid,
            slots,
            cap_kills,
            stop,
        }
    }

    /// Every reader has finished (or there is none).
    pub(super) fn done(&self) -> bool {
        self.slots.iter().flatten().all(ReaderSlot::done)
    }

    /// Some reader is blocked delivering to its consumer (not waiting for a holder).
    pub(super) fn delivering(&self) -> bool {
        self.slots
            .iter()
            .flatten()
            .any(|slot| !slot.done() && slot.state.sending())
    }

    /// Tell the readers to take only what is already in their pipes, then end.
    pub(super) fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Resolves when a reader passed a `kill` cap ([`News::CapKill`]) or some reader
    /// finished ([`News::Finished`]).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe (see [`progress`] and [`cap_kill`]).
    pub(super) async fn news(&mut self) -> News {
        tokio::select! {
            _ = cap_kill(&mut self.cap_kills) => News::CapKill,
            _ = progress(&mut self.slots) => News::Finished,
        }
    }

    /// Resolves when a reader passed a `kill` cap (never, if none can).
    pub(super) async fn cap_kill(&mut self) {
        cap_kill(&mut self.cap_kills).await;
    }

    /// Wait for every reader to end; their reports (stdout, stderr) and their errors
    /// go to `errors`.
    pub(super) async fn join(&mut self, errors: &mut Vec<RunError>) -> [StreamReport; 2] {
        let mut reports = [StreamReport::default(), StreamReport::default()];
        for (i, slot) in self.slots.iter_mut().enumerate() {
            let Some(slot) = slot.take() else { continue };
            let result = match (slot.result, slot.handle) {
                (Some(result), _) => result,
                (None, Some(handle)) => handle.await,
                (None, None) => continue,
            };
            match result {
                Ok(result) => {
                    reports[i] = result.report;
                    errors.extend(result.error);
                }
                Err(e) => errors.push(RunError::Reader {
                    pid: self.pid,
                    stream: slot.kind.name(),
                    source: std::sync::Arc::new(e),
                }),
            }
        }
        reports
    }
}

/// A given stream's "reader": it ends when the stream's own reader reports EOF (then
/// as a reader that reached EOF), or when the readers are told to stop. Nothing to
/// count: the bytes went elsewhere.
async fn watch_eof(eof: EofFuture, mut stop: watch::Receiver<bool>) -> ReaderResult {
    let eof_reached = tokio::select! {
        () = eof => true,
        _ = stop.wait_for(|stop| *stop) => false,
    };
    ReaderResult {
        eof: eof_reached,
        ..ReaderResult::default()
    }
}

/// What [`Readers::news`] saw.
pub(super) enum News {
    /// A reader passed a cap with the `kill` policy.
    CapKill,
    /// A reader finished.
    Finished,
}

/// Resolves when some reader finishes (or never, if none is left); its result is kept in
/// its slot, so a finished `JoinHandle` is never polled again.
///
/// # Cancel safety
///
/// Cancel safe: a result is stored as soon as it is ready.
async fn progress(slots: &mut [Option<ReaderSlot>; 2]) {
    if slots.iter().flatten().all(|slot| slot.handle.is_none()) {
        return std::future::pending().await;
    }
    std::future::poll_fn(|cx| {
        for slot in slots.iter_mut().flatten() {
            if let Some(handle) = &mut slot.handle {
                if let Poll::Ready(result) = Pin::new(handle).poll(cx) {
                    slot.handle = None;
                    slot.result = Some(result);
                    return Poll::Ready(());
                }
            }
        }
        Poll::Pending
    })
    .await;
}

/// Resolves when a reader reports that a cap with the `kill` policy was passed (pending
/// forever when no reader can).
///
/// # Cancel safety
///
/// Cancel safe: a receiver is only removed after it resolved.
async fn cap_kill(receivers: &mut Vec<oneshot::Receiver<()>>) {
    loop {
        if receivers.is_empty() {
            return std::future::pending().await;
        }
        let (result, index) = std::future::poll_fn(|cx| {
            for (i, rx) in receivers.iter_mut().enumerate() {
                if let Poll::Ready(r) = Pin::new(rx).poll(cx) {
                    return Poll::Ready((r, i));
                }
            }
            Poll::Pending
        })
        .await;
        receivers.swap_remove(index);
        if result.is_ok() {
            return;
        }
        // That reader finished without passing a kill cap: keep waiting on the others.
    }
}
