//! The output side of a run, with real pipes: the drain, its timeout, what can happen
//! during it (a timeout, a cancel, a signal), output caps, and a slow consumer.

use tokio::io::AsyncWriteExt as _;

use super::fake::*;
use super::*;
use crate::supervisor::run::POST_KILL_EOF_WINDOW;
use crate::supervisor::Event;
use crate::sys::imp::PipeReader;
use crate::OutputCap;

/// The leader exits at 1 s; a member (which obeys SIGTERM) holds stdout until it is
/// told to go.
fn a_member_holds_stdout_past_the_exit() -> (Script, PipeReader) {
    let (tx, rx) = pipe();
    let mut script = exits_after(1.0, 0);
    script.members = vec![11];
    script.obeys = vec![Signal::Term];
    script.holders.push(Box::new(tx));
    (script, rx)
}

#[tokio::test(start_paused = true)]
async fn output_written_before_the_exit_comes_before_the_exit_event() {
    let (mut tx, rx) = pipe();
    tx.write_all(b"hello").await.unwrap();
    let mut script = exits_after(1.0, 0);
    script.holders.push(Box::new(tx));
    let (mut child, _probe) = start(&cmd(), script, Some(rx));
    assert_eq!(
        child.next_event().await,
        Some(Event::Stdout("hello".into()))
    );
    let Some(Event::Exit(outcome)) = child.next_event().await else {
        panic!("the exit event comes last");
    };
    assert_eq!(outcome.stdout.bytes, 5);
    assert_eq!(outcome.drain, Drain::Complete);
    assert_eq!(outcome.wall_time, secs(1.0));
    assert_eq!(child.next_event().await, None);
}

#[tokio::test(start_paused = true)]
async fn the_drain_timeout_gives_up_on_a_pipe_held_past_the_exit() {
    // An escaped holder (here: the test) keeps stdout open after the tree is gone.
    let (held, rx) = pipe();
    let cmd = cmd().drain_timeout(secs(2.0));
    let (mut child, probe) = start(&cmd, exits_after(1.0, 0), Some(rx));
    let outcome = child.wait().await;
    assert_eq!(outcome.drain, Drain::Timeout);
    assert_eq!(outcome.reason, EndReason::Exited);
    assert_eq!(outcome.ladder_step, None, "nothing of the tree was left");
    // The drain timeout, then the short window given to a pipe after a teardown.
    assert_eq!(outcome.wall_time, secs(3.0) + POST_KILL_EOF_WINDOW);
    assert!(probe.log().is_empty());
    drop(held);
}

#[tokio::test(start_paused = true)]
async fn a_timeout_during_the_drain_tears_the_rest_down_and_the_reason_stays_exited() {
    let (script, rx) = a_member_holds_stdout_past_the_exit();
    let cmd = cmd().timeout(secs(2.0)).drain_timeout(secs(10.0));
    let (mut child, probe) = start(&cmd, script, Some(rx));
    let outcome = child.wait().await;
    assert_eq!(outcome.reason, EndReason::Exited);
    assert_eq!(outcome.status.code, Some(0));
    assert_eq!(probe.log(), first_rung(secs(2.0), Signal::Term));
    assert_eq!(outcome.ladder_step, Some(0));
    assert_eq!(outcome.drain, Drain::Complete, "the holder died, EOF came");
    assert_eq!(outcome.wall_time, secs(2.0));
}

#[tokio::test(start_paused = true)]
async fn a_cancel_during_the_drain_ends_the_wait() {
    let (script, rx) = a_member_holds_stdout_past_the_exit();
    let (mut child, probe) = start(&cmd().drain_timeout(secs(10.0)), script, Some(rx));
    sleep(secs(1.5)).await;
    child.cancel();
    let outcome = child.wait().await;
    assert_eq!(outcome.reason, EndReason::Cancelled);
    assert_eq!(
        outcome.status.code,
        Some(0),
        "the leader had exited by itself"
    );
    assert_eq!(probe.log(), first_rung(secs(1.5), Signal::Term));
    assert_eq!(outcome.drain, Drain::Complete);
}

#[tokio::test(start_paused = true)]
async fn an_output_cap_with_the_kill_policy_kills_the_tree() {
    let (mut tx, rx) = pipe();
    tx.write_all(&[b'x'; 100]).await.unwrap();
    let mut script = forever(&[Signal::Term]);
    script.holders.push(Box::new(tx));
    let cmd = cmd().stdout_cap(OutputCap::kill(10));
    let (mut child, probe) = start(&cmd, script, Some(rx));
    let outcome = child.wait().await;
    assert_eq!(outcome.reason, EndReason::OutputCap);
    assert_eq!(probe.log(), vec![(Duration::ZERO, Signal::Kill)]);
    assert!(outcome.forced);
    assert!(outcome.stdout.cap_hit);
    assert_eq!(outcome.stdout.bytes, 10);
    assert_eq!(outcome.stdout.dropped, 90);
}

