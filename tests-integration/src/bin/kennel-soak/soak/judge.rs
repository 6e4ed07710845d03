//! One cycle's result and its checks: what a cycle saw (path-independent), the
//! verdict once its exit arrived, and the `/proc` marker scans for what outlived it.

use std::sync::atomic::Ordering;
use std::time::Duration;

use kennel_tests::SeqChecker;

use super::plan::*;
use super::*;

/// What a cycle saw, path-independent.
#[derive(Default)]
pub(crate) struct Seen {
    pub(crate) stdout: Option<SeqChecker>,
    pub(crate) stderr: Option<SeqChecker>,
    pub(crate) failures: Vec<String>,
    pub(crate) exit: Option<ExitSummary>,
}

pub(crate) struct ExitSummary {
    pub(crate) reason: &'static str,
    pub(crate) code: Option<i64>,
    pub(crate) forced: bool,
    pub(crate) stdout_bytes: u64,
    pub(crate) stderr_bytes: u64,
    pub(crate) drain_complete: bool,
}

impl Seen {
    pub(crate) fn new(seed: u64) -> Seen {
        Seen {
            stdout: Some(SeqChecker::new(seed)),
            stderr: Some(SeqChecker::new(seed)),
            ..Seen::default()
        }
    }

    pub(crate) fn feed(&mut self, stderr: bool, bytes: &[u8]) {
        let (name, checker) = if stderr {
            ("stderr", &mut self.stderr)
        } else {
            ("stdout", &mut self.stdout)
        };
        if let Some(c) = checker.as_mut() {
            if let Err(e) = c.feed(bytes) {
                self.failures
                    .push(format!("{name} is not the expected records: {e}"));
                *checker = None; // one report per stream
            }
        }
    }

    pub(crate) fn pids(&self) -> Vec<u32> {
        self.stdout
            .as_ref()
            .map(|c| c.pids().to_vec())
            .unwrap_or_default()
    }
}

/// The checks every cycle gets once its exit arrived.
pub(crate) fn judge(plan: &Plan, action: Action, seen: &mut Seen, stats: &Stats) {
    let Some(exit) = seen.exit.as_ref() else {
        seen.failures.push("no exit event".into());
        return;
    };
    let natural_ok = exit.reason == "exited";
    let expected = match action {
        Action::Natural => "exited",
        Action::Cancel(_) | Action::DoubleCancel(_) => "cancelled",
        Action::Kill(_) => "killed",
        Action::Timeout(_) => "timed_out",
    };
    // A finite plan (or a leader that exits by itself) may end before the action.
    let may_exit_first = plan.records.is_some() || matches!(plan.name, "daemon" | "hold-pipe");
    if exit.reason != expected && !(may_exit_first && natural_ok) {
        seen.failures
            .push(format!("reason {} after {}", exit.reason, action.name()));
    }
    if natural_ok && exit.code != Some(0) {
        seen.failures
            .push(format!("natural exit with code {:?}", exit.code));
    }
    for (name, checker, reported) in [
        ("stdout", &seen.stdout, exit.stdout_bytes),
        ("stderr", &seen.stderr, exit.stderr_bytes),
    ] {
        match checker {
            Some(c) if c.bytes() != reported => seen.failures.push(format!(
                "{name}: exit reports {reported} bytes, {} received",
                c.bytes()
            )),
            _ => {}
        }
    }
    if plan.writers > 0 && !exit.drain_complete {
        seen.failures
            .push("drain timed out on a plan whose writers all die".into());
    }
    // Exactness: complete after a natural exit of a finite plan, a prefix otherwise.
    for (name, checker, on) in [
        ("stdout", &seen.stdout, true),
        ("stderr", &seen.stderr, plan.stderr),
    ] {
        let Some(c) = checker else { continue };
        let result = match (plan.records, natural_ok && on) {
            (Some(n), true) => c.finish_complete(plan.writers, n),
            _ => c.finish_prefix(),
        };
        if let Err(e) = result {
            seen.failures.push(format!("{name}: {e}"));
        }
        if !on && c.bytes() > 0 {
            seen.failures
                .push(format!("{name}: {} unexpected bytes", c.bytes()));
        }
        stats.records.fetch_add(c.records(), Ordering::Relaxed);
        stats.bytes.fetch_add(c.bytes(), Ordering::Relaxed);
    }
    // A SIGTERM-honouring tree that needed SIGKILL after a single cancel: the early
    // SIGTERM was lost (docs/NOTES.md) — an observation, not a failure.
    let honours_term = plan.name != "signal-ignorers";
    if honours_term && exit.forced && matches!(action, Action::Cancel(_) | Action::Timeout(_)) {
        let at_once = action.delay() <= Duration::from_millis(1);
        stats.observe(format!(
            "SIGTERM-honouring tree needed SIGKILL: plan {}, {} after spawn",
            plan.name,
            if at_once { "≤ 1 ms" } else { "> 1 ms" }
        ));
    }
}

