//! kennel's own standard streams, as the process found them.
//!
//! A shell can start kennel with a standard stream closed (`kennel run -- echo hi >&-`).
//! Rust's runtime puts `/dev/null` (opened read-write) on a closed descriptor 0, 1 or 2
//! before `main`, so forwarding the child's output there would succeed and the error
//! GNU `timeout` shows ("echo: write error: Bad file descriptor", exit 1) would be
//! lost. [`init`] recognizes that `/dev/null` — a shell's `>/dev/null` opens it
//! write-only, only `<>/dev/null` looks the same — and [`was_closed`] tells
//! `kennel run` to read such a stream itself and drop it: if the tree wrote anything
//! there, kennel says so ("write error: Bad file descriptor") and exits 1 unless the
//! command failed anyway (see `run::with_output_failure`).

use std::sync::atomic::{AtomicBool, Ordering};

static CLOSED: [AtomicBool; 3] = [
    AtomicBool::new(false),
    AtomicBool::new(false),
    AtomicBool::new(false),
];

/// Record which of descriptors 0, 1 and 2 were closed when kennel started (see the
/// module docs). Call before any file is opened.
pub fn init() {
    #[cfg(unix)]
    {
        use rustix::fs::{fstat, major, minor, FileType, OFlags};
        use std::os::fd::AsFd;
        let (stdin, stdout, stderr) = (std::io::stdin(), std::io::stdout(), std::io::stderr());
        let fds = [stdin.as_fd(), stdout.as_fd(), stderr.as_fd()];
        for (n, fd) in fds.into_iter().enumerate() {
            let dev_null = fstat(fd).is_ok_and(|st| {
                FileType::from_raw_mode(st.st_mode) == FileType::CharacterDevice
                    && (major(st.st_rdev), minor(st.st_rdev)) == (1, 3)
            });
            let read_write =
                rustix::fs::fcntl_getfl(fd).is_ok_and(|fl| fl & OFlags::RWMODE == OFlags::RDWR);
            CLOSED[n].store(dev_null && read_write, Ordering::Relaxed);
        }
    }
}

/// Whether descriptor `n` (0, 1 or 2) was closed when kennel started.
pub fn was_closed(n: usize) -> bool {
    CLOSED.get(n).is_some_and(|c| c.load(Ordering::Relaxed))
}
