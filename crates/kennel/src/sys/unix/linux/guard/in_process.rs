//! The in-process guard (Linux): the [guard](super) without a binary, for a host that
//! never called `keeper::init()` (and named no helper program).
//!
//! # How it starts
//!
//! `clone(CLONE_VM | SIGCHLD)` onto a private stack that is mapped for it and never
//! unmapped: no `exec`, no copy of the host's memory (it runs in it), and the host's
//! `main` is never involved. Not `CLONE_THREAD`: it is a process of its own, so a
//! `kill -9` of the host leaves it running — with the host's address space, which the
//! kernel keeps for it until it exits. The host blocks every signal of the cloning
//! thread around the clone, so the guard starts (and stays) with every signal blocked:
//! no handler of the host ever runs in it, and only `SIGKILL` (or a fault) ends it.
//!
//! # What the guard may do
//!
//! It shares the host's memory *and* its thread pointer (no `CLONE_SETTLS`): any libc
//! call that touches `errno`, a lock or thread-local storage, any allocation and any
//! panic would corrupt the host while it runs. So [`guard_main`] makes raw system calls
//! only (rustix's `linux_raw` backend: no `errno`, no libc), never drops a std `OwnedFd`
//! (that is libc's `close`), allocates nothing, indexes nothing that could panic, and
//! reads nothing of the host's but its own argument (the socket's fd number, passed as
//! the pointer value). Its first steps: its own process group (a signal to the host's
//! group must not take it down), every other inherited fd closed (it got a copy of the
//! host's fd table: pipes and sockets the host closes must not stay open here), the
//! socket moved to [`CTL`], then the hello.
//!
//! # Protocol (fixed-size messages on a `SOCK_SEQPACKET` socketpair)
//!
//! Each message is two native-endian `u32`s, `[op, slot]`. guard → host: `[HELLO, 0]`
//! once. host → guard: `[GUARD, slot]` with the cgroup directory's fd (an `O_PATH` fd,
//! `SCM_RIGHTS`): the guard keeps it at fd `SLOT_BASE + slot`; `[FORGET, slot]`: it
//! closes that fd. Slots are small integers the host reuses, so the guard needs no
//! table: its fd table is the table. A cgroup is announced before its child is forked
//! (as for the exec'd guard), and the kernel keeps the fds of messages in flight, so a
//! host death during a spawn still leaves the cgroup in the guard's queue.
//!
//! EOF (the host died, or exited): `cgroup.kill` every slot, then remove each
//! directory (path from `/proc/self/fd/<fd>`), retrying while its members exit (at most
//! ~2 s in all), and exit. The cgroup v1 directories of a tree's limits (hybrid hosts)
//! are not removed here: the next kennel process that asks for limits sweeps them
//! (`limits::sweep_stale`).

use std::ffi::c_void;
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::time::Instant;

