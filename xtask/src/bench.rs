//! `cargo xtask bench`: the benchmarks (issue 7). Builds the release binaries and the
//! Node client, runs the Rust programs (`bench/`, package `kennel-bench`) and the Node
//! script (`bench/node/bench.mjs`), and writes `docs/BENCHMARKS.md`: the machine, the
//! method, the command, and every figure as median and p99 with its ratio against the
//! comparison measured in the same run.
//!
//! `--smoke` (and the `bench` stage of `cargo xtask test`) runs every benchmark at a
//! tiny size and checks that each still runs and still reports every figure — never
//! that it is fast. It writes `target/bench-smoke.md` instead of the docs.
//!
//! The programs print `row\tid\tunit\tmedian\tp99\tn\tlabel` lines; `check\t…` lines
//! carry the leak checks. A benchmark whose results were wrong (a lost byte, a wrong
//! exit code, a leaked process) exits non-zero and the run fails.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::cmd::{on_path, Cmd};
use crate::stages::Ran;
use crate::{Ctx, ReportPaths};

/// Command-line arguments of `cargo xtask bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Tiny sizes: check that every benchmark still runs and reports (≤ 2 min).
    #[arg(long)]
    smoke: bool,
    /// Where to write the report (default: docs/BENCHMARKS.md, or
    /// target/bench-smoke.md with --smoke).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Skip the Node half (no node/npm).
    #[arg(long)]
    no_node: bool,
}

/// The report, and where `--smoke` writes it.
const REPORT: ReportPaths = ReportPaths {
    published: "docs/BENCHMARKS.md",
    trial: "bench-smoke.md",
};

/// `cargo xtask bench`.
pub fn run(ctx: &Ctx, args: Args) -> Result<(), String> {
    let out = REPORT.pick(ctx, args.out.as_deref(), args.smoke);
    let sizes = if args.smoke {
        Sizes::SMOKE
    } else {
        Sizes::FULL
    };
    let started = Instant::now();
    let load_before = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let rows = measure(ctx, &sizes, !args.no_node)?;
    let missing: Vec<String> = expected(!args.no_node)
        .into_iter()
        .filter(|id| !rows.figures.contains_key(id))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "the benchmarks did not report: {}",
            missing.join(", ")
        ));
    }
    let text = render(
        ctx,
        &rows,
        &sizes,
        args.smoke,
        started.elapsed().as_secs(),
        load_before.trim(),
    );
    std::fs::write(&out, text).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    println!(
        "wrote {} ({} figures, {} s)",
        out.display(),
        rows.figures.len(),
        started.elapsed().as_secs()
    );
    Ok(())
}

/// The `bench` stage of `cargo xtask test`.
pub(crate) fn stage(ctx: &Ctx) -> Result<Ran, String> {
    run(
        ctx,
        Args {
            smoke: true,
            out: None,
            no_node: false,
        },
    )?;
    Ok(Ran::Done)
}

/// How big each benchmark runs.
struct Sizes {
    release: bool,
    /// How many times each spawn program runs (every concurrency once per round):
    /// a spawn ratio is the median of its rounds' ratios (`docs/DECISIONS.md`, "Spawn
    /// rows in rounds").
    spawn_rounds: usize,
    spawn_runs: usize,
    node_spawn_runs: usize,
    bytes: u64,
    throughput_runs: usize,
    node_bytes: u64,
    node_throughput_runs: usize,
    cancel_runs: usize,
    /// Small runs beside an unread flood (and alone), Node.
    node_hol_runs: usize,
    children: usize,
    churn: usize,
    flood_ms: u64,
}

