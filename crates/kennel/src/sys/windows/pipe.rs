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
//!
//! # Pipes std made (a given `Stdio::piped()`)
//!
//! `kennel::compat` hands a `Stdio` value to std's spawn as given, because nothing
//! tells one apart before the spawn on Windows (std's `Command` `Debug` shows no
//! stdio). When it was `Stdio::piped()`, std makes its own pipe and the `Child` holds
//! our end; [`StdPipes::adopt`] makes that kennel's: a new pipe of ours (what the
//! supervisor reads or writes, as for any piped stream) and a thread copying between
//! the two, one blocking read at a time, as tokio's own `ChildStdout` does on Windows.
//! EOF travels through it (the tree closed std's pipe: the thread drops our client
//! end), and so does a closed reader or writer on our side (the copy fails: the thread
//! drops std's end, and the tree's next write or read sees a broken pipe). A thread
//! blocked reading std's pipe from a leftover that kennel kept alive
//! (`keep_leftovers`) ends when that process writes or exits.

use std::fs::{File, OpenOptions};
use std::future::Future as _;
use std::io::{self, Read, Write};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::net::windows::named_pipe::{NamedPipeServer, ServerOptions};

use super::{PipeReader, PipeWriter};
use crate::sys::{Given, Slot};
use crate::{OutputMode, StdinMode};

/// Size of each pipe's buffer in the kernel (as a Linux pipe's default).
const PIPE_BUFFER: u32 = 64 * 1024;

/// Our end and the child's end of an output stream, as `mode` asks.
pub(crate) fn output_pipe(mode: OutputMode) -> io::Result<(Option<PipeReader>, Stdio)> {
    Ok(match mode {
        OutputMode::Piped => {
            let (ours, theirs) = pipe(Direction::FromChild)?;
            (Some(ours), Stdio::from(theirs))
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
pub(crate) fn pipe(direction: Direction) -> io::Result<(NamedPipeServer, File)> {
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
        return Ok((server, client));
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

/// std's ends of the pipes it made for given `Stdio::piped()` values.
pub(crate) struct StdPipes {
    stdin: Option<std::process::ChildStdin>,
    stdout: Option<std::process::ChildStdout>,
    stderr: Option<std::process::ChildStderr>,
}

impl StdPipes {
    /// Take them from `child` (before it becomes a bare process handle, which would
    /// close them).
    pub(crate) fn take(child: &mut std::process::Child) -> StdPipes {
        StdPipes {
            stdin: child.stdin.take(),
            stdout: child.stdout.take(),
            stderr: child.stderr.take(),
        }
    }

    /// kennel's ends for the streams given a `Stdio` on which kennel was asked for a
    /// pipe (compat's values nothing told apart): bridged to std's pipe when std made
    /// one (then `Stdio::piped()` goes back into the given slot, which tells compat and
    /// serves a next spawn), none when the value went to the child as something else.
    pub(crate) fn adopt(
        self,
        given: &Given,
        modes: (StdinMode, OutputMode, OutputMode),
    ) -> io::Result<(Option<PipeWriter>, Option<PipeReader>, Option<PipeReader>)> {
        let stdin = adopt_one(
            self.stdin,
            &given.stdin,
            modes.0 == StdinMode::Piped,
            Direction::ToChild,
            |theirs, ours| bridge("stdin", ours, theirs),
        )?;
        let stdout = adopt_output("stdout", self.stdout, &given.stdout, modes.1)?;
        let stderr = adopt_output("stderr", self.stderr, &given.stderr, modes.2)?;
        Ok((stdin, stdout, stderr))
    }
}

/// [`adopt_one`] for an output stream (`name`): std's read end copied into ours.
fn adopt_output(
    name: &'static str,
    theirs: Option<impl Read + Send + 'static>,
    slot: &Option<Slot>,
    mode: OutputMode,
) -> io::Result<Option<NamedPipeServer>> {
    adopt_one(
        theirs,
        slot,
        mode == OutputMode::Piped,
        Direction::FromChild,
        |theirs, ours| bridge(name, theirs, ours),
    )
}

/// One stream of [`StdPipes::adopt`]: when std made a pipe (`theirs`) for the value in
/// `slot` and kennel was `asked` to pipe the stream, a new pipe of ours whose client end
/// `connect` joins to std's.
fn adopt_one<T>(
    theirs: Option<T>,
    slot: &Option<Slot>,
    asked: bool,
    direction: Direction,
    connect: impl FnOnce(T, File) -> io::Result<()>,
) -> io::Result<Option<NamedPipeServer>> {
    let (Some(theirs), Some(slot), true) = (theirs, slot, asked) else {
        return Ok(None);
    };
    let (ours, client) = pipe(direction)?;
    connect(theirs, client)?;
    put_back(slot);
    Ok(Some(ours))
}

/// The given value was `Stdio::piped()`: put one back for a next spawn.
fn put_back(slot: &Slot) {
    let mut held = match slot.lock() {
        Ok(held) => held,
        Err(poisoned) => poisoned.into_inner(),
    };
    *held = Some(Stdio::piped());
}

/// A thread copying `from` into `to` until either side closes; dropping both ends then
/// passes the close on.
fn bridge(
    stream: &str,
    mut from: impl Read + Send + 'static,
    mut to: impl Write + Send + 'static,
) -> io::Result<()> {
    std::thread::Builder::new()
        .name(format!("kennel-{stream}-bridge"))
        .spawn(move || {
            let _ = io::copy(&mut from, &mut to);
        })?;
    Ok(())
}

/// A new handle for `stream` (e.g. our stdout), as a `File` kennel can forward into.
pub(crate) fn duplicate(
    stream: &impl std::os::windows::io::AsHandle,
) -> std::io::Result<std::fs::File> {
    Ok(std::fs::File::from(
        stream.as_handle().try_clone_to_owned()?,
    ))
}
