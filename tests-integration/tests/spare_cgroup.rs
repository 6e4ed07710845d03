//! The spare cgroup (Linux): a guarded tree is born in a cgroup made ahead of its
//! spawn, the next spare is made after it, a tree without the guard never takes it,
//! and no empty cgroup outlives the process that made it. A test binary of its own:
//! the spare is one per process, and other tests' spawns would take it.
#![cfg(target_os = "linux")]

use std::path::{Path, PathBuf};
use std::time::Duration;

use kennel::{Command, ContainmentOptions, Event};
use kennel_tests::delegated::kennel_cgroups_of;
use kennel_tests::marks::cgroup_available;

const KENNEL: &str = env!("CARGO_BIN_EXE_kennel-test-cli");
const PATIENCE: Duration = Duration::from_secs(20);

/// The tests of this process's spare run one at a time.
static SPARE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Run `sh -c 'cat /proc/self/cgroup'` with `containment`; the directory name of the
/// cgroup it ran in (`kennel-<pid>-<seq>`).
async fn cgroup_of_a_run(containment: ContainmentOptions) -> String {
    let mut child = Command::new("sh")
        .args(["-c", "cat /proc/self/cgroup"])
        .containment(containment)
        .spawn()
        .expect("spawn");
    let mut out = Vec::new();
    while let Some(event) = child.next_event().await {
        match event {
            Event::Stdout(b) => out.extend_from_slice(&b),
            Event::Exit(o) => assert!(o.success(), "{o:?}"),
            Event::Stderr(_) => {}
        }
    }
    let text = String::from_utf8(out).expect("utf-8");
    let path = text
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or_else(|| panic!("no v2 line in {text:?}"));
    path.rsplit('/').next().unwrap_or_default().to_owned()
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// Waits for exactly one cgroup of ours, empty (the spare), and returns it.
fn the_spare() -> PathBuf {
    let me = std::process::id();
    assert!(
        kennel_tests::wait_until(PATIENCE, || kennel_cgroups_of(me).len() == 1),
        "one spare cgroup expected, saw {:?}",
        kennel_cgroups_of(me)
    );
    let spare = kennel_cgroups_of(me).remove(0);
    let procs = std::fs::read_to_string(spare.join("cgroup.procs")).expect("cgroup.procs");
    assert!(procs.trim().is_empty(), "the spare holds {procs:?}");
    spare
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

/// A guarded tree (the default containment) is born in the spare made after the
/// previous guarded spawn; its own cgroup goes with it, and a new spare follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guarded_tree_is_born_in_the_spare_made_after_the_last_spawn() {
    let Some((_serial, first)) = after_a_guarded_run().await else {
        return;
    };
    for _ in 0..3 {
        let spare = the_spare();
        assert_ne!(name(&spare), first);
        let used = cgroup_of_a_run(ContainmentOptions::default()).await;
        assert_eq!(used, name(&spare), "the tree ran in the spare");
        let next = the_spare();
        assert_ne!(
            next, spare,
            "the used cgroup was removed and a new spare made"
        );
        assert!(!spare.exists(), "{spare:?} was not removed");
    }
}

/// A tree planned without the supervisor-death guarantee gets a cgroup of its own:
/// the guarded spare would die with the supervisor, which it did not ask for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tree_without_the_guard_never_takes_the_spare() {
    let Some((_serial, _)) = after_a_guarded_run().await else {
        return;
    };
    let spare = the_spare();
    let unguarded = ContainmentOptions {
        cgroup: true,
        keeper: false,
    };
    let used = cgroup_of_a_run(unguarded).await;
    assert_ne!(used, name(&spare));
    assert!(used.starts_with("kennel-"), "{used}");
    assert_eq!(the_spare(), spare, "the spare is still there, unused");
}

/// `kill -9` of a sidecar that made guarded trees leaves none of its cgroups (its
/// guard removes the spare with the trees' cgroups), and an empty cgroup of a dead
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
    let mut spawned = 0;
    while spawned < 2 {
        let line = lines.recv_timeout(PATIENCE).expect("an event");
        spawned += usize::from(line.contains(r#""event":"spawned""#));
    }
    let pid = serve.id();
    // Two trees and the spare.
    assert!(
        kennel_tests::wait_until(PATIENCE, || kennel_cgroups_of(pid).len() == 3),
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
