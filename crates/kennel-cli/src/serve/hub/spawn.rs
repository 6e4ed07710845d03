//! `spawn`: refuse it, start the child, or register it and start its forwarder.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use kennel_protocol::{ErrorCode, Event, RequestError, SpawnRequest, SpawnedEvent, StdioMode};
use tokio::sync::mpsc::Permit;

use super::{Entry, Hub, Out, State};
use crate::serve::child::{self, Forwarder, InFlight};
use crate::serve::convert::{self, request_error};
use crate::serve::direct::Eofs;
use crate::serve::flow::Windows;

/// A started child, the sum of its ladder's waits, and its direct streams' EOFs.
type Started = (kennel::Child, Duration, Option<Arc<Eofs>>);

impl Hub {
    /// Reserve `id` for a `spawn` (in request order: the duplicate and limit checks
    /// count it from now on) and take its generation (its place in `list`), or say why
    /// the spawn is refused.
    pub(crate) fn reserve(&self, id: &str) -> Result<u64, RequestError> {
        let mut state = self.lock();
        if let Some(e) = self.refusal(&state, id) {
            return Err(e);
        }
        state.starting.insert(id.to_owned());
        let gen = state.next_gen;
        state.next_gen += 1;
        Ok(gen)
    }

    /// Start the child of a [`reserve`](Self::reserve)d `spawn` (on the blocking pool:
    /// the request loop and the other spawns go on meanwhile) and register it.
    pub(crate) async fn spawn(self: &Arc<Self>, req: SpawnRequest, gen: u64) {
        let permit = self.control.reserve().await;
        let started = match permit {
            Ok(_) => Some(self.start(&req).await),
            // The writer is gone: nobody to tell, nothing to start.
            Err(_) => None,
        };
        let mut state = self.lock();
        state.starting.remove(&req.id);
        match (started, permit) {
            (Some(Ok(started)), Ok(permit)) => {
                self.register(&mut state, req, gen, started, permit);
            }
            (Some(Err(e)), Ok(permit)) => permit.send(Out::Line(e.to_event().to_line())),
            _ => {}
        }
        drop(state);
        // A shutdown may be waiting for this spawn to be settled.
        self.changed.notify_waiters();
    }

    /// Why a `spawn` of `id` is refused now, if it is.
    fn refusal(&self, state: &State, id: &str) -> Option<RequestError> {
        let (code, message) = if state.shutdown.is_some() {
            (
                ErrorCode::ShuttingDown,
                "The sidecar is shutting down and starts no new children.".to_owned(),
            )
        } else if state.children.contains_key(id) || state.starting.contains(id) {
            (
                ErrorCode::DuplicateId,
                format!(
                    "A child with id {id:?} is still known (its `exit` event has not been sent); choose another id."
                ),
            )
        } else if state.children.len() + state.starting.len() >= self.limits.max_children {
            (
                ErrorCode::TooManyChildren,
                format!(
                    "The sidecar already supervises {} children, its limit.",
                    self.limits.max_children
                ),
            )
        } else {
            return None;
        };
        Some(request_error(code, message, "spawn", id))
    }

    /// Starts the child of a `spawn`, on the blocking pool (a spawn waits for the
    /// child's `exec`, which on a busy machine waits for a CPU).
    async fn start(&self, req: &SpawnRequest) -> Result<Started, RequestError> {
        let options = convert::containment(req, &self.available)?;
        let ladder = convert::spawn_ladder(req)?;
        let waits = ladder.rungs().iter().map(|rung| rung.wait).sum();
        let command = convert::command(
            req,
            &self.environment,
            self.limits.drain_timeout,
            options,
            ladder,
        );
        let (command, direct) = self.direct_streams(command, req).await?;
        let id = req.id.clone();
        let spawn = move || {
            exec_gate(&id);
            command.spawn()
        };
        let spawned = spawn_in_place(spawn).await.map_err(|e| {
            request_error(
                ErrorCode::Internal,
                format!("The spawn task failed: {e}"),
                "spawn",
                &req.id,
            )
        })?;
        match spawned {
            Ok(child) => Ok((child, waits, direct)),
            Err(e) => {
                let message = e.report();
                let code = match e {
                    kennel::SpawnError::LimitUnsupported { .. } => ErrorCode::Unsupported,
                    kennel::SpawnError::BadLimit { .. } => ErrorCode::InvalidField,
                    _ => ErrorCode::SpawnFailed,
                };
                Err(request_error(code, message, "spawn", &req.id))
            }
        }
    }

