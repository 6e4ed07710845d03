//! Real tests against this host's cgroups: a process put in a tree's cgroups by the
//! same pre-exec join kennel uses.
//!
//! The program in the tree is this test binary again (`KENNEL_LIMITS_HELPER=<mode>`,
//! see [`super::helper`]): a fork loop, an allocator, a busy loop. The tests need root
//! and the controllers; without them they print a note, or fail with
//! `KENNEL_REQUIRE_LIMITS=1`.

use std::io::Read as _;
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::super::*;
use crate::sys::unix::linux::cgroup::{self, Cgroup};

/// The libtest name of [`super::helper::helper`].
const HELPER_TEST: &str = "sys::unix::linux::limits::tests::helper::helper";

/// The probe and a v2 root, or `None` (with a note) where this host has no limits.
fn host(what: &str, kinds: &[LimitKind]) -> Option<&'static Probe> {
    // SAFETY: getuid has no preconditions.
    let root_user = unsafe { libc::getuid() } == 0;
    let probe = cgroup::root().filter(|_| root_user).map(probe);
    let missing: Vec<_> = kinds
        .iter()
        .filter(|k| probe.and_then(|p| p.place(**k)).is_none())
        .collect();
    if missing.is_empty() {
        return probe;
    }
    assert!(
        std::env::var_os("KENNEL_REQUIRE_LIMITS").is_none(),
        "KENNEL_REQUIRE_LIMITS is set but {missing:?} cannot be limited here"
    );
    eprintln!("note: no {missing:?} controller usable here; {what} is not tested");
    None
}

/// A tree: its v2 cgroup and its limits.
struct Tree {
    cg: Option<Cgroup>,
    limits: Option<TreeLimits>,
    v1: Vec<PathBuf>,
}

impl Tree {
    fn new(limits: &Limits, probe: &Probe) -> Tree {
        let cg = Cgroup::create().expect("a v2 cgroup");
        let plan = plan(limits, Some(probe)).expect("a plan");
        let tl = TreeLimits::create(cg.dir(), &plan).expect("the limits applied");
        let v1 = tl.v1_dirs().iter().map(|d| d.to_path_buf()).collect();
        Tree {
            cg: Some(cg),
            limits: Some(tl),
            v1,
        }
    }

    fn limits(&self) -> &TreeLimits {
        self.limits.as_ref().expect("not ended")
    }

    /// Run this test binary as `mode` in the tree, joined as kennel joins.
    fn spawn(&self, mode: &str) -> Child {
        let cg = self.cg.as_ref().expect("not ended");
        let mut fds = vec![cg.procs_fd().expect("cgroup.procs")];
        fds.extend(self.limits().join_fds());
        let mut cmd = std::process::Command::new(std::env::current_exe().expect("test exe"));
        cmd.args(["--exact", HELPER_TEST, "--nocapture"])
            .args(["--test-threads", "1"])
            .env("KENNEL_LIMITS_HELPER", mode)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        // SAFETY: only write(2), async-signal-safe, on fds opened before the fork.
        unsafe {
            cmd.pre_exec(move || {
                for fd in &fds {
                    rustix::io::write(std::os::fd::BorrowedFd::borrow_raw(*fd), b"0")?;
                }
                Ok(())
            });
        }
        cmd.spawn().expect("the helper spawned")
    }

    /// Kill the tree through its v2 cgroup, remove everything, and check that no
    /// directory is left.
    fn end(&mut self) {
        drop(self.cg.take());
        drop(self.limits.take());
        for dir in &self.v1 {
            assert!(!dir.exists(), "{} left behind", dir.display());
        }
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        drop(self.cg.take());
        drop(self.limits.take());
    }
}

/// What follows `prefix` on the helper's first line that has it.
fn line_of(child: &mut Child, prefix: &str) -> String {
    crate::limits::after_marker(child.stdout.as_mut().expect("piped"), prefix)
}

#[test]
fn three_hundred_forks_under_pids_64_are_refused_beyond_64_and_counted() {
    let Some(probe) = host("the pids limit", &[LimitKind::Pids]) else {
        return;
    };
    let mut tree = Tree::new(&Limits::new().pids_max(64), probe);
    let mut child = tree.spawn("forks 300");
    let report = line_of(&mut child, "@forks ");
    let (started, refused): (u64, u64) = report
        .split_once(' ')
        .and_then(|(s, r)| Some((s.parse().ok()?, r.parse().ok()?)))
        .unwrap_or_else(|| panic!("no fork report: {report:?}"));
    let usage = tree.limits().usage();
    eprintln!("{started} started, {refused} refused: {usage:?}");
    let dir = tree
        .limits()
        .pids_dir()
        .expect("a pids directory")
        .to_owned();
    let current = read_single(&dir.join("pids.current")).expect("pids.current");
    assert!(current <= 64, "{current} live > 64");
    assert!(
        started < 64 && refused >= 300 - 64,
        "{started} started, {refused} refused"
    );
    assert_eq!(usage.forks_refused, Some(refused), "{usage:?}");
    let peak = usage.processes.expect("pids.peak");
    assert!(
        (started..=64).contains(&peak),
        "peak {peak}, started {started}"
    );
    drop(child.stdin.take());
    let status = child.wait().expect("reaped");
    assert!(status.success(), "{status:?}");
    tree.end();
}

