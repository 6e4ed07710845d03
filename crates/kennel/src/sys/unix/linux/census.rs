//! A census of process groups: every process and its group at one moment, so that "is
//! anyone of group G still running?" can later be answered without listing `/proc`.
//!
//! # Why
//!
//! There is no system call that lists a process group, and the one that tests it
//! (`kill(-pgid, 0)`, or a pidfd with `PIDFD_SIGNAL_PROCESS_GROUP`) also counts zombies.
//! The zombies of a tree's members stay until their parent reaps them — after the
//! leader's exit that is `init`, which on some hosts reaps only every few seconds (this
//! VM's: every ~2 s, so a cancel bench lists 600–900 zombies). So the group layer listed
//! `/proc` and asked each process for its group: 1.5–2.5 ms there, on the critical path
//! of every cancel, right after the tree died (issue 16's cancel p99; DECISIONS
//! "Session 16").
//!
//! # How
//!
//! One census serves every tree of the process (it lists every process). It is used
//! only for a group whose tree a cgroup holds, once that cgroup is empty: the group is
//! then asked only for members that moved themselves out of the cgroup (a process
//! group alone, the group tier, is always listed afresh — see below). Such a check asks
//! the group's members in the census and every process created since, each directly;
//! the members are asked through a pidfd (readable once the process exited), not by
//! reading their `stat`. A check that finds no census that vouches takes one (a
//! listing, as before) and leaves it for the next checks. When a ladder signals a tree
//! and the census is older than [`RENEW_AFTER`], a new one is taken on a thread of its
//! own, so the checks while that tree dies find a recent one.
//!
//! # Why it is complete
//!
//! A process that is in the group when a later check runs was either (a) listed in the
//! census (it existed then), or (b) created after it. Every pid handed out after the
//! census lies in the cyclic range from `ns_last_pid` as read before the listing to
//! `ns_last_pid` now — unless the pid counter went round a whole cycle meanwhile. Each
//! number of that range is asked for its group (`getpgid`, ~0.25 µs; a number nobody
//! holds answers `ESRCH`), until the counter stands still. A whole cycle is ruled out by
//! the count of forks the kernel keeps (`processes` in `/proc/stat`, every `clone`
//! counted): fewer than half of `pid_max` since the census, a `pid_max` of at least
//! [`MIN_PID_MAX`], and the census at most [`MAX_AGE`] old (a clone that fails after its
//! pid was allocated — the pids controller's limit — moves the counter without being
//! counted). When a condition does not hold, the groups are listed again.
//!
//! Not covered — which is why a census answers only for members outside a cgroup:
//!
//! * A fork in flight while the census lists `/proc`: its pid was handed out before
//!   `ns_last_pid` was read, but the process is attached (listed, found by `getpgid`)
//!   only after the listing passed its number. If its parent then exits, the child is
//!   in neither the census nor the range. (The unit tests met it: two tests' censuses
//!   taken while a third forked.) A fresh listing at each check finds such a child at
//!   the next check, while the census never would.
//! * A process that was *not* in the group at the census and joins it later with
//!   `setpgid(2)` — another process of the same session on purpose, or a descendant
//!   that had left for a group of its own and comes back.
//!
//! Both need a process outside the tree's cgroup, in the group, forking at the
//! census's moment (or rejoining), which only a process that moved itself out of the
//! cgroup on purpose can be; the escapee sweep is the layer after this one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::process::{Pid, PidfdFlags};

use super::procfs::{self, getpgid};

/// How long a census vouches for the groups it saw (see the module docs: forks that
/// fail after their pid was allocated move the pid counter without being counted).
const MAX_AGE: Duration = Duration::from_secs(1);

/// A census older than this is renewed in the background when a ladder signals a
/// tree, so that the checks for its end find a valid one.
const RENEW_AFTER: Duration = Duration::from_millis(250);

/// At most this many pids created since the census are asked one by one (~1 ms);
/// beyond it, listing `/proc` again is cheaper.
const MAX_PROBE: u32 = 4096;

/// A `pid_max` below this (the kernel allows 301) makes whole cycles of the pid counter
/// too cheap to rule out: every check lists `/proc`.
const MIN_PID_MAX: u32 = 32_768;

/// The latest census, shared by every tree of this process (it lists every process).
static LATEST: Mutex<Option<Arc<Census>>> = Mutex::new(None);

/// A census is being taken in the background.
static RENEWING: AtomicBool = AtomicBool::new(false);

/// Every process and its group at one moment (see the module docs).
pub(crate) struct Census {
    taken: Instant,
    /// `processes` of `/proc/stat` before the listing.
    forks: Option<u64>,
    /// `ns_last_pid` before the listing.
    last_pid: Option<u32>,
    /// Every process listed, with its group.
    groups: Vec<(u32, u32)>,
}

impl Census {
    /// List `/proc` now and note every process's group; `None` when it cannot be listed.
    fn take() -> Option<Census> {
        let forks = forks();
        let last_pid = last_pid();
        let taken = Instant::now();
        Some(Census {
            taken,
            forks,
            last_pid,
            groups: procfs::all_groups()?,
        })
    }

