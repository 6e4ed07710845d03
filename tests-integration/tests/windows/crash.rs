//! A crash is an unhandled exception: its NTSTATUS becomes the exit code, and kennel
//! passes all 32 bits through (Windows has no signals, so `signal` stays `None`) and
//! names it (`ExitStatus::ntstatus_name`).

use crate::prelude::*;

/// `STATUS_ACCESS_VIOLATION`.
const ACCESS_VIOLATION: u32 = 0xC000_0005;
/// `STATUS_STACK_BUFFER_OVERRUN`: what `__fastfail` (Rust's `abort()`) exits with.
const FAST_FAIL: u32 = 0xC000_0409;

async fn crash_code(how: &str) -> Outcome {
    let mut child = fixture(&["crash", how]).spawn().unwrap();
    let mut seen = Seen::default();
    let outcome = read_to_end(&mut child, &mut seen).await;
    assert_eq!(seen.lines().len(), 1, "the crash printed its line first");
    outcome
}

#[tokio::test]
async fn an_access_violation_is_reported_as_its_ntstatus() {
    let outcome = crash_code("access-violation").await;
    assert_eq!(outcome.reason, EndReason::Exited);
    assert!(!outcome.forced);
    assert_eq!(outcome.status.code, Some(ACCESS_VIOLATION as i32));
    assert_eq!(
        outcome.status.ntstatus_name(),
        Some("STATUS_ACCESS_VIOLATION")
    );
    assert_eq!(outcome.status.signal, None);
    assert!(!outcome.status.success());
}

#[tokio::test]
async fn abort_is_reported_as_its_ntstatus() {
    let outcome = crash_code("abort").await;
    assert_eq!(outcome.reason, EndReason::Exited);
    assert_eq!(outcome.status.code, Some(FAST_FAIL as i32));
    assert_eq!(
        outcome.status.ntstatus_name(),
        Some("STATUS_STACK_BUFFER_OVERRUN")
    );
}
