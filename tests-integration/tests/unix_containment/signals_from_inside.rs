//! A child cannot end its supervisor with a signal: SIGTERM/SIGINT/SIGHUP sent to
//! `kennel run` or `kennel serve` by a process of a supervised tree are ignored (and
//! said so on stderr); the same signals from outside keep their meaning.

use std::io::{BufRead, BufReader, Read as _, Write as _};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::*;

/// Read `stderr` lines (in a thread) until every one of `needles` was seen on an
/// `ignored` line, or EOF, or the deadline.
fn wait_ignored(stderr: impl BufRead + Send + 'static, needles: &[&str]) -> Vec<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + PATIENCE;
    let mut seen: Vec<String> = Vec::new();
    let done = |seen: &[String]| {
        needles
            .iter()
            .all(|n| seen.iter().any(|l| l.contains("ignored") && l.contains(n)))
    };
    while !done(&seen) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => break,
        }
    }
    assert!(
        done(&seen),
        "every signal from the tree is ignored: {seen:?}"
    );
    seen
}

/// SIGTERM and SIGINT to kennel's pid, SIGHUP to its process group (distinct signals:
/// two pending SIGTERMs would be delivered once).
const ATTACK: &str =
    "kill -TERM $PPID; kill -INT $PPID; kill -HUP -$PPID; echo sent; exec sleep 600";
const NEEDLES: [&str; 3] = ["SIGTERM", "SIGINT", "SIGHUP"];

#[test]
fn kennel_run_ignores_signals_from_its_tree_and_obeys_the_caller() {
    if !cgroup_available("signals from inside (kennel run is the leader's parent)") {
        return;
    }
    let mark = marker();
    let mut run = kennel_in_own_group(&["run", "--grace", "5s", "--", "sh", "-c", ATTACK], &mark)
        .spawn()
        .unwrap();
    wait_ignored(BufReader::new(run.stderr.take().unwrap()), &NEEDLES);
    // The tree runs on past its signals (its `sent` line), and so does kennel.
    let mut stdout = BufReader::new(run.stdout.take().unwrap());
    let mut out = String::new();
    stdout.read_line(&mut out).unwrap();
    assert_eq!(out, "sent\n");
    // From outside (us): obeyed, the ladder ends the tree.
    sigterm_is_obeyed(&mut run, &"kennel run with an attacker");
    out.clear();
    stdout.read_to_string(&mut out).unwrap();
    assert_eq!(out, "", "nothing after `sent`");
    assert_no_survivors(&mark, Duration::from_secs(5), "kennel run after SIGTERM");
}

#[test]
fn the_sidecar_ignores_signals_from_a_tree_and_keeps_serving() {
    let mark = marker();
    let mut sc = kennel_in_own_group(&["serve"], &mark)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = sc.id();
    let mut input = sc.stdin.take().unwrap();
    let mut events = BufReader::new(sc.stdout.take().unwrap()).lines();
    let stderr = BufReader::new(sc.stderr.take().unwrap());
    // Both children: the attacker signals the sidecar by pid and by group.
    let attack = ATTACK.replace("$PPID", &pid.to_string());
    let spawn = |id: &str, cmd: &str, args: &[&str]| {
        let mut v = serde_json::json!({"op": "spawn", "id": id, "cmd": cmd, "args": args,
            "env": {&mark.0: &mark.1}});
        if id == "echo" {
            v["stdin"] = "pipe".into();
        }
        format!("{v}\n")
    };
    input
        .write_all(spawn("echo", FIXTURE, &["echo-stdin"]).as_bytes())
        .unwrap();
    input
        .write_all(spawn("attacker", "sh", &["-c", &attack]).as_bytes())
        .unwrap();
    wait_ignored(stderr, &NEEDLES);
    // Still serving: the bystander echoes.
    input
        .write_all(b"{\"op\":\"write\",\"id\":\"echo\",\"data\":\"still here\\n\"}\n")
        .unwrap();
    let mut echoed = false;
    let mut sent = false;
    for line in events.by_ref() {
        let e: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        assert_ne!(e["event"], "bye", "the sidecar shut down: {e}");
        assert_ne!(e["event"], "exit", "a child ended: {e}");
        if e["event"] == "stdout" && e["id"] == "echo" {
            echoed |= e["data"].as_str().unwrap_or("").contains("still here");
        }
        if e["event"] == "stdout" && e["id"] == "attacker" {
            sent = true;
        }
        if echoed && sent {
            break;
        }
    }
    // From outside: obeyed, a clean shutdown.
    send_signal(pid, libc::SIGTERM);
    let mut bye = None;
    for line in events {
        let e: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        if e["event"] == "bye" {
            bye = Some(e);
        }
    }
    assert_eq!(bye.expect("bye")["reason"], "signal");
    assert_eq!(sc.wait().unwrap().code(), Some(0));
    drop(input);
    assert_no_survivors(&mark, Duration::from_secs(5), "the sidecar after SIGTERM");
}

fn send_signal(pid: u32, signal: i32) {
    // SAFETY: kill(2) on a process we started, with a valid signal number.
    let rc = unsafe { libc::kill(pid as libc::pid_t, signal) };
    assert_eq!(rc, 0, "kill({pid}, {signal})");
}

#[test]
fn a_child_cannot_end_its_keeper() {
    // Without the cgroup tier the keeper is the leader's parent: `kill $PPID` reaches
    // it. It ignores SIGINT/SIGTERM/SIGHUP (it ends when kennel does), and the program
    // it starts has the default dispositions again.
    let mark = marker();
    let out = std::process::Command::new(KENNEL)
        .args(["run", "--no-cgroup", "--", "sh", "-c"])
        .arg(
            "kill -TERM $PPID; kill -INT $PPID; kill -HUP $PPID; \
             grep -E '^Sig(Ign|Cgt)' /proc/$$/status; echo alive",
        )
        .env(&mark.0, &mark.1)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.ends_with("alive\n"), "{text}");
    // The shell's own ignored set, as it started: nothing of INT/TERM/HUP (bits 2, 15, 1)
    // inherited from the keeper.
    let ignored = text
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .map(|hex| u64::from_str_radix(hex.trim(), 16).unwrap())
        .unwrap();
    let term_int_hup = (1 << (15 - 1)) | (1 << (2 - 1)) | (1 << (1 - 1));
    assert_eq!(ignored & term_int_hup, 0, "{text}");
    assert_no_survivors(&mark, Duration::from_secs(5), "kennel run --no-cgroup");
}
