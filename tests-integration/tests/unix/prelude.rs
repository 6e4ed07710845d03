//! Shared helpers: spawning the fixture, collecting events until a condition, and
//! asserting that a tree is gone.

use std::time::{Duration, Instant};

pub use kennel::{
    Child, Command, Drain, EndReason, Event, Ladder, Outcome, OutputCap, Signal, StdinMode,
};
pub use kennel_tests::{
    describe, has_line, is_alive, parse_pid_lines, verify_binary_prefix, verify_text_prefix,
    wait_all_reaped, PidLine,
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

/// Output gathered from a child's events.
#[derive(Default, Debug)]
pub struct Seen {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub outcome: Option<Outcome>,
}

impl Seen {
    pub fn pids(&self) -> Vec<u32> {
        parse_pid_lines(&self.stdout)
            .iter()
            .map(|l| l.pid)
            .collect()
    }

    pub fn lines(&self) -> Vec<PidLine> {
        parse_pid_lines(&self.stdout)
    }

    fn absorb(&mut self, event: Event) {
        match event {
            Event::Stdout(b) => self.stdout.extend_from_slice(&b),
            Event::Stderr(b) => self.stderr.extend_from_slice(&b),
            Event::Exit(o) => self.outcome = Some(o),
        }
    }
}

/// Read events until `done(seen)` holds; panics (with what was seen) at the deadline or
/// if the run ends first.
pub async fn read_until(child: &mut Child, seen: &mut Seen, mut done: impl FnMut(&Seen) -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done(seen) {
        let event = tokio::time::timeout_at(deadline.into(), child.next_event())
            .await
            .unwrap_or_else(|_| panic!("condition not met within {PATIENCE:?}; seen {seen:?}"));
        match event {
            Some(Event::Exit(o)) => panic!("run ended before the condition: {o:?}; seen {seen:?}"),
            Some(e) => seen.absorb(e),
            None => panic!("event stream ended; seen {seen:?}"),
        }
    }
}

/// Read until `n` pid lines have been printed; returns them.
pub async fn read_pids(child: &mut Child, seen: &mut Seen, n: usize) -> Vec<u32> {
    read_until(child, seen, |s| s.lines().len() >= n).await;
    seen.pids()
}

/// Read every remaining event; returns the outcome (checks it is the last event).
pub async fn read_to_end(child: &mut Child, seen: &mut Seen) -> Outcome {
    let outcome = tokio::time::timeout(PATIENCE * 2, async {
        while let Some(event) = child.next_event().await {
            seen.absorb(event);
        }
        seen.outcome.clone()
    })
    .await
    .unwrap_or_else(|_| panic!("no outcome within {:?}; seen {seen:?}", PATIENCE * 2));
    let outcome = outcome.expect("an Exit event");
    assert!(child.next_event().await.is_none(), "nothing after Exit");
    outcome
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
