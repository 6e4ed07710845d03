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

use std::ffi::{c_int, c_void, CStr};
use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::time::Instant;

use rustix::fs::{Mode, OFlags, CWD};
use rustix::io::Errno;
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};
use rustix::process::Pid;

use super::super::super::registry;
use super::super::keeper::{abandon, HELLO_DEADLINE};
use super::super::vfork::{clone_blocked, Stack};

/// guard → host: the guard runs.
const HELLO: u32 = 1;
/// host → guard: guard the cgroup whose directory fd comes with the message.
const GUARD: u32 = 2;
/// host → guard: forget the cgroup of this slot.
const FORGET: u32 = 3;
/// Where the guard keeps its socket.
const CTL: RawFd = 3;
/// Where the guard keeps slot 0's directory fd (slot `n` at `SLOT_BASE + n`).
const SLOT_BASE: RawFd = 4;
/// One message.
const MSG: usize = 8;

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

/// The guard. Raw system calls only (module docs); returning exits it (glibc's `clone`
/// calls `exit` with the value).
extern "C" fn guard_main(arg: *mut c_void) -> c_int {
    let received = arg as usize as RawFd;
    // Its own group first: a signal to the host's group must not reach it.
    let _ = rustix::process::setpgid(None, None);
    if !close_inherited(received) {
        return 1;
    }
    let ctl = if received == CTL {
        // SAFETY: our end of the socket, which nothing else in this process owns.
        unsafe { OwnedFd::from_raw_fd(CTL) }
    } else {
        // SAFETY: fd `CTL` is closed (close_inherited); a placeholder that is never
        // dropped (forgotten below), only written by dup2.
        let mut target = unsafe { OwnedFd::from_raw_fd(CTL) };
        // SAFETY: `received` is our end of the socket, ours alone.
        let from = unsafe { BorrowedFd::borrow_raw(received) };
        let moved = rustix::io::dup2(from, &mut target).is_ok();
        close(received);
        if !moved {
            std::mem::forget(target);
            return 1;
        }
        target
    };
    raise_fd_limit();
    let mut hello = [0u8; MSG];
    hello[..4].copy_from_slice(&HELLO.to_ne_bytes());
    let _ = rustix::net::send(&ctl, &hello, SendFlags::NOSIGNAL);
    let end = serve(ctl.as_fd());
    if let End::HostGone(highest) = end {
        kill_and_remove(highest);
    }
    let _ = ctl.into_raw_fd();
    close(CTL);
    0
}

/// Why [`serve`] returned.
enum End {
    /// EOF (or a failed read): kill the cgroups up to this slot.
    HostGone(Option<u32>),
    /// A cgroup's fd could not be kept: exit without killing anything (the host runs
    /// on; its next spawn finds this guard gone and starts another).
    CannotKeep,
}

/// Read messages until EOF.
fn serve(ctl: BorrowedFd<'_>) -> End {
    let mut highest: Option<u32> = None;
    loop {
        let mut msg = [0u8; MSG];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(4))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let mut iov = [IoSliceMut::new(&mut msg)];
        let n = match rustix::net::recvmsg(ctl, &mut iov, &mut control, RecvFlags::CMSG_CLOEXEC) {
            Ok(r) => r.bytes,
            Err(Errno::INTR) => continue,
            // EOF, or any error: the host is as good as gone.
            Err(_) => 0,
        };
        let mut fd: Option<RawFd> = None;
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(fds) = message {
                for owned in fds {
                    let raw = owned.into_raw_fd();
                    match fd {
                        None => fd = Some(raw),
                        Some(_) => close(raw),
                    }
                }
            }
        }
        if n == 0 {
            if let Some(raw) = fd {
                close(raw);
            }
            return End::HostGone(highest);
        }
        let (op, slot) = (word(&msg, 0), word(&msg, 4));
        let Some(target) = slot_fd(slot) else {
            // A slot beyond any fd: the host cannot have sent it; nothing to keep.
            if let Some(raw) = fd {
                close(raw);
            }
            continue;
        };
        match (op, fd) {
            (GUARD, Some(raw)) => {
                if !place(raw, target) {
                    return End::CannotKeep;
                }
                highest = Some(highest.map_or(slot, |h| h.max(slot)));
            }
            // The fd did not come (the kernel could not install it: EMFILE).
            (GUARD, None) => return End::CannotKeep,
            (FORGET, _) => {
                close(target);
                if let Some(raw) = fd {
                    close(raw);
                }
            }
            (_, Some(raw)) => close(raw),
            (_, None) => {}
        }
    }
}

/// `SCM_RIGHTS` fd `raw` kept at `target` (where it may already be).
fn place(raw: RawFd, target: RawFd) -> bool {
    if raw == target {
        return true;
    }
    // SAFETY: a placeholder for `target`, written by dup2 and forgotten, never dropped.
    let mut slot = std::mem::ManuallyDrop::new(unsafe { OwnedFd::from_raw_fd(target) });
    // SAFETY: `raw` was just received, ours alone.
    let ok = rustix::io::dup2(unsafe { BorrowedFd::borrow_raw(raw) }, &mut slot).is_ok();
    close(raw);
    ok
}

