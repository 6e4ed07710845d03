//! The shared guard (Linux): one process per supervisor that kills every child's cgroup
//! if the supervisor dies — even with `kill -9`.
//!
//! ```text
//! supervisor ──(socketpair, fd 3)── guard        (one, started at the first spawn)
//!      └── leader [own group, own cgroup] ── …   (spawned directly, as in the cgroup tier)
//! ```
//!
//! # Why a shared guard for cgroup trees, and a keeper per child otherwise
//!
//! The supervisor-death guarantee needs a process that outlives the supervisor and
//! knows where each tree is. With a cgroup per tree the *cgroup* says where the tree is
//! — every descendant, `setsid` daemons and double forks included, stays a member — so
//! one guard that knows the cgroup directories is enough: on EOF of its control socket
//! (which the kernel guarantees on any supervisor death) it writes `1` to each
//! `cgroup.kill`. A per-child [keeper](super::keeper) would add an `exec` of the
//! supervisor's binary and a `fork` from it to every spawn (measured: ~1.7 ms of CPU and
//! 3–4 ms of latency per child, 5× a plain `tokio::process` spawn; `docs/BENCHMARKS.md`)
//! for nothing the cgroup does not already give.
//!
//! Without a cgroup, the keeper stays: there the tree is only a process group, and only
//! a subreaper *above* the tree catches descendants that leave the group.
//!
//! # No race with the fork
//!
//! A cgroup is announced to the guard (`A <dir>`, written to the socket) *before* the
//! child is forked, and the child joins the cgroup before `exec`: whatever the child ever
//! runs is in a cgroup the guard already knows, even if the supervisor dies during the
//! spawn (the guard reads what is in the socket before it sees EOF). A cgroup is
//! forgotten (`D <dir>`) only once its tree is gone (or released, for keep-leftovers).
//!
//! # Protocol (text lines on the socket, supervisor → guard only)
//!
//! `A <dir>` guard this cgroup; `D <dir>` forget it. EOF: `cgroup.kill` every cgroup
//! still known, wait briefly for each to empty, remove it, exit.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::io::{self, Read as _};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;

use rustix::process::{Pid, WaitId, WaitIdOptions};

use super::cgroup::Cgroup;
use super::keeper::{self, CTL_FD};

/// `argv[1]` that turns the supervisor's binary into the guard.
pub(crate) const GUARD_ARG: &str = "__kennel-guard";

/// The guard process, run by [`keeper::init`] when `argv[1]` is [`GUARD_ARG`].
pub(crate) fn run() -> io::Result<()> {
    // SAFETY: the supervisor placed our end of the control socket at fd 3 (dup2 in its
    // pre_exec); nothing else in this fresh process owns that fd.
    let ctl = unsafe { OwnedFd::from_raw_fd(CTL_FD) };
    rustix::io::fcntl_setfd(&ctl, rustix::io::FdFlags::CLOEXEC)?;
    keeper::release_stdio();
    let mut ctl = UnixStream::from(ctl);
    let mut dirs: HashSet<PathBuf> = HashSet::new();
    let mut inbuf = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match ctl.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => inbuf.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // Any other error: the supervisor is as good as gone.
            Err(_) => break,
        }
        while let Some(pos) = inbuf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = inbuf.drain(..=pos).collect();
            let line = &line[..line.len() - 1];
            let (op, dir) = (line.first(), line.get(2..).unwrap_or_default());
            let dir = PathBuf::from(OsStr::from_bytes(dir));
            match op {
                Some(b'A') => {
                    dirs.insert(dir);
                }
                Some(b'D') => {
                    dirs.remove(&dir);
                }
                _ => {}
            }
        }
    }
    // The supervisor died (or exited with trees still registered): kill them all first,
    // then clean up (dropping a `Cgroup` kills and removes it, waiting for it to empty).
    let open: Vec<Cgroup> = dirs
        .into_iter()
        .filter_map(|d| Cgroup::open(d).ok())
        .collect();
    for cg in &open {
        let _ = cg.kill();
    }
    drop(open);
    Ok(())
}