impl Sizes {
    const FULL: Sizes = Sizes {
        release: true,
        spawn_rounds: 3,
        spawn_runs: 400,
        node_spawn_runs: 200,
        bytes: 1 << 30,
        throughput_runs: 7,
        node_bytes: 1 << 30,
        node_throughput_runs: 3,
        cancel_runs: 100,
        node_hol_runs: 100,
        children: 1000,
        // A multiple of the bench's 6 churn rounds, so this is the count run.
        churn: 10_200,
        flood_ms: 3000,
    };
    const SMOKE: Sizes = Sizes {
        release: false,
        // Two, so the smoke run goes through the rounds' arithmetic.
        spawn_rounds: 2,
        spawn_runs: 16,
        node_spawn_runs: 16,
        bytes: 16 << 20,
        throughput_runs: 2,
        node_bytes: 16 << 20,
        node_throughput_runs: 1,
        cancel_runs: 2,
        node_hol_runs: 3,
        children: 20,
        churn: 102,
        flood_ms: 300,
    };
}

/// One reported figure.
#[derive(Debug, Clone)]
struct Figure {
    unit: String,
    median: f64,
    p99: f64,
    n: usize,
    label: String,
}

#[derive(Debug, Default)]
struct Rows {
    /// Every figure by id: one per run of the program that reports it (a spawn
    /// program runs `Sizes::spawn_rounds` times), in the order they ran.
    figures: BTreeMap<String, Vec<Figure>>,
    checks: Vec<String>,
    /// Per program run: what it measured and the host's steal during it.
    steal: Vec<(String, f64)>,
}

/// The machine's CPU time from `/proc/stat` (clock ticks): time the vCPUs ran
/// (user, nice, system, irq, softirq) and time the host ran something else while
/// a vCPU wanted to run (steal).
fn cpu_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_ascii_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let at = |i: usize| v.get(i).copied().unwrap_or(0);
    Some((at(0) + at(1) + at(2) + at(5) + at(6), at(7)))
}

/// Run a bench program, absorb its rows, and record what share of the vCPUs' wanted
/// time the host stole meanwhile (steal / (ran + steal)): on a shared VM a tail
/// latency that misses its target while this is high is the host's, not the program's.
fn run_program(rows: &mut Rows, what: String, cmd: Cmd) -> Result<(), String> {
    let before = cpu_ticks();
    let text = cmd.read()?;
    if let (Some((r0, s0)), Some((r1, s1))) = (before, cpu_ticks()) {
        let (ran, stolen) = (r1.saturating_sub(r0), s1.saturating_sub(s0));
        if ran + stolen > 0 {
            rows.steal
                .push((what, stolen as f64 / (ran + stolen) as f64));
        }
    }
    rows.absorb(&text)
}

impl Rows {
    fn absorb(&mut self, text: &str) -> Result<(), String> {
        for line in text.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            match f.first() {
                Some(&"row") if f.len() == 7 => {
                    let num = |s: &str| {
                        s.parse::<f64>()
                            .map_err(|_| format!("bad number in {line:?}"))
                    };
                    self.figures
                        .entry(f[1].to_owned())
                        .or_default()
                        .push(Figure {
                            unit: f[2].to_owned(),
                            median: num(f[3])?,
                            p99: num(f[4])?,
                            n: f[5].parse().map_err(|_| format!("bad count in {line:?}"))?,
                            label: f[6].to_owned(),
                        });
                }
                Some(&"check") => self.checks.push(f[1..].join(" ")),
                _ => {}
            }
        }
        Ok(())
    }
}

