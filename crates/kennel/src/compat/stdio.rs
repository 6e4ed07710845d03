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
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::sys::Slot;
use crate::{Controller, Forward, OutputMode, StdinError, StdinErrorKind, StdinMode};

/// What a stdio setting asks of kennel.
#[derive(Debug)]
pub(crate) enum Kind {
    Inherit,
    /// (Windows has no way to tell a `Stdio::null()` apart: it is `Opaque` there.)
    #[cfg_attr(windows, allow(dead_code))]
    Null,
    /// kennel's own pipe (a forward into one for output).
    Piped,
    /// Handed as is to the OS spawn (a file, a pipe end, a descriptor); the first
    /// spawn takes it.
    Given(Stdio),
    /// A `Stdio` value nothing tells apart before the spawn (Windows): handed to the
    /// OS spawn as given, on a stream kennel pipes, and a pipe std makes for it (it was
    /// `piped()`) is adopted as kennel's; see `settle`. The first spawn takes it.
    #[cfg_attr(not(windows), allow(dead_code))]
    Opaque(Stdio),
    /// A `Given` or `Opaque` that an earlier spawn took: `Stdio` cannot be copied.
    Used,
    /// A `Stdio` value whose shape std's `Debug` does not show as this crate knows it.
    #[cfg_attr(windows, allow(dead_code))]
    Unsupported,
    /// A `Stdio` made from a descriptor that could not be duplicated.
    #[cfg_attr(not(unix), allow(dead_code))]
    Failed(Arc<io::Error>),
}

impl Kind {
    /// This setting for one spawn: a `Given` or `Opaque` moves out (leaving `Used`).
    pub(super) fn take(&mut self) -> Kind {
        match self {
            Kind::Inherit => Kind::Inherit,
            Kind::Null => Kind::Null,
            Kind::Piped => Kind::Piped,
            Kind::Given(_) | Kind::Opaque(_) => std::mem::replace(self, Kind::Used),
            Kind::Used => Kind::Used,
            Kind::Unsupported => Kind::Unsupported,
            Kind::Failed(e) => Kind::Failed(Arc::clone(e)),
        }
    }

    /// The error of a setting kennel cannot spawn with (`Used`, `Unsupported`, `Failed`).
    fn refused(&self, stream: Stream) -> io::Error {
        let stream = stream.name();
        match self {
            Kind::Used => io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "the {stream} given to kennel::compat went to an earlier spawn (a Stdio \
                     cannot be copied): set it again before spawning again"
                ),
            ),
            Kind::Failed(e) => io::Error::new(
                e.kind(),
                DuplicateError {
                    stream,
                    source: Arc::clone(e),
                },
            ),
            _ => io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "kennel::compat cannot tell what the Stdio given for {stream} is (std's \
                     Debug of it has an unknown shape): pass the File, OwnedFd or pipe end \
                     itself (it is handed on as is)"
                ),
            ),
        }
    }
}

/// A `Stdio` made from a descriptor that could not be duplicated (`Kind::Failed`).
#[derive(Debug, thiserror::Error)]
#[error("kennel::compat could not duplicate the descriptor of the Stdio given for {stream}")]
struct DuplicateError {
    stream: &'static str,
    #[source]
    source: Arc<io::Error>,
}

/// What `cfg` asks for. Anything but a `Stdio` (a `File`, an `OwnedFd`, a std child's
/// pipe end, `io::stdout()`, …) converts into one that names a descriptor or handle,
/// never a new pipe: it is handed on as is. A `Stdio` itself is opaque on stable Rust;
/// the platform tells it apart (Unix: from std's `Debug`, duplicating a descriptor it
/// holds; Windows: only the spawn can, `Opaque`). See DECISIONS ("tokio-shaped
/// layer").
pub(super) fn classify<T: Into<Stdio> + 'static>(cfg: T) -> Kind {
    if std::any::TypeId::of::<T>() != std::any::TypeId::of::<Stdio>() {
        return Kind::Given(cfg.into());
    }
    crate::sys::imp::compat::classify(cfg.into())
}

