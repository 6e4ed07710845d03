//! `cargo xtask test`: the whole test suite as a fixed sequence of stages.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::cmd::{on_path, Cmd};
use crate::{wine, Ctx};

/// The stages, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Stage {
    /// cargo fmt --all -- --check
    Fmt,
    /// cargo clippy --workspace --all-targets -- -D warnings
    Clippy,
    /// cargo test --workspace
    Test,
    /// npm ci && npm test in clients/node
    Node,
    /// Size limits of the shipped code (see `cargo xtask shape`)
    Shape,
    /// The fixture matrix's kennel columns must all pass (see `cargo xtask matrix`)
    Matrix,
    /// Benchmarks, smoke size: they still run and still report (see `cargo xtask bench`)
    Bench,
    /// Soak, short run (see `cargo xtask soak`)
    Soak,
    /// cargo clippy -D warnings for x86_64-apple-darwin and aarch64-apple-darwin
    Macos,
    /// cargo test --target x86_64-pc-windows-gnu under Wine
    Windows,
}

impl Stage {
    const ALL: [Stage; 10] = [
        Stage::Fmt,
        Stage::Clippy,
        Stage::Test,
        Stage::Node,
        Stage::Shape,
        Stage::Matrix,
        Stage::Bench,
        Stage::Soak,
        Stage::Macos,
        Stage::Windows,
    ];

    fn name(self) -> &'static str {
        match self {
            Stage::Fmt => "fmt",
            Stage::Clippy => "clippy",
            Stage::Test => "test",
            Stage::Node => "node",
            Stage::Shape => "shape",
            Stage::Matrix => "matrix",
            Stage::Bench => "bench",
            Stage::Soak => "soak",
            Stage::Macos => "macos",
            Stage::Windows => "windows",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Stage::Fmt => "formatting (cargo fmt --check)",
            Stage::Clippy => "lints (cargo clippy -D warnings; rustdoc -D warnings)",
            Stage::Test => "unit + integration tests (cargo test --workspace)",
            Stage::Node => "Node client tests (clients/node: npm test)",
            Stage::Shape => "files ≤ 400 lines, functions ≤ 60 (cargo xtask shape)",
            Stage::Matrix => "fixture matrix, kennel columns (cargo xtask matrix --check)",
            Stage::Bench => "benchmark smoke run (cargo xtask bench --smoke)",
            Stage::Soak => "soak, short run (cargo xtask soak --short)",
            Stage::Macos => "macOS compile + lint check (x86_64 + aarch64 apple-darwin)",
            Stage::Windows => "Windows tests under Wine (x86_64-pc-windows-gnu)",
        }
    }
}

pub struct TestOptions {
    pub windows: bool,
    pub only: Vec<Stage>,
    pub skip: Vec<Stage>,
    pub extra: Vec<String>,
}

