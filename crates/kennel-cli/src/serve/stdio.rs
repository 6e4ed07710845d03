//! The sidecar's stdin and stdout as event-driven descriptors.
//!
//! `tokio::io::stdin()` and `tokio::io::stdout()` perform every read and write on
//! tokio's blocking thread pool: one thread hand-off (two futex wake-ups and a context
//! switch) per call. For a flood of output that hand-off, not the copy, was the largest
//! cost of the sidecar (perf: ~20% of its CPU in futex wake/wait for 1 GiB through
//! binary frames), and every request line reached the request loop through one, on the
//! critical path of every spawn (issue 16). When the descriptor is a pipe or a Unix
//! socket (what a client that spawns the sidecar gives it: Node uses socketpairs) it
//! is read or written like any other non-blocking descriptor instead, driven by the
//! reactor. Other kinds (a file, a terminal) keep tokio's blocking-pool types.
//!
//! Non-blocking mode belongs to the open file description, which the sidecar's parent
//! may share; [`Stdio::restore`] puts blocking mode back once the session is done with
//! it, so whoever uses the description next is not surprised.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// One of the sidecar's stdio descriptors, in whichever form drives it best: `B` is
/// tokio's blocking-pool type, `P` tokio's pipe end.
pub(crate) enum Stdio<B, P> {
    /// Through tokio's blocking pool (files, terminals, non-Unix hosts).
    Blocking(B),
    /// A pipe, non-blocking (never made on non-Unix hosts, where `P` has no value).
    #[cfg_attr(not(unix), allow(dead_code))]
    Pipe(P),
    /// A Unix stream socket, non-blocking.
    #[cfg(unix)]
    Socket(tokio::net::UnixStream),
}

/// The request side.
pub(crate) type Stdin = Stdio<tokio::io::Stdin, pipe::Receiver>;
/// The event side.
pub(crate) type Stdout = Stdio<tokio::io::Stdout, pipe::Sender>;

impl Stdin {
    /// This process's stdin. Must be called inside the runtime.
    pub(crate) fn open() -> Stdin {
        Stdio::of(std::io::stdin(), tokio::io::stdin)
    }
}

impl Stdout {
    /// This process's stdout. Must be called inside the runtime.
    pub(crate) fn open() -> Stdout {
        Stdio::of(std::io::stdout(), tokio::io::stdout)
    }
}

impl<B, P: pipe::End> Stdio<B, P> {
    #[cfg(unix)]
    fn of(std: impl std::os::fd::AsFd, blocking: impl FnOnce() -> B) -> Self {
        use std::os::unix::fs::FileTypeExt;
        // A duplicate: same open file description, so same pipe or socket.
        let unix = || {
            let file = std::fs::File::from(std.as_fd().try_clone_to_owned().ok()?);
            let kind = file.metadata().ok()?.file_type();
            if kind.is_fifo() {
                P::from_file(file).ok().map(Stdio::Pipe)
            } else if kind.is_socket() {
                let socket = std::os::unix::net::UnixStream::from(std::os::fd::OwnedFd::from(file));
                socket.set_nonblocking(true).ok()?;
                tokio::net::UnixStream::from_std(socket)
                    .ok()
                    .map(Stdio::Socket)
            } else {
                None
            }
        };
        unix().unwrap_or_else(|| Stdio::Blocking(blocking()))
    }

    #[cfg(not(unix))]
    fn of<S>(_std: S, blocking: impl FnOnce() -> B) -> Self {
        Stdio::Blocking(blocking())
    }

    /// Gives the descriptor back its blocking mode (see the module docs).
    pub(crate) fn restore(self) {
        match self {
            Stdio::Blocking(_) => {}
            Stdio::Pipe(pipe) => pipe.restore(),
            #[cfg(unix)]
            Stdio::Socket(socket) => {
                if let Ok(socket) = socket.into_std() {
                    let _ = socket.set_nonblocking(false);
                }
            }
        }
    }
}

/// Dispatch to the descriptor behind, whichever it is.
macro_rules! inner {
    ($self:expr, $io:ident => $body:expr) => {
        match $self {
            Stdio::Blocking($io) => $body,
            Stdio::Pipe($io) => $body,
            #[cfg(unix)]
            Stdio::Socket($io) => $body,
        }
    };
}

impl<B: AsyncRead + Unpin, P: AsyncRead + Unpin> AsyncRead for Stdio<B, P> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        inner!(self.get_mut(), io => Pin::new(io).poll_read(cx, buf))
    }
}

impl<B: AsyncWrite + Unpin, P: AsyncWrite + Unpin> AsyncWrite for Stdio<B, P> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        inner!(self.get_mut(), io => Pin::new(io).poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        inner!(self.get_mut(), io => Pin::new(io).poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        inner!(self, io => io.is_write_vectored())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        inner!(self.get_mut(), io => Pin::new(io).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        inner!(self.get_mut(), io => Pin::new(io).poll_shutdown(cx))
    }
}

/// tokio's pipe ends (Unix), or none at all (elsewhere).
pub(crate) mod pipe {
    /// What [`super::Stdio`] needs of a pipe end.
    pub(crate) trait End: Sized {
        /// Make `file` (a pipe) non-blocking and register it with the reactor.
        #[cfg(unix)]
        fn from_file(file: std::fs::File) -> std::io::Result<Self>;
        /// Clear `O_NONBLOCK` again and close this duplicate.
        fn restore(self);
    }

    #[cfg(unix)]
    pub(crate) use tokio::net::unix::pipe::{Receiver, Sender};

    /// Both ends have the same two methods under the same names.
    #[cfg(unix)]
    macro_rules! ends {
        ($($end:ident),*) => {$(
            impl End for $end {
                fn from_file(file: std::fs::File) -> std::io::Result<Self> {
                    $end::from_file(file)
                }
                fn restore(self) {
                    let _ = self.into_blocking_fd();
                }
            }
        )*};
    }

    #[cfg(unix)]
    ends!(Receiver, Sender);

    /// No pipe end here: the `Pipe` variant is never made (tokio's `Empty` stands in,
    /// as a type that reads and writes).
    #[cfg(not(unix))]
    pub(crate) type Receiver = tokio::io::Empty;
    /// No pipe end here: the `Pipe` variant is never made.
    #[cfg(not(unix))]
    pub(crate) type Sender = tokio::io::Empty;

    #[cfg(not(unix))]
    impl End for tokio::io::Empty {
        fn restore(self) {}
    }
}
