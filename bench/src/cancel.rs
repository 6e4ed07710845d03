//! Cancel latency: a 50-process tree (`kennel-fixture tree --depth 2 --width 49`, every
//! process holding stdout) is started and waited for (all 50 pid lines read); then the
//! clock runs from `cancel()` to the final outcome, which the library reports only once
//! every process of the tree is gone and the pipes are drained. Afterwards the bench
//! checks that no process of the tree still runs.
//!
//! * cooperative: the tree dies on `SIGTERM`;
//! * ignoring: every process ignores `SIGTERM`; the ladder is `SIGTERM`, wait
//!   [`GRACE`], `SIGKILL`; the figure is the latency *beyond* the grace.
//!
//! Interleaved with them, the machine's floor ([`floor`]): the same tree in its own
//! process group with no supervisor, `killpg` and the wait for the leader and for
//! stdout's EOF — what the kernel takes to end 50 processes on this host at this
//! moment, so a missed target can be read against it (issue 16: on a 2-vCPU VM the
//! floor's own p99 ranged 4.5–9.9 ms between quiet and busy hours).

use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt as _;

use kennel::{ContainmentOptions, Ladder, Signal};

use crate::stats::{ms, row};
use crate::{Bins, Result};

/// The grace of the SIGTERM-ignoring runs.
pub(crate) const GRACE: Duration = Duration::from_millis(200);

/// Processes per tree (root + 49 children).
pub(crate) const TREE: usize = 50;

/// Arguments of `kennel-bench cancel`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Runs per variant.
    #[arg(long, default_value_t = 40)]
    runs: usize,
}

/// The fixture's arguments for the 50-process tree (ignoring `SIGTERM` or not).
fn tree_args(ignore: bool) -> Vec<&'static str> {
    let mut args = vec!["tree", "--depth", "2", "--width", "49"];
    if ignore {
        args.push("--ignore-term");
    }
    args
}

/// The tree's pids, once `text` (its stdout so far) holds all [`TREE`] pid lines.
fn whole_tree(text: &[u8]) -> Option<Vec<u32>> {
    let pids: Vec<u32> = String::from_utf8_lossy(text)
        .lines()
        .filter_map(|l| l.strip_prefix("pid ")?.split(' ').next()?.parse().ok())
        .collect();
    (pids.len() == TREE && text.ends_with(b"\n")).then_some(pids)
}

async fn once(bins: &Bins, ignore: bool, opts: ContainmentOptions) -> Result<Duration> {
    let args = tree_args(ignore);
    let mut child = kennel::Command::new(&bins.fixture)
        .args(&args)
        .ladder(Ladder::graceful(Signal::Term, GRACE))
        .containment(opts)
        .spawn()
        .map_err(|e| format!("spawn failed: {e}"))?;
    let mut text = Vec::new();
    let pids = loop {
        match child.next_event().await {
            Some(kennel::Event::Stdout(b)) => {
                text.extend_from_slice(&b);
                if let Some(pids) = whole_tree(&text) {
                    break pids;
                }
            }
            Some(kennel::Event::Stderr(_)) => {}
            other => return Err(format!("the tree ended before it was complete: {other:?}")),
        }
    };
    let t = Instant::now();
    child.cancel();
    let outcome = child.wait().await;
    let elapsed = t.elapsed();
    if outcome.reason != kennel::EndReason::Cancelled {
        return Err(format!("expected a cancelled outcome, got {outcome:?}"));
    }
    let alive: Vec<u32> = pids
        .into_iter()
        .filter(|&p| kennel_tests::is_alive(p))
        .collect();
    if !alive.is_empty() {
        return Err(format!(
            "processes of the tree survived the outcome: {alive:?}"
        ));
    }
    Ok(if ignore {
        elapsed.saturating_sub(GRACE)
    } else {
        elapsed
    })
}

