//! A spare cgroup, made ahead for the next guarded spawn.
//!
//! Creating a cgroup (`mkdir` in cgroupfs) took 127–155 µs per spawn here, on the
//! critical path of every round trip: the child cannot be forked before its cgroup
//! exists and the guard knows it. So after a guarded spawn takes its cgroup, the next
//! one is made on the blocking pool, off that path, and waits here:
//!
//! * **Fresh, never reused.** A spare has never held a process, so its accounting
//!   (`memory.peak`, `pids.peak`, `cpu.stat`) starts from nothing, as a cgroup made
//!   by the spawn would. (A pool of *emptied* cgroups would need every figure reset
//!   or subtracted; cgroup v2 cannot reset `memory.peak` before Linux 6.12.)
//! * **Guarded from the start.** It is announced to the guard when it is made, so a
//!   `kill -9` of the host removes it with the trees' cgroups. Its [`Ticket`] moves
//!   with it to the tree; a spare whose guard has died since is thrown away (the new
//!   guard knows it, but the tree could not claim cover without a gap).
//! * **Only for guarded trees.** A tree planned without the supervisor-death
//!   guarantee (a cgroup and `keeper: false`) gets a cgroup of its own, as before: a
//!   guarded one would die with the supervisor, which that caller did not ask for.
//! * **At most one**, and made only once a guarded spawn took the previous one (a
//!   host that spawned once keeps one empty `kennel-<pid>-N` directory while it
//!   lives). Without a tokio runtime there is no pool to make it on: each spawn makes
//!   its own cgroup.
//! * **Never left behind for good.** A `kill -9` between a spare's `mkdir` and its
//!   announcement (microseconds, off any spawn) leaves an empty directory: the first
//!   cgroup probe of the next kennel process removes the empty `kennel-<pid>-N` of
//!   processes that no longer run (`limits::sweep_dead_owners`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use super::cgroup::Cgroup;
use super::guard::{self, Ticket};

/// A spare cgroup and the guard's ticket for it (dropped in this order: the
/// directory is removed before the guard forgets it).
struct Spare {
    cgroup: Cgroup,
    ticket: Ticket,
}

static SPARE: Mutex<Option<Spare>> = Mutex::new(None);

/// A refill is queued or running (at most one at a time).
static REFILLING: AtomicBool = AtomicBool::new(false);

/// The spare cgroup and its ticket, if one is ready and its guard has covered it
/// without a gap.
pub(crate) fn take() -> Option<(Cgroup, Ticket)> {
    let spare = SPARE.lock().ok()?.take()?;
    if guard::covers(spare.ticket.generation()) {
        Some((spare.cgroup, spare.ticket))
    } else {
        None
    }
}

/// Make the next spare on the blocking pool of the current tokio runtime (none
/// outside one). Called after a guarded spawn took its cgroup, so a binary that
/// cannot host the guard never pays for a second failing start.
pub(crate) fn refill_later() {
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
    if SPARE.lock().map_or(true, |s| s.is_some()) {
        return;
    }
    let Ok(cgroup) = Cgroup::create() else {
        return;
    };
    let Ok(ticket) = guard::register(cgroup.dir()) else {
        return;
    };
    let spare = Spare { cgroup, ticket };
    if let Ok(mut slot) = SPARE.lock() {
        if slot.is_none() {
            *slot = Some(spare);
        }
    }
}
