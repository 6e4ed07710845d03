//! How the run loop reacts: to the handle's requests (cancel, kill, signal, drop) and
//! to the clock (a rung's wait or the timeout is over), by asking the pure ladder what
//! to do and sending that to the tree.

use std::sync::Arc;

use tokio::time::Instant;

use super::Run;
use crate::ladder::{Action, LadderRun};
use crate::supervisor::Control;
use crate::tree::{Tree, TreeSignalError};
use crate::{EndReason, RunError, Signal, SignalError, SignalErrorKind};

impl<T: Tree> Run<T> {
    pub(super) fn on_control(&mut self, msg: Option<Control>) {
        match msg {
            Some(Control::Cancel(reason, spec)) => {
                if self.ladder.is_some() {
                    self.escalate();
                } else {
                    if let Some(spec) = spec {
                        self.plan.ending.ladder = spec;
                    }
                    self.start_ladder(Some(reason));
                }
            }
            Some(Control::Kill) => self.force(EndReason::Killed),
            Some(Control::Signal(signal, reply)) => {
                let _ = reply.send(self.signal(signal));
            }
            // The Child was dropped (or every handle is gone): nobody will read the
            // events, so kill at once.
            Some(Control::Dropped) | None => {
                self.force(EndReason::SupervisorShutdown);
                // No more control messages can matter; stop polling a closed channel.
                self.links.ctl.close();
            }
        }
    }

    /// A signal the handle asked for.
    fn signal(&mut self, signal: Signal) -> Result<(), SignalError> {
        let (kind, source) = if self.tree.tree_alive() {
            match self.tree.signal_tree(signal) {
                Ok(()) => return Ok(()),
                Err(e) => signal_error_kind(e),
            }
        } else {
            (SignalErrorKind::Finished, None)
        };
        Err(SignalError {
            pid: self.pid,
            signal,
            kind,
            elapsed: self.started.elapsed(),
            source,
        })
    }

    pub(super) fn on_deadline(&mut self) {
        let now = Instant::now();
        if let Some(ladder) = &mut self.ladder {
            if let Some(action) = ladder.tick(now) {
                self.act(action);
            }
        } else if self.plan.timeout_at.is_some_and(|t| now >= t) {
            let reason = (!self.leader_exited).then_some(EndReason::TimedOut);
            self.start_ladder(reason);
        }
    }

    /// Start the ladder (no-op if running). `reason` is recorded unless one already is.
    pub(super) fn start_ladder(&mut self, reason: Option<EndReason>) {
        if self.ladder.is_some() {
            return;
        }
        if let Some(reason) = reason {
            self.reason.get_or_insert(reason);
        }
        let (run, action) = LadderRun::start(self.plan.ending.ladder.clone(), Instant::now());
        self.ladder = Some(run);
        self.act(action);
    }

    /// Go to the forceful rung now (starting the ladder there if it is not running).
    pub(super) fn force(&mut self, reason: EndReason) {
        self.reason.get_or_insert(reason);
        if self.ladder.is_none() {
            let (run, action) =
                LadderRun::start_forced(self.plan.ending.ladder.clone(), Instant::now());
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
        let (signal, result) = match action {
            Action::Signal { signal, first } => {
                let r = self.tree.signal_tree(signal);
                if first {
                    // A stopped process cannot act on SIGTERM until continued.
                    let _ = self.tree.signal_tree(Signal::Cont);
                }
                (signal, r)
            }
            Action::Kill => (Signal::Kill, self.tree.signal_tree(Signal::Kill)),
        };
        // While the tree dies: the checks for its end are then cheap (`census.rs`).
        self.tree.expect_end();
        if let Err(e) = result {
            let (kind, source) = signal_error_kind(e);
            self.errors.push(RunError::Signal {
                pid: self.pid,
                signal,
                kind,
                elapsed: self.started.elapsed(),
                source: source.map(Arc::new),
            });
        }
    }
}

/// How a failed tree signal reads in the public errors.
fn signal_error_kind(e: TreeSignalError) -> (SignalErrorKind, Option<std::io::Error>) {
    match e {
        TreeSignalError::Unsupported => (SignalErrorKind::Unsupported, None),
        TreeSignalError::Gone => (SignalErrorKind::Finished, None),
        TreeSignalError::Os(e) => (SignalErrorKind::Os, Some(e)),
    }
}
