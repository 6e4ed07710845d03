//! Forwarded output (`kennel::Forward`, used by `kennel run`): byte-exact through
//! `splice(2)` into a pipe, a file and `/dev/null`; the copy fallback into an `O_APPEND`
//! file and a terminal; counts in the report; caps; the drain timeout and the ladder
//! while the destination is blocked.

use std::fs::{File, OpenOptions};
use std::io::Read as _;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Instant;

use kennel::Forward;

use crate::prelude::*;
use kennel_tests::wait_until;

const BIG: usize = 50 << 20;

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("kennel-forward-{}-{name}", std::process::id()))
}

/// `kennel run --report … -- args…` with the given stdout/stderr; returns the status
/// and the parsed report.
fn run_with(
    args: &[&str],
    stdout: Stdio,
    stderr: Stdio,
    name: &str,
) -> (std::process::ExitStatus, serde_json::Value) {
    let report = temp(&format!("{name}.json"));
    let status = std::process::Command::new(KENNEL)
        .arg("run")
        .arg("--report")
        .arg(&report)
        .arg("--")
        .args(args)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .status()
        .unwrap();
    let json = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    std::fs::remove_file(&report).unwrap();
    (status, json)
}

fn assert_counts(json: &serde_json::Value, stdout: usize, stderr: usize) {
    assert_eq!(json["stdout"]["bytes"], stdout, "{json}");
    assert_eq!(json["stderr"]["bytes"], stderr, "{json}");
    assert_eq!(json["stdout"]["dropped"], 0, "{json}");
    assert_eq!(json["errors"], serde_json::json!([]), "{json}");
    assert_eq!(json["drain"], "complete", "{json}");
}

#[test]
fn fifty_mib_of_binary_through_a_pipe_is_byte_exact() {
    let n = BIG.to_string();
    let out = std::process::Command::new(KENNEL)
        .args([
            "run", "--report", "-", "--", FIXTURE, "binary", "--bytes", &n,
        ])
        .args(["--stderr"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout.len(), BIG);
    verify_binary_prefix(&out.stdout).unwrap();
    // stderr: the pattern, then the report (written after all of the child's output).
    verify_binary_prefix(&out.stderr[..BIG]).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stderr[BIG..]).unwrap();
    assert_counts(&json, BIG, BIG);
}

#[test]
fn fifty_mib_of_binary_into_files_is_byte_exact() {
    let (out_path, err_path) = (temp("out.bin"), temp("err.bin"));
    let n = BIG.to_string();
    let (status, json) = run_with(
        &[FIXTURE, "binary", "--bytes", &n, "--stderr"],
        File::create(&out_path).unwrap().into(),
        File::create(&err_path).unwrap().into(),
        "files",
    );
    assert!(status.success());
    let (out, err) = (
        std::fs::read(&out_path).unwrap(),
        std::fs::read(&err_path).unwrap(),
    );
    std::fs::remove_file(&out_path).unwrap();
    std::fs::remove_file(&err_path).unwrap();
    assert_eq!((out.len(), err.len()), (BIG, BIG));
    verify_binary_prefix(&out).unwrap();
    verify_binary_prefix(&err).unwrap();
    assert_counts(&json, BIG, BIG);
}

#[test]
fn fifty_mib_into_dev_null_is_counted() {
    let n = BIG.to_string();
    let (status, json) = run_with(
        &[FIXTURE, "binary", "--bytes", &n, "--stderr"],
        Stdio::null(),
        Stdio::null(),
        "null",
    );
    assert!(status.success());
    assert_counts(&json, BIG, BIG);
}

/// `O_APPEND` destinations refuse `splice(2)` (`EINVAL`): the copy fallback must take
/// over without losing or repeating a byte, after what the file already held.
#[test]
fn an_append_file_falls_back_to_copying() {
    let path = temp("append.bin");
    std::fs::write(&path, b"before\n").unwrap();
    let append = || OpenOptions::new().append(true).open(&path).unwrap();
    let n = (5 << 20) + 7;
    let (status, json) = run_with(
        &[FIXTURE, "binary", "--bytes", &n.to_string()],
        append().into(),
        Stdio::null(),
        "append",
    );
    let content = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(status.success());
    assert_eq!(&content[..7], b"before\n");
    assert_eq!(content.len(), 7 + n);
    verify_binary_prefix(&content[7..]).unwrap();
    assert_counts(&json, n, 0);
}

