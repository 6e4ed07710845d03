//! The shared state of the sidecar: the registry of known children, the two output
//! lanes, the shutdown state, and the handling of every request.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use kennel::Controller;
use kennel_protocol::{
    ByeEvent, ByeReason, ChildRequest, ContainmentTier, ErrorCode, Event, IdRequest, Request,
    RequestError, ShutdownRequest,
};
use tokio::sync::mpsc::{Receiver, Sender};
use tokio::sync::Notify;

use super::child::{ack, InFlight, StdinHandle};
use super::convert::request_error;
use super::direct::Eofs;
use super::flow::Windows;

mod direct;
mod requests;
mod spawn;

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
pub(crate) struct Entry {
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
    /// The client's reports of its `"direct"` streams' EOF, when it has any.
    direct: Option<Arc<Eofs>>,
}

#[derive(Default)]
struct State {
    children: HashMap<String, Entry>,
    /// Ids whose `spawn` is being started (off the request loop), not yet in
    /// `children`: reserved, counted against the limit, awaited by the shutdown.
    starting: HashSet<String>,
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
    /// The sidecar's environment, captured at its start: every child that does not
    /// clear it starts from this copy (the sidecar never changes its own), so no spawn
    /// copies it again (issue 16, session 17).
    environment: kennel::Environment,
    stdin_total: Arc<AtomicUsize>,
    output_broken: AtomicBool,
    /// Notified (a permit is kept) once stdout failed: the client is gone.
    client_gone: Notify,
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
            environment: kennel::Environment::capture(),
            stdin_total: Arc::new(AtomicUsize::new(0)),
            output_broken: AtomicBool::new(false),
            client_gone: Notify::new(),
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
        self.client_gone.notify_one();
    }

    /// Resolves once stdout failed (at once if it already did, the first time).
    pub(crate) async fn client_gone(&self) {
        self.client_gone.notified().await;
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
                // No `eof` to wait for: a client going away may never send it.
                if let Some(eofs) = &entry.direct {
                    eofs.release();
                }
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
                if state.shutdown.is_some()
                    && state.children.is_empty()
                    && state.starting.is_empty()
                {
                    return;
                }
            }
            notified.await;
        }
    }

    /// Forget a child (called by the writer just before its `exit` line). Returns how
    /// many items were in the control lane at that moment: the replies queued while the
    /// child was still known (they are queued under this lock), which belong before its
    /// `exit`; a reply queued after this (an `unknown_id` about the child) comes after.
    pub(crate) fn forget(&self, id: &str, gen: u64, control: &Receiver<Out>) -> usize {
        let mut state = self.lock();
        if state.children.get(id).is_some_and(|e| e.gen == gen) {
            state.children.remove(id);
        }
        control.len()
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
            Request::Spawn(r) => match self.reserve(&r.id) {
                Ok(gen) => self.spawn(r, gen).await,
                Err(e) => self.reply(&e.to_event()).await,
            },
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
            Request::Eof(r) => self.eof(r).await,
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
}

fn unknown_id(op: &str, id: &str) -> RequestError {
    request_error(
        ErrorCode::UnknownId,
        format!("No known child has the id {id:?}."),
        op,
        id,
    )
}
