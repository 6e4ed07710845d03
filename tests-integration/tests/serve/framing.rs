//! Binary data frames (`"framing": "binary"`): offered in `hello`, byte-exact for binary
//! and invalid UTF-8 output, interleaved across many children, every frame of a child
//! before its `exit`, and a child (or client) that does not opt in still gets JSON.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::prelude::*;

fn is_frame(e: &Value) -> bool {
    e["frame"] == true
}

/// Whether each `stdout`/`stderr` output of `id` received so far came as a frame.
fn framed_outputs(sc: &Sidecar, id: &str) -> Vec<bool> {
    sc.events_of(id)
        .iter()
        .filter(|e| e["event"] == "stdout" || e["event"] == "stderr")
        .map(|e| is_frame(e))
        .collect()
}

/// Waits for the `exit` of every child in `ids`, in whatever order they come. An exit
/// may already have been read while a later `spawn` waited for its reply (a short child
/// can end first on a busy machine): those are found in the log.
async fn wait_exits(sc: &mut Sidecar, ids: &[&str]) -> HashMap<String, Value> {
    let mut exits = HashMap::new();
    for &id in ids {
        let e = sc
            .seen_or_wait(&format!("exit of {id}"), |e| {
                e["event"] == "exit" && e["id"] == id
            })
            .await;
        exits.insert(id.to_owned(), e);
    }
    for e in &sc.log {
        assert_ne!(e["event"], "error", "{e}");
        if e["event"] == "exit" {
            assert!(
                ids.contains(&e["id"].as_str().unwrap_or("")),
                "unexpected exit {e}"
            );
        }
    }
    exits
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_offers_binary_frames() {
    let mut sc = Sidecar::start().await;
    assert_eq!(
        sc.hello["framings"],
        json!(["json", "binary"]),
        "{}",
        sc.hello
    );
    assert_eq!(
        sc.hello["max_frame_bytes"],
        kennel_protocol::MAX_FRAME_PAYLOAD as u64
    );
    // An unknown framing is a precise error, and disturbs nothing.
    sc.send(spawn_request(
        "x",
        &["exit", "0"],
        json!({"framing": "cbor"}),
    ))
    .await;
    let e = sc.wait_error().await;
    assert_eq!(e["code"], "invalid_field", "{e}");
    assert!(e["message"].as_str().unwrap().contains("framing"), "{e}");
    sc.finish().await;
    assert_eq!(sc.wait_exit().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_and_invalid_utf8_byte_exact_through_frames() {
    const N: usize = 4 << 20;
    let mut sc = Sidecar::start().await;
    // The binary pattern has NUL, 0xFF, invalid UTF-8 and a `€` split across every
    // 32-byte boundary; 1000-byte writes cut it at odd places too. Both streams.
    let n = N.to_string();
    sc.spawn(
        "b",
        &["binary", "--bytes", &n, "--chunk", "1000", "--stderr"],
        json!({"framing": "binary"}),
    )
    .await;
    // A UTF-8 character split across two writes: frames carry the bytes as read,
    // nothing is held back, and the concatenation is exact.
    sc.spawn(
        "u",
        &["utf8-split", "--delay-ms", "50"],
        json!({"framing": "binary"}),
    )
    .await;
    let exits = wait_exits(&mut sc, &["b", "u"]).await;
    let (exit_b, exit_u) = (&exits["b"], &exits["u"]);
    let expected = kennel_tests::binary_pattern(N);
    for stream in ["stdout", "stderr"] {
        let got = sc.output_of("b", stream);
        assert_eq!(got.len(), N, "{stream} length");
        assert!(got == expected, "{stream} differs from the binary pattern");
        assert_eq!(exit_b[stream]["bytes"], N as u64, "{exit_b}");
    }
    assert_eq!(
        sc.output_of("u", "stdout"),
        "héllo 😀 wörld\n".as_bytes(),
        "split character"
    );
    assert_eq!(exit_u["code"], 0);
    for id in ["b", "u"] {
        assert_child_order(&sc.events_of(id));
        let framed = framed_outputs(&sc, id);
        assert!(!framed.is_empty());
        assert!(
            framed.iter().all(|f| *f),
            "{id}: every output of an opted-in child is a frame"
        );
    }
    sc.finish().await;
    assert_eq!(sc.wait_exit().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_children_interleave_frames_and_json_each_exact_and_before_exit() {
    const N: usize = 24;
    const BYTES: usize = 1 << 20;
    let mut sc = Sidecar::start().await;
    // Every third child keeps the default (JSON events) on the same connection.
    let framed = |i: usize| i % 3 != 0;
    let bytes = BYTES.to_string();
    let mut batch = String::new();
    for i in 0..N {
        let mode = if i % 2 == 0 { "binary" } else { "flood" };
        let mut request = spawn_request(
            &format!("c{i}"),
            &[mode, "--bytes", &bytes, "--chunk", "4096", "--stderr"],
            json!({}),
        );
        if framed(i) {
            request["framing"] = json!("binary");
        }
        batch.push_str(&request.to_string());
        batch.push('\n');
    }
    sc.send_raw(batch.as_bytes()).await;
    let ids: Vec<String> = (0..N).map(|i| format!("c{i}")).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    wait_exits(&mut sc, &ids).await;
    // The children's output really was interleaved on the wire (not one after another).
    let mut switches = 0;
    let mut last: Option<&Value> = None;
    for e in sc.log.iter().filter(|e| e["event"] == "stdout") {
        if last.is_some_and(|l| l["id"] != e["id"]) {
            switches += 1;
        }
        last = Some(e);
    }
    assert!(switches >= N, "only {switches} switches between children");
    let mut patterns = HashMap::new();
    for i in 0..N {
        let id = format!("c{i}");
        let expected = patterns.entry(i % 2).or_insert_with(|| {
            if i % 2 == 0 {
                kennel_tests::binary_pattern(BYTES)
            } else {
                kennel_tests::text_pattern(BYTES)
            }
        });
        for stream in ["stdout", "stderr"] {
            let got = sc.output_of(&id, stream);
            assert!(
                got == *expected,
                "{id} {stream}: {} bytes differ",
                got.len()
            );
        }
        // Every frame (and JSON output event) of the child precedes its exit.
        assert_child_order(&sc.events_of(&id));
        assert!(
            framed_outputs(&sc, &id).iter().all(|f| *f == framed(i)),
            "{id}: framing as requested"
        );
    }
    sc.finish().await;
    assert_eq!(sc.wait_exit().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_opt_in_gets_json_only() {
    let mut sc = Sidecar::start().await;
    sc.spawn("j", &["binary", "--bytes", "300000"], json!({}))
        .await;
    sc.spawn("t", &["utf8-split"], json!({"framing": "json"}))
        .await;
    wait_exits(&mut sc, &["j", "t"]).await;
    sc.finish().await;
    assert!(
        sc.log.iter().all(|e| !is_frame(e)),
        "no frame without opting in"
    );
    assert!(sc.output_of("j", "stdout") == kennel_tests::binary_pattern(300000));
    // JSON keeps its text guarantee: the split character arrives whole, as text.
    assert_eq!(sc.output_of("t", "stdout"), "héllo 😀 wörld\n".as_bytes());
    assert!(sc
        .events_of("t")
        .iter()
        .filter(|e| e["event"] == "stdout")
        .all(|e| e["data"].is_string()));
    assert_eq!(sc.wait_exit().await, Some(0));
}