/// Processes of this cycle (by marker) still alive, not zombies, after its exit.
pub(crate) fn alive_marked(pids: &[u32], marker: &str) -> Vec<u32> {
    pids.iter()
        .copied()
        .filter(|&p| kennel_tests::is_alive(p) && kennel_tests::has_env_entry(p, marker))
        .collect()
}

/// `pid 1`, or the parent's command name.
pub(crate) fn describe_parent(pid: u32) -> String {
    match kennel_tests::ppid_of(pid) {
        Some(1) => "pid 1".into(),
        Some(pp) => std::fs::read_to_string(format!("/proc/{pp}/comm"))
            .map(|c| format!("{pp} {}", c.trim()))
            .unwrap_or_else(|_| format!("{pp} (gone)")),
        None => "unknown".into(),
    }
}

/// What the checks after the run found, for the report.
pub(crate) struct AfterRun {
    /// The fd and RSS probe once everything settled.
    pub(crate) after: Probe,
    /// Processes of finished trees still alive.
    pub(crate) leaked: usize,
    /// Pids the fixtures reported over the run.
    pub(crate) reported: u64,
}

/// The checks after the run (module docs of `kennel-soak`): fds back to their level,
/// the live-heap verdict on the quiescent `points`, no marked process anywhere, no
/// zombie left to us or the sidecar, and a clean end of the sidecar. Failures go to
/// the run's stats.
pub(crate) async fn after_run(sh: &Shared, before: &Probe, points: &[Point]) -> AfterRun {
    let stats = &sh.stats;
    let sc_pid = sh.sidecar.pid;
    // Settle: trees torn down asynchronously, fds closed by finished tasks.
    let settled = kennel_tests::wait_until(Duration::from_secs(10), || {
        let p = probe(sc_pid);
        p.fds == before.fds && p.sc_fds == before.sc_fds
    });
    let after = probe(sc_pid);
    if !settled {
        stats.fail(format!(
            "fd counts did not return: soak {} → {} ({:?}), sidecar {} → {}",
            before.fds,
            after.fds,
            kennel_tests::open_fds(),
            before.sc_fds,
            after.sc_fds
        ));
    }
    // The leak check: the live heap at the quiescent points (module docs).
    let samples: Vec<kennel_tests::heap::Sample> = points.iter().map(|p| p.sample).collect();
    if let Err(e) = kennel_tests::heap::verdict(&samples) {
        stats.fail(format!("soak process: {e}"));
    }
    // Marked processes anywhere (escaped descendants included).
    let prefix = format!("KENNEL_SOAK={}:", sh.run_id);
    let marked = || -> Vec<u32> {
        kennel_tests::all_pids()
            .into_iter()
            .filter(|&p| kennel_tests::environ_any(p, |kv| kv.starts_with(prefix.as_bytes())))
            .collect()
    };
    kennel_tests::wait_until(Duration::from_secs(10), || marked().is_empty());
    let leaked: Vec<String> = marked().into_iter().map(kennel_tests::describe).collect();
    if !leaked.is_empty() {
        stats.fail(format!("processes of finished trees alive: {leaked:?}"));
    }
    // Zombies left to us or the sidecar (the fixtures' pids were checked per cycle:
    // by now they may belong to other processes).
    let reported = stats.pids.load(Ordering::Relaxed);
    let zombies = || {
        let mut z = kennel_tests::zombie_children_of(std::process::id());
        z.extend(kennel_tests::zombie_children_of(sc_pid));
        z
    };
    if !kennel_tests::wait_until(Duration::from_secs(10), || zombies().is_empty()) {
        stats.fail(format!("zombies: {:?}", zombies()));
    }
    // The sidecar ends cleanly and said nothing malformed or unrouted.
    if let Err(e) = sh.sidecar.shut_down().await {
        stats.fail(e);
    }
    let raced = sh.sidecar.raced.load(Ordering::Relaxed);
    if raced > 0 {
        stats.observe_n(
            "sidecar cancel/kill raced the exit (unknown_id after exit)",
            raced,
        );
    }
    for s in sh.sidecar.stray.lock().unwrap().iter() {
        stats.fail(format!("sidecar line: {s}"));
    }
    if !sh.sidecar.ended.load(Ordering::SeqCst) {
        stats.fail("the sidecar's stdout did not end".into());
    }
    AfterRun {
        after,
        leaked: leaked.len(),
        reported,
    }
}
