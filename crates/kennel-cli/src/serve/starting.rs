//! The spawns the request loop started and has not seen answered yet, and which of
//! them a request must wait for.
//!
//! Each `spawn` runs on a task of its own, off the request loop, so consecutive spawns
//! start together (a spawn waits for the child's `exec`, which on a busy machine waits
//! for a CPU). A later request waits only for what it depends on (issue 16):
//!
//! * a request naming a child (`write`, `close_stdin`, `cancel`, `kill`, `signal`,
//!   `credit`, `eof`; an error about a request with that `id`; a second `spawn` of
//!   the id) waits for the `spawn` of **that id** in flight, if there is one: the child
//!   is known when the request is handled, and its `spawned` (or the spawn's `error`)
//!   is queued before any answer about it;
//! * `list` and a line with no `id` wait for **every** spawn in flight: `list` shows
//!   every child spawned before it;
//! * `shutdown` and EOF begin the shutdown at once, and a spawn in flight that
//!   registers after it is ended as it registers (its `spawned` still comes first).
//!   Waiting for the spawns first let one stuck in its `exec` (a binary on a hung
//!   network file system) keep every running child alive (DECISIONS "Session 13").
//!
//! So a request on one child no longer waits for the spawns of others (with 8 runs in
//! flight, every `credit` or `close_stdin` used to wait for all 8 spawns). The request
//! loop stays sequential: answers of requests that are queued when read still come in
//! request order.

use std::sync::Arc;

use kennel_protocol::{Request, RequestError, SpawnRequest};
use tokio::task::JoinHandle;

use super::hub::Hub;

/// At most this many spawns start at once (a burst of 1000 `spawn` lines would
/// otherwise grow the blocking pool to hundreds of threads: +10 MiB of RSS measured).
pub(crate) const SPAWNS_IN_FLIGHT: usize = 8;

/// The spawns started off the request loop whose task may still run, with their ids,
/// oldest first.
#[derive(Default)]
pub(crate) struct Starting {
    tasks: Vec<(String, JoinHandle<()>)>,
}

impl Starting {
    /// Start a `spawn` off the loop (at most [`SPAWNS_IN_FLIGHT`] at once), or answer
    /// its refusal.
    pub(crate) async fn spawn(&mut self, hub: &Arc<Hub>, req: SpawnRequest) {
        self.tasks.retain(|(_, task)| !task.is_finished());
        if self.tasks.len() >= SPAWNS_IN_FLIGHT {
            // A burst waits here: each spawn in flight holds a blocking-pool thread (a
            // stack, a malloc arena) while it waits for its exec.
            let (_, oldest) = self.tasks.remove(0);
            let _ = oldest.await;
        }
        // Its refusal (`duplicate_id`) must follow the first one's `spawned`: nothing
        // about an id comes before that.
        self.settle(&req.id).await;
        match hub.reserve(&req.id) {
            Ok(gen) => {
                let hub = hub.clone();
                let id = req.id.clone();
                let task = tokio::spawn(async move {
                    test_gate(&req.id).await;
                    hub.spawn(req, gen).await
                });
                self.tasks.push((id, task));
            }
            Err(e) => hub.reply(&e.to_event()).await,
        }
    }

    /// Wait for what `request` (any request but a `spawn`, or a line that is not one)
    /// depends on: the spawn of the child it names, or every spawn in flight.
    pub(crate) async fn before(&mut self, request: &Result<Request, RequestError>) {
        let id = match request {
            // A shutdown ends the spawns in flight as they register (`Hub::register`):
            // waiting for them first would let one stuck in its `exec` keep every
            // running child alive.
            Ok(Request::Shutdown(_)) => return,
            Ok(Request::List(_)) => None,
            Ok(r) => r.id(),
            Err(e) => e.id.as_deref(),
        };
        match id {
            Some(id) => self.settle(id).await,
            None => self.settle_all().await,
        }
    }

    /// Wait until the spawn of `id` in flight, if any, has registered its child (or
    /// answered its error).
    async fn settle(&mut self, id: &str) {
        while let Some(at) = self.tasks.iter().position(|(of, _)| of == id) {
            let (_, task) = self.tasks.remove(at);
            // A panicked task ends the whole sidecar (`crate::fatal`): nothing to answer.
            let _ = task.await;
        }
    }

    /// Wait until every spawn in flight has registered its child (or answered its error).
    pub(crate) async fn settle_all(&mut self) {
        for (_, task) in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

/// Test seam: in debug builds, `KENNEL_TEST_SPAWN_GATE=<prefix>:<path>` holds the
/// spawn of every id starting with `prefix` until `path` exists, so the tests can show
/// what waits for a spawn in flight and what does not. Release builds ignore it.
async fn test_gate(id: &str) {
    #[cfg(debug_assertions)]
    {
        static GATE: Gate = std::sync::OnceLock::new();
        if let Some(path) = gate_for(&GATE, "KENNEL_TEST_SPAWN_GATE", id) {
            while !path.exists() {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = id;
}

/// A debug-build gate's setting, `<prefix>:<path>` from its environment variable, read
/// once.
#[cfg(debug_assertions)]
pub(crate) type Gate = std::sync::OnceLock<Option<(String, std::path::PathBuf)>>;

/// The path that holds the spawn of `id` back, if `var` names a gate for its prefix.
#[cfg(debug_assertions)]
pub(crate) fn gate_for<'a>(gate: &'a Gate, var: &str, id: &str) -> Option<&'a std::path::Path> {
    let setting = gate.get_or_init(|| {
        let v = std::env::var(var).ok()?;
        let (prefix, path) = v.split_once(':')?;
        Some((prefix.to_owned(), path.into()))
    });
    let (prefix, path) = setting.as_ref()?;
    id.starts_with(prefix.as_str()).then_some(path.as_path())
}
