//! The run loop: one task per child that owns the tree, carries out the ladder and
//! decides when the run is over (the phases are in the parent module's docs). It sees
//! the tree only through [`Tree`], so its decisions are tested with a fake one.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch, Mutex};
use tokio::time::{sleep_until, Instant};

use super::controller::StdinSlot;
use super::readers::{News, Readers};
use super::{Control, Item};
use crate::ladder::LadderRun;
use crate::spec::Ending;
use crate::sys::imp;
use crate::tree::Tree;
use crate::{Containment, Drain, EndReason, ExitStatus, LimitKind, Outcome, RunError, Signal};

/// After the holders of a pipe were killed, how long to wait for EOF before giving up
/// on the pipe (a holder that escaped containment keeps it open forever). A killed
/// holder closes its end when it dies, so EOF normally comes within microseconds; the
/// window is generous for a loaded machine.
pub(super) const POST_KILL_EOF_WINDOW: Duration = Duration::from_millis(250);

/// Polling interval bounds while waiting for a group of processes to disappear (there
/// is no notification for "process group empty" on Unix).
pub(super) const POLL_MIN: Duration = Duration::from_millis(1);
pub(super) const POLL_MAX: Duration = Duration::from_millis(16);

/// After each signal the ladder sends, the tree is polled every [`POLL_MIN`] for this
/// long before the interval backs off: a tree that obeys dies within milliseconds, and
/// a backed-off poll would add up to [`POLL_MAX`] to the cancel latency (measured:
/// median 7 ms, p99 17 ms for a 50-process tree, against ~3 ms for the tree to die).
const POLL_FAST_WINDOW: Duration = Duration::from_millis(50);

mod control;

/// After a natural exit, how long a tree that still reports itself alive but names no
/// process may take to settle (a cgroup reports `populated 1` for a moment after its
/// last members died) before what is left counts as leftovers.
pub(super) const SETTLE: Duration = Duration::from_millis(100);

/// What the run was asked to do: the command's timing options.
pub(super) struct Plan {
    /// The command's timeout, ladder (a cancel may replace it), drain timeout and
    /// leftovers choice.
    pub(super) ending: Ending,
    /// When the timeout runs the ladder.
    pub(super) timeout_at: Option<Instant>,
    /// Limits best effort skipped (reported in the outcome).
    pub(super) limits_skipped: Vec<LimitKind>,
}

/// The run loop's ends of the channels to the handle.
pub(super) struct Links {
    pub(super) ctl: mpsc::UnboundedReceiver<Control>,
    pub(super) tx: mpsc::Sender<Item>,
    pub(super) stdin: Arc<Mutex<StdinSlot>>,
    pub(super) finished: watch::Sender<bool>,
    /// Set once phase 3 is over: no process of the tree is left to write output.
    pub(super) tree_ended: watch::Sender<bool>,
}

/// The supervisor task's state.
pub(super) struct Run<T: Tree> {
    tree: T,
    pid: u32,
    started: Instant,
    plan: Plan,
    containment: Containment,
    protection: imp::Protection,
    links: Links,
    readers: Readers,
    ladder: Option<LadderRun>,
    reason: Option<EndReason>,
    /// The leader has exited (a timeout after that only speeds up the teardown; the
    /// reason stays `exited`).
    leader_exited: bool,
    /// When the ladder last sent a signal (polling is fast for a while after that).
    acted_at: Instant,
    errors: Vec<RunError>,
}

impl<T: Tree> Run<T> {
    pub(super) fn new(
        tree: T,
        started: Instant,
        plan: Plan,
        links: Links,
        readers: Readers,
    ) -> Self {
        Run {
            pid: tree.pid(),
            containment: tree.containment(),
            protection: tree.protection(),
            tree,
            started,
            plan,
            links,
            readers,
            ladder: None,
            reason: None,
            leader_exited: false,
            acted_at: started,
            errors: Vec::new(),
        }
    }