#[tokio::test(start_paused = true)]
async fn a_truncating_cap_does_not_end_the_run() {
    let (mut tx, rx) = pipe();
    tx.write_all(&[b'x'; 100]).await.unwrap();
    let mut script = exits_after(1.0, 0);
    script.holders.push(Box::new(tx));
    let cmd = cmd().stdout_cap(OutputCap::truncate(10));
    let (mut child, probe) = start(&cmd, script, Some(rx));
    let outcome = child.wait().await;
    assert_eq!(outcome.reason, EndReason::Exited);
    assert!(probe.log().is_empty());
    assert!(outcome.stdout.cap_hit);
    assert_eq!(outcome.wall_time, secs(1.0));
}

#[tokio::test(start_paused = true)]
async fn signals_reach_the_tree_until_it_has_ended() {
    // The run outlives the tree: an escaped holder keeps stdout open for the drain.
    let (held, rx) = pipe();
    let mut script = exits_after(1.0, 0);
    script.unsupported = vec![Signal::Winch];
    let (mut child, probe) = start(&cmd().drain_timeout(secs(5.0)), script, Some(rx));
    let controller = child.controller();
    sleep(secs(0.5)).await;
    controller.signal(Signal::Usr1).await.unwrap();
    let e = controller.signal(Signal::Winch).await.unwrap_err();
    assert_eq!(e.kind, SignalErrorKind::Unsupported);
    sleep(secs(1.5)).await;
    assert!(!controller.is_finished(), "still draining");
    let e = controller.signal(Signal::Usr1).await.unwrap_err();
    assert_eq!(e.kind, SignalErrorKind::Finished, "{e}");
    assert_eq!(e.pid, PID);
    assert_eq!(e.elapsed, secs(2.0));
    assert_eq!(
        probe.log(),
        vec![(secs(0.5), Signal::Usr1), (secs(0.5), Signal::Winch)],
        "nothing is sent to an exited tree"
    );
    let outcome = child.wait().await;
    let e = controller.signal(Signal::Usr1).await.unwrap_err();
    assert_eq!(e.kind, SignalErrorKind::Finished);
    assert_eq!(outcome.drain, Drain::Timeout);
    drop(held);
}

#[tokio::test(start_paused = true)]
async fn a_reader_blocked_on_its_consumer_does_not_time_out_the_drain() {
    // A writer that outlives the leader writes more than the event channel and the pipe
    // hold; the consumer (the test) reads nothing until long after the drain timeout.
    const CHUNKS: usize = 40;
    let (mut tx, rx) = pipe();
    let writer = tokio::spawn(async move {
        for _ in 0..CHUNKS {
            tx.write_all(&[b'y'; crate::CHUNK_SIZE]).await.unwrap();
        }
    });
    let cmd = cmd().drain_timeout(secs(0.5));
    let (child, _probe) = start(&cmd, exits_after(1.0, 0), Some(rx));
    sleep(secs(3.0)).await;
    assert!(
        !child.controller().is_finished(),
        "waiting for its consumer"
    );
    let output = child.output().await;
    writer.await.unwrap();
    assert_eq!(output.outcome.drain, Drain::Complete);
    assert_eq!(output.stdout.len(), CHUNKS * crate::CHUNK_SIZE);
    assert_eq!(
        output.outcome.stdout.bytes,
        (CHUNKS * crate::CHUNK_SIZE) as u64
    );
}

#[tokio::test(start_paused = true)]
async fn a_given_streams_reported_eof_holds_the_drain_like_a_pipe() {
    // The stream's reader (elsewhere) reports its EOF 2 s after the leader's exit.
    let eof = tokio::time::sleep(secs(3.0));
    let cmd = cmd()
        .drain_timeout(secs(10.0))
        .given_stdout_with_eof(std::process::Stdio::null(), eof);
    let (mut child, probe) = start(&cmd, exits_after(1.0, 0), None);
    let outcome = child.wait().await;
    assert_eq!(outcome.drain, Drain::Complete);
    assert_eq!(outcome.wall_time, secs(3.0));
    assert_eq!(outcome.stdout.bytes, 0, "the bytes went elsewhere");
    assert!(probe.log().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_given_stream_never_reported_times_the_drain_out() {
    let cmd = cmd()
        .drain_timeout(secs(2.0))
        .given_stderr_with_eof(std::process::Stdio::null(), std::future::pending());
    let (mut child, _probe) = start(&cmd, exits_after(1.0, 0), None);
    let outcome = child.wait().await;
    assert_eq!(outcome.drain, Drain::Timeout);
    assert_eq!(outcome.reason, EndReason::Exited);
    // The drain timeout, then the short window given to a stream after a teardown.
    assert_eq!(outcome.wall_time, secs(3.0) + POST_KILL_EOF_WINDOW);
}
