//! Resource limits of a whole tree through `kennel run` (issue 18): a bounded fork bomb
//! under `--pids-max`, a 1 GiB allocation under `--memory-max`, CPU accounting of a busy
//! loop, and a limit the tier cannot enforce. Each needs root and the controllers
//! (v1 or delegated v2); without them the test says so (`KENNEL_REQUIRE_LIMITS=1` makes
//! that a failure).

use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kennel_tests::parse_pid_lines;
use serde_json::Value;

use crate::*;

/// A marker for a test of `what` where limits can be tested (a writable cgroup and
/// root); else `None`, with a note (a failure with `KENNEL_REQUIRE_LIMITS=1`).
fn limits_marker(what: &str) -> Option<(String, String)> {
    // SAFETY: getuid has no preconditions.
    let root = unsafe { libc::getuid() } == 0;
    let here = (cgroup_available(what) && root)
        || not_tested("KENNEL_REQUIRE_LIMITS", "not root or no cgroup", what);
    here.then(marker)
}

/// `kennel run --report <file> <options> -- <fixture args>` with only the tree marked
/// (through `env`, so kennel and its guard are not counted); its output and report.
fn run_with_report(
    mark: &(String, String),
    options: &[&str],
    fixture: &[&str],
) -> (std::process::Output, Value) {
    let report = std::env::temp_dir().join(format!("kennel-limits-{}.json", mark.1));
    let out = std::process::Command::new(KENNEL)
        .arg("run")
        .arg("--report")
        .arg(&report)
        .args(options)
        .args(["--", "env", &format!("{}={}", mark.0, mark.1), FIXTURE])
        .args(fixture)
        .stdin(Stdio::null())
        .output()
        .expect("kennel run");
    let text = std::fs::read_to_string(&report).unwrap_or_default();
    let _ = std::fs::remove_file(&report);
    let json =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("report {text:?}: {e}: {out:?}"));
    (out, json)
}

