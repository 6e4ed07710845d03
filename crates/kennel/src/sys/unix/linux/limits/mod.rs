//! Resource limits and accounting of a cgroup tree (Linux): memory, pids and CPU
//! controllers, each taken from cgroup v2 where it is delegated to kennel's cgroup, else
//! from its cgroup v1 hierarchy (hybrid hosts).
//!
//! # What the kernel does, and where it races
//!
//! * **Per controller, v2 or v1.** A controller is bound to one hierarchy. On a pure v2
//!   host with `memory pids cpu` in the `cgroup.subtree_control` of kennel's cgroup (or of
//!   `KENNEL_CGROUP_ROOT`), the files are in the tree's own v2 cgroup. On a hybrid host
//!   (v2 at `/sys/fs/cgroup/unified` with no controllers, v1 hierarchies beside it) each
//!   controller gets a v1 directory named like the tree's v2 cgroup
//!   (`kennel-<pid>-<seq>`), under this process's own cgroup in that hierarchy. Which is
//!   used is probed once per controller (create and remove a probe directory), never
//!   guessed from paths.
//! * **Joining before exec.** The child writes `0` to the `cgroup.procs` of every v1
//!   directory (fds opened before the fork) right after the v2 one, so the limits hold
//!   before the program runs and every descendant inherits them at fork.
//! * **Memory without swap escape**: v2 `memory.max` + `memory.swap.max 0`; v1
//!   `memory.limit_in_bytes` then `memory.memsw.limit_in_bytes` (memsw must stay ≥ the
//!   limit, so it is written second). The kernel's OOM killer picks *one* victim: v2's
//!   `memory.oom.group 1` makes it kill the whole cgroup; v1 has no such switch, so the
//!   supervisor waits on an eventfd registered in `cgroup.event_control` (v1's OOM
//!   notification) and kills the tree itself through the v2 cgroup. Either way the OOM
//!   kill is counted (`oom_kill` in `memory.events` / `memory.oom_control`).
//! * **pids**: `pids.max` counts tasks (threads too). A fork beyond it fails with
//!   `EAGAIN` in the tree and bumps `max` in `pids.events`; the supervisor's own forks
//!   are in another cgroup and never fail for it.
//! * **CPU**: a CFS quota per 100 ms period (`cpu.max` / `cpu.cfs_quota_us`).
//!   Accounting comes from the tree's v2 `cpu.stat` (present in every v2 cgroup without
//!   any controller), so it needs no v1 directory.
//! * **No leaked directories.** v1 directories hold no processes once the tree's v2
//!   cgroup was killed and emptied; they are removed on drop (members still there are
//!   SIGKILLed first, v1 has no `cgroup.kill`). If the supervisor dies, its guard kills
//!   the v2 cgroup and calls [`remove_v1_of`]; if guard and supervisor both die, the
//!   next kennel process sweeps empty `kennel-<pid>-*` directories whose `<pid>` no
//!   longer runs ([`sweep_stale`]). `rmdir` of a cgroup fails while it has members, so
//!   a sweep can never take a live tree's directory from under it — except one just
//!   created and not joined yet, which is why only dead owners' directories are taken.

mod tree;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use crate::limits::{LimitKind, Limits};
use crate::plan::LimitSupport;

pub(crate) use tree::{cpu_counted, TreeLimits};
#[cfg(test)]
use tree::{cpu_quota_us, keyed, read_single, MIN_QUOTA_US};

/// Where a controller's files live for a tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Place {
    /// In the tree's own cgroup v2 directory.
    V2,
    /// In a directory of the tree's name under this parent, in a v1 hierarchy.
    V1(PathBuf),
}

/// Where each controller can be used on this host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Probe {
    pub(crate) memory: Option<Place>,
    pub(crate) pids: Option<Place>,
    pub(crate) cpu: Option<Place>,
}

impl Probe {
    fn place(&self, kind: LimitKind) -> Option<&Place> {
        match kind {
            LimitKind::Memory => self.memory.as_ref(),
            LimitKind::Pids => self.pids.as_ref(),
            LimitKind::Cpu => self.cpu.as_ref(),
        }
    }
}

/// What to set up for one tree: the place of each limit to write, the controllers
/// used for accounting only, and the limits skipped (best effort).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Plan {
    pub(crate) memory: Option<(Place, Option<u64>)>,
    pub(crate) pids: Option<(Place, Option<u32>)>,
    pub(crate) cpu: Option<(Place, f64)>,
    /// Requested limits that this host cannot enforce (only with `best_effort`).
    pub(crate) skipped: Vec<LimitKind>,
}

