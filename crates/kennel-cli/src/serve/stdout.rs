//! The sidecar's stdout as an event-driven writer.
//!
//! `tokio::io::stdout()` performs every write on tokio's blocking thread pool: one
//! thread handoff (two futex wake-ups) per write. For a flood of output that handoff,
//! not the copy, was the largest cost of the sidecar (perf: ~20% of its CPU in futex
//! wake/wait for 1 GiB through binary frames). When stdout is a pipe or a Unix socket
//! (what a client that spawns the sidecar gives it: Node uses a socketpair) it is
//! written like any other non-blocking descriptor instead, driven by the reactor. Other
//! kinds (a file, a terminal) keep `tokio::io::stdout()`.
//!
//! Non-blocking mode belongs to the open file description, which the sidecar's parent
//! may share; [`Stdout::restore`] puts blocking mode back once the writer is done, so
//! whoever writes to the description next is not surprised.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;

/// The sidecar's stdout, in whichever form writes it best.
pub(crate) enum Stdout {
    /// Through tokio's blocking pool (files, terminals, non-Unix hosts).
    Blocking(tokio::io::Stdout),
    /// A pipe, written non-blocking.
    #[cfg(unix)]
    Pipe(tokio::net::unix::pipe::Sender),
    /// A Unix stream socket, written non-blocking.
    #[cfg(unix)]
    Socket(tokio::net::UnixStream),
}

impl Stdout {
    /// This process's stdout. Must be called inside the runtime.
    pub(crate) fn open() -> Stdout {
        #[cfg(unix)]
        if let Some(stdout) = Stdout::open_unix() {
            return stdout;
        }
        Stdout::Blocking(tokio::io::stdout())
    }

    #[cfg(unix)]
    fn open_unix() -> Option<Stdout> {
        use std::os::fd::AsFd;
        match Duplicate::of(std::io::stdout().as_fd())? {
            Duplicate::Fifo(file) => tokio::net::unix::pipe::Sender::from_file(file)
                .ok()
                .map(Stdout::Pipe),
            Duplicate::Socket(socket) => Some(Stdout::Socket(socket)),
        }
    }

    /// Gives the descriptor back its blocking mode (see the module docs).
    pub(crate) fn restore(self) {
        match self {
            Stdout::Blocking(_) => {}
            #[cfg(unix)]
            Stdout::Pipe(pipe) => {
                // `into_blocking_fd` clears O_NONBLOCK; the duplicate is then closed.
                let _ = pipe.into_blocking_fd();
            }
            #[cfg(unix)]
            Stdout::Socket(socket) => restore_socket(socket),
        }
    }
}

/// A duplicate of one of the sidecar's stdio descriptors, when it is a kind the reactor
/// can drive (same open file description, so same pipe or socket).
#[cfg(unix)]
pub(super) enum Duplicate {
    /// A pipe (not yet non-blocking: tokio's `pipe` types set it).
    Fifo(std::fs::File),
    /// A Unix stream socket, already non-blocking and registered.
    Socket(tokio::net::UnixStream),
}

#[cfg(unix)]
impl Duplicate {
    /// `None` for anything else (a file, a terminal): those stay on tokio's blocking
    /// pool. Must be called inside the runtime.
    pub(super) fn of(fd: std::os::fd::BorrowedFd<'_>) -> Option<Duplicate> {
        use std::os::unix::fs::FileTypeExt;
        let file = std::fs::File::from(fd.try_clone_to_owned().ok()?);
        let kind = file.metadata().ok()?.file_type();
        if kind.is_fifo() {
            Some(Duplicate::Fifo(file))
        } else if kind.is_socket() {
            let socket = std::os::unix::net::UnixStream::from(std::os::fd::OwnedFd::from(file));
            socket.set_nonblocking(true).ok()?;
            tokio::net::UnixStream::from_std(socket)
                .ok()
                .map(Duplicate::Socket)
        } else {
            None
        }
    }
}

/// Give a socket back its blocking mode (see the module docs).
#[cfg(unix)]
pub(super) fn restore_socket(socket: tokio::net::UnixStream) {
    if let Ok(socket) = socket.into_std() {
        let _ = socket.set_nonblocking(false);
    }
}

impl Stdout {
    /// The writer behind, whichever it is.
    fn inner(self: Pin<&mut Self>) -> Pin<&mut (dyn AsyncWrite + Unpin + Send)> {
        match self.get_mut() {
            Stdout::Blocking(w) => Pin::new(w),
            #[cfg(unix)]
            Stdout::Pipe(w) => Pin::new(w),
            #[cfg(unix)]
            Stdout::Socket(w) => Pin::new(w),
        }
    }
}

impl AsyncWrite for Stdout {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.inner().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.inner().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stdout::Blocking(w) => w.is_write_vectored(),
            #[cfg(unix)]
            Stdout::Pipe(w) => w.is_write_vectored(),
            #[cfg(unix)]
            Stdout::Socket(w) => w.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.inner().poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.inner().poll_shutdown(cx)
    }
}
