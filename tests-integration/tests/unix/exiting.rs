//! A member still inside `exit(2)` is not gone yet: a process killed while it holds a
//! lot of memory spends a while freeing it (the kernel's `exit_mm`), flagged
//! `PF_EXITING` but still running, holding its files, sockets and pid until it turns
//! zombie. The outcome must wait for it — with the process group alone too, where
//! nothing but the group's listing tells, and where a listing that counted
//! `PF_EXITING` as gone let the outcome out while the member was still `R`/`D`.

use kennel_tests::{rss_kib, wait_until};

use crate::group_pin::containments;
use crate::prelude::*;

/// Memory the member holds: enough that freeing it takes the kernel tens of
/// milliseconds on a small VM, longer than the outcome takes without the wait.
const HOLD_MIB: u64 = 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_still_freeing_its_memory_is_waited_for() {
    for (name, containment) in containments() {
        // The member's output goes to /dev/null: no pipe of ours tells when it exits.
        let script = format!(
            "'{FIXTURE}' alloc --mib {HOLD_MIB} --hold >/dev/null 2>&1 & echo \"pid $! $$ member\"; wait"
        );
        let command = Command::new("/bin/sh")
            .args(["-c", &script])
            .containment(containment);
        let (mut child, mut seen, pids, _cleanup) = spawn_ready(command, 1).await;
        let member = pids[0];
        let held = wait_until(PATIENCE, || {
            rss_kib(member).is_some_and(|kib| kib >= (HOLD_MIB - 64) * 1024)
        });
        assert!(
            held,
            "{name}: member {member} never held its memory: {}",
            describe(member)
        );
        child.cancel();
        let outcome = read_to_end(&mut child, &mut seen).await;
        assert_eq!(outcome.reason, EndReason::Cancelled, "{name}: {outcome:?}");
        assert!(
            !is_alive(member),
            "{name}: member {member} still running after the outcome: {}",
            describe(member)
        );
        assert_all_gone(&[member]);
    }
}
