//! Unit tests of the cgroup tier.

use super::*;

#[test]
fn mountinfo_parsing_finds_rw_cgroup2_only() {
    // Exercise the parser on this machine: every returned mount must be cgroup2.
    for m in cgroup2_mounts() {
        assert!(m.is_absolute());
    }
}

/// A cgroup-like scratch directory `root` as a `Cgroup` (not removed, reusable).
fn scratch(root: &Path) -> Cgroup {
    let dir_fd = fs::File::open(root).expect("the scratch directory").into();
    Cgroup::of(root.to_path_buf(), dir_fd)
}

#[test]
fn a_removed_directory_is_empty_and_an_unreadable_one_is_assumed_populated() {
    let root = std::env::temp_dir().join(format!("kennel-cgroup-gone-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    fs::create_dir(&root).expect("a scratch directory");
    let mut cg = scratch(&root);
    fs::write(root.join("cgroup.events"), "populated 1\nfrozen 0\n").expect("events");
    assert!(cg.populated());
    // The file is kept open and read again: a change shows.
    fs::write(root.join("cgroup.events"), "populated 0\nfrozen 0\n").expect("events");
    assert!(!cg.populated());
    cg.removed = true;
    // Unreadable (here: a directory), not gone: cannot tell, so assumed alive.
    let unreadable = root.join("unreadable");
    fs::create_dir_all(unreadable.join("cgroup.events")).expect("a directory in its place");
    let mut cg = scratch(&unreadable);
    assert!(cg.populated());
    cg.removed = true;
    // Gone before its first read (someone else's `rmdir`, possible only once it was
    // empty): empty.
    let gone = root.join("gone");
    fs::create_dir(&gone).expect("a scratch directory");
    let mut cg = scratch(&gone);
    fs::remove_dir(&gone).expect("removed");
    assert!(!cg.populated());
    cg.removed = true;
    fs::remove_dir_all(&root).expect("cleanup");
}

/// A real cgroup removed behind our back while its `cgroup.events` is kept open reads
/// `ENODEV`: gone, so empty (were it "cannot tell", a cgroup not removed by us would
/// read as populated, and its tree's teardown would never end).
#[test]
fn a_real_cgroup_removed_behind_a_kept_file_is_empty() {
    if root().is_none() {
        assert!(
            std::env::var_os("KENNEL_REQUIRE_CGROUP").is_none(),
            "KENNEL_REQUIRE_CGROUP is set but no cgroup v2 is writable here"
        );
        eprintln!("note: no writable cgroup v2 here; the kept cgroup.events is not tested");
        return;
    }
    let mut cg = Cgroup::create().expect("a fresh cgroup");
    assert!(!cg.populated(), "a fresh cgroup holds nothing");
    assert!(cg.events.get().is_some(), "cgroup.events is kept open");
    let stat = cg.cpu_stat().expect("cpu.stat kept open");
    assert!(stat.read().expect("cpu.stat").contains("user_usec"));
    fs::remove_dir(cg.dir()).expect("rmdir of an empty cgroup");
    assert!(!cg.populated());
    let err = stat.read().expect_err("a removed cgroup's file");
    assert!(crate::sys::unix::linux::procfs::gone(&err), "{err}");
    cg.removed = true;
}

#[test]
fn leftover_names_of_an_earlier_process_with_our_pid_are_reused_or_skipped() {
    let root = std::env::temp_dir().join(format!("kennel-cgroup-names-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    fs::create_dir(&root).expect("a scratch directory");
    // The next names: one empty leftover (taken over) and, before it, one that still
    // holds something (skipped), as a dead supervisor with our pid could leave them.
    let next = SEQ.load(Ordering::Relaxed);
    for (i, busy) in [(0, true), (1, false)] {
        let dir = root.join(format!("kennel-{}-{}", std::process::id(), next + i));
        fs::create_dir(&dir).expect("a leftover");
        if busy {
            fs::write(dir.join("member"), b"").expect("a member");
        }
    }
    let made = create_fresh_dir(&root).expect("a fresh name despite the leftovers");
    assert!(made.is_dir());
    assert!(
        !made.join("member").exists(),
        "the busy leftover must not be taken: {made:?}"
    );
    fs::remove_dir_all(&root).expect("cleanup");
}

#[test]
fn a_signal_reaches_only_the_pids_listed_after_their_pidfds_were_opened() {
    let spawn = || {
        std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep")
    };
    let (mut listed, mut dropped) = (spawn(), spawn());
    // A pid with no process behind it gets no pidfd (nothing to signal later).
    let mut gone = spawn();
    let gone_pid = gone.id();
    gone.kill().expect("kill");
    gone.wait().expect("reap");
    let pidfds = open_pidfds(&[listed.id(), dropped.id(), gone_pid]);
    assert_eq!(pidfds.len(), 2, "a pidfd for each live pid only");
    // The second listing no longer names `dropped` (it left, or its number was
    // someone else's): only `listed` is signalled.
    signal_still_listed(&pidfds, &[listed.id()], rustix::process::Signal::KILL);
    let status = listed.wait().expect("wait");
    use std::os::unix::process::ExitStatusExt as _;
    assert_eq!(status.signal(), Some(9), "{status:?}");
    assert!(
        dropped.try_wait().expect("try_wait").is_none(),
        "a process missing from the second listing must not be signalled"
    );
    dropped.kill().expect("kill");
    dropped.wait().expect("reap");
}

#[test]
fn a_signal_reaches_every_member_of_a_cgroup_larger_than_one_batch_of_pidfds() {
    let root = std::env::temp_dir().join(format!("kennel-cgroup-batch-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    fs::create_dir(&root).expect("a scratch directory");
    let mut members: Vec<std::process::Child> = (0..PIDFDS_AT_ONCE * 2 + 5)
        .map(|_| {
            std::process::Command::new("sleep")
                .arg("30")
                .spawn()
                .expect("sleep")
        })
        .collect();
    let listing: String = members.iter().map(|c| format!("{}\n", c.id())).collect();
    fs::write(root.join("cgroup.procs"), listing).expect("a listing");
    let mut cg = scratch(&root);
    cg.removed = true;
    cg.reusable = AtomicBool::new(false);
    cg.signal_all(rustix::process::Signal::KILL, None);
    use std::os::unix::process::ExitStatusExt as _;
    for child in &mut members {
        let status = child.wait().expect("wait");
        assert_eq!(status.signal(), Some(9), "{status:?}");
    }
    fs::remove_dir_all(&root).expect("cleanup");
}
