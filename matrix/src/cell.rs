//! Running one cell: one fixture by one implementation, bounded, observed through
//! `/proc`, and cleaned up after (see [`crate::procs`]).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::fixtures::{Evidence, Fixture, OnWindows, Spec, Verdict};
use crate::impls::{is_supervisor_exe, Impl, Tools};
use crate::job::{Action, DriverResult, Job};
use crate::procs::{self, Reaper, MARKER_VAR};
use crate::wine_loader;

/// The outcome of one cell.
#[derive(Debug, Clone)]
pub struct Cell {
    /// Row.
    pub fixture: &'static str,
    /// Column.
    pub imp: Impl,
    /// The verdict.
    pub verdict: Verdict,
    /// Wall time of the whole cell (driver start to clean-up done).
    pub wall: Duration,
    /// The headline measurement for the table: time to the final status (after the
    /// trigger, if any), "hang > N s", or how the tree fared after the supervisor died.
    pub short: String,
}

/// A failed verdict shows what the implementation wrote on stderr, where its driver
/// kept it (the `kennel run` driver: kennel's own error, which a status such as `exit
/// 125` alone does not name).
fn with_stderr(verdict: &mut Verdict, ev: &Evidence) {
    let said = ev.result.as_ref().map_or("", |r| r.stderr_head.trim());
    if !verdict.pass && !said.is_empty() {
        verdict.evidence = format!("{}; its stderr: {said:?}", verdict.evidence);
    }
}

fn short(ev: &Evidence, action: Action) -> String {
    let after = match action {
        Action::Abort => "abort",
        Action::SigkillSelf => "SIGKILL",
        Action::SigtermSelf => "SIGTERM",
        Action::SigintSelf => "SIGINT",
    };
    match (&ev.result, ev.hang_after) {
        (_, Some(b)) => format!("hang > {} s", b.as_secs()),
        (Some(r), None) => match r.trigger_ms {
            Some(_) if r.status.starts_with("supervisor killed") => after_death(ev),
            Some(t) => format!("{} ms after {after}", r.final_ms.saturating_sub(t)),
            None => format!("{} ms", r.final_ms),
        },
        (None, None) => after_death(ev),
    }
}

fn after_death(ev: &Evidence) -> String {
    if ev.survivors.is_empty() {
        format!("tree gone in {} ms", ev.gone_after.as_millis())
    } else {
        format!("{} left", ev.survivors.len())
    }
}

/// Where a cell runs.
#[derive(Debug, Clone)]
pub enum Os {
    /// Natively.
    Linux,
    /// kennel's Windows build under Wine; the Node columns with Node for Windows under
    /// Wine when `node_exe` is given.
    Wine {
        /// `kennel.exe`.
        kennel_exe: PathBuf,
        /// `kennel-fixture.exe`.
        fixture_exe: PathBuf,
        /// `node.exe` (Windows build of Node).
        node_exe: Option<PathBuf>,
    },
}

/// `Z:\…`: how a Windows program under Wine names a Linux path.
pub fn wine_path(p: &Path) -> String {
    format!("Z:{}", p.to_string_lossy().replace('/', "\\"))
}

/// Everything a cell needs from the harness.
pub struct Runner {
    /// Programs.
    pub tools: Tools,
    /// Per-cell directories go here.
    pub work: PathBuf,
    /// The reaper (the harness is a subreaper).
    pub reaper: Reaper,
}

