//! The run loop's phases, decided against a scripted fake tree under paused time: no
//! process is started, and every instant below is exact (the clock only moves when
//! every task waits).

use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[cfg(unix)]
use tokio::io::AsyncWriteExt as _;
use tokio::sync::Notify;
use tokio::time::{sleep, sleep_until, Instant};

use super::run::{POLL_MAX, POLL_MIN, POST_KILL_EOF_WINDOW, SETTLE};
use super::spawn::{supervise, Pipes};
use super::{Child, Event};
use crate::sys::imp::{PipeReader, Protection};
use crate::tree::{Tree, TreeSignalError};
use crate::{
    Command, Containment, Drain, EndReason, Escapee, ExitStatus, Ladder, OutputCap, RunError,
    Signal, SignalErrorKind, DEFAULT_GRACE,
};

const PID: u32 = 4242;

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// A fake status for a tree ended by `signal` (the numbers only need to differ).
fn killed_by(signal: Signal) -> ExitStatus {
    let n = match signal {
        Signal::Kill => 9,
        Signal::Term => 15,
        Signal::Int => 2,
        _ => 99,
    };
    ExitStatus {
        code: None,
        signal: Some(n),
    }
}

/// What the fake tree does, set up before the run.
#[derive(Default)]
struct Script {
    /// When the leader exits on its own (never when `None`).
    exit_after: Option<Duration>,
    /// Its exit code then.
    code: i32,
    /// Pids of members that outlive the leader.
    members: Vec<u32>,
    /// How long the members outlive a natural exit (until killed when `None`).
    linger: Option<Duration>,
    /// After a natural exit, how long the tree still reports itself alive without
    /// naming a process (a cgroup's `populated 1` lag).
    ghost: Option<Duration>,
    /// Signals (besides `Kill`) that end the whole tree.
    obeys: Vec<Signal>,
    /// Signals the platform cannot send.
    unsupported: Vec<Signal>,
    /// Signals the OS refuses.
    refuses: Vec<Signal>,
    /// Waiting for the leader fails.
    wait_fails: bool,
    /// Things the tree's processes hold (pipe write ends): dropped when it ends.
    holders: Vec<Box<dyn Send>>,
}

/// What happened to the fake tree, for the assertions.
struct State {
    t0: Instant,
    leader_until: Option<Instant>,
    members_until: Option<Instant>,
    ghost_until: Option<Instant>,
    status: ExitStatus,
    script: Script,
    /// Every signal asked for, with when (since the spawn).
    log: Vec<(Duration, Signal)>,
    released: bool,
    swept: bool,
    reaped: Option<Duration>,
}

impl State {
    fn alive(until: Option<Instant>, now: Instant) -> bool {
        until.is_none_or(|t| now < t)
    }

    fn leader_alive(&self, now: Instant) -> bool {
        Self::alive(self.leader_until, now)
    }

    fn members_alive(&self, now: Instant) -> bool {
        !self.script.members.is_empty() && Self::alive(self.members_until, now)
    }

    fn tree_alive(&self, now: Instant) -> bool {
        self.leader_alive(now)
            || self.members_alive(now)
            || self.ghost_until.is_some_and(|t| now < t)
    }

    /// End the whole tree now (and close what it held).
    fn end(&mut self, signal: Signal, now: Instant) {
        if self.leader_alive(now) {
            self.leader_until = Some(now);
            self.status = killed_by(signal);
        }
        self.members_until = Some(now);
        self.ghost_until = None;
        self.script.holders.clear();
    }
}

/// A scripted [`Tree`].
struct FakeTree {
    state: Arc<Mutex<State>>,
    notify: Arc<Notify>,
}

impl FakeTree {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }
}

impl Tree for FakeTree {
    fn pid(&self) -> u32 {
        PID
    }

    fn containment(&self) -> Containment {
        Containment::Group
    }

    fn layers(&self) -> Vec<Containment> {
        vec![Containment::Group]
    }

    fn protection(&self) -> Protection {
        no_protection()
    }

