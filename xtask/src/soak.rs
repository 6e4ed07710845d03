//! `cargo xtask soak`: the soak (issue 8).
//!
//! Builds the `kennel-tests` binaries in release mode and runs `kennel-soak` (see
//! `tests-integration/src/bin/kennel-soak.rs` for what a cycle does and what is
//! checked afterwards): random spawn / cancel / kill / timeout / natural-exit cycles
//! through the library and through a `kennel serve` sidecar, then zero processes of
//! any tree alive, zero zombies, fd counts back to their level, no growth of the soak
//! process's live heap over the second half (counted by its allocator at quiescent
//! points; RSS is reported, not checked), every received output prefix exact. The long
//! run and its figures are in `docs/SOAK.md`.
//!
//! The `soak` stage of `cargo xtask test` runs [`STAGE_CYCLES`] cycles: about 30 s on
//! this 2-core machine while a fuzzer and other builds ran beside it. Linux only (the
//! checks read `/proc`); elsewhere the stage reports "not present".

use std::time::Duration;

use crate::cmd::Cmd;
use crate::stages::Ran;
use crate::Ctx;

/// Cycles of the short run in `cargo xtask test`.
pub const STAGE_CYCLES: u64 = 1500;

/// Command-line arguments of `cargo xtask soak`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Number of cycles (after a short warm-up). Default: 2000.
    #[arg(long, conflicts_with = "duration")]
    cycles: Option<u64>,
    /// Run for this long instead, e.g. `90s`, `10m`, `1h`.
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Seed of the plans (the timing is not reproducible); default: the time.
    #[arg(long)]
    seed: Option<u64>,
    /// The short run of the `soak` stage of `cargo xtask test` (STAGE_CYCLES cycles).
    #[arg(long, conflicts_with_all = ["cycles", "duration"])]
    short: bool,
    /// Cycles running at once.
    #[arg(long, default_value_t = 4)]
    parallel: usize,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n.parse().map_err(|_| format!("bad duration {s:?}"))?;
    match unit {
        "" | "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(format!("bad duration unit in {s:?} (s, m, h)")),
    }
}

/// `cargo xtask soak`.
pub fn run(ctx: &Ctx, args: Args) -> Result<(), String> {
    let mut soak_args = vec!["--parallel".to_string(), args.parallel.to_string()];
    match (args.cycles, args.duration) {
        (_, Some(d)) => soak_args.extend(["--duration".into(), format!("{}s", d.as_secs())]),
        (c, None) => {
            let default = if args.short { STAGE_CYCLES } else { 2000 };
            soak_args.extend(["--cycles".into(), c.unwrap_or(default).to_string()]);
        }
    }
    if let Some(seed) = args.seed {
        soak_args.extend(["--seed".into(), seed.to_string()]);
    }
    soak(ctx, &soak_args)
}

/// The `soak` stage of `cargo xtask test`.
pub(crate) fn stage(ctx: &Ctx) -> Result<Ran, String> {
    if !cfg!(target_os = "linux") {
        return Ok(Ran::NotPresent("the soak runs on Linux only"));
    }
    soak(ctx, &["--cycles".into(), STAGE_CYCLES.to_string()])?;
    Ok(Ran::Done)
}

fn soak(ctx: &Ctx, args: &[String]) -> Result<(), String> {
    Cmd::new(&ctx.cargo)
        .args(["build", "--release", "-p", "kennel-tests", "--bins"])
        .cwd(&ctx.root)
        .run()?;
    let bin = ctx.target_dir.join("release");
    Cmd::new(bin.join("kennel-soak"))
        .args(args)
        .arg("--fixture")
        .arg(bin.join("kennel-fixture"))
        .arg("--kennel")
        .arg(bin.join("kennel-test-cli"))
        .cwd(&ctx.root)
        .run()
}
