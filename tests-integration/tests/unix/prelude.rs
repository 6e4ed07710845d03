//! Shared helpers: spawning the fixture, collecting events until a condition, and
//! asserting that a tree is gone.

use std::time::Duration;

pub use kennel::{
    Child, Command, Drain, EndReason, Event, Ladder, Outcome, OutputCap, Signal, StdinMode,
};
pub use kennel_tests::{
    describe, has_line, is_alive, parse_pid_lines, verify_binary_prefix, verify_text_prefix,
    wait_all_reaped,
};

/// The fixture binary.
pub const FIXTURE: &str = env!("CARGO_BIN_EXE_kennel-fixture");

/// The `kennel` CLI, built from the same library code as the real binary.
pub const KENNEL: &str = env!("CARGO_BIN_EXE_kennel-test-cli");

/// Generous bound for anything that should take milliseconds, so a loaded 2-core CI
/// machine never fails a correct run.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A fixture command.
pub fn fixture(args: &[&str]) -> Command {
    Command::new(FIXTURE).args(args)
}

/// The fixture's three-process tree (a root and two children) that ignores SIGTERM.
pub const TERM_IGNORING_TREE: &[&str] = &["tree", "--depth", "2", "--width", "2", "--ignore-term"];

pub use kennel_tests::events::Seen;

/// Read events until `done(seen)` holds; panics (with what was seen) after [`PATIENCE`]
/// or if the run ends first.
pub async fn read_until(child: &mut Child, seen: &mut Seen, done: impl FnMut(&Seen) -> bool) {
    kennel_tests::events::read_until(child, seen, PATIENCE, done).await
}

/// Read until `n` pid lines have been printed; returns them.
pub async fn read_pids(child: &mut Child, seen: &mut Seen, n: usize) -> Vec<u32> {
    read_until(child, seen, |s| s.lines().len() >= n).await;
    seen.pids()
}

/// Spawn `command` and read until `n` pid lines have been printed; returns the child,
/// what was seen, their pids and a guard that kills them should the test fail before
/// they are gone.
pub async fn spawn_ready(command: Command, n: usize) -> (Child, Seen, Vec<u32>, Cleanup) {
    let mut child = command.spawn().unwrap();
    let mut seen = Seen::default();
    let pids = read_pids(&mut child, &mut seen, n).await;
    let cleanup = Cleanup(pids.clone());
    (child, seen, pids, cleanup)
}

/// Spawn `command` and read every event: the outcome, and what was seen.
pub async fn run_to_end(command: Command) -> (Outcome, Seen) {
    let mut child = command.spawn().unwrap();
    let mut seen = Seen::default();
    let outcome = read_to_end(&mut child, &mut seen).await;
    (outcome, seen)
}

/// Read every remaining event; returns the outcome (checks it is the last event).
pub async fn read_to_end(child: &mut Child, seen: &mut Seen) -> Outcome {
    kennel_tests::events::read_to_end(child, seen, PATIENCE * 2).await
}

/// Every pid must be gone (not running; zombies count as gone, the reaper is not us)
/// right after the outcome, and fully reaped soon after.
pub fn assert_all_gone(pids: &[u32]) {
    let running: Vec<_> = pids
        .iter()
        .filter(|&&p| is_alive(p))
        .map(|&p| (p, describe(p)))
        .collect();
    assert!(
        running.is_empty(),
        "still running after the outcome: {running:?}"
    );
    if let Err(left) = wait_all_reaped(pids, PATIENCE) {
        panic!("not reaped (zombies or alive): {left:?}");
    }
}

/// Kill leftovers of a failed test so they don't disturb the next.
pub struct Cleanup(pub Vec<u32>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        kennel_tests::kill_pids(&self.0);
    }
}
