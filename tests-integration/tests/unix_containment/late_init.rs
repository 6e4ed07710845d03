//! A host binary that calls `kennel::keeper::init()` late or only on some code path
//! (`kennel-late-init`): its guard (or keeper) is the binary re-run, which never enters
//! guard mode. kennel must notice (the helper answers a handshake) and never claim a
//! supervisor-death guarantee that does not hold: the spawn fails with an error that
//! says what to do, or — when the caller opted out — runs and says it is unprotected.
//! Every claim is checked against the truth: a `kill -9` of the host.

use std::process::Stdio;
use std::time::Duration;

use crate::*;

const HOST: &str = env!("CARGO_BIN_EXE_kennel-late-init");
const TREE: &[&str] = &["tree", "--depth", "2", "--width", "2"];
const TREE_SIZE: usize = 3;
const ONE_SECOND: Duration = Duration::from_secs(1);

/// What the host printed for one spawn.
#[derive(Debug, PartialEq)]
enum Report {
    Spawned {
        containment: String,
        dies_with_supervisor: String,
    },
    Error(String),
}

/// A running host. Dropping it (a test that failed half-way included) kills the host
/// and every process carrying the test's marker, so a failure leaves nothing behind.
type Host = MarkedHost;

/// Start the host in `mode` in each of [`cgroup_settings`] in turn, and hand it with
/// its reports, the setting and `label` (the case, for failures) to `check`.
fn each_host(label: &str, mode: &str, check: impl Fn(&mut Host, &[Report], bool, &str)) {
    for cgroup in cgroup_settings() {
        let what = format!("{label} (cgroup {cgroup})");
        let mark = marker();
        let (mut host, reports) = host_with(&mark, mode, cgroup, &[]);
        check(&mut host, &reports, cgroup, &what);
    }
}

/// Start the host in `mode` (cgroup on or off) with `env`, read its reports up to `ready`.
fn host_with(
    mark: &(String, String),
    mode: &str,
    cgroup: bool,
    env: &[(&str, &str)],
) -> (Host, Vec<Report>) {
    let mut cmd = std::process::Command::new(HOST);
    cmd.envs(env.iter().copied());
    cmd.arg(mode)
        .arg(FIXTURE)
        .args(TREE)
        .env(&mark.0, &mark.1)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if !cgroup {
        cmd.env("KENNEL_LATE_INIT_NO_CGROUP", "1");
    }
    if mode == "first" {
        cmd.env("KENNEL_LATE_INIT_FIRST", "1");
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let host = Host {
        child,
        mark: mark.clone(),
    };
    let rx = kennel_tests::lines_of(stdout);
    let mut reports = Vec::new();
    loop {
        let line = rx
            .recv_timeout(PATIENCE)
            .unwrap_or_else(|e| panic!("{mode}: no `ready` from the host ({e}): {reports:?}"));
        if line == "ready" {
            break;
        }
        let report = if let Some(rest) = line.strip_prefix("spawned ") {
            let words: Vec<&str> = rest.split(' ').collect();
            Report::Spawned {
                containment: words[1].to_owned(),
                dies_with_supervisor: words[2].to_owned(),
            }
        } else if let Some(message) = line.strip_prefix("error ") {
            Report::Error(message.to_owned())
        } else {
            panic!("{mode}: unexpected line from the host: {line:?}");
        };
        reports.push(report);
    }
    (host, reports)
}

/// The tiers a host can run in here: cgroup (shared guard) when a cgroup is writable,
/// and always the keeper tier (cgroup off).
fn cgroup_settings() -> Vec<bool> {
    if cgroup_available("the guard of a late-init host") {
        vec![true, false]
    } else {
        vec![false]
    }
}

fn assert_tells_what_to_do(report: &Report, what: &str) {
    let Report::Error(message) = report else {
        panic!("{what}: the spawn must fail, got {report:?}");
    };
    assert!(
        message.contains("call `kennel::keeper::init()` first in `main`"),
        "{what}: the error must say what to do: {message}"
    );
}

/// The report "does not die with its supervisor" was true: the whole tree is still
/// there for the full second a protected tree would have been killed within.
///
/// Liveness is read per pid from `/proc/<pid>/stat`, not by rescanning environments:
/// a process in the middle of `execve` reads as an empty environment for a moment
/// (the new image's `env_start` is set last), which once made a live tree look
/// partly dead.
fn assert_outlives(tree: Vec<u32>, what: &str) {
    let died = kennel_tests::wait_until(ONE_SECOND, || {
        tree.iter().any(|&pid| !kennel_tests::is_alive(pid))
    });
    let dead: Vec<u32> = tree
        .into_iter()
        .filter(|&pid| !kennel_tests::is_alive(pid))
        .collect();
    assert!(!died, "{what}: part of the tree died: {dead:?}");
}

/// Kill what a test left running on purpose (trees reported as unprotected), and the
/// cgroups they were in (no guard is left to remove them).
pub(crate) fn clean_up(mark: &(String, String)) {
    let pids = marked(mark);
    // The v2 line of /proc/<pid>/cgroup (`0::/path`), under every cgroup2 mount.
    let mounts: Vec<String> = std::fs::read_to_string("/proc/mounts")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f.get(2) == Some(&"cgroup2")).then(|| f[1].to_owned())
        })
        .collect();
    let cgroups: Vec<String> = pids
        .iter()
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/cgroup")).ok())
        .filter_map(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("0::"))
                .map(str::to_owned)
        })
        .filter(|cg| cg.contains("/kennel-"))
        .collect();
    kennel_tests::kill_pids(&pids);
    assert!(
        kennel_tests::wait_until(PATIENCE, || marked(mark).is_empty()),
        "clean-up: {:?} still alive",
        marked(mark)
    );
    for cg in &cgroups {
        for mount in &mounts {
            let _ = std::fs::remove_dir(format!("{mount}{cg}"));
        }
    }
}

