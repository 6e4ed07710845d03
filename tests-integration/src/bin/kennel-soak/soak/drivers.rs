//! The two drivers of a cycle: the kennel library in this process, and a shared
//! `kennel serve` sidecar (through `kennel_tests::sidecar`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kennel::{Command, ContainmentOptions, Drain, EndReason, Event, Ladder, Outcome, Signal};
use kennel_protocol::{DrainStatus, ErrorCode, Event as ProtocolEvent, ExitReason};
use kennel_tests::sidecar::{self, request, DriverError};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::judge::*;
use super::plan::*;
use super::*;

/// What one cycle runs, whichever the path.
pub(crate) struct Cycle<'a> {
    pub(crate) fixture: &'a std::path::Path,
    pub(crate) plan: &'a Plan,
    pub(crate) action: Action,
    /// The environment variable every process of the tree carries.
    pub(crate) marker: (&'a str, &'a str),
    pub(crate) seed: u64,
}

pub(crate) async fn library_cycle(c: &Cycle<'_>, rng: &mut fastrand::Rng) -> Seen {
    let (fixture, plan, action, marker) = (c.fixture, c.plan, c.action, c.marker);
    let seed = c.seed;
    let mut seen = Seen::new(seed);
    let containment = match rng.u8(0..3) {
        0 => ContainmentOptions {
            cgroup: false,
            keeper: true,
        },
        // Without a keeper only the cgroup catches escaped daemons: only where one exists.
        1 if !plan.escapes
            || kennel::available_containment().contains(&kennel::Containment::Cgroup) =>
        {
            ContainmentOptions {
                cgroup: true,
                keeper: false,
            }
        }
        _ => ContainmentOptions::default(),
    };
    let mut cmd = Command::new(fixture)
        .args(&plan.args)
        .env(marker.0, marker.1)
        .ladder(Ladder::graceful(Signal::Term, GRACE))
        .drain_timeout(DRAIN_TIMEOUT)
        .containment(containment);
    if let Action::Timeout(ms) = action {
        cmd = cmd.timeout(Duration::from_millis(ms));
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            seen.failures.push(format!("spawn failed: {e}"));
            return seen;
        }
    };
    let act_at = tokio::time::Instant::now() + action.delay();
    let mut acted = matches!(action, Action::Natural | Action::Timeout(_));
    if !acted && action.delay().is_zero() {
        act(&child, action).await;
        acted = true;
    }
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let event = tokio::select! {
            e = child.next_event() => e,
            _ = tokio::time::sleep_until(act_at), if !acted => {
                act(&child, action).await;
                acted = true;
                continue;
            }
            _ = tokio::time::sleep_until(deadline) => {
                seen.failures.push(format!("no exit within {PATIENCE:?}"));
                child.kill();
                let _ = tokio::time::timeout(PATIENCE, child.wait()).await;
                return seen;
            }
        };
        match event {
            Some(Event::Stdout(b)) => seen.feed(false, &b),
            Some(Event::Stderr(b)) => seen.feed(true, &b),
            Some(Event::Exit(o)) => {
                seen.exit = Some(summary_of(&o));
                break;
            }
            None => {
                seen.failures
                    .push("event stream ended without an exit".into());
                break;
            }
        }
    }
    seen
}

/// One short run of the library under each containment a cycle may draw, so that what
/// each starts once per process (the guard of cgroup trees, with its control socket)
/// exists before the fds are counted. A warm-up whose random draws missed one would
/// otherwise see that fd appear in the middle of the run and fail the fd check
/// (seed 1796184923: no library cycle of the warm-up drew the default containment).
pub(crate) async fn prime_containments(fixture: &std::path::Path) -> Result<(), String> {
    let all = [
        ContainmentOptions {
            cgroup: false,
            keeper: true,
        },
        ContainmentOptions {
            cgroup: true,
            keeper: false,
        },
        ContainmentOptions::default(),
    ];
    for containment in all {
        let mut child = Command::new(fixture)
            .args(["seq", "--records", "1"])
            .containment(containment)
            .spawn()
            .map_err(|e| format!("priming {containment:?}: spawn failed: {e}"))?;
        let out = tokio::time::timeout(PATIENCE, child.wait())
            .await
            .map_err(|_| format!("priming {containment:?}: no exit within {PATIENCE:?}"))?;
        if !out.success() {
            return Err(format!(
                "priming {containment:?}: ended {:?} ({:?})",
                out.reason, out.status
            ));
        }
    }
    Ok(())
}

pub(crate) async fn act(child: &kennel::Child, action: Action) {
    match action {
        Action::Cancel(_) => child.cancel(),
        Action::DoubleCancel(_) => {
            child.cancel();
            tokio::task::yield_now().await;
            child.cancel();
        }
        Action::Kill(_) => child.kill(),
        Action::Natural | Action::Timeout(_) => {}
    }
}

