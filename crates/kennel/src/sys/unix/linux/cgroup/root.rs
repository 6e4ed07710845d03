//! Where tree cgroups are made: the cgroup v2 directory this process may create them
//! under (probed once), and fresh `kennel-<pid>-<seq>` names in it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

static ROOT: OnceLock<Option<PathBuf>> = OnceLock::new();
pub(super) static SEQ: AtomicU64 = AtomicU64::new(0);

/// The directory under which per-child cgroups are created, if cgroup v2 is writable
/// here. Probed once per process. `KENNEL_CGROUP_ROOT` names a delegated directory to use
/// instead of our own cgroup.
pub(crate) fn root() -> Option<&'static Path> {
    ROOT.get_or_init(|| {
        let root = probe()?;
        // Empty cgroups of dead kennel processes (one killed between a `mkdir` and
        // telling its guard, e.g. while it made its spare) go now.
        super::super::limits::sweep_dead_owners(&root);
        Some(root)
    })
    .as_deref()
}

fn probe() -> Option<PathBuf> {
    let candidates: Vec<PathBuf> = match std::env::var_os("KENNEL_CGROUP_ROOT") {
        Some(dir) => vec![PathBuf::from(dir)],
        None => {
            let own = own_cgroup()?;
            cgroup2_mounts()
                .into_iter()
                .map(|m| m.join(own.trim_start_matches('/')))
                .collect()
        }
    };
    candidates.into_iter().find(|dir| {
        let probe = dir.join(format!("kennel-probe-{}", std::process::id()));
        if fs::create_dir(&probe).is_err() {
            return false;
        }
        let ok = probe.join("cgroup.kill").exists() && probe.join("cgroup.procs").exists();
        let _ = fs::remove_dir(&probe);
        ok
    })
}

/// Our own cgroup v2 path (`0::/a/b` in `/proc/self/cgroup`).
fn own_cgroup() -> Option<String> {
    let text = fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(str::to_owned)
}

/// Mount points of cgroup2 file systems, from `/proc/self/mountinfo`.
pub(super) fn cgroup2_mounts() -> Vec<PathBuf> {
    let Ok(text) = fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let fstype = right.split_whitespace().next()?;
            let options = left.split_whitespace().nth(5)?;
            let mount_point = left.split_whitespace().nth(4)?;
            (fstype == "cgroup2" && options.split(',').any(|o| o == "rw"))
                .then(|| PathBuf::from(mount_point))
        })
        .collect()
}

/// How many names [`create_fresh_dir`] tries before giving up.
const NAME_ATTEMPTS: usize = 16;

/// Creates `kennel-<pid>-<seq>` under `root`. A directory of that name can only be a
/// leftover of an earlier process that had our pid (pid numbers are reused; a
/// supervisor killed while its guard was not running leaves its empty cgroups behind,
/// and `pid_max` can be as low as 32 768): an empty one is removed and the name taken,
/// one that still holds processes or cgroups (`rmdir` refuses it) is skipped.
pub(super) fn create_fresh_dir(root: &Path) -> io::Result<PathBuf> {
    let mut last = io::Error::from(io::ErrorKind::AlreadyExists);
    for _ in 0..NAME_ATTEMPTS {
        let dir = root.join(format!(
            "kennel-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                if fs::remove_dir(&dir).is_ok() && fs::create_dir(&dir).is_ok() {
                    return Ok(dir);
                }
                last = e;
            }
            Err(e) => return Err(e),
        }
    }
    Err(last)
}
