//! The single stdout writer: drains the two output lanes into a `BufWriter`.
//!
//! * The **control lane** carries replies to requests (`hello`, `spawned`, `written`,
//!   `list`, `error`, `bye`). It is always drained first, so a reply never waits behind
//!   a flood of output.
//! * The **data lane** carries `stdout`/`stderr`/`exit` events (and binary data
//!   frames, for children spawned with `"framing": "binary"`) from the per-child
//!   forwarders. It is a bounded tokio channel, whose waiting senders are served in
//!   FIFO order: a child that floods gets one slot and then queues behind every other
//!   child's pending event, so it cannot starve them.
//!
//! The buffer is flushed whenever both lanes are momentarily empty, so a lone small
//! event goes out at once while a flood is written in large blocks.
//!
//! When stdout fails (the caller went away: `EPIPE`), the writer starts the shutdown
//! and keeps draining both lanes without writing, so no forwarder stays blocked and the
//! children's teardown can complete.

use std::io::IoSlice;
use std::sync::Arc;

use tokio::io::{AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::sync::mpsc::Receiver;

use super::hub::{Hub, Out};

/// The `BufWriter` capacity: one library output chunk (64 KiB), so small events are
/// batched into pipe-sized writes and big ones go straight through.
const WRITE_BUFFER: usize = 64 * 1024;

/// Where the events go, and whether they still can.
struct Sink<W: AsyncWrite + Unpin> {
    out: BufWriter<W>,
    broken: bool,
    hub: Arc<Hub>,
}

impl<W: AsyncWrite + Unpin> Sink<W> {
    async fn write(&mut self, bytes: &[u8]) {
        if self.broken {
            return;
        }
        if let Err(e) = self.out.write_all(bytes).await {
            self.fail(&e);
        }
    }

    /// Writes a frame: through the buffer when it fits, else header and payload in
    /// vectored writes straight to the output (the payload is not copied).
    async fn write_frame(&mut self, header: &[u8], payload: &[u8]) {
        if self.broken {
            return;
        }
        if self.out.buffer().len() + header.len() + payload.len() <= WRITE_BUFFER {
            self.write(header).await;
            self.write(payload).await;
            return;
        }
        self.flush().await;
        if self.broken {
            return;
        }
        let out = self.out.get_mut();
        let mut done = 0;
        while done < header.len() + payload.len() {
            let written = if done < header.len() {
                let parts = [IoSlice::new(&header[done..]), IoSlice::new(payload)];
                out.write_vectored(&parts).await
            } else {
                out.write(&payload[done - header.len()..]).await
            };
            match written {
                Ok(0) => return self.fail(&std::io::ErrorKind::WriteZero.into()),
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return self.fail(&e),
            }
        }
    }

    async fn flush(&mut self) {
        if self.broken {
            return;
        }
        if let Err(e) = self.out.flush().await {
            self.fail(&e);
        }
    }

    /// Writes a child's `exit` line; returns whether `bye` was written too (the last line).
    async fn exit(&mut self, control: &mut Receiver<Out>, line: &str, id: &str, gen: u64) -> bool {
        crate::fatal::test_panic("writer");
        // The id is forgotten before its `exit` can reach the client, so a client that
        // reuses it after seeing `exit` never gets `duplicate_id`.
        let earlier = self.hub.forget(id, gen, control);
        exit_gate(control).await;
        // Replies the request loop queued while the child was still known (it queues
        // them under the registry lock) belong before `exit`; only those: one queued
        // since (`unknown_id` for a request that raced the exit) must come after it, or
        // the client cannot tell it raced the exit.
        let mut bye = None;
        for _ in 0..earlier {
            let Ok(item) = control.try_recv() else { break };
            match item {
                Out::Bye(line) => bye = Some(line),
                Out::Line(line) => self.write(line.as_bytes()).await,
                Out::Frame { header, payload } => self.write_frame(&header, &payload).await,
                Out::Exit { line, id, gen } => {
                    self.hub.forget(&id, gen, control);
                    self.write(line.as_bytes()).await;
                }
            }
        }
        self.write(line.as_bytes()).await;
        self.hub.notify_changed();
        if let Some(bye) = bye {
            self.write(bye.as_bytes()).await;
            return true;
        }
        false
    }

    fn fail(&mut self, e: &std::io::Error) {
        self.broken = true;
        tracing::warn!("serve: cannot write events to stdout ({e}); stopping every child");
        self.hub.output_broken();
    }
}

/// Runs until the `bye` line was written (or discarded). Returns whether every event
/// reached stdout, and the output.
pub(crate) async fn run<W: AsyncWrite + Unpin>(
    hub: Arc<Hub>,
    mut control: Receiver<Out>,
    mut data: Receiver<Out>,
    out: W,
) -> (bool, W) {
    let mut sink = Sink {
        out: BufWriter::with_capacity(WRITE_BUFFER, out),
        broken: false,
        hub: hub.clone(),
    };
    loop {
        let (item, from_data) = match control.try_recv() {
            Ok(item) => (item, false),
            Err(_) => match data.try_recv() {
                Ok(item) => (item, true),
                Err(_) => {
                    // Both lanes are empty right now: whatever is buffered goes out.
                    sink.flush().await;
                    tokio::select! {
                        biased;
                        Some(item) = control.recv() => (item, false),
                        Some(item) = data.recv() => (item, true),
                        // Both lanes closed without `bye`: the hub is gone.
                        else => break,
                    }
                }
            },
        };
        // A control item sent before this data item (a child's `spawned`, before its
        // first output) may have arrived between the look at the control lane and the
        // one at the data lane: it goes first. `bye` is written after the data item.
        let mut bye = None;
        if from_data {
            while let Ok(earlier) = control.try_recv() {
                if matches!(earlier, Out::Bye(_)) {
                    bye = Some(earlier);
                    break;
                }
                if write_item(&mut sink, &mut control, earlier).await {
                    return finish(sink).await;
                }
            }
        }
        if write_item(&mut sink, &mut control, item).await {
            break;
        }
        if let Some(bye) = bye {
            write_item(&mut sink, &mut control, bye).await;
            break;
        }
    }
    finish(sink).await
}

/// Test seam: in debug builds, with `KENNEL_TEST_EXIT_GATE` set, the writer waits after
/// forgetting a child until a reply is queued (at most 10 s), so a test can land a
/// request about the child between the forget and its `exit`. Release builds ignore it.
async fn exit_gate(control: &Receiver<Out>) {
    #[cfg(debug_assertions)]
    {
        static GATE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        if *GATE.get_or_init(|| std::env::var_os("KENNEL_TEST_EXIT_GATE").is_some()) {
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
            while control.is_empty() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = control;
}

/// Writes `item`; returns whether it was the last line (`bye`).
async fn write_item<W: AsyncWrite + Unpin>(
    sink: &mut Sink<W>,
    control: &mut Receiver<Out>,
    item: Out,
) -> bool {
    match item {
        Out::Line(line) => {
            sink.write(line.as_bytes()).await;
            false
        }
        Out::Frame { header, payload } => {
            sink.write_frame(&header, &payload).await;
            false
        }
        Out::Exit { line, id, gen } => sink.exit(control, &line, &id, gen).await,
        Out::Bye(line) => {
            sink.write(line.as_bytes()).await;
            true
        }
    }
}

/// Flushes what is buffered; whether every event reached stdout, and the output.
async fn finish<W: AsyncWrite + Unpin>(mut sink: Sink<W>) -> (bool, W) {
    sink.flush().await;
    (!sink.broken, sink.out.into_inner())
}
