//! The owning side of the handle: [`Child`] reads the events and the outcome, and its
//! drop kills the tree.

use tokio::sync::mpsc;

use super::controller::Controller;
use super::{Control, Event, Item, Output};
use crate::sys::imp;
use crate::{
    Containment, Drain, EndReason, ExitStatus, Outcome, RunError, Signal, SignalError, StdinError,
    StreamReport,
};

/// A running child and its tree. Read its [`Event`]s with [`Child::next_event`], or
/// discard output with [`Child::wait`].
///
/// Dropping a `Child` whose run is not over kills the whole tree (the forceful rung) and
/// reaps it in the background: a dropped handle never leaks processes.
#[derive(Debug)]
pub struct Child {
    pub(super) controller: Controller,
    pub(super) events: mpsc::Receiver<Item>,
    pub(super) outcome: Option<Outcome>,
    pub(super) containment: Containment,
    pub(super) protection: imp::Protection,
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
    /// gap; false when none was asked for ([`ContainmentOptions::keeper`] off), for a
    /// tree without a cgroup when [`keeper::init`](crate::keeper::init) had not run
    /// before the spawn (a cgroup tree then has the in-process guard), and off Linux
    /// and Windows. Once false it stays false: if someone kills the shared guard,
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
        match self.events.recv().await.map(Event::from) {
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
    /// [`Command`](crate::Command); [`Command::output`](crate::Command::output) applies a default one.
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
            usage: crate::Usage::default(),
            limits_skipped: Vec::new(),
            dies_with_supervisor: false,
            errors: vec![RunError::SupervisorLost { pid: self.id() }],
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