#[test]
fn three_hundred_forks_under_pids_max_64_never_exceed_64_and_leave_nothing() {
    let Some(mark) = limits_marker("the pids limit") else {
        return;
    };
    // Count the live marked processes while the bomb runs.
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicUsize::new(0));
    let watcher = {
        let (stop, peak, mark) = (stop.clone(), peak.clone(), mark.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(marked(&mark).len(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let (out, report) = run_with_report(
        &mark,
        &["--pids-max", "64"],
        &["fork-bomb", "--count", "300", "--exit"],
    );
    stop.store(true, Ordering::Relaxed);
    watcher.join().expect("the watcher");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let (started, refused) = stdout
        .lines()
        .find_map(|l| l.strip_prefix("forks "))
        .and_then(|r| r.split_once(' '))
        .and_then(|(s, r)| Some((s.parse::<u64>().ok()?, r.parse::<u64>().ok()?)))
        .unwrap_or_else(|| panic!("no forks line: {stdout}"));
    assert!(
        started < 64 && started + refused == 300,
        "{started} started, {refused} refused"
    );
    let usage = &report["usage"];
    assert_eq!(usage["forks_refused"].as_u64(), Some(refused), "{report}");
    assert!(
        usage["processes"].as_u64().is_some_and(|p| p <= 64),
        "{report}"
    );
    let seen = peak.load(Ordering::Relaxed);
    assert!(seen <= 64, "{seen} live processes seen under --pids-max 64");
    let pids: Vec<u32> = parse_pid_lines(&out.stdout).iter().map(|l| l.pid).collect();
    assert_eq!(pids.len() as u64, started + 1, "{stdout}");
    assert_no_survivors(&mark, PATIENCE, "the fork bomb");
}

#[test]
fn one_gib_under_memory_max_64m_is_killed_with_reason_memory_limit() {
    let Some(mark) = limits_marker("the memory limit") else {
        return;
    };
    let (out, report) =
        run_with_report(&mark, &["--memory-max", "64M"], &["alloc", "--mib", "1024"]);
    assert_eq!(out.status.code(), Some(128 + 9), "{out:?} {report}");
    assert_eq!(report["reason"], "memory_limit", "{report}");
    // The kernel's own count may be 0: on cgroup v1 kennel kills the tree as soon as it
    // is told of the OOM, often before the kernel picks a victim.
    let usage = &report["usage"];
    let peak = usage["memory_peak_bytes"].as_u64().expect("a peak");
    assert!(peak <= 64 << 20, "peak {peak} over the limit");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("allocated"));
    assert_no_survivors(&mark, PATIENCE, "the memory hog");
}

#[test]
fn a_busy_loop_is_accounted_within_ten_percent() {
    let Some(mark) = limits_marker("CPU accounting") else {
        return;
    };
    let (out, report) = run_with_report(&mark, &[], &["spin", "--cpu-ms", "500"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let own: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("cpu_ms "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no cpu_ms line: {stdout}"));
    let usage = &report["usage"];
    let total = usage["cpu_user_ms"].as_u64().expect("user")
        + usage["cpu_system_ms"].as_u64().expect("system");
    assert!(
        total.abs_diff(own) * 10 <= own,
        "accounted {total} ms, the loop measured {own} ms"
    );
}

#[test]
fn a_limit_the_tier_cannot_enforce_fails_unless_best_effort() {
    let mark = marker();
    let out = std::process::Command::new(KENNEL)
        .args([
            "run",
            "--no-cgroup",
            "--pids-max",
            "64",
            "--",
            FIXTURE,
            "exit",
            "0",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("kennel run");
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("pids") && stderr.contains("cannot be enforced"),
        "{stderr}"
    );
    let (out, report) = run_with_report(
        &mark,
        &["--no-cgroup", "--pids-max", "64", "--limits-best-effort"],
        &["exit", "0"],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        report["limits_skipped"],
        serde_json::json!(["pids"]),
        "{report}"
    );
}

/// The sidecar answers while a fork bomb runs under its pids limit: a second child
/// spawned meanwhile runs to its exit, then the bomb is cancelled with every fork it
/// tried accounted for.
#[test]
fn the_sidecar_stays_responsive_during_a_bounded_fork_bomb() {
    let Some(mark) = limits_marker("the sidecar under a fork bomb") else {
        return;
    };
    let (mut serve, mut stdin, events) = serve_with(&serde_json::json!({"op": "spawn",
        "id": "bomb", "cmd": "env", "limits": {"pids_max": 64},
        "args": [format!("{}={}", mark.0, mark.1), FIXTURE, "fork-bomb", "--count", "300"]}));
    let send = |stdin: &mut std::process::ChildStdin, v: Value| {
        use std::io::Write as _;
        writeln!(stdin, "{v}").expect("a request");
    };
    let wait_for = |what: &dyn Fn(&Value) -> bool| -> Value {
        let end = std::time::Instant::now() + PATIENCE;
        loop {
            let left = end.saturating_duration_since(std::time::Instant::now());
            let line = events
                .recv_timeout(left)
                .expect("an event before the deadline");
            let v: Value = serde_json::from_str(&line).expect("JSON");
            if what(&v) {
                return v;
            }
        }
    };
    wait_for(&|v| {
        v["event"] == "stdout" && v["data"].as_str().is_some_and(|d| d.contains("forks "))
    });
    let asked = std::time::Instant::now();
    send(
        &mut stdin,
        serde_json::json!({"op": "spawn", "id": "other", "cmd": FIXTURE, "args": ["exit", "0"]}),
    );
    let other = wait_for(&|v| v["event"] == "exit" && v["id"] == "other");
    let answered = asked.elapsed();
    assert_eq!(other["code"], 0, "{other}");
    assert!(
        marked(&mark).len() <= 64,
        "more than 64 live under the limit"
    );
    send(
        &mut stdin,
        serde_json::json!({"op": "cancel", "id": "bomb"}),
    );
    let bomb = wait_for(&|v| v["event"] == "exit" && v["id"] == "bomb");
    eprintln!("a spawn during the bomb answered in {answered:?}; the bomb's exit: {bomb}");
    let refused = bomb["usage"]["forks_refused"]
        .as_u64()
        .expect("forks refused counted");
    assert!(refused >= 300 - 64, "{bomb}");
    send(&mut stdin, serde_json::json!({"op": "shutdown"}));
    drop(stdin);
    assert!(serve.wait().expect("serve exits").success());
    assert_no_survivors(&mark, PATIENCE, "the fork bomb under the sidecar");
}

/// `kill -9` of `kennel run` during a limited run: the guard kills the tree and removes
/// its cgroup v1 directories too.
#[test]
fn a_killed_supervisor_leaves_no_cgroup_v1_directory() {
    let Some(mark) = limits_marker("the guard's clean-up of limits") else {
        return;
    };
    let mut run = std::process::Command::new(KENNEL)
        .args(["run", "--pids-max", "64", "--memory-max", "256M", "--"])
        .args(["env", &format!("{}={}", mark.0, mark.1), FIXTURE])
        .args(["fork-bomb", "--count", "10"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("kennel run");
    let lines = kennel_tests::lines_of(run.stdout.take().expect("piped"));
    loop {
        let line = lines.recv_timeout(PATIENCE).expect("the forks line");
        if line.starts_with("forks ") {
            break;
        }
    }
    let name = format!("kennel-{}-", run.id());
    let ours = || -> Vec<std::path::PathBuf> {
        let mut dirs = Vec::new();
        for hierarchy in ["pids", "memory"] {
            let Ok(own) = std::fs::read_to_string("/proc/self/cgroup") else {
                continue;
            };
            let Some(path) = own.lines().find_map(|l| {
                let mut p = l.splitn(3, ':');
                let (_, list, path) = (p.next()?, p.next()?, p.next()?);
                list.split(',')
                    .any(|c| c == hierarchy)
                    .then_some(path.to_owned())
            }) else {
                continue;
            };
            let parent = std::path::Path::new("/sys/fs/cgroup")
                .join(hierarchy)
                .join(path.trim_start_matches('/'));
            for entry in std::fs::read_dir(&parent).into_iter().flatten().flatten() {
                if entry.file_name().to_string_lossy().starts_with(&name) {
                    dirs.push(entry.path());
                }
            }
        }
        dirs
    };
    let before = ours();
    assert!(
        !before.is_empty(),
        "no cgroup v1 directory named {name}* found"
    );
    // SAFETY: kill(2) on our own child's pid, which is unreaped.
    unsafe { libc::kill(run.id() as i32, libc::SIGKILL) };
    let _ = run.wait();
    assert_no_survivors(&mark, PATIENCE, "the tree of a killed kennel run");
    let gone = kennel_tests::wait_until(PATIENCE, || ours().is_empty());
    assert!(gone, "left behind: {:?} (there were {before:?})", ours());
}
