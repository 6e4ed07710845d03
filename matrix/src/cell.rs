//! Running one cell: one fixture by one implementation, bounded, observed through
//! `/proc`, and cleaned up after (see [`crate::procs`]).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::fixtures::{Evidence, Fixture, Spec, Verdict};
use crate::impls::{is_supervisor_exe, Impl, Tools};
use crate::job::{DriverResult, Job};
use crate::procs::{self, Reaper, MARKER_VAR};

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

fn short(ev: &Evidence) -> String {
    match (&ev.result, ev.hang_after) {
        (_, Some(b)) => format!("hang > {} s", b.as_secs()),
        (Some(r), None) => match r.trigger_ms {
            Some(_) if r.status.starts_with("supervisor killed") => after_death(ev),
            Some(t) => format!("{} ms after abort", r.final_ms.saturating_sub(t)),
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
    pub fn run(&self, fixture: &Fixture, imp: Impl) -> Result<Cell, String> {
        let started = Instant::now();
        let dir = self.work.join(format!("{}--{}", fixture.id, imp.name()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let tag = format!("{}-{}-{}", std::process::id(), fixture.id, imp.name());
        let job = job_for(&(fixture.spec)(), &self.tools.fixture, &dir);
        let job_path = dir.join("job.json");
        write(
            &job_path,
            &serde_json::to_vec_pretty(&job).map_err(|e| e.to_string())?,
        )?;
        let log_path = dir.join("driver.log");
        let log = std::fs::File::create(&log_path)
            .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;

        let mut child = imp
            .driver(&self.tools, &job_path)
            .env(MARKER_VAR, &tag)
            .stdin(Stdio::piped())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| format!("cannot start the {} driver: {e}", imp.name()))?;
        let pid = child.id();
        // Holding its stdin keeps the driver (the supervisor) alive after its result.
        let stdin = child.stdin.take();
        // Never `child.wait()`: the reaper thread reaps it (see procs::Reaper).
        drop(child);

        let result_path = PathBuf::from(&job.result_file);
        let tree = |p: &procs::Proc| !is_supervisor_exe(&p.exe);
        let mut ev = Evidence::default();
        loop {
            if let Some(r) = read_result(&result_path) {
                ev.result = Some(r);
                let (left, took) = procs::wait_gone(&tag, fixture.settle, tree);
                ev.survivors = left;
                ev.gone_after = took;
                break;
            }
            if let Some(end) = self.reaper.ended(pid) {
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
        drop(stdin);
        if self.reaper.wait(pid, Duration::from_secs(10)).is_none() {
            procs::kill(pid, rustix::process::Signal::KILL);
            self.reaper.wait(pid, Duration::from_secs(5));
        }
        if ev.hang_after.is_none() {
            ev.lingering =
                procs::wait_gone(&tag, Duration::from_secs(5), |p| is_supervisor_exe(&p.exe)).0;
        }
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
        let verdict = (fixture.check)(&ev);
        let cell = Cell {
            fixture: fixture.id,
            imp,
            verdict,
            wall: started.elapsed(),
            short: short(&ev),
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
