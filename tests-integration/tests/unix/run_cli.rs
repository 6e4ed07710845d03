//! `kennel run`: exit codes, passthrough, timeout with the tree gone, report.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::prelude::*;

fn kennel_run(args: &[&str]) -> std::process::Output {
    std::process::Command::new(KENNEL)
        .arg("run")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn exit_codes_follow_timeout_1() {
    assert_eq!(
        kennel_run(&["--", FIXTURE, "exit", "0"]).status.code(),
        Some(0)
    );
    assert_eq!(
        kennel_run(&["--", FIXTURE, "exit", "3"]).status.code(),
        Some(3)
    );
    assert_eq!(
        kennel_run(&["--", FIXTURE, "kill-self", "KILL"])
            .status
            .code(),
        Some(128 + 9)
    );
    assert_eq!(
        kennel_run(&["--", FIXTURE, "kill-self", "TERM"])
            .status
            .code(),
        Some(128 + 15)
    );
    let missing = kennel_run(&["--", "kennel-no-such-program"]);
    assert_eq!(missing.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("not found"));
}

#[test]
fn timeout_exits_124_and_the_tree_is_gone() {
    let started = Instant::now();
    let out = kennel_run(&[
        "--timeout",
        "300ms",
        "--grace",
        "200ms",
        "--",
        FIXTURE,
        "tree",
        "--depth",
        "3",
        "--width",
        "2",
        "--ignore-term",
    ]);
    let pids: Vec<u32> = parse_pid_lines(&out.stdout).iter().map(|l| l.pid).collect();
    let _cleanup = Cleanup(pids.clone());
    assert_eq!(out.status.code(), Some(124), "{out:?}");
    assert_eq!(pids.len(), 7, "output passed through: {out:?}");
    assert!(started.elapsed() >= Duration::from_millis(500));
    assert_all_gone(&pids);
}

#[test]
fn output_passes_through_byte_exact_and_report_is_json() {
    let report = std::env::temp_dir().join(format!("kennel-report-{}.json", std::process::id()));
    let n = 1_000_003;
    let out = kennel_run(&[
        "--report",
        report.to_str().unwrap(),
        "--",
        FIXTURE,
        "binary",
        "--bytes",
        &n.to_string(),
        "--stderr",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout.len(), n);
    verify_binary_prefix(&out.stdout).unwrap();
    verify_binary_prefix(&out.stderr).unwrap();
    let text = std::fs::read_to_string(&report).unwrap();
    std::fs::remove_file(&report).unwrap();
    assert_eq!(text.lines().count(), 1, "one line of JSON: {text}");
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(
        json["wall_time_ms"].is_u64(),
        "integer milliseconds: {json}"
    );
    assert_eq!(json["code"], 0);
    assert_eq!(json["reason"], "exited");
    assert_eq!(json["drain"], "complete");
    assert_eq!(json["stdout"]["bytes"], n);
    // kennel hosts the keeper: the subreaper tier at least, the cgroup where writable.
    assert!(
        json["containment"] == "cgroup" || json["containment"] == "subreaper",
        "{json}"
    );
}

#[test]
fn sigterm_to_kennel_runs_the_ladder_on_the_tree() {
    let mut kennel = std::process::Command::new(KENNEL)
        .args([
            "run", "--grace", "10s", "--", FIXTURE, "tree", "--depth", "2", "--width", "2",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = kennel.stdout.take().unwrap();
    let buf = kennel_tests::read_pid_lines(&mut stdout, 3);
    let pids: Vec<u32> = parse_pid_lines(&buf).iter().map(|l| l.pid).collect();
    let _cleanup = Cleanup(pids.clone());
    // SAFETY-free: signalling a child we own by pid; it is unreaped so the pid is ours.
    let rc = std::process::Command::new("kill")
        .args(["-TERM", &kennel.id().to_string()])
        .status()
        .unwrap();
    assert!(rc.success());
    let status = kennel.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(128 + 15),
        "the leader died of the forwarded SIGTERM"
    );
    assert_all_gone(&pids);
}

/// A SIGTERM that reaches `kennel run` as soon as its child is running (the child already
/// printed) must run the ladder — exit 143 with the child's status — and not kill kennel
/// by the default disposition. Before the fix, the handlers were installed in a task that
/// could start after the child: the fixture matrix saw kennel itself die of SIGTERM.
#[test]
fn sigterm_right_after_the_child_started_runs_the_ladder() {
    use std::io::Read;
    for round in 0..10 {
        let mut kennel = std::process::Command::new(KENNEL)
            .args(["run", "--grace", "2s", "--", FIXTURE, "sleep", "60000"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = kennel.stdout.take().unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 256];
        while !seen.contains(&b'\n') {
            let n = out.read(&mut buf).unwrap();
            assert!(n > 0, "round {round}: EOF before the pid line");
            seen.extend_from_slice(&buf[..n]);
        }
        // SAFETY: kill(2) on our own child's pid, which is not reaped yet.
        assert_eq!(unsafe { libc::kill(kennel.id() as i32, libc::SIGTERM) }, 0);
        let status = kennel.wait().unwrap();
        let pids: Vec<u32> = parse_pid_lines(&seen).iter().map(|l| l.pid).collect();
        let _cleanup = Cleanup(pids.clone());
        assert_eq!(
            status.code(),
            Some(128 + 15),
            "round {round}: kennel run ended with {status:?}"
        );
        assert_all_gone(&pids);
    }
}

#[test]
fn unknown_options_are_usage_errors_exiting_125() {
    for args in [
        &["-s", "KILL", "--timeout", "1", "--", "sleep", "5"][..],
        &["--timout", "1", "--", FIXTURE, "exit", "0"],
        &["--timeout", "soon", "--", FIXTURE, "exit", "0"],
        &[],
    ] {
        let started = Instant::now();
        let out = kennel_run(args);
        assert_eq!(out.status.code(), Some(125), "{args:?}: {out:?}");
        assert!(!out.stderr.is_empty(), "{args:?}: the error is said");
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{args:?}: nothing ran"
        );
    }
    // Options end at the command: its own options are its own.
    let out = kennel_run(&["--timeout", "60", FIXTURE, "print", "--", "-s"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(out.stdout, b"-s\n");
}

#[test]
fn timeout_0_means_no_timeout() {
    let out = kennel_run(&["--timeout", "0", "--", FIXTURE, "sleep", "300"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(parse_pid_lines(&out.stdout).len(), 1);
}

#[test]
fn an_unwritable_report_is_said_and_keeps_the_exit_code() {
    let out = kennel_run(&[
        "--report",
        "/nonexistent-dir/report.json",
        "--",
        FIXTURE,
        "exit",
        "3",
    ]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot write the report"), "{stderr}");
}

#[test]
fn a_full_stdout_is_reported_and_fails_the_run() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = std::process::Command::new(KENNEL)
        .args(["run", "--", FIXTURE, "print", "hi"])
        .stdin(Stdio::null())
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("No space left on device"), "{stderr}");
}

#[test]
fn a_closed_stdout_is_reported_and_fails_the_run() {
    use std::os::unix::process::CommandExt as _;
    let run = |args: &[&str]| {
        let mut cmd = std::process::Command::new(KENNEL);
        cmd.arg("run")
            .args(args)
            .stdin(Stdio::null())
            .stderr(Stdio::piped());
        // SAFETY: close(2) is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::close(1);
                Ok(())
            });
        }
        cmd.output().unwrap()
    };
    // As `timeout 1 echo hi >&-`: "write error: Bad file descriptor", exit 1.
    let out = run(&["--", FIXTURE, "print", "hi"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Bad file descriptor"), "{stderr}");
    // Nothing written there: nothing to report.
    let out = run(&["--", FIXTURE, "exit", "0"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(out.stderr.is_empty(), "{out:?}");
}
