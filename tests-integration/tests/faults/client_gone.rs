//! The client goes away in every way a process can (issue 12): EOF on the sidecar's
//! stdin, its stdout's reader gone, its stderr's reader gone, all three at once, in
//! several orders; with 0, 1, 2 and 64 live children, TERM-ignorers and trees among
//! them. Each case asserts that the sidecar, its guard, any keeper and every process of
//! every tree are gone within the children's grace + 1 s of the client going: every
//! process the sidecar starts inherits the test's environment marker, and `/proc` is
//! scanned for it. A signal to the sidecar ends it the same way in any state.
//!
//! The pipes are driven through the shared driver (`kennel_tests::sidecar`) but not the
//! serve prelude's `Sidecar`: the sidecar's stderr is a pipe of ours here, so closing
//! it is one of the faults.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use kennel_tests::sidecar::{self, Reader, Writer};
use tokio::io::AsyncReadExt;
use tokio::process::ChildStderr;

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
    stdin: Option<Writer>,
    stdout: Option<Reader>,
    stderr: Option<ChildStderr>,
    full_stderr: Option<std::os::fd::OwnedFd>,
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
    kennel_tests::live_with_env_entry(&format!("KENNEL_TEST_MARK={mark}"))
}

impl Client {
    async fn start() -> Client {
        Client::start_stderr(std::process::Stdio::piped()).await
    }

    /// With a stderr pipe filled to the brim that nobody reads.
    async fn start_with_full_stderr() -> Client {
        let (read, write) = full_pipe();
        let mut client = Client::start_stderr(std::process::Stdio::from(write)).await;
        // Held open, never read.
        client.full_stderr = Some(read);
        client
    }

    async fn start_stderr(stderr: std::process::Stdio) -> Client {
        Client::start_full(stderr, &[]).await
    }

    async fn start_full(stderr: std::process::Stdio, env: &[(&str, &str)]) -> Client {
        let mark = new_mark();
        let mut command = sidecar::Sidecar::command(KENNEL.as_ref());
        command
            .env("KENNEL_TEST_MARK", &mark)
            .envs(env.iter().copied())
            .stderr(stderr);
        let (mut sc, stdin, stdout) = sidecar::Sidecar::spawn(&mut command, PATIENCE)
            .await
            .unwrap_or_else(|e| panic!("start kennel serve: {e}"));
        Client {
            pid: sc.pid,
            mark,
            stdin: Some(stdin),
            stdout: Some(stdout),
            stderr: sc.process.stderr.take(),
            full_stderr: None,
            process: sc.process,
        }
    }