fn measure(ctx: &Ctx, s: &Sizes, node: bool) -> Result<Rows, String> {
    // The smoke run uses the debug build `cargo xtask test` has already made; figures
    // from it mean nothing anyway.
    let profile = if s.release { "release" } else { "debug" };
    Cmd::new(&ctx.cargo)
        .cwd(&ctx.root)
        .args([
            "build",
            "--profile",
            if s.release { "release" } else { "dev" },
            "-p",
            "kennel-bench",
            "-p",
            "kennel-cli",
            "-p",
            "kennel-tests",
            "--bins",
        ])
        .run()?;
    let release = ctx.target_dir.join(profile);
    let bench = release.join("kennel-bench");
    let fixture = release.join("kennel-fixture");
    let kennel = release.join("kennel");
    let bins = |c: Cmd| {
        c.cwd(&ctx.root)
            .arg("--fixture")
            .arg(&fixture)
            .arg("--kennel")
            .arg(&kennel)
    };
    let mut rows = Rows::default();
    let rust = |rows: &mut Rows, args: &[String]| -> Result<(), String> {
        let what = format!("kennel-bench {}", args.join(" "));
        run_program(rows, what, bins(Cmd::new(&bench).args(args)))
    };
    let n = |v: usize| v.to_string();
    let spawn = |runs: usize, c: usize| {
        vec![
            "spawn".into(),
            "--runs".into(),
            n(runs),
            "--concurrency".into(),
            n(c),
        ]
    };
    for _ in 0..s.spawn_rounds {
        for c in SPAWN_CONCURRENCY {
            rust(&mut rows, &spawn(s.spawn_runs, c))?;
        }
    }
    for what in ["throughput", "passthrough"] {
        rust(
            &mut rows,
            &[
                what.into(),
                "--bytes".into(),
                s.bytes.to_string(),
                "--runs".into(),
                n(s.throughput_runs),
            ],
        )?;
    }
    rust(
        &mut rows,
        &["cancel".into(), "--runs".into(), n(s.cancel_runs)],
    )?;
    rust(
        &mut rows,
        &[
            "sidecar".into(),
            "--children".into(),
            n(s.children),
            "--churn".into(),
            n(s.churn),
            "--flood-ms".into(),
            s.flood_ms.to_string(),
        ],
    )?;
    if node {
        let dir = prepare_node(ctx)?;
        let script = |rows: &mut Rows, args: &[String]| -> Result<(), String> {
            let what = format!("bench.mjs {}", args.join(" "));
            run_program(
                rows,
                what,
                bins(Cmd::new("node").arg(dir.join("bench.mjs")).args(args)),
            )
        };
        let spawn = |c: usize| {
            vec![
                "spawn".into(),
                "--runs".into(),
                n(s.node_spawn_runs),
                "--concurrency".into(),
                n(c),
                // The machine's floor, interleaved with the other variants.
                "--floor".into(),
                bench.display().to_string(),
            ]
        };
        for _ in 0..s.spawn_rounds {
            for c in SPAWN_CONCURRENCY {
                script(&mut rows, &spawn(c))?;
            }
        }
        script(
            &mut rows,
            &[
                "throughput".into(),
                "--bytes".into(),
                s.node_bytes.to_string(),
                "--runs".into(),
                n(s.node_throughput_runs),
            ],
        )?;
        script(
            &mut rows,
            &["cancel".into(), "--runs".into(), n(s.cancel_runs)],
        )?;
        script(
            &mut rows,
            &["hol".into(), "--runs".into(), n(s.node_hol_runs)],
        )?;
    }
    Ok(rows)
}

/// `npm ci` + build of the client, `npm ci` of the bench script's execa.
fn prepare_node(ctx: &Ctx) -> Result<PathBuf, String> {
    if !on_path("node") || !on_path("npm") {
        return Err("node and npm are needed for the Node benchmarks (or pass --no-node)".into());
    }
    let client = ctx.root.join("clients/node");
    let dir = ctx.root.join("bench/node");
    for d in [&client, &dir] {
        Cmd::new("npm")
            .cwd(d)
            .args(["ci", "--no-audit", "--no-fund"])
            .run()?;
    }
    Cmd::new("npm").cwd(&client).args(["run", "build"]).run()?;
    Ok(dir)
}

/// What a comparison promises.
#[derive(Clone, Copy)]
enum Target {
    /// No target: the figure explains a cost.
    None,
    /// Time ratio (figure / comparison) at most this.
    TimeRatioMax(f64),
    /// Throughput or rate ratio (comparison time / figure time; figure rate /
    /// comparison rate) at least this.
    ThroughputMin(f64),
    /// p99 at most this (absolute, in the figure's unit).
    P99Max(f64),
}