/// A terminal is not forwarded: the command gets it itself (colours, line buffering;
/// issue 17), so its bytes are not counted. Under `script(1)`'s pseudo terminal. (The
/// copying fallback for a destination that refuses `splice(2)` is the `O_APPEND` test.)
#[test]
fn a_terminal_is_given_to_the_command_not_forwarded() {
    let script = ["/usr/bin/script", "/bin/script"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("script(1) (util-linux) is needed for the terminal test: apt-get install bsdutils");
    let report = temp("tty.json");
    let inner = format!(
        "{KENNEL} run --report {} -- {FIXTURE} print hello-terminal --stderr hello-stderr",
        report.display()
    );
    let out = std::process::Command::new(script)
        .args(["-q", "-e", "-c", &inner, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("hello-terminal"), "{text:?}");
    assert!(text.contains("hello-stderr"), "{text:?}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    std::fs::remove_file(&report).unwrap();
    assert_counts(&json, 0, 0);
}

/// A descendant holding stdout still ends the wait at the drain timeout, although the
/// stream is forwarded.
#[test]
fn a_background_holder_of_stdout_ends_at_the_drain_timeout() {
    let started = Instant::now();
    let out = std::process::Command::new(KENNEL)
        .args(["run", "--drain-timeout", "300ms", "--report", "-", "--"])
        .args([FIXTURE, "hold-pipe"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let lines = parse_pid_lines(&out.stdout);
    let holder = lines
        .iter()
        .find(|l| l.role == "holder")
        .expect("holder pid line")
        .pid;
    let _cleanup = Cleanup(vec![holder]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(started.elapsed() < PATIENCE);
    let json: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(json["drain"], "timeout", "{json}");
    assert_eq!(json["stdout"]["bytes"], out.stdout.len(), "{json}");
    assert_all_gone(&[holder]);
}

/// While nobody reads kennel's stdout (the destination is full), the timeout still
/// fires and the ladder still ends the tree; the bytes written before are delivered
/// once the reader comes back, and counted.
#[test]
fn a_blocked_destination_does_not_stall_the_timeout_or_the_ladder() {
    let n = (64 << 20).to_string();
    let mut kennel = std::process::Command::new(KENNEL)
        .args(["run", "--timeout", "300ms", "--grace", "200ms", "--report"])
        .arg(temp("blocked.json"))
        .args(["--", FIXTURE, "flood", "--bytes", &n, "--pid-stderr"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = kennel.stderr.take().unwrap();
    let err = kennel_tests::read_pid_lines(&mut stderr, 1);
    let pid = parse_pid_lines(&err)[0].pid;
    let _cleanup = Cleanup(vec![pid]);
    // Not reading stdout: the fixture blocks on a full pipe, kennel on a full stdout.
    assert!(
        wait_until(PATIENCE, || !is_alive(pid)),
        "the ladder did not end the flood while kennel's stdout was full"
    );
    let mut stdout = Vec::new();
    kennel
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut stdout)
        .unwrap();
    let status = kennel.wait().unwrap();
    assert_eq!(status.code(), Some(124));
    verify_text_prefix(&stdout).unwrap();
    let report = temp("blocked.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    std::fs::remove_file(&report).unwrap();
    assert_eq!(json["reason"], "timed_out", "{json}");
    assert_eq!(json["stdout"]["bytes"], stdout.len(), "{json}");
}

/// The library: a cap on a forwarded stream cuts exactly as for events (the stream is
/// copied, not spliced, so the cut can respect UTF-8), and the rest is counted as
/// dropped.
#[tokio::test]
async fn a_cap_on_a_forwarded_stream_cuts_exactly() {
    let path = temp("capped.bin");
    let file = File::create(&path).unwrap();
    let n = 1_000_000u64;
    let mut child = fixture(&["binary", "--bytes", &n.to_string()])
        .forward_stdout(Forward::new(file))
        .stdout_cap(OutputCap::truncate(100_001))
        .spawn()
        .unwrap();
    // Forwarded output makes no events: the first is the exit.
    let Some(Event::Exit(outcome)) = child.next_event().await else {
        panic!("expected only the exit event");
    };
    let content = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    // Same cut as the event path: collect the same output capped as events.
    let events = fixture(&["binary", "--bytes", &n.to_string()])
        .stdout_cap(OutputCap::truncate(100_001))
        .output()
        .await
        .unwrap();
    assert_eq!(content, events.stdout);
    assert_eq!(outcome.stdout.bytes, content.len() as u64);
    assert_eq!(outcome.stdout.dropped, n - content.len() as u64);
    assert!(outcome.stdout.cap_hit);
    verify_binary_prefix(&content).unwrap();
}

/// The library into a pipe it was given: every byte arrives in order and is counted;
/// `stdout(mode)` after `forward_stdout` replaces it.
#[tokio::test]
async fn the_library_forwards_into_a_given_pipe() {
    let (mut reader, writer) = std::io::pipe().unwrap();
    let n = 3_000_017usize;
    let mut child = fixture(&["binary", "--bytes", &n.to_string()])
        .forward_stdout(Forward::new(std::os::fd::OwnedFd::from(writer)))
        .spawn()
        .unwrap();
    let drain = std::thread::spawn(move || {
        let mut all = Vec::new();
        reader.read_to_end(&mut all).map(|_| all)
    });
    let outcome = child.wait().await;
    drop(child);
    assert_eq!(outcome.stdout.bytes, n as u64);
    let all = drain.join().unwrap().unwrap();
    assert_eq!(all.len(), n);
    verify_binary_prefix(&all).unwrap();

    let replaced = fixture(&["print", "events"])
        .forward_stdout(Forward::stdout().unwrap())
        .stdout(kennel::OutputMode::Piped)
        .output()
        .await
        .unwrap();
    assert_eq!(replaced.stdout, b"events\n");
}
