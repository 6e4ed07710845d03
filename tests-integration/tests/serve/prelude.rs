//! The test harness: a sidecar process with helpers to send requests and wait for
//! events, plus a "bystander" child used to show that errors disturb nobody.

use std::time::{Duration, Instant};

pub use kennel_tests::sidecar::request;
use kennel_tests::sidecar::{self, DriverError, Reader, Writer};
use serde_json::{json, Value};

pub use kennel_tests::{
    is_alive, parse_pid_lines, rss_kib, verify_binary_prefix, verify_text_prefix, wait_all_gone,
    wchar,
};

/// The fixture binary (the children the sidecar runs).
pub const FIXTURE: &str = env!("CARGO_BIN_EXE_kennel-fixture");

/// The `kennel` CLI, built from the same library code as the real binary.
pub const KENNEL: &str = env!("CARGO_BIN_EXE_kennel-test-cli");

/// Generous bound for anything that should take milliseconds, so a loaded 2-core
/// machine never fails a correct run.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A running `kennel serve` (the shared driver, [`kennel_tests::sidecar`]) with a log
/// of every event, and helpers that panic with that log when something is missing.
pub struct Sidecar {
    pub process: tokio::process::Child,
    pub pid: u32,
    stdin: Option<Writer>,
    stdout: Option<Reader>,
    pub hello: Value,
    /// Every event received so far, in order (as JSON; a data frame as the event it
    /// stands for, with `"frame": true`).
    pub log: Vec<Value>,
}

impl Sidecar {
    /// Start a sidecar and read its `hello`.
    pub async fn start() -> Sidecar {
        Sidecar::start_with(&[]).await
    }

    /// Start a sidecar with extra `kennel serve` arguments and read its `hello`.
    pub async fn start_with(args: &[&str]) -> Sidecar {
        Sidecar::start_full(args, &[]).await
    }

    /// Start a sidecar with extra environment variables and read its `hello`.
    #[allow(dead_code)]
    pub async fn start_with_env(env: &[(&str, &str)]) -> Sidecar {
        Sidecar::start_full(&[], env).await
    }

    async fn start_full(args: &[&str], env: &[(&str, &str)]) -> Sidecar {
        let (sc, writer, reader) = sidecar::Sidecar::start(KENNEL.as_ref(), args, env, PATIENCE)
            .await
            .unwrap_or_else(|e| panic!("start kennel serve: {e}"));
        Sidecar {
            process: sc.process,
            pid: sc.pid,
            stdin: Some(writer),
            stdout: Some(reader),
            hello: sc.hello.json.clone(),
            log: vec![sc.hello.json],
        }
    }

    /// Send one request (a JSON value) as a line.
    pub async fn send(&mut self, request: Value) {
        let stdin = self.stdin.as_mut().expect("sidecar stdin still open");
        stdin.send(&request).await.expect("write to the sidecar");
    }