    async fn send(&mut self, request: Value) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.send(&request).await.expect("write a request");
    }

    async fn next(&mut self) -> Value {
        let stdout = self.stdout.as_mut().expect("stdout open");
        match stdout.next_within(PATIENCE).await {
            Ok(Some(received)) => received.json,
            Ok(None) => panic!("EOF from the sidecar"),
            Err(e) => panic!("no event in time: {e}"),
        }
    }

    /// Spawns `n` children with the ladder TERM, `grace`, KILL: every third one
    /// ignores TERM, every third one is a tree of three processes that ignore TERM, the
    /// rest obey; every second one avoids the cgroup tier, so it runs under a keeper
    /// instead of the shared guard. Returns when every process of every tree has
    /// printed its pid line.
    async fn spawn_children(&mut self, n: usize, grace: Duration) -> HashMap<String, Vec<u32>> {
        let specs: Vec<(Vec<&str>, usize, bool)> = (0..n)
            .map(|i| {
                let (args, lines) = match i % 3 {
                    0 => (vec!["ignore-signals"], 1),
                    1 => (
                        vec!["tree", "--depth", "2", "--width", "2", "--ignore-term"],
                        3,
                    ),
                    _ => (vec!["sleep", "600000"], 1),
                };
                (args, lines, i % 2 == 1)
            })
            .collect();
        self.spawn_all(&specs, grace).await
    }

    /// Spawns one child per `(args, pid lines, no cgroup)` with the ladder TERM,
    /// `grace`, KILL; returns when each printed that many pid lines, with the pids of
    /// each child's tree (ids `c0`, `c1`, …).
    async fn spawn_all(
        &mut self,
        specs: &[(Vec<&str>, usize, bool)],
        grace: Duration,
    ) -> HashMap<String, Vec<u32>> {
        let mut wanted = HashMap::new();
        for (i, (args, lines, no_cgroup)) in specs.iter().enumerate() {
            let id = format!("c{i}");
            let mut extra = json!({"grace_ms": grace.as_millis() as u64});
            if *no_cgroup {
                extra["containment"] = json!({"cgroup": false});
            }
            self.send(spawn_request(&id, args, extra)).await;
            wanted.insert(id, (*lines, Vec::new()));
        }
        let mut spawned = 0;
        while spawned < specs.len()
            || wanted
                .values()
                .any(|(want, out)| parse_pid_lines(out).len() < *want)
        {
            let e = self.next().await;
            let id = e["id"].as_str().unwrap_or_default().to_owned();
            match e["event"].as_str() {
                Some("spawned") => spawned += 1,
                Some("stdout") => {
                    let data = e["data"].as_str().expect("text output");
                    let out = &mut wanted.get_mut(&id).expect("a child of ours").1;
                    if parse_pid_lines(out).len() < 8 {
                        out.extend_from_slice(data.as_bytes());
                    }
                }
                _ => panic!("unexpected event while spawning: {e}"),
            }
        }
        wanted
            .into_iter()
            .map(|(id, (_, out))| (id, parse_pid_lines(&out).iter().map(|l| l.pid).collect()))
            .collect()
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
    async fn assert_all_gone(
        &mut self,
        since: Instant,
        bound: Duration,
        what: &str,
    ) -> (Option<i32>, Duration) {
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
    client.spawn_children(children, GRACE).await;
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

/// Long enough that a test that waited for it would notice.
const LONG_GRACE: Duration = Duration::from_secs(20);

/// Within this of a second signal (the forceful rung), everything is gone.
const ESCALATED: Duration = Duration::from_millis(1000);

fn signal(client: &Client, sig: i32) -> Instant {
    let at = Instant::now();
    send_signal(client.pid, sig);
    at
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_running_ends_it_within_grace() {
    let mut client = Client::start().await;
    client.spawn_children(3, GRACE).await;
    let since = signal(&client, libc::SIGTERM);
    let (code, _) = client
        .assert_all_gone(since, BOUND, "SIGTERM while running")
        .await;
    assert_eq!(code, Some(0), "the exits and `bye` fit in the pipe");
}

/// Starts a teardown by closing `pipes` (the TERM-ignorers would stretch it to
/// [`LONG_GRACE`]), then sends `sig`: everything is gone within [`ESCALATED`].
async fn signal_mid_teardown(pipes: &[Pipe], sig: i32, what: &str) -> Option<i32> {
    let mut client = Client::start().await;
    let pids = client.spawn_children(3, LONG_GRACE).await;
    for &pipe in pipes {
        client.close(pipe);
    }
    // The teardown is under way once the child that obeys TERM is gone.
    let sleeper = pids["c2"][0];
    let under_way = kennel_tests::wait_until(PATIENCE, || !kennel_tests::is_alive(sleeper));
    assert!(under_way, "{what}: the teardown never began");
    assert!(client.process.try_wait().expect("try_wait").is_none());
    let since = signal(&client, sig);
    client.assert_all_gone(since, ESCALATED, what).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_mid_teardown_escalates_and_ends_it() {
    let code = signal_mid_teardown(&[Stdin], libc::SIGINT, "SIGINT mid-teardown").await;
    assert_eq!(code, Some(0), "the exits and `bye` fit in the pipe");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_after_output_failure_ends_it() {
    // stderr and stdout gone, stdin open: the sidecar notices stdout by itself.
    let what = "SIGHUP after stdout failed";
    let code = signal_mid_teardown(&[Stderr, Stdout], libc::SIGHUP, what).await;
    assert_eq!(code, Some(1), "events were lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_stdout_unread_ends_it_within_grace() {
    let mut client = Client::start().await;
    // A flood that fills stdout (nobody reads it any more), beside a TERM-ignorer.
    let specs = [
        (vec!["seq", "--ignore-term"], 1, false),
        (vec!["ignore-signals"], 1, true),
    ];
    client.spawn_all(&specs, GRACE).await;
    // Stop reading; wait until the unread output piles up.
    let full = kennel_tests::wait_until(PATIENCE, || client_stdout_full(&client));
    assert!(full, "stdout never filled up");
    let since = signal(&client, libc::SIGTERM);
    let bound = BOUND + Duration::from_millis(10);
    let (code, _) = client
        .assert_all_gone(since, bound, "SIGTERM with stdout unread")
        .await;
    assert_eq!(code, Some(1), "events were lost");
}

/// Whether the sidecar's stdout pipe (our read end) holds half a pipe's worth: with a
/// flood behind it and nobody reading, it is full a moment later (how full a pipe
/// gets depends on how the writes fell into its pages, so that is not waited for).
fn client_stdout_full(client: &Client) -> bool {
    use std::os::fd::AsRawFd;
    let Some(stdout) = client.stdout.as_ref() else {
        return false;
    };
    let fd = stdout.get_ref().as_raw_fd();
    let mut queued: libc::c_int = 0;
    // SAFETY: FIONREAD on a pipe we own writes one int.
    let rc = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut queued) };
    rc == 0 && queued >= 32 * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_stderr_blocks_nothing() {
    // The sidecar's stderr is a pipe already full that nobody reads: a blocking
    // diagnostic would hang whoever writes it.
    let mut client = Client::start_with_full_stderr().await;
    client.spawn_children(3, GRACE).await;
    // stdout gone: the writer fails and says so (on the full stderr).
    let since = Instant::now();
    client.close(Stdout);
    let (code, _) = client
        .assert_all_gone(since, BOUND, "stdout gone, stderr full")
        .await;
    assert_eq!(code, Some(1));
}

/// A panic in a task ends the sidecar: every tree killed, exit 101, within a second
/// (the children's long grace is not waited for).
async fn panic_in(place: &str, trigger: Value) {
    let env = [("KENNEL_TEST_PANIC", place)];
    let mut client = Client::start_full(std::process::Stdio::piped(), &env).await;
    client.spawn_children(3, LONG_GRACE).await;
    let since = Instant::now();
    client.send(trigger).await;
    let what = format!("a panic in the {place}");
    let (code, _) = client.assert_all_gone(since, ESCALATED, &what).await;
    assert_eq!(code, Some(101), "{what}");
    // It said why, on stderr.
    let mut stderr = String::new();
    let mut pipe = client.stderr.take().expect("stderr");
    let read = pipe.read_to_string(&mut stderr);
    tokio::time::timeout(PATIENCE, read)
        .await
        .expect("stderr EOF in time")
        .expect("read stderr");
    assert!(
        stderr.contains("internal error") && stderr.contains(place),
        "stderr: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panic_in_the_writer_task_ends_everything() {
    // The writer panics at the first `exit` event: the one of this quick child.
    panic_in("writer", spawn_request("quick", &["exit", "0"], json!({}))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panic_in_the_request_loop_ends_everything() {
    panic_in("list", request::list("q")).await;
}

/// A pipe filled to the brim: (read end, write end). Nobody reads it unless asked.
pub fn full_pipe() -> (std::os::fd::OwnedFd, std::os::fd::OwnedFd) {
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two new descriptors, owned from here on; fcntl and write act
    // on the write end only.
    unsafe {
        assert_eq!(libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC), 0, "pipe2");
        let (read, write) = (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]));
        let flags = libc::fcntl(fds[1], libc::F_GETFL);
        libc::fcntl(fds[1], libc::F_SETFL, flags | libc::O_NONBLOCK);
        let block = [b'x'; 4096];
        while libc::write(fds[1], block.as_ptr().cast(), block.len()) > 0 {}
        libc::fcntl(fds[1], libc::F_SETFL, flags);
        (read, write)
    }
}
