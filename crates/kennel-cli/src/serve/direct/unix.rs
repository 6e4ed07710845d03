//! The FIFO directory on Unix (see the parent module).

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};

/// The buffer of a direct stream's FIFO on Linux (`F_SETPIPE_SZ`; 64 KiB by default).
/// Node's `child_process` reads a socketpair, whose buffer holds about three 64 KiB
/// writes; a 64 KiB FIFO makes the writer and the reader take turns at every write.
/// Measured (Node reading 256 MiB floods, 10 interleaved rounds, load 10, two
/// sessions): 64 KiB 0.40–0.46× of `child_process`, 128 KiB 0.73–0.80×, 256 KiB
/// 0.86–0.97×, 512 KiB 0.40–0.65× — DECISIONS, "Direct streams".
#[cfg(target_os = "linux")]
const FIFO_BYTES: usize = 256 * 1024;

/// The prefix of every sidecar's FIFO directory.
const DIR_PREFIX: &str = "kennel-serve-";

/// The sidecar's private directory of FIFOs.
#[derive(Debug)]
pub(crate) struct FifoDir {
    path: PathBuf,
    next: AtomicU64,
}

/// One direct stream's FIFO: the sidecar's hold and the child's write end.
pub(crate) struct Fifo {
    pub(crate) path: PathBuf,
    hold: std::os::fd::OwnedFd,
    writer: std::os::fd::OwnedFd,
}

impl FifoDir {
    /// Removes the directories of dead sidecars, then makes this one's.
    pub(crate) fn create() -> io::Result<FifoDir> {
        let base = base_dir();
        sweep(&base);
        let pid = std::process::id();
        let random = {
            use std::hash::{BuildHasher as _, Hasher as _};
            // Seeded from the OS's randomness, per process.
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u32(pid);
            h.finish()
        };
        let ns = pid_namespace();
        let path = base.join(format!("{DIR_PREFIX}{pid}-{random:016x}-{ns}"));
        {
            use std::os::unix::fs::DirBuilderExt as _;
            // Fails if anything is there: a planted directory or link is never used.
            std::fs::DirBuilder::new().mode(0o700).create(&path)?;
        }
        Ok(FifoDir {
            path,
            next: AtomicU64::new(0),
        })
    }

    /// Makes and opens the FIFO of one direct stream (`stream` names the file).
    pub(crate) fn fifo(&self, stream: &str) -> io::Result<Fifo> {
        use rustix::fs::{fcntl_setfl, open, Mode, OFlags};
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let path = self.path.join(format!("{n}.{stream}"));
        kennel::make_fifo(&path, 0o600)?;
        let opened = (|| {
            // Read-write never waits for the other side; being a reader, it also lets
            // the non-blocking write-only open below succeed.
            let hold = open(
                &path,
                OFlags::RDWR | OFlags::NONBLOCK | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            let writer = open(
                &path,
                OFlags::WRONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            // The child writes blocking, as into any pipe.
            fcntl_setfl(&writer, OFlags::empty())?;
            // Best effort: a user past its pipe quota keeps the default.
            #[cfg(target_os = "linux")]
            let _ = rustix::pipe::fcntl_setpipe_size(&hold, FIFO_BYTES);
            Ok::<_, rustix::io::Errno>((hold, writer))
        })();
        match opened {
            Ok((hold, writer)) => Ok(Fifo { path, hold, writer }),
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                Err(e.into())
            }
        }
    }

    /// Removes the directory and whatever is left in it.
    pub(crate) fn remove(&self) {
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::warn!(
                    "serve: cannot remove the FIFO directory {}: {e}",
                    self.path.display()
                );
            }
        }
    }
}

/// `$XDG_RUNTIME_DIR` (private to the user) when set to a directory, else the temp dir.
fn base_dir() -> PathBuf {
    std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|dir| dir.is_absolute() && dir.is_dir())
        .unwrap_or_else(std::env::temp_dir)
}

/// Which PID namespace pids are read in (Linux: the inode of `/proc/self/ns/pid`; 0
/// elsewhere). A directory is named with it, so a sidecar never judges the pid of one
/// in another namespace (containers sharing a temp dir).
fn pid_namespace() -> u64 {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt as _;
        std::fs::metadata("/proc/self/ns/pid").map_or(0, |m| m.ino())
    }
    #[cfg(not(target_os = "linux"))]
    0
}

/// Removes the FIFO directories of this user's sidecars that are no longer alive (one
/// killed with SIGKILL could not remove its own), in this PID namespace only. A
/// directory whose pid was reused by another process stays until that one is gone.
fn sweep(base: &Path) {
    use std::os::unix::fs::MetadataExt as _;
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    let uid = rustix::process::geteuid().as_raw();
    let ns = pid_namespace().to_string();
    for entry in entries.flatten() {
        let name = entry.file_name();
        // `<pid>-<random>-<namespace>`
        let parts: Vec<&str> = name
            .to_str()
            .and_then(|n| n.strip_prefix(DIR_PREFIX))
            .map(|rest| rest.split('-').collect())
            .unwrap_or_default();
        let [pid, _, dir_ns] = parts[..] else {
            continue;
        };
        let Ok(pid) = pid.parse::<i32>() else {
            continue;
        };
        if dir_ns != ns {
            continue;
        }
        let ours = entry.metadata().is_ok_and(|m| m.is_dir() && m.uid() == uid);
        if ours && !alive(pid) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn alive(pid: i32) -> bool {
    match rustix::process::Pid::from_raw(pid) {
        Some(pid) => rustix::process::test_kill_process(pid) != Err(rustix::io::Errno::SRCH),
        None => true,
    }
}

impl Fifo {
    /// The sidecar's hold (path and descriptor), and the child's write end.
    pub(crate) fn split(self) -> ((PathBuf, File), Stdio) {
        ((self.path, File::from(self.hold)), Stdio::from(self.writer))
    }
}
