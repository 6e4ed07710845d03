//! The platform parts of `kennel::compat` (the tokio-shaped layer): the pipe behind a
//! piped output handle, and kennel's exit status as std's.

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt as _;

/// The read end of a compat output pipe, registered with the runtime.
pub(crate) type Receiver = tokio::net::unix::pipe::Receiver;

/// A pipe, both ends close-on-exec: the read end registered with the runtime
/// (non-blocking), the write end a blocking `File` for kennel's forwarding.
pub(crate) fn output_pipe() -> io::Result<(Receiver, File)> {
    let (read, write) = raw_pipe()?;
    Ok((Receiver::from_owned_fd(read)?, File::from(write)))
}

#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
fn raw_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?)
}

// No pipe2 here: a fork on another thread between the two calls could leak an end
// into that child (std has the same window on these systems).
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
fn raw_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (read, write) = rustix::pipe::pipe()?;
    for fd in [&read, &write] {
        rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::CLOEXEC)?;
    }
    Ok((read, write))
}

/// kennel's exit status as std's: `None` when the leader's end is unknown. The wait(2)
/// encoding: exit code in bits 8–15, terminating signal in bits 0–6.
pub(crate) fn std_status(status: crate::ExitStatus) -> Option<std::process::ExitStatus> {
    match (status.code, status.signal) {
        (Some(code), _) => Some(std::process::ExitStatus::from_raw((code & 0xff) << 8)),
        (None, Some(signal)) => Some(std::process::ExitStatus::from_raw(signal & 0x7f)),
        (None, None) => None,
    }
}
