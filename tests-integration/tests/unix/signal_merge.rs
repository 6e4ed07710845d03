//! A SIGTERM from outside that follows a tree's SIGTERM to kennel must not be merged
//! into it. Standard signals do not queue: while the tree's SIGTERM is pending (sent,
//! not yet taken by a thread of kennel) a second one is dropped by the kernel, and kennel
//! — which ignores a signal whose sender is a process of its trees — never sees the
//! caller's. kennel cannot tell (the kernel keeps no count), so whoever aborts a run
//! right after a tree signalled kennel must wait until kennel has taken that signal: the
//! fixture's `signal-parent` prints its pid line (the matrix's cue to abort) only then.
//!
//! The test makes the window as wide as it can be: kennel is stopped (SIGSTOP) when the
//! leader signals it, so the leader's SIGTERM stays pending until SIGCONT. The leader's
//! output goes to files, not through kennel, so it can be watched meanwhile.

use std::io::Write as _;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use kennel_tests::procfs::{is_stopped, live_with_env_entry};
use kennel_tests::{lines_of, wait_until};

use crate::prelude::*;

/// The gate: the leader (`sh`) opens this FIFO and reads a line from it before it
/// becomes the fixture, so the test can stop kennel first.
const LEADER: &str = r#"read go < "$0" && exec "$1" signal-parent > "$2" 2> "$3""#;

/// `kennel run`, stopped and killed if the test fails midway.
struct Run(std::process::Child);

impl Drop for Run {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            signal(self.0.id(), libc::SIGCONT);
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) on a process this test started, with a valid signal number.
    let rc = unsafe { libc::kill(pid as libc::pid_t, sig) };
    assert_eq!(rc, 0, "kill({pid}, {sig})");
}

/// Whether `signal` is pending in `pid`'s shared set (`ShdPnd`).
fn pending(pid: u32, signal: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("ShdPnd:"))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        })
        .is_some_and(|mask| mask & (1 << (signal - 1)) != 0)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// A fresh directory for the gate and the leader's output, removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch() -> Scratch {
    let dir = std::env::temp_dir().join(format!("kennel-signal-merge-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).unwrap();
    let gate = std::ffi::CString::new(dir.join("gate").as_os_str().as_bytes()).unwrap();
    // SAFETY: mkfifo with a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(gate.as_ptr(), 0o600) }, 0, "mkfifo");
    Scratch(dir)
}

/// Open the gate once the leader is reading it (a FIFO opened for writing without
/// blocking fails with ENXIO until then).
fn open_gate(gate: &Path) -> std::fs::File {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = None;
    let opened = wait_until(PATIENCE, || {
        file = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(gate)
            .ok();
        file.is_some()
    });
    assert!(opened, "the leader never opened its gate");
    file.unwrap()
}

#[test]
fn an_abort_after_signal_parents_pid_line_is_obeyed_even_when_kennel_was_slow() {
    let scratch = scratch();
    let dir = &scratch.0;
    let (out, err) = (dir.join("out"), dir.join("err"));
    let mark = format!("KENNEL_SIGNAL_MERGE={}", std::process::id());
    let mut run = std::process::Command::new(KENNEL);
    run.args(["run", "--grace", "5s", "--", "sh", "-c", LEADER])
        .arg(dir.join("gate"))
        .args([Path::new(FIXTURE), &out, &err])
        .env("KENNEL_SIGNAL_MERGE", std::process::id().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut run = Run(run.spawn().unwrap());
    let kennel = run.0.id();
    let log = lines_of(run.0.stderr.take().unwrap());

    // kennel stopped before the leader signals it: the leader's SIGTERM stays pending.
    let mut gate = open_gate(&dir.join("gate"));
    signal(kennel, libc::SIGSTOP);
    assert!(
        wait_until(PATIENCE, || is_stopped(kennel)),
        "kennel stopped"
    );
    gate.write_all(b"go\n").unwrap();
    drop(gate);
    assert!(
        wait_until(PATIENCE, || pending(kennel, libc::SIGTERM)),
        "the leader's SIGTERM is pending in the stopped kennel"
    );
    // The leader says it waits (or, without the wait, prints its pid line at once).
    assert!(
        wait_until(PATIENCE, || read(&err).contains("waiting until it takes")
            || read(&out).starts_with("pid ")),
        "the leader went on: out {:?}, err {:?}",
        read(&out),
        read(&err)
    );
    assert_eq!(
        read(&out),
        "",
        "no pid line while kennel has the leader's SIGTERM pending: an abort on it would be merged into that signal and lost"
    );

    signal(kennel, libc::SIGCONT);
    assert!(
        wait_until(PATIENCE, || read(&out).ends_with(" leader\n")),
        "the pid line once kennel took the signal: out {:?}, err {:?}",
        read(&out),
        read(&err)
    );
    let leader = read(&out).split(' ').nth(1).unwrap().to_owned();
    // The matrix's abort: a SIGTERM from outside, which kennel obeys.
    signal(kennel, libc::SIGTERM);
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = run.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "kennel ignored the abort");
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(status.code(), Some(128 + libc::SIGTERM), "{status:?}");
    // kennel's stderr up to its end (EOF once kennel and the tree are gone).
    let mut lines = Vec::new();
    while let Ok(line) = log.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        lines.push(line);
    }
    let log = lines;
    assert!(
        log.iter()
            .any(|l| l.contains(&format!("ignored SIGTERM from pid {leader}"))),
        "kennel said it ignored the leader's signal: {log:?}"
    );
    assert!(
        wait_until(Duration::from_secs(5), || live_with_env_entry(&mark)
            .is_empty()),
        "the tree is gone: {:?}",
        live_with_env_entry(&mark)
    );
}
