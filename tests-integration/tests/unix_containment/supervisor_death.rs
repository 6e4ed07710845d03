//! `kill -9` of the supervisor leaves nothing of any tree alive one second later: the
//! keeper of each tree sees its control socket close and kills the tree.

use std::io::Write as _;
use std::process::{Child, Stdio};
use std::time::Duration;

use kennel_tests::sidecar::request::Spawn;

use crate::*;

/// The bound the issue sets: nothing alive one second after the SIGKILL.
const ONE_SECOND: Duration = Duration::from_secs(1);

fn wait_marked(mark: &(String, String), n: usize, what: &str) {
    assert!(
        kennel_tests::wait_until(PATIENCE, || marked(mark).len() >= n),
        "{what}: expected {n} marked processes, saw {:?}",
        marked(mark)
    );
}

/// `kennel serve` with its requests on a pipe and its events discarded.
fn start_serve() -> Child {
    std::process::Command::new(KENNEL)
        .arg("serve")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn sigkill(child: &mut Child) {
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

fn kennel_run(mark: &(String, String), extra: &[&str], args: &[&str]) -> Child {
    std::process::Command::new(KENNEL)
        .arg("run")
        .args(extra)
        .arg("--")
        .arg(FIXTURE)
        .args(args)
        .env(&mark.0, &mark.1)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn sigkill_of_kennel_run_kills_a_tree_with_an_escaped_daemon() {
    for extra in [&[][..], &["--no-cgroup"][..]] {
        let mark = marker();
        let mut kennel = kennel_run(&mark, extra, &["daemon", "--leader-stays"]);
        wait_marked(&mark, 2, "daemon --leader-stays");
        sigkill(&mut kennel);
        assert_no_survivors(&mark, ONE_SECOND, &format!("kennel run {extra:?} daemon"));

        let mark = marker();
        let mut kennel = kennel_run(
            &mark,
            extra,
            &["tree", "--depth", "3", "--width", "2", "--ignore-term"],
        );
        wait_marked(&mark, 7, "tree");
        sigkill(&mut kennel);
        assert_no_survivors(&mark, ONE_SECOND, &format!("kennel run {extra:?} tree"));
    }
}

#[test]
fn sigkill_of_kennel_serve_kills_every_tree_of_every_kind() {
    for cgroup in [true, false] {
        let mark = marker();
        let mut serve = start_serve();
        let kinds: &[(&str, &[&str], usize)] = &[
            ("tree", &["tree", "--depth", "3", "--width", "2"], 7),
            ("daemon", &["daemon", "--leader-stays"], 2),
            ("ignorer", &["ignore-signals"], 1),
            (
                "stopped",
                &["tree", "--depth", "2", "--width", "2", "--stop"],
                3,
            ),
            ("looper", &["fork-loop", "--count", "50"], 50),
        ];
        let mut expected = 0;
        {
            let stdin = serve.stdin.as_mut().unwrap();
            for (id, args, n) in kinds {
                let request = Spawn::new(id, FIXTURE, args)
                    .with("env", serde_json::json!({ mark.0.clone(): mark.1.clone() }))
                    .with("containment", serde_json::json!({ "cgroup": cgroup }))
                    .build();
                writeln!(stdin, "{request}").unwrap();
                expected += n;
            }
            stdin.flush().unwrap();
        }
        wait_marked(&mark, expected, &format!("serve (cgroup {cgroup})"));
        sigkill(&mut serve);
        assert_no_survivors(
            &mark,
            ONE_SECOND,
            &format!("kennel serve (cgroup {cgroup})"),
        );
    }
}

/// The supervisor dies after starting the keeper but before reading its `L` line: the
/// keeper's report fails (EPIPE) and it must still kill the leader it started, not just
/// exit. Driven directly: the keeper's control socket (fd 3, passed through a shell's
/// stdin) has no peer from the start.
#[test]
fn keeper_whose_supervisor_is_gone_before_the_handshake_kills_the_leader() {
    for _ in 0..5 {
        let mark = marker();
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        drop(ours);
        let mut keeper = std::process::Command::new("sh")
            .arg("-c")
            .arg("exec \"$0\" __kennel-keeper - \"$@\" 3<&0 </dev/null")
            .arg(KENNEL)
            .args([FIXTURE, "ignore-signals"])
            .env(&mark.0, &mark.1)
            .stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let status = keeper.wait().unwrap();
        assert_no_survivors(&mark, ONE_SECOND, "keeper without a supervisor");
        assert!(
            status.success(),
            "the keeper exits cleanly after tearing down: {status:?}"
        );
    }
}

/// The pids of `pid`'s children whose command line contains `needle` (every thread's
/// `children` file: a multi-threaded parent forks from any of its threads).
fn children_running(pid: u32, needle: &str) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        let text = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        for child in text
            .split_whitespace()
            .filter_map(|p| p.parse::<u32>().ok())
        {
            if kennel_tests::is_alive(child)
                && kennel_tests::cmdline_of(child).is_some_and(|c| c.contains(needle))
            {
                out.push(child);
            }
        }
    }
    out
}

/// Cgroup trees are guarded by one shared guard per supervisor. If that guard dies, the
/// next spawn starts a new one and hands it every cgroup still running, so a `kill -9`
/// of the supervisor still takes down the tree spawned before the guard died (with its
/// escaped `setsid` daemon) and the one spawned after.
#[test]
fn a_dead_guard_is_replaced_and_still_covers_every_running_tree() {
    if !cgroup_available("the shared guard") {
        return;
    }
    let mark = marker();
    let mut serve = start_serve();
    let spawn = |serve: &mut Child, id: &str, args: &[&str]| {
        let request = Spawn::new(id, FIXTURE, args)
            .with("env", serde_json::json!({ mark.0.clone(): mark.1.clone() }))
            .build();
        let stdin = serve.stdin.as_mut().unwrap();
        writeln!(stdin, "{request}").unwrap();
        stdin.flush().unwrap();
    };
    spawn(&mut serve, "daemon", &["daemon", "--leader-stays"]);
    wait_marked(&mark, 2, "daemon --leader-stays");
    let guards = children_running(serve.id(), "__kennel-guard");
    assert_eq!(guards.len(), 1, "one guard per supervisor: {guards:?}");
    kennel_tests::kill_pids(&guards);
    assert!(
        kennel_tests::wait_until(PATIENCE, || !kennel_tests::is_alive(guards[0])),
        "the guard did not die"
    );

    spawn(
        &mut serve,
        "tree",
        &["tree", "--depth", "2", "--width", "2"],
    );
    wait_marked(&mark, 5, "daemon + tree");
    let new_guards = children_running(serve.id(), "__kennel-guard");
    assert_eq!(new_guards.len(), 1, "a new guard: {new_guards:?}");
    assert_ne!(new_guards, guards);

    sigkill(&mut serve);
    assert_no_survivors(
        &mark,
        ONE_SECOND,
        "kennel serve after its guard was replaced",
    );
}

/// The claim follows the guard. In this process (the library, with `kennel-test-cli` as
/// the helper program): a tree whose guard is killed reports
/// `dies_with_supervisor() == false` from then on, and in its outcome, even after the
/// next spawn started a new guard that covers it again (there was a window in which a
/// supervisor death would have left it running); the tree spawned after reports true.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tree_whose_guard_died_no_longer_claims_to_die_with_its_supervisor() {
    if !cgroup_available("the shared guard") {
        return;
    }
    kennel::keeper::use_program(KENNEL);
    let tier = Tier {
        name: "cgroup + guard",
        options: ContainmentOptions::default(),
        expect: Containment::Cgroup,
    };
    let mark = marker();
    let spawn = || {
        fixture(&mark, &tier, &["tree", "--depth", "2", "--width", "2"])
            .stdout(kennel::OutputMode::Null)
            .spawn()
            .unwrap()
    };
    let first = spawn();
    assert_eq!(first.containment(), tier.expect);
    assert!(first.dies_with_supervisor(), "a fresh guard covers it");

    let guards = children_running(std::process::id(), "__kennel-guard");
    assert_eq!(guards.len(), 1, "one guard per supervisor: {guards:?}");
    kennel_tests::checks::a_killed_guard_leaves_a_gap(first, &guards, PATIENCE, spawn, || {}).await;
    assert_no_survivors(&mark, PATIENCE, "killed trees");
}