    /// The members of group `pgid` listed in the census.
    fn listed(&self, pgid: u32) -> impl Iterator<Item = u32> + '_ {
        self.groups
            .iter()
            .filter(move |&&(_, g)| g == pgid)
            .map(|&(pid, _)| pid)
    }

    /// Every process that may be in group `pgid` now: its members at the census and
    /// each process created since that is in it. `None` when the census can no longer
    /// vouch for the group (too old, or too much happened since).
    fn members(&self, pgid: u32) -> Option<Vec<u32>> {
        let (Some(forks_then), Some(mut since)) = (self.forks, self.last_pid) else {
            return None;
        };
        let pid_max = pid_max().filter(|&m| m >= MIN_PID_MAX)?;
        if self.taken.elapsed() > MAX_AGE
            || forks()?.saturating_sub(forks_then) >= u64::from(pid_max / 2)
        {
            return None;
        }
        let mut out: Vec<u32> = self.listed(pgid).collect();
        // A member may fork while the newer pids are asked: until the counter stands.
        for _ in 0..8 {
            let now = last_pid()?;
            if now == since {
                return Some(out);
            }
            out.extend(handed_out(since, now, pid_max)?.filter(|&pid| getpgid(pid) == Some(pgid)));
            since = now;
        }
        None
    }
}

/// The processes of group `pgid` that have not exited yet (a member inside `exit(2)`
/// still counts): with `use_latest`, through the latest census while it vouches for
/// the group; else through a new one, kept for the next checks. `None` when `/proc`
/// cannot be listed.
pub(crate) fn group_present(pgid: u32, use_latest: bool) -> Option<Vec<u32>> {
    if use_latest {
        if let Some(members) = latest().and_then(|c| c.members(pgid)) {
            return Some(present_of(members, pgid));
        }
    }
    let census = Arc::new(Census::take()?);
    let members: Vec<u32> = census.listed(pgid).collect();
    store(census);
    Some(present_of(members, pgid))
}

/// A ladder just signalled a tree: make sure the checks for its end will find a recent
/// census, renewing it on a thread of its own (the listing must not hold up the run).
pub(crate) fn renew_soon() {
    if latest().is_some_and(|c| c.taken.elapsed() < RENEW_AFTER) {
        return;
    }
    if RENEWING.swap(true, Ordering::AcqRel) {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("kennel-census".into())
        .spawn(|| {
            if let Some(census) = Census::take() {
                store(Arc::new(census));
            }
            RENEWING.store(false, Ordering::Release);
        });
    if spawned.is_err() {
        RENEWING.store(false, Ordering::Release);
    }
}

fn latest() -> Option<Arc<Census>> {
    LATEST.lock().ok()?.clone()
}

/// Keep `census` unless a newer one is already kept.
fn store(census: Arc<Census>) {
    if let Ok(mut latest) = LATEST.lock() {
        if latest.as_ref().is_none_or(|l| l.taken <= census.taken) {
            *latest = Some(census);
        }
    }
}

fn present_of(mut members: Vec<u32>, pgid: u32) -> Vec<u32> {
    members.sort_unstable();
    members.dedup();
    members.retain(|&pid| present(pid, pgid));
    members
}

/// Whether `pid` is in group `pgid` and has not exited. Asked through a pidfd, which
/// pins the process while it is asked and is readable once it exited (a zombie); a
/// thread that is not a process leader (its number came from the range) has no pidfd
/// of its own and is alive while it is listed. Without pidfds, from `stat`. When it
/// cannot be told whether the process exited (no fd left), a process in the group
/// counts as present: a tree is never reported ended on a guess.
fn present(pid: u32, pgid: u32) -> bool {
    let Some(p) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return false;
    };
    match rustix::process::pidfd_open(p, PidfdFlags::empty()) {
        Ok(fd) => {
            let mut fds = [PollFd::new(&fd, PollFlags::IN)];
            let now = Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            let exited = match rustix::event::poll(&mut fds, Some(&now)) {
                Ok(_) => fds[0].revents().contains(PollFlags::IN),
                Err(_) => false,
            };
            !exited && getpgid(pid) == Some(pgid)
        }
        Err(rustix::io::Errno::SRCH) => false,
        Err(rustix::io::Errno::NOSYS | rustix::io::Errno::PERM) => match procfs::read_stat(pid) {
            Some(stat) => stat.pgrp == pgid && stat.present(),
            None => getpgid(pid) == Some(pgid),
        },
        Err(_) => getpgid(pid) == Some(pgid),
    }
}

/// The pids handed out after `since` up to `now` in the cyclic order of the counter
/// (it wraps from `pid_max` back to the low numbers); `None` if more than
/// [`MAX_PROBE`].
fn handed_out(since: u32, now: u32, pid_max: u32) -> Option<impl Iterator<Item = u32>> {
    let (tail, head) = if now >= since {
        (since + 1..=now, 1..1)
    } else {
        (since + 1..=pid_max.saturating_sub(1), 1..now + 1)
    };
    let count = tail.clone().count() + head.clone().count();
    (count <= MAX_PROBE as usize).then(|| tail.chain(head))
}

/// `ns_last_pid`: the last pid handed out in this process's pid namespace.
fn last_pid() -> Option<u32> {
    procfs::read_file("/proc/sys/kernel/ns_last_pid")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The kernel's `pid_max`, read once.
fn pid_max() -> Option<u32> {
    static PID_MAX: std::sync::OnceLock<Option<u32>> = std::sync::OnceLock::new();
    *PID_MAX.get_or_init(|| {
        procfs::read_file("/proc/sys/kernel/pid_max")
            .ok()?
            .trim()
            .parse()
            .ok()
    })
}

/// Forks since boot (`processes` in `/proc/stat`).
fn forks() -> Option<u64> {
    let text = procfs::read_file("/proc/stat").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("processes "))?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests;
