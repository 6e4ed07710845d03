//! Reading a library [`Child`]'s events in tests: what it printed and how it ended,
//! gathered until a condition holds, with a deadline. Shared by the Unix and Windows
//! test binaries (their preludes fix the deadline).

use std::time::{Duration, Instant};

use kennel::{Child, Event, Outcome};

use crate::pidline::{parse_pid_lines, PidLine};

/// Output gathered from a child's events.
#[derive(Default, Debug)]
pub struct Seen {
    /// Every stdout byte so far.
    pub stdout: Vec<u8>,
    /// Every stderr byte so far.
    pub stderr: Vec<u8>,
    /// The outcome, once the `Exit` event came.
    pub outcome: Option<Outcome>,
}

impl Seen {
    /// The pids of the fixture's pid lines on stdout so far.
    pub fn pids(&self) -> Vec<u32> {
        self.lines().iter().map(|l| l.pid).collect()
    }

    /// The fixture's pid lines on stdout so far.
    pub fn lines(&self) -> Vec<PidLine> {
        parse_pid_lines(&self.stdout)
    }

    /// Adds one event.
    pub fn absorb(&mut self, event: Event) {
        match event {
            Event::Stdout(b) => self.stdout.extend_from_slice(&b),
            Event::Stderr(b) => self.stderr.extend_from_slice(&b),
            Event::Exit(o) => self.outcome = Some(o),
        }
    }
}

/// Reads events until `done(seen)` holds; panics (with what was seen) after `patience`
/// or if the run ends first.
pub async fn read_until(
    child: &mut Child,
    seen: &mut Seen,
    patience: Duration,
    mut done: impl FnMut(&Seen) -> bool,
) {
    let deadline = Instant::now() + patience;
    while !done(seen) {
        let event = tokio::time::timeout_at(deadline.into(), child.next_event())
            .await
            .unwrap_or_else(|_| panic!("condition not met within {patience:?}; seen {seen:?}"));
        match event {
            Some(Event::Exit(o)) => panic!("run ended before the condition: {o:?}; seen {seen:?}"),
            Some(e) => seen.absorb(e),
            None => panic!("event stream ended; seen {seen:?}"),
        }
    }
}

/// Reads every remaining event within `patience`; returns the outcome (and checks it is
/// the last event).
pub async fn read_to_end(child: &mut Child, seen: &mut Seen, patience: Duration) -> Outcome {
    let outcome = tokio::time::timeout(patience, async {
        while let Some(event) = child.next_event().await {
            seen.absorb(event);
        }
        seen.outcome.clone()
    })
    .await
    .unwrap_or_else(|_| panic!("no outcome within {patience:?}; seen {seen:?}"));
    let outcome = outcome.expect("an Exit event");
    assert!(child.next_event().await.is_none(), "nothing after Exit");
    outcome
}