pub(crate) fn summary_of(o: &Outcome) -> ExitSummary {
    ExitSummary {
        reason: match o.reason {
            EndReason::Exited => "exited",
            EndReason::TimedOut => "timed_out",
            EndReason::Cancelled => "cancelled",
            EndReason::Killed => "killed",
            EndReason::OutputCap => "output_cap",
            EndReason::SupervisorShutdown => "supervisor_shutdown",
            _ => "unknown",
        },
        code: o.status.code.map(i64::from),
        forced: o.forced,
        stdout_bytes: o.stdout.bytes,
        stderr_bytes: o.stderr.bytes,
        drain_complete: o.drain == Drain::Complete,
    }
}

// -----------------------------------------------------------------------------
// The sidecar path

/// A shared `kennel serve`: writers share its stdin, one reader task routes its
/// events by id to the cycle that owns the id.
pub(crate) struct Sidecar {
    pub(crate) pid: u32,
    stdin: tokio::sync::Mutex<Option<sidecar::Writer>>,
    routes: Arc<Mutex<HashMap<String, mpsc::UnboundedSender<ProtocolEvent>>>>,
    process: tokio::sync::Mutex<sidecar::Sidecar>,
    /// Events that were not well-formed protocol events, or had no route.
    pub(crate) stray: Arc<Mutex<Vec<String>>>,
    /// `unknown_id` answers to a cancel/kill that arrived after the tree's `exit`
    /// (counted, not kept: the soak's own bookkeeping must not grow per cycle).
    pub(crate) raced: Arc<AtomicU64>,
    pub(crate) ended: Arc<AtomicBool>,
    /// The last line, `bye`, was read.
    bye: Arc<AtomicBool>,
    reader: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// Where the reader task puts what it reads.
#[derive(Clone, Default)]
struct Routing {
    routes: Arc<Mutex<HashMap<String, mpsc::UnboundedSender<ProtocolEvent>>>>,
    stray: Arc<Mutex<Vec<String>>>,
    raced: Arc<AtomicU64>,
    ended: Arc<AtomicBool>,
    bye: Arc<AtomicBool>,
}

impl Routing {
    /// Reads events until EOF (or a read error), routing each by its id.
    async fn read_all(self, mut reader: sidecar::Reader) {
        loop {
            let received = match reader.next_before(far_future()).await {
                Ok(Some(r)) => r,
                Ok(None) | Err(DriverError::Io(..)) => break,
                Err(e) => {
                    self.stray.lock().unwrap().push(e.to_string());
                    continue;
                }
            };
            self.route(received.event);
        }
        self.ended.store(true, Ordering::SeqCst);
    }

    fn route(&self, event: ProtocolEvent) {
        if let ProtocolEvent::Bye(_) = event {
            self.bye.store(true, Ordering::SeqCst);
            return;
        }
        let id = event.id().unwrap_or_default().to_owned();
        let route = self.routes.lock().unwrap().get(&id).cloned();
        match (route, &event) {
            (Some(tx), _) => {
                let _ = tx.send(event);
            }
            // A cancel/kill sent as the tree ended by itself arrives after its exit.
            (None, ProtocolEvent::Error(e))
                if e.code == ErrorCode::UnknownId
                    && matches!(e.op.as_deref(), Some("cancel" | "kill")) =>
            {
                self.raced.fetch_add(1, Ordering::Relaxed);
            }
            (None, _) => self
                .stray
                .lock()
                .unwrap()
                .push(format!("unrouted: {}", event.to_line().trim_end())),
        }
    }
}

/// A deadline the reader task never meets: it reads until EOF.
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(365 * 24 * 3600)
}

impl Sidecar {
    pub(crate) async fn start(kennel: &std::path::Path) -> Result<Sidecar, String> {
        let (process, writer, reader) =
            sidecar::Sidecar::start(kennel, &[], &[], PATIENCE)
                .await
                .map_err(|e| format!("start {} serve: {e}", kennel.display()))?;
        let routing = Routing::default();
        let task = tokio::spawn(routing.clone().read_all(reader));
        Ok(Sidecar {
            pid: process.pid,
            stdin: tokio::sync::Mutex::new(Some(writer)),
            routes: routing.routes,
            process: tokio::sync::Mutex::new(process),
            stray: routing.stray,
            raced: routing.raced,
            ended: routing.ended,
            bye: routing.bye,
            reader: Mutex::new(Some(task)),
        })
    }

    async fn send(&self, request: &Value) -> Result<(), String> {
        let mut stdin = self.stdin.lock().await;
        let stdin = stdin.as_mut().ok_or("sidecar stdin closed")?;
        stdin.send(request).await.map_err(|e| e.to_string())
    }

