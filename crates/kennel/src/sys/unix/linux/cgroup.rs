//! The cgroup v2 tier (Linux): one cgroup per child, joined before `exec`, killed with
//! `cgroup.kill`, empty when `cgroup.events` says `populated 0`.
//!
//! # What the kernel does, and where it races
//!
//! * Membership is inherited at `fork` and cannot be left without write access to
//!   another cgroup's `cgroup.procs`, so every descendant — `setsid` daemons and
//!   double forks included — stays in the child's cgroup. The child joins in the
//!   `fork`→`exec` window (it writes `0`, "myself", to the `cgroup.procs` fd opened by
//!   the parent), so it cannot fork before it is contained.
//! * `cgroup.kill` (Linux ≥ 5.14) SIGKILLs every member atomically, including
//!   processes forked while the kill runs: a fork loop cannot outrun it.
//! * A member is removed from the cgroup when it *exits*, not when it is reaped, so
//!   `populated 0` means "no process of the tree is running" even while the leader is
//!   still an unreaped zombie.
//! * Signalling members one by one (graceful rungs) reads `cgroup.procs`, opens a pidfd
//!   per pid, then re-checks `/proc/<pid>/cgroup`: a pid that was reused between the
//!   read and the `pidfd_open` is no longer in our cgroup and is skipped.
//!
//! Where the tier is available is found by probing (create and remove a test cgroup
//! under our own cgroup in the cgroup2 mount), never by path: cgroup2 may be mounted at
//! `/sys/fs/cgroup` (pure v2) or `/sys/fs/cgroup/unified` (hybrid), read-only in
//! containers, and delegated only to `user@UID.service` on systemd desktops.

use std::ffi::CString;
use std::fs;
use std::io::{self, Write as _};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use rustix::fs::{Mode, OFlags};

use super::procfs::{self, Reread};
use crate::sys::unix::signal::to_platform;
use crate::sys::Layer;
use crate::tree::TreeSignalError;
use crate::Signal;

use self::root::create_fresh_dir;
pub(crate) use self::root::root;
#[cfg(test)]
use self::root::{cgroup2_mounts, SEQ};

/// The file in `slot`, opened by `open` on first use; `None` while it cannot be
/// opened (tried again at the next use).
fn kept<T>(slot: &OnceLock<T>, open: impl FnOnce() -> io::Result<T>) -> Option<&T> {
    if let Some(file) = slot.get() {
        return Some(file);
    }
    let file = open().ok()?;
    Some(slot.get_or_init(|| file))
}

/// One child's cgroup. Dropping it kills what is left in it and removes it.
#[derive(Debug)]
pub(crate) struct Cgroup {
    dir: PathBuf,
    /// The directory, for a child born in the cgroup (`clone3`'s `CLONE_INTO_CGROUP`,
    /// which takes an `O_PATH` fd: no read permission on the directory is needed).
    dir_fd: OwnedFd,
    /// `cgroup.procs`, opened (before the fork, so the child only has to `write(2)`)
    /// only where a process joins by writing: a leader born in the cgroup needs none.
    procs: OnceLock<OwnedFd>,
    /// `cgroup.events` and `cpu.stat`, kept open from their first read ([`Reread`]):
    /// read at every tree's end, and an emptied cgroup handed on keeps them.
    events: OnceLock<Reread>,
    cpu_stat: OnceLock<Arc<Reread>>,
    removed: bool,
    /// Nothing has made the directory unfit for another tree: no `cgroup.kill` was
    /// written (the kernel then kills every child later born into it with
    /// `CLONE_INTO_CGROUP`) and no member was moved out to outlive its run.
    reusable: AtomicBool,
    /// `cpu.stat`'s `user_usec` and `system_usec` when the tree took the cgroup: not 0
    /// for an emptied one given to the next tree ([`super::spare`]).
    pub(crate) cpu_base: CpuBase,
}

/// `cpu.stat`'s cumulative `user_usec` and `system_usec` at some moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct CpuBase {
    /// Microseconds in user mode.
    pub(crate) user_usec: u64,
    /// Microseconds in the kernel.
    pub(crate) system_usec: u64,
}

impl Cgroup {
    /// Create a fresh cgroup under [`root`].
    pub(crate) fn create() -> io::Result<Cgroup> {
        let root = root().ok_or_else(|| io::Error::from(io::ErrorKind::Unsupported))?;
        let dir = create_fresh_dir(root)?;
        Cgroup::open(dir.clone()).inspect_err(|_| {
            let _ = fs::remove_dir(&dir);
        })
    }

