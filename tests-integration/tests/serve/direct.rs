//! `"direct"` output streams: the sidecar connects to the client's socket and hands the
//! connection to the child, whose bytes the client reads itself; the drain waits for
//! the client's `eof` of each stream.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use kennel_tests::pattern::{PatternChecker, PatternKind};
use kennel_tests::read_all;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, BufReader};
use tokio::net::{UnixListener, UnixStream};

use crate::prelude::*;

const MIB: usize = 1 << 20;

/// The client's side of direct streams: a listening socket in a private directory.
struct Client {
    dir: PathBuf,
    listener: UnixListener,
    token: String,
}

/// One accepted direct stream, past its header line.
type Conn = BufReader<UnixStream>;

impl Client {
    fn new() -> Client {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("kennel-direct-test-{}-{n}", std::process::id()));
        {
            use std::os::unix::fs::DirBuilderExt as _;
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(&dir)
                .expect("make the socket directory");
        }
        let listener = UnixListener::bind(dir.join("s")).expect("listen");
        Client {
            dir,
            listener,
            token: format!("t{n}"),
        }
    }

    /// The spawn fields naming this client's socket, and `extra`.
    fn spawn_fields(&self, mut extra: Value) -> Value {
        extra["direct_socket"] = self.dir.join("s").to_str().expect("UTF-8").into();
        extra["direct_token"] = self.token.clone().into();
        extra
    }

    /// Accepts `n` connections of child `id` and returns them by stream name, each
    /// past its header (which must name this client's token, `id` and the stream).
    async fn accept(&self, id: &str, n: usize) -> HashMap<String, Conn> {
        let mut conns = HashMap::new();
        while conns.len() < n {
            let (conn, _) = tokio::time::timeout(PATIENCE, self.listener.accept())
                .await
                .expect("the sidecar connects in time")
                .expect("accept");
            let mut conn = BufReader::new(conn);
            let mut header = String::new();
            conn.read_line(&mut header).await.expect("read the header");
            let header: Value = serde_json::from_str(&header).expect("a JSON header line");
            assert_eq!(header["token"], self.token.as_str(), "{header}");
            assert_eq!(header["id"], id, "{header}");
            let stream = header["stream"].as_str().expect("a stream").to_owned();
            conns.insert(stream, conn);
        }
        conns
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Sends `eof` for `id`'s `stream` and waits for its `ack`.
async fn report_eof(sc: &mut Sidecar, id: &str, stream: &str) {
    let tag = format!("eof-{stream}");
    sc.send(request::eof(id, stream, &tag)).await;
    let ack = sc
        .wait_for("eof's answer", |e| {
            e["id"] == id && (e["event"] == "ack" || e["event"] == "error") && e["req"] == *tag
        })
        .await;
    assert_eq!(ack["event"], "ack", "{ack}");
    assert_eq!(ack["op"], "eof", "{ack}");
}

/// A sidecar, a client listening for direct streams, and the spawn fields `extra`
/// naming the client's socket.
async fn start_with_client(extra: Value) -> (Sidecar, Client, Value) {
    let sc = Sidecar::start().await;
    let client = Client::new();
    let extra = client.spawn_fields(extra);
    (sc, client, extra)
}

/// Sends `eof` for each of `id`'s `streams` (waiting for each `ack`), then waits for
/// `id`'s `exit` and returns it.
async fn exit_after_eofs(sc: &mut Sidecar, id: &str, streams: &[&str]) -> Value {
    for stream in streams {
        report_eof(sc, id, stream).await;
    }
    sc.wait_event("exit", id).await
}

/// Reads to EOF, checking every byte against the fixture's `kind` pattern; returns the
/// byte count.
async fn read_checked(conn: &mut Conn, kind: PatternKind) -> u64 {
    let mut checker = PatternChecker::new(kind);
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = tokio::time::timeout(PATIENCE, conn.read(&mut buf))
            .await
            .expect("EOF on the direct stream in time")
            .expect("read the socket");
        if n == 0 {
            return checker.len();
        }
        checker
            .feed(&buf[..n])
            .unwrap_or_else(|e| panic!("not the pattern: {e}"));
    }
}