impl Plan {
    /// Whether the plan needs nothing beyond the tree's v2 cgroup.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.memory.is_none() && self.pids.is_none() && self.cpu.is_none()
    }
}

/// Requested limits that cannot be enforced here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Unsupported(pub(crate) Vec<LimitKind>);

/// Decide where each requested limit goes. The memory and pids controllers are also
/// placed without a limit, for `memory_peak_bytes` and `processes`, where that is free
/// (v2: the tree's cgroup has them anyway) or asked for (`full_accounting`). Pure:
/// `probe` says what the host has (`None` for a tree without a v2 cgroup, which cannot
/// hold limits: only the v2 cgroup kills the whole tree).
pub(crate) fn plan(limits: &Limits, probe: Option<&Probe>) -> Result<Plan, Unsupported> {
    let empty = Probe::default();
    let probe = probe.unwrap_or(&empty);
    let missing: Vec<LimitKind> = limits
        .requested()
        .into_iter()
        .filter(|k| probe.place(*k).is_none())
        .collect();
    if !missing.is_empty() && !limits.best_effort {
        return Err(Unsupported(missing));
    }
    let account = |p: &Place| limits.full_accounting || *p == Place::V2;
    let memory = match (&probe.memory, limits.memory_max_bytes) {
        (Some(p), Some(b)) => Some((p.clone(), Some(b))),
        (Some(p), None) if account(p) => Some((p.clone(), None)),
        _ => None,
    };
    let pids = match (&probe.pids, limits.pids_max) {
        (Some(p), Some(n)) => Some((p.clone(), Some(n))),
        (Some(p), None) if account(p) => Some((p.clone(), None)),
        _ => None,
    };
    let cpu = match (&probe.cpu, limits.cpus) {
        (Some(p), Some(c)) => Some((p.clone(), c)),
        _ => None,
    };
    Ok(Plan {
        memory,
        pids,
        cpu,
        skipped: missing,
    })
}

/// What this host can enforce, for the planner (probes on first use).
pub(crate) fn support() -> LimitSupport {
    let probe = super::cgroup::root().map(probe);
    let has = |kind| probe.is_some_and(|p| p.place(kind).is_some());
    LimitSupport {
        memory: has(LimitKind::Memory),
        pids: has(LimitKind::Pids),
        cpu: has(LimitKind::Cpu),
        why_not: if probe.is_none() {
            "no writable cgroup v2"
        } else {
            "no usable cgroup controller: none delegated to kennel's cgroup v2, no writable v1 hierarchy"
        },
    }
}

impl TreeLimits {
    /// Set up the limits (already checked by the planner) and the accounting of the
    /// tree in `cg`, inside the runtime (the OOM notification is watched).
    pub(crate) fn for_tree(cg: &super::Cgroup, limits: &Limits) -> io::Result<TreeLimits> {
        let mut tree = for_tree(cg.dir(), limits)?;
        tree.cpu_base = cg.cpu_base;
        tree.cpu_stat = cg.cpu_stat();
        Ok(tree)
    }
}

fn for_tree(v2_dir: &Path, limits: &Limits) -> io::Result<TreeLimits> {
    let empty = Probe::default();
    let wanted = !limits.is_empty() || limits.full_accounting;
    let probe = match (wanted, v2_dir.parent()) {
        (true, Some(root)) => probe(root),
        _ => &empty,
    };
    let plan = plan(limits, Some(probe)).map_err(|Unsupported(kinds)| {
        io::Error::new(
            io::ErrorKind::Unsupported,
            format!("no controller for the {kinds:?} limit"),
        )
    })?;
    let mut tree = TreeLimits::create(v2_dir, &plan)?;
    tree.watch()?;
    Ok(tree)
}

static PROBE: OnceLock<Probe> = OnceLock::new();

/// What this host offers, probed once per process (and stale v1 directories of dead
/// kennel processes swept on the way). `v2_root` is where tree cgroups are created.
pub(crate) fn probe(v2_root: &Path) -> &'static Probe {
    PROBE.get_or_init(|| {
        let probe = Probe {
            memory: find(v2_root, "memory", "memory.limit_in_bytes"),
            pids: find(v2_root, "pids", "pids.max"),
            cpu: find(v2_root, "cpu", "cpu.cfs_quota_us"),
        };
        sweep_stale(&probe, v2_root);
        probe
    })
}

