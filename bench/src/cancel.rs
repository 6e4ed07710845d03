//! Cancel latency: a 50-process tree (`kennel-fixture tree --depth 2 --width 49`, every
//! process holding stdout) is started and waited for (all 50 pid lines read); then the
//! clock runs from `cancel()` to the final outcome, which the library reports only once
//! every process of the tree is gone and the pipes are drained. Afterwards the bench
//! checks that no process of the tree still runs.
//!
//! * cooperative: the tree dies on `SIGTERM`;
//! * ignoring: every process ignores `SIGTERM`; the ladder is `SIGTERM`, wait
//!   [`GRACE`], `SIGKILL`; the figure is the latency *beyond* the grace.

use std::time::{Duration, Instant};

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

async fn once(bins: &Bins, ignore: bool, opts: ContainmentOptions) -> Result<Duration> {
    let mut args = vec!["tree", "--depth", "2", "--width", "49"];
    if ignore {
        args.push("--ignore-term");
    }
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
                let pids: Vec<u32> = String::from_utf8_lossy(&text)
                    .lines()
                    .filter_map(|l| l.strip_prefix("pid ")?.split(' ').next()?.parse().ok())
                    .collect();
                if pids.len() == TREE && text.ends_with(b"\n") {
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
    for _ in 0..args.runs {
        for (i, (_, _, ignore, opts)) in variants.iter().enumerate() {
            samples[i].push(once(bins, *ignore, *opts).await?);
        }
    }
    for ((id, label, _, _), s) in variants.iter().zip(&samples) {
        row(id, "ms", label, &ms(s));
    }
    Ok(())
}
