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
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    std::fs::remove_file(&report).unwrap();
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
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while parse_pid_lines(&buf).len() < 3 {
        let n = std::io::Read::read(&mut stdout, &mut chunk).unwrap();
        assert!(n > 0, "kennel ended early: {buf:?}");
        buf.extend_from_slice(&chunk[..n]);
    }
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
