//! The tasks of one child: the **forwarder**, which turns the library's events into
//! protocol events, and the **stdin writer**, which performs `write`/`close_stdin` in
//! order.
//!
//! The forwarder owns the [`kennel::Child`]: output chunks go through one
//! [`Chunker`] per stream (or, with `"framing": "binary"`, become one binary frame
//! each) and onto the data lane (waiting while it is full — that is the
//! backpressure path). On the outcome it flushes the chunkers, stops the stdin writer
//! and waits for it and for pending `signal` answers, so every event about the child is
//! queued before its `exit`, which is queued last.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use kennel::Controller;
use kennel_protocol::{
    encode_frame_header, AckEvent, Chunker, ErrorCode, Event, FrameError, FrameStream, Framing,
    OutputChunk, OutputStream, WrittenEvent,
};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::convert::{exit_event, request_error};
use super::flow::Windows;
use super::hub::{Hub, Out};

mod in_flight;
pub(crate) use in_flight::InFlight;

/// Work for a child's stdin writer.
#[derive(Debug)]
pub(crate) enum StdinJob {
    /// Write these bytes, then report `written` (or an error), echoing the `req` tag.
    Write(Vec<u8>, Option<String>),
    /// Close stdin after the writes before it; with a `req` tag, then `ack` it.
    Close(Option<String>),
}

/// The request loop's side of a child's stdin writer.
pub(crate) struct StdinHandle {
    /// Jobs, in request order. Unbounded in count, bounded in bytes by `queued`.
    pub(crate) tx: mpsc::UnboundedSender<StdinJob>,
    /// Bytes queued and not yet written (or failed).
    pub(crate) queued: Arc<AtomicUsize>,
}

/// The forwarder's side of a child's stdin writer.
pub(crate) struct StdinTask {
    stop: oneshot::Sender<()>,
    handle: JoinHandle<()>,
}

/// Starts the stdin writer of a child.
pub(crate) fn start_stdin(
    hub: Arc<Hub>,
    id: String,
    controller: Controller,
    total: Arc<AtomicUsize>,
) -> (StdinHandle, StdinTask) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = oneshot::channel();
    let queued = Arc::new(AtomicUsize::new(0));
    let writer = StdinWriter {
        hub,
        id,
        controller,
        queued: queued.clone(),
        total,
    };
    let handle = tokio::spawn(writer.run(rx, stop_rx));
    (
        StdinHandle { tx, queued },
        StdinTask {
            stop: stop_tx,
            handle,
        },
    )
}

struct StdinWriter {
    hub: Arc<Hub>,
    id: String,
    controller: Controller,
    queued: Arc<AtomicUsize>,
    total: Arc<AtomicUsize>,
}

impl StdinWriter {
    async fn run(self, mut rx: mpsc::UnboundedReceiver<StdinJob>, mut stop: oneshot::Receiver<()>) {
        loop {
            let job = tokio::select! {
                biased;
                _ = &mut stop => break,
                job = rx.recv() => match job {
                    Some(job) => job,
                    None => return,
                },
            };
            match job {
                StdinJob::Write(data, req) => {
                    let result = self.controller.write_stdin(&data).await;
                    self.release(data.len());
                    let event = match result {
                        Ok(()) => Event::Written(WrittenEvent {
                            id: self.id.clone(),
                            bytes: data.len() as u64,
                            req,
                        }),
                        Err(e) => self.write_error(&e, req.as_deref()),
                    };
                    self.hub.reply(&event).await;
                }
                StdinJob::Close(req) => {
                    // Closing twice, or after the run ended, is not worth an error.
                    let _ = self.controller.close_stdin().await;
                    self.ack_close(req).await;
                }
            }
        }
        // The child ended: refuse what is still queued (no new job can arrive after
        // `close`), so every `write` gets its answer before the `exit` event. A queued
        // `close_stdin` is done: the child's stdin is closed with it.
        rx.close();
        while let Ok(job) = rx.try_recv() {
            match job {
                StdinJob::Write(data, req) => {
                    self.release(data.len());
                    let e = request_error(
                        ErrorCode::StdinClosed,
                        "The child ended before this write reached its stdin.",
                        "write",
                        &self.id,
                    )
                    .with_req_opt(req.as_deref());
                    self.hub.reply(&e.to_event()).await;
                }
                StdinJob::Close(req) => self.ack_close(req).await,
            }
        }
    }

