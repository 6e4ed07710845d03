//! This process as a child subreaper (Linux): orphans of the trees are reparented to
//! it. A background thread reaps the zombies of those that are not kennel's own
//! children; with [`sweep_adopted`], the final sweep of a cgroup tree also kills the
//! adopted orphans that left their cgroup (escapees).
//!
//! # Where it races
//!
//! * An exit status the library waits for must never be taken by the reaper: every
//!   direct child is recorded in the registry (`unix/registry.rs`) before its spawn
//!   ends, and the reaper and the sweep read their children from the registry
//!   settled (no spawn between its fork and its record).
//! * A pid read from `/proc` may be reused before it is signalled: the sweep kills
//!   through a pidfd and re-checks the condition once the pidfd pins the process
//!   ([`kill_verified`]).

use std::collections::HashSet;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rustix::process::Pid;

use super::super::registry;
use super::cgroup::Cgroup;
use super::procfs;
use crate::{EscapeFound, Escapee};

/// Pids a keep-leftovers run released (moved out of its cgroup on purpose): the
/// escapee sweep never kills them or their descendants.
static RELEASED: Mutex<Option<HashSet<u32>>> = Mutex::new(None);

/// Set by [`sweep_adopted`]: every child of this process was started by kennel, so an
/// unregistered child is an orphan adopted from a tree.
static SWEEPS_ADOPTED: AtomicBool = AtomicBool::new(false);

/// Mark this process a child subreaper and reap, in a background thread, the zombies
/// of orphans reparented to it that are not kennel's own children.
pub(crate) fn become_subreaper() -> io::Result<()> {
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))?;
    procfs::keep_main_thread_open();
    std::thread::Builder::new()
        .name("kennel-orphans".into())
        .spawn(|| loop {
            std::thread::sleep(Duration::from_millis(200));
            reap_strays();
        })?;
    Ok(())
}

/// Make this process non-dumpable (`prctl(PR_SET_DUMPABLE, 0)`): a process of the
/// same user can then neither `ptrace` it nor read its memory, environment or file
/// descriptors through `/proc/<pid>` (those files become root's). Programs the process
/// starts are dumpable again: `execve` of an ordinary (non-setuid, readable) binary
/// resets the flag, so children are not affected. Root (`CAP_SYS_PTRACE`) still can.
pub(crate) fn make_undumpable() -> io::Result<()> {
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)?;
    Ok(())
}

/// Reap zombie children that are not ours: reparented orphans. Never touches a pid the
/// library is waiting for (they are registered while the spawn lock is held).
fn reap_strays() {
    let Some(receiver) = procfs::orphan_receiver() else {
        return;
    };
    let children = procfs::task_children(receiver);
    if children.iter().all(|&pid| registry::is_ours(pid)) {
        return;
    }
    let Some(ours) = registry::settled() else {
        return;
    };
    for pid in children {
        if ours.contains(pid) {
            continue;
        }
        if procfs::read_stat(pid).is_some_and(|s| s.state == 'Z') {
            if let Some(p) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
                let _ = rustix::process::waitpid(Some(p), rustix::process::WaitOptions::NOHANG);
            }
        }
    }
}

/// Become a child subreaper ([`become_subreaper`]) *and* treat every orphan it adopts
/// as part of the trees: the final sweep of a cgroup tree kills adopted orphans that
/// left their cgroup. Only for a process whose children are all started by kennel.
pub(crate) fn sweep_adopted() -> io::Result<()> {
    become_subreaper()?;
    SWEEPS_ADOPTED.store(true, Ordering::Release);
    Ok(())
}

/// Whether this process is a child subreaper that sweeps its adopted orphans.
pub(crate) fn we_are_subreaper() -> bool {
    SWEEPS_ADOPTED.load(Ordering::Acquire)
        && rustix::process::child_subreaper().is_ok_and(|p| p.is_some())
}

/// Remember `pids` as released by a keep-leftovers run: never escapees.
pub(crate) fn released(pids: impl IntoIterator<Item = u32>) {
    if let Ok(mut set) = RELEASED.lock() {
        set.get_or_insert_with(HashSet::new).extend(pids);
    }
}

