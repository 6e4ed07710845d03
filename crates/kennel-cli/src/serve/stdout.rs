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
//! A socket is registered with the reactor **only while a write waits for room**
//! ([`Socket`]). Registered for good (as `tokio::net::UnixStream` is, edge-triggered,
//! for reading and writing), every read the client makes frees room and sends the
//! sidecar an `EPOLLOUT` edge that wakes a worker for nothing: in a 1 GiB flood that
//! was ~13 000 of the sidecar's ~35 000 context switches, while a write found the
//! socket full only ~160 times. A pipe stays with tokio's `pipe::Sender`: a pipe wakes
//! its writer only when it was full.
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
    Socket(Socket),
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
        use std::os::unix::fs::FileTypeExt;

        // A duplicate of fd 1: same open file description, so same pipe or socket.
        let fd = std::io::stdout().as_fd().try_clone_to_owned().ok()?;
        let file = std::fs::File::from(fd);
        let kind = file.metadata().ok()?.file_type();
        if kind.is_fifo() {
            tokio::net::unix::pipe::Sender::from_file(file)
                .ok()
                .map(Stdout::Pipe)
        } else if kind.is_socket() {
            let socket = std::os::unix::net::UnixStream::from(std::os::fd::OwnedFd::from(file));
            socket.set_nonblocking(true).ok()?;
            Some(Stdout::Socket(Socket(State::Idle(socket))))
        } else {
            None
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
            Stdout::Socket(socket) => {
                if let Some(socket) = socket.into_std() {
                    let _ = socket.set_nonblocking(false);
                }
            }
        }
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

/// A Unix stream socket written non-blocking and registered with the reactor only while
/// a write waits for room (see the module docs).
#[cfg(unix)]
pub(crate) struct Socket(State);

#[cfg(unix)]
enum State {
    /// Not registered: writes are tried directly.
    Idle(std::os::unix::net::UnixStream),
    /// A write found the socket full: registered for writability until one succeeds.
    Waiting(tokio::io::unix::AsyncFd<std::os::unix::net::UnixStream>),
    /// Only while switching between the two (or after a failed registration).
    Gone,
}

#[cfg(unix)]
impl Socket {
    fn into_std(self) -> Option<std::os::unix::net::UnixStream> {
        match self.0 {
            State::Idle(socket) => Some(socket),
            State::Waiting(fd) => Some(fd.into_inner()),
            State::Gone => None,
        }
    }

    /// Runs `op` on the socket now, or once it has room.
    fn poll_io<R>(
        &mut self,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&std::os::unix::net::UnixStream) -> std::io::Result<R>,
    ) -> Poll<std::io::Result<R>> {
        loop {
            match &mut self.0 {
                State::Idle(socket) => match op(socket) {
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => self.register()?,
                    done => return Poll::Ready(done),
                },
                State::Waiting(fd) => {
                    let mut guard = std::task::ready!(fd.poll_write_ready(cx))?;
                    if let Ok(done) = guard.try_io(|fd| op(fd.get_ref())) {
                        self.deregister();
                        return Poll::Ready(done);
                    }
                }
                State::Gone => return Poll::Ready(Err(std::io::ErrorKind::BrokenPipe.into())),
            }
        }
    }

    /// The socket is full: wait for room through the reactor.
    fn register(&mut self) -> std::io::Result<()> {
        use tokio::io::unix::AsyncFd;
        if let State::Idle(socket) = std::mem::replace(&mut self.0, State::Gone) {
            // SAFETY: the socket owns its descriptor, and the `AsyncFd` owns the socket
            // until `into_inner` deregisters it: the descriptor is neither closed nor
            // replaced while it is registered.
            let registered =
                unsafe { AsyncFd::register_with_interest(socket, tokio::io::Interest::WRITABLE) };
            match registered {
                Ok(fd) => self.0 = State::Waiting(fd),
                Err(e) => {
                    let (socket, e) = e.into_parts();
                    self.0 = State::Idle(socket);
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Room again: leave the reactor, so the client's reads stop waking this process.
    fn deregister(&mut self) {
        if let State::Waiting(fd) = std::mem::replace(&mut self.0, State::Gone) {
            self.0 = State::Idle(fd.into_inner());
        }
    }
}

#[cfg(unix)]
impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        use std::io::Write as _;
        self.get_mut().poll_io(cx, |mut s| s.write(buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        use std::io::Write as _;
        self.get_mut().poll_io(cx, |mut s| s.write_vectored(bufs))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.get_mut()
            .poll_io(cx, |s| s.shutdown(std::net::Shutdown::Write))
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// 8 MiB cannot fit in a socket's buffer, and on a current-thread runtime the reader
    /// runs only while the writer waits: the write completes only if waiting for room
    /// works. Afterwards the socket is out of the reactor again.
    #[tokio::test]
    async fn a_full_socket_waits_for_room_then_leaves_the_reactor() {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        theirs.set_nonblocking(true).unwrap();
        let mut theirs = tokio::net::UnixStream::from_std(theirs).unwrap();
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            theirs.read_to_end(&mut got).await.unwrap();
            got
        });
        let mut out = Socket(State::Idle(ours));
        let data: Vec<u8> = (0..8 << 20).map(|i: u32| (i % 251) as u8).collect();
        tokio::time::timeout(Duration::from_secs(60), async {
            out.write_all(&data).await.unwrap();
            assert!(
                matches!(out.0, State::Idle(_)),
                "the socket stays registered after the write went through"
            );
            out.shutdown().await.unwrap();
        })
        .await
        .expect("the write never found room");
        assert!(reader.await.unwrap() == data, "bytes lost or reordered");
    }
}
