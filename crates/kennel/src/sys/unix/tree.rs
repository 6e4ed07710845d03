//! The composed tree: the layer that holds the leader (its process group, or its
//! keeper), the weaker layers around it (the cgroup), what protects it (the guard's
//! ticket or the keeper), and the escapee sweep. This is the type the run loop drives
//! through [`Tree`].
//!
//! The leader stays unreaped until [`Tree::reap`], so its pid and group id stay ours:
//! every signal reaches this tree and no other — except where a pidfd pins the group
//! (Linux 6.9+): there a group leader is reaped as soon as it exits and its number is
//! never used again (`group.rs`, `linux/pidfd.rs`).

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rustix::process::{WaitId, WaitIdOptions};

use super::group::{to_pid, Group};
use super::linux::{self, Cgroup, Keeper, Ticket, TreeLimits};
use super::registry;
use crate::sys::Layer;
use crate::tree::{OutOfMemory, Tree, TreeSignalError};
use crate::{Containment, Escapee, ExitStatus, Signal, Usage};

/// The layer holding the leader.
pub(crate) enum Lead {
    /// The leader is our own child, leading its process group.
    Group(Group),
    /// The leader runs under a keeper (Linux).
    Kept(Keeper),
}

/// Dispatch to the layer holding the leader.
macro_rules! lead {
    ($lead:expr, $layer:ident => $body:expr) => {
        match $lead {
            Lead::Group($layer) => $body,
            Lead::Kept($layer) => $body,
        }
    };
}

impl Layer for Lead {
    fn signal(&mut self, signal: Signal) -> Result<(), TreeSignalError> {
        lead!(self, l => l.signal(signal))
    }
    fn alive(&mut self) -> bool {
        lead!(self, l => l.alive())
    }
    fn members(&mut self) -> Vec<u32> {
        lead!(self, l => l.members())
    }
    async fn changed(&self) {
        lead!(self, l => l.changed().await)
    }
    fn release(&mut self) {
        lead!(self, l => l.release())
    }
    fn close(&mut self) {
        lead!(self, l => l.close())
    }
}

/// Whether a tree still dies with its supervisor (a `kill -9` of this process takes it
/// down): a cheap handle the `Child` keeps, so the answer is never a stale claim.
#[derive(Clone, Debug)]
pub(crate) enum Protection {
    /// No guard or keeper watches the tree (none was asked for, `keeper::init` was not
    /// called before the spawn, or the OS has no way: macOS, the BSDs).
    None,
    /// The shared guard of this generation covers the tree's cgroup.
    Guard(u64),
    /// The tree's keeper; the flag is set if it went away early.
    Keeper(Arc<AtomicBool>),
}

impl Protection {
    /// True while a guard or keeper has watched the tree, without a gap, since spawn.
    pub(crate) fn holds(&self) -> bool {
        match self {
            Protection::None => false,
            Protection::Guard(generation) => linux::guard_covers(*generation),
            Protection::Keeper(lost) => !lost.load(Ordering::Acquire),
        }
    }
}

/// A child's contained tree.
pub(crate) struct Leader {
    pub(super) lead: Lead,
    /// The tree's cgroup when the leader is our direct child (a keeper holds its own).
    pub(super) cgroup: Option<Cgroup>,
    /// The limits and accounting of a cgroup tree (removed after the cgroup).
    pub(super) limits: Option<TreeLimits>,
    /// The shared guard watches the cgroup until this is dropped (after the tree is
    /// gone).
    pub(super) ticket: Option<Ticket>,
    /// Our direct child: the leader, or its keeper.
    pub(super) direct_pid: u32,
    /// Every layer holding the tree, strongest first.
    pub(super) layers: Vec<Containment>,
    pub(super) exited: Option<ExitStatus>,
    pub(super) reaped: bool,
}

impl Tree for Leader {
    fn pid(&self) -> u32 {
        match &self.lead {
            Lead::Group(g) => g.pid(),
            Lead::Kept(k) => k.pid(),
        }
    }

