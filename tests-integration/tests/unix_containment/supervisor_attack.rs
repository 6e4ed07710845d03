//! A child cannot take over its supervisor: kennel's own processes (`kennel run`,
//! `kennel serve`, the keeper) are non-dumpable, so a child running as the same
//! unprivileged user can neither `ptrace` them nor read their `/proc/<pid>/environ`.
//!
//! Run as an unprivileged user (`nobody`) when the suite runs as root: root may trace
//! anything (`CAP_SYS_PTRACE`), which is not what is tested here.

use std::os::unix::process::CommandExt as _;
use std::process::Stdio;

use crate::*;

/// `uid`/`gid` of `nobody` when we are root (the test drops to it); our own otherwise.
fn unprivileged() -> Option<(u32, u32)> {
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } != 0 {
        return None;
    }
    Some((65534, 65534))
}

/// Run `kennel <args…> -- kennel-fixture attack-ancestors` unprivileged and return the
/// fixture's report lines about kennel's processes.
fn attack(kennel_args: &[&str]) -> Vec<String> {
    let mut cmd = std::process::Command::new(KENNEL);
    cmd.args(kennel_args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some((uid, gid)) = unprivileged() {
        cmd.uid(uid).gid(gid);
        // (std drops the supplementary groups too.) Our files must be reachable by `nobody`.
        cmd.current_dir("/");
    }
    cmd.stdin(Stdio::null());
    let out = cmd
        .spawn()
        .expect("spawn kennel")
        .wait_with_output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("done"), "the attack ran to its end: {text}");
    text.lines()
        .filter(|l| l.contains("ancestor "))
        .map(str::to_owned)
        .collect()
}

fn assert_refused(lines: &[String], expect_at_least: usize) {
    assert!(
        lines.len() >= expect_at_least,
        "kennel's processes are among the ancestors: {lines:?}"
    );
    for line in lines {
        assert!(
            line.contains("ptrace=EPERM"),
            "a child traced its supervisor: {line}"
        );
        assert!(
            line.contains("environ=EACCES") || line.contains("environ=EPERM"),
            "a child read its supervisor's environment: {line}"
        );
    }
}

fn uid_note() {
    if unprivileged().is_none() {
        eprintln!("note: running unprivileged already; attacking as this user");
    }
}

#[test]
fn a_child_cannot_trace_kennel_run_or_its_keeper() {
    uid_note();
    // Unprivileged there is no writable cgroup: the keeper is the leader's parent,
    // `kennel run` the keeper's.
    let lines = attack(&["run", "--", FIXTURE, "attack-ancestors"]);
    assert_refused(&lines, 2);
}

#[test]
fn a_child_cannot_trace_the_sidecar() {
    uid_note();
    let spawn = format!(
        "{{\"op\":\"spawn\",\"id\":\"a\",\"cmd\":{FIXTURE:?},\"args\":[\"attack-ancestors\"]}}\n"
    );
    let lines = attack_serve(&spawn);
    assert_refused(&lines, 2);
}

/// The sidecar's events carry the fixture's stdout as `stdout` event data.
fn attack_serve(spawn: &str) -> Vec<String> {
    let mut cmd = std::process::Command::new(KENNEL);
    cmd.arg("serve")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some((uid, gid)) = unprivileged() {
        cmd.uid(uid).gid(gid).current_dir("/");
    }
    let mut child = cmd.spawn().expect("spawn kennel serve");
    // Stdin stays open until the child's `exit`: EOF would start the shutdown.
    let mut input = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    use std::io::{BufRead as _, Write as _};
    input.write_all(spawn.as_bytes()).unwrap();
    let mut collected = String::new();
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let event: serde_json::Value = serde_json::from_str(&line).unwrap();
        match event["event"].as_str() {
            Some("stdout") => collected.push_str(event["data"].as_str().unwrap_or("")),
            Some("exit") => {
                drop(input);
                break;
            }
            _ => {}
        }
    }
    let _ = child.wait();
    assert!(collected.contains("done"), "the attack ran: {collected}");
    collected
        .lines()
        .filter(|l| l.contains("ancestor "))
        .map(str::to_owned)
        .collect()
}
