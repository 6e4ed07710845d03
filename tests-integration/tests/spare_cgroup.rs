//! Spare cgroups (Linux): a guarded tree is born in a cgroup made ahead of its spawn
//! or emptied by a tree that ended on its own; a killed tree's cgroup, a limited tree's
//! and an unguarded tree's are never handed on; the emptied cgroup's CPU figures start
//! from zero for the next tree; and no empty cgroup outlives the process that made it.
//! A test binary of its own: the spares are per process, and other tests' spawns
//! would take them.
#![cfg(target_os = "linux")]

use std::path::{Path, PathBuf};
use std::time::Duration;

use kennel::{Command, ContainmentOptions, Event, Limits, Outcome};
use kennel_tests::delegated::kennel_cgroups_of;
use kennel_tests::marks::cgroup_available;

const KENNEL: &str = env!("CARGO_BIN_EXE_kennel-test-cli");
const FIXTURE: &str = env!("CARGO_BIN_EXE_kennel-fixture");
const PATIENCE: Duration = Duration::from_secs(20);
/// The most emptied cgroups a process keeps (`spare::MAX` in the library).
const POOL_BOUND: usize = 8;

/// The tests of this process's spares run one at a time.
static SPARE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Run `sh -c '<script>'` (after `cat /proc/self/cgroup`) with `containment` and
/// `limits` to its end: the directory name of the cgroup it ran in
/// (`kennel-<pid>-<seq>`), its stdout, and its outcome.
async fn run(
    containment: ContainmentOptions,
    limits: Limits,
    script: &str,
) -> (String, String, Outcome) {
    let mut child = Command::new("sh")
        .args(["-c", &format!("cat /proc/self/cgroup; {script}")])
        .containment(containment)
        .limits(limits)
        .spawn()
        .expect("spawn");
    let mut out = Vec::new();
    let mut outcome = None;
    while let Some(event) = child.next_event().await {
        match event {
            Event::Stdout(b) => out.extend_from_slice(&b),
            Event::Exit(o) => outcome = Some(o),
            Event::Stderr(_) => {}
        }
    }
    let text = String::from_utf8(out).expect("utf-8");
    let path = text
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or_else(|| panic!("no v2 line in {text:?}"));
    let name = path.rsplit('/').next().unwrap_or_default().to_owned();
    (name, text, outcome.expect("an exit event"))
}

/// The cgroup of a run of `cat /proc/self/cgroup` that must succeed.
async fn cgroup_of_a_run(containment: ContainmentOptions) -> String {
    let (name, _, outcome) = run(containment, Limits::new(), "true").await;
    assert!(outcome.success(), "{outcome:?}");
    name
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// Waits until every cgroup of ours is empty (at least one: a spare) and returns
/// their names; there are never more than the pool's bound and one made ahead.
fn the_spares() -> Vec<String> {
    let me = std::process::id();
    let empty = |d: &PathBuf| {
        std::fs::read_to_string(d.join("cgroup.procs")).is_ok_and(|p| p.trim().is_empty())
    };
    assert!(
        kennel_tests::wait_until(PATIENCE, || {
            let ours = kennel_cgroups_of(me);
            !ours.is_empty() && ours.iter().all(empty)
        }),
        "only empty spare cgroups expected, saw {:?}",
        kennel_cgroups_of(me)
    );
    let spares: Vec<String> = kennel_cgroups_of(me).iter().map(|d| name(d)).collect();
    assert!(spares.len() <= POOL_BOUND + 1, "{spares:?}");
    spares
}

/// The spare tests one at a time, after one guarded run (the name of its cgroup);
/// `None` where there is no cgroup v2 to test with.
async fn after_a_guarded_run() -> Option<(tokio::sync::MutexGuard<'static, ()>, String)> {
    if !cgroup_available("the spare cgroup") {
        return None;
    }
    kennel::keeper::use_program(KENNEL);
    let serial = SPARE.lock().await;
    Some((serial, cgroup_of_a_run(ContainmentOptions::default()).await))
}

/// A guarded tree (the default containment) that ended on its own hands its cgroup
/// on: the next guarded tree is born in it (no `mkdir`, no `rmdir`), and every cgroup
/// of ours is empty in between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emptied_guarded_cgroup_is_the_next_guarded_trees() {
    let Some((_serial, first)) = after_a_guarded_run().await else {
        return;
    };
    let mut previous = first;
    for _ in 0..3 {
        assert!(the_spares().contains(&previous), "{previous} was not kept");
        let used = cgroup_of_a_run(ContainmentOptions::default()).await;
        assert_eq!(
            used, previous,
            "the tree was born in the last emptied cgroup"
        );
        previous = used;
    }
}