/// The supervisor's side: the running guard and the cgroups it was told about.
struct Link {
    ctl: UnixStream,
    pid: Pid,
    dirs: HashSet<PathBuf>,
}

static GUARD: Mutex<Option<Link>> = Mutex::new(None);

impl Link {
    fn start() -> io::Result<Link> {
        let (ours, theirs) = UnixStream::pair()?;
        let mut cmd = std::process::Command::new(keeper::program());
        cmd.arg(GUARD_ARG)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Not in the supervisor's group: a terminal's Ctrl-C must not take the
            // guard down before the supervisor has torn its trees down.
            .process_group(0);
        keeper::pass_ctl_fd(&mut cmd, &theirs);
        let child = cmd.spawn()?;
        drop(theirs);
        let pid = i32::try_from(child.id())
            .ok()
            .and_then(Pid::from_raw)
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidData))?;
        Ok(Link {
            ctl: ours,
            pid,
            dirs: HashSet::new(),
        })
    }

    fn send(&mut self, op: u8, dir: &Path) -> io::Result<()> {
        let bytes = dir.as_os_str().as_bytes();
        if bytes.contains(&b'\n') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a cgroup path with a newline cannot be sent to the guard",
            ));
        }
        let mut line = Vec::with_capacity(bytes.len() + 3);
        line.extend_from_slice(&[op, b' ']);
        line.extend_from_slice(bytes);
        line.push(b'\n');
        // `send(MSG_NOSIGNAL)`, not `write`: a dead guard is an `EPIPE` (then a new one
        // is started), never a `SIGPIPE` that kills a host program which did not ignore
        // it.
        let mut rest = &line[..];
        while !rest.is_empty() {
            match rustix::net::send(&self.ctl, rest, rustix::net::SendFlags::NOSIGNAL) {
                Ok(n) => rest = &rest[n..],
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

/// A cgroup under the guard's protection until this is dropped (then the guard forgets
/// it: drop it only once the tree is gone or released).
#[derive(Debug)]
pub(crate) struct Ticket {
    dir: PathBuf,
}

/// Put the cgroup `dir` under the guard, starting the guard on first use (and again if
/// it died, re-announcing every cgroup it guarded).
///
/// # Errors
///
/// Starting the guard or writing to it failed: the caller should fall back to a keeper.
pub(crate) fn register(dir: &Path) -> io::Result<Ticket> {
    let mut guard = GUARD
        .lock()
        .map_err(|_| io::Error::other("the guard registry is poisoned"))?;
    if let Some(link) = guard.as_mut() {
        if link.send(b'A', dir).is_ok() {
            link.dirs.insert(dir.to_owned());
            return Ok(Ticket {
                dir: dir.to_owned(),
            });
        }
        // The guard is gone (its socket broke): reap it and start another one.
        let old = guard.take();
        if let Some(old) = old {
            let _ = rustix::process::waitid(
                WaitId::Pid(old.pid),
                WaitIdOptions::EXITED | WaitIdOptions::NOHANG,
            );
            let mut link = Link::start()?;
            for d in &old.dirs {
                link.send(b'A', d)?;
                link.dirs.insert(d.clone());
            }
            *guard = Some(link);
        }
    }
    let link = match guard.as_mut() {
        Some(link) => link,
        None => guard.insert(Link::start()?),
    };
    link.send(b'A', dir)?;
    link.dirs.insert(dir.to_owned());
    Ok(Ticket {
        dir: dir.to_owned(),
    })
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Ok(mut guard) = GUARD.lock() {
            if let Some(link) = guard.as_mut() {
                link.dirs.remove(&self.dir);
                let _ = link.send(b'D', &self.dir);
            }
        }
    }
}