/// Which of the child's streams a setting is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stream {
    Stdin,
    Stdout,
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdin => "stdin",
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    /// Hand `stdio` to the OS spawn for this stream of `cmd`; the slot it is in.
    fn give(self, cmd: &mut crate::Command, stdio: Stdio) -> Option<Slot> {
        let slot = crate::sys::Given::slot(stdio);
        let given = &mut cmd.given;
        let place = match self {
            Stream::Stdin => &mut given.stdin,
            Stream::Stdout => &mut given.stdout,
            Stream::Stderr => &mut given.stderr,
        };
        place.clone_from(&slot);
        slot
    }
}

/// One stream of a compat spawn as set up on kennel's command: the caller's end of
/// kennel's pipe, if it has one (for stdin `()`: the writer is made from the
/// controller after the spawn).
#[derive(Debug)]
pub(super) struct Prepared<E> {
    end: Option<E>,
    /// The slot of an `Opaque` value: whether it was `piped()` shows there after the
    /// spawn.
    opaque: Option<Slot>,
}

impl<E> Prepared<E> {
    /// After the spawn: the caller's end, if the stream is kennel's pipe. The spawn
    /// puts `Stdio::piped()` back into the slot of an `Opaque` value that std made a
    /// pipe for (kennel adopted it, and a pipe request can serve every spawn): then the
    /// end is kept and `setting` becomes `Piped` for the next spawns. Any other
    /// `Opaque` value went to the child as given, and kennel's end of the unused pipe
    /// is dropped (as tokio's handle is `None`).
    pub(super) fn settle(self, setting: &mut Option<Kind>) -> Option<E> {
        let Some(slot) = self.opaque else {
            return self.end;
        };
        let piped = match slot.lock() {
            Ok(held) => held.is_some(),
            Err(poisoned) => poisoned.into_inner().is_some(),
        };
        if !piped {
            return None;
        }
        *setting = Some(Kind::Piped);
        self.end
    }
}

/// Set `kind` on the stdin of `cmd`.
pub(super) fn input(
    mut cmd: crate::Command,
    kind: Kind,
) -> io::Result<(crate::Command, Prepared<()>)> {
    let mut opaque = None;
    let mode = match kind {
        Kind::Inherit => StdinMode::Inherit,
        Kind::Null => StdinMode::Null,
        Kind::Piped => StdinMode::Piped,
        Kind::Given(stdio) => {
            // kennel's side inherits: it writes nothing on this stream.
            Stream::Stdin.give(&mut cmd, stdio);
            StdinMode::Inherit
        }
        Kind::Opaque(stdio) => {
            opaque = Stream::Stdin.give(&mut cmd, stdio);
            StdinMode::Piped
        }
        refused => return Err(refused.refused(Stream::Stdin)),
    };
    let end = (mode == StdinMode::Piped).then_some(());
    Ok((cmd.stdin(mode), Prepared { end, opaque }))
}

