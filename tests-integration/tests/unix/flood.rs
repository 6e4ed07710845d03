//! Backpressure and order: a slow consumer and a cancel mid-stream lose nothing.

use std::time::Duration;

use crate::prelude::*;

#[tokio::test]
async fn flood_with_slow_consumer_and_cancel_mid_stream_delivers_an_exact_prefix() {
    let total = 200 * 1024 * 1024;
    let mut child = fixture(&["flood", "--bytes", &total.to_string(), "--chunk", "4096"])
        .spawn()
        .unwrap();
    let mut received = Vec::new();
    let mut cancelled = false;
    let mut events = 0u64;
    let outcome = loop {
        let event = tokio::time::timeout(PATIENCE, child.next_event())
            .await
            .expect("an event")
            .expect("events until Exit");
        events += 1;
        match event {
            Event::Stdout(chunk) => {
                received.extend_from_slice(&chunk);
                // A slow consumer: the child must block on its writes, not be dropped.
                if events % 64 == 0 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                if !cancelled && received.len() > 4 * 1024 * 1024 {
                    child.cancel();
                    cancelled = true;
                }
            }
            Event::Stderr(_) => panic!("no stderr expected"),
            Event::Exit(outcome) => break outcome,
        }
    };
    assert!(cancelled);
    assert!(received.len() < total, "cancel landed mid-stream");
    verify_text_prefix(&received).unwrap();
    assert_eq!(outcome.stdout.bytes, received.len() as u64);
    assert_eq!(outcome.stdout.dropped, 0);
    assert_eq!(outcome.reason, EndReason::Cancelled);
    assert_eq!(outcome.drain, Drain::Complete);
    assert!(child.next_event().await.is_none(), "Exit is last");
}

#[tokio::test]
async fn binary_output_is_byte_exact_on_both_streams() {
    let n = 3 * 1024 * 1024 + 17;
    let out = fixture(&["binary", "--bytes", &n.to_string(), "--stderr"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.stdout.len(), n);
    assert_eq!(out.stderr.len(), n);
    verify_binary_prefix(&out.stdout).unwrap();
    verify_binary_prefix(&out.stderr).unwrap();
    assert!(out.outcome.success());
}