    fn containment(&self) -> Containment {
        self.layers.first().copied().unwrap_or(Containment::Group)
    }

    fn layers(&self) -> Vec<Containment> {
        self.layers.clone()
    }

    fn protection(&self) -> Protection {
        match (&self.lead, &self.ticket) {
            (Lead::Kept(k), _) => Protection::Keeper(k.lost()),
            (_, Some(ticket)) => Protection::Guard(ticket.generation()),
            _ => Protection::None,
        }
    }

    async fn wait_exit(&mut self) -> io::Result<ExitStatus> {
        if let Some(status) = self.exited {
            return Ok(status);
        }
        let status = match &mut self.lead {
            Lead::Group(g) => {
                let status = g.wait_exit().await?;
                g.reap_early();
                status
            }
            Lead::Kept(k) => k.wait_exit().await?,
        };
        self.exited = Some(status);
        Ok(status)
    }

    fn assume_exited(&mut self, status: ExitStatus) {
        self.exited.get_or_insert(status);
        if let Lead::Group(g) = &mut self.lead {
            g.mark_exited();
        }
    }

    /// The lead layer first: for a group, one system call reaches (nearly) the whole
    /// tree at once; the cgroup after it only has escapees left to reach (a pidfd for
    /// each member outside the group). A cgroup's own error is not the tree's.
    fn signal_tree(&mut self, signal: Signal) -> Result<(), TreeSignalError> {
        if self.reaped {
            return Err(TreeSignalError::Gone);
        }
        let lead = self.lead.signal(signal);
        if let Some(cg) = &mut self.cgroup {
            // `killpg` reached the group: the cgroup's pass is for the members that left
            // it (while the tree dies, a pidfd each for the rest was CPU the tree needed).
            let skip = match (&self.lead, &lead) {
                (Lead::Group(g), Ok(())) => Some(g.pid()),
                _ => None,
            };
            let _ = cg.signal_skipping(signal, skip);
        }
        lead
    }

    fn tree_alive(&mut self) -> bool {
        if self.reaped {
            return false;
        }
        // The cgroup first: while the tree dies it answers with one read, where the
        // group layer's answer may ask every process of the machine. A group leader
        // that has not exited counts as alive; a keeper answers for its whole tree,
        // cgroup included.
        if self.cgroup.as_mut().is_some_and(|cg| cg.alive()) {
            return true;
        }
        match (&mut self.lead, &self.cgroup) {
            // The cgroup holds every process of the tree that did not move itself out:
            // the group is asked only for those, and may answer from a census.
            (Lead::Group(g), Some(_)) => g.alive_outside_cgroup(),
            (lead, _) => lead.alive(),
        }
    }

    fn sleep_until(deadline: tokio::time::Instant) -> impl std::future::Future<Output = ()> + Send {
        linux::sleep_until(deadline)
    }

    fn expect_end(&mut self) {
        if matches!(self.lead, Lead::Group(_)) && self.cgroup.is_some() {
            linux::renew_census();
        }
    }

    async fn changed(&self) {
        self.lead.changed().await
    }

    /// Live processes of the tree other than the leader.
    fn leftovers(&mut self) -> Vec<u32> {
        let leader = self.pid();
        let mut pids = self.lead.members();
        if let Some(cg) = &mut self.cgroup {
            pids.extend(cg.members());
        }
        pids.sort_unstable();
        pids.dedup();
        pids.retain(|&p| p != leader && linux::running(p));
        pids
    }

    /// Let the processes still alive outlive the run: move them out of the cgroup and
    /// tell the keeper not to kill them.
    fn release_leftovers(&mut self) {
        self.lead.release();
        if let Some(cg) = &mut self.cgroup {
            cg.release();
        }
    }

