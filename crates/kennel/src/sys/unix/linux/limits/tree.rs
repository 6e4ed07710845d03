//! The limits and accounting files of one tree: its v1 directories (made, joined before
//! exec, removed), the limit values written, the OOM notification, the statistics read.

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd as _, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};
use tokio::io::unix::AsyncFd;

use super::{remove_dir, Place, Plan};
use crate::limits::Usage;
use crate::sys::unix::linux::cgroup::CpuBase;
use crate::sys::unix::linux::procfs::Reread;

/// The CFS period kennel sets with a CPU limit.
const CPU_PERIOD_US: u64 = 100_000;
/// The kernel's smallest CFS quota.
pub(super) const MIN_QUOTA_US: u64 = 1_000;

/// One v1 directory of a tree.
#[derive(Debug)]
struct V1Dir {
    dir: PathBuf,
    /// Its `cgroup.procs`, opened before the fork for the child to join.
    procs: OwnedFd,
}

/// The limits and accounting files of one tree. Dropping it removes its v1 directories
/// (kill the tree through its v2 cgroup first).
#[derive(Debug)]
pub(crate) struct TreeLimits {
    v2: PathBuf,
    memory: Option<(PathBuf, bool)>,
    pids: Option<PathBuf>,
    v1: Vec<V1Dir>,
    /// v1 OOM notification: readable (8-byte counter) after an OOM in the tree.
    oom_event: Option<OwnedFd>,
    /// Set by the task [`TreeLimits::watch`] starts.
    oom_watch: Option<tokio::sync::watch::Receiver<bool>>,
    /// No limit was written and no figure beyond `cpu.stat` is read: the cgroup may
    /// be given to another tree once this one ended.
    plain: bool,
    /// Subtracted from `cpu.stat`: what the cgroup had counted before this tree.
    pub(crate) cpu_base: CpuBase,
    /// What `cpu.stat` counted at the last [`TreeLimits::usage`].
    counted: std::sync::Mutex<Option<CpuBase>>,
    /// The cgroup's `cpu.stat`, kept open by its `Cgroup` (else read by path).
    pub(crate) cpu_stat: Option<std::sync::Arc<Reread>>,
}

impl TreeLimits {
    /// Apply `plan` to the tree whose v2 cgroup is `v2_dir`: create the v1 directories
    /// (named like `v2_dir`) and write the limits. Nothing is left behind on error.
    pub(crate) fn create(v2_dir: &Path, plan: &Plan) -> io::Result<TreeLimits> {
        let mut tree = TreeLimits {
            v2: v2_dir.to_owned(),
            memory: None,
            pids: None,
            v1: Vec::new(),
            oom_event: None,
            oom_watch: None,
            plain: plan.memory.is_none() && plan.pids.is_none() && plan.cpu.is_none(),
            cpu_base: CpuBase::default(),
            counted: std::sync::Mutex::new(None),
            cpu_stat: None,
        };
        // On error `tree` is dropped, removing the directories made so far.
        if let Some((place, bytes)) = &plan.memory {
            let (dir, v2) = tree.dir_for(place)?;
            if let Some(bytes) = bytes {
                write_memory(&dir, v2, *bytes)?;
            }
            if !v2 {
                tree.oom_event = Some(oom_eventfd(&dir)?);
            }
            tree.memory = Some((dir, v2));
        }
        if let Some((place, n)) = &plan.pids {
            let (dir, _) = tree.dir_for(place)?;
            if let Some(n) = n {
                write(&dir, "pids.max", &n.to_string())?;
            }
            tree.pids = Some(dir);
        }
        if let Some((place, cpus)) = &plan.cpu {
            let (dir, v2) = tree.dir_for(place)?;
            let quota = cpu_quota_us(*cpus);
            if v2 {
                write(&dir, "cpu.max", &format!("{quota} {CPU_PERIOD_US}"))?;
            } else {
                write(&dir, "cpu.cfs_period_us", &CPU_PERIOD_US.to_string())?;
                write(&dir, "cpu.cfs_quota_us", &quota.to_string())?;
            }
        }
        Ok(tree)
    }

    /// The directory of a controller at `place` (made on first use for v1), and
    /// whether it is the v2 cgroup.
    fn dir_for(&mut self, place: &Place) -> io::Result<(PathBuf, bool)> {
        let Place::V1(parent) = place else {
            return Ok((self.v2.clone(), true));
        };
        let name = self
            .v2
            .file_name()
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        let dir = parent.join(name);
        // Two controllers co-mounted in one hierarchy share a directory.
        if !self.v1.iter().any(|d| d.dir == dir) {
            self.v1.push(V1Dir::create(dir.clone())?);
        }
        Ok((dir, false))
    }

