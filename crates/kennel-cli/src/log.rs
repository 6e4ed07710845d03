//! Diagnostics: the one logger of the `kennel` command. It never panics and never
//! blocks the supervisor.
//!
//! Every diagnostic is a `tracing` event (the library's own events included), formatted
//! by `tracing-subscriber` as `kennel: <message>` and handed to a **lossy stderr**: a
//! bounded queue of [`QUEUE_LINES`] lines drained by one thread of its own that writes
//! them to stderr. Handing a line over is a `try_send`: when the queue is full (stderr
//! is a pipe nobody reads, or a terminal suspended with Ctrl-S) the line is dropped
//! and counted, never waited for. The writing thread ignores every error: stderr
//! closed (`2>&-`, `EBADF`), its reader gone (`EPIPE`), a full pipe (the thread blocks,
//! alone). `eprintln!` does none of this: it panics on `EPIPE` and blocks on a full
//! pipe, which is how the sidecar once died when its client did (issue 12).
//!
//! [`flush`] gives the queue a bounded time to reach stderr before the process exits,
//! so the last words of `kennel run` (e.g. "program not found") are not lost in the
//! normal case and an unread stderr delays the exit by [`FLUSH_WAIT`] at most.
//!
//! `KENNEL_LOG` sets the level (`error`, `warn`, `info`, `debug`, `trace`, `off`;
//! default `info`).

use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{self, FormatEvent, FormatFields};
use tracing_subscriber::fmt::{FmtContext, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

/// Lines waiting for stderr, at most; more are dropped.
pub const QUEUE_LINES: usize = 256;

/// How long [`flush`] waits for queued lines to reach stderr.
pub const FLUSH_WAIT: Duration = Duration::from_millis(100);

/// Lines handed over and not yet written (or given up on).
struct Pending {
    count: Mutex<usize>,
    done: Condvar,
}

impl Pending {
    fn add(&self, n: isize) {
        let mut count = self.count.lock().unwrap_or_else(PoisonError::into_inner);
        *count = count.saturating_add_signed(n);
        if *count == 0 {
            self.done.notify_all();
        }
    }
}

/// The sending side of the queue: what `tracing-subscriber` writes each event to.
#[derive(Clone)]
struct LossyStderr {
    tx: SyncSender<Vec<u8>>,
    pending: Arc<Pending>,
    dropped: Arc<AtomicU64>,
}

static LOGGER: OnceLock<LossyStderr> = OnceLock::new();

impl std::io::Write for LossyStderr {
    /// One call per event: the formatter hands over the whole formatted line.
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.add(1);
        if self.tx.try_send(buf.to_vec()).is_err() {
            self.pending.add(-1);
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LossyStderr {
    type Writer = LossyStderr;

    fn make_writer(&'a self) -> LossyStderr {
        self.clone()
    }
}

/// `kennel: <message>`, with the level for anything but an error.
struct Format;

impl<S, N> FormatEvent<S, N> for Format
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: format::Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        write!(writer, "kennel: ")?;
        let level = *event.metadata().level();
        if level != Level::ERROR {
            write!(writer, "{}: ", level.as_str().to_ascii_lowercase())?;
        }
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

fn drain(rx: Receiver<Vec<u8>>, pending: Arc<Pending>, dropped: Arc<AtomicU64>) {
    let mut stderr = std::io::stderr();
    let mut reported = 0;
    for line in rx {
        let lost = dropped.load(Ordering::Relaxed);
        if lost > reported {
            let note = format!(
                "kennel: {} diagnostic lines dropped (stderr full)\n",
                lost - reported
            );
            let _ = stderr.write_all(note.as_bytes());
            reported = lost;
        }
        // Every error is ignored: there is nowhere else to say it.
        let _ = stderr.write_all(&line);
        pending.add(-1);
    }
}

/// Installs the logger as the global `tracing` subscriber. Call once, first thing in
/// `main`. If the writing thread cannot start, diagnostics are dropped.
pub fn init() {
    let level = std::env::var("KENNEL_LOG")
        .ok()
        .and_then(|v| v.parse::<tracing_subscriber::filter::LevelFilter>().ok())
        .unwrap_or(tracing_subscriber::filter::LevelFilter::INFO);
    let (tx, rx) = sync_channel(QUEUE_LINES);
    let pending = Arc::new(Pending {
        count: Mutex::new(0),
        done: Condvar::new(),
    });
    let dropped = Arc::new(AtomicU64::new(0));
    let thread = {
        let (pending, dropped) = (pending.clone(), dropped.clone());
        std::thread::Builder::new()
            .name("kennel-log".into())
            .spawn(move || drain(rx, pending, dropped))
    };
    if thread.is_err() {
        return;
    }
    let writer = LossyStderr {
        tx,
        pending,
        dropped,
    };
    let _ = LOGGER.set(writer.clone());
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(false)
        .event_format(Format)
        .with_writer(writer)
        .finish();
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// Waits at most [`FLUSH_WAIT`] for the queued lines to reach stderr.
pub fn flush() {
    let Some(logger) = LOGGER.get() else {
        return;
    };
    let deadline = Instant::now() + FLUSH_WAIT;
    let mut count = logger
        .pending
        .count
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    while *count > 0 {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            return;
        };
        count = match logger.pending.done.wait_timeout(count, left) {
            Ok((count, _)) => count,
            Err(poisoned) => poisoned.into_inner().0,
        };
    }
}
