//! A child that makes itself a child subreaper, adopts the daemon it double-forked and
//! then exits (`kennel-fixture daemon --subreaper`): the daemon passes through a
//! subreaper of the tree's own making on its way up. Under every tier that holds
//! daemons — cgroup + guard (the default), keeper, PID namespace — nothing of the tree
//! is left, however the run ends: timeout, cancel, leader exit, or a `kill -9` of
//! `kennel run`.

use kennel::Containment;

use crate::escape_run::{assert_tree_gone, End, EscapeRun};
use crate::*;

/// `kennel run`'s switches per tier this host offers, with the tier it must report.
fn tiers() -> Vec<(&'static [&'static str], &'static str)> {
    kennel::keeper::use_program(KENNEL);
    let offered = kennel::available_containment();
    let mut tiers: Vec<(&'static [&'static str], &'static str)> =
        vec![(&["--no-cgroup"], "subreaper")];
    if offered.contains(&Containment::Cgroup) {
        tiers.push((&[], "cgroup"));
    }
    if offered.contains(&Containment::PidNamespace) {
        tiers.push((&["--pid-namespace"], "pid_namespace"));
    }
    tiers
}

fn shape(end: End) {
    for (switches, tier) in tiers() {
        let mark = marker();
        let mut args = switches.to_vec();
        args.extend(end.kennel_args());
        let mut flags = vec!["--subreaper"];
        if end.leader_stays() {
            flags.push("--leader-stays");
        }
        let run = EscapeRun::start_with(&mark, None, &args, None, &flags);
        run.end(end);
        let ended = run.wait();
        let what = format!("{tier} {end:?}: {} {:?}", ended.report, ended.diagnostics);
        let Some(expected) = end.code() else {
            // The guard, the keeper or the namespace's init ends the tree.
            assert_no_survivors(&mark, PATIENCE, &what);
            continue;
        };
        assert_eq!(ended.status.code(), Some(expected), "{what}");
        assert_tree_gone(&mark, &what);
        let report: serde_json::Value = serde_json::from_str(&ended.report).expect("report");
        assert_eq!(report["containment"], tier, "{what}");
    }
}

cases! { shape:
    a_subreaper_that_exits_then_timeout(End::Timeout);
    a_subreaper_that_exits_then_cancel(End::Cancel);
    a_subreaper_that_exits_then_leader_exit(End::LeaderExit);
    a_subreaper_that_exits_then_kill_9_of_kennel_run(End::Kill9);
}
