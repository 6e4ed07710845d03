//! Running kennel as an unprivileged user with a cgroup subtree of its own (Linux).
//!
//! When the suite runs as root, a test that wants to see what an *unprivileged* child
//! can do drops to `nobody` — but `nobody` has no writable cgroup, so kennel would run
//! in its keeper tier and no cgroup escape could even be tried. [`Delegated`] does what
//! systemd does for a user session (cgroups(7), "Cgroup delegation"): it creates a
//! subtree, gives the user the directory and its `cgroup.procs`, `cgroup.threads` and
//! `cgroup.subtree_control`, and starts the supervisor as that user *inside* it
//! (a `supervisor` leaf), with `KENNEL_CGROUP_ROOT` naming the subtree. A child of that
//! kennel may then move itself to any cgroup of the subtree (kennel's own leaf, a
//! `sibling` leaf, or one it creates) — exactly as an unprivileged user's child could
//! on a desktop — but not outside it (the root cgroup refuses: `EACCES`).
//!
//! Dropping the subtree kills whatever is still in it (`cgroup.kill` on the subtree)
//! and removes its directories.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The unprivileged user the tests drop to: `nobody`.
pub const NOBODY: (u32, u32) = (65534, 65534);

/// A cgroup subtree delegated to an unprivileged user; removed on drop.
#[derive(Debug)]
pub struct Delegated {
    dir: PathBuf,
    mount: PathBuf,
    uid: u32,
    gid: u32,
}

impl Delegated {
    /// As root, with a writable cgroup v2: a subtree `kennel-deleg-<tag>` under our own
    /// cgroup, owned by `user`, with the leaves `supervisor` and `sibling`. `None` when
    /// not root or without a writable cgroup v2 (the caller says what is not tested).
    pub fn create(tag: &str, (uid, gid): (u32, u32)) -> Option<Delegated> {
        // SAFETY: getuid has no preconditions.
        if unsafe { libc::getuid() } != 0 {
            return None;
        }
        let (mount, own) = own_cgroup()?;
        let dir = own.join(format!("kennel-deleg-{tag}"));
        std::fs::create_dir(&dir).ok()?;
        let delegated = Delegated {
            dir,
            mount,
            uid,
            gid,
        };
        for leaf in [None, Some("supervisor"), Some("sibling")] {
            let path = match leaf {
                None => delegated.dir.clone(),
                Some(name) => {
                    let p = delegated.dir.join(name);
                    std::fs::create_dir(&p).ok()?;
                    p
                }
            };
            delegated.give(&path).ok()?;
        }
        Some(delegated)
    }

    fn give(&self, dir: &Path) -> std::io::Result<()> {
        let mut paths = vec![dir.to_path_buf()];
        for file in ["cgroup.procs", "cgroup.threads", "cgroup.subtree_control"] {
            paths.push(dir.join(file));
        }
        for path in paths {
            std::os::unix::fs::chown(&path, Some(self.uid), Some(self.gid))?;
        }
        Ok(())
    }

    /// The subtree (what `KENNEL_CGROUP_ROOT` names).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The supervisor's own cgroup: kennel's cgroup, from its tree's point of view.
    pub fn supervisor(&self) -> PathBuf {
        self.dir.join("supervisor")
    }

    /// A leaf next to the supervisor's and the trees' cgroups.
    pub fn sibling(&self) -> PathBuf {
        self.dir.join("sibling")
    }

    /// The root of the cgroup2 mount (not the user's: moving there is refused).
    pub fn root(&self) -> &Path {
        &self.mount
    }

    /// Make `cmd` run as the user, inside [`Delegated::supervisor`], with
    /// `KENNEL_CGROUP_ROOT` naming the subtree, from `/` (our files are not the user's).
    /// The cgroup move happens before the user is dropped (root may move anything); a
    /// process of the user could not leave our cgroup for the subtree.
    pub fn run_as(&self, cmd: &mut std::process::Command) {
        let procs = CString::new(
            self.supervisor()
                .join("cgroup.procs")
                .as_os_str()
                .as_bytes(),
        )
        .expect("a cgroup path has no NUL");
        let (uid, gid) = (self.uid, self.gid);
        cmd.env("KENNEL_CGROUP_ROOT", &self.dir).current_dir("/");
        // SAFETY: only async-signal-safe system calls (open, write, close, setgroups,
        // setgid, setuid) between fork and exec, on a path allocated before the fork.
        unsafe {
            cmd.pre_exec(move || {
                let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(fd);
                if libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(gid) != 0
                    || libc::setuid(uid) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
}

impl Drop for Delegated {
    fn drop(&mut self) {
        // Kill anything left anywhere in the subtree, wait until it is empty, remove the
        // directories deepest first.
        let _ = std::fs::write(self.dir.join("cgroup.kill"), "1");
        let events = self.dir.join("cgroup.events");
        crate::wait_until(Duration::from_secs(10), || {
            std::fs::read_to_string(&events).is_ok_and(|t| t.contains("populated 0"))
        });
        remove_tree(&self.dir);
    }
}

fn remove_tree(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&entry.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

/// The read-write cgroup2 mount and our own cgroup's directory in it.
pub fn own_cgroup() -> Option<(PathBuf, PathBuf)> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mount = mountinfo.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        let mut fields = left.split_whitespace();
        let point = fields.nth(4)?;
        let options = fields.next()?;
        (right.starts_with("cgroup2 ") && options.split(',').any(|o| o == "rw"))
            .then(|| PathBuf::from(point))
    })?;
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let own = text.lines().find_map(|l| l.strip_prefix("0::"))?;
    let dir = mount.join(own.trim_start_matches('/'));
    Some((mount, dir))
}

/// The cgroups kennel process `owner` has made (`kennel-<owner>-<seq>` under our own
/// cgroup, where a kennel process in the same cgroup makes them), sorted.
pub fn kennel_cgroups_of(owner: u32) -> Vec<PathBuf> {
    let Some((_, dir)) = own_cgroup() else {
        return Vec::new();
    };
    let prefix = format!("kennel-{owner}-");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs
}
