//! The cgroup escapes of `cgroup_escape.rs`, tried by the child of an *unprivileged*
//! `kennel run` (`nobody`, with a delegated cgroup subtree: `kennel_tests::delegated`):
//! it moves itself to kennel's own cgroup, to a sibling, or to a cgroup it creates —
//! all allowed to the subtree's owner — then `setsid`s and double-forks. However the
//! run ends (timeout, cancel, leader exit) nothing of the tree is left, and the report
//! names the escapee. The root cgroup refuses the move (`EACCES`): the child stays
//! contained.
//!
//! Needs root (to create the user's subtree and drop to it) and a writable cgroup v2;
//! otherwise a note says what is not tested.

use std::io::{BufRead as _, Read as _};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use kennel_tests::delegated::{Delegated, NOBODY};

use crate::*;

#[derive(Clone, Copy, Debug)]
enum Dest {
    /// kennel's own cgroup (the subtree's `supervisor` leaf).
    Kennel,
    /// A leaf next to kennel's and the trees' cgroups.
    Sibling,
    /// A cgroup the child creates in the subtree.
    Fresh,
    /// The root cgroup: not the user's.
    Root,
}

#[derive(Clone, Copy, Debug)]
enum End {
    Timeout,
    Cancel,
    LeaderExit,
}

/// Start `kennel run [--timeout 1s] --report <file> -- kennel-fixture daemon
/// [--leader-stays]` as `nobody` in `deleg`, the fixture moving itself to `target`.
fn start(
    deleg: &Delegated,
    mark: &(String, String),
    target: &std::path::Path,
    end: End,
    report: &std::path::Path,
) -> std::process::Child {
    let mut args: Vec<String> = vec![
        "run".into(),
        "--report".into(),
        report.display().to_string(),
    ];
    if matches!(end, End::Timeout) {
        args.extend(["--timeout".into(), "1s".into()]);
    }
    args.extend(["--".into(), FIXTURE.into(), "daemon".into()]);
    if !matches!(end, End::LeaderExit) {
        args.push("--leader-stays".into());
    }
    let mut cmd = std::process::Command::new(KENNEL);
    cmd.args(&args)
        .env(&mark.0, &mark.1)
        .env("KENNEL_FIXTURE_CGROUP", target)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    deleg.run_as(&mut cmd);
    cmd.spawn().expect("spawn kennel run as nobody")
}

fn escape(dest: Dest, end: End) {
    let mark = marker();
    let Some(deleg) = Delegated::create(&mark.1, NOBODY) else {
        eprintln!("note: unprivileged cgroup escapes need root and a writable cgroup v2");
        return;
    };
    let target: PathBuf = match dest {
        Dest::Kennel => deleg.supervisor(),
        Dest::Sibling => deleg.sibling(),
        Dest::Fresh => deleg.dir().join("escape"),
        Dest::Root => deleg.root().to_path_buf(),
    };
    let report = std::env::temp_dir().join(format!("kennel-unpriv-{}.json", mark.1));
    let mut run = start(&deleg, &mark, &target, end, &report);
    let stderr = kennel_tests::lines_of(run.stderr.take().expect("stderr"));
    if matches!(end, End::Cancel) {
        // Once the daemon printed, it has left: cancel from outside.
        let mut out = std::io::BufReader::new(run.stdout.take().expect("stdout"));
        let mut line = String::new();
        while !line.contains("daemon") {
            line.clear();
            assert!(out.read_line(&mut line).expect("read") > 0, "daemon line");
        }
        // SAFETY: kill(2) on the process we started.
        unsafe { libc::kill(run.id() as libc::pid_t, libc::SIGTERM) };
    } else if let Some(mut out) = run.stdout.take() {
        let mut sink = String::new();
        let _ = out.read_to_string(&mut sink);
    }
    let status = run.wait().expect("wait kennel run");
    let diagnostics: Vec<String> = stderr.iter().collect();
    let text = std::fs::read_to_string(&report).unwrap_or_default();
    let _ = std::fs::remove_file(&report);
    let what = format!("{dest:?} {end:?}: {text} {diagnostics:?}");
    let refused = matches!(dest, Dest::Root);
    let expected = match (refused, end) {
        // The fixture cannot leave: it says so and exits 1 before anything else.
        (true, _) => 1,
        (false, End::Timeout) => 124,
        (false, End::Cancel) => 128 + 15,
        (false, End::LeaderExit) => 0,
    };
    assert_eq!(status.code(), Some(expected), "{what}");
    if refused {
        assert!(
            diagnostics
                .iter()
                .any(|l| l.contains("moving to cgroup") && l.contains("denied")),
            "the move to the root cgroup is refused: {what}"
        );
    }
    // Right after kennel run exits, nothing of the tree runs (kennel's guard, its child,
    // carries the marker too and exits once it sees kennel gone).
    let tree: Vec<u32> = marked(&mark)
        .into_iter()
        .filter(|&p| !kennel_tests::cmdline_of(p).is_some_and(|c| c.contains("__kennel-guard")))
        .collect();
    if !tree.is_empty() {
        assert_no_survivors(&mark, Duration::ZERO, &what);
    }
    assert_no_survivors(&mark, Duration::from_secs(5), &format!("the guard: {what}"));
    let report: serde_json::Value = serde_json::from_str(&text).expect("report");
    assert_eq!(report["containment"], "cgroup", "{what}");
    let escapees = report["escapees_killed"]
        .as_array()
        .expect("escapees_killed");
    assert_eq!(
        escapees.is_empty(),
        refused,
        "the escapee is reported: {what}"
    );
}

#[test]
fn unprivileged_to_kennels_own_cgroup_then_timeout() {
    escape(Dest::Kennel, End::Timeout);
}

#[test]
fn unprivileged_to_kennels_own_cgroup_then_cancel() {
    escape(Dest::Kennel, End::Cancel);
}

#[test]
fn unprivileged_to_a_sibling_cgroup_then_leader_exit() {
    escape(Dest::Sibling, End::LeaderExit);
}

#[test]
fn unprivileged_to_a_sibling_cgroup_then_cancel() {
    escape(Dest::Sibling, End::Cancel);
}

#[test]
fn unprivileged_to_a_fresh_cgroup_then_timeout() {
    escape(Dest::Fresh, End::Timeout);
}

#[test]
fn unprivileged_to_a_fresh_cgroup_then_leader_exit() {
    escape(Dest::Fresh, End::LeaderExit);
}

#[test]
fn unprivileged_to_the_root_cgroup_is_refused() {
    escape(Dest::Root, End::LeaderExit);
}
