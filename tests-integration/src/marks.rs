//! Trees tagged with an environment marker and found again through `/proc/*/environ`
//! (Linux), and the checks that skip a test the host cannot run with a note — or fail
//! it where CI says the feature must be there.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use kennel::Containment;

/// A marker unique to this process and call: `KENNEL_TEST_MARK=<pid>-<n>`, as the
/// (name, value) pair to set on a tree.
pub fn marker() -> (String, String) {
    static N: AtomicU32 = AtomicU32::new(0);
    let value = format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    ("KENNEL_TEST_MARK".to_owned(), value)
}

/// Pids of live (non-zombie) processes carrying the marker.
pub fn marked(mark: &(String, String)) -> Vec<u32> {
    crate::live_with_env_entry(&format!("{}={}", mark.0, mark.1))
}

/// Wait (polling /proc) until nothing carries the marker; panic with the survivors
/// (killed first, so a failure leaves nothing behind).
pub fn assert_no_survivors(mark: &(String, String), within: Duration, what: &str) {
    let mut left = Vec::new();
    let gone = crate::wait_until(within, || {
        left = marked(mark);
        left.is_empty()
    });
    if !gone {
        let described: Vec<_> = left.iter().map(|&p| (p, crate::describe(p))).collect();
        crate::kill_pids(&left);
        panic!("{what}: survivors after {within:?}: {described:?}");
    }
}

/// Whether a writable cgroup v2 is here; if not, a note that `what` is not tested (or a
/// failure, with `KENNEL_REQUIRE_CGROUP=1`).
pub fn cgroup_available(what: &str) -> bool {
    kennel::available_containment().contains(&Containment::Cgroup)
        || not_tested("KENNEL_REQUIRE_CGROUP", "no writable cgroup v2 here", what)
}

/// `false`, with a note that `what` is not tested because `missing` — or a failure when
/// the environment variable `require` is set (CI sets it where the feature must exist).
pub fn not_tested(require: &str, missing: &str, what: &str) -> bool {
    assert!(
        std::env::var_os(require).is_none(),
        "{require} is set but {missing}: {what} cannot be tested"
    );
    eprintln!("note: {missing}; {what} is not tested");
    false
}
