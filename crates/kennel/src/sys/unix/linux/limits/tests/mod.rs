//! Unit tests of the pure parts; real tests of the mechanism against this host's
//! cgroups in [`host`], with the program they run in a tree in [`helper`].

use super::*;

mod helper;
mod host;

fn v1(parent: &str) -> Option<Place> {
    Some(Place::V1(PathBuf::from(parent)))
}

#[test]
fn a_limit_with_no_controller_is_unsupported_unless_best_effort() {
    let probe = Probe {
        memory: v1("/m"),
        pids: None,
        cpu: Some(Place::V2),
    };
    let limits = Limits::new().memory_max_bytes(64 << 20).pids_max(64);
    assert_eq!(
        plan(&limits, Some(&probe)),
        Err(Unsupported(vec![LimitKind::Pids]))
    );
    let relaxed = plan(&limits.best_effort(true), Some(&probe)).expect("best effort");
    assert_eq!(
        relaxed.memory,
        Some((Place::V1("/m".into()), Some(64 << 20)))
    );
    assert_eq!(relaxed.pids, None);
    assert_eq!(relaxed.skipped, vec![LimitKind::Pids]);
    // A tree without a v2 cgroup cannot hold any limit.
    assert_eq!(
        plan(&Limits::new().cpus(1.0).full_accounting(true), None),
        Err(Unsupported(vec![LimitKind::Cpu]))
    );
}

#[test]
fn accounting_is_placed_where_free_or_asked_for() {
    let probe = Probe {
        memory: Some(Place::V2),
        pids: v1("/p"),
        cpu: v1("/c"),
    };
    let free = plan(&Limits::new(), Some(&probe)).expect("no limits");
    assert_eq!(
        free.memory,
        Some((Place::V2, None)),
        "v2 accounting is free"
    );
    assert_eq!(free.pids, None, "a v1 directory only when asked");
    let full = plan(&Limits::new().full_accounting(true), Some(&probe)).expect("no limits");
    assert_eq!(full.pids, Some((Place::V1("/p".into()), None)));
    assert_eq!(full.cpu, None, "CPU accounting comes from the v2 cpu.stat");
    assert!(plan(&Limits::new(), None)
        .expect("nothing asked")
        .is_empty());
}

const MOUNTINFO: &str = "\
24 31 0:22 / /sys/fs/cgroup rw,nosuid - tmpfs tmpfs rw,mode=755
25 24 0:23 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
26 24 0:24 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
27 24 0:25 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
28 24 0:26 /lxc/box /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
29 24 0:27 / /sys/fs/cgroup/blkio ro,relatime - cgroup cgroup rw,blkio
";
const OWN: &str = "\
5:blkio:/
4:pids:/lxc/box/inner
3:memory:/process_api/abc
2:cpu,cpuacct:/
0::/
";

#[test]
fn v1_parents_come_from_mountinfo_and_our_cgroup() {
    assert_eq!(
        v1_parent(MOUNTINFO, OWN, "memory"),
        Some(PathBuf::from("/sys/fs/cgroup/memory/process_api/abc"))
    );
    assert_eq!(
        v1_parent(MOUNTINFO, OWN, "cpu"),
        Some(PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"))
    );
    // A hierarchy mounted from a sub-directory (a container): its root is stripped.
    assert_eq!(
        v1_parent(MOUNTINFO, OWN, "pids"),
        Some(PathBuf::from("/sys/fs/cgroup/pids/inner"))
    );
    // Read-only mount, or no such controller.
    assert_eq!(v1_parent(MOUNTINFO, OWN, "blkio"), None);
    assert_eq!(v1_parent(MOUNTINFO, OWN, "hugetlb"), None);
}

#[test]
fn stats_files() {
    let cpu = "usage_usec 1504000\nuser_usec 1500999\nsystem_usec 3001\nnice_usec 0\n";
    assert_eq!(keyed(cpu, "user_usec"), Some(1_500_999));
    assert_eq!(keyed(cpu, "system_usec"), Some(3001));
    assert_eq!(keyed(cpu, "usage"), None);
    assert_eq!(keyed("max 236\n", "max"), Some(236));
    let oom = "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n";
    assert_eq!(keyed(oom, "oom_kill"), Some(1));
    let events = "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 1\n";
    assert_eq!(keyed(events, "oom_kill"), Some(1));
    assert_eq!(keyed(events, "max"), Some(12));
}

#[test]
fn cpu_quota_per_period() {
    assert_eq!(cpu_quota_us(0.5), 50_000);
    assert_eq!(cpu_quota_us(2.0), 200_000);
    assert_eq!(cpu_quota_us(0.001), MIN_QUOTA_US);
}
