//! Ordinary runs: stdin, environment, working directory, stdout/stderr separation.

use crate::prelude::*;
use kennel_tests::checks;

#[tokio::test]
async fn stdin_round_trips_through_the_pipes() {
    let mut child = fixture(&["echo-stdin"])
        .stdin(StdinMode::Piped)
        .spawn()
        .unwrap();
    let (data, write) = checks::write_then_close(&child);
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
    let output =
        checks::out_and_err_stay_apart(fixture(&["print", "out", "--stderr", "err"])).await;
    assert!(output.outcome.success());
}

#[tokio::test]
async fn wait_is_fused() {
    let mut child = fixture(&["exit", "3"]).spawn().unwrap();
    checks::exits_with_and_wait_is_fused(&mut child, 3).await;
}