    /// Announces a started child (`spawned`), starts its forwarder and stdin writer, and
    /// registers it as generation `gen` (reserved in request order); under the
    /// registry's lock. No request about it comes first: the request loop waits for
    /// the spawn of an id before any other request naming it (`serve/starting.rs`).
    /// A shutdown that began while it was starting (a signal) ends it at once, as it
    /// ended the others.
    fn register(
        self: &Arc<Self>,
        state: &mut State,
        req: SpawnRequest,
        gen: u64,
        (child, ladder, direct): Started,
        permit: Permit<'_, Out>,
    ) {
        let controller = child.controller();
        let pid = child.id();
        let ended = Arc::new(AtomicBool::new(false));
        let signals = Arc::new(InFlight::default());
        let windows = req.window.map(|w| windows(w, state.windows_lifted));
        let (stdin, stdin_task) = match req.stdin {
            StdioMode::Pipe => {
                let (handle, task) = child::start_stdin(
                    self.clone(),
                    req.id.clone(),
                    controller.clone(),
                    self.stdin_total.clone(),
                );
                (Some(handle), Some(task))
            }
            StdioMode::Null | StdioMode::Direct => (None, None),
        };
        let spawned = spawned_event(&req.id, &child);
        permit.send(Out::Line(Event::Spawned(spawned).to_line()));
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
        let terminating = state.shutdown.is_some();
        if terminating {
            controller.shutdown();
        }
        let entry = Entry {
            gen,
            pid,
            controller,
            stdin,
            stdin_closed: false,
            terminating,
            ended,
            signals,
            windows,
            ladder,
            direct,
        };
        state.children.insert(req.id, entry);
    }
}

/// `spawn` (`command.spawn()`, which blocks until the child's `exec`) without stalling
/// the runtime: on a multi-thread runtime in place (`block_in_place`: the other tasks of
/// this worker, and the watch over the reactor, move to another thread while it blocks),
/// else on the blocking pool. In place, no pool thread is woken and no task woken back:
/// the sidecar's context switches per spawn went 8.4 → 4.3 and its CPU 0.37 → 0.25 ms
/// (one spawn's latency is the same; DECISIONS "Session 8").
///
/// Every spawn hands its worker off, the lone one too. Session 10 ran a spawn with no
/// other child and no other spawn in flight directly on its worker (one spawn at a
/// time, 0.841 → 0.797 of Node's round trip), reasoning that the request loop would run
/// on the other worker meanwhile. It does not when the other worker sleeps: the blocked
/// one may be the one that was polling the reactor, and then nothing — no request, no
/// EOF of a client that died, no signal — was read until the exec returned: ~1 ms in a
/// burst on a busy machine, as long as the exec takes on a hung network file system
/// (DECISIONS "Session 12"; test `a_spawn_stuck_in_its_exec_holds_back_nothing_else`).
async fn spawn_in_place<F>(spawn: F) -> Result<F::Output, tokio::task::JoinError>
where
    F: FnOnce() -> Result<kennel::Child, kennel::SpawnError> + Send + 'static,
{
    match tokio::runtime::Handle::current().runtime_flavor() {
        tokio::runtime::RuntimeFlavor::MultiThread => Ok(tokio::task::block_in_place(spawn)),
        _ => tokio::task::spawn_blocking(spawn).await,
    }
}

/// Test seam: in debug builds, `KENNEL_TEST_EXEC_GATE=<prefix>:<path>` makes the spawn
/// of every id starting with `prefix` block its thread where the `exec` does, until
/// `path` exists — the way an `exec` from a hung network file system (or any slow one)
/// blocks it. It creates `<path>.entered` first, so a test knows the thread is held.
/// Release builds ignore it.
fn exec_gate(id: &str) {
    #[cfg(debug_assertions)]
    {
        use crate::serve::starting::{gate_for, Gate};
        static GATE: Gate = std::sync::OnceLock::new();
        if let Some(path) = gate_for(&GATE, "KENNEL_TEST_EXEC_GATE", id) {
            let mut entered = path.as_os_str().to_owned();
            entered.push(".entered");
            let _ = std::fs::write(entered, b"");
            while !path.exists() {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = id;
}

/// The `spawned` reply.
fn spawned_event(id: &str, child: &kennel::Child) -> SpawnedEvent {
    SpawnedEvent {
        id: id.to_owned(),
        pid: child.id(),
        containment: convert::tier(child.containment()),
    }
}

/// The flow-control windows of a child spawned with `window`; lifted from the start
/// when no `credit` can arrive any more.
fn windows(window: u64, lifted: bool) -> Arc<Windows> {
    let windows = Arc::new(Windows::new(window));
    if lifted {
        windows.lift();
    }
    windows
}
