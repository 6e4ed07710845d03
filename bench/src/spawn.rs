//! Spawn round trip: start `kennel-fixture exit 0` with piped stdout/stderr, wait for
//! the final outcome (output drained, tree gone, leader reaped). Library, per
//! containment tier, against `tokio::process::Command` with a process group, and
//! against process-wrap (the Rust crate a tokio user would pick for tree cleanup:
//! process group + kill-on-drop, the whole group reaped on wait).

use std::time::{Duration, Instant};

use kennel::{ContainmentOptions, OutputMode, StdinMode};
use tokio::process::Command as TokioCommand;

use crate::stats::{ms, row};
use crate::{Bins, Result};

/// Arguments of `kennel-bench spawn`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Round trips per variant.
    #[arg(long, default_value_t = 300)]
    runs: usize,
    /// Round trips in flight at once (each sample is one round trip's latency).
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Only these variants (`tokio`, `process-wrap`, `group`, `keeper`, `cgroup`,
    /// `default`), e.g. to
    /// run one under `strace`/`perf`.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

#[derive(Clone, Copy, Debug)]
enum Variant {
    Tokio,
    ProcessWrap,
    Kennel(&'static str, ContainmentOptions),
}

impl Variant {
    fn key(self) -> &'static str {
        match self {
            Variant::Tokio => "tokio",
            Variant::ProcessWrap => "process-wrap",
            Variant::Kennel(key, _) => key,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Variant::Tokio => "tokio::process::Command + process group, piped, wait_with_output",
            Variant::ProcessWrap => {
                "process-wrap 10: ProcessGroup::leader + KillOnDrop, piped, wait_with_output"
            }
            Variant::Kennel("group", _) => "kennel library, group tier (no cgroup, no keeper)",
            Variant::Kennel("cgroup", _) => "kennel library, cgroup tier without keeper",
            Variant::Kennel("keeper", _) => {
                "kennel library, keeper (subreaper + supervisor-death guard), no cgroup"
            }
            Variant::Kennel(_, _) => "kennel library, default: cgroup + shared guard",
        }
    }

    async fn once(self, bins: &Bins) -> Result<Duration> {
        let t = Instant::now();
        match self {
            Variant::Tokio => {
                let out = TokioCommand::new(&bins.fixture)
                    .args(["exit", "0"])
                    .process_group(0)
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .output()
                    .await
                    .map_err(|e| format!("tokio spawn failed: {e}"))?;
                if !out.status.success() {
                    return Err(format!("tokio: fixture failed: {}", out.status));
                }
            }
            Variant::ProcessWrap => {
                use process_wrap::tokio::{CommandWrap, KillOnDrop, ProcessGroup};
                let child = CommandWrap::with_new(&bins.fixture, |c| {
                    c.args(["exit", "0"])
                        .stdin(std::process::Stdio::null())
                        .stdout(std::process::Stdio::piped())
                        .stderr(std::process::Stdio::piped());
                })
                .wrap(ProcessGroup::leader())
                .wrap(KillOnDrop)
                .spawn()
                .map_err(|e| format!("process-wrap spawn failed: {e}"))?;
                let out = Box::into_pin(child.wait_with_output())
                    .await
                    .map_err(|e| format!("process-wrap wait failed: {e}"))?;
                if !out.status.success() {
                    return Err(format!("process-wrap: fixture failed: {}", out.status));
                }
            }
            Variant::Kennel(_, opts) => {
                let outcome = kennel::Command::new(&bins.fixture)
                    .args(["exit", "0"])
                    .stdin(StdinMode::Null)
                    .stdout(OutputMode::Piped)
                    .stderr(OutputMode::Piped)
                    .containment(opts)
                    .spawn()
                    .map_err(|e| format!("kennel spawn failed: {e}"))?
                    .wait()
                    .await;
                if !outcome.success() {
                    return Err(format!("kennel: fixture failed: {outcome:?}"));
                }
            }
        }
        Ok(t.elapsed())
    }
}

/// The variants, baseline first.
fn variants() -> Vec<Variant> {
    let tiers = kennel::available_containment();
    let mut v = vec![
        Variant::Tokio,
        Variant::ProcessWrap,
        Variant::Kennel(
            "group",
            ContainmentOptions {
                cgroup: false,
                keeper: false,
            },
        ),
        Variant::Kennel(
            "keeper",
            ContainmentOptions {
                cgroup: false,
                keeper: true,
            },
        ),
    ];
    if tiers.contains(&kennel::Containment::Cgroup) {
        v.push(Variant::Kennel(
            "cgroup",
            ContainmentOptions {
                cgroup: true,
                keeper: false,
            },
        ));
    }
    v.push(Variant::Kennel("default", ContainmentOptions::default()));
    v
}

pub(crate) async fn run(bins: &Bins, args: Args) -> Result<()> {
    let mut variants = variants();
    if !args.only.is_empty() {
        variants.retain(|v| args.only.iter().any(|o| o == v.key()));
    }
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); variants.len()];
    let conc = args.concurrency.max(1);
    // Warm-up: page cache, cgroup probe, first keeper exec.
    for v in &variants {
        v.once(bins).await?;
    }
    let rounds = args.runs.div_ceil(conc);
    for _ in 0..rounds {
        for (i, v) in variants.iter().enumerate() {
            let batch = (0..conc).map(|_| {
                let bins = bins.clone();
                let v = *v;
                tokio::spawn(async move { v.once(&bins).await })
            });
            for handle in batch.collect::<Vec<_>>() {
                let d = handle.await.map_err(|e| format!("task failed: {e}"))??;
                samples[i].push(d);
            }
        }
    }
    let mode = if conc == 1 {
        "seq".to_string()
    } else {
        format!("c{conc}")
    };
    for (v, s) in variants.iter().zip(&samples) {
        row(
            &format!("spawn.lib.{mode}.{}", v.key()),
            "ms",
            v.label(),
            &ms(s),
        );
    }
    Ok(())
}
