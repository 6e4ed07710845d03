//! The exec'd guard's own side: this binary (or the helper program) re-run with
//! [`GUARD_ARG`](super::GUARD_ARG), reading text lines (module docs of [`super`]).
//!
//! # Woken by the supervisor's death, not by each line
//!
//! The guard acts only on EOF; the lines before it just have to be read by then (and
//! often enough that the socket never fills). Woken by every line, it cost two
//! context switches and a CPU slice per `A` and per `D`, i.e. per spawn, on a host
//! whose CPUs the trees want (issue 16). So after a read that found lines it waits
//! for the hang-up alone (`EPOLLRDHUP`: a socket's data wake-ups are keyed `EPOLLIN`
//! and epoll filters them out) for at most [`BATCH`], then reads what came meanwhile;
//! after a read that found nothing it waits for data again. EOF wakes it in both
//! modes, and it reads everything still in the socket before it kills: every `A` the
//! supervisor wrote before its death is seen, as before.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::io::{self, Read as _};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use rustix::event::epoll;

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
    let ctl = UnixStream::from(ctl);
    ctl.set_nonblocking(true)?;
    let dirs = follow(ctl)?;
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

/// How long the guard lets lines gather after a read that found some: a bound on the
/// lines queued in the socket (hence on a writer ever blocking), and on its wake-ups
/// while spawns keep coming (at most one per period instead of two per spawn).
const BATCH: Duration = Duration::from_millis(5);

/// Read the supervisor's lines until EOF (its death, or its exit): the cgroups it
/// announced and has not forgotten.
fn follow(mut ctl: UnixStream) -> io::Result<HashSet<PathBuf>> {
    let poller = epoll::create(epoll::CreateFlags::CLOEXEC)?;
    let data = epoll::EventData::new_u64(0);
    let hangup = epoll::EventFlags::RDHUP | epoll::EventFlags::HUP;
    let mut waiting_for_data = true;
    epoll::add(&poller, &ctl, data, hangup | epoll::EventFlags::IN)?;
    let mut dirs: HashSet<PathBuf> = HashSet::new();
    let mut inbuf = Vec::new();
    let mut buf = [0u8; 4096];
    let mut events = Vec::with_capacity(1);
    loop {
        let timeout = (!waiting_for_data).then_some(rustix::event::Timespec {
            tv_sec: 0,
            tv_nsec: BATCH.as_nanos() as i64,
        });
        match epoll::wait(
            &poller,
            rustix::buffer::spare_capacity(&mut events),
            timeout.as_ref(),
        ) {
            Ok(_) | Err(rustix::io::Errno::INTR) => events.clear(),
            Err(e) => return Err(e.into()),
        }
        let mut got = false;
        loop {
            match ctl.read(&mut buf) {
                // EOF (the supervisor is gone); any error but these: as good as gone.
                Ok(0) => return Ok(take_lines(&mut inbuf, dirs)),
                Ok(n) => {
                    got = true;
                    inbuf.extend_from_slice(&buf[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => return Ok(take_lines(&mut inbuf, dirs)),
            }
        }
        if got {
            dirs = take_lines(&mut inbuf, dirs);
        }
        if got == waiting_for_data {
            // Lines came: wait for the hang-up alone for a while; none: for data again.
            waiting_for_data = !got;
            let flags = match waiting_for_data {
                true => hangup | epoll::EventFlags::IN,
                false => hangup,
            };
            epoll::modify(&poller, &ctl, data, flags)?;
        }
    }
}

/// Apply the complete lines in `inbuf` to `dirs` (`A <dir>`: guard it, `D <dir>`:
/// forget it), leaving a partial last line in `inbuf`.
fn take_lines(inbuf: &mut Vec<u8>, mut dirs: HashSet<PathBuf>) -> HashSet<PathBuf> {
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
    dirs
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    /// Lines written while the guard waits for the hang-up alone (after a first line
    /// woke it), and lines written just before the hang-up, all count.
    #[test]
    fn every_line_before_the_hang_up_is_read_in_either_wait() {
        let (mut ours, theirs) = UnixStream::pair().expect("a socket pair");
        theirs.set_nonblocking(true).expect("non-blocking");
        let guard = std::thread::spawn(move || follow(theirs).expect("follow"));
        ours.write_all(b"A /a\n").expect("first line");
        // Lines while the guard batches (it has read the first one or soon will), one
        // split across writes, then more right before the hang-up.
        for i in 0..50 {
            ours.write_all(format!("A /b{i}\nD /b").as_bytes())
                .expect("a line");
            ours.write_all(format!("{i}\n").as_bytes())
                .expect("its end");
        }
        // Not a synchronization (the result cannot depend on it): it only makes the
        // last lines likely to land while the guard waits for the hang-up alone.
        std::thread::sleep(BATCH * 3);
        ours.write_all(b"A /c\nD /a\nA /d\n").expect("last lines");
        drop(ours);
        let dirs = guard.join().expect("the guard thread");
        let mut dirs: Vec<_> = dirs.into_iter().collect();
        dirs.sort();
        assert_eq!(dirs, [PathBuf::from("/c"), PathBuf::from("/d")]);
    }
}
