//! One child's flood does not starve another child's events.

use std::time::Instant;

use serde_json::json;

use crate::prelude::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_does_not_starve_a_small_child() {
    let mut sc = Sidecar::start().await;
    let gib = (1u64 << 30).to_string();
    sc.spawn("flood", &["flood", "--bytes", &gib], json!({}))
        .await;
    // The flood is streaming and has had time to fill every queue on its way.
    while sc.output_of("flood", "stdout").len() < 16 * 1024 * 1024 {
        let e = sc.wait_event("stdout", "flood").await;
        assert_ne!(e["event"], "exit");
    }
    let start = Instant::now();
    sc.spawn("small", &["print", "small and quick"], json!({}))
        .await;
    let exit = sc.wait_for("an exit", |e| e["event"] == "exit").await;
    let latency = start.elapsed();
    assert_eq!(
        exit["id"], "small",
        "the small child finished first: {exit}"
    );
    assert_eq!(sc.output_of("small", "stdout"), b"small and quick\n");
    let flood_so_far = sc.output_of("flood", "stdout").len();
    eprintln!(
        "small child: spawn to exit {latency:?} while the flood had delivered {flood_so_far} bytes"
    );
    assert!(
        (flood_so_far as u64) < (1 << 30),
        "the flood was still running"
    );
    // Stop the flood; what it delivered is an exact prefix and matches its counters.
    let exit = sc.end("kill", "flood").await;
    assert_eq!(exit["reason"], "killed");
    sc.assert_text_prefix_counted("flood", &exit);
    sc.finish().await;
}
