//! Per-child flow control (`spawn.window`, `credit`) and answered requests (`req`,
//! `ack`): a child whose output nobody credits stops alone; every other child, every
//! reply and every acknowledgement keep flowing.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::prelude::*;

const WINDOW: u64 = 64 * 1024;
/// What a child's output can still hold once its tree has ended, past its window: the
/// library's event channel, a chunk in its reader and one in the forwarder, and a pipe
/// grown to the unprivileged maximum (`/proc/sys/fs/pipe-max-size`, 1 MiB).
const AFTER_THE_TREE_ENDED: u64 =
    ((kennel::EVENT_CAPACITY + 2) * kennel::CHUNK_SIZE) as u64 + (1 << 20);
/// Rounds of one more window for each of the 50 floods.
const ROUNDS: usize = 2;

fn out_len(sc: &Sidecar, id: &str, stream: &str) -> u64 {
    sc.output_of(id, stream).len() as u64
}

/// Reads events until `id` has delivered `n` bytes of `stream`, checking on every
/// event that it never delivers more than `allowed`.
async fn read_until_delivered(sc: &mut Sidecar, id: &str, stream: &str, n: u64, allowed: u64) {
    loop {
        let got = out_len(sc, id, stream);
        assert!(
            got <= allowed,
            "{id} sent {got} bytes of {stream}; the window allows {allowed}"
        );
        if got >= n {
            return;
        }
        let e = sc.next().await.expect("an event");
        assert!(
            !(e["event"] == "exit" && e["id"] == id),
            "{id} exited early: {e}"
        );
    }
}