    fn wait_exit(&mut self) -> impl Future<Output = io::Result<ExitStatus>> + Send {
        let (state, notify) = (self.state.clone(), self.notify.clone());
        async move {
            loop {
                let notified = notify.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                let until = {
                    let s = state.lock().unwrap();
                    if s.script.wait_fails {
                        return Err(io::Error::other("the fake cannot wait"));
                    }
                    if !s.leader_alive(Instant::now()) {
                        return Ok(s.status);
                    }
                    s.leader_until
                };
                tokio::select! {
                    _ = notified => {}
                    _ = sleep_until_opt(until) => {}
                }
            }
        }
    }

    fn assume_exited(&mut self, status: ExitStatus) {
        let mut s = self.lock();
        s.leader_until = Some(Instant::now());
        s.status = status;
    }

    fn signal_tree(&mut self, signal: Signal) -> Result<(), TreeSignalError> {
        let now = Instant::now();
        let mut s = self.lock();
        let at = now - s.t0;
        s.log.push((at, signal));
        if s.script.unsupported.contains(&signal) {
            return Err(TreeSignalError::Unsupported);
        }
        if s.script.refuses.contains(&signal) {
            return Err(io::Error::other("the fake refuses").into());
        }
        if signal == Signal::Kill || s.script.obeys.contains(&signal) {
            s.end(signal, now);
            drop(s);
            self.notify.notify_waiters();
        }
        Ok(())
    }

    fn tree_alive(&mut self) -> bool {
        self.lock().tree_alive(Instant::now())
    }

    fn changed(&self) -> impl Future<Output = ()> + Send {
        let notify = self.notify.clone();
        let now = Instant::now();
        let next = {
            let s = self.lock();
            [s.leader_until, s.members_until, s.ghost_until]
                .into_iter()
                .flatten()
                .filter(|t| *t > now)
                .min()
        };
        async move {
            tokio::select! {
                _ = notify.notified() => {}
                _ = sleep_until_opt(next) => {}
            }
        }
    }

    fn leftovers(&mut self) -> Vec<u32> {
        let s = self.lock();
        if s.members_alive(Instant::now()) {
            s.script.members.clone()
        } else {
            Vec::new()
        }
    }

    fn release_leftovers(&mut self) {
        self.lock().released = true;
    }

    fn sweep_escapees(&mut self) -> Vec<Escapee> {
        self.lock().swept = true;
        Vec::new()
    }

    fn reap(&mut self) -> impl Future<Output = ()> + Send {
        let mut s = self.lock();
        s.reaped = Some(Instant::now() - s.t0);
        std::future::ready(())
    }
}

