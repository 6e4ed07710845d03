//! The scripted fake tree the run loop's tests run against, and the helpers to start
//! one.

use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::{sleep_until, Instant};

use crate::supervisor::spawn::{supervise, Pipes};
use crate::supervisor::Child;
use crate::sys::imp::{PipeReader, Protection};
use crate::tree::{Tree, TreeSignalError};
use crate::{Command, Containment, Escapee, ExitStatus, Signal};

pub(super) const PID: u32 = 4242;

pub(super) fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// A fake status for a tree ended by `signal` (the numbers only need to differ).
pub(super) fn killed_by(signal: Signal) -> ExitStatus {
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
pub(super) struct Script {
    /// When the leader exits on its own (never when `None`).
    pub(super) exit_after: Option<Duration>,
    /// Its exit code then.
    pub(super) code: i32,
    /// Pids of members that outlive the leader.
    pub(super) members: Vec<u32>,
    /// How long the members outlive a natural exit (until killed when `None`).
    pub(super) linger: Option<Duration>,
    /// After a natural exit, how long the tree still reports itself alive without
    /// naming a process (a cgroup's `populated 1` lag).
    pub(super) ghost: Option<Duration>,
    /// Signals (besides `Kill`) that end the whole tree.
    pub(super) obeys: Vec<Signal>,
    /// Signals the platform cannot send.
    pub(super) unsupported: Vec<Signal>,
    /// Signals the OS refuses.
    pub(super) refuses: Vec<Signal>,
    /// How many SIGKILLs the members outlive (processes that joined the group after
    /// the kill's walk, in effect); the leader dies of the first.
    pub(super) survives_kills: u32,
    /// Waiting for the leader fails.
    pub(super) wait_fails: bool,
    /// Things the tree's processes hold (pipe write ends): dropped when it ends.
    pub(super) holders: Vec<Box<dyn Send>>,
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

    /// The next scheduled change after `now` (a natural end of the leader, the members
    /// or the ghost).
    fn next_change(&self, now: Instant) -> Option<Instant> {
        [self.leader_until, self.members_until, self.ghost_until]
            .into_iter()
            .flatten()
            .filter(|t| *t > now)
            .min()
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
        if signal == Signal::Kill && s.script.survives_kills > 0 {
            // The leader dies; the members, which joined after the walk, do not.
            s.script.survives_kills -= 1;
            if s.leader_alive(now) {
                s.leader_until = Some(now);
                s.status = killed_by(signal);
            }
            drop(s);
            self.notify.notify_waiters();
            return Ok(());
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
        let next = self.lock().next_change(now);
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
pub(super) fn pipe() -> (tokio::net::unix::pipe::Sender, PipeReader) {
    tokio::net::unix::pipe::pipe().unwrap()
}

/// Supervise a fake tree run by `script`, as `cmd` asks, with `stdout` as its stdout.
pub(super) fn start(cmd: &Command, script: Script, stdout: Option<PipeReader>) -> (Child, Probe) {
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
    (supervise(cmd, tree, pipes, t0, Vec::new()), Probe(state))
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
            s.next_change(now)
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
pub(super) struct Probe(Arc<Mutex<State>>);

impl Probe {
    pub(super) fn log(&self) -> Vec<(Duration, Signal)> {
        self.0.lock().unwrap().log.clone()
    }

    pub(super) fn reaped(&self) -> Option<Duration> {
        self.0.lock().unwrap().reaped
    }

    pub(super) fn released(&self) -> bool {
        self.0.lock().unwrap().released
    }

    pub(super) fn swept(&self) -> bool {
        self.0.lock().unwrap().swept
    }
}

/// What the first rung sends at `at`: its signal, then `SIGCONT`.
pub(super) fn first_rung(at: Duration, signal: Signal) -> Vec<(Duration, Signal)> {
    vec![(at, signal), (at, Signal::Cont)]
}

/// The log of a ladder walked from `at`: its first rung (see [`first_rung`]), then the
/// `later` rungs' signals at their times.
pub(super) fn walked(
    at: Duration,
    signal: Signal,
    later: &[(Duration, Signal)],
) -> Vec<(Duration, Signal)> {
    [first_rung(at, signal), later.to_vec()].concat()
}

pub(super) fn forever(obeys: &[Signal]) -> Script {
    Script {
        obeys: obeys.to_vec(),
        ..Script::default()
    }
}

pub(super) fn exits_after(s: f64, code: i32) -> Script {
    Script {
        exit_after: Some(secs(s)),
        code,
        ..Script::default()
    }
}

pub(super) fn cmd() -> Command {
    Command::new("fake")
}
