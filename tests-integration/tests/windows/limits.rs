//! Resource limits on Windows are the Job Object's. Wine 8 enforces none of them
//! (measured in `crates/kennel/src/sys/windows/limits.rs`), so there a spawn asking for
//! one is `LimitUnsupported` unless best effort; on Windows it runs under the limit.
//! Accounting counts every process the job ever held, under Wine too.

use kennel::{LimitKind, Limits};

use crate::prelude::*;

#[tokio::test]
async fn a_limit_is_enforced_or_unsupported_unless_best_effort() {
    let limits = Limits::new().pids_max(4);
    let spawned = fixture(&["exit", "0"]).limits(limits).spawn();
    let mut child = if under_wine() {
        match spawned {
            Err(SpawnError::LimitUnsupported { limits, .. }) => {
                assert_eq!(limits, vec![LimitKind::Pids]);
            }
            other => panic!(
                "Wine started enforcing Job Object limits? {:?}",
                other.map(|c| c.id())
            ),
        }
        fixture(&["exit", "0"])
            .limits(limits.best_effort(true))
            .spawn()
            .unwrap()
    } else {
        spawned.expect("the job enforces a process limit")
    };
    let outcome = read_to_end(&mut child, &mut Seen::default()).await;
    assert_eq!(outcome.status.code, Some(0));
    let skipped: &[LimitKind] = if under_wine() {
        &[LimitKind::Pids]
    } else {
        &[]
    };
    assert_eq!(outcome.limits_skipped, skipped);
}

#[tokio::test]
async fn the_job_counts_every_process_of_the_tree() {
    let (mut child, mut seen) = spawn_kill_only(&["tree", "--depth", "2", "--width", "2"]);
    let (_, procs) = read_pids(&mut child, &mut seen, 3).await;
    child.kill();
    let outcome = read_to_end(&mut child, &mut seen).await;
    procs.assert_gone();
    let usage = outcome.usage;
    assert!(usage.processes_exact, "{usage:?}");
    // A console host Windows (or Wine) starts in the job may count too.
    assert!(usage.processes.is_some_and(|n| n >= 3), "{usage:?}");
    if under_wine() {
        assert_eq!(
            usage.cpu_user_ms, None,
            "Wine reports no job CPU time: {usage:?}"
        );
    } else {
        assert!(usage.cpu_user_ms.is_some() && usage.memory_peak_bytes.is_some());
    }
}