#[test]
fn one_gib_under_64m_is_oom_killed_and_counted() {
    let Some(probe) = host("the memory limit", &[LimitKind::Memory]) else {
        return;
    };
    let mut tree = Tree::new(&Limits::new().memory_max_bytes(64 << 20), probe);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let _entered = rt.enter();
    let watched = tree.limits().oom_event().is_some();
    tree.limits
        .as_mut()
        .expect("live")
        .watch()
        .expect("watched");
    let mut child = tree.spawn("alloc 1024");
    if watched {
        // The notification arrives (the tests' own deadline is the harness's).
        let mut oom = tree.limits().out_of_memory().expect("a watch");
        rt.block_on(oom.wait_for(|hit| *hit))
            .expect("the OOM notification");
    }
    let mut out = String::new();
    let _ = child.stdout.take().expect("piped").read_to_string(&mut out);
    let status = child.wait().expect("reaped");
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}, {out}");
    assert!(
        !out.contains("allocated"),
        "the allocation succeeded: {out}"
    );
    let usage = tree.limits().usage();
    eprintln!("1 GiB under 64 MiB: {usage:?}");
    assert_eq!(usage.oom_kills, Some(1), "{usage:?}");
    let peak = usage.memory_peak_bytes.expect("a peak");
    assert!(
        (32 << 20..=64 << 20).contains(&peak),
        "peak {peak} outside 32..=64 MiB"
    );
    assert!(tree.limits().oom_killed());
    tree.end();
}

/// A busy loop of 500 ms CPU time, accounted within 10 %.
#[test]
fn cpu_time_of_a_busy_loop_is_accounted() {
    let Some(probe) = host("CPU accounting", &[]) else {
        return;
    };
    let mut tree = Tree::new(&Limits::new(), probe);
    let mut child = tree.spawn("spin 500");
    let own_ns: u64 = line_of(&mut child, "@cpu_ns ").parse().expect("a CPU time");
    assert!(child.wait().expect("reaped").success());
    let usage = tree.limits().usage();
    let user = usage.cpu_user_ms.expect("user time");
    let total = user + usage.cpu_system_ms.expect("system time");
    let own_ms = own_ns / 1_000_000;
    eprintln!("busy loop of {own_ms} ms CPU: {usage:?}");
    let diff = total.abs_diff(own_ms);
    assert!(
        diff * 10 <= own_ms,
        "accounted {total} ms vs {own_ms} ms measured by the loop"
    );
    assert!(user * 10 >= own_ms * 8, "user {user} ms of {own_ms} ms");
    tree.end();
}

/// 300 ms of CPU at 0.2 CPUs is 15 quotas of 20 ms: the first may be spent before the
/// first period boundary, each other one needs its own 100 ms period, so the loop
/// takes at least 1.4 s (1.3 s allowing one period of timer slack). Unthrottled it
/// takes 0.3 s.
#[test]
fn a_cpu_quota_throttles_a_busy_loop() {
    let Some(probe) = host("the CPU limit", &[LimitKind::Cpu]) else {
        return;
    };
    let mut tree = Tree::new(&Limits::new().cpus(0.2), probe);
    let start = Instant::now();
    let mut child = tree.spawn("spin 300");
    let own_ns: u64 = line_of(&mut child, "@cpu_ns ").parse().expect("a CPU time");
    let wall = start.elapsed();
    eprintln!("{} ms CPU at 0.2 CPUs took {wall:?}", own_ns / 1_000_000);
    assert!(child.wait().expect("reaped").success());
    assert!(
        wall >= Duration::from_millis(1300),
        "{} ms CPU in {wall:?} of wall time at 0.2 CPUs",
        own_ns / 1_000_000
    );
    let stat = match probe.cpu.as_ref().expect("a cpu place") {
        Place::V2 => tree.cg.as_ref().expect("live").dir().join("cpu.stat"),
        Place::V1(parent) => parent
            .join(
                tree.cg
                    .as_ref()
                    .expect("live")
                    .dir()
                    .file_name()
                    .expect("a name"),
            )
            .join("cpu.stat"),
    };
    let throttled = keyed(&fs::read_to_string(stat).expect("cpu.stat"), "nr_throttled");
    assert!(
        throttled.is_some_and(|n| n >= 10),
        "nr_throttled {throttled:?}"
    );
    tree.end();
}

#[test]
fn stale_directories_of_dead_processes_are_swept() {
    let Some(probe) = host("the sweep", &[LimitKind::Pids]) else {
        return;
    };
    let Some(Place::V1(parent)) = &probe.pids else {
        eprintln!("note: pids is not a v1 controller here; the v1 sweep is not tested");
        return;
    };
    // No pid is above pid_max (≤ 2^22): the owner of this one is surely dead.
    let dead = parent.join("kennel-4999999-7");
    let ours = parent.join(format!("kennel-{}-sweep", std::process::id()));
    for d in [&dead, &ours] {
        fs::create_dir(d).expect("a directory");
    }
    sweep_stale(probe, cgroup::root().expect("a v2 root"));
    let kept = ours.exists();
    let _ = fs::remove_dir(&ours);
    let swept = !dead.exists();
    let _ = fs::remove_dir(&dead);
    assert!(swept && kept, "swept {swept}, kept ours {kept}");
}
