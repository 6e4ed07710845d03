//! A process that leaves its tree's cgroup (writes its pid to another cgroup's
//! `cgroup.procs` — kennel's own, the root, or a fresh one it creates) and then
//! `setsid`s / double-forks still dies with the tree, however the run ends: the final
//! sweep finds it as a descendant of the leader or as an orphan adopted by `kennel run`
//! (a child subreaper), and the report names it. The same as the child of an
//! *unprivileged* `kennel run` (`nobody`, with a delegated cgroup subtree:
//! `kennel_tests::delegated`), to kennel's own cgroup, a sibling or a fresh one — all
//! allowed to the subtree's owner; the root cgroup refuses that move (`EACCES`) and the
//! child stays contained.
//!
//! Needs root (moving between cgroups, or creating the user's subtree and dropping to
//! it) and a writable cgroup v2. (The cases are rows of `escape_run.rs`'s table; their
//! checks are [`judge`].)

use std::time::Duration;

use crate::escape_run::{assert_tree_gone, End, Ended};
use crate::*;

/// The checks of a cgroup escape (`mark`, described by `what`): the run ended as `end`
/// says, nothing of the tree is left, and the report names the escapee — unless the
/// move was `refused` (the root cgroup refuses `nobody`: the fixture that cannot leave
/// says so and exits 1 before anything else).
pub fn judge(mark: &(String, String), refused: bool, end: End, ended: &Ended, what: &str) {
    let expected = if refused { Some(1) } else { end.code() };
    assert_eq!(ended.status.code(), expected, "{what}");
    if refused {
        assert!(
            ended
                .diagnostics
                .iter()
                .any(|l| l.contains("moving to cgroup") && l.contains("denied")),
            "the move to the root cgroup is refused: {what}"
        );
    }
    // Right after kennel run exits, nothing of the tree runs.
    assert_tree_gone(mark, what);
    let report: serde_json::Value = serde_json::from_str(&ended.report).expect("report");
    assert_eq!(report["containment"], "cgroup", "{what}");
    let layers = report["layers"].as_array().expect("layers");
    assert!(
        layers.iter().any(|l| l == "subreaper"),
        "kennel run is a subreaper: {what}"
    );
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
fn the_sidecar_reports_and_kills_an_escapee_on_timeout() {
    if !cgroup_available("cgroup escapes") || unsafe { libc::getuid() } != 0 {
        eprintln!("note: cgroup escapes need root and a writable cgroup v2; not tested");
        return;
    }
    let mark = marker();
    let (_, own) = kennel_tests::delegated::own_cgroup().expect("a cgroup2 mount");
    let spawn = serde_json::json!({"op": "spawn", "id": "e", "cmd": FIXTURE,
        "args": ["daemon", "--leader-stays"], "timeout_ms": 500,
        "env": {&mark.0: &mark.1, "KENNEL_FIXTURE_CGROUP": own.display().to_string()}});
    let (mut sc, input, events) = serve_with(&spawn);
    let mut lines = std::iter::from_fn(|| events.recv_timeout(PATIENCE).ok());
    let exit = lines
        .by_ref()
        .map(|line| serde_json::from_str::<serde_json::Value>(&line).unwrap())
        .find(|e| e["event"] == "exit")
        .expect("exit event");
    assert_eq!(exit["reason"], "timed_out", "{exit}");
    let escapees = exit["escapees_killed"].as_array().unwrap();
    assert!(!escapees.is_empty(), "{exit}");
    assert!(
        exit["layers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == "subreaper"),
        "{exit}"
    );
    // Right after the exit event, nothing of the tree runs; the sidecar still serves.
    assert_no_survivors(&mark, Duration::ZERO, &exit.to_string());
    drop(input);
    assert!(lines.any(|l| l.contains("\"bye\"")), "bye");
    assert_eq!(sc.wait().unwrap().code(), Some(0));
}