/// Sends a request tagged `req` and waits for its `ack` (or fails on an `error`);
/// returns the time from sending to the answer.
async fn acked(sc: &mut Sidecar, mut request: Value, req: &str) -> Duration {
    request["req"] = json!(req);
    let start = Instant::now();
    sc.send(request).await;
    let answer = sc
        .wait_for(&format!("the answer to {req}"), |e| e["req"] == req)
        .await;
    let took = start.elapsed();
    assert_eq!(answer["event"], "ack", "answer to {req}: {answer}");
    took
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Runs `n` small children, `batch` at a time, each spawn → exit timed; returns the
/// sorted latencies.
async fn small_runs(sc: &mut Sidecar, tag: &str, n: usize, batch: usize) -> Vec<Duration> {
    let mut latencies = Vec::with_capacity(n);
    for b in 0..n.div_ceil(batch) {
        let mut started = Vec::new();
        for i in 0..batch.min(n - b * batch) {
            let id = format!("{tag}-{b}-{i}");
            sc.send(spawn_request(
                &id,
                &["print", "hi"],
                json!({"window": WINDOW}),
            ))
            .await;
            started.push((id, Instant::now()));
        }
        for (id, start) in started {
            let exit = sc.seen_event("exit", &id).await;
            latencies.push(start.elapsed());
            assert_eq!(exit["code"], 0, "{exit}");
            assert_eq!(sc.output_of(&id, "stdout"), b"hi\n");
        }
    }
    // Forget the small children's events so the log stays small.
    sc.log
        .retain(|e| !e["id"].as_str().is_some_and(|id| id.starts_with(tag)));
    latencies.sort();
    latencies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uncredited_flood_stops_alone() {
    let mut sc = Sidecar::start().await;
    assert!(
        sc.hello["features"]
            .as_array()
            .is_some_and(|f| f.contains(&json!("flow_control")) && f.contains(&json!("req"))),
        "{}",
        sc.hello
    );
    let baseline = small_runs(&mut sc, "base", 200, 20).await;

    let gib = (1u64 << 30).to_string();
    let flood = sc
        .spawn(
            "flood",
            &["flood", "--bytes", &gib],
            json!({"window": WINDOW}),
        )
        .await;
    let pid = flood["pid"].as_u64().expect("pid") as u32;
    read_until_delivered(&mut sc, "flood", "stdout", WINDOW, WINDOW).await;

    let loaded = small_runs(&mut sc, "load", 200, 20).await;
    // The flood never got past its window, and it is blocked in write(2), not gone.
    assert_eq!(out_len(&sc, "flood", "stdout"), WINDOW);
    assert!(is_alive(pid));
    // Requests on the blocked child are answered at once.
    let mut took = Vec::new();
    for i in 0..5 {
        took.push(
            acked(
                &mut sc,
                json!({"op": "signal", "id": "flood", "signal": "CONT"}),
                &format!("s{i}"),
            )
            .await,
        );
    }
    took.push(acked(&mut sc, json!({"op": "cancel", "id": "flood", "ladder": [{"signal": "STOP", "wait_ms": 600000}]}), "c").await);
    took.push(acked(&mut sc, request::kill("flood"), "k").await);
    eprintln!("signal×5, cancel, kill of the blocked flood answered in {took:?}");
    for t in &took {
        assert!(*t < Duration::from_secs(1), "answered in {t:?}");
    }
    // The tree is gone at once even though its output is still held back …
    wait_all_gone(&[pid], PATIENCE).expect("the killed flood is gone");
    // … and with the tree gone, the rest of its output — what its pipe and the queues
    // held, a bounded amount — comes without any credit, an exact prefix of the
    // pattern, and then `exit`: a client that never reads a killed child still gets
    // its exit (what a Node `stop()` of an unread dev server waits for).
    let exit = sc.seen_event("exit", "flood").await;
    // The kill escalated the cancel's ladder: the first reason stays.
    assert_eq!(exit["reason"], "cancelled");
    assert_eq!(exit["forced"], true);
    let got = out_len(&sc, "flood", "stdout");
    assert_eq!(exit["stdout"]["bytes"], got);
    assert!(
        got <= WINDOW + AFTER_THE_TREE_ENDED,
        "{got} bytes sent for a window of {WINDOW}: more than the pipe and the queues can hold"
    );
    eprintln!(
        "after the kill, {} bytes past the window came without credit",
        got - WINDOW
    );
    verify_text_prefix(&sc.output_of("flood", "stdout")).expect("exact prefix");
    // The baseline again, now the flood is gone: the machine is shared, so the flood
    // phase is compared with the slower of the two baselines around it.
    let after = small_runs(&mut sc, "after", 200, 20).await;
    let base = |p: f64| percentile(&baseline, p).max(percentile(&after, p));
    let show = |l: &[Duration]| {
        format!(
            "p50 {:?} p90 {:?} max {:?}",
            percentile(l, 0.5),
            percentile(l, 0.9),
            l[l.len() - 1]
        )
    };
    eprintln!(
        "small run spawn→exit, batches of 20: 200 before the flood {}; 200 beside an uncredited flood {}; 200 after it {}",
        show(&baseline),
        show(&loaded),
        show(&after)
    );
    assert!(percentile(&loaded, 0.5) <= base(0.5) * 2, "median");
    assert!(percentile(&loaded, 0.9) <= base(0.9) * 2, "p90");
    sc.finish().await;
}

/// A reader that credits late and slowly gets every byte in order, in both framings,
/// on both streams, and the window holds at every event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_reader_gets_every_byte_in_order() {
    let mut sc = Sidecar::start().await;
    let total: u64 = 3 * 1024 * 1024 + 12345;
    for framing in ["json", "binary"] {
        let id = format!("late-{framing}");
        sc.spawn(
            &id,
            &[
                "binary",
                "--bytes",
                &total.to_string(),
                "--chunk",
                "10000",
                "--stderr",
            ],
            json!({"window": WINDOW, "framing": framing}),
        )
        .await;
        let mut credited = [WINDOW, WINDOW];
        let streams = ["stdout", "stderr"];
        assert!(
            total > WINDOW + AFTER_THE_TREE_ENDED,
            "the window must be exercised"
        );
        loop {
            let e = sc.next().await.expect("an event");
            for (i, s) in streams.iter().enumerate() {
                let got = out_len(&sc, &id, s);
                // While more is left than the pipe and the queues can hold, the child
                // is still writing and the window holds exactly; once its tree has
                // ended, the rest (bounded) may come without credit.
                let allowed = if total - got > AFTER_THE_TREE_ENDED {
                    credited[i]
                } else {
                    credited[i] + AFTER_THE_TREE_ENDED
                };
                assert!(
                    got <= allowed,
                    "{id} {s}: {got} bytes past a window of {credited:?}"
                );
                // Credit in uneven steps, only once the window is used up.
                if got == credited[i] {
                    let step = WINDOW / 2 + 777;
                    sc.send(json!({"op": "credit", "id": id, "stream": s, "bytes": step}))
                        .await;
                    credited[i] += step;
                }
            }
            if e["event"] == "exit" && e["id"] == id.as_str() {
                assert_eq!(e["code"], 0, "{e}");
                break;
            }
        }
        for s in streams {
            let got = sc.output_of(&id, s);
            assert_eq!(got.len() as u64, total, "{id} {s}");
            verify_binary_prefix(&got).expect("every byte, in order");
        }
        sc.log.clear();
    }
    sc.finish().await;
}

/// 50 uncredited floods at once: the sidecar's memory is bounded by what each child
/// holds in the library (its event channel plus one chunk), whatever the floods'
/// size; closing stdin lifts every window and the shutdown completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_uncredited_floods_stay_bounded() {
    let mut sc = Sidecar::start().await;
    // The sidecar's memory does not depend on the window (a window's bytes leave it).
    let window = 1024 * 1024;
    let before = rss_kib(sc.pid).expect("VmRSS");
    let gib = (1u64 << 30).to_string();
    for i in 0..50 {
        sc.send(spawn_request(
            &format!("f{i}"),
            &["flood", "--bytes", &gib],
            json!({"window": window}),
        ))
        .await;
    }
    for i in 0..50 {
        let id = format!("f{i}");
        read_until_delivered(&mut sc, &id, "stdout", window, window).await;
        sc.log
            .retain(|e| e["id"] != id.as_str() || e["event"] != "stdout");
    }
    let blocked = rss_kib(sc.pid).expect("VmRSS");
    // Another window each: the sidecar's memory does not grow with the bytes that
    // went through it.
    let mut rounds = Vec::new();
    for _ in 0..ROUNDS {
        for i in 0..50 {
            let credit =
                json!({"op": "credit", "id": format!("f{i}"), "stream": "stdout", "bytes": window});
            sc.send(credit).await;
        }
        for i in 0..50 {
            let id = format!("f{i}");
            read_until_delivered(&mut sc, &id, "stdout", window, window).await;
            sc.log
                .retain(|e| e["id"] != id.as_str() || e["event"] != "stdout");
        }
        rounds.push(rss_kib(sc.pid).expect("VmRSS"));
    }
    // Every flood is blocked: nothing more than its window arrives while a `list`
    // answer makes the round trip, and the sidecar's RSS is what the queues hold.
    sc.send(request::list("q")).await;
    let list = sc.wait_event("list", "q").await;
    assert_eq!(list["children"].as_array().map(Vec::len), Some(50));
    let during = rss_kib(sc.pid).expect("VmRSS");
    // Per blocked child: EVENT_CAPACITY chunks in the library's channel plus the one
    // the forwarder holds, each a CHUNK_SIZE allocation.
    let per_child = ((kennel::EVENT_CAPACITY + 1) * kennel::CHUNK_SIZE) as u64 / 1024;
    let held = 50 * per_child;
    eprintln!(
        "sidecar RSS: {before} KiB idle, {blocked} KiB with 50 uncredited floods, \
         {rounds:?} KiB after each round of one more window each, {during} KiB at the end; \
         the queues hold {held} KiB"
    );
    // The rest is the allocator's: per-thread arenas keep what the windows' JSON lines
    // used (measured 1.8–2.3× `held` in all); it does not grow round after round.
    let bound = before + 3 * held;
    assert!(
        during <= bound,
        "RSS {during} KiB over the bound {bound} KiB"
    );
    // EOF: no credit can come, the windows lift, every flood is stopped and reported.
    sc.close_stdin();
    let rest = sc.read_to_eof().await;
    let exits = rest.iter().filter(|e| e["event"] == "exit").count();
    assert_eq!(exits, 50);
    assert_eq!(rest.last().map(|e| e["event"].clone()), Some(json!("bye")));
}

