//! Test steps the Unix and Windows test binaries share: the library behaves the same on
//! both, so the same step checks it there (each binary builds the fixture command with
//! its own prelude).

use std::path::Path;

use kennel::{Child, Command, Controller};
use tokio::task::JoinHandle;

/// The 200 000 bytes of a repeating pattern the stdin round trips write.
pub fn stdin_payload() -> Vec<u8> {
    (0..200_000u32).map(|i| (i % 251) as u8).collect()
}

/// Writes `data` to `child`'s stdin and closes it, on a task of its own (the child's
/// output must be read meanwhile); the task returns the controller it wrote with.
pub fn write_then_close(child: &Child, data: Vec<u8>) -> JoinHandle<Controller> {
    let writer = child.controller();
    tokio::spawn(async move {
        writer.write_stdin(&data).await.unwrap();
        writer.close_stdin().await.unwrap();
        writer
    })
}

/// Runs `env` (a fixture `env KENNEL_A KENNEL_B …` command) with `KENNEL_A` set,
/// `KENNEL_B` set then removed and `dir` as the working directory; checks what the
/// child saw.
pub async fn env_set_remove_and_cwd(env: Command, dir: &Path) {
    let out = env
        .env("KENNEL_A", "one")
        .env("KENNEL_B", "two")
        .env_remove("KENNEL_B")
        .current_dir(dir)
        .output()
        .await
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("KENNEL_A=one\n"), "{text}");
    assert!(text.contains("KENNEL_B unset\n"), "{text}");
    let cwd = text.lines().find_map(|l| l.strip_prefix("cwd=")).unwrap();
    assert_eq!(
        std::fs::canonicalize(cwd).unwrap(),
        std::fs::canonicalize(dir).unwrap()
    );
}
