//! `kennel-bench`: the Rust half of kennel's benchmarks. `cargo xtask bench` runs it
//! (and the Node half in `bench/node/`) and turns what they print into
//! `docs/BENCHMARKS.md`.
//!
//! Every subcommand prints one line per figure on stdout:
//!
//! ```text
//! row <TAB> id <TAB> unit <TAB> median <TAB> p99 <TAB> samples <TAB> label
//! ```
//!
//! Figures that are compared are measured in the same process, interleaved (variant A,
//! variant B, A, B, …), so that a machine busy with something else slows both sides
//! alike: the ratios mean something even when the absolute times do not.
//!
//! Checks (all outcomes correct, nothing leaked) fail the subcommand with a message:
//! a benchmark that got wrong results reports nothing.

// The benchmarks are Linux programs (process groups, /proc, through
// `kennel_tests::procfs`): on other platforms the binary only says so, so that the workspace still builds and tests there.
#![cfg_attr(not(target_os = "linux"), allow(dead_code, unused_imports))]

use std::path::PathBuf;
use std::process::ExitCode;

cfg_if::cfg_if! {
    if #[cfg(target_os = "linux")] {
        mod cancel;
        mod floor;
        mod passthrough;
        mod sidecar;
        mod spawn;
        mod stats;
        mod throughput;

        use clap::{Parser, Subcommand};
    }
}

#[cfg(not(target_os = "linux"))]
fn main() -> ExitCode {
    eprintln!("kennel-bench runs on Linux only (process groups, /proc)");
    ExitCode::FAILURE
}

#[cfg(target_os = "linux")]
#[derive(Debug, Parser)]
#[command(name = "kennel-bench", about)]
struct Cli {
    /// The `kennel-fixture` binary (the programs being supervised).
    #[arg(long, global = true, default_value = "target/release/kennel-fixture")]
    fixture: PathBuf,
    /// The `kennel` CLI binary (`kennel run`, `kennel serve`).
    #[arg(long, global = true, default_value = "target/release/kennel")]
    kennel: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[cfg(target_os = "linux")]
#[derive(Debug, Subcommand)]
enum Command {
    /// Spawn round trip: library (each containment tier) vs tokio::process.
    Spawn(spawn::Args),
    /// Output throughput: library event stream vs tokio::process reading the pipe.
    Throughput(throughput::Args),
    /// Output throughput: `kennel run` passthrough vs the command writing to the pipe.
    Passthrough(passthrough::Args),
    /// Cancel latency of a 50-process tree (cooperative, and ignoring SIGTERM).
    Cancel(cancel::Args),
    /// The sidecar: memory (idle, 1000 idle children, flood unread) and scale (1000 at
    /// once, churn).
    Sidecar(sidecar::Args),
    /// The machine's floor for a batch of spawns (bare `posix_spawn`, no pipes, no
    /// supervisor), one batch per line on stdin; driven by `bench.mjs spawn`.
    Floor(floor::Args),
}

#[cfg(target_os = "linux")]
/// The binaries under test.
#[derive(Debug, Clone)]
pub(crate) struct Bins {
    pub(crate) fixture: PathBuf,
    pub(crate) kennel: PathBuf,
}

#[cfg(target_os = "linux")]
fn main() -> ExitCode {
    // The library's keeper tier re-executes this binary as the keeper.
    kennel::keeper::init();
    let cli = Cli::parse();
    let bins = Bins {
        fixture: absolute(cli.fixture),
        kennel: absolute(cli.kennel),
    };
    for (what, path) in [("fixture", &bins.fixture), ("kennel", &bins.kennel)] {
        if !path.is_file() {
            eprintln!(
                "kennel-bench: the {what} binary {} does not exist (cargo build --release first)",
                path.display()
            );
            return ExitCode::FAILURE;
        }
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kennel-bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        match cli.command {
            Command::Spawn(args) => spawn::run(&bins, args).await,
            Command::Throughput(args) => throughput::run(&bins, args).await,
            Command::Passthrough(args) => passthrough::run(&bins, args).await,
            Command::Cancel(args) => cancel::run(&bins, args).await,
            Command::Sidecar(args) => sidecar::run(&bins, args).await,
            Command::Floor(args) => floor::run(&bins, args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kennel-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn absolute(p: PathBuf) -> PathBuf {
    std::path::absolute(&p).unwrap_or(p)
}

/// Errors of the benchmarks are messages for the person running them.
pub(crate) type Result<T, E = String> = std::result::Result<T, E>;
