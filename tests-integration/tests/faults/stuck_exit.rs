//! A sidecar whose client is gone exits even when a child's `exit` never comes. The
//! shutdown waits for every child's `exit` to be written; once the client is gone,
//! nothing can be delivered, and a child whose `exit` is held back (a request left
//! unanswered did that once: `unix/signal_race.rs`) must not keep the sidecar alive:
//! past the children's ladders and `SIGNAL_LINGER`, it ends every tree and exits (1:
//! events were lost). The debug seam `KENNEL_TEST_STUCK_EXIT` holds every `exit` back.

use crate::prelude::*;

/// The children's grace; the sidecar must be gone well within it plus
/// `SIGNAL_LINGER` (500 ms) — the bound here is [`PATIENCE`], the check is that it ends.
const GRACE_MS: u64 = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_whose_exit_never_comes_does_not_keep_the_sidecar_when_the_client_is_gone() {
    for (what, pipes_first) in [("stdout", false), ("stdin and stdout", true)] {
        let mut sc = Sidecar::start_with_env(&[("KENNEL_TEST_STUCK_EXIT", "1")]).await;
        // One that has ended (its `exit` held back), one still running.
        sc.spawn("done", &["exit", "0"], json!({"grace_ms": GRACE_MS}))
            .await;
        sc.spawn(
            "running",
            &["sleep", "600000"],
            json!({"grace_ms": GRACE_MS}),
        )
        .await;
        let running = sc.wait_pids("running", 1).await;
        let done_pid = sc.events_of("done")[0]["pid"].as_u64().expect("pid") as u32;
        let ended = kennel_tests::wait_until(PATIENCE, || !kennel_tests::is_alive(done_pid));
        assert!(ended, "{what}: the child `done` never ended");
        if pipes_first {
            sc.close_stdin();
        }
        sc.drop_stdout();
        let code = sc.wait_exit().await;
        assert_eq!(
            code,
            Some(1),
            "{what}: events were lost, and the code says so"
        );
        assert_gone(&running);
    }
}