    /// The `cgroup.procs` fds of the v1 directories, for the child to write `0` to
    /// between fork and exec (after joining the v2 cgroup).
    pub(crate) fn join_fds(&self) -> Vec<RawFd> {
        self.v1.iter().map(|d| d.procs.as_raw_fd()).collect()
    }

    /// The directory holding the pids files.
    #[cfg(test)]
    pub(crate) fn pids_dir(&self) -> Option<&Path> {
        self.pids.as_deref()
    }

    /// The v1 directories.
    #[cfg(test)]
    pub(crate) fn v1_dirs(&self) -> Vec<&Path> {
        self.v1.iter().map(|d| d.dir.as_path()).collect()
    }

    #[cfg(test)]
    /// The eventfd that becomes readable when the tree's (v1) memory cgroup ran out of
    /// memory. `None` where the kernel kills the whole tree itself (v2 `memory.oom.group`)
    /// or without a memory cgroup.
    pub(crate) fn oom_event(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.oom_event.as_ref().map(std::os::fd::AsFd::as_fd)
    }

    /// Watch the OOM notification (inside a tokio runtime): a task reads the eventfd
    /// and sets the flag [`TreeLimits::out_of_memory`] hands out. The task ends with the
    /// notification, or when every receiver is gone.
    pub(crate) fn watch(&mut self) -> io::Result<()> {
        let Some(fd) = self.oom_event.take() else {
            return Ok(());
        };
        // SAFETY: the eventfd is owned by the AsyncFd from here on; it is never replaced
        // or closed behind its back.
        let fd = unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
            .map_err(io::Error::from)?;
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            tokio::select! {
                () = read_event(&fd) => { let _ = tx.send(true); }
                () = tx.closed() => {}
            }
        });
        self.oom_watch = Some(rx);
        Ok(())
    }

    /// A receiver that turns true once the tree ran out of memory and the kernel had
    /// to act (v1, after [`TreeLimits::watch`]): the caller kills the whole tree.
    /// `None` where the kernel kills the whole tree itself (v2) or without a memory
    /// limit.
    pub(crate) fn out_of_memory(&self) -> Option<tokio::sync::watch::Receiver<bool>> {
        self.oom_watch.clone()
    }

    /// Whether the tree's cgroup holds nothing of this tree's but `cpu.stat` (no limit,
    /// no v1 directory, no peak read), so that it can be handed on emptied.
    pub(crate) fn plain(&self) -> bool {
        self.plain && self.v1.is_empty()
    }

    /// Whether the kernel OOM-killed a process of the tree (so far).
    pub(crate) fn oom_killed(&self) -> bool {
        self.oom_kills().is_some_and(|n| n > 0)
    }

    /// Processes of the tree the kernel killed for want of memory.
    pub(crate) fn oom_kills(&self) -> Option<u64> {
        let (dir, v2) = self.memory.as_ref()?;
        let file = if *v2 {
            "memory.events"
        } else {
            "memory.oom_control"
        };
        keyed(&fs::read_to_string(dir.join(file)).ok()?, "oom_kill")
    }

    /// What `cpu.stat` counted at the last [`TreeLimits::usage`]: the run loop reads
    /// the usage once the tree is gone, before it reaps the leader, so when the cgroup
    /// is handed on this is the next tree's base with no second read.
    pub(crate) fn counted(&self) -> Option<CpuBase> {
        self.counted.lock().ok().and_then(|c| *c)
    }

    /// What the tree used so far (read once it ended for the final figures).
    pub(crate) fn usage(&self) -> Usage {
        let mut usage = Usage::default();
        if let Some(now) = cpu_counted(self.cpu_stat.as_deref(), &self.v2) {
            if let Ok(mut counted) = self.counted.lock() {
                *counted = Some(now);
            }
            let since = |now: u64, base: u64| Some(now.saturating_sub(base) / 1000);
            usage.cpu_user_ms = since(now.user_usec, self.cpu_base.user_usec);
            usage.cpu_system_ms = since(now.system_usec, self.cpu_base.system_usec);
        }
        if let Some((dir, v2)) = &self.memory {
            let file = if *v2 {
                "memory.peak"
            } else {
                "memory.max_usage_in_bytes"
            };
            usage.memory_peak_bytes = read_single(&dir.join(file));
            usage.oom_kills = self.oom_kills();
        }
        if let Some(dir) = &self.pids {
            usage.processes = read_single(&dir.join("pids.peak"));
            usage.forks_refused = fs::read_to_string(dir.join("pids.events"))
                .ok()
                .and_then(|t| keyed(&t, "max"));
        }
        usage
    }
}

