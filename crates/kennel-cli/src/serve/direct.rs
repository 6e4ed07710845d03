//! `"direct"` output streams: the child writes into a FIFO that the client reads itself,
//! so the sidecar is not in the data path (no copy, no wake-up per chunk: issue 13's
//! throughput, docs/DECISIONS.md "Direct streams").
//!
//! # The FIFOs and their directory
//!
//! At startup the sidecar makes a private directory (mode 0700, a random name
//! `kennel-serve-<pid>-<random>-<pid namespace>` under `$XDG_RUNTIME_DIR`, else the
//! temp dir) and removes it when it exits, on every path that returns from `serve`
//! (EOF, `shutdown`, a signal, a give-up). A sidecar killed with SIGKILL cannot: the
//! next sidecar of the same user in the same PID namespace removes the directories of
//! sidecars no longer alive ([`FifoDir::create`]).
//!
//! For each direct stream of a spawn it makes a FIFO (mode 0600) there and opens it
//! twice: a **hold**, read-write and non-blocking (so neither open waits for a
//! reader), and a blocking write end that becomes the child's stdout/stderr. The hold
//! keeps the FIFO's buffer alive while no client has it open yet — a child that
//! writes and exits before the client opens loses nothing — and, being a writer
//! too, keeps the client from seeing EOF early. Once the client has opened the FIFO
//! it sends `attach`; the sidecar then closes its hold and unlinks the FIFO, so the
//! client sees EOF exactly when the tree's last writer is gone.
//!
//! # A client that never attaches
//!
//! The child's `exit` waits for the `attach`, at most the child's drain timeout after
//! its tree has ended; then the hold is closed and the FIFO unlinked. What the tree
//! wrote into the FIFO and nobody read is lost with it (at most the pipe's buffer,
//! 64 KiB by default: a child that wrote more blocked meanwhile, and a tree that
//! never ends keeps blocking until it is cancelled or killed). Once the shutdown
//! begins, no `attach` is awaited: the holds are closed at once (a signalled sidecar
//! must not spend its linger waiting for a request that may never come).

use std::fs::File;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

#[cfg(not(unix))]
#[path = "direct/other.rs"]
mod imp;
#[cfg(unix)]
#[path = "direct/unix.rs"]
mod imp;

pub(crate) use imp::FifoDir;

/// The sidecar's FIFO directory, or why there is none (said on stderr unless the
/// platform has no FIFOs): then `hello` does not list `direct_streams`.
pub(crate) fn fifo_dir() -> std::io::Result<FifoDir> {
    let dir = FifoDir::create();
    if let Err(e) = &dir {
        if e.kind() != std::io::ErrorKind::Unsupported {
            tracing::warn!("serve: cannot make a directory for FIFOs, so no direct streams: {e}");
        }
    }
    dir
}

/// The sidecar's holds on one child's direct FIFOs, until the client attaches (or the
/// child ended a drain timeout ago).
pub(crate) struct Holds {
    held: Mutex<Vec<(PathBuf, File)>>,
    released: watch::Sender<bool>,
    /// The child's drain timeout: how long after its end the `exit` waits for `attach`.
    drain_timeout: Duration,
}

impl Holds {
    pub(crate) fn new(fifos: Vec<(PathBuf, File)>, drain_timeout: Duration) -> Holds {
        Holds {
            held: Mutex::new(fifos),
            released: watch::Sender::new(false),
            drain_timeout,
        }
    }

    /// Closes the holds and unlinks the FIFOs (idempotent): the client sees EOF once
    /// the tree's last writer is gone.
    pub(crate) fn release(&self) {
        let held = std::mem::take(&mut *self.held.lock().unwrap_or_else(PoisonError::into_inner));
        for (path, hold) in held {
            let _ = std::fs::remove_file(&path);
            drop(hold);
        }
        self.released.send_replace(true);
    }

    /// The child ended: waits for the client's `attach`, at most the drain timeout, then
    /// releases the holds. (Not before: a child that wrote and ended before the client
    /// opened its FIFO must not lose its output, and `attach`'s answer precedes `exit`.)
    pub(crate) async fn until_attached(&self) {
        let mut released = self.released.subscribe();
        let _ = tokio::time::timeout(self.drain_timeout, released.wait_for(|r| *r)).await;
        self.release();
    }
}

impl Drop for Holds {
    fn drop(&mut self) {
        self.release();
    }
}
