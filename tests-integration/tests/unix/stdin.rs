//! stdin: echo, a child that never reads, cancel mid-write.

use crate::prelude::*;
use kennel_tests::checks;

#[tokio::test]
async fn echo_round_trip_and_close() {
    let child = fixture(&["echo-stdin"])
        .stdin(StdinMode::Piped)
        .spawn()
        .unwrap();
    let (data, write) = checks::write_then_close(&child);
    let out = child.output().await;
    let writer = write.await.unwrap();
    let again = writer.close_stdin().await.unwrap_err();
    assert_eq!(again.kind, kennel::StdinErrorKind::Closed);
    assert_eq!(out.stdout, data);
    assert!(out.outcome.success());
}

#[tokio::test]
async fn cancel_while_a_write_is_blocked_on_a_child_that_never_reads() {
    let (mut child, mut seen, pids, _cleanup) =
        spawn_ready(fixture(&["never-read-stdin"]).stdin(StdinMode::Piped), 1).await;
    let writer = child.controller();
    let write = tokio::spawn(async move { writer.write_stdin(&vec![b'x'; 8 << 20]).await });
    // 8 MiB can never fit in a pipe the child does not read: the write blocks (or has
    // not started yet); either way cancelling must release it with a typed error.
    tokio::task::yield_now().await;
    assert!(!write.is_finished(), "8 MiB cannot fit in a pipe");
    child.cancel();
    let outcome = read_to_end(&mut child, &mut seen).await;
    let err = tokio::time::timeout(PATIENCE, write)
        .await
        .expect("the write returns, no deadlock")
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(
            err.kind,
            kennel::StdinErrorKind::BrokenPipe | kennel::StdinErrorKind::Finished
        ),
        "{err:?}"
    );
    assert!(err.written < err.len, "{err}");
    assert_eq!(err.pid, outcome.pid);
    assert_eq!(outcome.reason, EndReason::Cancelled);
    assert_all_gone(&pids);
}

#[tokio::test]
async fn writing_to_a_child_without_piped_stdin_is_a_typed_error() {
    let mut child = fixture(&["exit", "0"]).spawn().unwrap();
    let err = child.write_stdin(b"hello").await.unwrap_err();
    assert_eq!(err.kind, kennel::StdinErrorKind::NotPiped);
    assert!(err.to_string().contains("stdin is not piped"), "{err}");
    child.wait().await;
}
