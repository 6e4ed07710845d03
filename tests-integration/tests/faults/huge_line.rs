//! A 100 MiB request line is answered with one `line_too_long` error and costs the
//! sidecar no more than a few MiB (it buffers at most `max_line_bytes`); the next line
//! is served and other children are undisturbed.

use crate::prelude::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mib_line_gets_an_error_and_no_memory_blowup() {
    let mut sc = Sidecar::start().await;
    let mut by = Bystander::start(&mut sc, "by").await;
    let before = rss_kib(sc.pid).expect("sidecar RSS");
    // A syntactically plausible start, then 100 MiB without a newline, sent in 1 MiB
    // pieces while we watch the sidecar's RSS.
    let mut peak = before;
    sc.send_raw(br#"{"op":"spawn","id":"huge","cmd":""#).await;
    let piece = vec![b'x'; 1024 * 1024];
    for _ in 0..100 {
        sc.send_raw(&piece).await;
        peak = peak.max(rss_kib(sc.pid).unwrap_or(0));
    }
    sc.send_raw(b"\"}\n").await;
    let error = sc.wait_error().await;
    assert_eq!(error["code"], "line_too_long", "{error}");
    assert!(
        error.get("id").is_none(),
        "the id was discarded with the line: {error}"
    );
    peak = peak.max(rss_kib(sc.pid).unwrap_or(0));
    println!("sidecar RSS {before} KiB before, peak {peak} KiB while reading a 100 MiB line");
    // One line buffer (1 MiB) plus slack for the allocator; 100 MiB would be obvious.
    assert!(
        peak < before + 8 * 1024,
        "sidecar RSS {before} KiB → peak {peak} KiB while reading a 100 MiB line"
    );
    // The stream is in sync again.
    by.ping(&mut sc).await;
    sc.send(request::list("q")).await;
    sc.wait_event("list", "q").await;
    by.finish(&mut sc).await;
    sc.finish().await;
}
