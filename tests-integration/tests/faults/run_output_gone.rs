//! `kennel run` with its stdout or stderr closed, broken or full (issue 12): no panic,
//! no hang, the documented exit code.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::client_gone::full_pipe;
use crate::prelude::*;

/// Runs `kennel run ARGS` with `stderr`; returns its exit code and how long it took.
fn run(args: &[&str], stderr: Stdio) -> (Option<i32>, Duration) {
    let started = Instant::now();
    let mut child = Command::new(KENNEL)
        .arg("run")
        .args(args)
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("start kennel run");
    let exited =
        kennel_tests::wait_until(PATIENCE, || child.try_wait().expect("try_wait").is_some());
    if !exited {
        let _ = child.kill();
        panic!("kennel run {args:?} did not exit within {PATIENCE:?}");
    }
    let code = child.wait().expect("wait").code();
    (code, started.elapsed())
}

fn closed() -> Stdio {
    // A pipe whose read end is gone: writes get EPIPE.
    let (read, write) = full_pipe();
    drop(read);
    Stdio::from(write)
}

#[test]
fn errors_to_a_broken_stderr_neither_panic_nor_hang() {
    let (code, took) = run(&["--", "/nonexistent/program"], closed());
    assert_eq!(code, Some(127), "not found, not a panic (101)");
    eprintln!("not found, stderr broken: {took:?}");
}

#[test]
fn errors_to_a_full_stderr_neither_panic_nor_hang() {
    let (_read, write) = full_pipe();
    let (code, took) = run(&["--", "/nonexistent/program"], Stdio::from(write));
    assert_eq!(code, Some(127));
    eprintln!("not found, stderr full: {took:?}");
}

#[test]
fn report_to_a_full_stderr_gives_up_in_time() {
    let (_read, write) = full_pipe();
    let (code, took) = run(
        &["--report", "-", "--", FIXTURE, "exit", "3"],
        Stdio::from(write),
    );
    // The report could not be written: said on stderr (lost here), and the command's
    // exit code is not hidden by it (issue 17).
    assert_eq!(code, Some(3));
    eprintln!("report to a full stderr: {took:?}");
}

#[test]
fn report_to_a_broken_stderr_is_an_error_not_a_panic() {
    let (code, _) = run(&["--report", "-", "--", FIXTURE, "exit", "3"], closed());
    assert_eq!(
        code,
        Some(3),
        "the command's exit code, not hidden by the lost report"
    );
}

#[test]
fn a_healthy_report_still_goes_to_stderr() {
    let out = Command::new(KENNEL)
        .args(["run", "--report", "-", "--", FIXTURE, "exit", "3"])
        .output()
        .expect("run kennel");
    assert_eq!(out.status.code(), Some(3));
    let report: Value = serde_json::from_slice(&out.stderr).expect("the report is JSON");
    assert_eq!(report["code"], 3);
}
