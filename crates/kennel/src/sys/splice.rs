//! `splice(2)` for forwarded output (Linux): the child's pipe is moved into the
//! destination inside the kernel, without a copy through user space.
//!
//! Both calls are non-blocking, so a reader task can drive them from tokio readiness:
//! [`move_bytes`] never waits (`SPLICE_F_NONBLOCK`: a pipe on either side that is empty
//! or full gives `EAGAIN`), and [`ready_now`] tells the two causes of `EAGAIN` apart.

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use rustix::event::{poll, PollFd, PollFlags};
use rustix::pipe::{splice, SpliceFlags};

/// Bytes asked of one `splice(2)`: more than a default pipe holds (64 KiB), so one call
/// empties the source when it was resized or filled up while we waited.
pub(crate) const SPLICE_LEN: usize = 1 << 20;

/// Resize the pipe `src` (`F_SETPIPE_SZ`), best effort: a refusal (above
/// `/proc/sys/fs/pipe-max-size`, or the user's pipe quota is spent) leaves it as it was.
pub(crate) fn resize_pipe(src: BorrowedFd<'_>, bytes: usize) {
    let _ = rustix::pipe::fcntl_setpipe_size(src, bytes);
}

/// Move up to [`SPLICE_LEN`] bytes from the pipe `src` to `dst` without blocking.
///
/// `Ok(0)` is EOF on `src`. `WouldBlock` means `src` is empty or `dst` is full (see
/// [`ready_now`]). `InvalidInput` (`EINVAL`) means `dst` cannot take a splice (a
/// terminal, a file opened with `O_APPEND`, …): the caller falls back to copying.
pub(crate) fn move_bytes(src: BorrowedFd<'_>, dst: BorrowedFd<'_>) -> io::Result<usize> {
    splice(
        src,
        None,
        dst,
        None,
        SPLICE_LEN,
        SpliceFlags::MOVE | SpliceFlags::NONBLOCK,
    )
    .map_err(io::Error::from)
}

/// After an `EAGAIN`: whether the pipe `src` has bytes (or hit EOF) and whether `dst`
/// can take bytes, now. Both are needed: a splice that found the destination full may
/// see it drained a moment later, and concluding "the source is empty" then would wait
/// for a readiness edge that a blocked writer never produces.
///
/// An error or hang-up condition counts as ready: the next splice reports it. Regular
/// files and `/dev/null` are always writable.
pub(crate) fn ready_now(src: BorrowedFd<'_>, dst: BorrowedFd<'_>) -> io::Result<(bool, bool)> {
    let mut fds = [
        PollFd::from_borrowed_fd(src, PollFlags::IN),
        PollFd::from_borrowed_fd(dst, PollFlags::OUT),
    ];
    poll(&mut fds, Some(&NO_WAIT))?;
    Ok((
        fds[0].revents().intersects(PollFlags::IN | TROUBLE),
        fds[1].revents().intersects(PollFlags::OUT | TROUBLE),
    ))
}

/// Whether the pipe `src` is at EOF: empty and no writer left. A splice into a full
/// destination says `EAGAIN` even then, so a full destination nobody reads would
/// otherwise hide the end of a stream that has nothing left to move.
pub(crate) fn at_eof(src: BorrowedFd<'_>) -> bool {
    let mut fds = [PollFd::from_borrowed_fd(src, PollFlags::IN)];
    let hung_up =
        poll(&mut fds, Some(&NO_WAIT)).is_ok() && fds[0].revents().contains(PollFlags::HUP);
    hung_up && rustix::io::ioctl_fionread(src).is_ok_and(|n| n == 0)
}

/// Whether `dst` can take bytes now (see [`ready_now`]).
fn writable_now(dst: BorrowedFd<'_>) -> io::Result<bool> {
    let mut fds = [PollFd::from_borrowed_fd(dst, PollFlags::OUT)];
    poll(&mut fds, Some(&NO_WAIT))?;
    Ok(fds[0].revents().intersects(PollFlags::OUT | TROUBLE))
}

const NO_WAIT: rustix::event::Timespec = rustix::event::Timespec {
    tv_sec: 0,
    tv_nsec: 0,
};

/// Conditions that make the next splice report an error rather than wait.
const TROUBLE: PollFlags = PollFlags::ERR.union(PollFlags::HUP).union(PollFlags::NVAL);

/// Waits until a full splice destination can take bytes again: by the runtime's
/// readiness when the destination can be registered (pipes, sockets), else by polling
/// every millisecond (a destination `epoll` refuses but that still reported `EAGAIN`).
#[derive(Debug)]
pub(crate) enum DestinationReady {
    Async(AsyncFd<OwnedFd>),
    Poll,
}

impl DestinationReady {
    /// Interval of the polling fallback.
    const POLL: Duration = Duration::from_millis(1);

    /// Register a duplicate of `dst` (the caller's descriptor and its flags are left
    /// alone). Must be called within a tokio runtime.
    pub(crate) fn new(dst: BorrowedFd<'_>) -> Self {
        let Ok(fd) = dst.try_clone_to_owned() else {
            return DestinationReady::Poll;
        };
        // SAFETY: `fd` is a descriptor we just duplicated; the AsyncFd owns it from here
        // on and nothing else closes or replaces it.
        let registered = unsafe { AsyncFd::register_with_interest(fd, Interest::WRITABLE) };
        registered.map_or(DestinationReady::Poll, DestinationReady::Async)
    }

    /// Wait until `dst` (the descriptor this was made from) is writable.
    pub(crate) async fn wait(&self, dst: BorrowedFd<'_>) -> io::Result<()> {
        loop {
            match self {
                DestinationReady::Async(fd) => {
                    let mut guard = fd.writable().await?;
                    if writable_now(dst)? {
                        return Ok(());
                    }
                    guard.clear_ready();
                }
                DestinationReady::Poll => {
                    if writable_now(dst)? {
                        return Ok(());
                    }
                    tokio::time::sleep(Self::POLL).await;
                }
            }
        }
    }
}
