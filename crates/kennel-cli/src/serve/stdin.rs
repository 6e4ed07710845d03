//! The sidecar's stdin as an event-driven reader: the twin of `stdout.rs`.
//!
//! `tokio::io::stdin()` performs every read on tokio's blocking thread pool, so each
//! request line reached the request loop through a thread hand-off (futex wake-ups
//! and a context switch, on the critical path of every spawn; issue 16). When stdin
//! is a pipe or a Unix socket (what a client that spawns the sidecar gives it) it is
//! read non-blocking, driven by the reactor. Other kinds (a file, a terminal) keep
//! `tokio::io::stdin()`. Non-blocking mode is given back by [`Stdin::restore`] (the
//! open file description may be shared with the sidecar's parent).

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

#[cfg(unix)]
use super::stdout::{restore_socket, Duplicate};

/// The sidecar's stdin, in whichever form reads it best.
pub(crate) enum Stdin {
    /// Through tokio's blocking pool (files, terminals, non-Unix hosts).
    Blocking(tokio::io::Stdin),
    /// A pipe, read non-blocking.
    #[cfg(unix)]
    Pipe(tokio::net::unix::pipe::Receiver),
    /// A Unix stream socket, read non-blocking.
    #[cfg(unix)]
    Socket(tokio::net::UnixStream),
}

impl Stdin {
    /// This process's stdin. Must be called inside the runtime.
    pub(crate) fn open() -> Stdin {
        #[cfg(unix)]
        {
            use std::os::fd::AsFd;
            match Duplicate::of(std::io::stdin().as_fd()) {
                Some(Duplicate::Fifo(file)) => {
                    if let Ok(pipe) = tokio::net::unix::pipe::Receiver::from_file(file) {
                        return Stdin::Pipe(pipe);
                    }
                }
                Some(Duplicate::Socket(socket)) => return Stdin::Socket(socket),
                None => {}
            }
        }
        Stdin::Blocking(tokio::io::stdin())
    }

    /// Gives the descriptor back its blocking mode.
    pub(crate) fn restore(self) {
        match self {
            Stdin::Blocking(_) => {}
            #[cfg(unix)]
            Stdin::Pipe(pipe) => {
                // `into_blocking_fd` clears O_NONBLOCK; the duplicate is then closed.
                let _ = pipe.into_blocking_fd();
            }
            #[cfg(unix)]
            Stdin::Socket(socket) => restore_socket(socket),
        }
    }
}

impl AsyncRead for Stdin {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stdin::Blocking(r) => Pin::new(r).poll_read(cx, buf),
            #[cfg(unix)]
            Stdin::Pipe(r) => Pin::new(r).poll_read(cx, buf),
            #[cfg(unix)]
            Stdin::Socket(r) => Pin::new(r).poll_read(cx, buf),
        }
    }
}