/// The floor: the tree in its own process group, started by `tokio::process`; after its
/// 50 pid lines, the clock runs from `killpg(SIGTERM)` (for the ignoring tree: then
/// [`GRACE`], then `killpg(SIGKILL)`) until the leader is reaped and stdout reaches
/// EOF — every process has closed its end, so every one has exited. A plain
/// supervisor's view of "done", without the checks kennel's outcome makes (the tree's
/// cgroup, escapees, the drain); the floor's runs then wait (untimed) until none of
/// the 50 runs before the next run starts.
async fn floor(bins: &Bins, ignore: bool) -> Result<Duration> {
    let args = tree_args(ignore);
    let mut child = tokio::process::Command::new(&bins.fixture)
        .args(&args)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("floor: spawn failed: {e}"))?;
    let mut stdout = child.stdout.take().ok_or("floor: no stdout")?;
    let group = child
        .id()
        .and_then(|id| rustix::process::Pid::from_raw(i32::try_from(id).ok()?))
        .ok_or("floor: no pid")?;
    let mut text = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let pids = loop {
        let n = stdout
            .read(&mut buf)
            .await
            .map_err(|e| format!("floor: {e}"))?;
        if n == 0 {
            return Err("floor: the tree ended before it was complete".into());
        }
        text.extend_from_slice(&buf[..n]);
        if let Some(pids) = whole_tree(&text) {
            break pids;
        }
    };
    let killpg = |signal| {
        rustix::process::kill_process_group(group, signal)
            .map_err(|e| format!("floor: killpg: {e}"))
    };
    let t = Instant::now();
    killpg(rustix::process::Signal::TERM)?;
    if ignore {
        // A thread's sleep ends within microseconds (tokio's timer may end 1-2 ms late,
        // which the library's ladder no longer does): the floor is the machine's.
        tokio::task::spawn_blocking(|| std::thread::sleep(GRACE))
            .await
            .map_err(|e| format!("floor: {e}"))?;
        killpg(rustix::process::Signal::KILL)?;
    }
    child
        .wait()
        .await
        .map_err(|e| format!("floor: wait: {e}"))?;
    while stdout
        .read(&mut buf)
        .await
        .map_err(|e| format!("floor: {e}"))?
        > 0
    {}
    let elapsed = t.elapsed();
    let settled = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|&p| kennel_tests::is_alive(p)) {
        if Instant::now() > settled {
            return Err("floor: processes of the tree still run 5 s after stdout's EOF".into());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(if ignore {
        elapsed.saturating_sub(GRACE)
    } else {
        elapsed
    })
}

pub(crate) async fn run(bins: &Bins, args: Args) -> Result<()> {
    let group = ContainmentOptions {
        cgroup: false,
        keeper: false,
    };
    let variants = [
        (
            "cancel.lib.coop.default",
            "kennel library, default containment: SIGTERM-cooperative 50-process tree",
            false,
            ContainmentOptions::default(),
        ),
        (
            "cancel.lib.coop.group",
            "kennel library, group tier: SIGTERM-cooperative 50-process tree",
            false,
            group,
        ),
        (
            "cancel.lib.ignore.default",
            "kennel library, default containment: SIGTERM-ignoring tree, latency beyond the 200 ms grace",
            true,
            ContainmentOptions::default(),
        ),
        (
            "cancel.lib.ignore.group",
            "kennel library, group tier: SIGTERM-ignoring tree, latency beyond the 200 ms grace",
            true,
            group,
        ),
    ];
    let mut samples = vec![Vec::new(); variants.len()];
    let mut floors = [Vec::new(), Vec::new()];
    for _ in 0..args.runs {
        for (i, (_, _, ignore, opts)) in variants.iter().enumerate() {
            samples[i].push(once(bins, *ignore, *opts).await?);
        }
        for (ignore, f) in [false, true].into_iter().zip(&mut floors) {
            f.push(floor(bins, ignore).await?);
        }
    }
    for ((id, label, _, _), s) in variants.iter().zip(&samples) {
        row(id, "ms", label, &ms(s));
    }
    row(
        "cancel.floor.coop",
        "ms",
        "the machine's floor, no supervisor: `killpg(SIGTERM)` until the leader is reaped and stdout's EOF (cooperative tree)",
        &ms(&floors[0]),
    );
    row(
        "cancel.floor.ignore",
        "ms",
        "the machine's floor, no supervisor: `killpg` SIGTERM, 200 ms, SIGKILL, until the leader is reaped and stdout's EOF, beyond the grace (ignoring tree)",
        &ms(&floors[1]),
    );
    Ok(())
}
