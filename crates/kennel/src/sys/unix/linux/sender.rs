//! Termination signals of this process *with their sender* (Linux): SIGINT, SIGTERM and
//! SIGHUP caught by a `SA_SIGINFO` handler that writes the signal number and the
//! sender's pid (`si_pid`) to a self-pipe, read by the async side.
//!
//! # What the OS does, and where it races
//!
//! * `si_pid` is the pid of the process that called `kill(2)` (`si_code == SI_USER`
//!   or `SI_TKILL`/`SI_QUEUE`); for a signal from the kernel — a terminal's Ctrl-C, a
//!   hang-up — it is 0, and is reported as no sender.
//! * The handler runs on any thread and may interrupt anything, so it only calls
//!   `write(2)` (async-signal-safe) on a non-blocking pipe whose fd is in an atomic,
//!   and restores `errno`. A record is 8 bytes (< `PIPE_BUF`): written whole or not at
//!   all. If the pipe is full (65 536 bytes: 8 192 unread signals) further signals
//!   are dropped — they could only repeat what is queued.
//! * The sender may exit between its `kill` and our look at it: the pid then names
//!   nobody (or, after reuse, someone else). The caller decides what an unknown sender
//!   means.
//! * Installing replaces any earlier disposition of the three signals (tokio's signal
//!   handling must not be used for them at the same time).
//! * **Standard signals do not queue.** From `kill(2)` until a thread of ours takes it,
//!   a signal is *pending*; the same signal sent meanwhile is dropped by the kernel
//!   (`legacy_queue`: the `signal_generate` tracepoint says `res=2`, already pending)
//!   and the one delivered carries the first sender's `si_pid`. So a SIGTERM from the
//!   caller sent while a tree's SIGTERM is pending is lost, and the caller's `kill`
//!   succeeds. No count or trace of the dropped one is kept, so it cannot be told
//!   afterwards; only a tree that cannot signal us (a PID namespace, a seccomp or
//!   Landlock filter on the tree) would close the window. The window is the wake-up
//!   latency of our thread: 20 µs median, 0.4 ms at p99, 2 ms at most in 400 runs of a
//!   loaded 2-core host (docs/DECISIONS.md). A caller that signals right after a tree
//!   did must wait until the tree's signal is taken (`ShdPnd` of `/proc/<pid>/status`
//!   no longer has it), or send again.

use std::io;
use std::os::fd::{AsRawFd as _, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};

use tokio::io::AsyncReadExt as _;

static WRITE_FD: AtomicI32 = AtomicI32::new(-1);

/// The signals caught.
const CAUGHT: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

extern "C" fn on_signal(sig: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for a SA_SIGINFO handler; errno is
    // saved and restored around the write so the interrupted code never sees ours.
    unsafe {
        let errno = *libc::__errno_location();
        let from_process = matches!(
            (*info).si_code,
            libc::SI_USER | libc::SI_TKILL | libc::SI_QUEUE
        );
        let pid = if from_process { (*info).si_pid() } else { 0 };
        let mut record = [0u8; 8];
        record[..4].copy_from_slice(&sig.to_ne_bytes());
        record[4..].copy_from_slice(&pid.to_ne_bytes());
        let fd = WRITE_FD.load(Ordering::Relaxed);
        if fd >= 0 {
            libc::write(fd, record.as_ptr().cast(), record.len());
        }
        *libc::__errno_location() = errno;
    }
}

/// The read end of the self-pipe; one per process (installing twice replaces the
/// first pipe's writer).
pub(crate) struct Receiver {
    pipe: tokio::net::unix::pipe::Receiver,
    /// Kept open for the handler.
    _write: OwnedFd,
}

/// Install the handler for SIGINT, SIGTERM and SIGHUP. Must run inside a tokio runtime.
pub(crate) fn install() -> io::Result<Receiver> {
    let (read, write) = rustix::pipe::pipe_with(
        rustix::pipe::PipeFlags::CLOEXEC | rustix::pipe::PipeFlags::NONBLOCK,
    )?;
    let pipe = tokio::net::unix::pipe::Receiver::from_owned_fd(read)?;
    WRITE_FD.store(write.as_raw_fd(), Ordering::Release);
    for sig in CAUGHT {
        // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value; the handler
        // is an `extern "C"` fn with the SA_SIGINFO signature and only calls
        // async-signal-safe functions; SA_RESTART keeps other threads' syscalls going.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            if libc::sigaction(sig, &action, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok(Receiver {
        pipe,
        _write: write,
    })
}

impl Receiver {
    /// The next caught signal: its number and its sender's pid (`None` from the kernel).
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe across a partial record; records are 8 bytes written atomically,
    /// so a read returns whole records in practice.
    pub(crate) async fn recv(&mut self) -> io::Result<(i32, Option<u32>)> {
        let mut record = [0u8; 8];
        self.pipe.read_exact(&mut record).await?;
        let sig = i32::from_ne_bytes([record[0], record[1], record[2], record[3]]);
        let pid = i32::from_ne_bytes([record[4], record[5], record[6], record[7]]);
        Ok((sig, u32::try_from(pid).ok().filter(|&p| p > 0)))
    }
}

/// Whether `pid` is a process of a tree this process supervises: a descendant of ours
/// (children, keepers' trees, orphans reparented to us as subreaper), or a member of
/// one of our cgroups. A process that is gone (or unreadable) is not.
pub(crate) fn in_our_trees(pid: u32) -> bool {
    let me = std::process::id();
    if pid == me {
        return false;
    }
    if super::orphans::in_a_tree_cgroup(pid) {
        return true;
    }
    let mut at = pid;
    // A ppid chain is short; the bound only guards against a loop through pid reuse.
    for _ in 0..4096 {
        let Some(stat) = super::procfs::read_stat(at) else {
            return false;
        };
        if stat.ppid == me {
            return true;
        }
        if stat.ppid <= 1 {
            return false;
        }
        at = stat.ppid;
    }
    false
}