    /// Close stdin, expect every remaining event and a clean exit.
    pub(crate) async fn shut_down(&self) -> Result<(), String> {
        self.stdin.lock().await.take();
        let status = match self.process.lock().await.wait(PATIENCE).await {
            Err(DriverError::Timeout) => return Err("the sidecar did not exit after EOF".into()),
            other => other,
        };
        let reader = self.reader.lock().unwrap().take();
        if let Some(r) = reader {
            let _ = tokio::time::timeout(PATIENCE, r).await;
        }
        if !self.bye.load(Ordering::SeqCst) {
            return Err("the sidecar ended without `bye`".into());
        }
        match status {
            Ok(s) if s.success() => Ok(()),
            Ok(s) => Err(format!("the sidecar exited with {s}")),
            // The orphan reaper of `become_subreaper` may take a child's status
            // first; `bye` already said it ended cleanly.
            Err(DriverError::Io(_, e)) if e.raw_os_error() == Some(libc::ECHILD) => Ok(()),
            Err(e) => Err(format!("wait for the sidecar: {e}")),
        }
    }
}

/// The spawn request of a cycle through the sidecar.
fn spawn_request(id: &str, c: &Cycle<'_>, rng: &mut fastrand::Rng) -> Value {
    let fixture = c.fixture.to_string_lossy();
    let args: Vec<&str> = c.plan.args.iter().map(String::as_str).collect();
    let mut spawn = request::Spawn::new(id, &fixture, &args)
        .with("env", json!({c.marker.0: c.marker.1}))
        .with(
            "ladder",
            json!([{"signal": "SIGTERM", "wait_ms": GRACE.as_millis() as u64}]),
        )
        .with("drain_timeout_ms", DRAIN_TIMEOUT.as_millis() as u64);
    if rng.bool() {
        spawn = spawn.with("containment", json!({"cgroup": false}));
    }
    if let Action::Timeout(ms) = c.action {
        spawn = spawn.with("timeout_ms", ms);
    }
    spawn.build()
}

pub(crate) async fn sidecar_cycle(
    sc: &Sidecar,
    id: &str,
    c: &Cycle<'_>,
    rng: &mut fastrand::Rng,
) -> Seen {
    let action = c.action;
    let mut seen = Seen::new(c.seed);
    let (tx, mut rx) = mpsc::unbounded_channel();
    sc.routes.lock().unwrap().insert(id.to_owned(), tx);
    let request = spawn_request(id, c, rng);
    let result = async {
        sc.send(&request).await?;
        let verb = match action {
            Action::Cancel(_) | Action::DoubleCancel(_) => Some(request::cancel(id)),
            Action::Kill(_) => Some(request::kill(id)),
            _ => None,
        };
        let mut acted = verb.is_none();
        if !acted && action.delay().is_zero() {
            // Right behind the spawn line, before `spawned` came back.
            send_action(sc, verb.as_ref(), action).await?;
            acted = true;
        }
        let mut spawned_at = None;
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let act_at = spawned_at.map(|t: tokio::time::Instant| t + action.delay());
            let event = tokio::select! {
                e = rx.recv() => e,
                _ = async { tokio::time::sleep_until(act_at.unwrap_or(deadline)).await }, if !acted && act_at.is_some() => {
                    send_action(sc, verb.as_ref(), action).await?;
                    acted = true;
                    continue;
                }
                _ = tokio::time::sleep_until(deadline) => {
                    let _ = sc.send(&request::kill(id)).await;
                    return Err(format!("no exit within {PATIENCE:?}"));
                }
            };
            let Some(e) = event else {
                return Err("the sidecar ended mid-cycle".into());
            };
            match e {
                ProtocolEvent::Spawned(_) => spawned_at = Some(tokio::time::Instant::now()),
                ProtocolEvent::Stdout(c) => seen.feed(false, c.data.as_bytes()),
                ProtocolEvent::Stderr(c) => seen.feed(true, c.data.as_bytes()),
                ProtocolEvent::Exit(e) => {
                    seen.exit = Some(ExitSummary {
                        reason: match e.reason {
                            ExitReason::Exited => "exited",
                            ExitReason::TimedOut => "timed_out",
                            ExitReason::Cancelled => "cancelled",
                            ExitReason::Killed => "killed",
                            ExitReason::OutputCap => "output_cap",
                            ExitReason::SupervisorShutdown => "supervisor_shutdown",
                            _ => "unknown",
                        },
                        code: e.code,
                        forced: e.forced,
                        stdout_bytes: e.stdout.bytes,
                        stderr_bytes: e.stderr.bytes,
                        drain_complete: e.drain == DrainStatus::Complete,
                    });
                    return Ok(());
                }
                // A cancel racing the natural end of a tree may find the id gone.
                ProtocolEvent::Error(e)
                    if e.code == ErrorCode::UnknownId && e.op.as_deref() != Some("spawn") => {}
                other => return Err(format!("unexpected event: {}", other.to_line().trim_end())),
            }
        }
    }
    .await;
    sc.routes.lock().unwrap().remove(id);
    if let Err(e) = result {
        seen.failures.push(e);
    }
    seen
}

/// Sends the action's request (twice for a double cancel).
async fn send_action(sc: &Sidecar, verb: Option<&Value>, action: Action) -> Result<(), String> {
    let Some(verb) = verb else { return Ok(()) };
    sc.send(verb).await?;
    if let Action::DoubleCancel(_) = action {
        sc.send(verb).await?;
    }
    Ok(())
}
