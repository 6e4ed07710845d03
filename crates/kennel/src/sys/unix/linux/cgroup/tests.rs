//! Unit tests of the cgroup tier.

use super::*;

#[test]
fn mountinfo_parsing_finds_rw_cgroup2_only() {
    // Exercise the parser on this machine: every returned mount must be cgroup2.
    for m in cgroup2_mounts() {
        assert!(m.is_absolute());
    }
}

#[test]
fn a_removed_directory_is_empty_and_an_unreadable_one_is_assumed_populated() {
    let root = std::env::temp_dir().join(format!("kennel-cgroup-gone-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    fs::create_dir(&root).expect("a scratch directory");
    let procs = OnceLock::new();
    let dir_fd = fs::File::open(&root).expect("the scratch directory").into();
    let mut cg = Cgroup {
        dir: root.clone(),
        dir_fd,
        procs,
        removed: false,
        reusable: AtomicBool::new(true),
        cpu_base: CpuBase::default(),
    };
    fs::write(root.join("cgroup.events"), "populated 1\nfrozen 0\n").expect("events");
    assert!(cg.populated());
    // Unreadable (here: a directory), not gone: cannot tell, so assumed alive.
    fs::remove_file(root.join("cgroup.events")).expect("remove events");
    fs::create_dir(root.join("cgroup.events")).expect("a directory in its place");
    assert!(cg.populated());
    // Gone (someone else's `rmdir`, possible only once it was empty): empty.
    fs::remove_dir_all(&root).expect("cleanup");
    assert!(!cg.populated());
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
