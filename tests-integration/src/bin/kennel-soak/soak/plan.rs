//! Plans and actions: what a cycle runs, and what it does to the tree, drawn from
//! the cycle's own seeded RNG so a failing cycle's plan is reproducible.

use std::time::Duration;

/// What the child runs and what its output must look like.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    pub(crate) name: &'static str,
    pub(crate) args: Vec<String>,
    /// Writers of seq records (0 for the classic modes, which print pid lines only).
    pub(crate) writers: u32,
    /// Records per writer when the plan ends by itself.
    pub(crate) records: Option<u64>,
    pub(crate) stderr: bool,
    /// Some writer leaves the process group (needs cgroup or keeper/subreaper).
    pub(crate) escapes: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Action {
    Natural,
    Cancel(u64),
    DoubleCancel(u64),
    Kill(u64),
    Timeout(u64),
}

impl Action {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Action::Natural => "natural",
            Action::Cancel(0) => "cancel-at-once",
            Action::Cancel(_) => "cancel",
            Action::DoubleCancel(_) => "double-cancel",
            Action::Kill(_) => "kill",
            Action::Timeout(_) => "timeout",
        }
    }
    pub(crate) fn delay(self) -> Duration {
        match self {
            Action::Natural => Duration::ZERO,
            Action::Cancel(ms)
            | Action::DoubleCancel(ms)
            | Action::Kill(ms)
            | Action::Timeout(ms) => Duration::from_millis(ms),
        }
    }
}

pub(crate) fn pick(rng: &mut fastrand::Rng, seed: u64) -> (Plan, Action) {
    let seed_arg = || vec!["--seed".to_string(), seed.to_string()];
    let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let stderr = rng.u8(0..4) == 0;
    let mut plan = match rng.u8(0..10) {
        0 | 1 => {
            let records = rng.u64(200..6000);
            let chunk = [1, 7, 100, 4096, 65536, 200_000][rng.usize(0..6)];
            let chunk = if chunk == 1 { rng.usize(1..64) } else { chunk };
            let mut args = s(&["seq", "--records", &records.to_string(), "--chunk"]);
            args.push(chunk.to_string());
            Plan {
                name: "flood",
                args,
                writers: 1,
                records: Some(records),
                stderr,
                escapes: false,
            }
        }
        2 | 3 => {
            let records = rng.u64(10..400);
            let procs = rng.u32(2..6);
            let mut args = s(&["seq", "--records", &records.to_string(), "--procs"]);
            args.push(procs.to_string());
            Plan {
                name: "finite-tree",
                args,
                writers: procs,
                records: Some(records),
                stderr,
                escapes: false,
            }
        }
        4 => endless(rng, "endless-tree", 1..5, None, stderr),
        5 | 6 => endless(rng, "daemon-writers", 2..4, Some("--setsid"), stderr),
        7 => endless(rng, "signal-ignorers", 1..4, Some("--ignore-term"), stderr),
        _ => {
            let (name, args, escapes) = match rng.u8(0..4) {
                0 => ("tree", s(&["tree", "--depth", "3", "--width", "2"]), false),
                1 => ("daemon", s(&["daemon"]), true),
                2 => ("fork-loop", s(&["fork-loop", "--count", "6"]), false),
                _ => ("hold-pipe", s(&["hold-pipe", "--setsid"]), true),
            };
            return (
                Plan {
                    name,
                    args,
                    writers: 0,
                    records: None,
                    stderr: false,
                    escapes,
                },
                // daemon and hold-pipe end by themselves (their leftovers are torn down).
                random_action(rng, matches!(name, "daemon" | "hold-pipe")),
            );
        }
    };
    if plan.writers > 0 {
        plan.args.extend(seed_arg());
        if plan.stderr {
            plan.args.push("--stderr".into());
        }
    }
    let finite = plan.records.is_some();
    (plan, random_action(rng, finite))
}

/// Writers that never stop (`--procs` from `procs`, random pacing), plus `flag`.
pub(crate) fn endless(
    rng: &mut fastrand::Rng,
    name: &'static str,
    procs: std::ops::Range<u32>,
    flag: Option<&str>,
    stderr: bool,
) -> Plan {
    let procs = rng.u32(procs);
    let mut args = vec!["seq".to_string(), "--procs".into(), procs.to_string()];
    args.extend(flag.map(String::from));
    args.extend(["--delay-us".into(), rng.u32(0..2000).to_string()]);
    Plan {
        name,
        args,
        writers: procs,
        records: None,
        stderr,
        escapes: flag == Some("--setsid"),
    }
}

pub(crate) fn random_action(rng: &mut fastrand::Rng, finite: bool) -> Action {
    let ms = if rng.u8(0..8) == 0 { 0 } else { rng.u64(1..60) };
    match rng.u8(0..10) {
        0..=2 if finite => Action::Natural,
        0..=3 => Action::Cancel(ms),
        4 | 5 => Action::DoubleCancel(ms),
        6 | 7 => Action::Kill(ms),
        _ => Action::Timeout(ms.max(1)),
    }
}