/// The same for a keeper (the tier without a cgroup): once the tree's keeper is killed,
/// the tree no longer claims to die with its supervisor, and its outcome says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tree_whose_keeper_died_no_longer_claims_to_die_with_its_supervisor() {
    kennel::keeper::use_program(KENNEL);
    let tier = Tier {
        name: "keeper",
        options: ContainmentOptions {
            cgroup: false,
            keeper: true,
        },
        expect: Containment::Subreaper,
    };
    let mark = marker();
    let mut child = fixture(&mark, &tier, &["tree", "--depth", "2", "--width", "2"])
        .stdout(kennel::OutputMode::Null)
        .spawn()
        .unwrap();
    assert_eq!(child.containment(), tier.expect);
    assert!(
        child.dies_with_supervisor(),
        "a keeper that answered covers it"
    );

    // Our keeper: it carries the tree's marker (it runs with the child's environment).
    let keepers: Vec<u32> = children_running(std::process::id(), "__kennel-keeper")
        .into_iter()
        .filter(|p| marked(&mark).contains(p))
        .collect();
    assert_eq!(keepers.len(), 1, "one keeper for this tree: {keepers:?}");
    kennel_tests::kill_pids(&keepers);

    let outcome = tokio::time::timeout(PATIENCE, child.wait()).await.unwrap();
    assert!(!child.dies_with_supervisor());
    assert!(!outcome.dies_with_supervisor, "{outcome:?}");
    // Nobody watches what is left of the tree now: clean it up.
    let left = marked(&mark);
    kennel_tests::kill_pids(&left);
    assert_no_survivors(&mark, PATIENCE, "the keeper-less tree");
}