    async fn ack_close(&self, req: Option<String>) {
        if let Some(event) = ack(&self.id, "close_stdin", req) {
            self.hub.reply(&event).await;
        }
    }

    fn release(&self, len: usize) {
        self.queued.fetch_sub(len, Ordering::Relaxed);
        self.total.fetch_sub(len, Ordering::Relaxed);
    }

    fn write_error(&self, e: &kennel::StdinError, req: Option<&str>) -> Event {
        let code = match e.kind {
            kennel::StdinErrorKind::NotPiped => ErrorCode::StdinNotPiped,
            kennel::StdinErrorKind::Closed
            | kennel::StdinErrorKind::BrokenPipe
            | kennel::StdinErrorKind::Finished => ErrorCode::StdinClosed,
            _ => ErrorCode::Internal,
        };
        let mut message = e.to_string();
        if let Some(source) = std::error::Error::source(e) {
            message = format!("{message}: {source}");
        }
        request_error(code, message, "write", &self.id)
            .with_req_opt(req)
            .to_event()
    }
}

/// The `ack` answering a request on child `id` that carried a `req` tag (none without).
pub(crate) fn ack(id: &str, op: &str, req: Option<String>) -> Option<Event> {
    req.map(|req| {
        Event::Ack(AckEvent {
            id: id.to_owned(),
            op: op.to_owned(),
            req,
        })
    })
}

/// What a child's forwarder works with, besides the child itself.
pub(crate) struct Forwarder {
    pub(crate) hub: Arc<Hub>,
    /// The child's id.
    pub(crate) id: String,
    /// Which child of that id.
    pub(crate) gen: u64,
    pub(crate) framing: Framing,
    /// The child's stdin writer, when stdin is piped.
    pub(crate) stdin: Option<StdinTask>,
    /// Pending `signal` answers.
    pub(crate) signals: Arc<InFlight>,
    /// Set once the outcome is in (the `exit` is on its way).
    pub(crate) ended: Arc<AtomicBool>,
    /// The flow-control windows, for a child spawned with `window`.
    pub(crate) windows: Option<Arc<Windows>>,
}

/// Forwards a child's events until its `exit` is queued.
pub(crate) async fn forward(f: Forwarder, mut child: kennel::Child) {
    let Forwarder {
        hub,
        id,
        gen,
        framing,
        stdin,
        signals,
        ended,
        windows,
    } = f;
    // Once the tree has ended, what is left of its output is bounded (its pipes, the
    // library's event channel): stop holding it back, so that a `kill` or `cancel` of a
    // child whose output nobody reads still reaches its `exit` (a client awaiting the
    // exit of a stopped dev server it never read must not wait forever).
    let lift = windows.clone().map(|w| {
        let controller = child.controller();
        tokio::spawn(async move {
            controller.tree_ended().await;
            w.lift();
        })
    });
    let mut output = Output::new(framing);
    let outcome = loop {
        let (stream, bytes) = match child.next_event().await {
            Some(kennel::Event::Stdout(bytes)) => (FrameStream::Stdout, bytes),
            Some(kennel::Event::Stderr(bytes)) => (FrameStream::Stderr, bytes),
            Some(kennel::Event::Exit(outcome)) => break outcome,
            None => break child.wait().await,
        };
        deliver(&hub, &mut output, windows.as_deref(), &id, stream, bytes).await;
    };
    ended.store(true, Ordering::Relaxed);
    if let Some(lift) = lift {
        lift.abort();
    }
    for stream in [FrameStream::Stdout, FrameStream::Stderr] {
        if let Some(item) = output.finish(stream, &id) {
            hub.data(item).await;
        }
    }
    if let Some(stdin) = stdin {
        let _ = stdin.stop.send(());
        let _ = stdin.handle.await;
    }
    signals.idle().await;
    stuck_exit_seam().await;
    let line = Event::Exit(exit_event(&id, &outcome)).to_line();
    hub.data(Out::Exit { line, id, gen }).await;
}