impl Runner {
    /// Runs `fixture` with `imp` on Linux.
    ///
    /// # Errors
    ///
    /// Only when the harness itself failed: the driver could not start, files could not be
    /// written, or the sweep could not clean up (which would poison the next cell).
    pub fn run(&self, fixture: &Fixture, imp: Impl, os: &Os) -> Result<Cell, String> {
        let started = Instant::now();
        let (spec, prefix) = match (os, fixture.windows) {
            (Os::Linux, _) => ((fixture.spec)(), ""),
            (Os::Wine { .. }, OnWindows::Runs(shape)) => ((shape.spec)(), "win-"),
            (Os::Wine { .. }, OnWindows::Not(why)) => {
                return Err(format!(
                    "fixture {} does not run on Windows: {why}",
                    fixture.id
                ))
            }
        };
        let dir = self
            .work
            .join(format!("{prefix}{}--{}", fixture.id, imp.name()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let tag = format!("{}-{}-{}", std::process::id(), fixture.id, imp.name());
        let mut job = job_for(&spec, &self.tools.fixture, &dir);
        let mut driver = imp.driver(&self.tools, &dir.join("job.json"));
        if let Os::Wine {
            kennel_exe,
            fixture_exe,
            node_exe,
        } = os
        {
            job.argv[0] = wine_path(fixture_exe);
            let count = dir.join("count").to_string_lossy().into_owned();
            for a in job.argv.iter_mut().filter(|a| **a == count) {
                *a = wine_path(Path::new(&count));
            }
            if imp.is_node() {
                let node_exe = node_exe
                    .as_ref()
                    .ok_or_else(|| format!("{} under Wine needs --wine-node-exe", imp.name()))?;
                // The Node for Windows refuses Wine's default "Windows 7" without this.
                driver = std::process::Command::new("wine");
                driver
                    .arg(node_exe)
                    .arg(wine_path(
                        &self
                            .tools
                            .baseline
                            .join("drivers")
                            .join(format!("{}.js", imp.name())),
                    ))
                    .arg(wine_path(&dir.join("job.json")))
                    .env("KENNEL_BIN", wine_path(kennel_exe))
                    .env("NODE_SKIP_PLATFORM_CHECK", "1");
                job.result_file = wine_path(Path::new(&job.result_file));
            } else {
                driver
                    .env("KENNEL_BIN", kennel_exe)
                    .env("KENNEL_MATRIX_WINE", "wine");
            }
        }
        let job_path = dir.join("job.json");
        write(
            &job_path,
            &serde_json::to_vec_pretty(&job).map_err(|e| e.to_string())?,
        )?;
        let log_path = dir.join("driver.log");
        let log = std::fs::File::create(&log_path)
            .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;

        // Records of earlier cells are useless now, and one could carry this driver's pid.
        self.reaper.forget_before(started);
        let spawned = Instant::now();
        let child = driver
            .env(MARKER_VAR, &tag)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| format!("cannot start the {} driver: {e}", imp.name()))?;
        let pid = child.id();
        // Never `child.wait()`: the reaper thread reaps it (see procs::Reaper).
        drop(child);

        let result_path = dir.join("result.json");
        // Which tagged processes are the tree under test, and which the supervisor side.
        // Under Wine every process runs the Wine loader, so the command line tells them
        // apart; Wine's own services (wineserver, conhost, …) are neither (only swept).
        let wine = matches!(os, Os::Wine { .. });
        let tree = |p: &procs::Proc| {
            if wine {
                p.cmdline.contains("kennel-fixture")
            } else {
                !is_supervisor_exe(&p.exe)
            }
        };
        let supervisor = |p: &procs::Proc| {
            if wine {
                p.cmdline.contains("kennel.exe")
                    || p.cmdline.contains("node.exe")
                    || is_supervisor_exe(&p.exe)
            } else {
                is_supervisor_exe(&p.exe)
            }
        };
        let mut ev = Evidence::default();
        loop {
            if let Some(r) = read_result(&result_path) {
                ev.result = Some(r);
                let (left, took) = procs::wait_gone(&tag, fixture.settle, tree);
                ev.survivors = left;
                ev.gone_after = took;
                if wine {
                    wait_for_cut_short_loaders(&tag, &mut ev);
                }
                break;
            }
            if let Some(end) = self.reaper.ended(pid, spawned) {
                // One last look: the result may have landed just before the exit.
                if let Some(r) = read_result(&result_path) {
                    ev.result = Some(r);
                } else {
                    ev.driver_ended = Some(end);
                }
                let (left, took) = procs::wait_gone(&tag, fixture.settle, tree);
                ev.survivors = left;
                ev.gone_after = took;
                break;
            }
            if started.elapsed() >= fixture.bound {
                ev.hang_after = Some(fixture.bound);
                ev.survivors = procs::tagged(&tag).into_iter().filter(tree).collect();
                procs::kill(pid, rustix::process::Signal::KILL);
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // The driver (the supervisor) stayed alive until now; let it go.
        write(&dir.join("result.json.release"), b"")?;
        if self
            .reaper
            .wait(pid, spawned, Duration::from_secs(10))
            .is_none()
        {
            procs::kill(pid, rustix::process::Signal::KILL);
            self.reaper.wait(pid, spawned, Duration::from_secs(5));
        }
        if ev.hang_after.is_none() {
            ev.lingering = procs::wait_gone(&tag, Duration::from_secs(5), supervisor).0;
        }
        ev.fired = std::fs::read(dir.join("result.json.fired"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        ev.count_file = std::fs::read_to_string(dir.join("count"))
            .ok()
            .and_then(|s| s.trim().parse().ok());
        ev.driver_log = log_tail(&log_path);

        let left = procs::sweep(&tag, Duration::from_secs(10));
        if !left.is_empty() {
            return Err(format!(
                "cell {} × {}: could not clean up: {}",
                fixture.id,
                imp.name(),
                crate::fixtures::list(&left)
            ));
        }
        let mut verdict = match (os, fixture.windows) {
            (Os::Wine { .. }, OnWindows::Runs(shape)) => shape.check.unwrap_or(fixture.check)(&ev),
            _ => (fixture.check)(&ev),
        };
        with_stderr(&mut verdict, &ev);
        let cell = Cell {
            fixture: fixture.id,
            imp,
            verdict,
            wall: started.elapsed(),
            short: short(&ev, spec.action),
        };
        write(
            &dir.join("verdict.txt"),
            format!(
                "{}: {}\n",
                if cell.verdict.pass { "PASS" } else { "FAIL" },
                cell.verdict.evidence
            )
            .as_bytes(),
        )?;
        Ok(cell)
    }
}

/// Under Wine a process whose creation the tree kill cut short can outlive it as the
/// bare Linux side of Wine's loader (its command line not yet the Windows one; see
/// [`wine_loader`]). When only such loaders survived the settle, wait up to 2 s more for
/// those that may still exit, and record it. A loader proven deadlocked (it can never
/// run a line of the program) is recorded apart, with the proof, and left to the sweep;
/// anything else still alive stays a survivor.
fn wait_for_cut_short_loaders(tag: &str, ev: &mut Evidence) {
    let is_loader = |p: &procs::Proc| wine_loader::is_fixture_loader(&p.cmdline);
    if ev.survivors.is_empty() || !ev.survivors.iter().all(is_loader) {
        return;
    }
    let n = ev.survivors.len();
    let start = Instant::now();
    let mut deadlocked: Vec<(procs::Proc, String)> = Vec::new();
    let left = loop {
        let mut left = Vec::new();
        for p in procs::tagged(tag).into_iter().filter(is_loader) {
            if deadlocked.iter().any(|(d, _)| d.pid == p.pid) {
                continue;
            }
            match wine_loader::deadlock(p.pid) {
                Some(why) => deadlocked.push((p, why)),
                None => left.push(p),
            }
        }
        if left.is_empty() || start.elapsed() >= Duration::from_secs(2) {
            break left;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if left.is_empty() && deadlocked.len() < n {
        ev.late_loaders = Some((n - deadlocked.len(), start.elapsed()));
    }
    ev.wine_deadlocked = deadlocked;
    ev.survivors = left;
}

/// The job file for `spec`, with the fixture program and the cell's paths filled in.
pub fn job_for(spec: &Spec, fixture_bin: &Path, dir: &Path) -> Job {
    let count = dir.join("count");
    let mut argv = vec![fixture_bin.to_string_lossy().into_owned()];
    argv.extend(spec.args.iter().map(|a| {
        if *a == "{count}" {
            count.to_string_lossy().into_owned()
        } else {
            (*a).to_owned()
        }
    }));
    Job {
        argv,
        grace_ms: spec.grace_ms,
        stdin_bytes: spec.stdin_bytes,
        trigger: spec.trigger.clone(),
        action: spec.action,
        slow_ms_per_chunk: spec.slow_ms_per_chunk,
        result_file: dir.join("result.json").to_string_lossy().into_owned(),
        limits: spec.limits,
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn read_result(path: &Path) -> Option<DriverResult> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// The last 3 non-empty lines of the driver's output, on one line.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let s = lines[lines.len().saturating_sub(3)..].join(" / ");
    crate::clip(&s, 300)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(stderr: &str) -> Evidence {
        Evidence {
            result: Some(DriverResult {
                stderr_head: stderr.into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn verdict(pass: bool) -> Verdict {
        Verdict {
            pass,
            evidence: "status `exit 125`".into(),
        }
    }

    #[test]
    fn a_failed_verdict_quotes_what_the_implementation_said_on_stderr() {
        let mut v = verdict(false);
        with_stderr(&mut v, &ev("kennel: error: cannot start\n"));
        assert_eq!(
            v.evidence,
            "status `exit 125`; its stderr: \"kennel: error: cannot start\""
        );
    }

    #[test]
    fn a_pass_or_a_silent_implementation_leaves_the_evidence_alone() {
        let mut v = verdict(true);
        with_stderr(&mut v, &ev("a warning\n"));
        assert_eq!(v.evidence, "status `exit 125`");
        let mut v = verdict(false);
        with_stderr(&mut v, &ev(" \n"));
        assert_eq!(v.evidence, "status `exit 125`");
    }
}