/// v2 when `controller` is enabled for the children of `v2_root`, else a writable v1
/// hierarchy where a probe directory gets `v1_file`.
fn find(v2_root: &Path, controller: &str, v1_file: &str) -> Option<Place> {
    let enabled = fs::read_to_string(v2_root.join("cgroup.subtree_control"))
        .is_ok_and(|t| t.split_whitespace().any(|c| c == controller));
    if enabled {
        return Some(Place::V2);
    }
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").ok()?;
    let own = fs::read_to_string("/proc/self/cgroup").ok()?;
    let parent = v1_parent(&mountinfo, &own, controller)?;
    let dir = parent.join(format!("kennel-probe-{}", std::process::id()));
    fs::create_dir(&dir).ok()?;
    let ok = dir.join(v1_file).exists();
    let _ = fs::remove_dir(&dir);
    ok.then_some(Place::V1(parent))
}

/// This process's directory in the rw cgroup v1 hierarchy of `controller`, from
/// `/proc/self/mountinfo` and `/proc/self/cgroup` (the mount's root is stripped from
/// our path, as in a container whose hierarchy is mounted from a sub-directory).
fn v1_parent(mountinfo: &str, own_cgroup: &str, controller: &str) -> Option<PathBuf> {
    let own = own_cgroup.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, list, path) = (parts.next()?, parts.next()?, parts.next()?);
        list.split(',').any(|c| c == controller).then_some(path)
    })?;
    mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let mut right = right.split_whitespace();
        let (fstype, _source, options) = (right.next()?, right.next()?, right.next()?);
        let mut left = left.split_whitespace().skip(3);
        let (root, mount_point, mount_options) = (left.next()?, left.next()?, left.next()?);
        let has = fstype == "cgroup"
            && options.split(',').any(|o| o == controller)
            && mount_options.split(',').any(|o| o == "rw");
        let below = if root == "/" {
            own
        } else {
            own.strip_prefix(root)?
        };
        has.then(|| Path::new(mount_point).join(below.trim_start_matches('/')))
    })
}

/// Remove empty `kennel-<pid>-<seq>` directories of processes that no longer run
/// from every v1 parent we use and from the v2 root. Best effort.
pub(crate) fn sweep_stale(probe: &Probe, v2_root: &Path) {
    let mut parents = v1_parents(probe);
    parents.push(v2_root.to_owned());
    for parent in parents {
        sweep_dead_owners(&parent);
    }
}

/// Remove the empty `kennel-<pid>-<seq>` directories in `parent` whose process no
/// longer runs. Best effort: a directory that still has members stays.
pub(crate) fn sweep_dead_owners(parent: &Path) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(owner) = name
            .to_str()
            .and_then(|n| n.strip_prefix("kennel-"))
            .and_then(|n| n.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if owner != std::process::id() && !Path::new(&format!("/proc/{owner}")).exists() {
            // Fails (and is left alone) while the directory still has members.
            let _ = fs::remove_dir(entry.path());
        }
    }
}

fn v1_parents(probe: &Probe) -> Vec<PathBuf> {
    let mut parents: Vec<PathBuf> = [&probe.memory, &probe.pids, &probe.cpu]
        .into_iter()
        .filter_map(|p| match p {
            Some(Place::V1(parent)) => Some(parent.clone()),
            _ => None,
        })
        .collect();
    parents.dedup();
    parents
}

/// Remove the v1 directories named like the v2 cgroup `v2_dir` (the guard's clean-up
/// after it killed a dead supervisor's trees; the guard probes for itself, from the
/// same cgroups as its supervisor). Members left are SIGKILLed first.
pub(crate) fn remove_v1_of(v2_dir: &Path) {
    let (Some(name), Some(root)) = (v2_dir.file_name(), v2_dir.parent()) else {
        return;
    };
    for parent in v1_parents(probe(root)) {
        remove_dir(&parent.join(name));
    }
}

/// SIGKILL what is left in the v1 directory `dir`, then remove it, retrying while the
/// kernel still counts exiting members (up to ~1 s: a killed tree that held a lot of
/// memory takes a while to exit).
pub(super) fn remove_dir(dir: &Path) {
    for attempt in 0..1000 {
        match fs::remove_dir(dir) {
            Ok(()) => return,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return,
            Err(_) => {
                if attempt % 50 == 0 {
                    kill_members(dir);
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

fn kill_members(dir: &Path) {
    let Ok(text) = fs::read_to_string(dir.join("cgroup.procs")) else {
        return;
    };
    for pid in text.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
        if let Some(pid) = rustix::process::Pid::from_raw(pid) {
            // A member listed in our own directory is ours; a pid reused after the
            // read could be hit, but members are only left when the v2 kill failed.
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
}

#[cfg(test)]
mod tests;
