//! `hello` is the first line and has the documented shape; a lone small reply is
//! flushed at once.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::prelude::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_announces_protocol_platform_containment_and_limits() {
    let mut sc = Sidecar::start().await;
    let h = sc.hello.clone();
    assert_eq!(h["protocol"], 1);
    assert_eq!(h["kennel"], env!("CARGO_PKG_VERSION"));
    assert_eq!(h["platform"], std::env::consts::OS);
    assert_eq!(h["max_line_bytes"], 1024 * 1024);
    assert_eq!(h["max_children"], 4096);
    let tiers: Vec<&str> = h["containment"]
        .as_array()
        .expect("containment is an array")
        .iter()
        .map(|t| t.as_str().expect("tier name"))
        .collect();
    // Strongest first, known names only, and the process group is always there.
    // (The test process cannot probe for the sidecar: the keeper tier depends on the
    // binary hosting keepers.)
    let order = ["cgroup", "subreaper", "group"];
    let ranks: Vec<usize> = tiers
        .iter()
        .map(|t| order.iter().position(|o| o == t).expect("a Unix tier"))
        .collect();
    assert!(ranks.windows(2).all(|w| w[0] < w[1]), "{tiers:?}");
    assert_eq!(tiers.last(), Some(&"group"), "{tiers:?}");

    let mut limited = Sidecar::start_with(&["--max-children", "7"]).await;
    assert_eq!(limited.hello["max_children"], 7);

    sc.close_stdin();
    limited.close_stdin();
    assert_eq!(sc.read_to_eof().await.last().unwrap()["event"], "bye");
    assert_eq!(limited.read_to_eof().await.last().unwrap()["event"], "bye");
    assert_eq!(sc.wait_exit().await, Some(0));
    assert_eq!(limited.wait_exit().await, Some(0));
}

/// The writer flushes when its queue is momentarily empty: a `list` reply comes back in
/// about one scheduling round trip, not when a buffer fills.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_small_event_arrives_promptly() {
    let mut sc = Sidecar::start().await;
    let mut times = Vec::new();
    for i in 0..20 {
        let id = format!("q{i}");
        let start = Instant::now();
        sc.send(request::list(&id)).await;
        let reply = sc.wait_event("list", &id).await;
        times.push(start.elapsed());
        assert_eq!(reply["children"], json!([]));
    }
    times.sort();
    let median = times[times.len() / 2];
    eprintln!(
        "list round trip: median {median:?}, max {:?}",
        times[times.len() - 1]
    );
    // A buffered-but-unflushed reply would never arrive (the test would time out);
    // a generous bound keeps a loaded machine green.
    assert!(
        median < Duration::from_millis(200),
        "median round trip {median:?}"
    );
    sc.finish().await;
}
