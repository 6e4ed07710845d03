//! A sleep that ends on time, for the ladder's rungs and the polls while a tree dies.
//!
//! tokio's timer rounds a deadline up to its next millisecond tick and parks its
//! reactor with a timeout in whole milliseconds, so a sleep ends up to ~2 ms late: the
//! ladder's SIGKILL came 1.4 ms after its grace on average (`kennel-bench cancel`,
//! all of it in the SIGTERM-ignoring tree's figure), and a 1 ms poll for a dying tree's
//! end took 1–2 ms. Here tokio's timer sleeps until [`MARGIN`] before the deadline
//! (no fd is held through a long grace), and a timerfd — nanosecond resolution,
//! readable on expiry, registered with tokio's reactor — sleeps the rest.

use std::time::Duration;

use rustix::time::{
    timerfd_create, timerfd_settime, Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags,
    Timespec,
};
use tokio::io::unix::AsyncFd;
use tokio::time::Instant;

/// How long before the deadline tokio's timer hands over to the timerfd: more than
/// tokio's lateness (a tick and a reactor timeout, each rounded up to 1 ms).
const MARGIN: Duration = Duration::from_millis(4);

/// Sleep until `deadline`, within microseconds of it (tokio's timer when no timerfd can
/// be made).
pub(crate) async fn sleep_until(deadline: Instant) {
    if deadline.saturating_duration_since(Instant::now()) > MARGIN {
        tokio::time::sleep_until(deadline - MARGIN).await;
    }
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return;
    }
    match armed(left) {
        Some(timer) => {
            let _ = timer.readable().await;
        }
        None => tokio::time::sleep_until(deadline).await,
    }
}

/// A timerfd that expires once, `left` from now.
fn armed(left: Duration) -> Option<AsyncFd<std::os::fd::OwnedFd>> {
    let fd = timerfd_create(
        TimerfdClockId::Monotonic,
        TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
    )
    .ok()?;
    let value = Timespec {
        tv_sec: i64::try_from(left.as_secs()).ok()?,
        tv_nsec: i64::from(left.subsec_nanos()),
    };
    let zero = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    timerfd_settime(
        &fd,
        TimerfdTimerFlags::empty(),
        &Itimerspec {
            it_interval: zero,
            it_value: value,
        },
    )
    .ok()?;
    // SAFETY: `fd` is an open timerfd that the AsyncFd owns from here on; it is never
    // replaced or closed behind its back.
    unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ends_after_the_deadline_and_not_a_millisecond_later() {
        // Not a timing assertion on the lateness (a loaded machine may preempt us):
        // never early, and the timerfd path is taken (a sleep shorter than MARGIN).
        for ms in [0u64, 1, 3, 7] {
            let deadline = Instant::now() + Duration::from_millis(ms);
            sleep_until(deadline).await;
            assert!(Instant::now() >= deadline, "{ms} ms: woke early");
        }
        assert!(
            armed(Duration::from_micros(300)).is_some(),
            "a timerfd is made"
        );
    }
}
