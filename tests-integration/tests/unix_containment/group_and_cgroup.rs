//! The two layers of a cgroup tree cover for each other:
//!
//! * a member of the tree's process group that moved itself out of the tree's cgroup
//!   is still the tree's: a cancel's outcome waits until the ladder's SIGKILL ended it,
//!   though the cgroup emptied long before — the group layer's check that runs once
//!   the cgroup is empty (`sys/unix/linux/census.rs`) must find it;
//! * a member of the cgroup that left the process group (`setsid`) gets the graceful
//!   signal from the cgroup's pass, which leaves out the group `killpg` reached.
//!
//! Needs root (moving between cgroups) and a writable cgroup v2 (the second: a
//! writable cgroup v2).

use std::time::{Duration, Instant};

use kennel::{ContainmentOptions, EndReason, Event, Ladder, Signal};

use crate::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_member_outside_the_cgroup_holds_the_outcome_until_the_ladder_ends_it() {
    if !cgroup_available("a group member outside the cgroup") || unsafe { libc::getuid() } != 0 {
        eprintln!("note: a group member outside the cgroup needs root; not tested");
        return;
    }
    let (_, own) = kennel_tests::delegated::own_cgroup().expect("our own cgroup");
    let outside = own.join(format!("kennel-test-outside-{}", std::process::id()));
    std::fs::create_dir(&outside).expect("a cgroup to move to");
    let mark = marker();
    let grace = Duration::from_millis(400);
    // `sh` leads the group and the cgroup; its child moves to `outside` (staying in
    // the group), prints its pid and ignores SIGTERM. SIGTERM ends `sh`, which empties
    // the tree's cgroup; only the SIGKILL after the grace ends the child.
    let script = format!(
        "KENNEL_FIXTURE_CGROUP={} {FIXTURE} tree --depth 1 --width 1 --ignore-term & wait",
        outside.display()
    );
    let mut child = cgroup_tree(&script, &mark, grace);
    let mut out = Vec::new();
    let member = loop {
        match tokio::time::timeout(PATIENCE, child.next_event())
            .await
            .expect("the member's pid line in time")
        {
            Some(Event::Stdout(b)) => {
                out.extend_from_slice(&b);
                if let Some(line) = kennel_tests::parse_pid_lines(&out).first() {
                    break line.pid;
                }
            }
            other => panic!("before the member's pid line: {other:?}"),
        }
    };
    let cgroup = std::fs::read_to_string(format!("/proc/{member}/cgroup")).expect("its cgroup");
    assert!(
        cgroup
            .trim_end()
            .ends_with(&format!("kennel-test-outside-{}", std::process::id())),
        "the member left the tree's cgroup: {cgroup}"
    );
    let cancelled = Instant::now();
    child.cancel();
    let outcome = tokio::time::timeout(PATIENCE, child.wait())
        .await
        .expect("the outcome in time");
    let took = cancelled.elapsed();
    let alive = kennel_tests::is_alive(member);
    if alive {
        // SAFETY: kill(2) with a pid we read from the member's own line.
        unsafe { libc::kill(member as i32, libc::SIGKILL) };
    }
    assert!(!alive, "the member outlived the outcome: {outcome:?}");
    assert_eq!(outcome.reason, EndReason::Cancelled, "{outcome:?}");
    assert!(
        outcome.forced,
        "only the SIGKILL ends the member: {outcome:?}"
    );
    assert!(
        took >= grace,
        "the outcome came after {took:?}, within the grace"
    );
    assert_no_survivors(&mark, Duration::ZERO, "a group member outside the cgroup");
    let gone = Instant::now() + PATIENCE;
    while std::fs::remove_dir(&outside).is_err() && Instant::now() < gone {
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cgroup_member_outside_the_group_gets_the_graceful_signal() {
    if !cgroup_available("a cgroup member outside the group") {
        return;
    }
    let mark = marker();
    // `sh` and one `trap-term` in the group, one `trap-term` in a session of its own
    // (only the cgroup reaches it); each says `got SIGTERM` and exits when it gets it.
    let script = format!("setsid {FIXTURE} trap-term & {FIXTURE} trap-term & wait");
    let mut child = cgroup_tree(&script, &mark, PATIENCE);
    let mut out = Vec::new();
    while kennel_tests::parse_pid_lines(&out).len() < 2 {
        match tokio::time::timeout(PATIENCE, child.next_event())
            .await
            .expect("both pid lines in time")
        {
            Some(Event::Stdout(b)) => out.extend_from_slice(&b),
            other => panic!("before both pid lines: {other:?}"),
        }
    }
    child.cancel();
    let outcome = loop {
        match tokio::time::timeout(PATIENCE, child.next_event())
            .await
            .expect("the outcome in time")
        {
            Some(Event::Stdout(b)) => out.extend_from_slice(&b),
            Some(Event::Stderr(_)) => {}
            Some(Event::Exit(outcome)) => break outcome,
            None => panic!("no outcome"),
        }
    };
    let text = String::from_utf8_lossy(&out);
    assert_eq!(
        text.matches("got SIGTERM").count(),
        2,
        "both got the graceful signal: {text}"
    );
    assert!(!outcome.forced, "nothing needed the SIGKILL: {outcome:?}");
    assert_no_survivors(&mark, Duration::ZERO, "a cgroup member outside the group");
}

/// `sh -c script`, marked, in a cgroup tree without a keeper (the library's default
/// where no keeper program was named), with a SIGTERM, `grace`, SIGKILL ladder.
fn cgroup_tree(script: &str, mark: &(String, String), grace: Duration) -> kennel::Child {
    kennel::Command::new("sh")
        .args(["-c", script])
        .env(&mark.0, &mark.1)
        .containment(ContainmentOptions {
            cgroup: true,
            keeper: false,
        })
        .ladder(Ladder::graceful(Signal::Term, grace))
        .spawn()
        .expect("spawn")
}
