//! The client goes away in every way a process can (issue 12): EOF on the sidecar's
//! stdin, its stdout's reader gone, its stderr's reader gone, all three at once, in
//! several orders; with 0, 1, 2 and 64 live children, TERM-ignorers and trees among
//! them. Each case asserts that the sidecar, its guard, any keeper and every process of
//! every tree are gone within the children's grace + 1 s of the client going: every
//! process the sidecar starts inherits the test's environment marker, and `/proc` is
//! scanned for it. A signal to the sidecar ends it the same way in any state.
//!
//! The raw pipes are driven directly (not through the shared `Sidecar` harness): the
//! sidecar's stderr is a pipe of ours here, so closing it is one of the faults.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{ChildStderr, ChildStdin, ChildStdout};

use crate::prelude::*;

/// The grace of every child's ladder (TERM, then KILL after this).
const GRACE: Duration = Duration::from_millis(500);

/// How long after the client went everything must be gone: the bound.
const BOUND: Duration = Duration::from_millis(GRACE.as_millis() as u64 + 1000);

/// One end of the sidecar's pipes.
#[derive(Clone, Copy, Debug)]
enum Pipe {
    Stdin,
    Stdout,
    Stderr,
}

/// A sidecar on raw pipes, every process it starts carrying `mark` in its environment.
struct Client {
    process: tokio::process::Child,
    pid: u32,
    mark: String,
    stdin: Option<ChildStdin>,
    stdout: Option<BufReader<ChildStdout>>,
    stderr: Option<ChildStderr>,
}

fn new_mark() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "client-gone-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Live (non-zombie) processes whose environment has `KENNEL_TEST_MARK=<mark>`.
fn marked(mark: &str) -> Vec<u32> {
    let needle = format!("KENNEL_TEST_MARK={mark}");
    kennel_tests::all_pids()
        .into_iter()
        .filter(|&pid| kennel_tests::is_alive(pid))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| {
                env.split(|&b| b == 0)
                    .any(|kv| kv == needle.as_bytes())
            })
        })
        .collect()
}

impl Client {
    async fn start() -> Client {
        let mark = new_mark();
        let mut process = tokio::process::Command::new(KENNEL)
            .arg("serve")
            .env("KENNEL_TEST_MARK", &mark)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start kennel serve");
        let pid = process.id().expect("sidecar pid");
        let mut client = Client {
            pid,
            mark,
            stdin: process.stdin.take(),
            stdout: process.stdout.take().map(BufReader::new),
            stderr: process.stderr.take(),
            process,
        };
        let hello = client.next().await;
        assert_eq!(hello["event"], "hello", "{hello}");
        client
    }

    async fn send(&mut self, request: Value) {
        let mut line = request.to_string();
        line.push('\n');
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(line.as_bytes()).await.expect("write a request");
    }

    async fn next(&mut self) -> Value {
        let stdout = self.stdout.as_mut().expect("stdout open");
        let mut line = String::new();
        let n = tokio::time::timeout(PATIENCE, stdout.read_line(&mut line))
            .await
            .expect("an event in time")
            .expect("read an event");
        assert!(n > 0, "EOF from the sidecar");
        serde_json::from_str(&line).expect("an event is JSON")
    }

    /// Spawns `n` children with the ladder TERM, [`GRACE`], KILL: every third one
    /// ignores TERM, every third one is a tree of three processes that ignore TERM, the
    /// rest obey. Returns when every process of every tree has printed its pid line.
    async fn spawn_children(&mut self, n: usize) {
        let mut lines_wanted = std::collections::HashMap::new();
        for i in 0..n {
            let (args, lines): (&[&str], usize) = match i % 3 {
                0 => (&["ignore-signals"], 1),
                1 => (
                    &["tree", "--depth", "2", "--width", "2", "--ignore-term"],
                    3,
                ),
                _ => (&["sleep", "600000"], 1),
            };
            let id = format!("c{i}");
            self.send(spawn_request(
                &id,
                args,
                json!({"grace_ms": GRACE.as_millis() as u64}),
            ))
            .await;
            lines_wanted.insert(id, (lines, Vec::new()));
        }
        let mut spawned = 0;
        while spawned < n || lines_wanted.values().any(|(want, out)| parse_pid_lines(out).len() < *want) {
            let e = self.next().await;
            let id = e["id"].as_str().unwrap_or_default().to_owned();
            match e["event"].as_str() {
                Some("spawned") => spawned += 1,
                Some("stdout") => {
                    let data = e["data"].as_str().expect("text output");
                    lines_wanted
                        .get_mut(&id)
                        .expect("a child of ours")
                        .1
                        .extend_from_slice(data.as_bytes());
                }
                _ => panic!("unexpected event while spawning: {e}"),
            }
        }
    }

