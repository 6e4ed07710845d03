//! What still works on behalf of a child when its run has ended: its `signal` answers.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

/// Counts tasks still working on behalf of a child (pending `signal` answers). Once
/// the forwarder waits for them ([`idle`](InFlight::idle): the child has ended), no
/// new one enters: a client sending `signal` on every turn of its event loop would
/// otherwise always have one in flight, and the child's `exit` would wait for as long
/// as it sends (seen: 3.6 s; a client waiting for that `exit` to stop sending, forever).
#[derive(Default)]
pub(crate) struct InFlight {
    count: AtomicUsize,
    idle: Notify,
    closed: AtomicBool,
}

/// Held while a task works on behalf of a child; dropping it ends the work.
pub(crate) struct InFlightGuard(Arc<InFlight>);

impl InFlight {
    /// Registers one more task; `None` once the child has ended (the forwarder waits
    /// for the last ones), when there is nothing left to do on its behalf.
    pub(crate) fn enter(self: &Arc<Self>) -> Option<InFlightGuard> {
        // SeqCst with `idle`'s: either this sees `closed`, or `idle` sees this count.
        self.count.fetch_add(1, Ordering::SeqCst);
        let guard = InFlightGuard(self.clone());
        if self.closed.load(Ordering::SeqCst) {
            return None;
        }
        Some(guard)
    }

    /// Lets no new task in, and resolves when none is registered.
    pub(super) async fn idle(&self) {
        self.closed.store(true, Ordering::SeqCst);
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.count.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Once the forwarder waits for a child's signal tasks, a new `signal` cannot
    /// extend the wait: a client sending one on every turn of its event loop would
    /// otherwise hold the child's `exit` back for as long as it sends.
    #[tokio::test]
    async fn no_task_enters_once_the_forwarder_waits() {
        let signals = Arc::new(InFlight::default());
        let first = signals.enter().expect("a task enters while the child runs");
        let waiting = tokio::spawn({
            let signals = signals.clone();
            async move { signals.idle().await }
        });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !signals.closed.load(Ordering::SeqCst) {
            assert!(std::time::Instant::now() < deadline, "idle() never started");
            tokio::task::yield_now().await;
        }
        assert!(
            signals.enter().is_none(),
            "a task entered after the wait began"
        );
        drop(first);
        tokio::time::timeout(std::time::Duration::from_secs(10), waiting)
            .await
            .expect("idle() ends with the last task")
            .expect("the waiting task");
        assert_eq!(signals.count.load(Ordering::SeqCst), 0);
    }
}
