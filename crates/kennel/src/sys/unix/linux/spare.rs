//! Spare cgroups for guarded spawns: one made ahead, and emptied ones handed on.
//!
//! Creating a cgroup (`mkdir` in cgroupfs) took 127–155 µs per spawn here, on the
//! critical path of every round trip: the child cannot be forked before its cgroup
//! exists and the guard knows it; removing it (`rmdir`) and telling the guard to forget
//! it cost again at the tree's end. So a guarded spawn takes its cgroup from here:
//!
//! * **Emptied cgroups are handed on.** A guarded tree that ended on its own leaves its
//!   cgroup here (at most [`MAX`]), still announced to the guard, instead of removing
//!   it; the next guarded tree is born in it. No `mkdir`, no `rmdir`, no guard message
//!   and no guard wake-up per spawn. Only a cgroup that is fit for it: **never
//!   killed** (on Linux 6.18, a cgroup whose `cgroup.kill` was written SIGKILLs each
//!   child later born into it with `CLONE_INTO_CGROUP`: traced to `cgroup_post_fork`),
//!   no member moved out to outlive its run, and a tree with no limit and no figure
//!   but `cpu.stat` ([`TreeLimits::plain`]): `memory.peak` cannot be reset before
//!   6.12 and `pids.peak` not at all, while `cpu.stat` is cumulative, so the figures it
//!   had counted are kept as the next tree's base ([`Cgroup::cpu_base`]) and
//!   subtracted. The tree that ended had `populated 0` (its teardown read it), and no
//!   process joins a cgroup without a write to its `cgroup.procs`.
//! * **One made ahead.** When none is here after a spawn took one, the next is made on
//!   the blocking pool, off the round trip. A fresh one has counted nothing.
//! * **Guarded from the start.** A spare is announced to the guard when it is made and
//!   stays announced while it waits, so a `kill -9` of the host removes it with the
//!   trees' cgroups. Its [`Ticket`] moves with it to the tree and back; a spare whose
//!   guard has died since is thrown away (the new guard knows it, but the tree could
//!   not claim cover without a gap).
//! * **Only for guarded trees.** A tree planned without the supervisor-death
//!   guarantee (a cgroup and `keeper: false`) gets a cgroup of its own, as before: a
//!   guarded one would die with the supervisor, which that caller did not ask for.
//! * **Bounded.** At most [`MAX`] wait here, the one made ahead included (a host that
//!   spawned keeps up to that many empty `kennel-<pid>-N` directories, and one `O_PATH`
//!   fd for each, while it lives).
//!   Without a tokio runtime there is no pool to make one ahead on: a spawn that finds
//!   none makes its own cgroup.
//! * **Never left behind for good.** The guard removes them at the host's exit. A
//!   `kill -9` between a spare's `mkdir` and its announcement (microseconds, off any
//!   spawn) leaves an empty directory: the first cgroup probe of the next kennel
//!   process removes the empty `kennel-<pid>-N` of processes that no longer run
//!   (`limits::sweep_dead_owners`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use super::cgroup::Cgroup;
use super::guard::{self, Ticket};
use super::limits::{cpu_counted, TreeLimits};

/// The most emptied cgroups that wait here. The churn at 32 in flight was 0.781× of
/// tokio's without them, 0.825× with 2, 0.842× with 4, 0.846× with 8 and 0.840× with
/// 16 (means of three interleaved runs; DECISIONS "Session 10"): 8 is past the knee,
/// for 8 empty directories and 8 fds.
pub(crate) const MAX: usize = 8;

/// A spare cgroup and the guard's ticket for it (dropped in this order: the
/// directory is removed before the guard forgets it).
struct Spare {
    cgroup: Cgroup,
    ticket: Ticket,
}

static SPARES: Mutex<Vec<Spare>> = Mutex::new(Vec::new());

/// A refill is queued or running (at most one at a time).
static REFILLING: AtomicBool = AtomicBool::new(false);

/// A spare cgroup and its ticket, if one is ready, its guard has covered it without
/// a gap, and its directory is still there (the last one handed back first: its
/// directory is the warmest). Someone with write access to the cgroup tree may have
/// removed an empty spare meanwhile (an administrator's cleanup, a service manager):
/// a tree must not be started in it.
pub(crate) fn take() -> Option<(Cgroup, Ticket)> {
    loop {
        let spare = SPARES.lock().ok()?.pop()?;
        if guard::covers(spare.ticket.generation()) && spare.cgroup.exists() {
            return Some((spare.cgroup, spare.ticket));
        }
        discard(spare);
    }
}

/// The cgroup of a guarded tree that ended and was reaped: kept for the next tree if
/// it is fit for one (see the module docs) and there is room, else removed (and the
/// guard told).
pub(crate) fn give_back(mut cgroup: Cgroup, ticket: Ticket, limits: Option<&TreeLimits>) {
    let fit = cgroup.reusable()
        && limits.is_some_and(TreeLimits::plain)
        && guard::covers(ticket.generation());
    // The figures the tree's usage read at its end, else read now.
    let counted = || {
        limits
            .and_then(TreeLimits::counted)
            .or_else(|| cpu_counted(cgroup.cpu_stat().as_deref(), cgroup.dir()))
    };
    if let Some(base) = fit.then(counted).flatten() {
        cgroup.cpu_base = base;
        if let Ok(mut spares) = SPARES.lock() {
            if spares.len() < MAX {
                spares.push(Spare { cgroup, ticket });
                return;
            }
        }
    }
    discard(Spare { cgroup, ticket });
}

/// Remove a spare's (empty) directory, then let the guard forget it.
fn discard(spare: Spare) {
    let Spare { mut cgroup, ticket } = spare;
    if cgroup.reusable() {
        cgroup.remove();
    }
    drop(cgroup);
    drop(ticket);
}

/// Make a spare on the blocking pool of the current tokio runtime (none outside one)
/// when none is waiting. Called after a guarded spawn took its cgroup, so a binary
/// that cannot host the guard never pays for a second failing start.
pub(crate) fn refill_later() {
    if SPARES.lock().map_or(true, |s| !s.is_empty()) {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    if REFILLING.swap(true, Ordering::AcqRel) {
        return;
    }
    // Cleared however the job ends: run, or dropped unrun by a runtime shutting down.
    let refilling = Refilling;
    drop(runtime.spawn_blocking(move || {
        let _refilling = refilling;
        refill();
    }));
}

/// Clears [`REFILLING`] when dropped.
struct Refilling;

impl Drop for Refilling {
    fn drop(&mut self) {
        REFILLING.store(false, Ordering::Release);
    }
}

/// Make a spare unless one is ready. A failure only means the next spawn makes its
/// own cgroup (and says why, if it fails too).
fn refill() {
    if SPARES.lock().map_or(true, |s| !s.is_empty()) {
        return;
    }
    let Ok(cgroup) = Cgroup::create() else {
        return;
    };
    let Ok(ticket) = guard::register(cgroup.dir()) else {
        return;
    };
    let spare = Spare { cgroup, ticket };
    match SPARES.lock() {
        // Below any cgroup handed back meanwhile, so the last emptied one is still
        // taken first (and a tree after a tree gets its cgroup, as the tests check).
        Ok(mut spares) if spares.len() < MAX => spares.insert(0, spare),
        _ => discard(spare),
    }
}
