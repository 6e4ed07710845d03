//! Spawn, events, cancel and wait: the platform-neutral orchestration.
//!
//! Each child gets one supervisor task that owns the leader, and one reader task per
//! piped stream. The supervisor is a single `select!` loop in phases:
//!
//! 1. **Running** — until the leader exits. Cancel/timeout start the ladder; the readers
//!    keep draining during the grace so a child blocked on a full pipe can still exit.
//! 2. **Draining** — the leader exited on its own: wait for EOF on both pipes, at most
//!    the drain timeout (a reader blocked delivering to a slow consumer does not count
//!    as waiting for a holder).
//! 3. **Teardown** — whatever is left of the tree (group members that outlived the
//!    leader, pipe holders) goes through the ladder until the tree is gone.
//! 4. **Final drain** — the readers get what the tree wrote before it died; then the
//!    leader is reaped (only now may its pid be reused), the `Exit` event is sent last,
//!    and every waiter is released.

use std::future::Future as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot, watch, Mutex};
use tokio::task::JoinHandle;
use tokio::time::sleep_until;

use crate::ladder::{Action, LadderRun};
use crate::output::{Reader, ReaderResult, ReaderState, StreamKind, EVENT_CAPACITY};
use crate::sys::imp::{self, Leader, PipeReader, PipeWriter};
use crate::tree::{Tree, TreeSignalError};
use crate::{
    Command, Containment, Drain, EndReason, ExitStatus, Forward, Ladder, Outcome, OutputCap,
    Signal, SignalError, SignalErrorKind, SpawnError, StdinError, StdinErrorKind, StdinMode,
    StreamReport,
};

/// After the holders of a pipe were killed, how long to wait for EOF before giving up
/// on the pipe (a holder that escaped containment keeps it open forever). A killed
/// holder closes its end when it dies, so EOF normally comes within microseconds; the
/// window is generous for a loaded machine.
const POST_KILL_EOF_WINDOW: Duration = Duration::from_millis(250);

/// Polling interval bounds while waiting for a group of processes to disappear (there
/// is no notification for "process group empty" on Unix).
const POLL_MIN: Duration = Duration::from_millis(1);
const POLL_MAX: Duration = Duration::from_millis(16);

/// After each signal the ladder sends, the tree is polled every [`POLL_MIN`] for this
/// long before the interval backs off: a tree that obeys dies within milliseconds, and
/// a backed-off poll would add up to [`POLL_MAX`] to the cancel latency (measured:
/// median 7 ms, p99 17 ms for a 50-process tree, against ~3 ms for the tree to die).
const POLL_FAST_WINDOW: Duration = Duration::from_millis(50);

/// What a child produces, in order: output chunks as read (never altered), then exactly
/// one [`Event::Exit`], after which the stream ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Bytes read from stdout, exactly as read.
    Stdout(Bytes),
    /// Bytes read from stderr, exactly as read.
    Stderr(Bytes),
    /// The final outcome; every output event of the run came before it.
    Exit(Outcome),
}

/// Collected output of a run, from [`Child::output`] or [`Command::output`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    /// Everything delivered on stdout.
    pub stdout: Vec<u8>,
    /// Everything delivered on stderr.
    pub stderr: Vec<u8>,
    /// The outcome.
    pub outcome: Outcome,
}

enum Control {
    /// Run the ladder (the given one instead of the command's, if any).
    Cancel(EndReason, Option<Ladder>),
    Kill,
    Signal(Signal, oneshot::Sender<Result<(), SignalError>>),
    Dropped,
}

enum StdinSlot {
    NotPiped,
    Open(PipeWriter),
    Closed,
}

struct Shared {
    pid: u32,
    started: Instant,
    ctl: mpsc::UnboundedSender<Control>,
    stdin: Arc<Mutex<StdinSlot>>,
    finished: watch::Receiver<bool>,
    tree_ended: watch::Receiver<bool>,
}