/// The final sweep of a cgroup tree: SIGKILL every process that left the tree's
/// cgroup but can still be attributed to it — a descendant of the leader outside
/// the cgroup, or (when this process is a child subreaper) an orphan adopted by us
/// that is in none of our live cgroups and was not released. Repeated until a pass
/// finds nothing (an escapee may fork meanwhile) while our children stayed the same (an
/// orphan may be handed to us meanwhile), at most 50 passes. Returns what
/// was killed. `leader` is `None` once it is reaped (its number is not ours). Trees
/// without a cgroup have nothing to sweep here (the keeper is their subreaper; the
/// group tier promises nothing about `setsid`).
pub(crate) fn sweep_escapees(leader: Option<u32>, cg: &Cgroup) -> Vec<Escapee> {
    let mut killed = Vec::new();
    // Our children matter only to a subreaper (orphans are handed to it), and only
    // those of the thread orphans are handed to.
    let receiver = we_are_subreaper().then(procfs::orphan_receiver).flatten();
    let our_children = || match receiver {
        Some(tid) => sorted(procfs::task_children(tid)),
        None => Vec::new(),
    };
    let mut children = our_children();
    for _ in 0..50 {
        let found = escapees(leader, cg, &children);
        // A pass reads our children, then each orphan's descendants: a child whose
        // exiting parent handed it to us in between (the kernel reparents before the
        // parent turns zombie) is in neither list. As a subreaper, only a pass during
        // which our children stayed the same is conclusive.
        let now = our_children();
        if found.is_empty() && now == children {
            break;
        }
        children = now;
        for escapee in found {
            if kill_verified(escapee.pid, |pid| !cg.contains(pid)) {
                killed.push(escapee);
            }
        }
    }
    killed.sort_by_key(|e| e.pid);
    killed.dedup_by_key(|e| e.pid);
    // SIGKILL is asynchronous: the outcome promises nothing of the tree runs,
    // so wait (bounded; a rare path) until each one is past running.
    let deadline = Instant::now() + Duration::from_secs(2);
    while killed
        .iter()
        .any(|e| procfs::read_stat(e.pid).is_some_and(|s| s.running()))
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(1));
    }
    killed
}

fn sorted(mut pids: Vec<u32>) -> Vec<u32> {
    pids.sort_unstable();
    pids
}

/// Running processes attributable to the tree of `leader` but outside its cgroup
/// `cg` (see [`sweep_escapees`]).
fn escapees(leader: Option<u32>, cg: &Cgroup, children: &[u32]) -> Vec<Escapee> {
    let running = |pid: u32| procfs::read_stat(pid).is_some_and(|s| s.running());
    let mut out: Vec<Escapee> = leader
        .map(procfs::descendants_of)
        .unwrap_or_default()
        .into_iter()
        .filter(|&p| running(p) && !cg.contains(p))
        .map(|pid| Escapee {
            pid,
            found: EscapeFound::Descendant,
        })
        .collect();
    out.extend(adopted_escapees(children));
    out
}

/// Running orphans among `children` (as read of the orphan receiver, before this pass)
/// and their descendants that are in none of our live cgroups and were not released.
fn adopted_escapees(children: &[u32]) -> Vec<Escapee> {
    // Every child recorded as ours (the usual case): no orphan, and no need to hold
    // the spawns in flight up for the settled registry.
    if children.iter().all(|&pid| registry::is_ours(pid)) {
        return Vec::new();
    }
    let running = |pid: u32| procfs::read_stat(pid).is_some_and(|s| s.running());
    let released = RELEASED
        .lock()
        .ok()
        .and_then(|g| g.clone())
        .unwrap_or_default();
    // Our own children are told apart with the registry settled: every spawn that
    // forked before `children` was read has recorded its child by then, so a child
    // that is not registered is an adopted orphan, never a tree being born.
    let orphans: Vec<u32> = {
        let Some(ours) = registry::settled() else {
            return Vec::new();
        };
        children
            .iter()
            .copied()
            .filter(|&p| !ours.contains(p))
            .collect()
    };
    let mut out = Vec::new();
    for orphan in orphans {
        if released.contains(&orphan) || in_a_tree_cgroup(orphan) {
            continue;
        }
        for pid in std::iter::once(orphan).chain(procfs::descendants_of(orphan)) {
            if running(pid) && !released.contains(&pid) && !in_a_tree_cgroup(pid) {
                out.push(Escapee {
                    pid,
                    found: EscapeFound::Subreaper,
                });
            }
        }
    }
    out
}

/// Whether `pid` is in a live cgroup of one of our trees (`kennel-<our pid>-N`).
pub(crate) fn in_a_tree_cgroup(pid: u32) -> bool {
    let prefix = format!("kennel-{}-", std::process::id());
    std::fs::read_to_string(format!("/proc/{pid}/cgroup")).is_ok_and(|text| {
        text.lines()
            .find_map(|l| l.strip_prefix("0::"))
            .and_then(|p| p.rsplit('/').next())
            .is_some_and(|name| name.starts_with(&prefix))
    })
}

/// SIGKILL `pid` through a pidfd, if `still` holds once the pidfd pins the process
/// (so a pid reused since it was read is never signalled). Whether it was sent.
fn kill_verified(pid: u32, still: impl Fn(u32) -> bool) -> bool {
    let Some(p) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return false;
    };
    let Ok(pidfd) = rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()) else {
        return false;
    };
    still(pid)
        && procfs::read_stat(pid).is_some_and(|s| s.running())
        && rustix::process::pidfd_send_signal(&pidfd, rustix::process::Signal::KILL).is_ok()
}
