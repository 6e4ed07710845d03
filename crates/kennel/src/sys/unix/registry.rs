//! kennel's own direct children (leaders, keepers, the guard), so the orphan reaper
//! (`linux/orphans.rs`) never reaps an exit status the library waits for, and the
//! escapee sweep can tell an adopted orphan from a tree being born. Spawning holds the
//! lock from `fork` until the pid is recorded.

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard};

static OURS: Mutex<Option<HashSet<u32>>> = Mutex::new(None);

/// The registry, locked; `None` if a panic poisoned it (then nothing is recorded, and
/// the reaper and the sweep, which need the lock too, do nothing).
pub(crate) fn lock() -> Option<MutexGuard<'static, Option<HashSet<u32>>>> {
    OURS.lock().ok()
}

/// Record `pid` in a locked registry.
pub(crate) fn insert(registry: &mut Option<HashSet<u32>>, pid: u32) {
    registry.get_or_insert_with(HashSet::new).insert(pid);
}

/// Forget `pid` (it was reaped).
pub(crate) fn unregister(pid: u32) {
    if let Ok(mut set) = OURS.lock() {
        if let Some(set) = set.as_mut() {
            set.remove(&pid);
        }
    }
}
