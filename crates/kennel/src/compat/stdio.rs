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

/// What a stdio setting asks of kennel.
#[derive(Debug)]
pub(super) enum Kind {
    Inherit,
    Null,
    /// kennel's own pipe (a forward into one for output).
    Piped,
    /// Handed as is to the OS spawn (a file, a pipe end, a descriptor); the first
    /// spawn takes it.
    Given(Stdio),
    /// A `Given` that an earlier spawn took: `Stdio` cannot be copied.
    Used,
    /// A `Stdio` value that is none of `piped()`, `null()`, `inherit()`.
    Unsupported,
}

impl Kind {
    /// This setting for one spawn: a `Given` moves out (leaving `Used`).
    pub(super) fn take(&mut self) -> Kind {
        match self {
            Kind::Inherit => Kind::Inherit,
            Kind::Null => Kind::Null,
            Kind::Piped => Kind::Piped,
            Kind::Given(_) => std::mem::replace(self, Kind::Used),
            Kind::Used => Kind::Used,
            Kind::Unsupported => Kind::Unsupported,
        }
    }
}

/// What `cfg` asks for. Anything but a `Stdio` (a `File`, an `OwnedFd`, a std child's
/// pipe end, `io::stdout()`, …) converts into one that names a descriptor, never a new
/// pipe: it is handed on as is. A `Stdio` itself is opaque on stable Rust
/// (`Stdio::makes_pipe` is unstable, issue 98288), so which of `piped()`, `null()`,
/// `inherit()` it is, is read from the one place std shows it: the alternate `Debug`
/// of a `std::process::Command` holding it, which names the variant (`MakePipe`,
/// `Null`, `Inherit`). That moves the `Stdio` into the probe, so one made from a file
/// or a pipe (`Stdio::from(file)`) is lost to it: `Unsupported`, which fails the spawn
/// loudly rather than guessing (pass the file itself instead). See DECISIONS
/// ("tokio-shaped layer").
pub(super) fn classify<T: Into<Stdio> + 'static>(cfg: T) -> Kind {
    if std::any::TypeId::of::<T>() != std::any::TypeId::of::<Stdio>() {
        return Kind::Given(cfg.into());
    }
    let mut probe = std::process::Command::new("");
    probe.stdout(cfg);
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

/// The error of a setting kennel cannot spawn with (`Unsupported`, `Used`).
pub(super) fn refused(kind: &Kind, stream: &str) -> io::Error {
    match kind {
        Kind::Used => io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "the {stream} given to kennel::compat went to an earlier spawn (a Stdio \
                 cannot be copied): set it again before spawning again"
            ),
        ),
        _ => io::Error::new(
            io::ErrorKind::Unsupported,
            format!(
                "kennel::compat cannot tell what a Stdio made from a file or a pipe is for \
                 {stream}: pass the File, OwnedFd or pipe end itself (it is handed on as is)"
            ),
        ),
    }
}

/// Set `kind` on one output stream of `cmd`: a mode, a given `Stdio` (kennel's side
/// inherits, i.e. touches nothing), or (piped) a forward into a new pipe whose read end
/// is returned.
pub(super) fn output<R: From<Reader>>(
    mut cmd: crate::Command,
    kind: Kind,
    stream: &str,
    set_mode: impl FnOnce(crate::Command, crate::OutputMode) -> crate::Command,
    forward: impl FnOnce(crate::Command, Forward) -> crate::Command,
) -> io::Result<(crate::Command, Option<R>)> {
    let mode = match kind {
        Kind::Piped => {
            let (receiver, writer) = crate::sys::imp::compat::output_pipe()?;
            let reader = Reader(receiver);
            return Ok((forward(cmd, Forward::new(writer)), Some(R::from(reader))));
        }
        Kind::Inherit => crate::OutputMode::Inherit,
        Kind::Null => crate::OutputMode::Null,
        Kind::Given(stdio) => {
            let slot = crate::sys::Given::slot(stdio);
            match stream {
                "stdout" => cmd.given.stdout = slot,
                _ => cmd.given.stderr = slot,
            }
            crate::OutputMode::Inherit
        }
        Kind::Used | Kind::Unsupported => return Err(refused(&kind, stream)),
    };
    Ok((set_mode(cmd, mode), None))
}

/// The read end of an output pipe.
#[derive(Debug)]
pub(super) struct Reader(crate::sys::imp::compat::Receiver);

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg_attr(
        windows,
        ignore = "std's Windows `Command` Debug shows no stdio: the probe recognizes nothing there (NOTES)"
    )]
    fn the_debug_probe_tells_the_three_constructors_apart() {
        assert!(matches!(classify(Stdio::piped()), Kind::Piped));
        assert!(matches!(classify(Stdio::null()), Kind::Null));
        assert!(matches!(classify(Stdio::inherit()), Kind::Inherit));
        let file = std::fs::File::open(std::env::current_exe().unwrap()).unwrap();
        assert!(matches!(classify(Stdio::from(file)), Kind::Unsupported));
    }

    #[test]
    fn anything_but_a_stdio_is_handed_on_and_taken_once() {
        let file = std::fs::File::open(std::env::current_exe().unwrap()).unwrap();
        let mut kind = classify(file);
        assert!(matches!(kind.take(), Kind::Given(_)));
        assert!(matches!(kind.take(), Kind::Used));
        assert!(matches!(kind, Kind::Used));
        let mut piped = Kind::Piped;
        assert!(matches!(piped.take(), Kind::Piped));
        assert!(matches!(piped, Kind::Piped));
    }
}

/// A file given for stdout reaches the child on every platform's spawn (the Linux tier
/// checks are in `tests-integration`; this one also runs under Wine).
#[cfg(test)]
mod spawn_tests {
    #[tokio::test]
    async fn stdout_to_a_file_on_this_platform() {
        let path = std::env::temp_dir().join(format!("kennel-unit-stdout-{}", std::process::id()));
        let file = std::fs::File::create(&path).unwrap();
        let mut cmd = super::super::Command::from(crate::Command::shell("echo given"));
        cmd.stdout(file);
        let status = cmd.status().await.unwrap();
        let written = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert!(status.success());
        assert_eq!(written.trim_end(), "given");
    }
}