/// Set `kind` on one output stream of `cmd`: a mode, a given `Stdio` (kennel's side
/// inherits, i.e. touches nothing), or (piped, opaque) a forward into a new pipe whose
/// read end the caller gets.
pub(super) fn output<R: From<Reader>>(
    mut cmd: crate::Command,
    kind: Kind,
    stream: Stream,
) -> io::Result<(crate::Command, Prepared<R>)> {
    let (mode, opaque) = match kind {
        Kind::Piped => (None, None),
        Kind::Opaque(stdio) => (None, stream.give(&mut cmd, stdio)),
        Kind::Inherit => (Some(OutputMode::Inherit), None),
        Kind::Null => (Some(OutputMode::Null), None),
        Kind::Given(stdio) => {
            stream.give(&mut cmd, stdio);
            (Some(OutputMode::Inherit), None)
        }
        refused => return Err(refused.refused(stream)),
    };
    if let Some(mode) = mode {
        let cmd = match stream {
            Stream::Stdout => cmd.stdout(mode),
            _ => cmd.stderr(mode),
        };
        return Ok((cmd, Prepared { end: None, opaque }));
    }
    let (receiver, writer) = crate::sys::imp::compat::output_pipe()?;
    let forward = Forward::new(writer);
    let cmd = match stream {
        Stream::Stdout => cmd.forward_stdout(forward),
        _ => cmd.forward_stderr(forward),
    };
    let end = Some(R::from(Reader(receiver)));
    Ok((cmd, Prepared { end, opaque }))
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
    fn a_stdio_value_is_told_apart_as_far_as_the_platform_allows() {
        let file = std::fs::File::open(std::env::current_exe().unwrap()).unwrap();
        let kinds = [
            Stdio::piped(),
            Stdio::null(),
            Stdio::inherit(),
            Stdio::from(file),
        ]
        .map(classify);
        if cfg!(windows) {
            // std's Windows `Command` Debug shows no stdio: the spawn tells.
            assert!(
                kinds.iter().all(|k| matches!(k, Kind::Opaque(_))),
                "{kinds:?}"
            );
        } else {
            assert!(
                matches!(
                    kinds,
                    [Kind::Piped, Kind::Null, Kind::Inherit, Kind::Given(_)]
                ),
                "{kinds:?}"
            );
        }
    }

    #[test]
    fn an_opaque_value_std_made_a_pipe_for_stays_piped() {
        let slot = |held: Option<Stdio>| -> Slot { Arc::new(std::sync::Mutex::new(held)) };
        let mut setting = Some(Kind::Used);
        let adopted = Prepared {
            end: Some("reader"),
            opaque: Some(slot(Some(Stdio::piped()))),
        };
        assert_eq!(adopted.settle(&mut setting), Some("reader"));
        assert!(matches!(setting, Some(Kind::Piped)));
        let mut setting = Some(Kind::Used);
        let given = Prepared {
            end: Some("reader"),
            opaque: Some(slot(None)),
        };
        assert_eq!(given.settle(&mut setting), None);
        assert!(matches!(setting, Some(Kind::Used)));
        let plain = Prepared {
            end: Some("reader"),
            opaque: None,
        };
        assert_eq!(plain.settle(&mut setting), Some("reader"));
    }

    #[test]
    fn a_shape_nothing_recognized_fails_the_spawn_clearly() {
        let cmd = || crate::Command::new("true");
        let err = input(cmd(), Kind::Unsupported).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Unsupported);
        assert!(err.to_string().contains("for stdin"), "{err}");
        let err = output::<ChildStdout>(cmd(), Kind::Unsupported, Stream::Stderr).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Unsupported);
        assert!(err.to_string().contains("for stderr"), "{err}");
        let failed = Kind::Failed(Arc::new(io::Error::from_raw_os_error(24)));
        let err = output::<ChildStdout>(cmd(), failed, Stream::Stdout).unwrap_err();
        assert!(err.to_string().contains("duplicate"), "{err}");
        let err = input(cmd(), Kind::Used).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
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

    /// `Stdio::piped()`, `null()` and `inherit()` values on this platform's spawn (on
    /// Windows std's spawn tells them apart, and kennel adopts std's pipe).
    #[tokio::test]
    async fn piped_null_and_inherit_values_on_this_platform() {
        use std::process::Stdio;
        use tokio::io::AsyncReadExt as _;

        let mut cmd = super::super::Command::from(crate::Command::shell("echo piped"));
        cmd.stdout(Stdio::piped()).stderr(Stdio::null());
        for _ in 0..2 {
            let mut child = cmd.spawn().unwrap();
            assert!(child.stderr.is_none(), "a null stderr has no reader");
            let mut got = String::new();
            let mut stdout = child.stdout.take().expect("a piped stdout has a reader");
            stdout.read_to_string(&mut got).await.unwrap();
            assert!(child.wait().await.unwrap().success());
            assert_eq!(got.trim_end(), "piped");
            // A pipe request serves every spawn; the null value went to the first.
            cmd.stderr(Stdio::null());
        }
        let mut cmd = super::super::Command::from(crate::Command::shell("exit 3"));
        cmd.stdin(Stdio::inherit()).stdout(Stdio::inherit());
        let child = cmd.spawn().unwrap();
        assert!(child.stdin.is_none() && child.stdout.is_none());
        let out = child.wait_with_output().await.unwrap();
        assert_eq!(out.status.code(), Some(3));
    }
}
