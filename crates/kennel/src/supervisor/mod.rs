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
//!
//! The code is in three parts: [`child`] and [`controller`] are the public side ([`Child`], [`Controller`]),
//! [`run`] the loop above, generic over [`Tree`](crate::tree::Tree) so that its phases
//! are tested with a scripted fake tree under paused time (`tests`), and [`spawn`]
//! connects them: it asks `sys` for a tree and starts the readers and the loop.

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::{EndReason, Ladder, Outcome, Signal, SignalError};

mod child;
mod controller;
mod readers;
mod run;
mod spawn;
#[cfg(test)]
mod tests;

pub use child::Child;
pub use controller::Controller;

/// What a child produces, in order: output chunks as read (never altered), then exactly
/// one [`Event::Exit`], after which the stream ends.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(
    clippy::large_enum_variant,
    reason = "one Exit per child; boxing it would change the public type for ~100 bytes per queued event"
)]
pub enum Event {
    /// Bytes read from stdout, exactly as read.
    Stdout(Bytes),
    /// Bytes read from stderr, exactly as read.
    Stderr(Bytes),
    /// The final outcome; every output event of the run came before it.
    Exit(Outcome),
}

/// An [`Event`] as it travels through a child's channel: the outcome boxed, so that
/// the channel's slots are 40 bytes instead of 336. tokio's bounded channel allocates
/// its first block of 32 slots when it is made, once per child: 10.7 KiB with
/// [`Event`], a large-bin `malloc` (and `malloc_consolidate`) per spawn in the
/// sidecar's churn profile (issue 16); 1.3 KiB with this.
#[derive(Debug)]
pub(crate) enum Item {
    Stdout(Bytes),
    Stderr(Bytes),
    Exit(Box<Outcome>),
}

impl From<Item> for Event {
    fn from(item: Item) -> Event {
        match item {
            Item::Stdout(b) => Event::Stdout(b),
            Item::Stderr(b) => Event::Stderr(b),
            Item::Exit(outcome) => Event::Exit(*outcome),
        }
    }
}

/// Collected output of a run, from [`Child::output`] or [`Command::output`](crate::Command::output).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    /// Everything delivered on stdout.
    pub stdout: Vec<u8>,
    /// Everything delivered on stderr.
    pub stderr: Vec<u8>,
    /// The outcome.
    pub outcome: Outcome,
}

/// What the handle asks of the run loop.
enum Control {
    /// Run the ladder (the given one instead of the command's, if any).
    Cancel(EndReason, Option<Ladder>),
    Kill,
    Signal(Signal, oneshot::Sender<Result<(), SignalError>>),
    Dropped,
}
