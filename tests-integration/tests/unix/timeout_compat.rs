//! kennel's `timeout` mode against GNU coreutils' `timeout`, case by case: each row of
//! [`CASES`] runs through `/usr/bin/timeout` and through a link to kennel named
//! `timeout` (both as `argv[0]` `timeout`, in the C locale) and compares the exit code,
//! and stderr where GNU documents a message. Then what kennel adds: the whole tree dies.
//!
//! Rows whose command must be timed out run a fixture that sleeps a minute, so the
//! timing cannot flip a row on a loaded machine; rows whose command must finish give it
//! a minute.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::prelude::*;

const GNU: &str = "/usr/bin/timeout";

/// `F` in a row stands for the fixture binary.
const F: &str = "<fixture>";

/// What to compare besides the exit code.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Check {
    /// Exit code only (stderr differs by design: `--help`, `--version`).
    Code,
    /// Exit code and stderr, byte for byte.
    Stderr,
}

use Check::{Code, Stderr};

/// (arguments, the exit code GNU gives, what else to compare).
const CASES: &[(&[&str], i32, Check)] = &[
    // Usage: 125, and getopt's / timeout's own messages.
    (&[], 125, Stderr),
    (&["5"], 125, Stderr),
    (&["abc", F, "exit", "0"], 125, Stderr),
    (&["1x", F, "exit", "0"], 125, Stderr),
    (&["nan", F, "exit", "0"], 125, Stderr),
    (&["1.5.5", F, "exit", "0"], 125, Stderr),
    (&["-1", F, "exit", "0"], 125, Stderr),
    (&["-s", "FOO", "1", F, "exit", "0"], 125, Stderr),
    (&["-s", "99", "1", F, "exit", "0"], 125, Stderr),
    (&["--foo", "1", F, "exit", "0"], 125, Stderr),
    (&["-x", "1", F, "exit", "0"], 125, Stderr),
    (&["-k"], 125, Stderr),
    (&["-k", "1"], 125, Stderr),
    (&["-k", "abc", "1", F, "exit", "0"], 125, Stderr),
    (&["--sig"], 125, Stderr),
    (&["--signal"], 125, Stderr),
    (&["--verbose=1", "1", F, "exit", "0"], 125, Stderr),
    (&["--ver"], 125, Stderr),
    // --help and --version: success (texts differ).
    (&["--help"], 0, Code),
    (&["--version"], 0, Code),
    (&["--help", "--foo"], 0, Code),
    // Cannot run: 126 / 127 and the message.
    (&["60", "kennel-no-such-program"], 127, Stderr),
    (&["60", ""], 127, Stderr),
    (&["60", "/etc/passwd"], 126, Stderr),
    (&["1", "--", F, "exit", "0"], 127, Stderr),
    // The command's own status.
    (&["--", "60", F, "exit", "0"], 0, Stderr),
    (&["60", F, "exit", "3"], 3, Stderr),
    (&["60", F, "exit", "124"], 124, Stderr),
    (&["60", F, "exit", "125"], 125, Stderr),
    (&["60", F, "kill-self", "INT"], 130, Stderr),
    (&["60", F, "kill-self", "TERM"], 143, Stderr),
    (&["-v", "60", F, "exit", "0"], 0, Stderr),
    (&["--preserve-status", "60", F, "exit", "7"], 7, Stderr),
    // Durations GNU accepts; 0 and inf disable the timeout.
    (&["0", F, "exit", "4"], 4, Stderr),
    (&["0s", F, "exit", "0"], 0, Stderr),
    (&["inf", F, "exit", "0"], 0, Stderr),
    (&[" 60", F, "exit", "0"], 0, Stderr),
    (&["60s", F, "exit", "0"], 0, Stderr),
    (&[".5m", F, "exit", "0"], 0, Stderr),
    (&["1e3", F, "exit", "0"], 0, Stderr),
    (&["1d", F, "exit", "0"], 0, Stderr),
    (&["0x10", F, "exit", "0"], 0, Stderr),
    // Signals GNU accepts.
    (&["-s", "0", "60", F, "exit", "0"], 0, Stderr),
    (&["-s", "sigterm", "60", F, "exit", "0"], 0, Stderr),
    (&["--signal=hup", "60", F, "exit", "0"], 0, Stderr),
    // Timed out: 124, --preserve-status, KILL → 137, the -v messages.
    (&["0.2", F, "sleep", "60000"], 124, Stderr),
    (&["1e-1", F, "sleep", "60000"], 124, Stderr),
    (&["-v", "0.2", F, "sleep", "60000"], 124, Stderr),
    (&["--foreground", "0.2", F, "sleep", "60000"], 124, Stderr),
    (&["-s", "INT", "0.2", F, "sleep", "60000"], 124, Stderr),
    (
        &["--preserve-status", "0.2", F, "sleep", "60000"],
        143,
        Stderr,
    ),
    (
        &["--pres", "-s", "HUP", "0.2", F, "sleep", "60000"],
        129,
        Stderr,
    ),
    (&["-s", "KILL", "0.2", F, "sleep", "60000"], 137, Stderr),
    (
        &["-v", "--sig=kill", "0.2", F, "sleep", "60000"],
        137,
        Stderr,
    ),
    (&["-vs", "9", "0.2", F, "sleep", "60000"], 137, Stderr),
    (
        &[
            "--preserve-status",
            "-s",
            "KILL",
            "0.2",
            F,
            "sleep",
            "60000",
        ],
        137,
        Stderr,
    ),
    (&["-k", "0", "0.2", F, "sleep", "60000"], 124, Stderr),
    (&["-vk60", "0.2", F, "sleep", "60000"], 124, Stderr),
    (
        &["-vs", "INT", "--kill-after=60", "0.2", F, "sleep", "60000"],
        124,
        Stderr,
    ),
    // -k had to kill a command that ignores the signal: 137, two messages.
    (
        &["-v", "-k", "0.2", "0.2", F, "ignore-signals"],
        137,
        Stderr,
    ),
    (
        &["--preserve-status", "-k", "0.2", "0.2", F, "ignore-signals"],
        137,
        Stderr,
    ),
];

