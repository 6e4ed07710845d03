//! One child cannot reach another's data or the protocol: children inherit none of
//! the sidecar's descriptors (not its request/event pipes, not other children's pipes,
//! not keeper sockets) — only their own stdio — and what a child prints is data, never
//! a request: a child printing `kill` requests for its neighbour leaves it running.

use crate::*;

fn fd_targets(pid: u32) -> Vec<(u32, String)> {
    kennel_tests::fds_of(pid)
        .into_iter()
        .map(|(fd, target)| (fd as u32, target))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_hold_only_their_own_stdio_and_their_output_is_data() {
    let mut sc = Sidecar::start().await;
    let mut victim = Bystander::start(&mut sc, "victim").await;
    sc.spawn("other", &["never-read-stdin"], json!({"stdin": "pipe"}))
        .await;
    let other = sc.wait_pids("other", 1).await[0];
    let victim_pid = sc.events_of("victim")[0]["pid"].as_u64().unwrap() as u32;
    // Fds this test process itself inherited without CLOEXEC (from whatever started
    // `cargo test`) pass through every exec below it; kennel opens nothing of its own.
    let inherited = fd_targets(std::process::id());
    for pid in [victim_pid, other] {
        let fds = fd_targets(pid);
        let extra: Vec<&(u32, String)> = fds
            .iter()
            .filter(|f| f.0 > 2 && !inherited.contains(f))
            .collect();
        assert!(
            extra.is_empty(),
            "child {pid} holds more than stdio: {extra:?}"
        );
        let theirs: Vec<&String> = fds.iter().map(|(_, t)| t).collect();
        let victims: Vec<String> = fd_targets(victim_pid)
            .into_iter()
            .filter(|f| !inherited.contains(f))
            .map(|(_, t)| t)
            .collect();
        if pid != victim_pid {
            for t in &theirs {
                assert!(
                    !t.starts_with("pipe:") || !victims.contains(t),
                    "child {pid} shares pipe {t} with the victim"
                );
            }
        }
        // The sidecar's stdin/stdout (the protocol) are not among them.
        for proto in fd_targets(sc.pid).into_iter().filter(|(fd, _)| *fd <= 1) {
            assert!(
                !theirs.contains(&&proto.1),
                "child {pid} holds the protocol pipe"
            );
        }
    }
    // A child printing requests: they come back as its stdout data.
    let evil = r#"{"op":"kill","id":"victim"}"#;
    sc.spawn("evil", &["print", evil], json!({})).await;
    sc.wait_event("exit", "evil").await;
    assert_eq!(
        sc.output_of("evil", "stdout"),
        format!("{evil}\n").as_bytes()
    );
    victim.ping(&mut sc).await;
    sc.end("kill", "other").await;
    victim.finish(&mut sc).await;
    sc.finish().await;
}