    /// Send raw bytes.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("sidecar stdin still open");
        stdin.send_raw(bytes).await.expect("write to the sidecar");
    }

    /// Take the request writer, to write from another task while this one reads
    /// events; [`give_stdin`](Sidecar::give_stdin) puts it back.
    #[allow(dead_code)]
    pub fn take_stdin(&mut self) -> Writer {
        self.stdin.take().expect("sidecar stdin still open")
    }

    /// Put back the writer [`take_stdin`](Sidecar::take_stdin) took.
    #[allow(dead_code)]
    pub fn give_stdin(&mut self, writer: Writer) {
        self.stdin = Some(writer);
    }

    /// Close the sidecar's stdin (EOF).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Drop only our read end of its stdout (its next write gets EPIPE); stdin stays
    /// open. (Used by the fault tests, which share this prelude.)
    #[allow(dead_code)]
    pub fn drop_stdout(&mut self) {
        self.stdout = None;
    }

    /// Drop both pipes, as a caller that died would.
    pub fn drop_pipes(&mut self) {
        self.stdin = None;
        self.stdout = None;
    }

    /// The next event (checked against the protocol types), or `None` at EOF. Panics
    /// after [`PATIENCE`].
    pub async fn next(&mut self) -> Option<Value> {
        let deadline = Instant::now() + PATIENCE;
        self.next_until(deadline).await
    }

    async fn next_until(&mut self, deadline: Instant) -> Option<Value> {
        let stdout = self.stdout.as_mut().expect("sidecar stdout still open");
        match stdout.next_before(deadline).await {
            Ok(Some(received)) => {
                self.log.push(received.json.clone());
                Some(received.json)
            }
            Ok(None) => None,
            Err(DriverError::Timeout) => panic!(
                "no complete event within {PATIENCE:?}; last events: {:?}",
                tail(&self.log)
            ),
            Err(e) => panic!("{e}; last events: {:?}", tail(&self.log)),
        }
    }

    /// Read events until one satisfies `pred`; returns it. Panics at EOF or after
    /// [`PATIENCE`].
    pub async fn wait_for(&mut self, what: &str, mut pred: impl FnMut(&Value) -> bool) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            match self.next_until(deadline).await {
                Some(event) if pred(&event) => return event,
                Some(_) => {}
                None => panic!(
                    "EOF while waiting for {what}; last events: {:?}",
                    tail(&self.log)
                ),
            }
        }
    }

    /// Wait for the event named `event` about `id`.
    pub async fn wait_event(&mut self, event: &str, id: &str) -> Value {
        self.wait_for(&format!("{event} of {id}"), |e| {
            e["event"] == event && e["id"] == id
        })
        .await
    }

    /// The first event already logged that satisfies `pred`, or else the next one to
    /// arrive: unlike [`Sidecar::wait_for`], it also finds events read while waiting
    /// for something else.
    #[allow(dead_code)]
    pub async fn seen_or_wait(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(e) = self.log.iter().find(|e| pred(e)) {
            return e.clone();
        }
        self.wait_for(what, pred).await
    }

    /// [`Sidecar::seen_or_wait`] for the event named `event` about `id`.
    #[allow(dead_code)]
    pub async fn seen_event(&mut self, event: &str, id: &str) -> Value {
        self.seen_or_wait(&format!("{event} of {id}"), |e| {
            e["event"] == event && e["id"] == id
        })
        .await
    }

    /// Wait for the next `error` event (whatever its id).
    pub async fn wait_error(&mut self) -> Value {
        self.wait_for("an error", |e| e["event"] == "error").await
    }

    /// Read every remaining event until EOF; returns them.
    pub async fn read_to_eof(&mut self) -> Vec<Value> {
        let mut rest = Vec::new();
        while let Some(e) = self.next().await {
            rest.push(e);
        }
        rest
    }

    /// Close the sidecar's stdin and read every remaining event (the end of most
    /// tests: the sidecar stops what is left and says `bye`).
    pub async fn finish(&mut self) {
        self.close_stdin();
        self.read_to_eof().await;
    }

    /// Send `op` (`cancel` or `kill`) for `id` and wait for its `exit`; returns it.
    pub async fn end(&mut self, op: &str, id: &str) -> Value {
        self.send(json!({"op": op, "id": id})).await;
        self.wait_event("exit", id).await
    }

    /// Wait for the sidecar process to exit; returns its exit code.
    pub async fn wait_exit(&mut self) -> Option<i32> {
        let status = tokio::time::timeout(PATIENCE, self.process.wait())
            .await
            .expect("the sidecar exits in time")
            .expect("wait for the sidecar");
        status.code()
    }

    /// Spawn the fixture as child `id` with `args`; `extra` fields are merged into the
    /// request. Returns the `spawned` event.
    pub async fn spawn(&mut self, id: &str, args: &[&str], extra: Value) -> Value {
        self.send(spawn_request(id, args, extra)).await;
        let spawned = self
            .wait_for(&format!("spawned/error of {id}"), |e| {
                (e["event"] == "spawned" || e["event"] == "error") && e["id"] == id
            })
            .await;
        assert_eq!(
            spawned["event"], "spawned",
            "spawn of {id} failed: {spawned}"
        );
        spawned
    }

    /// Every event about `id` received so far.
    pub fn events_of(&self, id: &str) -> Vec<&Value> {
        self.log.iter().filter(|e| e["id"] == id).collect()
    }

    /// The bytes of `stream` (`"stdout"`/`"stderr"`) received so far for `id`.
    pub fn output_of(&self, id: &str, stream: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for e in self
            .log
            .iter()
            .filter(|e| e["id"] == id && e["event"] == stream)
        {
            out.extend_from_slice(&payload(e));
        }
        out
    }

    /// `id`'s stdout so far is an exact prefix of the text pattern and as long as its
    /// `exit` event says it sent.
    #[allow(dead_code)]
    pub fn assert_text_prefix_counted(&self, id: &str, exit: &Value) {
        let got = self.output_of(id, "stdout");
        verify_text_prefix(&got).unwrap_or_else(|e| panic!("{id}: not an exact prefix: {e}"));
        assert_eq!(exit["stdout"]["bytes"], got.len() as u64, "{id}: {exit}");
    }

    /// Spawn `id`, the fixture's tree of `depth` levels with `width` children a node in
    /// which every process ignores SIGTERM, with the spawn fields `extra`; returns the
    /// pids once every process printed its line.
    pub async fn spawn_ignoring_tree(
        &mut self,
        id: &str,
        (depth, width): (u32, u32),
        extra: Value,
    ) -> Vec<u32> {
        let (d, w) = (depth.to_string(), width.to_string());
        let args = ["tree", "--depth", &d, "--width", &w, "--ignore-term"];
        self.spawn(id, &args, extra).await;
        let processes: u32 = (0..depth).map(|level| width.pow(level)).sum();
        self.wait_pids(id, processes as usize).await
    }

    /// Wait until `id`'s stdout holds at least `n` fixture pid lines; returns the pids.
    pub async fn wait_pids(&mut self, id: &str, n: usize) -> Vec<u32> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let lines = parse_pid_lines(&self.output_of(id, "stdout"));
            if lines.len() >= n {
                return lines.iter().map(|l| l.pid).collect();
            }
            match self.next_until(deadline).await {
                Some(e) => assert!(
                    !(e["event"] == "exit" && e["id"] == id),
                    "{id} exited before printing {n} pid lines: {e}"
                ),
                None => panic!("EOF while waiting for pid lines of {id}"),
            }
        }
    }
}