/// `init()` only on the host's `late` path: the re-run helper takes no such path and
/// exits. The spawn fails with a typed error saying what to do, and nothing is left
/// running after a `kill -9` of the host (before the handshake, the tree ran
/// unguarded and survived it).
#[test]
fn init_only_on_some_code_path_fails_the_spawn_with_what_to_do() {
    each_host("late init", "late", |host, reports, _, what| {
        host.sigkill();
        assert_no_survivors(&host.mark, ONE_SECOND, what);
        assert_eq!(reports.len(), 1, "{what}: {reports:?}");
        assert_tells_what_to_do(&reports[0], what);
    });
}

/// A re-run binary that neither exits nor answers (its `main` runs on without calling
/// `init()`): the spawn fails once the hello deadline (10 s) passes, and the hung
/// helper — which carries the test's marker, like everything the host starts — has
/// been killed by then, before the host itself is.
#[test]
fn a_helper_that_never_answers_is_killed_and_fails_the_spawn() {
    std::thread::scope(|scope| {
        for cgroup in cgroup_settings() {
            scope.spawn(move || {
                let what = format!("silent helper (cgroup {cgroup})");
                let mark = marker();
                let (mut host, reports) =
                    host_with(&mark, "late", cgroup, &[("KENNEL_LATE_INIT_HANG", "1")]);
                assert_eq!(reports.len(), 1, "{what}: {reports:?}");
                assert_tells_what_to_do(&reports[0], &what);
                let Report::Error(message) = &reports[0] else {
                    unreachable!()
                };
                assert!(
                    message.contains("did not answer its handshake within 10 s"),
                    "{what}: {message}"
                );
                let host_pid = host.child.id();
                let others: Vec<u32> = marked(&mark)
                    .into_iter()
                    .filter(|&p| p != host_pid)
                    .collect();
                assert!(
                    others.is_empty(),
                    "{what}: the silent helper was not killed: {:?}",
                    others
                        .iter()
                        .map(|&p| kennel_tests::describe(p))
                        .collect::<Vec<_>>()
                );
                host.sigkill();
            });
        }
    });
}

/// `init()` after the first spawn. With a cgroup, that spawn started the in-process
/// guard (no helper binary yet), which goes on covering every cgroup tree of the host:
/// both spawns claim the guarantee, and the `kill -9` takes both trees down. Without a
/// cgroup the first tree had no keeper (a helper binary): it is reported unprotected —
/// and does survive the `kill -9` — while the spawn after `init()` fails as above.
#[test]
fn init_after_the_first_spawn_keeps_the_in_process_guard_or_reports_the_tree_unprotected() {
    each_host(
        "init after spawn",
        "after-spawn",
        |host, reports, cgroup, what| {
            assert_eq!(reports.len(), 2, "{what}: {reports:?}");
            if cgroup {
                assert_eq!(reports[1], reports[0], "{what}");
                check_claim(host, &reports[0], "cgroup", true, what);
            } else {
                assert_tells_what_to_do(&reports[1], what);
                check_claim(host, &reports[0], "group", false, what);
            }
        },
    );
}

/// The host in `mode` makes one spawn, which claims `dies` (or not) with the tier
/// `cgroup`, or `without_cgroup` when the cgroup is off: check the claim.
fn one_spawn_claims(label: &str, mode: &str, without_cgroup: &str, dies: bool) {
    each_host(label, mode, |host, reports, cgroup, what| {
        assert_eq!(reports.len(), 1, "{what}: {reports:?}");
        let tier = if cgroup { "cgroup" } else { without_cgroup };
        check_claim(host, &reports[0], tier, dies, what);
    });
}

cases! { one_spawn_claims:
    /// The explicit opt-out (`ContainmentOptions { keeper: false, .. }`): the spawn
    /// succeeds, says the tree does not die with its supervisor, and that is true.
    opting_out_runs_the_tree_and_reports_it_unprotected("opt-out", "late-opt-out", "group", false);
    /// The control: `init()` first in `main`. The spawn reports the guarantee, and a
    /// `kill -9` of the host takes the tree down within a second.
    init_first_in_main_reports_and_keeps_the_guarantee("init first", "first", "subreaper", true);
}

/// `report` is a spawn in `tier` claiming `dies` (or not) to die with its supervisor:
/// check the claim against the truth. Wait for the tree, `kill -9` the host, then the
/// tree is gone within a second if it claimed so, or still all there a second later
/// (and cleaned up) if it did not.
fn check_claim(host: &mut Host, report: &Report, tier: &str, dies: bool, what: &str) {
    assert_eq!(
        report,
        &Report::Spawned {
            containment: tier.to_owned(),
            dies_with_supervisor: dies.to_string(),
        },
        "{what}"
    );
    let mark = host.mark.clone();
    // The host carries the mark too; the tree is the rest.
    let host_pid = host.child.id();
    let mut tree = Vec::new();
    assert!(
        kennel_tests::wait_until(PATIENCE, || {
            tree = marked(&mark);
            tree.retain(|&pid| pid != host_pid);
            tree.len() >= TREE_SIZE
        }),
        "{what}: the tree did not start: {tree:?}"
    );
    host.sigkill();
    if dies {
        assert_no_survivors(&mark, ONE_SECOND, what);
    } else {
        assert_outlives(tree, what);
        clean_up(&mark);
    }
}