    /// The whole run, from the running tree to the `Exit` event.
    pub(super) async fn supervise(mut self) {
        // Phase 1: running.
        let status = self.run_until_leader_exits().await;
        self.leader_exited = true;
        self.kill_if_out_of_memory();
        // Phase 2: natural exit → drain with a deadline; phase 3 handles the rest.
        let mut drain = self.natural_drain().await;
        // Phase 3: teardown of whatever is left.
        let leftovers = self.teardown(drain).await;
        // Every layer is swept, however the run ended: what left the cgroup but can
        // still be attributed to the tree dies with the rest (unless kept on purpose).
        let escapees_killed = if self.keeps_leftovers() {
            Vec::new()
        } else {
            self.tree.sweep_escapees()
        };
        // No process of the tree is left (or the leftovers were let go): only output
        // that was already written remains to be delivered.
        let _ = self.links.tree_ended.send(true);

        // Phase 4: final drain.
        let window = if drain == Drain::Timeout {
            POST_KILL_EOF_WINDOW
        } else {
            self.plan.ending.drain_timeout
        };
        if !self.drain_until(Instant::now() + window, false).await {
            drain = Drain::Timeout;
        }
        self.readers.stop();
        let [stdout, stderr] = self.readers.join(&mut self.errors).await;

        // Asked before the guard/keeper lets the tree go, and the tree's cgroups go.
        let dies_with_supervisor = self.protection.holds();
        let usage = self.tree.usage();
        self.release().await;
        let outcome = Outcome {
            pid: self.pid,
            status,
            reason: self.reason.unwrap_or(EndReason::Exited),
            ladder_step: self.ladder.as_ref().map(LadderRun::index),
            forced: self.ladder.as_ref().is_some_and(LadderRun::forced),
            wall_time: self.started.elapsed(),
            stdout,
            stderr,
            drain,
            leftovers_killed: leftovers,
            containment: self.containment,
            layers: self.tree.layers(),
            escapees_killed,
            usage,
            limits_skipped: self.plan.limits_skipped.clone(),
            dies_with_supervisor,
            errors: std::mem::take(&mut self.errors),
        };
        let _ = self.links.tx.send(Item::Exit(Box::new(outcome))).await;
        let _ = self.links.finished.send(true);
    }

    /// The kernel killed (part of) the tree for want of memory (the leader, say, before
    /// the notification was seen): the rest goes too.
    fn kill_if_out_of_memory(&mut self) {
        if self.ladder.is_none() && self.tree.oom_killed() {
            self.force(EndReason::MemoryLimit);
        }
    }

    /// Leftovers were asked to be kept, and nothing asked for the tree to end.
    fn keeps_leftovers(&self) -> bool {
        self.plan.ending.keep_leftovers && self.ladder.is_none()
    }

    /// Phase 2: after a natural exit, wait for the pipes to close, at most the drain
    /// timeout. A cancel or a timeout cuts the wait short (the teardown follows).
    async fn natural_drain(&mut self) -> Drain {
        if self.ladder.is_some() {
            return Drain::Complete;
        }
        let deadline = Instant::now() + self.plan.ending.drain_timeout;
        let drained = self.drain_until(deadline, true).await;
        if !drained && self.ladder.is_none() {
            Drain::Timeout
        } else {
            Drain::Complete
        }
    }

    /// Phase 3: end whatever is left of the tree (unless it is to be kept). Returns
    /// the leftovers found alive after a natural exit.
    async fn teardown(&mut self, drain: Drain) -> Vec<u32> {
        if self.keeps_leftovers() {
            if drain == Drain::Timeout {
                // Leftovers were asked to be kept: stop reading the pipes they hold.
                self.readers.stop();
            }
            return Vec::new();
        }
        let mut leftovers = Vec::new();
        if self.ladder.is_none() && self.tree.tree_alive() {
            self.settle().await;
            if self.tree.tree_alive() {
                leftovers = self.tree.leftovers();
                self.start_ladder(None);
            }
        }
        if self.ladder.is_some() && self.tree.tree_alive() {
            self.until_tree_gone().await;
        }
        leftovers
    }

    /// The last members may still be exiting (a cgroup reports `populated 1` for a
    /// moment after they died): let them settle before deciding that something was left
    /// behind, so a clean exit never reports a ladder.
    async fn settle(&mut self) {
        let settle = Instant::now() + SETTLE;
        while Instant::now() < settle && self.tree.tree_alive() && self.tree.leftovers().is_empty()
        {
            tokio::time::sleep(POLL_MIN).await;
        }
    }

    /// The end: the tree is gone (only now may the leader's pid and group id be
    /// reused), so reap the leader and close stdin.
    async fn release(&mut self) {
        if self.keeps_leftovers() {
            // Asked to leave them running: take them out of the tree's containment so
            // that reaping the leader (and releasing the keeper/cgroup) spares them.
            self.tree.release_leftovers();
        }
        self.tree.reap().await;
        *self.links.stdin.lock().await = StdinSlot::Closed;
    }