    /// Only a cgroup tree whose leader is our child is swept here: a keeper is the
    /// subreaper of its own tree (or the init of its PID namespace, whose signals reach
    /// every process in it, cgroup or not), and the group tier promises nothing about
    /// `setsid`.
    fn sweep_escapees(&mut self) -> Vec<Escapee> {
        match (&self.lead, &self.cgroup) {
            // A leader reaped early has no `/proc` entry, and its number may be
            // someone else's by now.
            (Lead::Group(g), Some(cg)) => {
                linux::sweep_escapees((!g.reaped_early()).then(|| g.pid()), cg)
            }
            _ => Vec::new(),
        }
    }

    /// Reap the exited leader (or release its keeper, which reaps it). Only after
    /// [`Tree::wait_exit`] returned and the tree was torn down: after this, the group
    /// id may be reused.
    async fn reap(&mut self) {
        if self.reaped || self.exited.is_none() {
            return;
        }
        if let Lead::Kept(k) = &mut self.lead {
            k.let_go();
        }
        if matches!(&self.lead, Lead::Group(g) if g.reaped_early()) {
            self.finish_reap();
            return;
        }
        let pid = to_pid(self.direct_pid);
        // A direct leader is already a zombie: reap it inline. A keeper needs a moment
        // to see its socket close and exit: wait for it off the runtime.
        let done = matches!(
            rustix::process::waitid(
                WaitId::Pid(pid),
                WaitIdOptions::EXITED | WaitIdOptions::NOHANG
            ),
            Ok(Some(_)) | Err(_)
        );
        if !done {
            let _ = tokio::task::spawn_blocking(move || reap_blocking(pid)).await;
        }
        registry::unregister(self.direct_pid);
        self.finish_reap();
    }

    fn usage(&self) -> Usage {
        self.limits
            .as_ref()
            .map(TreeLimits::usage)
            .unwrap_or_default()
    }

    fn out_of_memory(&self) -> OutOfMemory {
        OutOfMemory(self.limits.as_ref().and_then(TreeLimits::out_of_memory))
    }

    fn oom_killed(&self) -> bool {
        self.limits.as_ref().is_some_and(TreeLimits::oom_killed)
    }
}

impl Leader {
    /// The leader is reaped: close the layers and let the guard go.
    fn finish_reap(&mut self) {
        self.reaped = true;
        if let Some(mut cg) = self.cgroup.take() {
            match self.ticket.take() {
                // A guarded tree's emptied cgroup may be the next one's.
                Some(ticket) => linux::give_back(cg, ticket, self.limits.as_ref()),
                None => cg.close(),
            }
        }
        self.lead.close();
        // Removes the tree's v1 limit cgroups (Linux); `None` on other Unixes.
        self.limits = None;
        drop(self.ticket.take());
    }
}

fn reap_blocking(pid: rustix::process::Pid) {
    while let Err(rustix::io::Errno::INTR) =
        rustix::process::waitid(WaitId::Pid(pid), WaitIdOptions::EXITED)
    {}
}

impl Drop for Leader {
    fn drop(&mut self) {
        if self.reaped {
            return;
        }
        // Abandoned before the tree was torn down (setup failure, a dropped handle whose
        // runtime shut down): kill the whole tree now, while the leader is unreaped,
        // and reap off-thread so no zombie is left and no caller blocks.
        let mut reaped_early = false;
        let keeper_cgroup = match &mut self.lead {
            Lead::Group(g) => {
                g.kill_now();
                reaped_early = g.reaped_early();
                None
            }
            Lead::Kept(k) => {
                k.let_go();
                k.take_cgroup()
            }
        };
        let cgroup = self.cgroup.take().or(keeper_cgroup);
        let limits = self.limits.take();
        let ticket = self.ticket.take();
        let pid = to_pid(self.direct_pid);
        let direct = self.direct_pid;
        let _ = std::thread::Builder::new()
            .name("kennel-reap".into())
            .spawn(move || {
                // A leader reaped early is not waited for again: its pid may be
                // another child's by now.
                if !reaped_early {
                    reap_blocking(pid);
                    registry::unregister(direct);
                }
                drop(cgroup);
                {
                    let _removed = limits; // the v1 limit cgroups (Linux)
                }
                drop(ticket);
            });
    }
}
