//! `kennel::compat` with `Stdio` values on Windows, where nothing tells one apart
//! before the spawn: each goes to std's spawn as given, and the pipe std makes for a
//! `Stdio::piped()` becomes kennel's (bridged into kennel's own pipe), so it is read,
//! counted and drained as any piped stream; `null()` and `inherit()` reach the child.

use std::process::Stdio;
use std::time::Duration;

use kennel::compat;
use kennel_tests::read_all;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};

use crate::prelude::*;

/// A compat command running the fixture.
fn compat_fixture(args: &[&str]) -> compat::Command {
    let mut cmd = compat::Command::new(FIXTURE);
    cmd.args(args);
    cmd
}

#[tokio::test]
async fn piped_values_carry_both_streams_byte_exact_on_every_spawn() {
    const N: usize = 1024 * 1024;
    let n = N.to_string();
    let mut cmd = compat_fixture(&["flood", "--bytes", &n, "--chunk", "10000", "--stderr"]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    // A pipe request serves every spawn, as with tokio.
    for spawn in 0..2 {
        let mut child = cmd.spawn().unwrap();
        assert!(child.stdin.is_none(), "stdin was inherited");
        let stdout = child.stdout.take().expect("a reader for a piped stdout");
        let stderr = child.stderr.take().expect("a reader for a piped stderr");
        let (out, err, status) = tokio::join!(
            read_all(stdout, PATIENCE),
            read_all(stderr, PATIENCE),
            child.wait()
        );
        assert!(status.unwrap().success(), "spawn {spawn}");
        assert_eq!((out.len(), err.len()), (N, N), "spawn {spawn}");
        verify_text_prefix(&out).unwrap();
        verify_text_prefix(&err).unwrap();
        // kennel read std's pipe itself: counted and drained.
        let outcome = child.outcome().unwrap();
        assert_eq!(outcome.stdout.bytes, N as u64);
        assert_eq!(outcome.stderr.bytes, N as u64);
        assert_eq!(outcome.drain, Drain::Complete);
    }
}

#[tokio::test]
async fn a_piped_stdin_value_round_trips() {
    let input: Vec<u8> = (0..256 * 1024u32).map(|i| (i % 251) as u8).collect();
    let mut child = compat_fixture(&["echo-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().expect("a writer for a piped stdin");
    let stdout = child.stdout.take().unwrap();
    let to_write = input.clone();
    let write = async move {
        stdin.write_all(&to_write).await.unwrap();
        stdin.shutdown().await.unwrap();
    };
    let ((), echoed) = tokio::join!(write, read_all(stdout, PATIENCE));
    assert!(child.wait().await.unwrap().success());
    assert_eq!(echoed.len(), input.len());
    assert!(echoed == input, "the echo differs from what was written");
    assert_eq!(child.outcome().unwrap().stdout.bytes, input.len() as u64);
}

#[tokio::test]
async fn null_and_inherit_values_reach_the_child_and_have_no_handle() {
    // A null stdin: the fixture reads EOF at once and echoes nothing.
    let mut cmd = compat_fixture(&["echo-stdin"]);
    cmd.stdin(Stdio::null()).stdout(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    assert!(child.stdin.is_none());
    let echoed = read_all(child.stdout.take().unwrap(), PATIENCE).await;
    assert!(child.wait().await.unwrap().success());
    assert!(echoed.is_empty(), "{echoed:?}");
    // Such a value serves one spawn (it cannot be copied, nor told apart to remake).
    let err = cmd.spawn().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");

    let child = compat_fixture(&["print", "to nowhere", "--stderr", "inherited"])
        .stdin(Stdio::inherit())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    assert!(child.stdin.is_none() && child.stdout.is_none() && child.stderr.is_none());
    let output = child.wait_with_output().await.unwrap();
    assert!(output.status.success());
    assert!(output.stdout.is_empty() && output.stderr.is_empty());
}

#[tokio::test]
async fn an_adopted_pipe_keeps_the_drain_timeout() {
    // The root exits once its child printed; the child holds std's pipe.
    let drain = Duration::from_millis(500);
    let mut child = compat_fixture(&["tree", "--depth", "2", "--width", "1", "--exit-leader"])
        .stdout(Stdio::piped())
        .kennel(|k| k.drain_timeout(drain).ladder(kill_only()))
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut pids = Vec::new();
    while pids.len() < 2 {
        let line = tokio::time::timeout(PATIENCE, lines.next_line())
            .await
            .expect("a pid line in time")
            .unwrap()
            .expect("a line before EOF");
        pids.extend(
            kennel_tests::parse_pid_lines(format!("{line}\n").as_bytes())
                .iter()
                .map(|l| l.pid),
        );
    }
    let holder = Procs::open(&pids[1..]);
    let status = tokio::time::timeout(PATIENCE, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "the root exited 0 on its own");
    holder.assert_gone();
    let outcome = child.outcome().unwrap();
    assert_eq!(outcome.drain, Drain::Timeout);
    assert_eq!(outcome.leftovers_killed, vec![pids[1]]);
    // The holder is gone, so the bridge saw EOF and passed it on.
    let rest = tokio::time::timeout(PATIENCE, lines.next_line())
        .await
        .expect("EOF in time");
    assert!(matches!(rest, Ok(None)), "{rest:?}");
}
