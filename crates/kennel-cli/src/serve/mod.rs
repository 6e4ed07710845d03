//! `kennel serve`: the JSON-lines sidecar (protocol: `docs/PROTOCOL.md`).
//!
//! A client in any language writes requests to the sidecar's stdin and reads events
//! from its stdout, one JSON object per line. This module maps the protocol onto the
//! `kennel` library.
//!
//! # Tasks
//!
//! ```text
//!  stdin ─▶ request loop ──spawn/cancel/kill/signal──▶ kennel::Controller (per child)
//!              │   │ write/close_stdin                        │
//!              │   └──────────────▶ stdin writer (per child)  │ kennel::Child events
//!              │ replies                │ written/errors      ▼
//!              ▼                        ▼               forwarder (per child)
//!        control lane (256 lines) ◀─────┘                     │ stdout/stderr/exit
//!              │                                              ▼
//!              └──── biased ────▶ stdout writer ◀──── data lane (16 lines, FIFO-fair)
//! ```
//!
//! * The **request loop** (the `serve` future itself) reads one line at a time
//!   ([`kennel_protocol::LineSplitter`], never more than 1 MiB buffered), parses it, and
//!   acts. It never waits on a child: `cancel`/`kill`/`shutdown` are non-blocking
//!   messages to the library, `signal` waits for its answer in a task of its own, and
//!   writes are queued to the child's stdin writer.
//! * Each child has a **forwarder** task that owns its [`kennel::Child`], turns output
//!   into `stdout`/`stderr` events (one [`kennel_protocol::Chunker`] per stream) and
//!   queues the `exit` event last, after flushing the chunkers and waiting for the
//!   child's stdin writer and pending `signal` answers — so `exit` is the last event
//!   about the child.
//! * Each child with `"stdin": "pipe"` has a **stdin writer** task performing its
//!   writes in request order and answering each with `written` (or an error).
//! * One **stdout writer** task drains two bounded lanes into a `BufWriter`, flushed
//!   whenever both lanes are momentarily empty (a lone event goes out at once; a flood
//!   is written in 64 KiB blocks).
//!
//! # Queues and backpressure
//!
//! The **data lane** holds [`DATA_QUEUE_LINES`] = 16 lines. A line carries at most one
//! library chunk ([`kennel::CHUNK_SIZE`] = 64 KiB): ≈ 87 KiB as base64, ≈ 68 KiB as typical
//! text, 384 KiB in the pathological case of text made only of control characters
//! (`\u0001` is six bytes in JSON); as a binary frame (`"framing": "binary"`),
//! 64 KiB plus at most 264 header bytes. So the lane holds ≈ 1.4 MiB normally and 6 MiB at
//! worst, enough to keep the writer busy (it writes 64 KiB at a time) without hiding
//! backpressure. Senders waiting on a full tokio channel are served in FIFO order,
//! which is the fairness guarantee: a flooding child gets one slot and then waits
//! behind every other child's pending event.
//!
//! If the client stops reading stdout: the writer blocks, the data lane fills, every
//! forwarder blocks holding one line, the library's per-child event channel
//! ([`kennel::EVENT_CAPACITY`] chunks) fills, its readers stop reading the pipes, and
//! the children block in `write(2)`. Memory stays bounded by roughly
//! `6 MiB + children × (EVENT_CAPACITY + 3) × 64 KiB`; nothing is dropped. Timeouts
//! and ladders keep running meanwhile (they do not depend on output delivery).
//!
//! That is the whole connection. A child spawned with a `window` is also
//! flow-controlled on its own (`flow.rs`): its forwarder waits for `credit` once a
//! stream's window is used up, so a client that leaves one child's output unread stops
//! that child alone, never the lanes.
//!
//! The **control lane** holds [`CONTROL_QUEUE_LINES`] = 256 replies and is always
//! drained first, so a reply (`spawned`, `written`, `ack`, `error`, `list`) never waits
//! behind output. The request loop keeps reading requests while output is backpressured:
//! `cancel`, `kill`, `signal`, `close_stdin`, `shutdown` and queued `write`s take effect
//! at once, however full the lanes are (only queueing their `ack`, when tagged with
//! `req`, may wait). A request that needs a reply waits for room in the control lane,
//! so a client that leaves 256 replies unread stops the request loop until it reads
//! again: replies, unlike the effects of control requests, cannot be dropped or grow
//! without bound. (In that state an error about a child may follow the child's `exit`;
//! everywhere else the ordering below holds.)
//!
//! **Stdin writes** are queued per child, bounded in bytes: at most
//! [`STDIN_QUEUE_PER_CHILD`] (8 MiB) per child and [`STDIN_QUEUE_TOTAL`] (64 MiB) for all
//! children. A `write` that does not fit is rejected with `invalid_field` (and nothing
//! of it is written); clients pace their writes by the `written` events.
//!
//! # Ordering
//!
//! `spawned` is queued on the control lane (drained first) before the forwarder
//! exists, so it precedes the child's output. Replies about a child are queued while
//! the registry lock is held and the child is known; the writer forgets a child, then
//! writes whatever replies are queued, then its `exit`. So nothing about a child follows
//! its `exit`, and a client that reuses an id after seeing `exit` never gets
//! `duplicate_id`.
//!
//! # Shutdown
//!
//! EOF on stdin, a `shutdown` request, SIGTERM/SIGINT/SIGHUP, or stdout failing (the
//! caller is gone) starts the shutdown: new `spawn`s get `shutting_down`, and every
//! child gets [`kennel::Controller::shutdown`] (its ladder, reason
//! `supervisor_shutdown`). Requests are still read and served meanwhile (a client may
//! `kill` a child whose ladder is slow). A further signal jumps every child to the
//! forceful rung. When every `exit` has been written the sidecar writes `bye` and
//! exits with status 0 ([`EXIT_OUTPUT_LOST`] = 1 if stdout had failed).
//!
//! **The client going away** — in any order: EOF on stdin, its read end of stdout
//! closed, stderr closed — ends the sidecar within the children's longest ladder plus
//! milliseconds (measured: `tests-integration/tests/faults/client_gone.rs`):
//!
//! * stdout: a write fails with `EPIPE`, or, if there is nothing to write, the
//!   `gone` thread sees `POLLERR`/`POLLHUP` on it. Either starts the shutdown, and
//!   the writer discards every event from then on, so no forwarder waits on a lane.
//! * stderr: carries diagnostics only, through `crate::log`, which drops what it
//!   cannot write at once: a closed, broken or full stderr can neither panic nor
//!   block the sidecar (an `eprintln!` once did both). A closed stderr alone does not
//!   end the sidecar: the client may still be reading stdout.
//! * A client that closes stdin but keeps stdout open and never reads it is *not*
//!   gone: the sidecar waits for the `exit` events to be read (output is never
//!   dropped for a slow reader). A signal bounds that wait (below).
//!
//! **Signals** are caught for the whole life of the sidecar, in every state. Each one
//! starts or escalates the shutdown and sets a deadline: the longest ladder of the
//! children (first signal) or nothing (a further one), plus [`SIGNAL_LINGER`]. If the
//! events are still not written by then (a client that stopped reading), the sidecar
//! gives up on them: SIGKILL to every tree, each confirmed by the library, and exit
//! [`EXIT_OUTPUT_LOST`].
//!
//! **A panic** in any task (tokio would catch it and leave a sidecar that supervises
//! nothing) goes to `crate::fatal`: every tree gets SIGKILL and the sidecar exits
//! `EXIT_PANIC` (101); a watchdog thread exits regardless after 2 s.
//! Whatever is left is the containment's: the shared guard and the keepers end their
//! trees when the sidecar dies.