/// Kill every guarded cgroup, then remove each directory.
fn kill_and_remove(highest: Option<u32>) {
    let Some(highest) = highest else { return };
    for slot in 0..=highest {
        let Some(fd) = slot_fd(slot) else { break };
        // SAFETY: fd numbers of our own table; a closed one fails with EBADF.
        let dir = unsafe { BorrowedFd::borrow_raw(fd) };
        if let Ok(kill) = rustix::fs::openat(dir, c"cgroup.kill", OFlags::WRONLY, Mode::empty()) {
            let _ = rustix::io::write(&kill, b"1");
            close(kill.into_raw_fd());
        }
    }
    // Up to ~2 s of 1 ms waits in all for the killed members to exit.
    let mut budget: u32 = 2000;
    for slot in 0..=highest {
        let Some(fd) = slot_fd(slot) else { break };
        let mut path = [0u8; 4097];
        let len = dir_path(fd, &mut path);
        close(fd);
        let Some(len) = len else { continue };
        let Ok(path) = CStr::from_bytes_with_nul(path.get(..=len).unwrap_or_default()) else {
            continue;
        };
        loop {
            match rustix::fs::unlinkat(CWD, path, rustix::fs::AtFlags::REMOVEDIR) {
                Err(Errno::BUSY) if budget > 0 => {
                    budget -= 1;
                    let _ = rustix::thread::nanosleep(&rustix::thread::Timespec {
                        tv_sec: 0,
                        tv_nsec: 1_000_000,
                    });
                }
                _ => break,
            }
        }
    }
}

/// The path of directory fd `fd` into `out`, NUL-terminated; returns its length (the
/// index of the NUL). `None`: closed, or not readable from `/proc/self/fd`.
fn dir_path(fd: RawFd, out: &mut [u8; 4097]) -> Option<usize> {
    let mut link = [0u8; 32];
    let prefix = b"/proc/self/fd/";
    link.get_mut(..prefix.len())?.copy_from_slice(prefix);
    // The byte after the digits stays 0: the link's NUL.
    decimal(fd.unsigned_abs(), link.get_mut(prefix.len()..)?)?;
    let link = CStr::from_bytes_until_nul(&link).ok()?;
    let len = rustix::fs::readlinkat_raw(CWD, link, &mut out[..4096]).ok()?;
    // `len` < 4096: the path fit (and `out[len]`, never written, is 0).
    (len < 4096 && out.get(len) == Some(&0)).then_some(len)
}

/// Write `n` in decimal at the start of `out`; returns the number of digits.
fn decimal(mut n: u32, out: &mut [u8]) -> Option<usize> {
    let mut digits = [0u8; 10];
    let mut count = 0usize;
    loop {
        *digits.get_mut(count)? = b'0' + (n % 10) as u8;
        count += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for i in 0..count {
        *out.get_mut(i)? = *digits.get(count - 1 - i)?;
    }
    Some(count)
}

/// Close every fd but `keep`, listed from `/proc/self/fd` (the guard got a copy of the
/// host's fd table). `false`: the list could not be read.
fn close_inherited(keep: RawFd) -> bool {
    let Ok(dir) = rustix::fs::openat(
        CWD,
        c"/proc/self/fd",
        OFlags::RDONLY | OFlags::DIRECTORY,
        Mode::empty(),
    ) else {
        return false;
    };
    let dir = std::mem::ManuallyDrop::new(dir);
    let own = dir.as_raw_fd();
    // Passes until one closes nothing (closing while listing may skip entries).
    loop {
        let mut buf = [MaybeUninit::<u8>::uninit(); 2048];
        let mut list = rustix::fs::RawDir::new(dir.as_fd(), &mut buf);
        let mut closed = 0u32;
        let mut failed = false;
        while let Some(entry) = list.next() {
            let Ok(entry) = entry else {
                failed = true;
                break;
            };
            let Some(fd) = parse_fd(entry.file_name().to_bytes()) else {
                continue;
            };
            if fd != keep && fd != own {
                close(fd);
                closed = closed.saturating_add(1);
            }
        }
        if failed || closed == 0 {
            close(own);
            return !failed;
        }
        let _ = rustix::fs::seek(&*dir, rustix::fs::SeekFrom::Start(0));
    }
}

/// An fd number from a `/proc/self/fd` entry name (`.` and `..` are none).
fn parse_fd(name: &[u8]) -> Option<RawFd> {
    if name.is_empty() {
        return None;
    }
    let mut n: RawFd = 0;
    for &b in name {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(RawFd::from(b - b'0'))?;
    }
    Some(n)
}

/// Raise the soft limit of open files to the hard one: slots are fd numbers.
fn raise_fd_limit() {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    if limit.current != limit.maximum {
        let _ = rustix::process::setrlimit(
            rustix::process::Resource::Nofile,
            rustix::process::Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            },
        );
    }
}

/// The fd that holds `slot`'s directory.
fn slot_fd(slot: u32) -> Option<RawFd> {
    RawFd::try_from(slot).ok()?.checked_add(SLOT_BASE)
}

/// The `u32` at byte `at` of a message.
fn word(msg: &[u8; MSG], at: usize) -> u32 {
    let mut bytes = [0u8; 4];
    if let Some(src) = msg.get(at..at + 4) {
        bytes.copy_from_slice(src);
    }
    u32::from_ne_bytes(bytes)
}

/// `close(2)` as a raw system call (a std `OwnedFd`'s drop is libc's `close`).
fn close(fd: RawFd) {
    // SAFETY: `fd` is one of the guard's own fds, not used after this.
    unsafe { rustix::io::close(fd) }
}
