//! The child's stdio handles: [`ChildStdout`]/[`ChildStderr`] read an OS pipe that
//! kennel [forwards](crate::Forward) the tree's output into, [`ChildStdin`] writes
//! through kennel's stdin pipe ([`Controller::write_stdin`](crate::Controller::write_stdin)).
//!
//! Why a second pipe for output rather than handing out the child's own: kennel must
//! keep reading the child's pipe itself — that is what ends the drain when a leftover
//! holds it, counts the bytes and applies caps — so the reader a user gets is the far
//! end of a pipe kennel writes into (`splice(2)` on Linux: no copy through user
//! space). The write end lives only in kennel's reader task, so the user's reader sees
//! EOF exactly when kennel's drain of that stream is over.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::process::Stdio;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::{Controller, Forward, StdinError, StdinErrorKind};

/// What a `std::process::Stdio` asks for, as far as kennel can honour it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Inherit,
    Null,
    Piped,
    /// A file or another process's pipe: kennel's public API has no way to take it yet.
    Unsupported,
}

/// Which of `piped()`, `null()`, `inherit()` a `Stdio` is. `Stdio` is opaque on stable
/// Rust (`Stdio::makes_pipe` is unstable, issue 98288), so this reads the one place std
/// shows it: the alternate `Debug` of a `std::process::Command` holding it, which names
/// the variant (`MakePipe`, `Null`, `Inherit`). Anything else — a file, a handle, a
/// format a future std changes — is `Unsupported`, which fails the spawn loudly rather
/// than guessing. See DECISIONS ("tokio-shaped layer") for the public addition that
/// removes this.
pub(super) fn classify(stdio: Stdio) -> Kind {
    let mut probe = std::process::Command::new("");
    probe.stdout(stdio);
    let shown = format!("{probe:#?}");
    // `stdout: Some(MakePipe)` → the words after `stdout` are `Some` and the variant.
    let variant = shown
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .skip_while(|word| *word != "stdout")
        .nth(2)
        .unwrap_or_default();
    match variant {
        "MakePipe" => Kind::Piped,
        "Null" => Kind::Null,
        "Inherit" => Kind::Inherit,
        _ => Kind::Unsupported,
    }
}

pub(super) fn unsupported(stream: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!(
            "kennel::compat takes Stdio::piped(), null() or inherit() for {stream}; \
             a Stdio made from a file or a pipe cannot be handed to kennel yet"
        ),
    )
}

/// Set `kind` on one output stream of `cmd`: a mode, or (piped) a forward into a new
/// pipe whose read end is returned.
pub(super) fn output<R: From<Reader>>(
    cmd: crate::Command,
    kind: Kind,
    stream: &str,
    set_mode: impl FnOnce(crate::Command, crate::OutputMode) -> crate::Command,
    forward: impl FnOnce(crate::Command, Forward) -> crate::Command,
) -> io::Result<(crate::Command, Option<R>)> {
    if kind == Kind::Piped {
        let (reader, writer) = pipe::new()?;
        return Ok((forward(cmd, Forward::new(writer)), Some(R::from(reader))));
    }
    match super::command::output_mode(kind) {
        Some(mode) => Ok((set_mode(cmd, mode), None)),
        None => Err(unsupported(stream)),
    }
}

/// The read end of an output pipe.
#[derive(Debug)]
pub(super) struct Reader(pipe::Receiver);

macro_rules! reader_type {
    ($name:ident, $stream:literal) => {
        #[doc = concat!("The child's ", $stream, " (from `Stdio::piped()`): reads what the tree wrote, ")]
        #[doc = "in order, then EOF once kennel's drain of the stream is over (the tree is gone, or "]
        #[doc = "the drain timeout passed). Implements `AsyncRead`, so `BufReader::lines`, codecs "]
        #[doc = "and `tokio::io::copy` work. Dropping it closes the pipe: the tree's next write "]
        #[doc = "fails with `EPIPE`/`SIGPIPE`, as with tokio."]
        #[derive(Debug)]
        pub struct $name(Reader);

        impl From<Reader> for $name {
            fn from(reader: Reader) -> Self {
                $name(reader)
            }
        }

        impl AsyncRead for $name {
            fn poll_read(
                mut self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                Pin::new(&mut (self.0).0).poll_read(cx, buf)
            }
        }
    };
}

reader_type!(ChildStdout, "stdout");
reader_type!(ChildStderr, "stderr");

type Pending = Pin<Box<dyn Future<Output = Result<(), StdinError>> + Send>>;