mod child;
mod convert;
mod direct;
mod flow;
mod gone;
mod hub;
mod reader;
mod starting;
mod stdio;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use kennel_protocol::{ByeReason, Event, HelloEvent};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

pub use hub::{STDIN_QUEUE_PER_CHILD, STDIN_QUEUE_TOTAL};

use crate::duration::parse_duration;
use hub::{Hub, Limits};
use reader::RequestReader;
use starting::Starting;

/// Lines the data lane (output and `exit` events) holds; see the module docs.
pub const DATA_QUEUE_LINES: usize = 16;

/// Replies the control lane holds before the request loop stops reading; see the
/// module docs.
pub const CONTROL_QUEUE_LINES: usize = 256;

/// After a signal, how long past the longest ladder of its children the sidecar waits
/// for their `exit` events to reach the client before it exits without them (a client
/// that does not read its stdout cannot keep a signalled sidecar alive).
pub const SIGNAL_LINGER: Duration = Duration::from_millis(500);

/// When the sidecar gives up (a panic, or [`SIGNAL_LINGER`] passed), how long it waits
/// for the library to confirm that every tree got the forceful rung.
const KILL_ACK_WAIT: Duration = Duration::from_millis(250);

/// Exit code of `kennel serve` when events were lost: stdout failed, or a signal's
/// deadline passed before every event was written.
pub const EXIT_OUTPUT_LOST: i32 = 1;

