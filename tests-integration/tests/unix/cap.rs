//! Output caps: truncate (keep reading, count) or kill the tree.

use crate::prelude::*;

#[tokio::test]
async fn truncate_cap_keeps_the_child_running_to_the_end_and_counts_the_rest() {
    let total = 1024 * 1024u64;
    let cap = 100_000u64;
    let out = fixture(&["flood", "--bytes", &total.to_string()])
        .stdout_cap(OutputCap::truncate(cap))
        .output()
        .await
        .unwrap();
    assert_eq!(out.stdout.len() as u64, cap);
    verify_text_prefix(&out.stdout).unwrap();
    assert!(out.outcome.stdout.cap_hit);
    assert_eq!(out.outcome.stdout.bytes, cap);
    assert_eq!(out.outcome.stdout.dropped, total - cap);
    assert!(out.outcome.success(), "truncation does not end the run");
}

#[tokio::test]
async fn kill_cap_ends_the_tree() {
    let out = fixture(&["flood", "--bytes", "1000000000"])
        .stdout_cap(OutputCap::kill(64 * 1024))
        .output()
        .await
        .unwrap();
    assert_eq!(out.outcome.reason, EndReason::OutputCap);
    assert!(out.outcome.forced);
    assert_eq!(out.outcome.status.signal, Some(9));
    assert!(out.outcome.stdout.cap_hit);
    assert_eq!(out.stdout.len(), 64 * 1024);
    verify_text_prefix(&out.stdout).unwrap();
}

#[tokio::test]
async fn command_output_applies_the_default_cap() {
    let out = fixture(&["print", "small"]).output().await.unwrap();
    assert!(!out.outcome.stdout.cap_hit);
    assert_eq!(kennel::DEFAULT_COLLECT_CAP, 10 * 1024 * 1024);
}
