//! The spawn into a real cgroup, each way in: born there (`clone3`), joining it
//! (`cgroup.procs`), and joining it after `clone3` was refused. Needs a writable cgroup
//! v2 (root here); without one they print a note, or fail with `KENNEL_REQUIRE_CGROUP=1`.

use std::io::Read as _;
use std::os::fd::AsRawFd as _;

use super::*;
use crate::sys::unix::linux::cgroup::{self, Cgroup};
use crate::OutputMode;

/// A fresh cgroup, or `None` (with a note) where this host cannot make one.
fn cgroup(what: &str) -> Option<Cgroup> {
    if cgroup::root().is_some() {
        return Some(Cgroup::create().expect("a fresh cgroup"));
    }
    assert!(
        std::env::var_os("KENNEL_REQUIRE_CGROUP").is_none(),
        "KENNEL_REQUIRE_CGROUP is set but no cgroup v2 is writable here"
    );
    eprintln!("note: no writable cgroup v2 here; {what} is not tested");
    None
}

/// Run `cat` of `files` (the child's own `/proc/self/…`) started through `into`,
/// `join`; returns (the child's pid, what it printed).
fn cat(into: CgroupFds<'_>, join: Join, files: &[&str]) -> (u32, String) {
    let cmd = crate::Command::new("/bin/cat")
        .args(files)
        .stdout(OutputMode::Piped);
    let launch = Launch::of(&cmd);
    let started = spawn_joining(&launch, into, join)
        .expect("the spawn")
        .expect("a kernel with CLONE_PIDFD");
    let mut text = String::new();
    std::fs::File::from(started.stdout.expect("a piped stdout"))
        .read_to_string(&mut text)
        .expect("the child's output");
    reap(started.pid);
    (started.pid, text)
}

/// Start `cat /proc/self/cgroup /proc/self/stat` into `cg` through `into`, `join`;
/// returns (the child's pid, its cgroup path, its process group).
fn start(cg: &Cgroup, into: CgroupFds<'_>, join: Join) -> (u32, String, u32) {
    let (pid, text) = cat(into, join, &["/proc/self/cgroup", "/proc/self/stat"]);
    let cgroup_line = text
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .expect("a cgroup v2 line")
        .to_owned();
    let stat = text
        .lines()
        .find(|l| l.starts_with(&pid.to_string()))
        .and_then(crate::sys::unix::linux::procfs::parse_stat)
        .expect("the child's stat line");
    assert!(cg.dir().ends_with(cgroup_line.trim_start_matches('/')));
    (pid, cgroup_line, stat.pgrp)
}

#[test]
fn a_leader_starts_in_its_cgroup_and_its_own_group_either_way_in() {
    for join in [Join::Clone3, Join::Write] {
        let Some(cg) = cgroup("the spawn into a cgroup") else {
            return;
        };
        let opened = std::cell::Cell::new(0);
        let procs = || {
            opened.set(opened.get() + 1);
            cg.procs_fd()
        };
        let into = CgroupFds {
            dir: cg.dir_fd(),
            procs: &procs,
        };
        let (pid, path, pgrp) = start(&cg, into, join);
        assert_eq!(pgrp, pid, "{join:?}: the leader leads a new process group");
        assert!(path.contains("kennel-"), "{join:?}: in {path}");
        // Born in the cgroup: its `cgroup.procs` is not even opened (where this kernel
        // and architecture can: `clone3::refused` says once it has been asked).
        let joins = usize::from(join == Join::Write || clone3::refused());
        assert_eq!(opened.get(), joins, "{join:?}: cgroup.procs opened");
    }
}

#[test]
fn a_refused_clone3_joins_through_cgroup_procs() {
    let Some(cg) = cgroup("the fallback join") else {
        return;
    };
    // Not a cgroup directory: the kernel refuses CLONE_INTO_CGROUP (EBADF) and no child
    // is made; the spawn must still end up in the cgroup, by the write.
    let devnull = std::fs::File::open("/dev/null").expect("/dev/null");
    let procs = || cg.procs_fd();
    let into = CgroupFds {
        dir: devnull.as_raw_fd(),
        procs: &procs,
    };
    let (pid, _, pgrp) = start(&cg, into, Join::Clone3);
    assert_eq!(pgrp, pid);
    assert!(
        !clone3::refused(),
        "EBADF is this cgroup's, not the kernel's"
    );
}

#[test]
fn a_missing_program_fails_as_std_would_say_born_in_the_cgroup() {
    let Some(cg) = cgroup("a failed spawn into a cgroup") else {
        return;
    };
    let cmd = crate::Command::new("/nonexistent/kennel-no-such-program");
    let launch = Launch::of(&cmd);
    let procs = || cg.procs_fd();
    let into = CgroupFds {
        dir: cg.dir_fd(),
        procs: &procs,
    };
    let Err(failed) = spawn_joining(&launch, into, Join::Clone3) else {
        panic!("a missing program started");
    };
    assert_eq!(failed.stage, "fork/exec");
    assert_eq!(failed.source.kind(), io::ErrorKind::NotFound);
    assert!(!cg.populated(), "the failed child was reaped");
}

/// The signal mask `key` (`SigIgn`, `SigCgt`, `SigBlk`) of the `/proc/<pid>/status`
/// text `status`.
fn sig_mask(status: &str, key: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(":"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .expect("a signal mask line")
}

/// Whether signal `sig` is in `mask` (bit `sig - 1`).
fn has(mask: u64, sig: c_int) -> bool {
    mask & (1 << (sig - 1)) != 0
}

/// What a program started either way in finds: signals we ignore stay ignored (as
/// across any `exec`), `SIGPIPE` (std's runtime ignores it) is back at its default,
/// nothing is blocked. Born through `clone3` the kernel resets the handlers
/// (`CLONE_CLEAR_SIGHAND`) and the child only `SIGPIPE`; joining by the write, the
/// child resets every handled signal itself.
#[test]
fn a_leader_starts_with_our_ignored_signals_and_a_default_sigpipe_either_way_in() {
    let ignored = libc::SIGRTMIN() + 5;
    // SAFETY: a zeroed sigaction is SIG_DFL with an empty mask; setting it to SIG_IGN
    // for a real-time signal no test of this binary uses; put back below.
    let old = unsafe {
        let mut ignore: libc::sigaction = std::mem::zeroed();
        ignore.sa_sigaction = libc::SIG_IGN;
        let mut old: libc::sigaction = std::mem::zeroed();
        assert_eq!(libc::sigaction(ignored, &ignore, &mut old), 0);
        old
    };
    let mut seen = Vec::new();
    for join in [Join::Clone3, Join::Write] {
        let Some(cg) = cgroup("the signal dispositions of a leader") else {
            break;
        };
        let procs = || cg.procs_fd();
        let into = CgroupFds {
            dir: cg.dir_fd(),
            procs: &procs,
        };
        let (_, status) = cat(into, join, &["/proc/self/status"]);
        seen.push((join, status));
    }
    // SAFETY: restores the disposition saved above.
    unsafe { libc::sigaction(ignored, &old, ptr::null_mut()) };
    for (join, status) in seen {
        let ign = sig_mask(&status, "SigIgn");
        assert!(has(ign, ignored), "{join:?}: still ignored: {ign:x}");
        assert!(
            !has(ign, libc::SIGPIPE),
            "{join:?}: SIGPIPE at its default: {ign:x}"
        );
        assert_eq!(sig_mask(&status, "SigBlk"), 0, "{join:?}: nothing blocked");
    }
}
