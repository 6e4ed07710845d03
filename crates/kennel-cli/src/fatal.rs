//! A panic anywhere ends the process: every tree torn down, a non-zero exit.
//!
//! tokio catches a panic in a spawned task and keeps the runtime going, so a dead task
//! (the sidecar's stdout writer, say) would leave a process that supervises nothing
//! and never exits. Instead the panic hook installed by [`install`]:
//!
//! 1. logs the panic through the lossy logger (`crate::log`: no blocking, no second
//!    panic on a broken stderr — the default hook writes to stderr directly);
//! 2. wakes [`raised`], which the running command selects on: it kills every tree
//!    and returns its exit code;
//! 3. starts a watchdog thread that exits the process after [`WATCHDOG`] whatever
//!    state the runtime is in. By then the kills were sent; anything left is the
//!    containment's: the shared guard `cgroup.kill`s every cgroup and each keeper kills
//!    its tree when the supervisor dies.
//!
//! Why a hook and not `panic = "abort"`: abort leaves the ending to the containment,
//! which does not cover every tier (a tree spawned with `"containment":
//! "process_group"` has no guard or keeper), and a profile setting does not reach the
//! test copy of the binary. See docs/DECISIONS.md.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// How long after a panic the process exits at the latest.
pub const WATCHDOG: Duration = Duration::from_secs(2);

/// The exit code of the `kennel serve` process after a panic (as Rust's own).
pub const EXIT_PANIC: i32 = 101;

static RAISED: AtomicBool = AtomicBool::new(false);
static NOTIFY: Notify = Notify::const_new();
static EXIT_CODE: AtomicI32 = AtomicI32::new(EXIT_PANIC);

/// Installs the panic hook. `code` is the exit code the watchdog uses.
pub fn install(code: i32) {
    EXIT_CODE.store(code, Ordering::Relaxed);
    std::panic::set_hook(Box::new(|info| {
        tracing::error!("internal error (a bug, please report it): {info}; ending every tree");
        raise();
    }));
}

/// Starts the fatal teardown (idempotent): wakes [`raised`] and arms the watchdog.
pub fn raise() {
    if RAISED.swap(true, Ordering::AcqRel) {
        return;
    }
    NOTIFY.notify_waiters();
    let watchdog = std::thread::Builder::new()
        .name("kennel-watchdog".into())
        .spawn(|| {
            std::thread::sleep(WATCHDOG);
            crate::log::flush();
            std::process::exit(EXIT_CODE.load(Ordering::Relaxed));
        });
    if watchdog.is_err() {
        crate::log::flush();
        std::process::exit(EXIT_CODE.load(Ordering::Relaxed));
    }
}

/// Resolves once a panic happened (at once if one already did).
///
/// # Cancel safety
///
/// Cancel safe.
pub async fn raised() {
    loop {
        let notified = NOTIFY.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if RAISED.load(Ordering::Acquire) {
            return;
        }
        notified.await;
    }
}

/// Test seam: in debug builds, `KENNEL_TEST_PANIC=<place>` makes `place` panic, so the
/// tests can check the policy above end to end. Release builds ignore it.
pub(crate) fn test_panic(place: &str) {
    #[cfg(debug_assertions)]
    {
        static PLACE: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
        let wanted = PLACE.get_or_init(|| std::env::var("KENNEL_TEST_PANIC").ok());
        if wanted.as_deref() == Some(place) {
            panic!("KENNEL_TEST_PANIC={place}");
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = place;
}