/// How the ratio against the comparison is computed.
#[derive(Clone, Copy)]
enum Ratio {
    /// figure / comparison (times, memory).
    Time,
    /// comparison / figure (seconds per GiB: > 1 means faster).
    Throughput,
    /// figure / comparison (rates).
    Rate,
}

struct Cmp {
    id: String,
    base: Option<String>,
    ratio: Ratio,
    target: Target,
}

fn cmp(id: impl Into<String>, base: impl Into<String>, ratio: Ratio, target: Target) -> Cmp {
    Cmp {
        id: id.into(),
        base: Some(base.into()),
        ratio,
        target,
    }
}

/// A figure shown without a comparison.
fn alone(id: &str) -> Cmp {
    Cmp {
        id: id.into(),
        base: None,
        ratio: Ratio::Time,
        target: Target::None,
    }
}

/// The report's sections: title, explanation, figures.
/// Spawn round trips in flight at once: one at a time, 8 and 32 (the targets hold at
/// every one of them).
const SPAWN_CONCURRENCY: [usize; 3] = [1, 8, 32];
const SPAWN_MODES: [&str; 3] = ["seq", "c8", "c32"];

fn sections() -> Vec<(&'static str, &'static str, Vec<Cmp>)> {
    use Ratio::*;
    use Target::*;
    let mut spawn = Vec::new();
    for mode in SPAWN_MODES {
        let id = |v: &str| format!("spawn.lib.{mode}.{v}");
        spawn.push(cmp(id("default"), id("tokio"), Time, TimeRatioMax(1.3)));
        spawn.push(cmp(id("default"), id("process-wrap"), Time, None));
        for tier in ["process-wrap", "group", "cgroup", "keeper"] {
            spawn.push(cmp(id(tier), id("tokio"), Time, None));
        }
    }
    let mut node_spawn = Vec::new();
    for mode in SPAWN_MODES {
        let id = |v: &str| format!("spawn.node.{mode}.{v}");
        node_spawn.push(cmp(id("kennel"), id("node"), Time, TimeRatioMax(0.8)));
        node_spawn.push(cmp(id("kennel"), id("execa"), Time, None));
        node_spawn.push(cmp(id("execa"), id("node"), Time, None));
        // The machine's floor (bench/src/floor.rs), timed as Node's own calls are.
        node_spawn.push(cmp(id("floor"), id("node"), Time, None));
        if mode != "seq" {
            // Timed from the batch's start: what a caller that asked for all of them at
            // once waits (Node's spawn blocks until each exec; bench.mjs).
            node_spawn.push(cmp(id("batch.kennel"), id("batch.node"), Time, None));
            // The floor of a call made together with the rest of its batch, as the
            // kennel client's calls are: the least the target row could read on this
            // machine, and how far above it kennel is.
            node_spawn.push(cmp(id("batch.floor"), id("node"), Time, None));
            node_spawn.push(cmp(id("kennel"), id("batch.floor"), Time, None));
        } else {
            node_spawn.push(cmp(id("kennel"), id("floor"), Time, None));
        }
        // What a spawn costs: the machine's CPU, and wall time per spawn (bench.mjs).
        node_spawn.push(cmp(id("cpu.kennel"), id("cpu.node"), Time, None));
        node_spawn.push(cmp(id("cpu.kennel"), id("cpu.floor"), Time, None));
        node_spawn.push(cmp(id("pace.kennel"), id("pace.node"), Time, None));
    }
    vec![
        (
            "Spawn round trip: library",
            "Start `kennel-fixture exit 0` with stdout/stderr piped, wait for the final outcome (output drained, tree gone, leader reaped). `seq`: one at a time; `c8`, `c32`: 8 or 32 in flight, each sample one round trip. Target: the default (full) containment ≤ 1.3× tokio at each; the tier rows say what each tier adds. process-wrap (process group + kill-on-drop, the group reaped on wait) is the Rust crate a tokio user would pick instead: no cgroup, no supervisor-death guard.",
            spawn,
        ),
        (
            "Spawn round trip: Node",
            "The same program from Node: `child_process.spawn` until `'close'`, execa, and the kennel client through one `kennel serve` with its default (full) containment. Target: kennel ≤ 0.8× Node's own time, each round trip timed from its own call. The `batch` rows time each round trip of a batch from the batch's start instead: Node's `spawn` blocks the event loop until the child's exec, so its k-th spawn of a batch is called only after the k−1 before it forked, a wait the per-call time leaves out. The `floor` rows are the machine itself, interleaved in the same program: a helper (`kennel-bench floor`) `posix_spawn`s each batch back to back from one thread, with no pipes and no supervisor, and reaps each child as it ends; `floor` times each call from its own spawn (as Node's are timed), `batch.floor` from the batch's start — the least a call made together with its batch, as the kennel client's are, can take here, so the least the target row can read. The `cpu` and `pace` rows say what a spawn costs, apart from how long one call waits: the machine's busy CPU per spawn (all processes) and the wall time per spawn, batches run back to back.",
            node_spawn,
        ),
        (
            "Output throughput (1 GiB)",
            "`kennel-fixture flood` writes the bytes in 64 KiB writes; every byte is counted. Figures are seconds per GiB; the ratio is the throughput ratio (comparison time / figure time, > 1 is faster).",
            vec![
                cmp("throughput.run.kennel", "throughput.run.direct", Throughput, ThroughputMin(0.95)),
                cmp("throughput.lib.kennel", "throughput.lib.tokio", Throughput, ThroughputMin(0.9)),
                cmp("throughput.node.kennel", "throughput.node.direct", Throughput, ThroughputMin(0.8)),
                cmp("throughput.node.kennel_json", "throughput.node.direct", Throughput, None),
                cmp("throughput.node.kennel_direct", "throughput.node.direct", Throughput, ThroughputMin(0.9)),
                cmp("throughput.node.relay", "throughput.node.direct", Throughput, None),
            ],
        ),
        (
            "Head-of-line: a small run beside an unread flood (Node)",
            "One Kennel: `run(['print','hi'])` (spawn to result) alone, then while another child of the same Kennel floods stdout that nobody reads (it holds its flow-control window and waits). Before per-child flow control the client paused the whole sidecar for it and the small run never finished. Target: ≤ 2× the idle figure.",
            vec![cmp("hol.node.flood", "hol.node.idle", Time, TimeRatioMax(2.0))],
        ),
        (
            "Cancel latency (50-process tree)",
            "`kennel-fixture tree --depth 2 --width 49` (every process holds stdout); after all 50 pid lines are read, the clock runs from cancel to the final outcome (every process gone, pipes drained); then the bench checks that none of the 50 runs. SIGTERM-ignoring trees: ladder SIGTERM, 200 ms, SIGKILL; the figure is the time beyond the grace. The Node baseline is the usual `detached` + `process.kill(-pid)` (+ SIGKILL after the grace) until `'close'`. The floor rows are the machine itself, interleaved with the library's runs in the same program: the tree in its own process group with no supervisor, `killpg`, until the leader is reaped and stdout's EOF — what ending 50 processes takes on this host at that moment; read a missed p99 target against the floor's own p99.",
            vec![
                cmp("cancel.lib.coop.default", "cancel.node.node.coop", Time, P99Max(10.0)),
                cmp("cancel.lib.coop.default", "cancel.floor.coop", Time, None),
                cmp("cancel.lib.ignore.default", "cancel.node.node.ignore", Time, P99Max(10.0)),
                cmp("cancel.lib.ignore.default", "cancel.floor.ignore", Time, None),
                alone("cancel.floor.coop"),
                alone("cancel.floor.ignore"),
                cmp("cancel.lib.coop.group", "cancel.node.node.coop", Time, None),
                cmp("cancel.lib.ignore.group", "cancel.node.node.ignore", Time, None),
                cmp("cancel.node.kennel.coop", "cancel.node.node.coop", Time, None),
                cmp("cancel.node.kennel.ignore", "cancel.node.node.ignore", Time, None),
            ],
        ),
        (
            "Memory (sidecar RSS)",
            "`VmRSS` of the `kennel serve` process (keepers are separate processes and not included), sampled every 50 ms.",
            vec![
                alone("memory.idle"),
                cmp("memory.children", "memory.idle", Time, P99Max(64.0)),
                cmp("memory.flood", "memory.idle", Time, P99Max(32.0)),
            ],
        ),
        (
            "Scale (one sidecar)",
            "N idle children at once (all spawned and printing, then all cancelled: every outcome checked); N `print` children requested at once (every output and exit code checked); a churn of short children with 32 in flight, against `tokio::process` doing the same churn in one process, in 6 rounds alternating between the two (sidecar, tokio, tokio, sidecar, …; a sample per round, the ratio of the medians); afterwards no fixture process may run, no zombie child may remain and the sidecar's fd count must be back where it was.",
            vec![
                cmp("scale.churn.sidecar", "scale.churn.tokio", Rate, ThroughputMin(0.8)),
                alone("scale.churn.latency"),
                alone("scale.children.up"),
                alone("scale.burst"),
            ],
        ),
    ]
}

