//! The in-process guard's own code (module docs of [`super`]): raw system calls only,
//! nothing allocated, no `errno`, no libc, no panic on any path, no std `OwnedFd`
//! dropped (its drop is libc's `close`). It runs in the host's memory, with the host's
//! thread pointer, and may go on after the host is gone.

use std::ffi::{c_int, c_void, CStr};
use std::io::IoSliceMut;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};

use rustix::fs::{Mode, OFlags, CWD};
use rustix::io::Errno;
use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendFlags};

use super::{FORGET, GUARD, HELLO, MSG};

/// Where the guard keeps its socket.
const CTL: RawFd = 3;
/// Where the guard keeps slot 0's directory fd (slot `n` at `SLOT_BASE + n`).
const SLOT_BASE: RawFd = 4;

/// The guard. Raw system calls only (module docs); returning exits it (glibc's `clone`
/// calls `exit` with the value).
pub(super) extern "C" fn guard_main(arg: *mut c_void) -> c_int {
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
