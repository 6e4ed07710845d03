//! kennel's own direct children (leaders, keepers, the guard), so the orphan reaper
//! (`linux/orphans.rs`) never reaps an exit status the library waits for, and the
//! escapee sweep can tell an adopted orphan from a tree being born.
//!
//! A spawn is [`Spawning`] from before its `fork` until its pid is recorded; the
//! reaper and the sweep read the registry [`settled`], which waits for every spawn in
//! flight to record its child and keeps new ones from forking meanwhile. Spawns do not
//! wait for one another: they share the in-flight lock (a read lock), and the set
//! itself is locked only for the insert. (Holding one exclusive lock across each
//! `fork`/`exec` serialized concurrent spawns: 0.75–1.1 ms of waiting per spawn with 8
//! in flight, issue 16.)

use std::collections::HashSet;
use std::sync::{Mutex, RwLock, RwLockReadGuard};
#[cfg(target_os = "linux")]
use std::sync::{MutexGuard, RwLockWriteGuard};

/// Read-held by every spawn between its fork and the record of its pid; write-held by
/// whoever needs the registry to be complete.
static IN_FLIGHT: RwLock<()> = RwLock::new(());
static OURS: Mutex<Option<HashSet<u32>>> = Mutex::new(None);

/// A spawn in flight: hold it from before the fork until [`Spawning::record`].
pub(crate) struct Spawning {
    _in_flight: RwLockReadGuard<'static, ()>,
}

impl Spawning {
    /// Record `pid` as ours.
    pub(crate) fn record(&self, pid: u32) {
        if let Ok(mut set) = OURS.lock() {
            set.get_or_insert_with(HashSet::new).insert(pid);
        }
    }
}

/// Start a spawn; `None` if a panic poisoned the registry (then nothing is recorded,
/// and the reaper and the sweep, which need it too, do nothing).
pub(crate) fn spawning() -> Option<Spawning> {
    Some(Spawning {
        _in_flight: IN_FLIGHT.read().ok()?,
    })
}

/// The registry with no spawn between its fork and its record (read by the orphan
/// reaper and the escapee sweep, which exist on Linux only).
#[cfg(target_os = "linux")]
pub(crate) struct Settled {
    _no_spawn: RwLockWriteGuard<'static, ()>,
    set: MutexGuard<'static, Option<HashSet<u32>>>,
}

#[cfg(target_os = "linux")]
impl Settled {
    /// Whether `pid` is one of ours.
    pub(crate) fn contains(&self, pid: u32) -> bool {
        self.set.as_ref().is_some_and(|s| s.contains(&pid))
    }
}

/// Wait until every spawn in flight has recorded its child, and keep new spawns from
/// forking while the answer is held. `None` if a panic poisoned the registry.
#[cfg(target_os = "linux")]
pub(crate) fn settled() -> Option<Settled> {
    let no_spawn = IN_FLIGHT.write().ok()?;
    let set = OURS.lock().ok()?;
    Some(Settled {
        _no_spawn: no_spawn,
        set,
    })
}

/// Whether `pid` is recorded as ours now, without waiting for spawns in flight. A
/// `true` for a pid listed as our child is final: a reaped child leaves the registry
/// within microseconds of its reap (a group leader reaped early, just before it),
/// far too soon for its number to come round again. A `false` may be a spawn not yet
/// recorded: [`settled`] tells.
#[cfg(target_os = "linux")]
pub(crate) fn is_ours(pid: u32) -> bool {
    OURS.lock()
        .ok()
        .is_some_and(|set| set.as_ref().is_some_and(|s| s.contains(&pid)))
}

/// Forget `pid` (it was reaped).
pub(crate) fn unregister(pid: u32) {
    if let Ok(mut set) = OURS.lock() {
        if let Some(set) = set.as_mut() {
            set.remove(&pid);
        }
    }
}
