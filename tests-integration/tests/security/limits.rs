//! The limits that bound what a client (or a child) can make the sidecar hold:
//! request size (`max_line_bytes`, 1 MiB), children count (`--max-children`), stdin
//! queue (8 MiB per child) and output (caps).

use base64::Engine as _;

use crate::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_size_children_count_stdin_queue_and_output_are_bounded() {
    let mut sc = Sidecar::start_with(&["--max-children", "3"]).await;
    let max = sc.hello["max_line_bytes"].as_u64().unwrap() as usize;
    assert_eq!(max, 1024 * 1024);
    assert_eq!(sc.hello["max_children"], 3);
    let mut by = Bystander::start(&mut sc, "by").await;

    // Request size: a line of exactly the limit is read (and judged), one byte more
    // is discarded unread.
    let pad = |n: usize| {
        let head = r#"{"op":"list","id":"q","x":""#;
        let tail = r#""}"#;
        format!("{head}{}{tail}\n", "a".repeat(n - head.len() - tail.len()))
    };
    sc.send_raw(pad(max).as_bytes()).await;
    let e = sc.wait_error().await;
    assert_eq!(
        e["code"], "unknown_field",
        "a line at the limit is parsed: {e}"
    );
    sc.send_raw(pad(max + 1).as_bytes()).await;
    let e = sc.wait_error().await;
    assert_eq!(e["code"], "line_too_long", "{e}");

    // Children count: by + two more; the fourth is refused.
    sc.spawn("a", &["never-read-stdin"], json!({"stdin": "pipe"}))
        .await;
    sc.spawn("b", &["never-read-stdin"], json!({})).await;
    sc.send(spawn_request("c", &["exit", "0"], json!({}))).await;
    let e = sc.wait_event("error", "c").await;
    assert_eq!(e["code"], "too_many_children", "{e}");

    // Stdin queue: a child that never reads accepts at most 8 MiB of queued writes.
    let mib = base64::engine::general_purpose::STANDARD.encode(vec![0u8; 700 * 1024]);
    let mut refused = None;
    for i in 0..16 {
        sc.send(json!({"op": "write", "id": "a", "data_b64": mib}))
            .await;
        sc.send(json!({"op": "list", "id": format!("w{i}")})).await;
        sc.wait_event("list", &format!("w{i}")).await;
        if let Some(e) = sc
            .events_of("a")
            .iter()
            .find(|e| e["event"] == "error" && e["op"] == "write")
        {
            refused = Some(((*e).clone(), i));
            break;
        }
    }
    let (e, at) = refused.expect("the stdin queue is bounded");
    assert_eq!(e["code"], "stdin_full", "{e}");
    assert!((11..=13).contains(&at), "refused after {at} × 700 KiB");
    sc.send(request::kill("a")).await;
    sc.send(request::kill("b")).await;
    sc.seen_event("exit", "a").await;
    sc.seen_event("exit", "b").await;

    // Output: a cap keeps the delivered bytes at the cap and counts the rest.
    sc.spawn(
        "flood",
        &["flood", "--bytes", "10000000"],
        json!({"stdout_cap": {"bytes": 1000, "policy": "truncate"}}),
    )
    .await;
    let exit = sc.seen_event("exit", "flood").await;
    assert_eq!(sc.output_of("flood", "stdout").len(), 1000);
    assert_eq!(exit["stdout"]["bytes"], 1000, "{exit}");
    assert_eq!(exit["stdout"]["dropped"], 10_000_000 - 1000, "{exit}");
    assert_eq!(exit["stdout"]["cap_hit"], true, "{exit}");

    by.ping(&mut sc).await;
    by.finish(&mut sc).await;
    sc.finish().await;
}
