//! The child's stdio as overlapped named pipes.
//!
//! Our ends are overlapped named pipes (`\\.\pipe\kennel-…`, created with
//! `FILE_FLAG_FIRST_PIPE_INSTANCE`, one instance, remote clients rejected) driven by
//! tokio's I/O completion port; the child's ends are ordinary synchronous handles that
//! std makes inheritable only for the duration of `CreateProcess`. EOF
//! (`ERROR_BROKEN_PIPE`) comes when every process holding the child's end has exited
//! or closed it, as on Unix. Between creating a pipe and opening its client end, a
//! local process that guessed the name could connect first; the open then fails and
//! the spawn reports it.

use std::fs::OpenOptions;
use std::future::Future as _;
use std::io;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::net::windows::named_pipe::{NamedPipeServer, ServerOptions};

use super::PipeReader;
use crate::OutputMode;

/// Size of each pipe's buffer in the kernel (as a Linux pipe's default).
const PIPE_BUFFER: u32 = 64 * 1024;

/// Our end and the child's end of an output stream, as `mode` asks.
pub(crate) fn output_pipe(mode: OutputMode) -> io::Result<(Option<PipeReader>, Stdio)> {
    Ok(match mode {
        OutputMode::Piped => {
            let (ours, theirs) = pipe(Direction::FromChild)?;
            (Some(ours), theirs)
        }
        OutputMode::Inherit => (None, Stdio::inherit()),
        OutputMode::Null => (None, Stdio::null()),
    })
}

#[derive(Clone, Copy)]
pub(crate) enum Direction {
    /// The child writes (stdout/stderr).
    FromChild,
    /// The child reads (stdin).
    ToChild,
}

/// A named pipe: our overlapped server end, registered with tokio, and the child's
/// synchronous client end.
pub(crate) fn pipe(direction: Direction) -> io::Result<(NamedPipeServer, Stdio)> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut attempts = 0;
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(r"\\.\pipe\kennel-{}-{n}-{nanos:08x}", std::process::id());
        let mut options = ServerOptions::new();
        options
            .first_pipe_instance(true)
            .reject_remote_clients(true)
            .max_instances(1)
            .in_buffer_size(PIPE_BUFFER)
            .out_buffer_size(PIPE_BUFFER);
        match direction {
            Direction::FromChild => options.access_inbound(true).access_outbound(false),
            Direction::ToChild => options.access_inbound(false).access_outbound(true),
        };
        let server = match options.create(&name) {
            Ok(server) => server,
            // The name is taken (FILE_FLAG_FIRST_PIPE_INSTANCE): pick another.
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied && attempts < 8 => {
                attempts += 1;
                continue;
            }
            Err(e) => return Err(e),
        };
        let mut open = OpenOptions::new();
        match direction {
            Direction::FromChild => open.write(true),
            Direction::ToChild => open.read(true),
        };
        // Not inheritable: std duplicates it as inheritable only inside its spawn lock.
        let client = open.open(&name)?;
        connect_now(&server)?;
        return Ok((server, Stdio::from(client)));
    }
}

/// Tell tokio (mio) that the server end is connected. mio starts reading a server
/// pipe only once `connect` has succeeded; the client end is already open, so
/// `ConnectNamedPipe` answers `ERROR_PIPE_CONNECTED` at once and the first poll of
/// `connect()` is ready — polled here with a no-op waker because spawning is sync.
fn connect_now(server: &NamedPipeServer) -> io::Result<()> {
    struct Noop;
    impl std::task::Wake for Noop {
        fn wake(self: std::sync::Arc<Self>) {}
    }
    let waker = std::task::Waker::from(std::sync::Arc::new(Noop));
    let mut cx = std::task::Context::from_waker(&waker);
    let connect = std::pin::pin!(server.connect());
    match connect.poll(&mut cx) {
        std::task::Poll::Ready(result) => result,
        std::task::Poll::Pending => Err(io::Error::new(
            io::ErrorKind::NotConnected,
            "the pipe's client end is open but the server is not connected",
        )),
    }
}

/// A new handle for `stream` (e.g. our stdout), as a `File` kennel can forward into.
pub(crate) fn duplicate(
    stream: &impl std::os::windows::io::AsHandle,
) -> std::io::Result<std::fs::File> {
    Ok(std::fs::File::from(
        stream.as_handle().try_clone_to_owned()?,
    ))
}