enum Status {
    Passed,
    Failed,
    /// Not selected with --only/--skip.
    Skipped,
    /// An earlier stage failed.
    NotRun,
    /// Stage is switched off, with the reason shown.
    Off(&'static str),
    /// The thing this stage tests does not exist in the tree yet.
    NotPresent(&'static str),
}

/// What a stage function reports when it did not fail.
pub(crate) enum Ran {
    Done,
    NotPresent(&'static str),
}

pub fn run(ctx: &Ctx, opts: &TestOptions) -> Result<(), String> {
    let suite = Instant::now();
    let mut results: Vec<(Stage, Status, Duration)> = Vec::new();
    let mut failure = None;
    for (i, stage) in Stage::ALL.into_iter().enumerate() {
        let selected =
            (opts.only.is_empty() || opts.only.contains(&stage)) && !opts.skip.contains(&stage);
        if !selected || failure.is_some() {
            let status = if selected {
                Status::NotRun
            } else {
                Status::Skipped
            };
            results.push((stage, status, Duration::ZERO));
            continue;
        }
        banner(&format!(
            "[{}/{}] {}: {}",
            i + 1,
            Stage::ALL.len(),
            stage.name(),
            stage.what()
        ));
        let windows_on = opts.windows || opts.only.contains(&Stage::Windows);
        if stage == Stage::Windows && !windows_on {
            let why = "windows stage off (KENNEL_WINDOWS_TESTS=0; enable with --windows)";
            println!("{why}");
            results.push((stage, Status::Off(why), Duration::ZERO));
            continue;
        }
        let t = Instant::now();
        let outcome = run_stage(ctx, opts, stage);
        let took = t.elapsed();
        let status = match outcome {
            Ok(Ran::Done) => Status::Passed,
            Ok(Ran::NotPresent(why)) => {
                println!("{why}");
                Status::NotPresent(why)
            }
            Err(e) => {
                eprintln!("\nxtask: stage `{}` failed: {e}", stage.name());
                failure = Some((stage, e));
                Status::Failed
            }
        };
        println!("--- {}: {} in {}", stage.name(), label(&status), secs(took));
        results.push((stage, status, took));
    }

    banner("summary");
    for (stage, status, took) in &results {
        let detail = match status {
            Status::Off(why) | Status::NotPresent(why) => format!("  ({why})"),
            _ => String::new(),
        };
        println!(
            "{:<8} {:<12} {:>9}{detail}",
            stage.name(),
            label(status),
            secs(*took)
        );
    }
    println!("total    {:<12} {:>9}", "", secs(suite.elapsed()));
    match failure {
        None => {
            println!("xtask test: all stages passed");
            Ok(())
        }
        Some((stage, e)) => Err(format!("stage `{}` FAILED: {e}", stage.name())),
    }
}

fn run_stage(ctx: &Ctx, opts: &TestOptions, stage: Stage) -> Result<Ran, String> {
    let cargo = || Cmd::new(&ctx.cargo).cwd(&ctx.root);
    match stage {
        Stage::Fmt => {
            crate::setup::ensure_component(&ctx.cargo, "fmt", "rustfmt")?;
            cargo().args(["fmt", "--all", "--", "--check"]).run()?;
        }
        Stage::Clippy => {
            crate::setup::ensure_component(&ctx.cargo, "clippy", "clippy")?;
            cargo()
                .args(["clippy", "--workspace", "--all-targets", "--"])
                .args(["-D", "warnings"])
                .run()?;
            // The shipped crates' docs: every intra-doc link resolves.
            cargo()
                .args(["doc", "--no-deps", "-p", "kennel", "-p", "kennel-protocol"])
                .args(["-p", "kennel-cli", "-p", "kennel-types"])
                .env("RUSTDOCFLAGS", "-D warnings")
                .run()?;
        }
        Stage::Test => cargo()
            .args(["test", "--workspace"])
            .args(&opts.extra)
            .run()?,
        Stage::Node => return node(ctx),
        Stage::Shape => shape(ctx)?,
        Stage::Matrix => return crate::matrix::stage(ctx),
        Stage::Bench => return crate::bench::stage(ctx),
        Stage::Soak => return crate::soak::stage(ctx),
        Stage::Macos => {
            for target in ["x86_64-apple-darwin", "aarch64-apple-darwin"] {
                ensure_target(ctx, target)?;
                // clippy, not check: the macOS-only code paths must be warning-free too.
                cargo()
                    .args(["clippy", "--workspace", "--all-targets", "--target", target])
                    .args(["--", "-D", "warnings"])
                    .run()?;
            }
        }
        Stage::Windows => {
            ensure_target(ctx, wine::TARGET)?;
            let env = wine::setup(ctx)?;
            let runner_var = "CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER";
            // Lints of the Windows-only code (sys/windows.rs, the Windows tests).
            cargo()
                .args([
                    "clippy",
                    "--target",
                    wine::TARGET,
                    "-p",
                    "kennel",
                    "-p",
                    "kennel-tests",
                ])
                .args(["--lib", "--tests", "--bins", "--", "-D", "warnings"])
                .run()?;
            let mut test = cargo()
                .args(["test", "--workspace", "--target", wine::TARGET])
                .args(&opts.extra)
                .envs(&env.vars);
            if std::env::var_os(runner_var).is_none() {
                test = test.env(runner_var, "wine");
            }
            env.keep_server()?;
            let result = test.run();
            // Leaked test processes must not outlive the run (nor keep wineserver up).
            env.shutdown();
            result?;
        }
    }
    Ok(Ran::Done)
}

/// Node client: `npm ci` (or `npm install` without a lockfile), then `npm test`.
/// The CLI is built first and its path exported as KENNEL_BIN for the client's tests.
fn node(ctx: &Ctx) -> Result<Ran, String> {
    let dir = ctx.root.join("clients/node");
    if !dir.join("package.json").is_file() {
        return Ok(Ran::NotPresent(
            "node stage not present yet: clients/node/package.json does not exist",
        ));
    }
    let npm = if cfg!(windows) { "npm.cmd" } else { "npm" };
    if !cfg!(windows) && !on_path(npm) {
        return Err("npm not found on PATH (install Node 20 + npm)".into());
    }
    // Not xtask itself: on Windows a running .exe cannot be overwritten, and feature
    // unification across the workspace may want to relink it.
    Cmd::new(&ctx.cargo)
        .cwd(&ctx.root)
        .args(["build", "--workspace", "--bins", "--exclude", "xtask"])
        .run()?;
    let bin = ctx
        .target_dir
        .join("debug")
        .join(format!("kennel{}", std::env::consts::EXE_SUFFIX));
    let with_env = |c: Cmd| {
        let c = c.cwd(&dir).env("CARGO_TARGET_DIR", &ctx.target_dir);
        if bin.is_file() && std::env::var_os("KENNEL_BIN").is_none() {
            c.env("KENNEL_BIN", &bin)
        } else {
            c
        }
    };
    let locked = ["package-lock.json", "npm-shrinkwrap.json"]
        .iter()
        .any(|f| dir.join(f).is_file());
    // Without a lockfile, don't leave a fresh package-lock.json behind in the tree.
    let install: &[&str] = if locked {
        &["ci"]
    } else {
        &["install", "--no-package-lock"]
    };
    with_env(Cmd::new(npm))
        .args(install)
        .args(["--no-audit", "--no-fund"])
        .run()?;
    with_env(Cmd::new(npm)).arg("test").run()?;
    // Installs like a package: npm pack the client and this host's platform package,
    // install both tarballs offline into an empty project, spawn through kennel/process
    // with no KENNEL_BIN (clients/node/scripts/install-check.mjs).
    Cmd::new("node")
        .cwd(&dir)
        .env_remove("KENNEL_BIN")
        .arg("scripts/install-check.mjs")
        .arg("--binary")
        .arg(&bin)
        .args(["--mode", "tarball"])
        .run()?;
    Ok(Ran::Done)
}

/// Make sure the standard library for `target` is installed (`rustup target add`).
pub(crate) fn ensure_target(ctx: &Ctx, target: &str) -> Result<(), String> {
    let sysroot = Cmd::new("rustc")
        .cwd(&ctx.root)
        .args(["--print", "sysroot"])
        .read()?;
    let lib = Path::new(sysroot.trim())
        .join("lib/rustlib")
        .join(target)
        .join("lib");
    if lib.is_dir() {
        return Ok(());
    }
    Cmd::new("rustup")
        .cwd(&ctx.root)
        .args(["target", "add", target])
        .run()
        .map_err(|e| format!("the {target} standard library is missing and {e}"))
}

fn banner(title: &str) {
    let rule = "=".repeat(72);
    println!("\n{rule}\n== {title}\n{rule}");
}

fn label(status: &Status) -> &'static str {
    match status {
        Status::Passed => "ok",
        Status::Failed => "FAILED",
        Status::Skipped => "skipped",
        Status::NotRun => "not run",
        Status::Off(_) => "off",
        Status::NotPresent(_) => "not present",
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// The size limits, Rust and TypeScript (the latter needs the node stage's `npm ci`).
pub(crate) fn shape(ctx: &Ctx) -> Result<(), String> {
    let node = if cfg!(windows) { "node.exe" } else { "node" };
    if !on_path(node) {
        return Err("node not found on PATH (install Node 20 + npm)".into());
    }
    crate::shape::check(&ctx.root, Some(Path::new(node)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_names_match_cli_values() {
        use clap::ValueEnum;
        for stage in Stage::ALL {
            let value = stage.to_possible_value().unwrap();
            assert_eq!(value.get_name(), stage.name());
        }
    }

    #[test]
    fn windows_runs_last() {
        assert_eq!(Stage::ALL.last(), Some(&Stage::Windows));
    }
}
