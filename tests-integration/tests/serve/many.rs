//! 200 concurrent children, all with correct output and outcomes.

use std::collections::HashMap;
use std::time::Instant;

use serde_json::json;

use crate::prelude::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_children() {
    const N: usize = 200;
    let mut sc = Sidecar::start().await;
    let start = Instant::now();
    // All requests first (no waiting in between), so the children run concurrently.
    let mut batch = String::new();
    for i in 0..N {
        let args = if i % 2 == 0 {
            vec!["print".to_owned(), format!("child {i}")]
        } else {
            vec!["exit".to_owned(), (i % 100).to_string()]
        };
        let request = json!({"op": "spawn", "id": format!("c{i}"), "cmd": FIXTURE, "args": args});
        batch.push_str(&request.to_string());
        batch.push('\n');
    }
    sc.send_raw(batch.as_bytes()).await;
    let mut exits = HashMap::new();
    while exits.len() < N {
        let e = sc
            .wait_for("exits", |e| e["event"] == "exit" || e["event"] == "error")
            .await;
        assert_eq!(e["event"], "exit", "{e}");
        exits.insert(e["id"].as_str().unwrap().to_owned(), e);
    }
    let elapsed = start.elapsed();
    eprintln!("{N} children spawned and reported in {elapsed:?}");
    for i in 0..N {
        let id = format!("c{i}");
        let exit = &exits[&id];
        assert_eq!(exit["reason"], "exited", "{exit}");
        if i % 2 == 0 {
            assert_eq!(exit["code"], 0);
            assert_eq!(
                sc.output_of(&id, "stdout"),
                format!("child {i}\n").as_bytes()
            );
        } else {
            assert_eq!(exit["code"], (i % 100) as u64);
            assert!(sc.output_of(&id, "stdout").is_empty());
        }
        assert_child_order(&sc.events_of(&id));
    }
    sc.send(request::list("q")).await;
    let list = sc.wait_event("list", "q").await;
    assert_eq!(
        list["children"],
        json!([]),
        "every exit written means every id forgotten"
    );
    sc.finish().await;
    assert_eq!(sc.wait_exit().await, Some(0));
}
