//! Signals from the tree of an *unprivileged* `kennel run` (`nobody`, with a delegated
//! cgroup subtree: `kennel_tests::delegated`). (Its cgroup escapes are in
//! `cgroup_escape.rs`, beside root's.)
//!
//! Needs root (to create the user's subtree and drop to it) and a writable cgroup v2;
//! otherwise a note says what is not tested.

use crate::escape_run::delegated;
use crate::*;

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