impl Drop for TreeLimits {
    fn drop(&mut self) {
        for d in self.v1.drain(..).rev() {
            remove_dir(&d.dir);
        }
    }
}

impl V1Dir {
    fn create(dir: PathBuf) -> io::Result<V1Dir> {
        match fs::create_dir(&dir) {
            Ok(()) => {}
            // A leftover of an earlier process with our pid (see cgroup::create_fresh_dir):
            // take it if it is empty.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                fs::remove_dir(&dir)?;
                fs::create_dir(&dir)?;
            }
            Err(e) => return Err(e),
        }
        let path = CString::new(dir.join("cgroup.procs").as_os_str().as_bytes())?;
        match rustix::fs::open(&path, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty()) {
            Ok(procs) => Ok(V1Dir { dir, procs }),
            Err(e) => {
                let _ = fs::remove_dir(&dir);
                Err(e.into())
            }
        }
    }
}

fn write(dir: &Path, file: &str, value: &str) -> io::Result<()> {
    fs::write(dir.join(file), value).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("writing {value:?} to {}: {e}", dir.join(file).display()),
        )
    })
}

fn write_memory(dir: &Path, v2: bool, bytes: u64) -> io::Result<()> {
    if v2 {
        write(dir, "memory.max", &bytes.to_string())?;
        // Absent without swap accounting (no swap to escape to then).
        if dir.join("memory.swap.max").exists() {
            write(dir, "memory.swap.max", "0")?;
        }
        write(dir, "memory.oom.group", "1")
    } else {
        write(dir, "memory.limit_in_bytes", &bytes.to_string())?;
        // Absent without swap accounting (swapaccount=0, or no swap support).
        if dir.join("memory.memsw.limit_in_bytes").exists() {
            write(dir, "memory.memsw.limit_in_bytes", &bytes.to_string())?;
        }
        Ok(())
    }
}

/// Resolves once the eventfd counted an event (pending forever if it cannot be read).
async fn read_event(fd: &AsyncFd<OwnedFd>) {
    loop {
        let Ok(mut ready) = fd.readable().await else {
            return std::future::pending().await;
        };
        let mut n = [0u8; 8];
        match rustix::io::read(fd.get_ref(), &mut n) {
            Ok(8) => return,
            Err(rustix::io::Errno::AGAIN) => ready.clear_ready(),
            _ => return std::future::pending().await,
        }
    }
}

/// Register an eventfd for the v1 OOM notification of the memory cgroup `dir`.
fn oom_eventfd(dir: &Path) -> io::Result<OwnedFd> {
    use rustix::event::{eventfd, EventfdFlags};
    let efd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
    let control = fs::File::open(dir.join("memory.oom_control"))?;
    let line = format!("{} {}", efd.as_raw_fd(), control.as_raw_fd());
    // The kernel keeps its own reference to both files once registered.
    write(dir, "cgroup.event_control", &line)?;
    Ok(efd)
}

/// The CFS quota for `cpus` CPUs per [`CPU_PERIOD_US`].
pub(super) fn cpu_quota_us(cpus: f64) -> u64 {
    ((cpus * CPU_PERIOD_US as f64).round() as u64).max(MIN_QUOTA_US)
}

/// The value of `key` in a flat keyed file (`key value` lines: `cpu.stat`,
/// `memory.events`, `pids.events`, `memory.oom_control`).
pub(crate) fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// What the v2 cgroup `dir` has counted in `cpu.stat` so far: through `kept`, its
/// `cpu.stat` kept open, where there is one.
pub(crate) fn cpu_counted(kept: Option<&Reread>, dir: &Path) -> Option<CpuBase> {
    let stat = match kept {
        Some(file) => file.read(),
        None => crate::sys::unix::linux::procfs::read_file(dir.join("cpu.stat")),
    }
    .ok()?;
    Some(CpuBase {
        user_usec: keyed(&stat, "user_usec")?,
        system_usec: keyed(&stat, "system_usec")?,
    })
}

/// A file holding one number (`max` reads as `None`).
pub(super) fn read_single(path: &Path) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}