/// The CPU a reused cgroup counted for its earlier trees is not the next tree's:
/// `usage` is what the tree itself used (within 10% and a few ms of what a busy loop
/// measured of itself), in the very cgroup a 300 ms loop ran in just before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_cgroup_counts_only_the_new_trees_cpu() {
    let Some((_serial, _)) = after_a_guarded_run().await else {
        return;
    };
    let spin = |ms: u32| format!("exec {FIXTURE} spin --cpu-ms {ms}");
    let measured = |text: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix("cpu_ms "))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no cpu_ms line: {text}"))
    };
    let accounted =
        |o: &Outcome| o.usage.cpu_user_ms.expect("user") + o.usage.cpu_system_ms.expect("system");
    let (big, text, o) = run(ContainmentOptions::default(), Limits::new(), &spin(300)).await;
    assert!(o.success(), "{o:?}");
    assert!(accounted(&o) >= measured(&text) * 9 / 10, "{o:?} {text}");
    let (small, text, o) = run(ContainmentOptions::default(), Limits::new(), &spin(50)).await;
    assert!(o.success(), "{o:?}");
    assert_eq!(small, big, "the second tree reused the first one's cgroup");
    let own = measured(&text);
    assert!(
        accounted(&o).abs_diff(own) <= own / 10 + 10,
        "accounted {} ms in the reused cgroup, the loop measured {own} ms",
        accounted(&o)
    );
}

/// A tree killed with `cgroup.kill` never hands its cgroup on (the kernel would
/// SIGKILL a child born into it): the directory goes, and the next tree runs in
/// another and succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_trees_cgroup_is_removed_not_reused() {
    let Some((_serial, _)) = after_a_guarded_run().await else {
        return;
    };
    let mut child = Command::new("sh")
        .args(["-c", "cat /proc/self/cgroup; exec sleep 300"])
        .spawn()
        .expect("spawn");
    let mut killed = None;
    while let Some(event) = child.next_event().await {
        match event {
            Event::Stdout(b) if killed.is_none() => {
                let text = String::from_utf8_lossy(&b).into_owned();
                let path = text.lines().find_map(|l| l.strip_prefix("0::"));
                killed = path.map(|p| p.rsplit('/').next().unwrap_or_default().to_owned());
                child.kill();
            }
            Event::Exit(o) => assert!(!o.success(), "{o:?}"),
            _ => {}
        }
    }
    removed_not_reused(&killed.expect("the cgroup line")).await;
}

/// The cgroup `used` is gone from the spares, and the next guarded tree runs in
/// another one and succeeds.
async fn removed_not_reused(used: &str) {
    assert!(
        kennel_tests::wait_until(PATIENCE, || !the_spares().iter().any(|s| s == used)),
        "{used} was kept"
    );
    let next = cgroup_of_a_run(ContainmentOptions::default()).await;
    assert_ne!(next, used);
}

/// A tree with a limit never hands its cgroup on (its limit and its peaks would be the
/// next tree's); needs the controllers (root, v1 or delegated v2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limited_trees_cgroup_is_removed_not_reused() {
    let Some((_serial, _)) = after_a_guarded_run().await else {
        return;
    };
    // SAFETY: getuid has no preconditions.
    let root = unsafe { libc::getuid() } == 0;
    if !(root
        || kennel_tests::marks::not_tested(
            "KENNEL_REQUIRE_LIMITS",
            "not root",
            "a limited tree's cgroup",
        ))
    {
        return;
    }
    let limited = Limits::new().pids_max(64);
    let (used, _, outcome) = run(ContainmentOptions::default(), limited, "true").await;
    assert!(
        outcome.success(),
        "a tree under pids_max 64 failed: {outcome:?}"
    );
    removed_not_reused(&used).await;
}

