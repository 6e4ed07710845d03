//! `cargo xtask` — one entry point for project chores.
//!
//! * `cargo xtask test` runs the whole test suite, stage by stage (see [`stages`]).
//! * `cargo xtask wine-setup` prepares the Wine prefix the Windows stage runs in.
//! * `cargo xtask matrix` runs the fixture matrix and writes `docs/REPORT.md` ([`matrix`]).
//! * `cargo xtask bench` runs the benchmarks and writes `docs/BENCHMARKS.md` ([`bench`]).
//! * `cargo xtask soak` runs the soak ([`soak`]).
//!
//! The alias lives in `.cargo/config.toml`; this binary is a plain workspace member
//! with no dependencies beyond clap, so it builds in a few seconds from a clean clone.

mod bench;
mod cmd;
mod matrix;
mod setup;
mod shape;
mod soak;
mod stages;
mod wine;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::stages::{Stage, TestOptions};

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", about, version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole test suite: fmt, clippy, cargo test, node client, macOS check,
    /// Windows tests under Wine (skip with `--skip windows` or KENNEL_WINDOWS_TESTS=0).
    Test(TestArgs),
    /// Create the Wine prefix and install the ProcessPrng shim (idempotent).
    WineSetup,
    /// Run every fixture against every implementation; write docs/REPORT.md.
    Matrix(matrix::Args),
    /// Run the benchmarks; write docs/BENCHMARKS.md.
    Bench(bench::Args),
    /// Run the soak: many random spawn/cancel/kill/timeout cycles, then leak checks.
    Soak(soak::Args),
    /// Check the size limits of the shipped code (files ≤ 400 lines, functions ≤ 60).
    Shape,
}

#[derive(Debug, clap::Args)]
struct TestArgs {
    /// Run the Windows-under-Wine stage even if KENNEL_WINDOWS_TESTS=0 (it runs by
    /// default; `--skip windows` turns it off).
    #[arg(long)]
    windows: bool,
    /// Run only these stages (repeatable or comma-separated).
    #[arg(long, value_enum, value_delimiter = ',', value_name = "STAGE")]
    only: Vec<Stage>,
    /// Skip these stages (repeatable or comma-separated).
    #[arg(long, value_enum, value_delimiter = ',', value_name = "STAGE")]
    skip: Vec<Stage>,
    /// Extra arguments passed to every `cargo test` invocation
    /// (e.g. `cargo xtask test -- --no-fail-fast -- --nocapture`).
    #[arg(last = true, value_name = "CARGO_TEST_ARGS")]
    extra: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ctx = match Ctx::discover() {
        Ok(ctx) => ctx,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Test(args) => {
            // On by default; KENNEL_WINDOWS_TESTS=0 (or --skip windows) turns it off.
            let windows = args.windows
                || std::env::var_os("KENNEL_WINDOWS_TESTS").is_none()
                || env_flag("KENNEL_WINDOWS_TESTS");
            stages::run(
                &ctx,
                &TestOptions {
                    windows,
                    only: args.only,
                    skip: args.skip,
                    extra: args.extra,
                },
            )
        }
        Command::WineSetup => wine::setup(&ctx).map(|_| ()),
        Command::Matrix(args) => matrix::run(&ctx, args),
        Command::Bench(args) => bench::run(&ctx, args),
        Command::Soak(args) => soak::run(&ctx, args),
        Command::Shape => stages::shape(&ctx),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// True when the environment variable is set to something other than empty/0/false/no/off.
fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| {
        let v = v.trim().to_ascii_lowercase();
        !matches!(v.as_str(), "" | "0" | "false" | "no" | "off")
    })
}

/// Where things are.
#[derive(Debug)]
pub struct Ctx {
    /// Workspace root (the directory holding the workspace Cargo.toml).
    pub root: PathBuf,
    /// Cargo's target directory: `$CARGO_TARGET_DIR` (relative to the root if relative)
    /// or `<root>/target`.
    pub target_dir: PathBuf,
    /// The cargo binary to invoke (`$CARGO` when run through cargo, else `cargo`).
    pub cargo: PathBuf,
}

impl Ctx {
    fn discover() -> Result<Ctx, String> {
        // <root>/xtask. Prefer the value `cargo run` sets at run time: the compile-time
        // one is stale when two checkouts share a CARGO_TARGET_DIR (cargo's fingerprints
        // are workspace-relative, so the binary of the other checkout counts as fresh).
        let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
        let root = manifest_dir
            .parent()
            .map(PathBuf::from)
            .ok_or("cannot find the workspace root")?;
        if !root.join("Cargo.toml").is_file() {
            return Err(format!(
                "no Cargo.toml in workspace root {}",
                root.display()
            ));
        }
        let target_dir = match std::env::var_os("CARGO_TARGET_DIR") {
            Some(dir) if !dir.is_empty() => root.join(dir),
            _ => root.join("target"),
        };
        let cargo = std::env::var_os("CARGO")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("cargo"));
        Ok(Ctx {
            root,
            target_dir,
            cargo,
        })
    }
}

/// Where a chore writes its report unless `--out` says.
pub struct ReportPaths {
    /// The published report, under the workspace root.
    pub published: &'static str,
    /// A trial run's (`--smoke`, `--check`), under the target directory.
    pub trial: &'static str,
}

impl ReportPaths {
    /// `given` (`--out`), else the trial or the published path.
    pub fn pick(&self, ctx: &Ctx, given: Option<&Path>, is_trial: bool) -> PathBuf {
        match given {
            Some(path) => path.to_path_buf(),
            None if is_trial => ctx.target_dir.join(self.trial),
            None => ctx.root.join(self.published),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_stage_lists_and_extra_args() {
        let cli = Cli::try_parse_from([
            "xtask",
            "test",
            "--only",
            "fmt,clippy",
            "--skip",
            "node",
            "--",
            "--no-fail-fast",
            "--",
            "--nocapture",
        ])
        .unwrap();
        let Command::Test(args) = cli.command else {
            panic!("expected test")
        };
        assert_eq!(args.only, vec![Stage::Fmt, Stage::Clippy]);
        assert_eq!(args.skip, vec![Stage::Node]);
        assert_eq!(args.extra, vec!["--no-fail-fast", "--", "--nocapture"]);
        assert!(!args.windows);
    }

    #[test]
    fn rejects_unknown_stage() {
        assert!(Cli::try_parse_from(["xtask", "test", "--only", "bogus"]).is_err());
    }

    #[test]
    fn a_report_goes_where_out_says_else_by_the_kind_of_run() {
        let ctx = Ctx {
            root: PathBuf::from("/ws"),
            target_dir: PathBuf::from("/ws/target"),
            cargo: PathBuf::from("cargo"),
        };
        let paths = ReportPaths {
            published: "docs/R.md",
            trial: "r.md",
        };
        let given = Path::new("/tmp/out.md");
        assert_eq!(paths.pick(&ctx, Some(given), true), given);
        assert_eq!(paths.pick(&ctx, None, true), Path::new("/ws/target/r.md"));
        assert_eq!(paths.pick(&ctx, None, false), Path::new("/ws/docs/R.md"));
    }
}
