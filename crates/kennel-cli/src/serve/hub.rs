//! The shared state of the sidecar: the registry of known children, the two output
//! lanes, the shutdown state, and the handling of every request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use kennel::Controller;
use kennel_protocol::{
    ByeEvent, ByeReason, CancelRequest, ChildInfo, ChildRequest, ChildState, ContainmentTier,
    CreditRequest, ErrorCode, Event, IdRequest, ListEvent, Request, RequestError, ShutdownRequest,
    SignalRequest, SpawnRequest, SpawnedEvent, StdioMode, WriteRequest,
};
use tokio::sync::mpsc::{self, Sender};
use tokio::sync::Notify;

use super::child::{self, ack, Forwarder, InFlight, StdinHandle, StdinJob};
use super::convert::{self, request_error};
use super::flow::Windows;

/// Bytes of `write` data queued for one child and not yet in its pipe, at most. Eight
/// protocol lines' worth: plenty to keep a pipe busy, small enough that a client that
/// ignores `written` cannot grow the sidecar without bound. Past it, a `write` is
/// rejected (see the module docs).
pub const STDIN_QUEUE_PER_CHILD: usize = 8 * 1024 * 1024;

/// Bytes of `write` data queued for all children together, at most.
pub const STDIN_QUEUE_TOTAL: usize = 64 * 1024 * 1024;

/// One item for the stdout writer.
#[derive(Debug)]
pub(crate) enum Out {
    /// A finished event line.
    Line(String),
    /// A binary data frame, for a child spawned with `"framing": "binary"`: the
    /// header (with the id) and the payload, the library's chunk as it was read.
    Frame {
        /// The fixed header and the id.
        header: Vec<u8>,
        /// The output bytes.
        payload: bytes::Bytes,
    },
    /// A child's `exit` line: the writer forgets the child (`id`, generation `gen`)
    /// just before writing it.
    Exit {
        /// The `exit` event line.
        line: String,
        /// The child's id.
        id: String,
        /// Which child of that id.
        gen: u64,
    },
    /// The `bye` line: the writer's last.
    Bye(String),
}

/// A child the sidecar knows: from its `spawn` until its `exit` is written.
struct Entry {
    gen: u64,
    pid: u32,
    controller: Controller,
    /// `None` when stdin is not piped.
    stdin: Option<StdinHandle>,
    /// `close_stdin` was requested.
    stdin_closed: bool,
    /// Termination was requested (cancel, kill, shutdown).
    terminating: bool,
    /// The forwarder received the outcome (the `exit` event is on its way).
    ended: Arc<AtomicBool>,
    /// `signal` requests still waiting for the library's answer.
    signals: Arc<InFlight>,
    /// Flow-control windows, when spawned with `window`.
    windows: Option<Arc<Windows>>,
    /// The sum of the waits of its ladder: how long its teardown may take.
    ladder: Duration,
}

#[derive(Default)]
struct State {
    children: HashMap<String, Entry>,
    next_gen: u64,
    /// Why and at whose request the shutdown began.
    shutdown: Option<(ByeReason, Option<String>)>,
    /// No `credit` can arrive any more (stdin ended or stdout failed): every window
    /// is lifted, including those of children spawned later.
    windows_lifted: bool,
}

/// Settings of one sidecar.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) max_children: usize,
    pub(crate) drain_timeout: Duration,
}

/// Everything the tasks of the sidecar share.
pub(crate) struct Hub {
    state: Mutex<State>,
    /// Woken when a child is forgotten or the shutdown begins.
    changed: Notify,
    control: Sender<Out>,
    data: Sender<Out>,
    limits: Limits,
    available: Vec<ContainmentTier>,
    stdin_total: Arc<AtomicUsize>,
    output_broken: AtomicBool,
}