/// Spares removed behind the process's back (an administrator's cleanup, a service
/// manager) are skipped: the next guarded tree gets a new cgroup and runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spares_removed_by_someone_else_are_skipped() {
    let Some((_serial, _)) = after_a_guarded_run().await else {
        return;
    };
    let (_, own) = kennel_tests::delegated::own_cgroup().expect("a cgroup v2");
    let removed = the_spares();
    for spare in &removed {
        std::fs::remove_dir(own.join(spare)).expect("rmdir of an empty spare");
    }
    let used = cgroup_of_a_run(ContainmentOptions::default()).await;
    assert!(!removed.contains(&used), "{used} in {removed:?}");
}

/// A tree planned without the supervisor-death guarantee gets a cgroup of its own
/// and removes it: the guarded spares would die with the supervisor, which it did not
/// ask for, and its own is not guarded to be one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tree_without_the_guard_never_takes_nor_leaves_a_spare() {
    let Some((_serial, _)) = after_a_guarded_run().await else {
        return;
    };
    let spares = the_spares();
    let unguarded = ContainmentOptions {
        cgroup: true,
        keeper: false,
    };
    let used = cgroup_of_a_run(unguarded).await;
    assert!(!spares.contains(&used), "{used} in {spares:?}");
    assert!(used.starts_with("kennel-"), "{used}");
    assert_eq!(the_spares(), spares, "the spares are still there, unused");
}

/// `kill -9` of a sidecar that made guarded trees leaves none of its cgroups (its
/// guard removes the spares, made ahead or emptied, with the trees' cgroups), and an empty cgroup of a dead
/// kennel process is removed by the next one that starts.
#[test]
fn no_empty_cgroup_outlives_its_kennel_process() {
    if !cgroup_available("the spare cgroup") {
        return;
    }
    use std::io::Write as _;
    let mut serve = std::process::Command::new(KENNEL)
        .arg("serve")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("kennel serve");
    let lines = kennel_tests::lines_of(serve.stdout.take().expect("piped"));
    let stdin = serve.stdin.as_mut().expect("piped");
    for id in ["a", "b"] {
        writeln!(
            stdin,
            r#"{{"op":"spawn","id":"{id}","cmd":"sleep","args":["300"]}}"#
        )
        .expect("request");
    }
    stdin.flush().expect("flush");
    // Then two short trees: their emptied cgroups wait for the next spawns.
    for id in ["t1", "t2"] {
        writeln!(stdin, r#"{{"op":"spawn","id":"{id}","cmd":"true"}}"#).expect("request");
    }
    stdin.flush().expect("flush");
    let mut spawned = 0;
    let mut exited = 0;
    while spawned < 2 || exited < 2 {
        let line = lines.recv_timeout(PATIENCE).expect("an event");
        let short = line.contains(r#""id":"t"#);
        spawned += usize::from(!short && line.contains(r#""event":"spawned""#));
        exited += usize::from(short && line.contains(r#""event":"exit""#));
    }
    let pid = serve.id();
    // Two trees, and at least one empty cgroup waiting (emptied, or made ahead).
    assert!(
        kennel_tests::wait_until(PATIENCE, || kennel_cgroups_of(pid).len() >= 3),
        "{:?}",
        kennel_cgroups_of(pid)
    );
    serve.kill().expect("SIGKILL");
    serve.wait().expect("reaped");
    assert!(
        kennel_tests::wait_until(PATIENCE, || kennel_cgroups_of(pid).is_empty()),
        "left behind: {:?}",
        kennel_cgroups_of(pid)
    );

    // A dead process's empty cgroup (as one killed between its `mkdir` and telling its
    // guard would leave): the next kennel process removes it.
    let (_, own) = kennel_tests::delegated::own_cgroup().expect("a cgroup v2");
    let stale = own.join(format!("kennel-{pid}-99"));
    std::fs::create_dir(&stale).expect("a stale cgroup");
    let status = std::process::Command::new(KENNEL)
        .args(["run", "--", "true"])
        .status()
        .expect("kennel run");
    assert!(status.success());
    assert!(!stale.exists(), "{stale:?} was not swept");
}
