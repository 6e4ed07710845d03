//! The termination ladder: graceful rungs of (signal, wait), then the forceful rung.
//!
//! The ladder is *policy*; the supervisor loop is the *mechanism* that carries it out
//! while it keeps draining output (a child blocked on a full pipe can only act on
//! `SIGTERM` if someone keeps reading). [`LadderRun`] is a pure state machine driven by
//! the clock, tested here without processes.
//!
//! # Why the default is `SIGTERM`, 5 s, `SIGKILL`
//!
//! Five seconds is what systemd-less tooling converges on (Docker's `stop` uses 10 s,
//! nextest's slow-test termination 10 s, Kubernetes 30 s): long enough for a dev server
//! or a test runner to flush and remove its temp files, short enough that a user who
//! pressed Ctrl-C does not reach for `kill -9`. Callers that know better set their own.

use std::time::Duration;

// The runtime's clock, so the run loop's timing can be tested under paused time.
use tokio::time::Instant;

use crate::Signal;

/// One graceful rung: send `signal` to the whole tree, then wait up to `wait` for the
/// tree to be gone before moving to the next rung.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rung {
    /// The signal sent to every process of the tree.
    pub signal: Signal,
    /// How long to wait for the tree to end before the next rung.
    pub wait: Duration,
}

/// A termination ladder: zero or more graceful [`Rung`]s, always followed by the
/// forceful rung (`SIGKILL` to the tree on Unix, `TerminateJobObject` on Windows).
///
/// The forceful rung is implicit so that no ladder can end without the tree gone.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use kennel::{Ladder, Signal};
///
/// // The default: SIGTERM, wait DEFAULT_GRACE, SIGKILL.
/// let default = Ladder::default();
/// assert_eq!(default.rungs().len(), 1);
///
/// // SIGINT, 2 s, SIGTERM, 1 s, SIGKILL.
/// let ladder = Ladder::new()
///     .then(Signal::Int, Duration::from_secs(2))
///     .then(Signal::Term, Duration::from_secs(1));
/// assert_eq!(ladder.rungs()[1].signal, Signal::Term);
///
/// // Straight to SIGKILL.
/// assert!(Ladder::immediate().rungs().is_empty());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ladder {
    rungs: Vec<Rung>,
}

/// The default grace between `SIGTERM` and `SIGKILL`.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

impl Default for Ladder {
    fn default() -> Self {
        Ladder::graceful(Signal::Term, DEFAULT_GRACE)
    }
}

impl Ladder {
    /// A ladder with no graceful rung yet; add them with [`Ladder::then`].
    pub fn new() -> Self {
        Ladder { rungs: Vec::new() }
    }

    /// The forceful rung alone: kill the tree at once.
    pub fn immediate() -> Self {
        Ladder::new()
    }

    /// One graceful rung (`signal`, wait `grace`), then the forceful rung. A zero grace
    /// still sends `signal` first.
    pub fn graceful(signal: Signal, grace: Duration) -> Self {
        Ladder::new().then(signal, grace)
    }

    /// Append a graceful rung.
    pub fn then(mut self, signal: Signal, wait: Duration) -> Self {
        self.rungs.push(Rung { signal, wait });
        self
    }

    /// The graceful rungs, in order. The forceful rung follows them and has index
    /// `rungs().len()`.
    pub fn rungs(&self) -> &[Rung] {
        &self.rungs
    }

    /// Index of the forceful rung.
    pub fn forceful_index(&self) -> usize {
        self.rungs.len()
    }
}

/// What the supervisor must do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Send this graceful signal to the tree (with `SIGCONT` when `first`).
    Signal { signal: Signal, first: bool },
    /// Kill the tree (the forceful rung).
    Kill,
}

/// A running ladder: which rung is in effect and until when.
#[derive(Clone, Debug)]
pub(crate) struct LadderRun {
    ladder: Ladder,
    /// Index of the rung in effect; `forceful_index()` once forced.
    index: usize,
    deadline: Option<Instant>,
}

impl LadderRun {
    /// Start the ladder at `now`; returns the run and the first action.
    pub(crate) fn start(ladder: Ladder, now: Instant) -> (Self, Action) {
        let mut run = LadderRun {
            ladder,
            index: 0,
            deadline: None,
        };
        let action = run.enter(0, now);
        (run, action)
    }