/// Arguments of `kennel serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The most children supervised at once (announced in `hello`); more spawns get
    /// `too_many_children`.
    #[arg(long, default_value_t = kennel_protocol::DEFAULT_MAX_CHILDREN)]
    pub max_children: usize,
    /// Default drain timeout of a child (its `drain_timeout_ms` overrides it).
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    pub drain_timeout: Duration,
}

/// Run the sidecar on this process's stdin and stdout until shutdown; returns the
/// process exit code (0 after `bye`, [`EXIT_OUTPUT_LOST`] if events were lost,
/// 101 after a panic: `crate::fatal`).
pub async fn serve(args: ServeArgs) -> i32 {
    let (control_tx, control_rx) = mpsc::channel(CONTROL_QUEUE_LINES);
    let (data_tx, data_rx) = mpsc::channel(DATA_QUEUE_LINES);
    let available: Vec<_> = kennel::available_containment()
        .into_iter()
        .map(convert::tier)
        .collect();
    let limits = Limits {
        max_children: args.max_children,
        drain_timeout: args.drain_timeout,
    };
    let hub = Arc::new(Hub::new(control_tx, data_tx, limits, available.clone()));
    let writer = tokio::spawn(writer::run(
        hub.clone(),
        control_rx,
        data_rx,
        stdio::Stdout::open(),
    ));

    // Caught from before `hello`: a client may signal us as soon as it saw it.
    let caught = crate::signals::Signals::install();
    let mut hello = HelloEvent::new(env!("CARGO_PKG_VERSION"), available);
    hello.max_children = args.max_children as u64;
    hub.reply(&Event::Hello(hello)).await;
    {
        let hub = hub.clone();
        gone::watch_stdout(move || hub.output_broken());
    }

    let session = tokio::spawn(session(hub.clone(), writer));
    until_the_end(&hub, session, caught).await
}

/// When the sidecar stops waiting for its children's events, and why.
#[derive(Default)]
struct GiveUp {
    at: Option<Instant>,
    why: &'static str,
}

impl GiveUp {
    /// Moves the deadline to `ladders` + [`SIGNAL_LINGER`] from now if that is sooner;
    /// the reason is the one of whichever set the deadline in force.
    fn tighten(&mut self, ladders: Duration, why: &'static str) {
        let at = Instant::now() + ladders + SIGNAL_LINGER;
        if self.at.is_none_or(|d| at < d) {
            self.at = Some(at);
            self.why = why;
        }
    }
}

