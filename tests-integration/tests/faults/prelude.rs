//! Shared bits of the fault tests.

use std::time::Duration;

pub use crate::sidecar::{
    assert_child_order, assert_gone, request, rss_kib, send_signal, spawn_request, Bystander,
    Sidecar, FIXTURE, KENNEL, PATIENCE,
};
pub use kennel_tests::{parse_pid_lines, SeqChecker};
pub use serde_json::{json, Value};

/// Shorter bound for conditions that take milliseconds.
pub const SHORT: Duration = Duration::from_secs(10);

/// Wait until the log holds `n` events satisfying `pred`; returns them.
pub async fn seen_n(
    sc: &mut Sidecar,
    what: &str,
    n: usize,
    pred: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    loop {
        let found: Vec<Value> = sc.log.iter().filter(|e| pred(e)).cloned().collect();
        if found.len() >= n {
            return found;
        }
        sc.wait_for(what, &pred).await;
    }
}