impl Hub {
    pub(crate) fn new(
        control: Sender<Out>,
        data: Sender<Out>,
        limits: Limits,
        available: Vec<ContainmentTier>,
    ) -> Hub {
        Hub {
            state: Mutex::new(State::default()),
            changed: Notify::new(),
            control,
            data,
            limits,
            available,
            stdin_total: Arc::new(AtomicUsize::new(0)),
            output_broken: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queue an event on the control lane (waits while the lane is full).
    pub(crate) async fn reply(&self, event: &Event) {
        let _ = self.control.send(Out::Line(event.to_line())).await;
    }

    /// Queue an item on the data lane (waits, FIFO-fair, while the lane is full).
    pub(crate) async fn data(&self, item: Out) {
        let _ = self.data.send(item).await;
    }

    /// Queue the `bye` line; the writer stops after it.
    pub(crate) async fn bye(&self) {
        let (reason, id) = self
            .lock()
            .shutdown
            .clone()
            .unwrap_or((ByeReason::Eof, None));
        let line = Event::Bye(ByeEvent { reason, id }).to_line();
        let _ = self.control.send(Out::Bye(line)).await;
    }

    /// Whether stdout failed (then nothing reaches the client any more).
    pub(crate) fn is_output_broken(&self) -> bool {
        self.output_broken.load(Ordering::Relaxed)
    }

    /// The writer could not write to stdout: the caller is gone.
    pub(crate) fn output_broken(&self) {
        self.output_broken.store(true, Ordering::Relaxed);
        self.lift_windows();
        self.begin_shutdown(ByeReason::Eof, None, false);
    }

    /// No `credit` can arrive any more (the client closed our stdin, or nothing
    /// reaches it): stop holding output back for flow control, so every forwarder
    /// can finish and the shutdown completes.
    pub(crate) fn lift_windows(&self) {
        let mut state = self.lock();
        state.windows_lifted = true;
        for entry in state.children.values() {
            if let Some(w) = &entry.windows {
                w.lift();
            }
        }
    }

    /// Start the shutdown: every child gets the ladder (reason `supervisor_shutdown`).
    /// With `escalate`, a shutdown already under way jumps to the forceful rung.
    /// Returns whether this call began it.
    pub(crate) fn begin_shutdown(
        &self,
        reason: ByeReason,
        id: Option<String>,
        escalate: bool,
    ) -> bool {
        let mut state = self.lock();
        let first = state.shutdown.is_none();
        if first {
            state.shutdown = Some((reason, id));
        }
        if first || escalate {
            for entry in state.children.values_mut() {
                entry.terminating = true;
                // The second `shutdown` of a run escalates to the forceful rung.
                entry.controller.shutdown();
            }
        }
        drop(state);
        self.changed.notify_waiters();
        first
    }

    /// Resolves once the shutdown began and every child's `exit` was written.
    pub(crate) async fn drained(&self) {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let state = self.lock();
                if state.shutdown.is_some() && state.children.is_empty() {
                    return;
                }
            }
            notified.await;
        }
    }

    /// Forget a child (called by the writer just before its `exit` line).
    pub(crate) fn forget(&self, id: &str, gen: u64) {
        let mut state = self.lock();
        if state.children.get(id).is_some_and(|e| e.gen == gen) {
            state.children.remove(id);
        }
    }

    /// The longest ladder (sum of its waits) of the known children.
    pub(crate) fn longest_ladder(&self) -> Duration {
        let state = self.lock();
        state
            .children
            .values()
            .map(|e| e.ladder)
            .max()
            .unwrap_or_default()
    }

    /// The controllers of every known child.
    pub(crate) fn controllers(&self) -> Vec<Controller> {
        let state = self.lock();
        state
            .children
            .values()
            .map(|e| e.controller.clone())
            .collect()
    }

    /// Wake whoever waits for the registry to change.
    pub(crate) fn notify_changed(&self) {
        self.changed.notify_waiters();
    }

    /// Handle one request line (or its parse error).
    pub(crate) async fn handle(self: &Arc<Self>, request: Result<Request, RequestError>) {
        let request = match request {
            Ok(r) => r,
            Err(e) => return self.reply(&e.to_event()).await,
        };
        match request {
            Request::Spawn(r) => self.spawn(r).await,
            Request::Write(r) => self.write(r).await,
            Request::CloseStdin(r) => self.close_stdin(r).await,
            Request::Cancel(r) => self.cancel(r).await,
            Request::Kill(ChildRequest { id, req }) => {
                self.with_child("kill", &id, req.as_deref(), |e| {
                    e.terminating = true;
                    e.controller.kill();
                    Ok(ack(&id, "kill", req.clone()))
                })
                .await;
            }
            Request::Credit(r) => self.credit(r).await,
            Request::Signal(r) => self.signal(r).await,
            Request::List(IdRequest { id }) => self.list(id).await,
            Request::Shutdown(ShutdownRequest { id }) => {
                if !self.begin_shutdown(ByeReason::Shutdown, id.clone(), false) {
                    let mut e = RequestError::new(
                        ErrorCode::ShuttingDown,
                        "The sidecar is already shutting down.",
                    )
                    .with_op("shutdown");
                    if let Some(id) = id {
                        e = e.with_id(id);
                    }
                    self.reply(&e.to_event()).await;
                }
            }
            // `Request` is non-exhaustive; the parser only yields the variants above.
            other => {
                let e = RequestError::new(
                    ErrorCode::UnknownOp,
                    format!(
                        "Operation `{}` is not supported by this sidecar.",
                        other.op()
                    ),
                )
                .with_op(other.op());
                self.reply(&e.to_event()).await;
            }
        }
    }