/// Every request on a child is answered by an event naming it: success by `ack`
/// (`written` for `write`), failure by `error` carrying the same `req`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tagged_request_is_answered() {
    let mut sc = Sidecar::start().await;
    // A child that never reads stdin and does not end at EOF: nothing races the answers.
    sc.spawn(
        "e",
        &["never-read-stdin"],
        json!({"stdin": "pipe", "window": WINDOW}),
    )
    .await;
    sc.send(json!({"op": "write", "id": "e", "data": "hi\n", "req": "w1"}))
        .await;
    let w = sc.wait_for("written w1", |e| e["req"] == "w1").await;
    assert_eq!(w["event"], "written");
    assert_eq!(w["bytes"], 3);
    acked(
        &mut sc,
        json!({"op": "signal", "id": "e", "signal": "CONT"}),
        "s1",
    )
    .await;
    acked(&mut sc, request::close_stdin("e"), "cl1").await;
    // Closing again is still answered.
    acked(&mut sc, request::close_stdin("e"), "cl2").await;
    sc.send(json!({"op": "write", "id": "e", "data": "late", "req": "w2"}))
        .await;
    let e = sc.wait_for("error w2", |e| e["req"] == "w2").await;
    assert_eq!(
        (e["event"].as_str(), e["code"].as_str()),
        (Some("error"), Some("stdin_closed")),
        "{e}"
    );
    acked(&mut sc, request::kill("e"), "k1").await;
    let exit = sc.wait_event("exit", "e").await;
    assert_eq!(exit["reason"], "killed");
    for (op, extra) in [
        ("kill", json!({})),
        ("cancel", json!({})),
        ("signal", json!({"signal": "TERM"})),
        ("close_stdin", json!({})),
    ] {
        let mut r = json!({"op": op, "id": "gone", "req": format!("x-{op}")});
        r.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        sc.send(r).await;
        let e = sc
            .wait_for(op, |e| e["req"] == format!("x-{op}").as_str())
            .await;
        assert_eq!(e["code"], "unknown_id", "{e}");
        assert_eq!(e["op"], op, "{e}");
    }
    // Parser errors carry the tag too.
    sc.send(json!({"op": "signal", "id": "gone", "signal": "NOPE", "req": "bad"}))
        .await;
    let e = sc.wait_for("error bad", |e| e["req"] == "bad").await;
    assert_eq!(e["code"], "invalid_field");
    // Credit: silent for an unknown id, an error for a child without flow control.
    sc.send(json!({"op": "credit", "id": "gone", "stream": "stdout", "bytes": 1}))
        .await;
    sc.spawn("plain", &["sleep", "600000"], json!({})).await;
    sc.send(json!({"op": "credit", "id": "plain", "stream": "stdout", "bytes": 1}))
        .await;
    let e = sc.wait_error().await;
    assert_eq!(
        (e["id"].as_str(), e["op"].as_str()),
        (Some("plain"), Some("credit"))
    );
    // A cancel with its own ladder: the spawn's ladder would wait 10 minutes.
    sc.spawn(
        "trap",
        &["ignore-signals"],
        json!({"ladder": [{"signal": "TERM", "wait_ms": 600000}]}),
    )
    .await;
    sc.wait_pids("trap", 1).await;
    acked(
        &mut sc,
        json!({"op": "cancel", "id": "trap", "ladder": [{"signal": "TERM", "wait_ms": 50}]}),
        "c",
    )
    .await;
    let exit = sc.wait_event("exit", "trap").await;
    assert_eq!(exit["reason"], "cancelled");
    assert_eq!(exit["forced"], true, "{exit}");
    sc.end("kill", "plain").await;
    sc.finish().await;
}
