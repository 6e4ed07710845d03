//! Named pipes (FIFOs): `mkfifo(3)`. rustix offers `mkfifoat` everywhere but on Apple
//! systems, where libc's `mkfifo` does the same.

use std::io;
use std::path::Path;

/// Create a FIFO at `path` with permissions `mode` (masked by the umask); fails with
/// `AlreadyExists` if anything is there.
#[cfg(not(target_vendor = "apple"))]
pub(crate) fn mkfifo(path: &Path, mode: u32) -> io::Result<()> {
    let mode = rustix::fs::Mode::from_bits_truncate(mode as _);
    Ok(rustix::fs::mkfifoat(rustix::fs::CWD, path, mode)?)
}

/// Create a FIFO at `path` with permissions `mode` (masked by the umask); fails with
/// `AlreadyExists` if anything is there.
#[cfg(target_vendor = "apple")]
pub(crate) fn mkfifo(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt as _;
    let path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a path with a NUL byte"))?;
    // SAFETY: `path` is a valid NUL-terminated string that outlives the call; `mkfifo`
    // reads it and touches no other memory.
    let rc = unsafe { libc::mkfifo(path.as_ptr(), mode as libc::mode_t) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