    /// Phase 1. Returns the leader's exit status (the leader stays unreaped).
    async fn run_until_leader_exits(&mut self) -> ExitStatus {
        let mut oom = self.tree.out_of_memory();
        loop {
            let timeout_at = if self.ladder.is_none() {
                self.plan.timeout_at
            } else {
                None
            };
            let deadline = earliest(
                self.ladder.as_ref().and_then(LadderRun::deadline),
                timeout_at,
            );
            tokio::select! {
                status = self.tree.wait_exit() => match status {
                    Ok(status) => return status,
                    Err(e) => return self.wait_failed(e),
                },
                msg = self.links.ctl.recv() => self.on_control(msg),
                _ = self.readers.cap_kill() => self.force(EndReason::OutputCap),
                _ = oom.wait(), if self.ladder.is_none() => {
                    self.force(EndReason::MemoryLimit);
                }
                _ = sleep_until_opt::<T>(deadline) => self.on_deadline(),
            }
        }
    }

    /// Cannot learn the status (should not happen): kill the tree so that at least
    /// nothing leaks, and report it.
    fn wait_failed(&mut self, e: std::io::Error) -> ExitStatus {
        self.errors.push(RunError::Wait {
            pid: self.pid,
            elapsed: self.started.elapsed(),
            source: Arc::new(e),
        });
        self.force(EndReason::Killed);
        let status = ExitStatus {
            code: None,
            signal: None,
        };
        self.tree.assume_exited(status);
        status
    }

    /// Wait until both readers are done or `deadline` passes. With `natural`, the wait
    /// is abandoned as soon as a ladder starts (a cancel arrived). Returns whether the
    /// readers finished.
    async fn drain_until(&mut self, mut deadline: Instant, natural: bool) -> bool {
        loop {
            if self.readers.done() {
                return true;
            }
            if natural && self.ladder.is_some() {
                return false;
            }
            let timeout_at = if natural && self.ladder.is_none() {
                self.plan.timeout_at
            } else {
                None
            };
            let wake = earliest(Some(deadline), timeout_at).unwrap_or(deadline);
            tokio::select! {
                _ = sleep_until(wake) => {
                    if Instant::now() >= deadline {
                        if self.readers.delivering() {
                            // Not waiting for a holder: waiting for our own consumer.
                            deadline = Instant::now() + POLL_MAX;
                            continue;
                        }
                        return self.readers.done();
                    }
                    self.on_deadline();
                }
                msg = self.links.ctl.recv() => self.on_control(msg),
                news = self.readers.news() => if let News::CapKill = news {
                    self.force(EndReason::OutputCap);
                },
            }
        }
    }

    /// Phase 3: walk the ladder until no process of the tree is left.
    async fn until_tree_gone(&mut self) {
        let mut poll = POLL_MIN;
        while self.tree.tree_alive() {
            let deadline = self.ladder.as_ref().and_then(LadderRun::deadline);
            let wake = Instant::now() + poll;
            tokio::select! {
                _ = T::sleep_until(earliest(Some(wake), deadline).unwrap_or(wake)) => {
                    self.on_deadline();
                    self.kill_again();
                    poll = if self.acted_at.elapsed() < POLL_FAST_WINDOW {
                        POLL_MIN
                    } else {
                        (poll * 2).min(POLL_MAX)
                    };
                }
                _ = self.tree.changed() => {}
                msg = self.links.ctl.recv() => self.on_control(msg),
            }
        }
    }
}

impl<T: Tree> Run<T> {
    /// Forced, and something is still alive at a poll: SIGKILL again. One walk of a
    /// process group can miss a process that joined it meanwhile (the kernel covers a
    /// fork in flight, not a `setpgid` into the group); a tree that outlives the
    /// forceful rung must not keep the run waiting forever. Only the first SIGKILL's
    /// error is reported; the poll's back-off paces the repeats.
    fn kill_again(&mut self) {
        if self.ladder.as_ref().is_some_and(LadderRun::forced) && self.tree.tree_alive() {
            let _ = self.tree.signal_tree(Signal::Kill);
        }
    }
}

/// Sleep until `deadline` (as the tree does), or forever when there is none.
async fn sleep_until_opt<T: Tree>(deadline: Option<Instant>) {
    match deadline {
        Some(d) => T::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