/// Test seam: in debug builds, with `KENNEL_TEST_STUCK_EXIT` set, no child's `exit` is
/// ever queued (as when something it waits for is never answered), so a test can check
/// that a sidecar whose client is gone still exits. Release builds ignore it.
async fn stuck_exit_seam() {
    #[cfg(debug_assertions)]
    if std::env::var_os("KENNEL_TEST_STUCK_EXIT").is_some() {
        std::future::pending::<()>().await;
    }
}

/// Queues one chunk of a child's `stream`. With flow control, only what the stream's
/// window allows is sent, waiting for credit (and reading no further events of this
/// child) meanwhile.
async fn deliver(
    hub: &Hub,
    output: &mut Output,
    windows: Option<&Windows>,
    id: &str,
    stream: FrameStream,
    mut bytes: bytes::Bytes,
) {
    while !bytes.is_empty() {
        let (part, exhausted) = match windows {
            Some(w) => {
                let (n, exhausted) = w.take(output_stream(stream), bytes.len()).await;
                (bytes.split_to(n), exhausted)
            }
            None => (std::mem::take(&mut bytes), false),
        };
        if let Some(item) = output.push(stream, id, part) {
            hub.data(item).await;
        }
        // A window is delivered whole: the (at most 3) bytes of a character the
        // JSON chunker holds back go out now, as `data_b64`, so the client can
        // return credit for every byte the window allowed.
        if exhausted {
            if let Some(item) = output.finish(stream, id) {
                hub.data(item).await;
            }
        }
    }
}

/// Turns a child's output chunks into data-lane items in its framing.
enum Output {
    /// JSON events, through one [`Chunker`] per stream (stdout, stderr).
    Json([Chunker; 2]),
    /// Binary frames: each chunk as it was read, nothing held back.
    Binary,
}

impl Output {
    fn new(framing: Framing) -> Output {
        match framing {
            Framing::Binary => Output::Binary,
            _ => Output::Json([Chunker::new(), Chunker::new()]),
        }
    }

    fn push(&mut self, stream: FrameStream, id: &str, bytes: bytes::Bytes) -> Option<Out> {
        match self {
            Output::Json(chunkers) => chunkers[stream_index(stream)]
                .push(&bytes)
                .map(|data| Out::Line(output_line(stream, id, data))),
            Output::Binary => frame(stream, id, bytes),
        }
    }

    fn finish(&mut self, stream: FrameStream, id: &str) -> Option<Out> {
        match self {
            Output::Json(chunkers) => chunkers[stream_index(stream)]
                .finish()
                .map(|data| Out::Line(output_line(stream, id, data))),
            Output::Binary => None,
        }
    }
}

fn output_stream(stream: FrameStream) -> OutputStream {
    match stream {
        FrameStream::Stdout => OutputStream::Stdout,
        FrameStream::Stderr => OutputStream::Stderr,
    }
}

fn stream_index(stream: FrameStream) -> usize {
    match stream {
        FrameStream::Stdout => 0,
        FrameStream::Stderr => 1,
    }
}

/// One frame per library chunk (at most [`kennel::CHUNK_SIZE`], far below the
/// frame limit), its payload not copied. The id was validated at `spawn`; an empty
/// chunk sends nothing.
fn frame(stream: FrameStream, id: &str, payload: bytes::Bytes) -> Option<Out> {
    match encode_frame_header(stream, id, payload.len()) {
        Ok(header) => Some(Out::Frame { header, payload }),
        Err(FrameError::PayloadLength(0)) => None,
        Err(e) => {
            // Unreachable with the library's 64 KiB chunks and checked ids; said
            // loudly rather than dropping output silently.
            tracing::error!("serve: cannot frame output of child {id:?}: {e}");
            None
        }
    }
}

fn output_line(stream: FrameStream, id: &str, data: kennel_protocol::Data) -> String {
    let chunk = OutputChunk {
        id: id.to_owned(),
        data,
    };
    match stream {
        FrameStream::Stdout => Event::Stdout(chunk).to_line(),
        FrameStream::Stderr => Event::Stderr(chunk).to_line(),
    }
}
