//! The one interface between the supervisor's run loop and a contained process tree.
//!
//! `sys` builds a tree from the containment layers the planner chose (process group,
//! cgroup, keeper, guard, Job Object) and hands the run loop something that implements
//! [`Tree`]. The run loop knows nothing else about the platform, which is what lets its
//! phases (drain timeout, settle, second-cancel escalation, cap kill, ...) be unit-tested
//! with a fake tree under paused time.

use std::future::Future;
use std::io;

use crate::{Containment, Escapee, ExitStatus, Signal, Usage};

/// Why a signal could not be sent to a tree.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TreeSignalError {
    /// The signal has no meaning on this platform or tier.
    #[error("the signal has no meaning on this platform")]
    Unsupported,
    /// The tree was already reaped.
    #[error("the tree has already been reaped")]
    Gone,
    /// The operating system refused.
    #[error(transparent)]
    Os(#[from] io::Error),
}

/// Tells the run loop that a tree ran out of memory (see [`Tree::out_of_memory`]): a
/// receiver the mechanism's own task sets, so waiting borrows no tree.
pub(crate) struct OutOfMemory(pub(crate) Option<tokio::sync::watch::Receiver<bool>>);

impl OutOfMemory {
    /// Resolves once the tree ran out of memory; pending forever without a watch (or
    /// once its watcher is gone without seeing one). Cancel-safe.
    pub(crate) async fn wait(&mut self) {
        if let Some(rx) = &mut self.0 {
            if rx.wait_for(|hit| *hit).await.is_ok() {
                return;
            }
        }
        std::future::pending().await
    }
}

/// A contained process tree, as the run loop sees it.
#[allow(
    dead_code,
    reason = "the run loop calls the rest once it is generic over Tree (issue 15)"
)]
pub(crate) trait Tree: Send {
    /// The leader's pid (never a keeper's or an init's).
    fn pid(&self) -> u32;
    /// The strongest tier holding the tree.
    fn containment(&self) -> Containment;
    /// Every containment layer active for this tree, strongest first.
    fn layers(&self) -> Vec<Containment>;
    /// What keeps the tree from outliving the supervisor.
    fn protection(&self) -> crate::sys::imp::Protection;
    /// Wait until the leader exits, without reaping it.
    fn wait_exit(&mut self) -> impl Future<Output = io::Result<ExitStatus>> + Send;
    /// Record an exit status learned some other way (or give up learning it).
    fn assume_exited(&mut self, status: ExitStatus);
    /// Send `signal` to every process of the tree.
    fn signal_tree(&mut self, signal: Signal) -> Result<(), TreeSignalError>;
    /// Whether any process of the tree is still alive.
    fn tree_alive(&mut self) -> bool;
    /// Sleep until `deadline` (a rung of the ladder, a poll while the tree dies): with
    /// tokio's timer, or closer to the deadline where the platform can (Linux:
    /// `sys/unix/linux/timer.rs`).
    fn sleep_until(deadline: tokio::time::Instant) -> impl Future<Output = ()> + Send {
        tokio::time::sleep_until(deadline)
    }
    /// The ladder just signalled the tree: prepare what makes the [`Tree::tree_alive`]
    /// checks while it dies cheap (a recent census of the process groups, Linux).
    fn expect_end(&mut self) {}
    /// Resolves when the tree may have changed (a member exited); may wake spuriously.
    fn changed(&self) -> impl Future<Output = ()> + Send;
    /// Pids of the tree's processes still alive.
    fn leftovers(&mut self) -> Vec<u32>;
    /// Give up on the leftovers (after the final kill failed to end them).
    fn release_leftovers(&mut self);
    /// Kill what left the strongest layer but is still held by a weaker one.
    fn sweep_escapees(&mut self) -> Vec<Escapee>;
    /// Reap the leader and release every OS resource of the tree.
    fn reap(&mut self) -> impl Future<Output = ()> + Send;
    /// What the whole tree used so far (final once it is gone; read before
    /// [`Tree::reap`]). Nothing where the tier measures nothing.
    fn usage(&self) -> Usage {
        Usage::default()
    }
    /// Tells when the tree ran out of memory and must be killed whole (where the
    /// kernel kills only one process); never elsewhere.
    fn out_of_memory(&self) -> OutOfMemory {
        OutOfMemory(None)
    }
    /// Whether a process of the tree was killed because the tree ran out of memory.
    fn oom_killed(&self) -> bool {
        false
    }
}
