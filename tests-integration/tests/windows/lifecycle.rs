//! Ordinary runs: stdin, environment, working directory, stdout/stderr separation.

use crate::prelude::*;

#[tokio::test]
async fn stdin_round_trips_through_the_pipes() {
    let mut child = fixture(&["echo-stdin"])
        .stdin(StdinMode::Piped)
        .spawn()
        .unwrap();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let writer = child.controller();
    let payload = data.clone();
    let write = tokio::spawn(async move {
        writer.write_stdin(&payload).await.unwrap();
        writer.close_stdin().await.unwrap();
    });
    let mut seen = Seen::default();
    let outcome = read_to_end(&mut child, &mut seen).await;
    write.await.unwrap();
    assert!(outcome.success(), "{outcome:?}");
    assert_eq!(seen.stdout, data);
}

#[tokio::test]
async fn environment_and_working_directory_reach_the_child() {
    let dir = std::env::temp_dir();
    let output = fixture(&["env", "KENNEL_A", "KENNEL_B"])
        .env("KENNEL_A", "one")
        .env("KENNEL_B", "two")
        .env_remove("KENNEL_B")
        .current_dir(&dir)
        .output()
        .await
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("KENNEL_A=one\n"), "{text}");
    assert!(text.contains("KENNEL_B unset\n"), "{text}");
    let cwd_line = text.lines().find_map(|l| l.strip_prefix("cwd=")).unwrap();
    assert_eq!(
        std::fs::canonicalize(cwd_line).unwrap(),
        std::fs::canonicalize(&dir).unwrap()
    );
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