/// A directory holding `timeout`, a symlink to the kennel test binary.
fn link_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir =
            std::env::temp_dir().join(format!("kennel-timeout-compat-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let link = dir.join("timeout");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(KENNEL, &link).unwrap();
        dir
    })
}

fn timeout_command(program: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(program);
    cmd.arg0("timeout")
        .args(args.iter().map(|a| if *a == F { FIXTURE } else { a }))
        .env("LC_ALL", "C")
        .stdin(Stdio::null());
    cmd
}

fn run(program: &Path, args: &[&str]) -> Output {
    timeout_command(program, args).output().unwrap()
}

#[test]
fn every_case_matches_gnu_timeout() {
    if !Path::new(GNU).exists() {
        panic!("{GNU} is needed to compare with (coreutils)");
    }
    let kennel = link_dir().join("timeout");
    let mut failures = Vec::new();
    for &(args, expected, check) in CASES {
        let gnu = run(Path::new(GNU), args);
        let ours = run(&kennel, args);
        let text = |o: &Output| String::from_utf8_lossy(&o.stderr).into_owned();
        // GNU dies of the command's signal itself (or of its own SIGKILL after -k)
        // where kennel exits 128+N: a shell's `$?` is the same (docs/NOTES.md).
        let code = |o: &Output| {
            use std::os::unix::process::ExitStatusExt as _;
            o.status.code().or(o.status.signal().map(|s| 128 + s))
        };
        if code(&gnu) != Some(expected) {
            failures.push(format!(
                "{args:?}: GNU itself gave {:?}, the table says {expected}",
                gnu.status
            ));
        }
        if code(&ours) != code(&gnu) {
            failures.push(format!(
                "{args:?}: exit {:?} (GNU {:?}); stderr {:?} (GNU {:?})",
                code(&ours),
                code(&gnu),
                text(&ours),
                text(&gnu)
            ));
        } else if check == Stderr && ours.stderr != gnu.stderr {
            failures.push(format!(
                "{args:?}: stderr {:?}, GNU {:?}",
                text(&ours),
                text(&gnu)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from GNU timeout:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
    eprintln!("{} cases compared with {GNU}", CASES.len());
}

#[test]
fn reached_as_kennel_timeout_and_through_a_hard_link() {
    let out = Command::new(KENNEL)
        .args(["timeout", "-v", "0.2", FIXTURE, "sleep", "60000"])
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(124), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("timeout: sending signal TERM to command"),
        "{out:?}"
    );
    let dir = link_dir().join("hard");
    std::fs::create_dir_all(&dir).unwrap();
    let hard = dir.join("timeout");
    let _ = std::fs::remove_file(&hard);
    if std::fs::hard_link(KENNEL, &hard).is_err() {
        // Another filesystem: a copy is what a hard link looks like to the program.
        std::fs::copy(KENNEL, &hard).unwrap();
    }
    let out = Command::new(&hard)
        .args(["60", FIXTURE, "exit", "5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    let out = Command::new(&hard)
        .args(["-s", "FOO", "1", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    let _ = std::fs::remove_file(&hard);
}

#[test]
fn on_timeout_the_whole_tree_dies_even_a_new_session() {
    // GNU timeout leaves the daemon (it left the process group) running; kennel not.
    let mut child = timeout_command(
        &link_dir().join("timeout"),
        &["5", F, "daemon", "--leader-stays"],
    )
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    let stdout = child.stdout.take().unwrap();
    let rx = kennel_tests::lines_of(stdout);
    let mut pids = Vec::new();
    let deadline = Instant::now() + PATIENCE;
    while pids.len() < 2 {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the leader and the daemon print their pid lines");
        pids.extend(
            parse_pid_lines(format!("{line}\n").as_bytes())
                .iter()
                .map(|l| l.pid),
        );
    }
    let _cleanup = Cleanup(pids.clone());
    assert_ne!(
        sid_of(pids[1]),
        sid_of(pids[0]),
        "the daemon is in a session of its own"
    );
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(124));
    assert_all_gone(&pids);
}

#[test]
fn without_kill_after_a_command_that_ignores_the_signal_runs_on() {
    // As GNU: no escalation without -k (kennel run escalates after --grace; timeout
    // mode does not). Observed for 2 s past the timeout, then ended by a SIGKILL.
    let mut child = timeout_command(&link_dir().join("timeout"), &["0.2", F, "ignore-signals"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    {
        use std::io::BufRead as _;
        let mut reader = std::io::BufReader::new(child.stdout.as_mut().unwrap());
        reader.read_line(&mut line).unwrap();
    }
    let leader = parse_pid_lines(line.as_bytes())[0].pid;
    let _cleanup = Cleanup(vec![leader]);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(2) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "timeout mode escalated without -k"
        );
        assert!(is_alive(leader));
        std::thread::sleep(Duration::from_millis(50));
    }
    kennel_tests::kill_pids(&[leader]);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(137), "timed out, then died of SIGKILL");
}

fn sid_of(pid: u32) -> Option<u32> {
    kennel_tests::sid_of(pid)
}