fn no_protection() -> Protection {
    #[cfg(unix)]
    let protection = Protection::None;
    #[cfg(windows)]
    let protection = Protection;
    protection
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// A pipe: the write end for the tree (or the test) to hold, the read end for the
/// supervisor.
#[cfg(unix)]
fn pipe() -> (tokio::net::unix::pipe::Sender, PipeReader) {
    tokio::net::unix::pipe::pipe().unwrap()
}

/// Supervise a fake tree run by `script`, as `cmd` asks, with `stdout` as its stdout.
fn start(cmd: &Command, script: Script, stdout: Option<PipeReader>) -> (Child, Probe) {
    let t0 = Instant::now();
    let leader_until = script.exit_after.map(|d| t0 + d);
    let members_until = match (leader_until, script.linger) {
        (Some(exit), Some(linger)) => Some(exit + linger),
        _ => None,
    };
    let ghost_until = match (leader_until, script.ghost) {
        (Some(exit), Some(ghost)) => Some(exit + ghost),
        _ => None,
    };
    let status = ExitStatus {
        code: Some(script.code),
        signal: None,
    };
    let state = Arc::new(Mutex::new(State {
        t0,
        leader_until,
        members_until,
        ghost_until,
        status,
        script,
        log: Vec::new(),
        released: false,
        swept: false,
        reaped: None,
    }));
    let notify = Arc::new(Notify::new());
    tokio::spawn(natural_end(state.clone(), notify.clone()));
    let tree = FakeTree {
        state: state.clone(),
        notify,
    };
    let pipes = Pipes {
        stdin: None,
        stdout,
        stderr: None,
    };
    (supervise(cmd, tree, pipes, t0), Probe(state))
}

/// The tree's own clock: once it has ended by itself, what it held is closed.
async fn natural_end(state: Arc<Mutex<State>>, notify: Arc<Notify>) {
    loop {
        let next = {
            let mut s = state.lock().unwrap();
            let now = Instant::now();
            if !s.tree_alive(now) {
                s.script.holders.clear();
                drop(s);
                notify.notify_waiters();
                return;
            }
            [s.leader_until, s.members_until, s.ghost_until]
                .into_iter()
                .flatten()
                .filter(|t| *t > now)
                .min()
        };
        match next {
            Some(at) => {
                sleep_until(at).await;
                notify.notify_waiters();
            }
            None => return,
        }
    }
}

/// A look at the fake tree from the test.
struct Probe(Arc<Mutex<State>>);

impl Probe {
    fn log(&self) -> Vec<(Duration, Signal)> {
        self.0.lock().unwrap().log.clone()
    }

    fn reaped(&self) -> Option<Duration> {
        self.0.lock().unwrap().reaped
    }

    fn released(&self) -> bool {
        self.0.lock().unwrap().released
    }

    fn swept(&self) -> bool {
        self.0.lock().unwrap().swept
    }
}

fn forever(obeys: &[Signal]) -> Script {
    Script {
        obeys: obeys.to_vec(),
        ..Script::default()
    }
}

fn exits_after(s: f64, code: i32) -> Script {
    Script {
        exit_after: Some(secs(s)),
        code,
        ..Script::default()
    }
}

fn cmd() -> Command {
    Command::new("fake")
}

#[tokio::test(start_paused = true)]
async fn a_natural_exit_is_reaped_before_the_exit_event() {
    let (mut child, probe) = start(&cmd(), exits_after(1.0, 3), None);
    let outcome = child.wait().await;
    assert_eq!(outcome.status.code, Some(3));
    assert_eq!(outcome.reason, EndReason::Exited);
    assert_eq!(outcome.ladder_step, None);
    assert!(!outcome.forced);
    assert_eq!(outcome.drain, Drain::Complete);
    assert_eq!(outcome.wall_time, secs(1.0));
    assert_eq!(probe.reaped(), Some(secs(1.0)));
    assert!(probe.log().is_empty());
    assert!(probe.swept(), "every run ends with a sweep");
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    // Fused.
    assert_eq!(child.wait().await, outcome);
}

#[cfg(unix)]
#[tokio::test(start_paused = true)]
async fn output_written_before_the_exit_comes_before_the_exit_event() {
    let (mut tx, rx) = pipe();
    tx.write_all(b"hello").await.unwrap();
    let mut script = exits_after(1.0, 0);
    script.holders.push(Box::new(tx));
    let (mut child, _probe) = start(&cmd(), script, Some(rx));
    assert_eq!(
        child.next_event().await,
        Some(Event::Stdout("hello".into()))
    );
    let Some(Event::Exit(outcome)) = child.next_event().await else {
        panic!("the exit event comes last");
    };
    assert_eq!(outcome.stdout.bytes, 5);
    assert_eq!(outcome.drain, Drain::Complete);
    assert_eq!(outcome.wall_time, secs(1.0));
    assert_eq!(child.next_event().await, None);
}

#[cfg(unix)]
#[tokio::test(start_paused = true)]
async fn the_drain_timeout_gives_up_on_a_pipe_held_past_the_exit() {
    // An escaped holder (here: the test) keeps stdout open after the tree is gone.
    let (held, rx) = pipe();
    let cmd = cmd().drain_timeout(secs(2.0));
    let (mut child, probe) = start(&cmd, exits_after(1.0, 0), Some(rx));
    let outcome = child.wait().await;
    assert_eq!(outcome.drain, Drain::Timeout);
    assert_eq!(outcome.reason, EndReason::Exited);
    assert_eq!(outcome.ladder_step, None, "nothing of the tree was left");
    // The drain timeout, then the short window given to a pipe after a teardown.
    assert_eq!(outcome.wall_time, secs(3.0) + POST_KILL_EOF_WINDOW);
    assert!(probe.log().is_empty());
    drop(held);
}

#[tokio::test(start_paused = true)]
async fn a_tree_that_names_no_process_may_settle_before_it_counts_as_left_over() {
    let mut script = exits_after(1.0, 0);
    script.ghost = Some(SETTLE / 2);
    let (mut child, probe) = start(&cmd(), script, None);
    let outcome = child.wait().await;
    assert_eq!(
        outcome.ladder_step, None,
        "a clean exit never reports a ladder"
    );
    assert!(outcome.leftovers_killed.is_empty());
    assert!(probe.log().is_empty());
    let settled = secs(1.0) + SETTLE / 2;
    assert!(
        outcome.wall_time >= settled && outcome.wall_time <= settled + POLL_MIN,
        "{:?}",
        outcome.wall_time
    );
}

#[tokio::test(start_paused = true)]
async fn a_tree_that_stays_populated_past_the_settle_goes_through_the_ladder() {
    let mut script = exits_after(1.0, 0);
    script.ghost = Some(SETTLE * 10);
    script.obeys = vec![Signal::Term];
    let (mut child, probe) = start(&cmd(), script, None);
    let outcome = child.wait().await;
    assert_eq!(outcome.reason, EndReason::Exited);
    assert_eq!(outcome.ladder_step, Some(0));
    let log = probe.log();
    assert_eq!(log.len(), 2, "{log:?}");
    let settled = secs(1.0) + SETTLE;
    assert!(
        log[0].0 >= settled && log[0].0 <= settled + POLL_MIN,
        "{log:?}"
    );
    assert_eq!(log[0].1, Signal::Term);
}

#[tokio::test(start_paused = true)]
async fn members_left_after_a_natural_exit_go_through_the_ladder() {
    let mut script = exits_after(1.0, 0);
    script.members = vec![11, 12];
    script.obeys = vec![Signal::Term];
    let (mut child, probe) = start(&cmd(), script, None);
    let outcome = child.wait().await;
    assert_eq!(outcome.reason, EndReason::Exited);
    assert_eq!(outcome.status.code, Some(0));
    assert_eq!(outcome.leftovers_killed, vec![11, 12]);
    assert_eq!(outcome.ladder_step, Some(0));
    assert!(!outcome.forced);
    assert_eq!(
        probe.log(),
        vec![(secs(1.0), Signal::Term), (secs(1.0), Signal::Cont)]
    );
}

#[tokio::test(start_paused = true)]
async fn kept_leftovers_are_released_instead_of_killed() {
    let mut script = exits_after(1.0, 0);
    script.members = vec![11];
    let (mut child, probe) = start(&cmd().keep_leftovers(true), script, None);
    let outcome = child.wait().await;
    assert_eq!(outcome.ladder_step, None);
    assert!(outcome.leftovers_killed.is_empty());
    assert!(probe.log().is_empty());
    assert!(probe.released());
    assert!(!probe.swept(), "kept leftovers are not swept either");
    assert_eq!(outcome.wall_time, secs(1.0));
}

#[tokio::test(start_paused = true)]
async fn a_tree_that_obeys_the_first_rung_is_not_forced() {
    let (mut child, probe) = start(&cmd(), forever(&[Signal::Term]), None);
    sleep(secs(1.0)).await;
    child.cancel();
    let outcome = child.wait().await;
    assert_eq!(outcome.reason, EndReason::Cancelled);
    assert_eq!(outcome.status, killed_by(Signal::Term));
    assert_eq!(outcome.ladder_step, Some(0));
    assert!(!outcome.forced);
    assert_eq!(
        probe.log(),
        vec![(secs(1.0), Signal::Term), (secs(1.0), Signal::Cont)]
    );
    assert_eq!(outcome.wall_time, secs(1.0));
}

#[tokio::test(start_paused = true)]
async fn the_default_ladder_kills_after_the_default_grace() {
    let (mut child, probe) = start(&cmd(), forever(&[]), None);
    child.cancel();
    let outcome = child.wait().await;
    assert_eq!(
        probe.log(),
        vec![
            (Duration::ZERO, Signal::Term),
            (Duration::ZERO, Signal::Cont),
            (DEFAULT_GRACE, Signal::Kill)
        ]
    );
    assert_eq!(outcome.status, killed_by(Signal::Kill));
    assert_eq!(outcome.ladder_step, Some(1));
    assert!(outcome.forced);
    assert_eq!(outcome.wall_time, DEFAULT_GRACE);
}

#[tokio::test(start_paused = true)]
async fn the_ladder_walks_its_rungs_on_time() {
    let ladder = Ladder::new()
        .then(Signal::Int, secs(2.0))
        .then(Signal::Term, secs(1.0));
    let (mut child, probe) = start(&cmd().ladder(ladder), forever(&[]), None);
    sleep(secs(1.0)).await;
    child.cancel();
    let outcome = child.wait().await;
    assert_eq!(
        probe.log(),
        vec![
            (secs(1.0), Signal::Int),
            (secs(1.0), Signal::Cont),
            (secs(3.0), Signal::Term),
            (secs(4.0), Signal::Kill)
        ]
    );
    assert_eq!(outcome.ladder_step, Some(2));
    assert!(outcome.forced);
    assert_eq!(outcome.reason, EndReason::Cancelled);
}

#[tokio::test(start_paused = true)]
async fn a_second_cancel_jumps_to_the_forceful_rung() {
    let (mut child, probe) = start(&cmd(), forever(&[]), None);
    sleep(secs(1.0)).await;
    child.cancel();
    sleep(secs(0.5)).await;
    child.cancel();
    let outcome = child.wait().await;
    assert_eq!(
        probe.log(),
        vec![
            (secs(1.0), Signal::Term),
            (secs(1.0), Signal::Cont),
            (secs(1.5), Signal::Kill)
        ]
    );
    assert_eq!(outcome.reason, EndReason::Cancelled);
    assert_eq!(outcome.ladder_step, Some(1));
    assert!(outcome.forced);
    assert_eq!(outcome.wall_time, secs(1.5));
}

#[tokio::test(start_paused = true)]
async fn cancel_with_uses_the_given_ladder() {
    let (child, probe) = start(&cmd(), forever(&[]), None);
    let ladder = Ladder::graceful(Signal::Int, secs(0.25));
    child.controller().cancel_with(ladder);
    let outcome = child.output().await.outcome;
    assert_eq!(
        probe.log(),
        vec![
            (Duration::ZERO, Signal::Int),
            (Duration::ZERO, Signal::Cont),
            (secs(0.25), Signal::Kill)
        ]
    );
    assert_eq!(outcome.ladder_step, Some(1));
}

#[tokio::test(start_paused = true)]
async fn kill_goes_straight_to_the_forceful_rung() {
    let (mut child, probe) = start(&cmd(), forever(&[Signal::Term]), None);
    sleep(secs(1.0)).await;
    child.kill();
    let outcome = child.wait().await;
    assert_eq!(probe.log(), vec![(secs(1.0), Signal::Kill)]);
    assert_eq!(outcome.reason, EndReason::Killed);
    assert_eq!(
        outcome.ladder_step,
        Some(Ladder::default().forceful_index())
    );
    assert!(outcome.forced);
    assert_eq!(outcome.status, killed_by(Signal::Kill));
}

#[tokio::test(start_paused = true)]
async fn a_timeout_while_running_runs_the_ladder() {
    let (mut child, probe) = start(&cmd().timeout(secs(2.0)), forever(&[Signal::Term]), None);
    let outcome = child.wait().await;
    assert_eq!(outcome.reason, EndReason::TimedOut);
    assert_eq!(
        probe.log(),
        vec![(secs(2.0), Signal::Term), (secs(2.0), Signal::Cont)]
    );
    assert_eq!(outcome.wall_time, secs(2.0));
}

#[cfg(unix)]
#[tokio::test(start_paused = true)]
async fn a_timeout_during_the_drain_tears_the_rest_down_and_the_reason_stays_exited() {
    // The leader exits at 1 s; a member holds stdout until it is told to go.
    let (tx, rx) = pipe();
    let mut script = exits_after(1.0, 0);
    script.members = vec![11];
    script.obeys = vec![Signal::Term];
    script.holders.push(Box::new(tx));
    let cmd = cmd().timeout(secs(2.0)).drain_timeout(secs(10.0));
    let (mut child, probe) = start(&cmd, script, Some(rx));
    let outcome = child.wait().await;
    assert_eq!(outcome.reason, EndReason::Exited);
    assert_eq!(outcome.status.code, Some(0));
    assert_eq!(
        probe.log(),
        vec![(secs(2.0), Signal::Term), (secs(2.0), Signal::Cont)]
    );
    assert_eq!(outcome.ladder_step, Some(0));
    assert_eq!(outcome.drain, Drain::Complete, "the holder died, EOF came");
    assert_eq!(outcome.wall_time, secs(2.0));
}

#[cfg(unix)]
#[tokio::test(start_paused = true)]
async fn a_cancel_during_the_drain_ends_the_wait() {
    let (tx, rx) = pipe();
    let mut script = exits_after(1.0, 0);
    script.members = vec![11];
    script.obeys = vec![Signal::Term];
    script.holders.push(Box::new(tx));
    let (mut child, probe) = start(&cmd().drain_timeout(secs(10.0)), script, Some(rx));
    sleep(secs(1.5)).await;
    child.cancel();
    let outcome = child.wait().await;
    assert_eq!(outcome.reason, EndReason::Cancelled);
    assert_eq!(
        outcome.status.code,
        Some(0),
        "the leader had exited by itself"
    );
    assert_eq!(
        probe.log(),
        vec![(secs(1.5), Signal::Term), (secs(1.5), Signal::Cont)]
    );
    assert_eq!(outcome.drain, Drain::Complete);
}

#[cfg(unix)]
#[tokio::test(start_paused = true)]
async fn an_output_cap_with_the_kill_policy_kills_the_tree() {
    let (mut tx, rx) = pipe();
    tx.write_all(&[b'x'; 100]).await.unwrap();
    let mut script = forever(&[Signal::Term]);
    script.holders.push(Box::new(tx));
    let cmd = cmd().stdout_cap(OutputCap::kill(10));
    let (mut child, probe) = start(&cmd, script, Some(rx));
    let outcome = child.wait().await;
    assert_eq!(outcome.reason, EndReason::OutputCap);
    assert_eq!(probe.log(), vec![(Duration::ZERO, Signal::Kill)]);
    assert!(outcome.forced);
    assert!(outcome.stdout.cap_hit);
    assert_eq!(outcome.stdout.bytes, 10);
    assert_eq!(outcome.stdout.dropped, 90);
}

#[cfg(unix)]
#[tokio::test(start_paused = true)]
async fn a_truncating_cap_does_not_end_the_run() {
    let (mut tx, rx) = pipe();
    tx.write_all(&[b'x'; 100]).await.unwrap();
    let mut script = exits_after(1.0, 0);
    script.holders.push(Box::new(tx));
    let cmd = cmd().stdout_cap(OutputCap::truncate(10));
    let (mut child, probe) = start(&cmd, script, Some(rx));
    let outcome = child.wait().await;
    assert_eq!(outcome.reason, EndReason::Exited);
    assert!(probe.log().is_empty());
    assert!(outcome.stdout.cap_hit);
    assert_eq!(outcome.wall_time, secs(1.0));
}

#[cfg(unix)]
#[tokio::test(start_paused = true)]
async fn signals_reach_the_tree_until_it_has_ended() {
    // The run outlives the tree: an escaped holder keeps stdout open for the drain.
    let (held, rx) = pipe();
    let mut script = exits_after(1.0, 0);
    script.unsupported = vec![Signal::Winch];
    let (mut child, probe) = start(&cmd().drain_timeout(secs(5.0)), script, Some(rx));
    let controller = child.controller();
    sleep(secs(0.5)).await;
    controller.signal(Signal::Usr1).await.unwrap();
    let e = controller.signal(Signal::Winch).await.unwrap_err();
    assert_eq!(e.kind, SignalErrorKind::Unsupported);
    sleep(secs(1.5)).await;
    assert!(!controller.is_finished(), "still draining");
    let e = controller.signal(Signal::Usr1).await.unwrap_err();
    assert_eq!(e.kind, SignalErrorKind::Finished, "{e}");
    assert_eq!(e.pid, PID);
    assert_eq!(e.elapsed, secs(2.0));
    assert_eq!(
        probe.log(),
        vec![(secs(0.5), Signal::Usr1), (secs(0.5), Signal::Winch)],
        "nothing is sent to an exited tree"
    );
    let outcome = child.wait().await;
    let e = controller.signal(Signal::Usr1).await.unwrap_err();
    assert_eq!(e.kind, SignalErrorKind::Finished);
    assert_eq!(outcome.drain, Drain::Timeout);
    drop(held);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_child_kills_and_reaps_the_tree() {
    let (child, probe) = start(&cmd(), forever(&[Signal::Term]), None);
    let controller = child.controller();
    sleep(secs(1.0)).await;
    drop(child);
    controller.tree_ended().await;
    while probe.reaped().is_none() {
        sleep(POLL_MAX).await;
    }
    assert_eq!(probe.log(), vec![(secs(1.0), Signal::Kill)]);
    assert_eq!(probe.reaped(), Some(secs(1.0)));
}

#[tokio::test(start_paused = true)]
async fn a_failed_wait_kills_the_tree_and_says_so() {
    let mut script = forever(&[]);
    script.wait_fails = true;
    let (mut child, probe) = start(&cmd(), script, None);
    let outcome = child.wait().await;
    assert_eq!(probe.log(), vec![(Duration::ZERO, Signal::Kill)]);
    assert_eq!(outcome.reason, EndReason::Killed);
    assert_eq!(
        outcome.status,
        ExitStatus {
            code: None,
            signal: None
        }
    );
    let [RunError::Wait { pid, .. }] = &outcome.errors[..] else {
        panic!("{:?}", outcome.errors);
    };
    assert_eq!(*pid, PID);
    assert_eq!(
        outcome.errors[0].report(),
        "cannot learn how pid 4242 exited (0.000s after spawn); the tree was killed: \
         the fake cannot wait"
    );
}

#[tokio::test(start_paused = true)]
async fn a_refused_ladder_signal_is_reported_and_the_ladder_goes_on() {
    let mut script = forever(&[]);
    script.refuses = vec![Signal::Term];
    let (mut child, probe) = start(&cmd().grace(Signal::Term, secs(1.0)), script, None);
    child.cancel();
    let outcome = child.wait().await;
    assert_eq!(
        probe.log(),
        vec![
            (Duration::ZERO, Signal::Term),
            (Duration::ZERO, Signal::Cont),
            (secs(1.0), Signal::Kill)
        ]
    );
    let [RunError::Signal {
        signal: Signal::Term,
        kind: SignalErrorKind::Os,
        ..
    }] = &outcome.errors[..]
    else {
        panic!("{:?}", outcome.errors);
    };
    assert_eq!(
        outcome.errors[0].report(),
        "cannot send SIGTERM to the tree of pid 4242: the operating system refused \
         (0.000s after spawn): the fake refuses"
    );
}