use rustix::io::Errno;
use rustix::net::{RecvFlags, SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
use rustix::process::Pid;

use super::super::super::registry;
use super::super::keeper::{abandon, HELLO_DEADLINE};
use super::super::vfork::{clone_blocked, Blocked, Stack};

/// guard → host: the guard runs.
const HELLO: u32 = 1;
/// host → guard: guard the cgroup whose directory fd comes with the message.
const GUARD: u32 = 2;
/// host → guard: forget the cgroup of this slot.
const FORGET: u32 = 3;
/// One message.
const MSG: usize = 8;

mod child;

use self::child::guard_main;

/// A started in-process guard: the host's end of its socket, and its pid (our child,
/// recorded in the registry, leader of its own process group).
pub(super) struct Started {
    pub(super) ctl: OwnedFd,
    pub(super) pid: Pid,
}

/// Whether the in-process guard holds its promise on this kernel. Before Linux 5.16 a
/// core dump of the host killed every process sharing its memory (the coredump limit to
/// one thread group came in 5.16), so a crashing host would take its guard along; the
/// cgroup tier needs 5.14 (`cgroup.kill`), so only 5.14 and 5.15 are refused.
pub(super) fn supported() -> bool {
    static SUPPORTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SUPPORTED.get_or_init(|| {
        let Ok(release) = std::fs::read_to_string("/proc/sys/kernel/osrelease") else {
            return false;
        };
        let mut parts = release
            .split(|c: char| !c.is_ascii_digit())
            .map(|p| p.parse::<u32>().unwrap_or(0));
        let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        (major, minor) >= (5, 16)
    })
}

/// Start the guard and wait for its hello.
pub(super) fn start() -> io::Result<Started> {
    let (ours, theirs) = rustix::net::socketpair(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::SEQPACKET,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )?;
    let stack = Stack::new()?;
    let spawning =
        registry::spawning().ok_or_else(|| io::Error::other("the child registry is poisoned"))?;
    let arg = theirs.as_raw_fd() as usize as *mut c_void;
    // SAFETY: `guard_main` runs on `stack`, which is leaked below (never unmapped, never
    // used by anyone else); it reads only its argument (an fd number as the pointer
    // value, no memory of ours) and makes raw system calls only (module docs).
    let pid = unsafe {
        clone_blocked(
            guard_main,
            stack.top(),
            libc::CLONE_VM | libc::SIGCHLD,
            arg,
            std::ptr::null_mut(),
            Blocked::All,
        )
    }?;
    stack.leak();
    spawning.record(pid);
    drop(spawning);
    drop(theirs);
    let pid = i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidData))?;
    if let Err(e) = await_hello(&ours) {
        abandon(pid);
        registry::unregister(pid.as_raw_nonzero().get().unsigned_abs());
        return Err(e);
    }
    Ok(Started { ctl: ours, pid })
}

/// Wait for the guard's hello ([`HELLO_DEADLINE`]; a signal handler running in this
/// thread retries against the same deadline).
fn await_hello(ctl: &OwnedFd) -> io::Result<()> {
    let deadline = Instant::now() + HELLO_DEADLINE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::from(io::ErrorKind::TimedOut));
        }
        let timeout = rustix::event::Timespec::try_from(left).unwrap_or(rustix::event::Timespec {
            tv_sec: 10,
            tv_nsec: 0,
        });
        let mut fds = [rustix::event::PollFd::new(
            ctl,
            rustix::event::PollFlags::IN,
        )];
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(0) | Err(Errno::INTR) => continue,
            Ok(_) => {}
            Err(e) => return Err(e.into()),
        }
        let mut msg = [0u8; MSG];
        return match rustix::net::recv(ctl, &mut msg, RecvFlags::DONTWAIT) {
            Ok((n, _)) if n == MSG && msg[..4] == HELLO.to_ne_bytes() => Ok(()),
            Ok((0, _)) => Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
            Ok(_) => Err(io::Error::from(io::ErrorKind::InvalidData)),
            Err(Errno::INTR | Errno::AGAIN) => continue,
            Err(e) => Err(e.into()),
        };
    }
}

/// Tell the guard to guard the cgroup at `dir` (`Some`) or to forget it (`None`), as
/// `slot`.
pub(super) fn send(ctl: &OwnedFd, slot: u32, dir: Option<BorrowedFd<'_>>) -> io::Result<()> {
    let op = if dir.is_some() { GUARD } else { FORGET };
    let mut msg = [0u8; MSG];
    msg[..4].copy_from_slice(&op.to_ne_bytes());
    msg[4..].copy_from_slice(&slot.to_ne_bytes());
    let fds: &[BorrowedFd<'_>] = match &dir {
        Some(fd) => std::slice::from_ref(fd),
        None => &[],
    };
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(io::Error::other("no room for the cgroup's fd"));
    }
    loop {
        // `MSG_NOSIGNAL`: a dead guard is an `EPIPE` (then a new one is started), never
        // a `SIGPIPE` for a host that did not ignore it.
        match rustix::net::sendmsg(
            ctl,
            &[IoSlice::new(&msg)],
            &mut control,
            SendFlags::NOSIGNAL,
        ) {
            Ok(_) => return Ok(()),
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}
