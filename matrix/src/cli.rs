//! The command line of `kennel-matrix`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use kennel_matrix::cell::{Cell, Runner};
use kennel_matrix::fixtures;
use kennel_matrix::impls::{Impl, Tools};
use kennel_matrix::procs::Reaper;
use kennel_matrix::report::{self, WinCell};

/// Run every fixture against every implementation; write the report.
#[derive(Debug, Parser)]
#[command(name = "kennel-matrix")]
struct Args {
    /// Where to write the report (Markdown).
    #[arg(long)]
    out: PathBuf,
    /// Only these implementations (comma-separated names: kennel-node, kennel-cli,
    /// baseline, shell-tool, execa, tree-kill).
    #[arg(long, value_delimiter = ',')]
    imps: Vec<String>,
    /// Only these fixtures (comma-separated ids).
    #[arg(long, value_delimiter = ',')]
    fixtures: Vec<String>,
    /// Exit non-zero unless every kennel cell passed.
    #[arg(long)]
    check: bool,
    /// `node`.
    #[arg(long, default_value = "node")]
    node: PathBuf,
    /// The `baseline/` directory (drivers, npm packages installed).
    #[arg(long)]
    baseline: PathBuf,
    /// The kennel binary (Linux).
    #[arg(long)]
    kennel: PathBuf,
    /// `kennel-fixture` (Linux).
    #[arg(long)]
    fixture: PathBuf,
    /// `kennel-matrix-cli-driver`.
    #[arg(long)]
    cli_driver: PathBuf,
    /// Scratch directory for the cells.
    #[arg(long)]
    work: PathBuf,
    /// `key=value` lines for the report's "machine and versions" section.
    #[arg(long = "about")]
    about: Vec<String>,
    /// The command that regenerates the report (for the report).
    #[arg(long, default_value = "cargo xtask matrix")]
    command: String,
}

pub fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("kennel-matrix: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> Result<bool, String> {
    let started = Instant::now();
    let impls: Vec<Impl> = if args.imps.is_empty() {
        Impl::ALL.to_vec()
    } else {
        args.imps
            .iter()
            .map(|n| Impl::parse(n).ok_or_else(|| format!("unknown implementation {n:?}")))
            .collect::<Result<_, _>>()?
    };
    let all = fixtures::all();
    for id in &args.fixtures {
        if !all.iter().any(|f| f.id == id) {
            return Err(format!("unknown fixture {id:?}"));
        }
    }
    let fixtures: Vec<_> = all
        .into_iter()
        .filter(|f| args.fixtures.is_empty() || args.fixtures.iter().any(|id| id == f.id))
        .collect();
    for (what, p) in [
        ("kennel", &args.kennel),
        ("kennel-fixture", &args.fixture),
        ("the CLI driver", &args.cli_driver),
    ] {
        if !p.is_file() {
            return Err(format!("{what} not found at {}", p.display()));
        }
    }
    if impls.iter().any(|i| i.is_node()) && !args.baseline.join("node_modules").is_dir() {
        return Err(format!(
            "{}/node_modules is missing (run `npm ci` there)",
            args.baseline.display()
        ));
    }
    std::fs::create_dir_all(&args.work)
        .map_err(|e| format!("cannot create {}: {e}", args.work.display()))?;
    let runner = Runner {
        tools: Tools {
            node: args.node.clone(),
            baseline: args.baseline.clone(),
            kennel: args.kennel.clone(),
            fixture: args.fixture.clone(),
            cli_driver: args.cli_driver.clone(),
        },
        work: args.work.clone(),
        reaper: Reaper::start()?,
    };

    let mut linux: Vec<Cell> = Vec::new();
    for f in &fixtures {
        for imp in &impls {
            let cell = runner.run(f, *imp)?;
            println!(
                "{:<20} {:<12} {} {:>5.1} s  {}",
                f.id,
                imp.name(),
                if cell.verdict.pass { "PASS" } else { "FAIL" },
                cell.wall.as_secs_f64(),
                cell.verdict.evidence
            );
            linux.push(cell);
        }
    }
    let windows: Vec<(&'static str, Impl, WinCell)> = Vec::new();

    let mut about: Vec<(String, String)> = args
        .about
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (kv.clone(), String::new()),
        })
        .collect();
    about.push((
        "regenerate with".into(),
        format!(
            "`{}` (this run: {:.0} s)",
            args.command,
            started.elapsed().as_secs_f64()
        ),
    ));
    let ctx = report::Context {
        about,
        windows_note: String::new(),
    };
    let text = report::render(&ctx, &fixtures, &impls, &linux, &windows);
    if let Some(dir) = args.out.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(&args.out, text)
        .map_err(|e| format!("cannot write {}: {e}", args.out.display()))?;
    println!("wrote {}", args.out.display());

    let kennel_failures: Vec<String> = linux
        .iter()
        .filter(|c| c.imp.is_kennel() && !c.verdict.pass)
        .map(|c| format!("{} × {}: {}", c.fixture, c.imp.name(), c.verdict.evidence))
        .collect();
    if args.check && !kennel_failures.is_empty() {
        eprintln!("kennel failed {} cell(s):", kennel_failures.len());
        for f in &kennel_failures {
            eprintln!("  {f}");
        }
        return Ok(false);
    }
    if args.check {
        let n = linux.iter().filter(|c| c.imp.is_kennel()).count();
        println!("kennel passed all {n} of its cells");
    }
    Ok(true)
}
