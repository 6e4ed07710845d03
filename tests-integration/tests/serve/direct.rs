//! `"direct"` output streams: the child writes into a FIFO the client reads itself; the
//! sidecar holds it until `attach`, and removes its FIFO directory when it exits.

use std::path::{Path, PathBuf};
use std::time::Instant;

use kennel_tests::pattern::{PatternChecker, PatternKind};
use serde_json::{json, Value};
use tokio::io::AsyncReadExt as _;
use tokio::net::unix::pipe;

use crate::prelude::*;

const MIB: usize = 1 << 20;

/// Opens a direct stream's FIFO for reading (non-blocking: never waits for a writer).
fn open(spawned: &Value, stream: &str) -> pipe::Receiver {
    let path = spawned[format!("{stream}_fifo")]
        .as_str()
        .unwrap_or_else(|| panic!("no {stream}_fifo in {spawned}"));
    pipe::OpenOptions::new()
        .open_receiver(path)
        .unwrap_or_else(|e| panic!("open {path}: {e}"))
}

/// Sends `attach` for `id` and waits for its `ack`.
async fn attach(sc: &mut Sidecar, id: &str) {
    sc.send(request::attach(id, "at")).await;
    let ack = sc
        .wait_for("attach's answer", |e| {
            e["id"] == id && (e["event"] == "ack" || e["event"] == "error")
        })
        .await;
    assert_eq!(ack["event"], "ack", "{ack}");
    assert_eq!(ack["op"], "attach", "{ack}");
}

/// Reads to EOF, checking every byte against the fixture's `kind` pattern; returns the
/// byte count.
async fn read_checked(rx: &mut pipe::Receiver, kind: PatternKind) -> u64 {
    let mut checker = PatternChecker::new(kind);
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = tokio::time::timeout(PATIENCE, rx.read(&mut buf))
            .await
            .expect("EOF on the direct stream in time")
            .expect("read the FIFO");
        if n == 0 {
            return checker.len();
        }
        checker
            .feed(&buf[..n])
            .unwrap_or_else(|e| panic!("not the pattern: {e}"));
    }
}

