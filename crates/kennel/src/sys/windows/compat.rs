//! The platform parts of `kennel::compat` (the tokio-shaped layer): what a `Stdio`
//! value is, the pipe behind a piped output handle, and kennel's exit status as std's.

use std::fs::File;
use std::io;
use std::os::windows::process::ExitStatusExt as _;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::net::windows::named_pipe::{NamedPipeServer, ServerOptions};

use crate::compat::Kind;

/// What `stdio` is: nothing tells before the spawn. A `Stdio` is opaque on stable Rust
/// and std's Windows `Command` `Debug` shows no stdio, so the value goes to std's spawn
/// as given, on a stream kennel pipes; std makes a pipe only for `Stdio::piped()`, and
/// the spawn adopts that pipe as kennel's (`pipe.rs`, "Pipes std made").
pub(crate) fn classify(stdio: Stdio) -> Kind {
    Kind::Opaque(stdio)
}

/// The read end of a compat output pipe, registered with the runtime.
pub(crate) type Receiver = NamedPipeServer;

/// A named pipe whose server end tokio reads (overlapped I/O) and whose client end is a
/// plain synchronous `File` that kennel's forwarding writes on a blocking thread.
pub(crate) fn output_pipe() -> io::Result<(Receiver, File)> {
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
    match crate::sys::poll_once(server.connect()) {
        Some(result) => result?,
        None => {
            return Err(io::Error::other(
                "the output pipe's client end did not connect",
            ))
        }
    }
    Ok((server, client))
}

/// kennel's exit status as std's: the bits of the exit code (an NTSTATUS is negative as
/// an i32); `None` when the leader's end is unknown.
pub(crate) fn std_status(status: crate::ExitStatus) -> Option<std::process::ExitStatus> {
    #[allow(clippy::cast_sign_loss)]
    status
        .code
        .map(|code| std::process::ExitStatus::from_raw(code as u32))
}
