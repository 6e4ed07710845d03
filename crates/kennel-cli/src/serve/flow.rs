//! Per-child, per-stream flow control (`spawn.window` and `credit`).
//!
//! A child spawned with a `window` has one [`Windows`] shared by its forwarder and the
//! request loop. Each output stream starts with `window` bytes of send allowance; the
//! forwarder takes from it before queueing output (splitting a chunk that does not
//! fit) and waits, without reading further events of that child, while it is zero;
//! `credit` requests add to it. So a client that stops reading one child's stream
//! stops that child alone: its forwarder waits, the library's per-child event
//! channel fills ([`kennel::EVENT_CAPACITY`] chunks), the library stops reading its
//! pipes, and the child blocks in `write(2)` — while the shared data lane, every other
//! child, and every reply keep flowing.
//!
//! Both streams of a child go through one library event channel, so a stream whose
//! window is exhausted also holds up the *other* stream of the same child once that
//! channel is full (see docs/DECISIONS.md, "Flow control": a child blocked on an unread
//! stdout is in practice blocked in `write(2)` on it anyway).
//!
//! Windows are lifted (the forwarder stops waiting for credit) when no credit can come
//! any more: the client closed the sidecar's stdin, or the sidecar's stdout failed. The
//! remaining output is then sent (or discarded) so the shutdown completes. A child's
//! own windows are also lifted once its tree has ended
//! ([`kennel::Controller::tree_ended`]): what is left is bounded by its pipes and the
//! library's queue, and the client gets the `exit` of a child it killed without
//! having to read it first.

use std::sync::{Mutex, MutexGuard, PoisonError};

use kennel_protocol::{OutputStream, MAX_WINDOW_BYTES};
use tokio::sync::Notify;

/// The send allowance of both output streams of one child.
pub(crate) struct Windows {
    state: Mutex<State>,
    changed: Notify,
}

struct State {
    /// Bytes the sidecar may still send, per stream (stdout, stderr).
    available: [u64; 2],
    /// No more credit can come: send without limit.
    lifted: bool,
}

/// A `credit` that would grow a window past [`MAX_WINDOW_BYTES`].
#[derive(Debug)]
pub(crate) struct Overflow {
    pub(crate) available: u64,
}

impl Windows {
    /// Both streams start with `window` bytes.
    pub(crate) fn new(window: u64) -> Windows {
        Windows {
            state: Mutex::new(State {
                available: [window, window],
                lifted: false,
            }),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `bytes` to a stream's window.
    pub(crate) fn credit(&self, stream: OutputStream, bytes: u64) -> Result<(), Overflow> {
        let mut state = self.lock();
        let slot = &mut state.available[index(stream)];
        let grown = slot.saturating_add(bytes);
        if grown > MAX_WINDOW_BYTES {
            return Err(Overflow { available: *slot });
        }
        *slot = grown;
        drop(state);
        self.changed.notify_waiters();
        Ok(())
    }

    /// From now on, never wait for credit.
    pub(crate) fn lift(&self) {
        self.lock().lifted = true;
        self.changed.notify_waiters();
    }

    /// Waits until the stream may send, then takes up to `want` bytes of its window;
    /// returns how many were taken (at least 1 when `want` is) and whether that used
    /// the window up.
    pub(crate) async fn take(&self, stream: OutputStream, want: usize) -> (usize, bool) {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut state = self.lock();
                if state.lifted {
                    return (want, false);
                }
                let slot = &mut state.available[index(stream)];
                if *slot > 0 {
                    let n = usize::try_from(*slot).map_or(want, |a| a.min(want));
                    *slot -= n as u64;
                    return (n, *slot == 0);
                }
            }
            notified.await;
        }
    }
}

fn index(stream: OutputStream) -> usize {
    match stream {
        OutputStream::Stdout => 0,
        OutputStream::Stderr => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn take_splits_waits_for_credit_and_lifts() {
        let w = Arc::new(Windows::new(10));
        assert_eq!(w.take(OutputStream::Stdout, 4).await, (4, false));
        assert_eq!(w.take(OutputStream::Stdout, 100).await, (6, true));
        // stderr has its own window.
        assert_eq!(w.take(OutputStream::Stderr, 100).await, (10, true));
        let waiter = {
            let w = w.clone();
            tokio::spawn(async move { w.take(OutputStream::Stdout, 100).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "an exhausted window must wait");
        w.credit(OutputStream::Stdout, 7).unwrap();
        assert_eq!(waiter.await.unwrap(), (7, true));
        assert!(w.credit(OutputStream::Stdout, MAX_WINDOW_BYTES).is_ok());
        assert!(w.credit(OutputStream::Stdout, 1).is_err());
        let waiter = {
            let w = w.clone();
            tokio::spawn(async move { w.take(OutputStream::Stderr, 100).await })
        };
        w.lift();
        assert_eq!(waiter.await.unwrap(), (100, false));
    }
}