    /// Open a cgroup created by someone else (the keeper gets the path).
    pub(crate) fn open(dir: PathBuf) -> io::Result<Cgroup> {
        let path = CString::new(dir.as_os_str().as_bytes())?;
        let dir_fd = rustix::fs::open(
            &path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Cgroup::of(dir, dir_fd))
    }

    /// The cgroup at `dir`, open as `dir_fd`: nothing read or opened in it yet.
    fn of(dir: PathBuf, dir_fd: OwnedFd) -> Cgroup {
        Cgroup {
            dir,
            dir_fd,
            procs: OnceLock::new(),
            events: OnceLock::new(),
            cpu_stat: OnceLock::new(),
            removed: false,
            reusable: AtomicBool::new(true),
            cpu_base: CpuBase::default(),
        }
    }

    /// The directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The raw fd of `cgroup.procs` (opened on first use), for the child to join
    /// between `fork` and `exec`.
    pub(crate) fn procs_fd(&self) -> io::Result<RawFd> {
        if let Some(fd) = self.procs.get() {
            return Ok(fd.as_raw_fd());
        }
        let fd = rustix::fs::openat(
            &self.dir_fd,
            "cgroup.procs",
            OFlags::WRONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(self.procs.get_or_init(|| fd).as_raw_fd())
    }

    /// The raw fd of the directory, for a child to be born in the cgroup.
    pub(crate) fn dir_fd(&self) -> RawFd {
        self.dir_fd.as_raw_fd()
    }

    /// Whether another tree may be born in this (emptied) cgroup: it was never killed
    /// nor had members moved out, and it still exists.
    pub(crate) fn reusable(&self) -> bool {
        !self.removed && self.reusable.load(Ordering::Acquire)
    }

    /// Whether the directory is still a cgroup: nobody removed it since it was made
    /// (one `faccessat` through the directory's fd).
    pub(crate) fn exists(&self) -> bool {
        rustix::fs::accessat(
            &self.dir_fd,
            "cgroup.procs",
            rustix::fs::Access::EXISTS,
            rustix::fs::AtFlags::empty(),
        )
        .is_ok()
    }

    /// SIGKILL every member at once. The cgroup is not reused afterwards.
    pub(crate) fn kill(&self) -> io::Result<()> {
        self.reusable.store(false, Ordering::Release);
        fs::OpenOptions::new()
            .write(true)
            .open(self.dir.join("cgroup.kill"))?
            .write_all(b"1")
    }

    /// Whether any process of the cgroup is alive.
    ///
    /// A directory that is gone held nothing: the kernel removes only an empty cgroup
    /// (`rmdir` says `EBUSY` otherwise), and nothing can join a removed one. Someone
    /// else may remove ours: another kennel process's `limits::sweep_stale` takes an
    /// empty `kennel-<pid>-N` whose supervisor has died, while that supervisor's
    /// keeper still holds the tree (its members escaped, or were just killed). Gone
    /// must read as empty, or the keeper would wait for it forever.
    pub(crate) fn populated(&self) -> bool {
        let read = match kept(&self.events, || Reread::at(&self.dir_fd, "cgroup.events")) {
            Some(events) => events.read(),
            None => super::procfs::read_file(self.dir.join("cgroup.events")),
        };
        match read {
            Ok(text) => text.lines().any(|l| l == "populated 1"),
            Err(e) if procfs::gone(&e) => false,
            // Cannot tell: assume alive, so teardown keeps going to the kill rung.
            Err(_) => !self.removed,
        }
    }

    /// `cpu.stat`, kept open for whoever reads the tree's usage (`None` if it cannot be
    /// opened: the reader then opens it by path).
    pub(crate) fn cpu_stat(&self) -> Option<Arc<Reread>> {
        kept(&self.cpu_stat, || {
            Reread::at(&self.dir_fd, "cpu.stat").map(Arc::new)
        })
        .cloned()
    }

    /// Pids of the members.
    pub(crate) fn pids(&self) -> Vec<u32> {
        fs::read_to_string(self.dir.join("cgroup.procs"))
            .map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default()
    }

    /// Whether `pid` is (still) a member, from its own `/proc/<pid>/cgroup`.
    pub(crate) fn contains(&self, pid: u32) -> bool {
        let Some(name) = self.dir.file_name() else {
            return false;
        };
        let Ok(text) = fs::read_to_string(format!("/proc/{pid}/cgroup")) else {
            return false;
        };
        text.lines()
            .find_map(|l| l.strip_prefix("0::"))
            .is_some_and(|p| Path::new(p).file_name() == Some(name))
    }

    /// Send `signal` to every member, through pidfds verified by a second listing.
    ///
    /// A pid read from `cgroup.procs` may be a stranger's by the time its pidfd is
    /// opened (the member died, was reaped, and the number came round). A pidfd
    /// always names the process that held the number when it was opened; while that
    /// process lives (or is a zombie) the number stays its own. So a pid listed again
    /// *after* its pidfd was opened names that same process, now a member; a process
    /// that has died since cannot be signalled through its pidfd at all. One more read
    /// of `cgroup.procs` thus verifies every pidfd at once, where reading each
    /// process's `/proc/<pid>/cgroup` cost three system calls per member (~1.5 ms for
    /// a 50-process tree on a 2-vCPU VM, on the cancel's path, twice: the signal and
    /// `SIGCONT`). At most [`PIDFDS_AT_ONCE`] pidfds are open at a time, so a large
    /// tree near the fd limit is still reached in full. Members of process group
    /// `skip` (just reached by `killpg`) are left out: on the cancel's path, while the
    /// tree dies, the pass then costs a `getpgid` per member, not three calls.
    pub(crate) fn signal_all(&self, signal: rustix::process::Signal, skip: Option<u32>) {
        let mut pids = self.pids();
        if let Some(group) = skip {
            pids.retain(|&pid| super::procfs::getpgid(pid) != Some(group));
        }
        for chunk in pids.chunks(PIDFDS_AT_ONCE) {
            let pidfds = open_pidfds(chunk);
            if !pidfds.is_empty() {
                signal_still_listed(&pidfds, &self.pids(), signal);
            }
        }
    }

    /// Move the members that are still alive to the parent cgroup (they were asked to
    /// outlive the run), so the directory can be removed without killing them.
    pub(crate) fn move_members_out(&self) {
        self.reusable.store(false, Ordering::Release);
        let Some(parent) = self.dir.parent() else {
            return;
        };
        let Ok(mut procs) = fs::OpenOptions::new()
            .write(true)
            .open(parent.join("cgroup.procs"))
        else {
            return;
        };
        for pid in self.pids() {
            let _ = procs.write_all(pid.to_string().as_bytes());
        }
    }

    /// Remove the (empty) directory, retrying briefly while the kernel still counts
    /// exiting members. Never kills: call [`Cgroup::kill`] or [`Cgroup::move_members_out`] first.
    pub(crate) fn remove(&mut self) {
        if self.removed {
            return;
        }
        for _ in 0..200 {
            match fs::remove_dir(&self.dir) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(1)),
            }
        }
        self.removed = true;
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        if !self.removed {
            let _ = self.kill();
            self.remove();
        }
    }
}

impl Cgroup {
    /// [`Layer::signal`], leaving out the members of process group `skip` (for a
    /// signal other than `SIGKILL`, which `cgroup.kill` sends to all at once).
    pub(crate) fn signal_skipping(
        &mut self,
        signal: Signal,
        skip: Option<u32>,
    ) -> Result<(), TreeSignalError> {
        if signal == Signal::Kill {
            let _ = self.kill();
        } else {
            self.signal_all(to_platform(signal)?, skip);
        }
        Ok(())
    }
}

impl Layer for Cgroup {
    fn signal(&mut self, signal: Signal) -> Result<(), TreeSignalError> {
        self.signal_skipping(signal, None)
    }

    fn alive(&mut self) -> bool {
        self.populated()
    }

    fn members(&mut self) -> Vec<u32> {
        self.pids()
    }

    /// Move the members out (they outlive the run) and remember them as released, so
    /// the escapee sweep spares them.
    fn release(&mut self) {
        super::orphans::released(self.pids());
        self.move_members_out();
    }

    fn close(&mut self) {
        self.remove();
    }
}

mod members;
mod root;
use members::{open_pidfds, signal_still_listed, PIDFDS_AT_ONCE};

#[cfg(test)]
mod tests;
