//! Property: random and mutated request lines fed to a live sidecar. Every line is
//! answered in order — an `error` with the code `parse_request` predicts when the line
//! is invalid — every event is a well-formed protocol event (the harness checks each
//! one), the sidecar never dies, and a bystander child keeps echoing throughout.
//!
//! Each line is followed by a `list` probe with a fresh id; the probe's reply marks the
//! end of the answers to that line. The seed is printed, and `KENNEL_PROP_SEED` replays
//! a run.

use kennel_protocol::{parse_request, ErrorCode};

use crate::prelude::*;

const LINES: usize = 400;

fn templates() -> Vec<String> {
    vec![
        spawn_request("t1", &["exit", "0"], json!({})).to_string(),
        spawn_request(
            "t2",
            &["print", "hi"],
            json!({"timeout_ms": 5000, "env": {"A": "1"}, "stdout_cap": {"bytes": 3}}),
        )
        .to_string(),
        request::write("t2", "x\n").to_string(),
        json!({"op": "write", "id": "t1", "data_b64": "AAEC/w=="}).to_string(),
        json!({"op": "signal", "id": "t1", "signal": "SIGUSR1"}).to_string(),
        request::cancel("zz").to_string(),
        request::close_stdin("t2").to_string(),
        request::list("l").to_string(),
        r#"{"op":"spawn","id":"t3","cmd":"x","ladder":[{"signal":"INT","wait_ms":1}],"grace_ms":1}"#
            .to_string(),
    ]
}

fn random_line(rng: &mut fastrand::Rng, templates: &[String]) -> Vec<u8> {
    match rng.u8(0..4) {
        // Raw random bytes (no newline: that would split the line).
        0 => (0..rng.usize(0..200))
            .map(|_| rng.u8(..))
            .map(|b| if b == b'\n' { b' ' } else { b })
            .collect(),
        // Random JSON-ish tokens.
        1 => {
            let tokens = [
                "{",
                "}",
                "[",
                "]",
                ",",
                ":",
                "\"op\"",
                "\"id\"",
                "\"spawn\"",
                "null",
                "1.5",
                "-1",
                "true",
                "\"\\u0000\"",
                "\"a\"",
                "9007199254740993",
                "\"cmd\"",
            ];
            (0..rng.usize(1..30))
                .map(|_| tokens[rng.usize(0..tokens.len())])
                .collect::<String>()
                .into_bytes()
        }
        // A template with a few bytes flipped, inserted or deleted.
        _ => {
            let mut line = templates[rng.usize(0..templates.len())]
                .clone()
                .into_bytes();
            for _ in 0..rng.usize(1..4) {
                let at = rng.usize(0..=line.len());
                match rng.u8(0..3) {
                    0 if at < line.len() => line[at] = rng.u8(..),
                    1 => line.insert(at, rng.u8(..)),
                    _ if at < line.len() => {
                        line.remove(at);
                    }
                    _ => {}
                }
            }
            line.retain(|&b| b != b'\n');
            line
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_and_mutated_lines_are_answered_and_disturb_nobody() {
    let seed = std::env::var("KENNEL_PROP_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    println!("KENNEL_PROP_SEED={seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    // No template names the bystander: a valid mutated `write` to it would change
    // what it echoes.
    let templates = templates();
    let mut sc = Sidecar::start().await;
    let mut by = Bystander::start(&mut sc, "by").await;
    let mut errors_seen = 0;
    for n in 0..LINES {
        let line = random_line(&mut rng, &templates);
        let mut bytes = line.clone();
        bytes.push(b'\n');
        sc.send_raw(&bytes).await;
        let probe = format!("probe-{n}");
        sc.send(request::list(&probe)).await;
        let start = sc.log.len();
        sc.wait_event("list", &probe).await;
        let answers: Vec<Value> = sc.log[start..].to_vec();
        let empty = line.iter().all(|b| b.is_ascii_whitespace());
        if let (Err(expected), false) = (parse_request(&line), empty) {
            // The parser's verdict must come back, before the probe's reply.
            let code = serde_json::to_value(expected.code).unwrap();
            let found = answers
                .iter()
                .any(|e| e["event"] == "error" && e["code"] == code);
            assert!(
                found || expected.code == ErrorCode::LineTooLong,
                "seed {seed} line {n} {:?}: expected error {code}, got {answers:?}",
                String::from_utf8_lossy(&line)
            );
            errors_seen += 1;
        }
        if n % 50 == 0 {
            by.ping(&mut sc).await;
        }
    }
    assert!(
        errors_seen > LINES / 2,
        "mostly invalid lines: {errors_seen}"
    );
    by.ping(&mut sc).await;
    // Kill whatever the valid mutated spawns started, then finish cleanly.
    by.finish(&mut sc).await;
    sc.close_stdin();
    let rest = sc.read_to_eof().await;
    assert_eq!(rest.last().map(|e| e["event"].clone()), Some(json!("bye")));
    assert_eq!(sc.wait_exit().await, Some(0));
}
