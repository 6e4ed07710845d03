//! Output arrives complete and in order through the named pipes; a cancel mid-stream
//! delivers an exact prefix of what was written.

use crate::prelude::*;

#[tokio::test]
async fn a_flood_on_both_streams_arrives_byte_exact() {
    const N: u64 = 8 * 1024 * 1024;
    let n = N.to_string();
    let output = fixture(&["flood", "--bytes", &n, "--chunk", "10000", "--stderr"])
        .spawn()
        .unwrap()
        .output()
        .await;
    assert!(output.outcome.success(), "{:?}", output.outcome);
    assert_eq!(output.stdout.len() as u64, N);
    assert_eq!(output.stderr.len() as u64, N);
    verify_text_prefix(&output.stdout).unwrap();
    verify_text_prefix(&output.stderr).unwrap();
    assert_eq!(output.outcome.stdout.bytes, N);
    assert_eq!(output.outcome.drain, Drain::Complete);
}

#[tokio::test]
async fn cancel_mid_stream_delivers_an_exact_prefix() {
    let (mut child, mut seen) =
        spawn_kill_only(&["flood", "--bytes", "100000000000", "--chunk", "4096"]);
    read_until(&mut child, &mut seen, |s| s.stdout.len() >= 1024 * 1024).await;
    let procs = Procs::open(&[child.id()]);
    child.cancel();
    let outcome = read_to_end(&mut child, &mut seen).await;
    procs.assert_gone();
    assert_eq!(outcome.reason, EndReason::Cancelled);
    assert_eq!(outcome.status.code, Some(KILLED));
    assert_eq!(outcome.stdout.bytes, seen.stdout.len() as u64);
    verify_text_prefix(&seen.stdout).unwrap();
    assert_eq!(outcome.drain, Drain::Complete);
}

#[tokio::test]
async fn a_consumer_that_stops_reading_blocks_the_writer_not_memory() {
    let (mut child, mut seen) = spawn_kill_only(&["flood", "--bytes", "100000000000"]);
    read_until(&mut child, &mut seen, |s| !s.stdout.is_empty()).await;
    // Stop reading for a while: the child blocks in WriteFile; then cancel.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    child.cancel();
    let outcome = read_to_end(&mut child, &mut seen).await;
    assert_eq!(outcome.reason, EndReason::Cancelled);
    verify_text_prefix(&seen.stdout).unwrap();
    // At most the bounded channel (16 × 64 KiB) plus pipe buffers were in flight.
    assert!(
        seen.stdout.len() < 64 * 1024 * 1024,
        "{}",
        seen.stdout.len()
    );
}
