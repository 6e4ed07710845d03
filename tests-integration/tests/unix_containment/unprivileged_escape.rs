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

use std::path::PathBuf;

use kennel_tests::delegated::{Delegated, NOBODY};

use crate::escape_run::{assert_tree_gone, End, EscapeRun};
use crate::*;

#[derive(Clone, Copy, Debug)]
pub enum Dest {
    /// kennel's own cgroup (the subtree's `supervisor` leaf).
    Kennel,
    /// A leaf next to kennel's and the trees' cgroups.
    Sibling,
    /// A cgroup the child creates in the subtree.
    Fresh,
    /// The root cgroup: not the user's.
    Root,
}

impl Dest {
    /// The cgroup directory this destination names in `deleg`.
    pub fn dir(self, deleg: &Delegated) -> PathBuf {
        match self {
            Dest::Kennel => deleg.supervisor(),
            Dest::Sibling => deleg.sibling(),
            Dest::Fresh => deleg.dir().join("escape"),
            Dest::Root => deleg.root().to_path_buf(),
        }
    }
}

/// The delegated subtree for one test, or a note that the test cannot run here.
pub fn delegated(mark: &(String, String)) -> Option<Delegated> {
    let deleg = Delegated::create(&mark.1, NOBODY);
    if deleg.is_none() {
        eprintln!("note: unprivileged cgroup escapes need root and a writable cgroup v2");
    }
    deleg
}

fn escape(dest: Dest, end: End) {
    let mark = marker();
    let Some(deleg) = delegated(&mark) else {
        return;
    };
    let target = dest.dir(&deleg);
    let run = EscapeRun::start(
        &mark,
        Some(&deleg),
        end.kennel_args(),
        Some(&target),
        end.leader_stays(),
    );
    run.end(end);
    let ended = run.wait();
    let what = format!("{dest:?} {end:?}: {} {:?}", ended.report, ended.diagnostics);
    let refused = matches!(dest, Dest::Root);
    // The fixture that cannot leave says so and exits 1 before anything else.
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
    assert_tree_gone(&mark, &what);
    let report: serde_json::Value = serde_json::from_str(&ended.report).expect("report");
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

cases! { escape:
    unprivileged_to_kennels_own_cgroup_then_timeout(Dest::Kennel, End::Timeout);
    unprivileged_to_kennels_own_cgroup_then_cancel(Dest::Kennel, End::Cancel);
    unprivileged_to_a_sibling_cgroup_then_leader_exit(Dest::Sibling, End::LeaderExit);
    unprivileged_to_a_sibling_cgroup_then_cancel(Dest::Sibling, End::Cancel);
    unprivileged_to_a_fresh_cgroup_then_timeout(Dest::Fresh, End::Timeout);
    unprivileged_to_a_fresh_cgroup_then_leader_exit(Dest::Fresh, End::LeaderExit);
    unprivileged_to_the_root_cgroup_is_refused(Dest::Root, End::LeaderExit);
}

/// `kill -TERM $PPID` and `kill -HUP -<kennel's group>` from the child of an
/// unprivileged `kennel run` (`kennel-fixture signal-parent`): kennel says it ignored
/// them and keeps running, then obeys its caller; nothing of the tree is left.
#[test]
fn unprivileged_signals_from_inside_are_ignored() {
    let mark = marker();
    let Some(deleg) = delegated(&mark) else {
        return;
    };
    let args = ["run", "--grace", "5s", "--", FIXTURE, "signal-parent"];
    let mut cmd = kennel_in_own_group(&args, &mark);
    deleg.run_as(&mut cmd);
    let mut run = cmd.spawn().expect("kennel run as nobody");
    let stdout = kennel_tests::lines_of(run.stdout.take().expect("stdout"));
    let stderr = kennel_tests::lines_of(run.stderr.take().expect("stderr"));
    let mut ignored = Vec::new();
    let deadline = std::time::Instant::now() + PATIENCE;
    while ignored.len() < 2 && std::time::Instant::now() < deadline {
        if let Ok(line) = stderr.recv_timeout(std::time::Duration::from_millis(50)) {
            if line.contains("ignored") {
                ignored.push(line);
            }
        }
    }
    let out: Vec<String> = stdout.try_iter().collect();
    assert!(
        ignored.iter().any(|l| l.contains("SIGTERM"))
            && ignored.iter().any(|l| l.contains("SIGHUP")),
        "both signals from the tree ignored: {ignored:?} {out:?}"
    );
    sigterm_is_obeyed(&mut run, &ignored);
    crate::escape_run::assert_tree_gone(&mark, "after the caller's SIGTERM");
}
