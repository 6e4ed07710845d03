//! Raw stdio and the handshake line: unbuffered writes, so nothing is lost at exit
//! and a pid line is one `write(2)`.

use std::process::ExitCode;
use std::time::Duration;

use crate::{io_err, Res};

pub(crate) use imp::{read_stdin, write_all, Stream};

#[cfg(unix)]
mod imp {
    use std::io;

    #[derive(Clone, Copy)]
    pub enum Stream {
        Out,
        Err,
    }

    /// `write(2)` until all of `buf` is written (one call for a pipe and
    /// `buf.len() <= PIPE_BUF`).
    pub fn write_all(stream: Stream, mut buf: &[u8]) -> io::Result<()> {
        let fd = match stream {
            Stream::Out => 1,
            Stream::Err => 2,
        };
        while !buf.is_empty() {
            // SAFETY: buf is a valid readable slice of buf.len() bytes.
            let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            buf = &buf[n as usize..];
        }
        Ok(())
    }

    /// One `read(2)` from fd 0.
    pub fn read_stdin(buf: &mut [u8]) -> io::Result<usize> {
        loop {
            // SAFETY: buf is a valid writable slice of buf.len() bytes.
            let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

#[cfg(not(unix))]
mod imp {
    use std::io::{self, Read, Write};

    #[derive(Clone, Copy)]
    pub enum Stream {
        Out,
        Err,
    }

    pub fn write_all(stream: Stream, buf: &[u8]) -> io::Result<()> {
        match stream {
            Stream::Out => {
                let mut o = io::stdout().lock();
                o.write_all(buf)?;
                o.flush()
            }
            Stream::Err => {
                let mut e = io::stderr().lock();
                e.write_all(buf)?;
                e.flush()
            }
        }
    }

    pub fn read_stdin(buf: &mut [u8]) -> io::Result<usize> {
        io::stdin().lock().read(buf)
    }
}

/// Writes all of `buf` to `stream`.
pub(crate) fn write_out(stream: Stream, buf: &[u8]) -> Res<()> {
    write_all(stream, buf).map_err(io_err("write"))
}

/// The pid of the parent as printed in pid lines.
#[cfg(unix)]
fn parent_pid() -> u32 {
    // SAFETY: getppid has no preconditions and cannot fail.
    unsafe { libc::getppid() as u32 }
}

#[cfg(not(unix))]
fn parent_pid() -> u32 {
    PARENT_PID.load(std::sync::atomic::Ordering::Relaxed)
}

/// Windows has no cheap getppid: tree nodes are told their parent's pid.
#[cfg(not(unix))]
pub(crate) static PARENT_PID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// The handshake line of this process (module docs of the fixture).
pub(crate) fn pid_line_text(role: &str) -> String {
    format!("pid {} {} {role}\n", std::process::id(), parent_pid())
}

/// Prints this process's handshake line to stdout in one write.
pub(crate) fn pid_line(role: &str) -> Res<()> {
    write_out(Stream::Out, pid_line_text(role).as_bytes())
}

/// Writes `a`, waits `delay_ms`, writes `b` (a line split across two writes).
pub(crate) fn two_writes(a: &[u8], b: &[u8], delay_ms: u64) -> Res<ExitCode> {
    write_out(Stream::Out, a)?;
    if delay_ms > 0 {
        std::thread::sleep(Duration::from_millis(delay_ms));
    }
    write_out(Stream::Out, b)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(not(unix))]
pub(crate) fn sleep_forever() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

#[cfg(unix)]
pub(crate) fn sleep_forever() -> ! {
    crate::unix::sleep_forever()
}

// ---------------------------------------------------------------------------
// Raw stdio

#[cfg(unix)]
/// The bytes of an OS string (lossy on Windows).
pub(crate) fn os_bytes(s: &std::ffi::OsStr) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    s.as_bytes().to_vec()
}

#[cfg(not(unix))]
/// The bytes of an OS string (lossy on Windows).
pub(crate) fn os_bytes(s: &std::ffi::OsStr) -> Vec<u8> {
    s.to_string_lossy().into_owned().into_bytes()
}