/// The connection of `stream`, out of what [`Client::accept`] returned.
fn take(conns: &mut HashMap<String, Conn>, stream: &str) -> Conn {
    conns
        .remove(stream)
        .unwrap_or_else(|| panic!("no {stream} connection"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_64_mib_flood_arrives_whole_and_in_order() {
    let (mut sc, client, extra) =
        start_with_client(json!({"stdout": "direct", "stderr": "direct"})).await;
    assert!(
        sc.hello["features"]
            .as_array()
            .is_some_and(|f| f.contains(&json!("direct_sockets"))),
        "{}",
        sc.hello
    );
    let n = 64 * MIB;
    let args = ["binary", "--bytes", &n.to_string(), "--stderr"];
    sc.spawn("f", &args, extra).await;
    let mut conns = client.accept("f", 2).await;
    let (mut out, mut err) = (take(&mut conns, "stdout"), take(&mut conns, "stderr"));
    let (out_len, err_len) = tokio::join!(
        read_checked(&mut out, PatternKind::Binary),
        read_checked(&mut err, PatternKind::Binary)
    );
    assert_eq!((out_len, err_len), (n as u64, n as u64));
    let exit = exit_after_eofs(&mut sc, "f", &["stdout", "stderr"]).await;
    assert_eq!(exit["code"], 0, "{exit}");
    assert_eq!(exit["drain"], "complete", "{exit}");
    // The sidecar never saw the bytes: it counts none.
    assert_eq!(exit["stdout"]["bytes"], 0, "{exit}");
    assert!(sc.events_of("f").iter().all(|e| e["event"] != "stdout"));
    assert_child_order(&sc.events_of("f"));
    sc.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_written_before_the_client_accepts_is_kept() {
    let (mut sc, client, extra) =
        start_with_client(json!({"stdout": "direct", "stderr": "direct"})).await;
    let spawned = sc
        .spawn("p", &["print", "hello", "--stderr", "world"], extra)
        .await;
    let pid = spawned["pid"].as_u64().expect("pid") as u32;
    // The child wrote and exited before the client accepted its connections.
    wait_all_gone(&[pid], PATIENCE).expect("the child exits");
    let mut conns = client.accept("p", 2).await;
    assert_eq!(
        read_all(&mut take(&mut conns, "stdout"), PATIENCE).await,
        b"hello\n"
    );
    assert_eq!(
        read_all(&mut take(&mut conns, "stderr"), PATIENCE).await,
        b"world\n"
    );
    let exit = exit_after_eofs(&mut sc, "p", &["stdout", "stderr"]).await;
    assert_eq!(
        (&exit["code"], &exit["drain"]),
        (&json!(0), &json!("complete")),
        "{exit}"
    );
    // The `exit` waited for the `eof`s: their answers came first.
    assert_child_order(&sc.events_of("p"));
    sc.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_background_descendant_writes_after_the_leader_exited_and_is_delivered() {
    // `cmd &` in a script: the drain waits for the stream as for a pipe.
    let (mut sc, client, extra) =
        start_with_client(json!({"stdout": "direct", "drain_timeout_ms": 20_000})).await;
    let script = "echo a; (sleep 0.3; echo b) &";
    let req = request::Spawn::new("bg", "/bin/sh", &["-c", script]).merge(extra);
    sc.send(req.build()).await;
    sc.wait_event("spawned", "bg").await;
    let mut out = take(&mut client.accept("bg", 1).await, "stdout");
    // The leader exited at once; the drain kept its descendant running.
    assert_eq!(read_all(&mut out, PATIENCE).await, b"a\nb\n");
    let exit = exit_after_eofs(&mut sc, "bg", &["stdout"]).await;
    assert_eq!(exit["code"], 0, "{exit}");
    assert_eq!(exit["drain"], "complete", "{exit}");
    assert_eq!(exit["leftovers_killed"], json!([]), "{exit}");
    assert_child_order(&sc.events_of("bg"));
    sc.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unread_direct_child_blocks_alone() {
    let (mut sc, client, extra) = start_with_client(json!({"stdout": "direct"})).await;
    let spawned = sc
        .spawn("unread", &["flood", "--bytes", "1073741824"], extra.clone())
        .await;
    let unread_pid = spawned["pid"].as_u64().expect("pid") as u32;
    // Accepted and never read: the socket's buffer fills, and the child blocks in its
    // write.
    let _unread = client.accept("unread", 1).await;
    let n = 64 * MIB;
    let started = Instant::now();
    sc.spawn("read", &["flood", "--bytes", &n.to_string()], extra)
        .await;
    let mut out = take(&mut client.accept("read", 1).await, "stdout");
    assert_eq!(read_checked(&mut out, PatternKind::Text).await, n as u64);
    let exit = exit_after_eofs(&mut sc, "read", &["stdout"]).await;
    assert_eq!(exit["code"], 0, "{exit}");
    eprintln!("64 MiB beside an unread flood: {:?}", started.elapsed());
    // Meanwhile the unread child wrote no more than the connection holds (a socket's
    // send buffer, about 208 KiB by default).
    let written = wchar(unread_pid).expect("the unread child is alive");
    assert!(
        written <= MIB as u64,
        "the unread child wrote {written} bytes"
    );
    let exit = sc.end("kill", "unread").await;
    assert_eq!(exit["reason"], "killed", "{exit}");
    sc.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_descendant_holding_the_stream_is_ended_after_the_drain_timeout_and_eof_comes() {
    for setsid in [false, true] {
        let (mut sc, client, extra) =
            start_with_client(json!({"stdout": "direct", "drain_timeout_ms": 300})).await;
        let mut args = vec!["hold-pipe"];
        if setsid {
            args.push("--setsid");
        }
        sc.spawn("h", &args, extra).await;
        let mut out = take(&mut client.accept("h", 1).await, "stdout");
        // EOF comes only once the holder is gone.
        let lines = parse_pid_lines(&read_all(&mut out, PATIENCE).await);
        let holder = lines
            .iter()
            .find(|l| l.role == "holder")
            .unwrap_or_else(|| panic!("no holder line: {lines:?}"))
            .pid;
        let exit = exit_after_eofs(&mut sc, "h", &["stdout"]).await;
        assert_eq!(exit["drain"], "timeout", "{exit}");
        let killed: Vec<u64> = ["leftovers_killed", "escapees_killed"]
            .iter()
            .flat_map(|k| exit[*k].as_array().cloned().unwrap_or_default())
            .filter_map(|v| v.as_u64().or_else(|| v["pid"].as_u64()))
            .collect();
        assert!(
            killed.contains(&u64::from(holder)),
            "setsid {setsid}: the holder {holder} was ended: {exit}"
        );
        wait_all_gone(&[holder], PATIENCE).expect("the holder is gone");
        sc.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_never_read_ends_with_the_drain_timeout() {
    let (mut sc, client, extra) =
        start_with_client(json!({"stdout": "direct", "drain_timeout_ms": 200})).await;
    // Never accepted, never reported: the drain gives up on it as on a held pipe.
    sc.spawn("n", &["print", "unread"], extra).await;
    let exit = sc.wait_event("exit", "n").await;
    assert_eq!(exit["code"], 0, "{exit}");
    assert_eq!(exit["drain"], "timeout", "{exit}");
    // What the child wrote still waits in the connection.
    let mut out = take(&mut client.accept("n", 1).await, "stdout");
    assert_eq!(read_all(&mut out, PATIENCE).await, b"unread\n");
    sc.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_nobody_listens_on_fails_the_spawn() {
    let (mut sc, client, mut extra) = start_with_client(json!({"stdout": "direct"})).await;
    extra["direct_socket"] = client.dir.join("nobody").to_str().expect("UTF-8").into();
    sc.send(spawn_request("x", &["print", "never"], extra))
        .await;
    let err = sc.wait_error().await;
    assert_eq!(
        (&err["id"], &err["op"]),
        (&json!("x"), &json!("spawn")),
        "{err}"
    );
    assert_eq!(err["code"], "spawn_failed", "{err}");
    sc.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shutdown_waits_for_no_eof() {
    for how in ["eof", "sigterm"] {
        // A direct child whose stream nobody reads when the sidecar ends, and a ladder
        // shorter than the drain timeout: the shutdown waits for no `eof`, so a
        // signalled sidecar still writes every event in time (exit status 0).
        // The client stays listening until the end of the round.
        let (mut sc, _client, extra) =
            start_with_client(json!({"stdout": "direct", "grace_ms": 0, "drain_timeout_ms": 5000}))
                .await;
        let spawned = sc.spawn("s", &["sleep", "600000"], extra).await;
        let pid = spawned["pid"].as_u64().expect("pid") as u32;
        match how {
            "eof" => sc.close_stdin(),
            _ => send_signal(sc.pid, libc::SIGTERM),
        }
        let events = sc.read_to_eof().await;
        assert!(
            events.iter().any(|e| e["event"] == "exit"),
            "{how}: {events:?}"
        );
        assert_eq!(sc.wait_exit().await, Some(0), "{how}");
        wait_all_gone(&[pid], PATIENCE).expect("the child is gone");
    }
}