/// The child's stdin (from `Stdio::piped()`). Implements `AsyncWrite`: a write is
/// accepted at once (up to 64 KiB of it) and carried out by kennel's stdin pipe while
/// the caller goes on; the next write, `flush` or `shutdown` waits for it and reports
/// its error (tokio's own blocking-I/O handles work the same way). `shutdown` or
/// dropping it closes the child's stdin (EOF), after the writes already accepted.
pub struct ChildStdin {
    controller: Controller,
    pending: Option<Pending>,
}

impl std::fmt::Debug for ChildStdin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildStdin")
            .field("pid", &self.controller.id())
            .field("write_in_flight", &self.pending.is_some())
            .finish()
    }
}

/// The most one `poll_write` takes (a default Linux pipe buffer).
const STDIN_CHUNK: usize = 64 * 1024;

impl ChildStdin {
    pub(super) fn new(controller: Controller) -> ChildStdin {
        ChildStdin {
            controller,
            pending: None,
        }
    }

    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(pending) = self.pending.as_mut() {
            let result = std::task::ready!(pending.as_mut().poll(cx));
            self.pending = None;
            result.map_err(stdin_error)?;
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for ChildStdin {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        std::task::ready!(self.poll_pending(cx))?;
        let data = buf[..buf.len().min(STDIN_CHUNK)].to_vec();
        let len = data.len();
        let controller = self.controller.clone();
        self.pending = Some(Box::pin(async move { controller.write_stdin(&data).await }));
        Poll::Ready(Ok(len))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_pending(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.poll_pending(cx))?;
        let controller = self.controller.clone();
        self.pending = Some(Box::pin(async move {
            match controller.close_stdin().await {
                // Shutting down twice is not an error.
                Err(e) if e.kind == StdinErrorKind::Closed => Ok(()),
                other => other,
            }
        }));
        self.poll_pending(cx)
    }
}

impl Drop for ChildStdin {
    fn drop(&mut self) {
        let pending = self.pending.take();
        let controller = self.controller.clone();
        // Closing is async in kennel (the stdin slot is behind a tokio mutex). Outside a
        // runtime the pipe closes when the run ends instead.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Some(pending) = pending {
                    let _ = pending.await;
                }
                let _ = controller.close_stdin().await;
            });
        }
    }
}

fn stdin_error(e: StdinError) -> io::Error {
    let kind = match e.kind {
        StdinErrorKind::BrokenPipe | StdinErrorKind::Finished | StdinErrorKind::Closed => {
            io::ErrorKind::BrokenPipe
        }
        StdinErrorKind::NotPiped => io::ErrorKind::Unsupported,
        _ => e
            .source
            .as_ref()
            .map_or(io::ErrorKind::Other, io::Error::kind),
    };
    io::Error::new(kind, e)
}

/// The OS pipe behind an output handle.
#[cfg(unix)]
mod pipe {
    use std::fs::File;
    use std::io;

    pub(super) type Receiver = tokio::net::unix::pipe::Receiver;

    /// A pipe, both ends close-on-exec: the read end registered with the runtime
    /// (non-blocking), the write end a blocking `File` for kennel's forwarding.
    pub(super) fn new() -> io::Result<(super::Reader, File)> {
        let (read, write) = raw()?;
        let receiver = Receiver::from_owned_fd(read)?;
        Ok((super::Reader(receiver), File::from(write)))
    }

    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    fn raw() -> io::Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
        Ok(rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?)
    }

    // No pipe2 here: a fork on another thread between the two calls could leak an end
    // into that child (std has the same window on these systems).
    #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
    fn raw() -> io::Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
        let (read, write) = rustix::pipe::pipe()?;
        for fd in [&read, &write] {
            rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::CLOEXEC)?;
        }
        Ok((read, write))
    }
}

/// The OS pipe behind an output handle: a named pipe whose server end tokio reads
/// (overlapped I/O) and whose client end is a plain synchronous `File` that kennel's
/// forwarding writes on a blocking thread. Compiles; not run on Windows yet.
#[cfg(windows)]
mod pipe {
    use std::fs::File;
    use std::io;
    use std::sync::atomic::{AtomicU64, Ordering};

    use tokio::net::windows::named_pipe::{NamedPipeServer, ServerOptions};

    pub(super) type Receiver = NamedPipeServer;

    pub(super) fn new() -> io::Result<(super::Reader, File)> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            r"\\.\pipe\kennel-compat-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let server = ServerOptions::new()
            .first_pipe_instance(true)
            .access_outbound(false)
            .reject_remote_clients(true)
            .create(&name)?;
        let client = std::fs::OpenOptions::new().write(true).open(&name)?;
        // The client is already connected: this completes on its first poll.
        match super::super::child::poll_once(server.connect()) {
            Some(result) => result?,
            None => {
                return Err(io::Error::other(
                    "the output pipe's client end did not connect",
                ))
            }
        }
        Ok((super::Reader(server), client))
    }
}
