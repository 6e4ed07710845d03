//! Unit tests of the census: the pid ranges it asks, and that a group's members are
//! found whether they existed at the census or were created after it.

use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};

use super::*;

#[test]
fn the_pids_handed_out_since_follow_the_counter_round() {
    fn all(r: Option<impl Iterator<Item = u32>>) -> Option<Vec<u32>> {
        r.map(Iterator::collect)
    }
    assert_eq!(all(handed_out(100, 103, 32_768)), Some(vec![101, 102, 103]));
    assert_eq!(all(handed_out(100, 100, 32_768)), Some(vec![]));
    // Past `pid_max - 1` the counter starts again from the low numbers.
    assert_eq!(
        all(handed_out(32_765, 2, 32_768)),
        Some(vec![32_766, 32_767, 1, 2])
    );
    // Too many to ask one by one: list `/proc` instead.
    assert_eq!(
        all(handed_out(100, 100 + MAX_PROBE, 4_194_304)).map(|v| v.len()),
        Some(4096)
    );
    assert!(handed_out(100, 101 + MAX_PROBE, 4_194_304).is_none());
    assert!(handed_out(32_000, 4_000, 32_768).is_none());
}

/// A `sleep` leading its own process group (the group id is its pid).
fn leader() -> Child {
    Command::new("sleep")
        .arg("30")
        .process_group(0)
        .stdin(Stdio::null())
        .spawn()
        .expect("sleep starts")
}

/// A `sleep` in the group `pgid`.
fn member(pgid: u32) -> Child {
    Command::new("sleep")
        .arg("30")
        .process_group(i32::try_from(pgid).expect("a pid"))
        .stdin(Stdio::null())
        .spawn()
        .expect("sleep starts")
}

fn end(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn members_created_after_the_census_are_found_and_zombies_are_not_present() {
    let mut lead = leader();
    let pgid = lead.id();
    // A census that already knows the leader: what comes next is found through the
    // pids handed out since.
    let census = Census::take().expect("/proc is listed");
    let late = member(pgid);
    assert!(!census.listed(pgid).any(|p| p == late.id()));
    let members = census.members(pgid).expect("a fresh census vouches");
    assert!(
        members.contains(&pgid) && members.contains(&late.id()),
        "{members:?}"
    );
    store(Arc::new(census));
    // Through a fresh listing: another test's census may have been taken while `late`
    // was being forked (see the module docs on forks in flight).
    let present = group_present(pgid, false).expect("/proc is listed");
    let mut both = vec![pgid, late.id()];
    both.sort_unstable();
    assert_eq!(
        present,
        both,
        "late: pgid {:?}, stat {:?}, present {}",
        getpgid(late.id()),
        procfs::read_stat(late.id()),
        super::present(late.id(), pgid)
    );

    // Killed but not reaped: zombies still in the group, none present.
    let late_pid = late.id();
    let mut late = late;
    lead.kill().expect("kill the leader");
    late.kill().expect("kill the member");
    for pid in [pgid, late_pid] {
        let deadline = Instant::now() + Duration::from_secs(10);
        while procfs::read_stat(pid).is_some_and(|s| s.present()) {
            assert!(Instant::now() < deadline, "{pid} did not die");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    assert_eq!(
        getpgid(pgid),
        Some(pgid),
        "the leader's zombie is still listed"
    );
    assert!(group_present(pgid, false)
        .expect("/proc is listed")
        .is_empty());
    let _ = lead.wait();
    let _ = late.wait();
}

#[test]
fn a_member_listed_in_a_census_is_found_through_it() {
    let lead = leader();
    let pgid = lead.id();
    let early = member(pgid);
    let census = Census::take().expect("/proc is listed");
    assert!(census.listed(pgid).any(|p| p == early.id()));
    let members = census.members(pgid).expect("a fresh census vouches");
    assert!(present_of(members, pgid).contains(&early.id()));
    // The latest census (this one, or a newer one of another test) finds it too.
    store(Arc::new(census));
    assert!(group_present(pgid, true)
        .expect("/proc is listed")
        .contains(&early.id()));
    end(early);
    end(lead);
}

#[test]
fn a_thread_is_present_while_it_runs() {
    let me = std::process::id();
    let pgid = getpgid(me).expect("our own group");
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        let _ = tx.send(
            rustix::thread::gettid()
                .as_raw_nonzero()
                .get()
                .unsigned_abs(),
        );
        let _ = stop_rx.recv();
    });
    let tid = rx.recv().expect("the thread's id");
    // A thread's number has no pidfd of its own: it counts while it is there.
    assert!(present(tid, pgid));
    assert!(!present(tid, pgid + 1), "not in another group");
    let _ = stop_tx.send(());
    thread.join().expect("the thread ends");
}
