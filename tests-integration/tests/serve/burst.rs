//! Consecutive `spawn` requests start together, off the request loop (issue 16): an id
//! is taken while its spawn is still starting, a request about a child that follows its
//! `spawn` finds it spawned, and `list` keeps spawn order.

use serde_json::json;

use crate::prelude::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_to_back_spawns_keep_ids_order_and_later_requests() {
    let mut sc = Sidecar::start().await;
    // One write: the sidecar reads these back to back, while the first spawns start.
    let requests = [
        spawn_request("a", &["echo-stdin"], json!({"stdin": "pipe"})),
        spawn_request("a", &["exit", "0"], json!({})),
        spawn_request("b", &["echo-stdin"], json!({"stdin": "pipe"})),
        spawn_request("c", &["echo-stdin"], json!({"stdin": "pipe"})),
        request::write("a", "to a\n"),
        request::close_stdin("a"),
        request::list("q"),
    ];
    let mut batch = Vec::new();
    for r in &requests {
        batch.extend_from_slice(r.to_string().as_bytes());
        batch.push(b'\n');
    }
    sc.send_raw(&batch).await;
    let e = sc.wait_error().await;
    assert_eq!(
        (e["code"].as_str(), e["id"].as_str(), e["op"].as_str()),
        (Some("duplicate_id"), Some("a"), Some("spawn")),
        "{e}"
    );
    let list = sc.wait_event("list", "q").await;
    let ids: Vec<&str> = list["children"]
        .as_array()
        .expect("children")
        .iter()
        .map(|c| c["id"].as_str().expect("an id"))
        .collect();
    assert_eq!(ids, ["a", "b", "c"], "spawn order: {list}");
    let exit = sc.seen_event("exit", "a").await;
    assert_eq!(exit["code"], 0, "{exit}");
    assert_eq!(sc.output_of("a", "stdout"), b"to a\n");
    assert_child_order(&sc.events_of("a"));
    for id in ["b", "c"] {
        sc.send(request::close_stdin(id)).await;
        let exit = sc.wait_event("exit", id).await;
        assert_eq!(exit["code"], 0, "{exit}");
    }
    sc.finish().await;
}