    fn close(&mut self, pipe: Pipe) {
        match pipe {
            Pipe::Stdin => drop(self.stdin.take()),
            Pipe::Stdout => drop(self.stdout.take()),
            Pipe::Stderr => drop(self.stderr.take()),
        }
    }

    /// Waits until the sidecar exited and nothing carries the marker; panics past
    /// `bound` (measured from `since`) with what is left. Returns the sidecar's exit
    /// status code and the time it took.
    async fn assert_all_gone(&mut self, since: Instant, bound: Duration, what: &str) -> (Option<i32>, Duration) {
        let deadline = since + bound;
        let code = match tokio::time::timeout_at(deadline.into(), self.process.wait()).await {
            Ok(status) => status.expect("wait for the sidecar").code(),
            Err(_) => {
                let left = marked(&self.mark);
                let described: Vec<_> = left.iter().map(|&p| kennel_tests::describe(p)).collect();
                panic!("{what}: the sidecar {} is still running {bound:?} after the client went; marked: {described:#?}", self.pid);
            }
        };
        loop {
            let left = marked(&self.mark);
            if left.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                let described: Vec<_> = left.iter().map(|&p| kennel_tests::describe(p)).collect();
                panic!("{what}: processes left {bound:?} after the client went: {described:#?}");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let took = since.elapsed();
        eprintln!("{what}: sidecar exited with {code:?}, everything gone after {took:?} (bound {bound:?})");
        (code, took)
    }
}

/// Starts a sidecar with `children` children, closes `pipes` in order (all within
/// microseconds: "at once"), and asserts everything is gone within [`BOUND`].
async fn client_goes(children: usize, pipes: &[Pipe]) {
    let mut client = Client::start().await;
    client.spawn_children(children).await;
    let running = marked(&client.mark);
    assert!(
        running.len() > children,
        "the marker must reach the sidecar and every child: {running:?}"
    );
    let since = Instant::now();
    for &pipe in pipes {
        client.close(pipe);
    }
    let what = format!("{children} children, closed {pipes:?}");
    let (code, _) = client.assert_all_gone(since, BOUND, &what).await;
    // With stdout still readable until stdin's EOF the sidecar said `bye` (0);
    // any other way it could not report and says so with 1.
    assert!(code.is_some(), "{what}: the sidecar died of a signal");
}

use Pipe::{Stderr, Stdin, Stdout};

macro_rules! matrix {
    ($($name:ident: $children:expr, [$($pipe:expr),*];)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            client_goes($children, &[$($pipe),*]).await;
        }
    )*};
}

matrix! {
    all_three_at_once_0: 0, [Stdin, Stdout, Stderr];
    all_three_at_once_1: 1, [Stdin, Stdout, Stderr];
    all_three_at_once_2: 2, [Stdin, Stdout, Stderr];
    all_three_at_once_3: 3, [Stdin, Stdout, Stderr];
    all_three_at_once_64: 64, [Stdin, Stdout, Stderr];
    stderr_stdout_stdin_2: 2, [Stderr, Stdout, Stdin];
    stdout_stdin_stderr_3: 3, [Stdout, Stdin, Stderr];
    stdin_eof_0: 0, [Stdin];
    stdin_eof_2: 2, [Stdin];
    stdin_eof_64: 64, [Stdin];
    stdout_gone_0: 0, [Stdout];
    stdout_gone_1: 1, [Stdout];
    stdout_gone_64: 64, [Stdout];
    stderr_and_stdout_gone_3: 3, [Stderr, Stdout];
    stderr_and_stdin_gone_3: 3, [Stderr, Stdin];
}