/// The last few events, for failure messages.
fn tail(log: &[Value]) -> Vec<String> {
    log.iter()
        .rev()
        .take(8)
        .rev()
        .map(|e| {
            let s = e.to_string();
            if s.len() > 300 {
                format!("{}…", &s[..300])
            } else {
                s
            }
        })
        .collect()
}

/// A `spawn` request running the fixture with `args`, with `extra` fields merged in.
pub fn spawn_request(id: &str, args: &[&str], extra: Value) -> Value {
    request::Spawn::new(id, FIXTURE, args).merge(extra).build()
}

/// The bytes of a `stdout`/`stderr`/`write` payload (`data` or `data_b64`).
pub fn payload(event: &Value) -> Vec<u8> {
    sidecar::payload_of(event).unwrap_or_else(|e| panic!("{e}"))
}

/// Check the events of one child: `spawned` first, `exit` last and only once.
pub fn assert_child_order(events: &[&Value]) {
    assert!(!events.is_empty(), "no events");
    assert_eq!(events[0]["event"], "spawned", "first event: {}", events[0]);
    let last = events[events.len() - 1];
    assert_eq!(last["event"], "exit", "last event: {last}");
    let exits = events.iter().filter(|e| e["event"] == "exit").count();
    assert_eq!(exits, 1, "exactly one exit");
}

/// A child that echoes its stdin, to show that other requests do not disturb it.
pub struct Bystander {
    pub id: String,
    sent: Vec<u8>,
    pings: usize,
}

impl Bystander {
    /// Spawn the bystander (`echo-stdin` with a piped stdin).
    pub async fn start(sc: &mut Sidecar, id: &str) -> Bystander {
        sc.spawn(id, &["echo-stdin"], json!({"stdin": "pipe"}))
            .await;
        let mut b = Bystander {
            id: id.to_owned(),
            sent: Vec::new(),
            pings: 0,
        };
        b.ping(sc).await;
        b
    }

    /// Write a line and wait until it is echoed: the child and its stream still work.
    pub async fn ping(&mut self, sc: &mut Sidecar) {
        self.pings += 1;
        let text = format!("ping {}\n", self.pings);
        self.sent.extend_from_slice(text.as_bytes());
        sc.send(request::write(&self.id, &text)).await;
        let written = sc.wait_event("written", &self.id).await;
        assert_eq!(written["bytes"], text.len());
        let want = self.sent.clone();
        let id = self.id.clone();
        let deadline = Instant::now() + PATIENCE;
        while sc.output_of(&id, "stdout") != want {
            assert!(Instant::now() < deadline, "bystander echo missing");
            let e = sc
                .wait_for("bystander output", |e| e["id"] == id.as_str())
                .await;
            assert_ne!(e["event"], "exit", "the bystander ended: {e}");
        }
    }

    /// Close its stdin and check it exited cleanly with exactly what was sent.
    pub async fn finish(self, sc: &mut Sidecar) {
        sc.send(request::close_stdin(&self.id)).await;
        let exit = sc.wait_event("exit", &self.id).await;
        assert_eq!(exit["code"], 0, "{exit}");
        assert_eq!(exit["reason"], "exited", "{exit}");
        assert_eq!(sc.output_of(&self.id, "stdout"), self.sent);
        assert_child_order(&sc.events_of(&self.id));
    }
}

/// Send a signal to a process.
pub fn send_signal(pid: u32, signal: i32) {
    // SAFETY: kill(2) with a pid we started and a valid signal number has no memory
    // effects.
    let rc = unsafe { libc::kill(pid as libc::pid_t, signal) };
    assert_eq!(rc, 0, "kill({pid}, {signal})");
}

/// Assert every pid is gone (by `/proc`) within [`PATIENCE`].
pub fn assert_gone(pids: &[u32]) {
    if let Err(survivors) = wait_all_gone(pids, PATIENCE) {
        panic!("processes survived: {survivors:?}");
    }
}