    /// Start the ladder directly at the forceful rung (kill, a `kill` output cap, a
    /// dropped handle): no graceful signal is sent first.
    pub(crate) fn start_forced(ladder: Ladder, now: Instant) -> (Self, Action) {
        let index = ladder.forceful_index();
        let mut run = LadderRun {
            ladder,
            index: 0,
            deadline: None,
        };
        let action = run.enter(index, now);
        (run, action)
    }

    fn enter(&mut self, index: usize, now: Instant) -> Action {
        self.index = index;
        match self.ladder.rungs.get(index) {
            Some(rung) => {
                self.deadline = now.checked_add(rung.wait);
                Action::Signal {
                    signal: rung.signal,
                    first: index == 0,
                }
            }
            None => {
                self.index = self.ladder.forceful_index();
                self.deadline = None;
                Action::Kill
            }
        }
    }

    /// When the current rung's wait ends (`None` once forced: nothing left to wait for).
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Index of the rung in effect.
    pub(crate) fn index(&self) -> usize {
        self.index
    }

    /// Whether the forceful rung has been reached.
    pub(crate) fn forced(&self) -> bool {
        self.index >= self.ladder.forceful_index()
    }

    /// The clock moved: if the current rung's wait is over, the next action.
    pub(crate) fn tick(&mut self, now: Instant) -> Option<Action> {
        match self.deadline {
            Some(deadline) if now >= deadline => Some(self.enter(self.index + 1, now)),
            _ => None,
        }
    }

    /// A second cancel, or an explicit kill: jump to the forceful rung (once).
    pub(crate) fn escalate(&mut self, now: Instant) -> Option<Action> {
        if self.forced() {
            None
        } else {
            Some(self.enter(self.ladder.forceful_index(), now))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn default_ladder_terms_then_kills_after_grace() {
        let t0 = Instant::now();
        let (mut run, first) = LadderRun::start(Ladder::default(), t0);
        assert_eq!(
            first,
            Action::Signal {
                signal: Signal::Term,
                first: true
            }
        );
        assert_eq!(run.deadline(), Some(t0 + secs(5)));
        assert_eq!(run.tick(t0 + secs(4)), None);
        assert_eq!(run.tick(t0 + secs(5)), Some(Action::Kill));
        assert!(run.forced());
        assert_eq!(run.index(), 1);
        assert_eq!(run.deadline(), None);
        assert_eq!(run.tick(t0 + secs(100)), None);
    }

    #[test]
    fn empty_ladder_kills_at_once() {
        let t0 = Instant::now();
        let (run, first) = LadderRun::start(Ladder::immediate(), t0);
        assert_eq!(first, Action::Kill);
        assert!(run.forced());
        assert_eq!(run.index(), 0);
    }

    #[test]
    fn zero_grace_still_signals_first_then_kills_on_next_tick() {
        let t0 = Instant::now();
        let (mut run, first) = LadderRun::start(Ladder::graceful(Signal::Int, Duration::ZERO), t0);
        assert!(matches!(
            first,
            Action::Signal {
                signal: Signal::Int,
                first: true
            }
        ));
        assert_eq!(run.tick(t0), Some(Action::Kill));
    }

    #[test]
    fn multi_rung_ladder_walks_each_rung() {
        let t0 = Instant::now();
        let ladder = Ladder::new()
            .then(Signal::Int, secs(2))
            .then(Signal::Term, secs(1));
        let (mut run, _) = LadderRun::start(ladder, t0);
        assert_eq!(
            run.tick(t0 + secs(2)),
            Some(Action::Signal {
                signal: Signal::Term,
                first: false
            })
        );
        assert_eq!(run.deadline(), Some(t0 + secs(3)));
        assert_eq!(run.tick(t0 + secs(3)), Some(Action::Kill));
        assert_eq!(run.index(), 2);
    }

    #[test]
    fn forced_start_sends_no_graceful_signal() {
        let (run, first) = LadderRun::start_forced(Ladder::default(), Instant::now());
        assert_eq!(first, Action::Kill);
        assert_eq!(run.index(), 1);
        assert!(run.forced());
    }

    #[test]
    fn second_cancel_jumps_to_the_last_rung_once() {
        let t0 = Instant::now();
        let (mut run, _) = LadderRun::start(Ladder::default(), t0);
        assert_eq!(run.escalate(t0 + secs(1)), Some(Action::Kill));
        assert_eq!(run.escalate(t0 + secs(2)), None);
        assert!(run.forced());
    }
}