    /// Run `f` on the child `id` and queue its reply, if any; errors carry the
    /// request's `req` tag.
    ///
    /// The reply is queued while the registry is locked, so it is queued while the child
    /// is still known: the writer puts such replies before the child's `exit`. The
    /// request takes effect before any waiting: when the control lane is full (a client
    /// that left 256 replies unread), only the queueing of the reply waits, and then
    /// the reply may follow the child's `exit`.
    async fn with_child(
        &self,
        op: &str,
        id: &str,
        req: Option<&str>,
        f: impl FnOnce(&mut Entry) -> Result<Option<Event>, RequestError>,
    ) {
        let permit = self.control.try_reserve().ok();
        let late = {
            let mut state = self.lock();
            let reply = match state.children.get_mut(id) {
                None => Some(unknown_id(op, id).with_req_opt(req).to_event()),
                Some(entry) => f(entry).unwrap_or_else(|e| Some(e.with_req_opt(req).to_event())),
            };
            match (reply, permit) {
                (Some(event), Some(permit)) => {
                    permit.send(Out::Line(event.to_line()));
                    None
                }
                (reply, _) => reply,
            }
        };
        if let Some(event) = late {
            self.reply(&event).await;
        }
    }

    async fn spawn(self: &Arc<Self>, req: SpawnRequest) {
        let Ok(permit) = self.control.reserve().await else {
            return;
        };
        let mut state = self.lock();
        let refusal = if state.shutdown.is_some() {
            Some((
                ErrorCode::ShuttingDown,
                "The sidecar is shutting down and starts no new children.".to_owned(),
            ))
        } else if state.children.contains_key(&req.id) {
            Some((
                ErrorCode::DuplicateId,
                format!(
                    "A child with id {:?} is still known (its `exit` event has not been sent); choose another id.",
                    req.id
                ),
            ))
        } else if state.children.len() >= self.limits.max_children {
            Some((
                ErrorCode::TooManyChildren,
                format!(
                    "The sidecar already supervises {} children, its limit.",
                    self.limits.max_children
                ),
            ))
        } else {
            None
        };
        if let Some((code, message)) = refusal {
            let e = request_error(code, message, "spawn", &req.id);
            permit.send(Out::Line(e.to_event().to_line()));
            return;
        }
        let command = convert::containment(&req, &self.available)
            .and_then(|options| convert::command(&req, self.limits.drain_timeout, options));
        let command = match command {
            Ok(c) => c,
            Err(e) => return permit.send(Out::Line(e.to_event().to_line())),
        };
        let child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                let mut message = e.to_string();
                if let Some(source) = std::error::Error::source(&e) {
                    message = format!("{message}: {source}");
                }
                let e = request_error(ErrorCode::SpawnFailed, message, "spawn", &req.id);
                return permit.send(Out::Line(e.to_event().to_line()));
            }
        };
        let ladder = req.effective_ladder().iter().map(|s| s.wait()).sum();
        let gen = state.next_gen;
        state.next_gen += 1;
        let controller = child.controller();
        let pid = child.id();
        let containment = convert::tier(child.containment());
        let ended = Arc::new(AtomicBool::new(false));
        let signals = Arc::new(InFlight::default());
        let windows = req.window.map(|w| {
            let w = Arc::new(Windows::new(w));
            if state.windows_lifted {
                w.lift();
            }
            w
        });
        let (stdin, stdin_task) = if req.stdin == StdioMode::Pipe {
            let (handle, task) = child::start_stdin(
                self.clone(),
                req.id.clone(),
                controller.clone(),
                self.stdin_total.clone(),
            );
            (Some(handle), Some(task))
        } else {
            (None, None)
        };
        permit.send(Out::Line(
            Event::Spawned(SpawnedEvent {
                id: req.id.clone(),
                pid,
                containment,
            })
            .to_line(),
        ));
        let forwarder = Forwarder {
            hub: self.clone(),
            id: req.id.clone(),
            gen,
            framing: req.framing,
            stdin: stdin_task,
            signals: signals.clone(),
            ended: ended.clone(),
            windows: windows.clone(),
        };
        tokio::spawn(child::forward(forwarder, child));
        state.children.insert(
            req.id,
            Entry {
                gen,
                pid,
                controller,
                stdin,
                stdin_closed: false,
                terminating: false,
                ended,
                signals,
                windows,
                ladder,
            },
        );
    }

    async fn write(&self, req: WriteRequest) {
        let total = self.stdin_total.clone();
        let tag = req.req.clone();
        self.with_child("write", &req.id.clone(), tag.as_deref(), move |entry| {
            let id = req.id.as_str();
            let Some(stdin) = &entry.stdin else {
                return Err(stdin_not_piped("write", id));
            };
            if entry.stdin_closed {
                return Err(request_error(
                    ErrorCode::StdinClosed,
                    "The child's stdin was closed by `close_stdin`.",
                    "write",
                    id,
                ));
            }
            let len = req.data.len();
            let queued = stdin.queued.load(Ordering::Relaxed);
            let all = total.load(Ordering::Relaxed);
            if queued > 0
                && (queued + len > STDIN_QUEUE_PER_CHILD || all + len > STDIN_QUEUE_TOTAL)
            {
                return Err(request_error(
                    ErrorCode::StdinFull,
                    format!(
                        "The write does not fit: {queued} bytes for this child (and {all} in all) are still waiting to enter stdin pipes, and the limit is {STDIN_QUEUE_PER_CHILD} per child ({STDIN_QUEUE_TOTAL} in all); wait for `written` events before sending more."
                    ),
                    "write",
                    id,
                ));
            }
            stdin.queued.fetch_add(len, Ordering::Relaxed);
            total.fetch_add(len, Ordering::Relaxed);
            if let Err(mpsc::error::SendError(_)) =
                stdin.tx.send(StdinJob::Write(req.data.into_bytes(), req.req))
            {
                stdin.queued.fetch_sub(len, Ordering::Relaxed);
                total.fetch_sub(len, Ordering::Relaxed);
                return Err(request_error(
                    ErrorCode::StdinClosed,
                    "The child has ended; its stdin is closed.",
                    "write",
                    id,
                ));
            }
            Ok(None)
        })
        .await;
    }

    async fn close_stdin(&self, req: ChildRequest) {
        self.with_child("close_stdin", &req.id, req.req.as_deref(), |entry| {
            let Some(stdin) = &entry.stdin else {
                return Err(stdin_not_piped("close_stdin", &req.id));
            };
            if !entry.stdin_closed || req.req.is_some() {
                entry.stdin_closed = true;
                // After the pending writes (the stdin writer acknowledges it then); if
                // the child already ended, its stdin is closed anyway.
                if let Err(mpsc::error::SendError(_)) =
                    stdin.tx.send(StdinJob::Close(req.req.clone()))
                {
                    // The stdin writer is gone: so is the child's stdin.
                    return Ok(ack(&req.id, "close_stdin", req.req.clone()));
                }
            }
            Ok(None)
        })
        .await;
    }

    async fn cancel(&self, r: CancelRequest) {
        let ladder = match r
            .ladder
            .as_ref()
            .map(|l| convert::ladder(l, "cancel", &r.id))
        {
            Some(Err(e)) => {
                return self
                    .reply(&e.with_req_opt(r.req.as_deref()).to_event())
                    .await
            }
            Some(Ok(ladder)) => Some(ladder),
            None => None,
        };
        let waits: Duration = r.ladder.iter().flatten().map(|s| s.wait()).sum();
        self.with_child("cancel", &r.id, r.req.as_deref(), |e| {
            e.terminating = true;
            // The teardown may now take as long as this ladder.
            e.ladder = e.ladder.max(waits);
            match ladder {
                Some(ladder) => e.controller.cancel_with(ladder),
                None => e.controller.cancel(),
            }
            Ok(ack(&r.id, "cancel", r.req.clone()))
        })
        .await;
    }

    /// `credit`: never acknowledged. An unknown id is ignored (the credit raced the
    /// child's `exit`, which is normal); a child without flow control or a window that
    /// would overflow is an error.
    async fn credit(&self, r: CreditRequest) {
        let error = {
            let state = self.lock();
            let Some(entry) = state.children.get(&r.id) else {
                return;
            };
            match &entry.windows {
                None => Some(request_error(
                    ErrorCode::InvalidField,
                    "The child was spawned without `window`; it has no flow control to credit.",
                    "credit",
                    &r.id,
                )),
                Some(w) => w.credit(r.stream, r.bytes).err().map(|o| {
                    request_error(
                        ErrorCode::InvalidField,
                        format!(
                            "Field `bytes` would grow the window from {} past {} bytes.",
                            o.available,
                            kennel_protocol::MAX_WINDOW_BYTES
                        ),
                        "credit",
                        &r.id,
                    )
                }),
            }
        };
        if let Some(e) = error {
            self.reply(&e.to_event()).await;
        }
    }

    async fn signal(self: &Arc<Self>, req: SignalRequest) {
        let hub = self.clone();
        let tag = req.req.clone();
        self.with_child("signal", &req.id, tag.as_deref(), |entry| {
            let sig = convert::signal(req.signal, "signal", &req.id)?;
            // The library answers from the child's supervisor task, which may be busy
            // delivering output under backpressure: wait for it in a task of its own
            // so the request loop never blocks. The forwarder waits for these tasks
            // before queueing `exit`, so an error still comes before it.
            let guard = entry.signals.enter();
            let controller = entry.controller.clone();
            let id = req.id.clone();
            let tag = req.req.clone();
            tokio::spawn(async move {
                let reply = match controller.signal(sig).await {
                    Ok(()) => ack(&id, "signal", tag),
                    Err(e) => {
                        let code = match e.kind {
                            // The tree ended meanwhile: its `exit` is coming; nothing
                            // to report but the acknowledgement.
                            kennel::SignalErrorKind::Finished => None,
                            kennel::SignalErrorKind::Unsupported => Some(ErrorCode::Unsupported),
                            _ => Some(ErrorCode::SignalFailed),
                        };
                        match code {
                            None => ack(&id, "signal", tag),
                            Some(code) => {
                                let mut message = e.to_string();
                                if let Some(source) = std::error::Error::source(&e) {
                                    message = format!("{message}: {source}");
                                }
                                let err = request_error(code, message, "signal", &id)
                                    .with_req_opt(tag.as_deref());
                                Some(err.to_event())
                            }
                        }
                    }
                };
                if let Some(event) = reply {
                    hub.reply(&event).await;
                }
                drop(guard);
            });
            Ok(None)
        })
        .await;
    }

    async fn list(&self, id: String) {
        let Ok(permit) = self.control.reserve().await else {
            return;
        };
        let state = self.lock();
        let mut children: Vec<(u64, ChildInfo)> = state
            .children
            .iter()
            .map(|(child_id, e)| {
                let exiting =
                    e.terminating || e.ended.load(Ordering::Relaxed) || e.controller.is_finished();
                let info = ChildInfo {
                    id: child_id.clone(),
                    pid: e.pid,
                    state: if exiting {
                        ChildState::Exiting
                    } else {
                        ChildState::Running
                    },
                };
                (e.gen, info)
            })
            .collect();
        children.sort_by_key(|(gen, _)| *gen);
        let event = Event::List(ListEvent {
            id,
            children: children.into_iter().map(|(_, info)| info).collect(),
        });
        // Queued under the lock, like every reply that names children.
        permit.send(Out::Line(event.to_line()));
        drop(state);
    }
}

fn unknown_id(op: &str, id: &str) -> RequestError {
    request_error(
        ErrorCode::UnknownId,
        format!("No known child has the id {id:?}."),
        op,
        id,
    )
}

fn stdin_not_piped(op: &str, id: &str) -> RequestError {
    request_error(
        ErrorCode::StdinNotPiped,
        "The child was spawned with `\"stdin\": \"null\"`; spawn it with `\"stdin\": \"pipe\"` to write to it.",
        op,
        id,
    )
}