async fn read_all(rx: &mut pipe::Receiver) -> Vec<u8> {
    let mut out = Vec::new();
    tokio::time::timeout(PATIENCE, rx.read_to_end(&mut out))
        .await
        .expect("EOF on the direct stream in time")
        .expect("read the FIFO");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_64_mib_flood_arrives_whole_and_in_order() {
    let mut sc = Sidecar::start().await;
    assert!(
        sc.hello["features"]
            .as_array()
            .is_some_and(|f| f.contains(&json!("direct_streams"))),
        "{}",
        sc.hello
    );
    let n = 64 * MIB;
    let args = ["binary", "--bytes", &n.to_string(), "--stderr"];
    let spawned = sc
        .spawn("f", &args, json!({"stdout": "direct", "stderr": "direct"}))
        .await;
    let (mut out, mut err) = (open(&spawned, "stdout"), open(&spawned, "stderr"));
    attach(&mut sc, "f").await;
    let (out_len, err_len) = tokio::join!(
        read_checked(&mut out, PatternKind::Binary),
        read_checked(&mut err, PatternKind::Binary)
    );
    assert_eq!((out_len, err_len), (n as u64, n as u64));
    let exit = sc.wait_event("exit", "f").await;
    assert_eq!(exit["code"], 0, "{exit}");
    // The sidecar never saw the bytes: it counts none.
    assert_eq!(exit["stdout"]["bytes"], 0, "{exit}");
    assert!(sc.events_of("f").iter().all(|e| e["event"] != "stdout"));
    assert_child_order(&sc.events_of("f"));
    sc.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_written_before_the_client_attaches_is_kept() {
    let mut sc = Sidecar::start().await;
    let spawned = sc
        .spawn(
            "p",
            &["print", "hello", "--stderr", "world"],
            json!({"stdout": "direct", "stderr": "direct"}),
        )
        .await;
    let pid = spawned["pid"].as_u64().expect("pid") as u32;
    // The child wrote and exited (its tree ended) before anyone opened the FIFOs.
    wait_all_gone(&[pid], PATIENCE).expect("the child exits");
    let (mut out, mut err) = (open(&spawned, "stdout"), open(&spawned, "stderr"));
    attach(&mut sc, "p").await;
    assert_eq!(read_all(&mut out).await, b"hello\n");
    assert_eq!(read_all(&mut err).await, b"world\n");
    let exit = sc.wait_event("exit", "p").await;
    assert_eq!(exit["code"], 0, "{exit}");
    // The `exit` waited for the `attach`: its answer came first.
    assert_child_order(&sc.events_of("p"));
    sc.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unread_direct_child_blocks_alone() {
    let mut sc = Sidecar::start().await;
    let spawned = sc
        .spawn(
            "unread",
            &["flood", "--bytes", "1073741824"],
            json!({"stdout": "direct"}),
        )
        .await;
    let unread_pid = spawned["pid"].as_u64().expect("pid") as u32;
    // Attached and never read: the FIFO fills, and the child blocks in its write.
    let _unread = open(&spawned, "stdout");
    attach(&mut sc, "unread").await;
    let n = 64 * MIB;
    let started = Instant::now();
    let spawned = sc
        .spawn(
            "read",
            &["flood", "--bytes", &n.to_string()],
            json!({"stdout": "direct"}),
        )
        .await;
    let mut out = open(&spawned, "stdout");
    attach(&mut sc, "read").await;
    assert_eq!(read_checked(&mut out, PatternKind::Text).await, n as u64);
    let exit = sc.wait_event("exit", "read").await;
    assert_eq!(exit["code"], 0, "{exit}");
    eprintln!("64 MiB beside an unread flood: {:?}", started.elapsed());
    // Meanwhile the unread child wrote no more than its FIFO holds (at most 1 MiB for an
    // unprivileged pipe; 64 KiB by default).
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
async fn a_descendant_holding_the_fifo_is_ended_and_eof_comes() {
    for setsid in [false, true] {
        let mut sc = Sidecar::start().await;
        let mut args = vec!["hold-pipe"];
        if setsid {
            args.push("--setsid");
        }
        let spawned = sc
            .spawn(
                "h",
                &args,
                json!({"stdout": "direct", "drain_timeout_ms": 300}),
            )
            .await;
        let mut out = open(&spawned, "stdout");
        attach(&mut sc, "h").await;
        // EOF comes only once the holder is gone.
        let lines = parse_pid_lines(&read_all(&mut out).await);
        let holder = lines
            .iter()
            .find(|l| l.role == "holder")
            .unwrap_or_else(|| panic!("no holder line: {lines:?}"))
            .pid;
        let exit = sc.wait_event("exit", "h").await;
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
async fn a_client_that_never_attaches_gets_the_exit_after_the_drain_timeout() {
    let mut sc = Sidecar::start().await;
    let spawned = sc
        .spawn(
            "n",
            &["print", "lost"],
            json!({"stdout": "direct", "drain_timeout_ms": 200}),
        )
        .await;
    let path = PathBuf::from(spawned["stdout_fifo"].as_str().expect("a FIFO"));
    let exit = sc.wait_event("exit", "n").await;
    assert_eq!(exit["code"], 0, "{exit}");
    assert!(!path.exists(), "{} is unlinked at the exit", path.display());
    sc.finish().await;
}

/// The FIFO directory of sidecar `pid`, if it exists.
fn fifo_dir(pid: u32) -> Option<PathBuf> {
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|d| d.is_absolute() && d.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    fifo_dir_in(&base, pid)
}

/// The FIFO directory of sidecar `pid` under `base`, if it exists.
fn fifo_dir_in(base: &Path, pid: u32) -> Option<PathBuf> {
    let prefix = format!("kennel-serve-{pid}-");
    std::fs::read_dir(base)
        .expect("read the FIFO base directory")
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
}

fn assert_private_dir(dir: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(dir).expect("stat").permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "{}", dir.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fifo_directory_is_removed_at_eof_and_at_sigterm() {
    for how in ["eof", "sigterm"] {
        let mut sc = Sidecar::start().await;
        let dir = fifo_dir(sc.pid).expect("the sidecar made its FIFO directory");
        assert_private_dir(&dir);
        // A child with a FIFO still held (never attached) when the sidecar ends, and a
        // ladder shorter than the drain timeout: the shutdown waits for no `attach`, so
        // a signalled sidecar still writes every event in time (exit status 0).
        let extra = json!({"stdout": "direct", "grace_ms": 0, "drain_timeout_ms": 5000});
        sc.spawn("s", &["sleep", "600000"], extra).await;
        match how {
            "eof" => sc.close_stdin(),
            _ => send_signal(sc.pid, libc::SIGTERM),
        }
        sc.read_to_eof().await;
        assert_eq!(sc.wait_exit().await, Some(0), "{how}");
        assert!(!dir.exists(), "{how}: {} is removed", dir.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_sigkill_the_next_sidecar_sweeps_the_stale_directory() {
    // A base directory of this test's own: no other test's sidecar sweeps it meanwhile.
    let base = std::env::temp_dir().join(format!("kennel-direct-sweep-{}", std::process::id()));
    std::fs::create_dir_all(&base).expect("make the base directory");
    let env = [("XDG_RUNTIME_DIR", base.to_str().expect("a UTF-8 path"))];
    let mut sc = Sidecar::start_with_env(&env).await;
    let dir = fifo_dir_in(&base, sc.pid).expect("the sidecar made its FIFO directory");
    sc.spawn("s", &["sleep", "600000"], json!({"stdout": "direct"}))
        .await;
    send_signal(sc.pid, libc::SIGKILL);
    assert_eq!(sc.wait_exit().await, None);
    // SIGKILL leaves no chance to clean up.
    assert!(dir.exists(), "{} stays after SIGKILL", dir.display());
    // The same dead pid, named as if from another PID namespace: not ours to judge.
    let foreign = base.join(format!("kennel-serve-{}-0-1", sc.pid));
    std::fs::create_dir(&foreign).expect("make a foreign directory");
    let mut next = Sidecar::start_with_env(&env).await;
    assert!(!dir.exists(), "the next sidecar removed {}", dir.display());
    assert!(
        foreign.exists(),
        "{} (another namespace) was left alone",
        foreign.display()
    );
    assert!(fifo_dir_in(&base, next.pid).is_some());
    next.finish().await;
    assert_eq!(next.wait_exit().await, Some(0));
    std::fs::remove_dir(&foreign).expect("remove the foreign directory");
    std::fs::remove_dir(&base).expect("nothing else is left in the base directory");
}
