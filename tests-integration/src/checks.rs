//! Test steps the Unix and Windows test binaries share: the library behaves the same on
//! both, so the same step checks it there (each binary builds the fixture command with
//! its own prelude).

use std::path::Path;

use kennel::{Child, Command, Controller, Outcome, Output};
use tokio::task::JoinHandle;

/// Writes 200 000 bytes of a repeating pattern to `child`'s stdin and closes it, on a
/// task of its own (the child's output must be read meanwhile). Returns the bytes and
/// the task, which returns the controller it wrote with.
pub fn write_then_close(child: &Child) -> (Vec<u8>, JoinHandle<Controller>) {
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let writer = child.controller();
    let payload = data.clone();
    let task = tokio::spawn(async move {
        writer.write_stdin(&payload).await.unwrap();
        writer.close_stdin().await.unwrap();
        writer
    });
    (data, task)
}

/// Runs `command` to the end; returns its stdout as text.
pub async fn stdout_text(command: Command) -> String {
    String::from_utf8(command.output().await.unwrap().stdout).unwrap()
}

/// Waits for `child` (a fixture `exit code`) twice: the same outcome both times, with
/// `code`. Returns it.
pub async fn exits_with_and_wait_is_fused(child: &mut Child, code: i32) -> Outcome {
    let first = child.wait().await;
    let second = child.wait().await;
    assert_eq!(first, second);
    assert_eq!(first.status.code, Some(code));
    first
}

/// Runs `env` (a fixture `env KENNEL_A KENNEL_B …` command) with `KENNEL_A` set,
/// `KENNEL_B` set then removed and `dir` as the working directory; checks what the
/// child saw.
pub async fn env_set_remove_and_cwd(env: Command, dir: &Path) {
    let env = env
        .env("KENNEL_A", "one")
        .env("KENNEL_B", "two")
        .env_remove("KENNEL_B")
        .current_dir(dir);
    let text = stdout_text(env).await;
    assert!(text.contains("KENNEL_A=one\n"), "{text}");
    assert!(text.contains("KENNEL_B unset\n"), "{text}");
    let cwd = text.lines().find_map(|l| l.strip_prefix("cwd=")).unwrap();
    assert_eq!(
        std::fs::canonicalize(cwd).unwrap(),
        std::fs::canonicalize(dir).unwrap()
    );
}

/// Drops `child` (its tree up) and waits until `gone` (a poll with a deadline) says the
/// tree ended — off the runtime's threads, since the supervisor task must run to kill
/// it. Panics with what `gone` found left; else returns what it returned.
pub async fn dropping_the_handle_ends_the_tree<T, E>(
    child: Child,
    gone: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> T
where
    T: Send + 'static,
    E: std::fmt::Debug + Send + 'static,
{
    drop(child);
    match tokio::task::spawn_blocking(gone).await.unwrap() {
        Ok(kept) => kept,
        Err(left) => panic!("still running after the handle was dropped: {left:?}"),
    }
}

/// Runs `print` (a fixture `print out --stderr err`): `out` on stdout, `err` on stderr,
/// nothing mixed. Returns the output for more checks.
pub async fn out_and_err_stay_apart(print: Command) -> Output {
    let output = print.output().await.unwrap();
    assert_eq!(output.stdout, b"out\n");
    assert_eq!(output.stderr, b"err\n");
    output
}

/// `first`'s guard (or keeper), the processes `killed`, was just killed: within
/// `patience` `first` stops claiming to die with its supervisor, a tree `spawn`ed now
/// claims it again (a new guard) while `first` never does again, `after_restart` checks
/// what the caller knows of the new guard, and once both trees are killed their
/// outcomes say the same.
#[cfg(target_os = "linux")]
pub async fn a_killed_guard_leaves_a_gap(
    mut first: Child,
    killed: &[u32],
    patience: std::time::Duration,
    spawn: impl FnOnce() -> Child,
    after_restart: impl FnOnce(),
) {
    crate::kill_pids(killed);
    assert!(
        crate::wait_until(patience, || !first.dies_with_supervisor()),
        "the tree still claims the guarantee after its guard was killed"
    );
    let mut second = spawn();
    assert!(second.dies_with_supervisor(), "the new guard covers it");
    assert!(
        !first.dies_with_supervisor(),
        "once false, stays false (the gap happened)"
    );
    after_restart();
    first.kill();
    second.kill();
    let (first, second) = (first.wait().await, second.wait().await);
    assert!(!first.dies_with_supervisor, "{first:?}");
    assert!(second.dies_with_supervisor, "{second:?}");
}
