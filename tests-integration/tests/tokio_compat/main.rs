//! The tokio-shaped API (`kennel::compat`) tested the way a tokio user tests
//! `tokio::process`: every test in `behaviours.rs` is written once and run twice, against
//! `tokio::process` and against `kennel::compat`, with only the import changed
//! ([`both!`]). `tree.rs` holds the checks only kennel passes (a grandchild does not
//! outlive a kill or a drop), each also asserting what tokio does instead.
//!
//! This binary never calls `kennel::keeper::init()`, as a tokio user's would not.
#![cfg(target_os = "linux")]

mod behaviours;
mod stdio;
mod tree;

use std::time::Duration;

pub use kennel_tests::{is_alive, kill_pids, parse_pid_lines};

/// The fixture binary (see its module docs for the `pid <pid> <ppid> <role>` lines).
pub const FIXTURE: &str = env!("CARGO_BIN_EXE_kennel-fixture");

/// Bound for anything that should take milliseconds on a loaded machine.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Instantiate one test body twice: module `$name` gets `tokio` (with `p` =
/// `tokio::process`) and `kennel` (with `p` = `kennel::compat`); `IS_KENNEL` says
/// which, for the tree checks whose outcome differs.
macro_rules! both {
    ($(#[doc = $doc:literal])* async fn $name:ident() $body:block) => {
        $(#[doc = $doc])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn tokio() {
                #[allow(unused_imports)]
                use tokio::process as p;
                #[allow(dead_code)]
                const IS_KENNEL: bool = false;
                $body
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn kennel() {
                #[allow(unused_imports)]
                use kennel::compat as p;
                #[allow(dead_code)]
                const IS_KENNEL: bool = true;
                $body
            }
        }
    };
}
pub(crate) use both;

/// Poll `cond` until it holds or [`PATIENCE`] passes; `false` at the deadline.
pub async fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while tokio::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cond()
}

/// The pids of the `n` handshake lines read from `lines`.
pub async fn read_pids<R>(lines: &mut tokio::io::Lines<R>, n: usize) -> Vec<u32>
where
    R: tokio::io::AsyncBufRead + Unpin,
{
    let mut pids = Vec::new();
    while pids.len() < n {
        let line = tokio::time::timeout(PATIENCE, lines.next_line())
            .await
            .expect("a handshake line in time")
            .expect("reading the child's stdout")
            .expect("a line before EOF");
        let parsed = parse_pid_lines(format!("{line}\n").as_bytes());
        pids.extend(parsed.iter().map(|l| l.pid));
    }
    pids
}

/// Processes (not zombies) whose environment holds `marker=1`: every process of a
/// test's tree, whether or not it printed its pid.
pub fn marked(marker: &str) -> Vec<u32> {
    let needle = format!("{marker}=1");
    kennel_tests::all_pids()
        .into_iter()
        .filter(|&pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|&b| b == 0).any(|var| var == needle.as_bytes()))
                && is_alive(pid)
        })
        .collect()
}

/// A marker unique to this test process and call.
pub fn new_marker(test: &str) -> String {
    format!(
        "KENNEL_COMPAT_{}_{}",
        test.to_uppercase(),
        std::process::id()
    )
}
