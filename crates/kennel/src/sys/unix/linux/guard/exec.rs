//! The exec'd guard's own side: this binary (or the helper program) re-run with
//! [`GUARD_ARG`](super::GUARD_ARG), reading text lines (module docs of [`super`]).

use std::collections::HashSet;
use std::ffi::OsStr;
use std::io::{self, Read as _};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use super::super::cgroup::Cgroup;
use super::super::keeper::{self, CTL_FD};

/// The guard process, run by [`keeper::init`] when `argv[1]` is [`GUARD_ARG`].
pub(crate) fn run() -> io::Result<()> {
    // SAFETY: the supervisor placed our end of the control socket at fd 3 (dup2 in its
    // pre_exec); nothing else in this fresh process owns that fd.
    let ctl = unsafe { OwnedFd::from_raw_fd(CTL_FD) };
    rustix::io::fcntl_setfd(&ctl, rustix::io::FdFlags::CLOEXEC)?;
    keeper::say_hello(&ctl);
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
    let v1_of: Vec<PathBuf> = open.iter().map(|cg| cg.dir().to_owned()).collect();
    drop(open);
    // Their limits' cgroup v1 directories, empty now.
    for dir in &v1_of {
        super::super::limits::remove_v1_of(dir);
    }
    Ok(())
}