/// Waits for the session's end, a panic, or the deadline a signal or the client's going
/// away sets; returns the exit code.
async fn until_the_end(
    hub: &Arc<Hub>,
    mut session: JoinHandle<i32>,
    mut caught: crate::signals::Signals,
) -> i32 {
    // Set by a signal or a client gone: past it, the sidecar stops waiting for its
    // output to drain.
    let mut deadline = GiveUp::default();
    loop {
        tokio::select! {
            result = &mut session => return match result {
                Ok(code) => {
                    code
                }
                Err(e) => {
                    tracing::error!("serve: the request loop failed ({e}); ending every tree");
                    give_up(hub, crate::fatal::EXIT_PANIC).await
                }
            },
            () = crate::fatal::raised() => return give_up(hub, crate::fatal::EXIT_PANIC).await,
            // SIGTERM, SIGINT and SIGHUP start the shutdown; another one escalates it.
            () = caught.recv() => {
                let first = hub.begin_shutdown(ByeReason::Signal, None, true);
                let ladders = if first { hub.longest_ladder() } else { Duration::ZERO };
                deadline.tighten(
                    ladders,
                    "signalled, and the children's events could not be written in time",
                );
            }
            // Nothing can reach a client that is gone: past the ladders, whatever still
            // holds the shutdown back (a bug, like a request left unanswered) must not
            // keep this process alive.
            () = hub.client_gone() => {
                deadline.tighten(
                    hub.longest_ladder(),
                    "the client is gone, and the children did not end in time",
                );
            }
            () = sleep_until(deadline.at) => {
                tracing::warn!("serve: {}; exiting without their events", deadline.why);
                return give_up(hub, EXIT_OUTPUT_LOST).await;
            }
        }
    }
}

/// The request loop until every child's `exit` and the `bye` were written (or
/// discarded); returns the exit code.
async fn session(hub: Arc<Hub>, writer: JoinHandle<(bool, stdio::Stdout)>) -> i32 {
    let mut requests = RequestReader::new(stdio::Stdin::open());
    let mut eof = false;
    // Spawns run off the loop; a later request waits only for the ones it depends on
    // (`starting.rs`).
    let mut starting = Starting::default();
    loop {
        tokio::select! {
            biased;
            () = hub.drained() => break,
            request = requests.next(), if !eof => match request {
                Some(Ok(kennel_protocol::Request::Spawn(req))) => starting.spawn(&hub, req).await,
                Some(request) => {
                    starting.before(&request).await;
                    if matches!(request, Ok(kennel_protocol::Request::List(_))) {
                        crate::fatal::test_panic("list");
                    }
                    hub.handle(request).await
                }
                None => {
                    eof = true;
                    // No credit can come any more: flow control must not hold output.
                    hub.lift_windows();
                    // The shutdown first, then the spawns in flight: one stuck in its
                    // `exec` (a binary on a hung network file system) must not keep
                    // the running children alive. A spawn read before the EOF is
                    // still answered: it registers, says `spawned`, and is ended at
                    // once (`Hub::register`), as after a signal.
                    hub.begin_shutdown(ByeReason::Eof, None, false);
                    starting.settle_all().await;
                }
            },
        }
    }
    requests.into_inner().restore();
    hub.bye().await;
    let delivered = match writer.await {
        Ok((delivered, stdout)) => {
            stdout.restore();
            delivered
        }
        Err(_) => false,
    };
    if delivered && !hub.is_output_broken() {
        0
    } else {
        EXIT_OUTPUT_LOST
    }
}

/// Ends every tree at once without waiting for output: the forceful rung for every
/// child, each confirmed by the library (at most [`KILL_ACK_WAIT`]). What a tree
/// leaves behind is the containment's: the guard and the keepers end theirs when
/// this process exits. Returns `code`.
async fn give_up(hub: &Hub, code: i32) -> i32 {
    let mut kills = JoinSet::new();
    for controller in hub.controllers() {
        controller.kill();
        // Answered after the kill was acted on (or once the tree is gone).
        kills.spawn(async move { controller.signal(kennel::Signal::Kill).await });
    }
    let _ = tokio::time::timeout(KILL_ACK_WAIT, kills.join_all()).await;
    code
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