/// A cloneable handle to control a running child from other tasks: stdin, signals,
/// cancel, kill. It does not keep the tree alive: dropping the [`Child`] still kills it.
#[derive(Clone)]
pub struct Controller {
    shared: Arc<Shared>,
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
        let (reply_tx, reply_rx) = oneshot::channel();
        if self
            .shared
            .ctl
            .send(Control::Signal(signal, reply_tx))
            .is_err()
        {
            return Err(self.signal_error(signal, SignalErrorKind::Finished, None));
        }
        match reply_rx.await {
            Ok(result) => result,
            Err(_) => Err(self.signal_error(signal, SignalErrorKind::Finished, None)),
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
    /// [`EVENT_CAPACITY`] chunks, one chunk in flight) — and then the `Exit` event.
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

/// A running child and its tree. Read its [`Event`]s with [`Child::next_event`], or
/// discard output with [`Child::wait`].
///
/// Dropping a `Child` whose run is not over kills the whole tree (the forceful rung) and
/// reaps it in the background: a dropped handle never leaks processes.
#[derive(Debug)]
pub struct Child {
    controller: Controller,
    events: mpsc::Receiver<Event>,
    outcome: Option<Outcome>,
    containment: Containment,
    protection: imp::Protection,
}

impl Child {
    /// The leader's pid.
    pub fn id(&self) -> u32 {
        self.controller.id()
    }

    /// The containment tier in use.
    pub fn containment(&self) -> Containment {
        self.containment
    }

    /// Whether a death of this process — even `kill -9` — would kill the tree too, and
    /// has at every moment since the spawn. True when a guard (cgroup tier) or keeper
    /// (subreaper tier) that answered its handshake has watched the tree without a
    /// gap; false when none was asked for ([`ContainmentOptions::keeper`] off), when
    /// [`keeper::init`](crate::keeper::init) had not run before the spawn, and off
    /// Linux and Windows. Once false it stays false: if someone kills the shared guard,
    /// the next spawn starts a new one that covers this tree again, but until then a
    /// supervisor death would have left it running. [`Outcome::dies_with_supervisor`]
    /// is this at the end of the run.
    ///
    /// [`ContainmentOptions::keeper`]: crate::ContainmentOptions::keeper
    pub fn dies_with_supervisor(&self) -> bool {
        self.protection.holds()
    }

    /// A cloneable handle for other tasks.
    pub fn controller(&self) -> Controller {
        self.controller.clone()
    }

    /// The next event: output chunks in the order they were read, then the
    /// [`Event::Exit`]; `None` after that.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: no event is lost if the future is dropped.
    pub async fn next_event(&mut self) -> Option<Event> {
        if self.outcome.is_some() {
            return None;
        }
        match self.events.recv().await {
            Some(Event::Exit(outcome)) => {
                self.outcome = Some(outcome.clone());
                Some(Event::Exit(outcome))
            }
            Some(event) => Some(event),
            None => {
                let outcome = self.lost_outcome();
                self.outcome = Some(outcome.clone());
                Some(Event::Exit(outcome))
            }
        }
    }

    /// The outcome, once [`Event::Exit`] was received.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    /// Wait for the final outcome, discarding output not yet read. Fused: calling it
    /// again returns the same outcome.
    pub async fn wait(&mut self) -> Outcome {
        loop {
            if let Some(outcome) = &self.outcome {
                return outcome.clone();
            }
            self.next_event().await;
        }
    }

    /// Collect all remaining output and the outcome. Caps are those set on the
    /// [`Command`]; [`Command::output`] applies a default one.
    pub async fn output(mut self) -> Output {
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        loop {
            match self.next_event().await {
                Some(Event::Stdout(b)) => stdout.extend_from_slice(&b),
                Some(Event::Stderr(b)) => stderr.extend_from_slice(&b),
                Some(Event::Exit(outcome)) => {
                    return Output {
                        stdout,
                        stderr,
                        outcome,
                    }
                }
                None => {
                    let outcome = self.wait().await;
                    return Output {
                        stdout,
                        stderr,
                        outcome,
                    };
                }
            }
        }
    }

    /// See [`Controller::write_stdin`].
    ///
    /// # Errors
    ///
    /// See [`Controller::write_stdin`].
    pub async fn write_stdin(&self, data: &[u8]) -> Result<(), StdinError> {
        self.controller.write_stdin(data).await
    }

    /// See [`Controller::close_stdin`].
    ///
    /// # Errors
    ///
    /// See [`Controller::close_stdin`].
    pub async fn close_stdin(&self) -> Result<(), StdinError> {
        self.controller.close_stdin().await
    }

    /// See [`Controller::signal`].
    ///
    /// # Errors
    ///
    /// See [`Controller::signal`].
    pub async fn signal(&self, signal: Signal) -> Result<(), SignalError> {
        self.controller.signal(signal).await
    }

    /// See [`Controller::cancel`].
    pub fn cancel(&self) {
        self.controller.cancel();
    }

    /// See [`Controller::kill`].
    pub fn kill(&self) {
        self.controller.kill();
    }

    /// The supervisor task ended without an outcome (it can only be aborted by a
    /// runtime shutting down): report that honestly rather than panic.
    fn lost_outcome(&self) -> Outcome {
        Outcome {
            pid: self.id(),
            status: ExitStatus {
                code: None,
                signal: None,
            },
            reason: EndReason::SupervisorShutdown,
            ladder_step: None,
            forced: true,
            wall_time: self.controller.shared.started.elapsed(),
            stdout: StreamReport::default(),
            stderr: StreamReport::default(),
            drain: Drain::Timeout,
            leftovers_killed: Vec::new(),
            containment: self.containment,
            layers: vec![self.containment],
            escapees_killed: Vec::new(),
            dies_with_supervisor: false,
            errors: vec![
                "the supervisor task ended before the outcome was known (runtime shut down); the tree was killed".into(),
            ],
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.outcome.is_none() {
            let _ = self.controller.shared.ctl.send(Control::Dropped);
        }
    }
}

impl Command {
    /// Start the child in its containment and begin supervising it. Must be called
    /// from within a tokio runtime (multi-threaded or current-thread, with I/O and time
    /// enabled).
    ///
    /// # Errors
    ///
    /// A [`SpawnError`] naming the program and working directory: not found, not
    /// executable, bad working directory, or an OS failure with its stage.
    pub fn spawn(&self) -> Result<Child, SpawnError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(SpawnError::NoRuntime {
                program: self.program.to_string_lossy().into_owned(),
            });
        }
        let started = Instant::now();
        let imp::Spawned {
            leader,
            stdin,
            stdout,
            stderr,
        } = imp::spawn(&self.launch())?;
        let pid = leader.pid();
        let containment = leader.containment();
        let protection = leader.protection();

        let (tx, rx) = mpsc::channel(EVENT_CAPACITY);
        let (stop_tx, stop_rx) = watch::channel(false);
        let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
        let (finished_tx, finished_rx) = watch::channel(false);
        let (tree_ended_tx, tree_ended_rx) = watch::channel(false);

        let mut cap_kills = Vec::new();
        let mut start_reader =
            |kind, pipe: Option<PipeReader>, cap: Option<OutputCap>, forward: Option<&Forward>| {
                pipe.map(|pipe| {
                    let state = ReaderState::default();
                    let (cap_tx, cap_rx) = oneshot::channel();
                    cap_kills.push(cap_rx);
                    let reader = Reader {
                        kind,
                        pipe,
                        tx: tx.clone(),
                        cap,
                        stop: stop_rx.clone(),
                        state: state.clone(),
                        cap_kill: Some(cap_tx),
                        forward: forward.cloned(),
                    };
                    ReaderSlot {
                        handle: Some(tokio::spawn(reader.run())),
                        result: None,
                        state,
                    }
                })
            };
        let out_reader = start_reader(
            StreamKind::Stdout,
            stdout,
            self.stdout_cap,
            self.stdout_forward.as_ref(),
        );
        let err_reader = start_reader(
            StreamKind::Stderr,
            stderr,
            self.stderr_cap,
            self.stderr_forward.as_ref(),
        );

        let stdin_slot = Arc::new(Mutex::new(match (self.stdin, stdin) {
            (StdinMode::Piped, Some(writer)) => StdinSlot::Open(writer),
            _ => StdinSlot::NotPiped,
        }));

        let run = Run {
            leader,
            pid,
            started,
            ladder_spec: self.ladder.clone(),
            timeout_at: self.timeout.and_then(|t| started.checked_add(t)),
            drain_timeout: self.drain_timeout,
            keep_leftovers: self.keep_leftovers,
            containment,
            protection: protection.clone(),
            ctl: ctl_rx,
            tx,
            stop: stop_tx,
            readers: [out_reader, err_reader],
            cap_kills,
            stdin: stdin_slot.clone(),
            finished: finished_tx,
            tree_ended: tree_ended_tx,
            ladder: None,
            reason: None,
            leader_exited: false,
            acted_at: started,
            errors: Vec::new(),
        };
        tokio::spawn(run.supervise());

        Ok(Child {
            controller: Controller {
                shared: Arc::new(Shared {
                    pid,
                    started,
                    ctl: ctl_tx,
                    stdin: stdin_slot,
                    finished: finished_rx,
                    tree_ended: tree_ended_rx,
                }),
            },
            events: rx,
            outcome: None,
            containment,
            protection,
        })
    }

    /// Spawn, collect stdout and stderr (capped at
    /// [`DEFAULT_COLLECT_CAP`](crate::DEFAULT_COLLECT_CAP) each, truncating, unless a
    /// cap was set) and wait for the outcome.
    ///
    /// # Errors
    ///
    /// See [`Command::spawn`].
    pub async fn output(&self) -> Result<Output, SpawnError> {
        let mut cmd = self.clone();
        let default_cap = OutputCap::truncate(crate::DEFAULT_COLLECT_CAP);
        cmd.stdout_cap.get_or_insert(default_cap);
        cmd.stderr_cap.get_or_insert(default_cap);
        Ok(cmd.spawn()?.output().await)
    }
}

/// One reader task: its handle until it finished, then its result.
struct ReaderSlot {
    handle: Option<JoinHandle<ReaderResult>>,
    result: Option<Result<ReaderResult, tokio::task::JoinError>>,
    state: ReaderState,
}

impl ReaderSlot {
    fn done(&self) -> bool {
        self.handle.as_ref().is_none_or(JoinHandle::is_finished)
    }
}

/// The supervisor task's state.
struct Run {
    leader: Leader,
    pid: u32,
    started: Instant,
    ladder_spec: Ladder,
    timeout_at: Option<Instant>,
    drain_timeout: Duration,
    keep_leftovers: bool,
    containment: Containment,
    protection: imp::Protection,
    ctl: mpsc::UnboundedReceiver<Control>,
    tx: mpsc::Sender<Event>,
    stop: watch::Sender<bool>,
    readers: [Option<ReaderSlot>; 2],
    cap_kills: Vec<oneshot::Receiver<()>>,
    stdin: Arc<Mutex<StdinSlot>>,
    finished: watch::Sender<bool>,
    /// Set once phase 3 is over: no process of the tree is left to write output.
    tree_ended: watch::Sender<bool>,
    ladder: Option<LadderRun>,
    reason: Option<EndReason>,
    /// The leader has exited (a timeout after that only speeds up the teardown; the
    /// reason stays `exited`).
    leader_exited: bool,
    /// When the ladder last sent a signal (polling is fast for a while after that).
    acted_at: Instant,
    errors: Vec<String>,
}

/// Sleep until `deadline`, or forever when there is none.
async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Resolves when a reader reports that a cap with the `kill` policy was passed
/// (pending forever when no reader can).
///
/// # Cancel safety
///
/// Cancel safe: a receiver is only removed after it resolved.
async fn any_cap_kill(receivers: &mut Vec<oneshot::Receiver<()>>) {
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

/// Resolves when some reader finishes (or never, if none is left); its result is kept
/// in its slot, so a finished `JoinHandle` is never polled again.
async fn reader_progress(readers: &mut [Option<ReaderSlot>; 2]) {
    if readers.iter().flatten().all(|slot| slot.handle.is_none()) {
        return std::future::pending().await;
    }
    std::future::poll_fn(|cx| {
        for slot in readers.iter_mut().flatten() {
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

impl Run {
    async fn supervise(mut self) {
        // Phase 1: running.
        let status = self.run_until_leader_exits().await;
        self.leader_exited = true;

        // Phase 2: natural exit → drain with a deadline; phase 3 handles the rest.
        let mut drain = Drain::Complete;
        let mut leftovers = Vec::new();
        if self.ladder.is_none() {
            let deadline = Instant::now() + self.drain_timeout;
            let drained = self.drain_until(deadline, true).await;
            if !drained && self.ladder.is_none() {
                drain = Drain::Timeout;
            }
        }

        // Phase 3: teardown of whatever is left.
        if self.ladder.is_some() || !self.keep_leftovers {
            if self.ladder.is_none() && self.leader.tree_alive() {
                // The last members may still be exiting (a cgroup reports `populated 1`
                // for a moment after they died): let them settle before deciding that
                // something was left behind, so a clean exit never reports a ladder.
                let settle = Instant::now() + Duration::from_millis(100);
                while Instant::now() < settle
                    && self.leader.tree_alive()
                    && self.leader.leftovers().is_empty()
                {
                    tokio::time::sleep(POLL_MIN).await;
                }
                if self.leader.tree_alive() {
                    leftovers = self.leader.leftovers();
                    self.start_ladder(None);
                }
            }
            if self.ladder.is_some() && self.leader.tree_alive() {
                self.until_tree_gone().await;
            }
        } else if drain == Drain::Timeout {
            // Leftovers were asked to be kept: stop reading the pipes they hold.
            let _ = self.stop.send(true);
        }

        // Every layer is swept, however the run ended: what left the cgroup but can
        // still be attributed to the tree dies with the rest (unless kept on purpose).
        let escapees_killed = if self.keep_leftovers && self.ladder.is_none() {
            Vec::new()
        } else {
            self.leader.sweep_escapees()
        };
        // No process of the tree is left (or the leftovers were let go): only output
        // that was already written remains to be delivered.
        let _ = self.tree_ended.send(true);

        // Phase 4: final drain.
        let window = if drain == Drain::Timeout {
            POST_KILL_EOF_WINDOW
        } else {
            self.drain_timeout
        };
        if !self.drain_until(Instant::now() + window, false).await {
            drain = Drain::Timeout;
        }
        let _ = self.stop.send(true);
        let (stdout, stderr) = self.join_readers().await;

        // Asked before the guard/keeper lets the tree go.
        let dies_with_supervisor = self.protection.holds();
        // The tree is gone: only now may the leader's pid (and group id) be reused.
        if self.keep_leftovers && self.ladder.is_none() {
            // Asked to leave them running: take them out of the tree's containment so
            // that reaping the leader (and releasing the keeper/cgroup) spares them.
            self.leader.release_leftovers();
        }
        self.leader.reap().await;
        *self.stdin.lock().await = StdinSlot::Closed;

        let ladder_step = self.ladder.as_ref().map(LadderRun::index);
        let forced = self.ladder.as_ref().is_some_and(LadderRun::forced);
        let outcome = Outcome {
            pid: self.pid,
            status,
            reason: self.reason.unwrap_or(EndReason::Exited),
            ladder_step,
            forced,
            wall_time: self.started.elapsed(),
            stdout,
            stderr,
            drain,
            leftovers_killed: leftovers,
            containment: self.containment,
            layers: self.leader.layers(),
            escapees_killed,
            dies_with_supervisor,
            errors: std::mem::take(&mut self.errors),
        };
        let _ = self.tx.send(Event::Exit(outcome)).await;
        let _ = self.finished.send(true);
    }

    /// Phase 1. Returns the leader's exit status (the leader stays unreaped).
    async fn run_until_leader_exits(&mut self) -> ExitStatus {
        loop {
            let deadline = earliest(
                self.ladder.as_ref().and_then(LadderRun::deadline),
                if self.ladder.is_none() {
                    self.timeout_at
                } else {
                    None
                },
            );
            tokio::select! {
                status = self.leader.wait_exit() => match status {
                    Ok(status) => return status,
                    Err(e) => {
                        // Cannot learn the status (should not happen): kill the tree so
                        // that at least nothing leaks, and report it.
                        self.errors.push(format!("waiting for pid {} failed: {e}; the tree was killed", self.pid));
                        self.force(EndReason::Killed);
                        let status = ExitStatus { code: None, signal: None };
                        self.leader.assume_exited(status);
                        return status;
                    }
                },
                msg = self.ctl.recv() => self.on_control(msg),
                _ = any_cap_kill(&mut self.cap_kills) => self.force(EndReason::OutputCap),
                _ = sleep_until_opt(deadline) => self.on_deadline(),
            }
        }
    }

    /// Wait until both readers are done or `deadline` passes. With `natural`, the wait
    /// is abandoned as soon as a ladder starts (a cancel arrived). Returns whether the
    /// readers finished.
    async fn drain_until(&mut self, mut deadline: Instant, natural: bool) -> bool {
        loop {
            if self.readers_done() {
                return true;
            }
            if natural && self.ladder.is_some() {
                return false;
            }
            let timeout_at = if natural && self.ladder.is_none() {
                self.timeout_at
            } else {
                None
            };
            let wake = earliest(Some(deadline), timeout_at).unwrap_or(deadline);
            tokio::select! {
                _ = sleep_until(wake.into()) => {
                    if Instant::now() >= deadline {
                        if self.readers_delivering() {
                            // Not waiting for a holder: waiting for our own consumer.
                            deadline = Instant::now() + POLL_MAX;
                            continue;
                        }
                        return self.readers_done();
                    }
                    self.on_deadline();
                }
                msg = self.ctl.recv() => self.on_control(msg),
                _ = reader_progress(&mut self.readers) => {}
                _ = any_cap_kill(&mut self.cap_kills) => self.force(EndReason::OutputCap),
            }
        }
    }

    /// Phase 3: walk the ladder until no process of the tree is left.
    async fn until_tree_gone(&mut self) {
        let mut poll = POLL_MIN;
        while self.leader.tree_alive() {
            let deadline = self.ladder.as_ref().and_then(LadderRun::deadline);
            let wake = Instant::now() + poll;
            tokio::select! {
                _ = sleep_until(earliest(Some(wake), deadline).unwrap_or(wake).into()) => {
                    self.on_deadline();
                    poll = if self.acted_at.elapsed() < POLL_FAST_WINDOW {
                        POLL_MIN
                    } else {
                        (poll * 2).min(POLL_MAX)
                    };
                }
                _ = self.leader.changed() => {}
                msg = self.ctl.recv() => self.on_control(msg),
            }
        }
    }

    fn readers_done(&self) -> bool {
        self.readers.iter().flatten().all(ReaderSlot::done)
    }

    fn readers_delivering(&self) -> bool {
        self.readers
            .iter()
            .flatten()
            .any(|slot| !slot.done() && slot.state.sending())
    }

    async fn join_readers(&mut self) -> (StreamReport, StreamReport) {
        let mut reports = [StreamReport::default(), StreamReport::default()];
        for (i, slot) in self.readers.iter_mut().enumerate() {
            let Some(slot) = slot.take() else { continue };
            let result = match (slot.result, slot.handle) {
                (Some(result), _) => result,
                (None, Some(handle)) => handle.await,
                (None, None) => continue,
            };
            match result {
                Ok(result) => {
                    reports[i] = result.report;
                    if let Some(e) = result.error {
                        self.errors.push(e);
                    }
                }
                Err(e) => self
                    .errors
                    .push(format!("an output reader of pid {} failed: {e}", self.pid)),
            }
        }
        let [stdout, stderr] = reports;
        (stdout, stderr)
    }

    fn on_control(&mut self, msg: Option<Control>) {
        match msg {
            Some(Control::Cancel(reason, spec)) => {
                if self.ladder.is_some() {
                    self.escalate();
                } else {
                    if let Some(spec) = spec {
                        self.ladder_spec = spec;
                    }
                    self.start_ladder(Some(reason));
                }
            }
            Some(Control::Kill) => self.force(EndReason::Killed),
            Some(Control::Signal(signal, reply)) => {
                let result = if self.leader.tree_alive() {
                    Tree::signal_tree(&mut self.leader, signal).map_err(|e| {
                        let (kind, source) = match e {
                            TreeSignalError::Unsupported => (SignalErrorKind::Unsupported, None),
                            TreeSignalError::Gone => (SignalErrorKind::Finished, None),
                            TreeSignalError::Os(e) => (SignalErrorKind::Os, Some(e)),
                        };
                        SignalError {
                            pid: self.pid,
                            signal,
                            kind,
                            elapsed: self.started.elapsed(),
                            source,
                        }
                    })
                } else {
                    Err(SignalError {
                        pid: self.pid,
                        signal,
                        kind: SignalErrorKind::Finished,
                        elapsed: self.started.elapsed(),
                        source: None,
                    })
                };
                let _ = reply.send(result);
            }
            // The Child was dropped (or every handle is gone): nobody will read the
            // events, so kill at once.
            Some(Control::Dropped) | None => {
                self.force(EndReason::SupervisorShutdown);
                // No more control messages can matter; stop polling a closed channel.
                self.ctl.close();
            }
        }
    }

    fn on_deadline(&mut self) {
        let now = Instant::now();
        if let Some(ladder) = &mut self.ladder {
            if let Some(action) = ladder.tick(now) {
                self.act(action);
            }
        } else if self.timeout_at.is_some_and(|t| now >= t) {
            let reason = (!self.leader_exited).then_some(EndReason::TimedOut);
            self.start_ladder(reason);
        }
    }

    /// Start the ladder (no-op if running). `reason` is recorded unless one already is.
    fn start_ladder(&mut self, reason: Option<EndReason>) {
        if self.ladder.is_some() {
            return;
        }
        if let Some(reason) = reason {
            self.reason.get_or_insert(reason);
        }
        let (run, action) = LadderRun::start(self.ladder_spec.clone(), Instant::now());
        self.ladder = Some(run);
        self.act(action);
    }

    /// Go to the forceful rung now (starting the ladder there if it is not running).
    fn force(&mut self, reason: EndReason) {
        self.reason.get_or_insert(reason);
        if self.ladder.is_none() {
            let (run, action) = LadderRun::start_forced(self.ladder_spec.clone(), Instant::now());
            self.ladder = Some(run);
            self.act(action);
        } else {
            self.escalate();
        }
    }

    fn escalate(&mut self) {
        if let Some(action) = self
            .ladder
            .as_mut()
            .and_then(|l| l.escalate(Instant::now()))
        {
            self.act(action);
        }
    }

    fn act(&mut self, action: Action) {
        self.acted_at = Instant::now();
        let result = match action {
            Action::Signal { signal, first } => {
                let r = self.leader.signal_tree(signal);
                if first {
                    // A stopped process cannot act on SIGTERM until continued.
                    let _ = self.leader.signal_tree(Signal::Cont);
                }
                r.map_err(|e| (signal, e))
            }
            Action::Kill => self
                .leader
                .signal_tree(Signal::Kill)
                .map_err(|e| (Signal::Kill, e)),
        };
        if let Err((signal, e)) = result {
            self.errors.push(format!(
                "sending {signal} to the tree of pid {} failed: {e}",
                self.pid
            ));
        }
    }
}
