//! A host that never calls `kennel::keeper::init()` (`kennel-noinit-host`): its cgroup
//! trees are guarded by the in-process guard, a clone of the host that runs no binary.
//! Every claim is checked against the truth: a `kill -9` (or a normal exit) of the
//! host, with `/proc` polled to deadlines. (The host is a process of its own: this test
//! binary names a helper program, so its own spawns use the exec'd guard; the
//! in-process guard of a test process is in `tests/noinit_guard.rs`.)

use std::io::Write as _;
use std::process::{ChildStdin, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use crate::*;

const HOST: &str = env!("CARGO_BIN_EXE_kennel-noinit-host");
/// How long a killed tree (and its guard) may take to be gone on a loaded machine.
const DEADLINE: Duration = Duration::from_secs(2);

/// The in-process guards of `pid` (live children running its own image).
fn guards_of(pid: u32) -> Vec<u32> {
    kennel_tests::own_image_children_of(pid)
}

/// A running `kennel-noinit-host`; dropping it kills it and everything marked.
struct Host {
    marked: MarkedHost,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl std::ops::Deref for Host {
    type Target = MarkedHost;
    fn deref(&self) -> &MarkedHost {
        &self.marked
    }
}

impl std::ops::DerefMut for Host {
    fn deref_mut(&mut self) -> &mut MarkedHost {
        &mut self.marked
    }
}

impl Host {
    /// Start the host with `api` on the fixture's `args`; `env` added.
    fn start(
        api: &str,
        args: &[&str],
        env: &[(&str, &str)],
        cmd: Option<std::process::Command>,
    ) -> Host {
        let mark = marker();
        let mut cmd = cmd.unwrap_or_else(|| std::process::Command::new(HOST));
        cmd.arg(api)
            .arg(FIXTURE)
            .args(args)
            .envs(env.iter().copied())
            .env(&mark.0, &mark.1)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().unwrap();
        let stdin = child.stdin.take();
        let lines = kennel_tests::lines_of(child.stdout.take().unwrap());
        Host {
            marked: MarkedHost { child, mark },
            stdin,
            lines,
        }
    }

    /// The host's `spawned` report (containment, dies_with_supervisor) and the pids of
    /// the fixture's `roles`, in order.
    fn report(&self, roles: &[&str]) -> ((String, String), Vec<u32>) {
        let mut spawned = None;
        let mut pids = vec![0; roles.len()];
        while spawned.is_none() || pids.contains(&0) {
            let line = self
                .lines
                .recv_timeout(PATIENCE)
                .unwrap_or_else(|e| panic!("no report from the host ({e}): {spawned:?} {pids:?}"));
            let words: Vec<&str> = line.split(' ').collect();
            match words.as_slice() {
                ["spawned", _, tier, dies] => spawned = Some((tier.to_string(), dies.to_string())),
                ["pid", pid, _, role] => {
                    let at = (0..roles.len())
                        .position(|i| roles[i] == *role && pids[i] == 0)
                        .unwrap_or_else(|| panic!("an unexpected {role}: {line:?}"));
                    pids[at] = pid.parse().unwrap();
                }
                _ => panic!("unexpected line from the host: {line:?}"),
            }
        }
        (spawned.unwrap(), pids)
    }
}

/// The v2 cgroup directory of `pid`, under the cgroup2 mount.
fn cgroup_dir(pid: u32) -> std::path::PathBuf {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    let mount = mounts
        .lines()
        .map(|l| l.split(' ').collect::<Vec<_>>())
        .find(|f| f.get(2) == Some(&"cgroup2"))
        .map(|f| f[1].to_owned())
        .unwrap();
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let path = own.lines().find_map(|l| l.strip_prefix("0::")).unwrap();
    std::path::Path::new(&mount).join(path.trim_start_matches('/'))
}

/// A host without `init()`, through either API, spawns a tree with a `setsid` daemon
/// and is `kill -9`ed: the leader, the daemon and the guard are gone within the
/// deadline, and the guard removed the tree's cgroup.
#[test]
fn kill_9_of_a_host_without_init_ends_the_tree_its_daemon_and_the_guard() {
    if !cgroup_available("the in-process guard") {
        return;
    }
    for api in ["kennel", "compat"] {
        let mut host = Host::start(api, &["daemon", "--leader-stays"], &[], None);
        let (spawned, pids) = host.report(&["leader", "daemon"]);
        assert_eq!(spawned, ("cgroup".into(), "true".into()), "{api}");
        let guards = guards_of(host.child.id());
        assert_eq!(guards.len(), 1, "{api}: one guard: {guards:?}");
        let guard = guards[0];
        assert_eq!(
            kennel_tests::pgid_of(guard),
            Some(guard),
            "{api}: own group"
        );
        assert_ne!(kennel_tests::sid_of(pids[1]), kennel_tests::sid_of(pids[0]));
        let dir = cgroup_dir(pids[0]);
        assert!(dir.is_dir(), "{api}: {dir:?}");
        // Every process of the tree, and the guard (it shares the host's environment).
        let all = marked(&host.mark);
        for pid in [pids[0], pids[1], guard] {
            assert!(all.contains(&pid), "{api}: {pid} not marked: {all:?}");
        }
        host.sigkill();
        assert_no_survivors(&host.mark, DEADLINE, &format!("{api}: kill -9 of the host"));
        assert!(
            kennel_tests::wait_until(DEADLINE, || !dir.exists()),
            "{api}: the guard left the cgroup {dir:?}"
        );
    }
}

/// The host exits normally with its trees running: the guard sees its socket close,
/// ends the trees and exits — it never outlives the host.
#[test]
fn normal_exit_of_a_host_without_init_ends_the_guard_and_its_trees() {
    if !cgroup_available("the in-process guard") {
        return;
    }
    let mut host = Host::start("compat", &["daemon", "--leader-stays"], &[], None);
    let (spawned, _) = host.report(&["leader", "daemon"]);
    assert_eq!(spawned, ("cgroup".into(), "true".into()));
    let guard = guards_of(host.child.id());
    assert_eq!(guard.len(), 1, "{guard:?}");
    writeln!(host.stdin.as_mut().unwrap(), "exit").unwrap();
    let status = host.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert_no_survivors(&host.mark, DEADLINE, "normal exit of the host");
}

/// Without a writable cgroup a host without `init()` gets the process group and no
/// guarantee (a keeper needs a helper binary), says so, and that is true: the tree
/// survives the `kill -9`.
#[test]
fn without_a_cgroup_a_host_without_init_reports_no_guarantee_and_that_is_true() {
    let env = [("KENNEL_CGROUP_ROOT", "/nonexistent-kennel-root")];
    let mut host = Host::start(
        "kennel",
        &["tree", "--depth", "2", "--width", "2"],
        &env,
        None,
    );
    let (spawned, pids) = host.report(&["root", "child", "child"]);
    assert_eq!(spawned, ("group".into(), "false".into()));
    assert!(
        guards_of(host.child.id()).is_empty(),
        "no guard without a cgroup"
    );
    host.sigkill();
    let died = kennel_tests::wait_until(Duration::from_secs(1), || {
        pids.iter().any(|&p| !kennel_tests::is_alive(p))
    });
    assert!(!died, "part of an unguarded tree died with its host");
    kennel_tests::kill_pids(&marked(&host.mark));
}

/// As `nobody` in a delegated cgroup subtree: the in-process guard kills the tree
/// (with its `setsid` daemon) when the host is `kill -9`ed.
#[test]
fn kill_9_of_an_unprivileged_host_without_init_ends_the_tree() {
    let tag = format!("noinit-{}", std::process::id());
    let Some(deleg) =
        kennel_tests::delegated::Delegated::create(&tag, kennel_tests::delegated::NOBODY)
    else {
        eprintln!("note: an unprivileged host needs root and a writable cgroup v2 here");
        return;
    };
    let mut cmd = std::process::Command::new(HOST);
    deleg.run_as(&mut cmd);
    let mut host = Host::start("kennel", &["daemon", "--leader-stays"], &[], Some(cmd));
    let (spawned, _) = host.report(&["leader", "daemon"]);
    assert_eq!(spawned, ("cgroup".into(), "true".into()));
    let status = std::fs::read_to_string(format!("/proc/{}/status", host.child.id())).unwrap();
    let uid = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .unwrap_or_default();
    assert!(uid.contains("65534"), "the host runs as nobody: {uid}");
    assert_eq!(guards_of(host.child.id()).len(), 1);
    host.sigkill();
    assert_no_survivors(&host.mark, DEADLINE, "kill -9 of the unprivileged host");
}