/// Every figure id the report needs.
fn expected(node: bool) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for (_, _, cmps) in sections() {
        for c in cmps {
            ids.push(c.id);
            ids.extend(c.base);
        }
    }
    ids.sort_unstable();
    ids.dedup();
    ids.retain(|id| node || !id.contains(".node."));
    ids
}

fn fmt_num(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn render(ctx: &Ctx, rows: &Rows, s: &Sizes, smoke: bool, secs: u64, load_before: &str) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Benchmarks\n");
    if smoke {
        let _ = writeln!(
            md,
            "**Smoke run** (tiny sizes): checks that the benchmarks run and report, nothing about speed.\n"
        );
    }
    let _ = writeln!(
        md,
        "Generated by `cargo xtask bench` (took {secs} s). Reproduce: `cargo xtask bench` (4–6 minutes on 2 cores; writes this file; `--smoke` for a quick check that everything still runs). Absolute times on a shared VM mean little: read the ratios, taken in the same run with the variants interleaved. Where the time goes for each missed target, with the profiles, is in [DECISIONS.md](DECISIONS.md#benchmarks-and-what-they-changed-issue-7) (spawn: [issue 16](DECISIONS.md#spawn-speed-issue-16)).\n"
    );
    let _ = writeln!(md, "## Machine\n");
    let _ = writeln!(md, "- load average at the start: {load_before}");
    for (k, v) in machine(ctx) {
        let _ = writeln!(md, "- {k}: {v}");
    }
    if !rows.steal.is_empty() {
        let _ = writeln!(
            md,
            "- CPU time the host took from this VM while it wanted to run (`/proc/stat` steal ÷ (busy + steal)), per program: {}",
            rows.steal
                .iter()
                .map(|(what, share)| format!("`{what}` {:.0}%", share * 100.0))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    let _ = writeln!(md, "\n## Method\n");
    let _ = writeln!(
        md,
        "- Programs: `bench/` (`kennel-bench`, Rust, release build) and `bench/node/bench.mjs` (Node, the kennel client from `clients/node` and execa 9). The supervised program is always `kennel-fixture` (release build).\n\
         - Compared variants run in the same process, interleaved (A, B, A, B, …), after one warm-up each.\n\
         - Every figure is the median and p99 (nearest rank) over its samples; `n` is the sample count (with few samples the p99 is the maximum). A ratio is median / median.\n\
         - The spawn programs (library and Node) run {} times each, in rounds (every concurrency once per round), because their ratios move with the host from one minute to the next: a spawn figure is the median of its rounds' medians (and p99s), `n` counts every round's samples, and a spawn ratio is the median of the rounds' ratios, each taken within one program run; the rounds' own ratios are shown beside it.\n\
         - Sizes: {} spawn round trips per variant (library), {} (Node); {} MiB × {} runs (Rust throughput), {} MiB × {} runs (Node); {} cancels per variant; {} idle children; churn of {}.\n\
         - Every run checks its results (all bytes, exit codes, outcomes, nothing left running) and fails instead of reporting a figure for a wrong result.",
        s.spawn_rounds, s.spawn_runs, s.node_spawn_runs, s.bytes >> 20, s.throughput_runs, s.node_bytes >> 20, s.node_throughput_runs, s.cancel_runs, s.children, s.churn
    );
    for (title, text, cmps) in sections() {
        let _ = writeln!(md, "\n## {title}\n\n{text}\n");
        let _ = writeln!(
            md,
            "| figure | median | p99 | n | compared with | ratio | target | met |\n|---|---|---|---|---|---|---|---|"
        );
        for c in cmps {
            let Some(f_rounds) = rows.figures.get(&c.id) else {
                continue;
            };
            let Some(f) = summary(f_rounds) else {
                continue;
            };
            let base = c.base.as_ref().and_then(|b| {
                let rounds = rows.figures.get(b)?;
                Some((b, rounds, summary(rounds)?))
            });
            let (base_text, ratio, per_round) = match base {
                Some((b, b_rounds, bf)) => {
                    let (r, per_round) = ratio_over_rounds(c.ratio, f_rounds, b_rounds, &f, &bf);
                    (
                        format!(
                            "`{b}` ({} {}, p99 {})",
                            fmt_num(bf.median),
                            bf.unit,
                            fmt_num(bf.p99)
                        ),
                        Some(r),
                        per_round,
                    )
                }
                None => ("—".into(), Option::None, Vec::new()),
            };
            let ratio_text = match (ratio, per_round.as_slice()) {
                (None, _) => "—".to_string(),
                (Some(r), []) => format!("{r:.2}×"),
                (Some(r), rounds) => format!(
                    "{r:.2}× (rounds: {})",
                    rounds
                        .iter()
                        .map(|r| format!("{r:.2}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            let (target, met) = match c.target {
                Target::None => ("—".to_string(), "—"),
                Target::TimeRatioMax(t) => {
                    (format!("ratio ≤ {t}"), yes(ratio.is_some_and(|r| r <= t)))
                }
                Target::ThroughputMin(t) => {
                    (format!("ratio ≥ {t}"), yes(ratio.is_some_and(|r| r >= t)))
                }
                Target::P99Max(t) => (format!("p99 ≤ {t} {}", f.unit), yes(f.p99 <= t)),
            };
            let _ = writeln!(
                md,
                "| {} (`{}`) | {} {} | {} {} | {} | {} | {} | {} | {} |",
                f.label,
                c.id,
                fmt_num(f.median),
                f.unit,
                fmt_num(f.p99),
                f.unit,
                f.n,
                base_text,
                ratio_text,
                target,
                met
            );
        }
    }
    if !rows.checks.is_empty() {
        let _ = writeln!(
            md,
            "\nChecks after the churn (must be 0 / flat): {}.",
            rows.checks.join("; ")
        );
    }
    md
}

/// The median of `v` (the mean of the middle two for an even count); `None` if empty.
fn median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => v.get(n / 2).copied(),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// A figure over the rounds it ran in: the median of their medians and of their p99s,
/// and every round's samples counted. One round is itself.
fn summary(rounds: &[Figure]) -> Option<Figure> {
    let first = rounds.first()?;
    Some(Figure {
        unit: first.unit.clone(),
        median: median(rounds.iter().map(|f| f.median).collect())?,
        p99: median(rounds.iter().map(|f| f.p99).collect())?,
        n: rounds.iter().map(|f| f.n).sum(),
        label: first.label.clone(),
    })
}

/// The ratio of a figure against its comparison, and each round's when both ran in the
/// same rounds (round `i` of both comes from the same program run, interleaved): then
/// the ratio is the median of the rounds' ratios, never a ratio of medians taken from
/// different runs.
fn ratio_over_rounds(
    kind: Ratio,
    f: &[Figure],
    b: &[Figure],
    fs: &Figure,
    bs: &Figure,
) -> (f64, Vec<f64>) {
    let one = |f: &Figure, b: &Figure| match kind {
        Ratio::Time | Ratio::Rate => f.median / b.median,
        Ratio::Throughput => b.median / f.median,
    };
    if f.len() > 1 && f.len() == b.len() {
        let per_round: Vec<f64> = f.iter().zip(b).map(|(f, b)| one(f, b)).collect();
        if let Some(r) = median(per_round.clone()) {
            return (r, per_round);
        }
    }
    (one(fs, bs), Vec::new())
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "**no**"
    }
}

/// What the report says about the machine.
fn machine(ctx: &Ctx) -> Vec<(&'static str, String)> {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .map(|v| v.trim().to_owned())
        .unwrap_or_default();
    let tool = |p: &str, a: &str| {
        Cmd::new(p)
            .cwd(&ctx.root)
            .arg(a)
            .read()
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "not found".into())
    };
    let cgroup = if Path::new("/sys/fs/cgroup/unified/cgroup.procs").exists()
        || Path::new("/sys/fs/cgroup/cgroup.procs").exists()
    {
        "cgroup v2 mounted"
    } else {
        "no cgroup v2"
    };
    vec![
        ("CPU", format!("{cpu}, {cores} logical CPUs")),
        ("memory", mem),
        (
            "kernel",
            read("/proc/sys/kernel/osrelease").trim().to_owned(),
        ),
        ("cgroups", cgroup.to_owned()),
        (
            "load average at the end",
            read("/proc/loadavg").trim().to_owned(),
        ),
        ("rustc", tool("rustc", "-V")),
        ("node", tool("node", "--version")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig(median: f64, p99: f64) -> Figure {
        Figure {
            unit: "ms".into(),
            median,
            p99,
            n: 10,
            label: "x".into(),
        }
    }

    #[test]
    fn a_median_takes_the_middle_or_the_mean_of_the_middle_two() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }

    #[test]
    fn a_ratio_over_rounds_is_the_median_of_each_rounds_own() {
        // Round by round the figure is 0.5, 0.9 and 0.8 of its comparison; the ratio of
        // the medians (0.8 / 1.0) would be a different number.
        let f = [fig(1.0, 2.0), fig(0.9, 3.0), fig(0.8, 1.0)];
        let b = [fig(2.0, 2.0), fig(1.0, 2.0), fig(1.0, 2.0)];
        let (fs, bs) = (summary(&f).unwrap(), summary(&b).unwrap());
        assert_eq!((fs.median, fs.p99, fs.n), (0.9, 2.0, 30));
        let (r, rounds) = ratio_over_rounds(Ratio::Time, &f, &b, &fs, &bs);
        assert_eq!(rounds, vec![0.5, 0.9, 0.8]);
        assert_eq!(r, 0.8);
        let (r, _) = ratio_over_rounds(Ratio::Throughput, &f, &b, &fs, &bs);
        assert_eq!(r, 1.25);
    }

    #[test]
    fn one_round_or_unmatched_rounds_give_the_ratio_of_the_medians() {
        let (f, b) = ([fig(1.0, 2.0)], [fig(4.0, 5.0)]);
        let (fs, bs) = (summary(&f).unwrap(), summary(&b).unwrap());
        assert_eq!(
            ratio_over_rounds(Ratio::Time, &f, &b, &fs, &bs),
            (0.25, vec![])
        );
        let b2 = [fig(4.0, 5.0), fig(2.0, 5.0)];
        let bs2 = summary(&b2).unwrap();
        assert_eq!(
            ratio_over_rounds(Ratio::Time, &f, &b2, &fs, &bs2),
            (1.0 / 3.0, vec![])
        );
    }
}
