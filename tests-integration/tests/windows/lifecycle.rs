//! Ordinary runs: stdin, environment, working directory, stdout/stderr separation.

use crate::prelude::*;
use kennel_tests::checks;

#[tokio::test]
async fn stdin_round_trips_through_the_pipes() {
    let mut child = fixture(&["echo-stdin"])
        .stdin(StdinMode::Piped)
        .spawn()
        .unwrap();
    let data = checks::stdin_payload();
    let write = checks::write_then_close(&child, data.clone());
    let mut seen = Seen::default();
    let outcome = read_to_end(&mut child, &mut seen).await;
    write.await.unwrap();
    assert!(outcome.success(), "{outcome:?}");
    assert_eq!(seen.stdout, data);
}

#[tokio::test]
async fn environment_and_working_directory_reach_the_child() {
    checks::env_set_remove_and_cwd(
        fixture(&["env", "KENNEL_A", "KENNEL_B"]),
        &std::env::temp_dir(),
    )
    .await;
}

#[tokio::test]
async fn stdout_and_stderr_stay_apart() {
    let output = fixture(&["print", "out", "--stderr", "err"])
        .output()
        .await
        .unwrap();
    assert_eq!(output.stdout, b"out\n");
    assert_eq!(output.stderr, b"err\n");
    assert!(output.outcome.success());
}

#[tokio::test]
async fn wait_is_fused() {
    let mut child = fixture(&["exit", "3"]).spawn().unwrap();
    let first = child.wait().await;
    let second = child.wait().await;
    assert_eq!(first, second);
    assert_eq!(first.status.code, Some(3));
}
