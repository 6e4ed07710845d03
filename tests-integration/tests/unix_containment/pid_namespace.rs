//! The PID-namespace tier (`kennel run --pid-namespace`): the tree runs in a PID
//! namespace whose init is kennel's keeper. A child that leaves its cgroup — to
//! kennel's own, the root, a sibling or a fresh one — and then `setsid`s and
//! double-forks still dies with the tree by timeout, cancel and leader exit (the init
//! signals the whole namespace, cgroup or not), and also
//! by a `kill -9` of `kennel run` or `kennel serve` — what the cgroup tier cannot
//! promise (its guard knows only cgroups). As root, and as `nobody` (a user namespace,
//! with a delegated cgroup subtree). Signals and `ptrace` from inside do not reach
//! kennel: it has no pid in the namespace. (The escape cases are rows of
//! `escape_run.rs`'s table; their checks are [`judge`].)

use std::io::BufRead as _;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use kennel::Containment;

use crate::escape_run::{assert_tree_gone, delegated, Dest, End, Ended, Escape, EscapeRun};
use crate::*;

/// Whether kennel offers PID namespaces here; if not, a note — or a failure where
/// util-linux's `unshare -Urpf --mount-proc` shows that the host can make them.
pub fn available(what: &str) -> bool {
    kennel::keeper::use_program(KENNEL);
    if kennel::available_containment().contains(&Containment::PidNamespace) {
        return true;
    }
    let host_can = std::process::Command::new("unshare")
        .args(["-Urpf", "--mount-proc", "true"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        !host_can,
        "unshare makes PID namespaces here, but kennel does not offer the tier"
    );
    eprintln!("note: no PID namespace can be made here; {what} is not tested");
    false
}

/// The checks of an escape in a PID namespace (`mark`, described by `what`): the run
/// ended as `end` says, and nothing of the tree is left, the escapee included.
pub fn judge(mark: &(String, String), end: End, ended: &Ended, what: &str) {
    let Some(expected) = end.code() else {
        use std::os::unix::process::ExitStatusExt as _;
        assert_eq!(ended.status.signal(), Some(libc::SIGKILL), "{what}");
        // The keeper reads EOF and ends the namespace (or dies trying: the kernel
        // ends it then).
        assert_no_survivors(mark, PATIENCE, what);
        return;
    };
    assert_eq!(ended.status.code(), Some(expected), "{what}");
    assert_tree_gone(mark, what);
    let report: serde_json::Value = serde_json::from_str(&ended.report).expect("report");
    assert_eq!(report["containment"], "pid_namespace", "{what}");
    let layers = report["layers"].as_array().expect("layers");
    assert!(layers.iter().any(|l| l == "cgroup"), "{what}");
    // Leaving the cgroup is no escape here: the init's signals reach every process of
    // the namespace, so the escapee ends with the tree — by the ladder's signal, or as
    // a leftover after the leader's exit.
    if matches!(end, End::LeaderExit) {
        let leftovers = report["leftovers_killed"]
            .as_array()
            .expect("leftovers_killed");
        assert!(!leftovers.is_empty(), "the escapee is a leftover: {what}");
    }
}

/// What the child sees: it is pid 2 (kennel's init is 1), and `/proc` lists only its
/// namespace. The report names the tier and the host's pid of the leader.
#[test]
fn in_a_pid_namespace_the_leader_is_pid_2_and_proc_shows_only_the_tree() {
    if !available("the child's view of a PID namespace") {
        return;
    }
    let out = std::process::Command::new(KENNEL)
        .args(["run", "--pid-namespace", "--report", "/dev/stderr", "--"])
        .args(["sh", "-c", "echo $$ $PPID; ls /proc | grep -c '^[0-9]'"])
        .stdin(Stdio::null())
        .output()
        .expect("kennel run");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("2 1"), "{text}");
    let listed: u32 = lines.next().and_then(|l| l.parse().ok()).expect("a count");
    // init, sh, ls, grep — never the host's hundreds.
    assert!(
        (2..=6).contains(&listed),
        "{listed} processes in /proc: {text}"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&out.stderr).expect("the report on stderr");
    assert_eq!(report["containment"], "pid_namespace", "{report}");
    assert_ne!(
        report["pid"], 2,
        "the report gives the host's pid: {report}"
    );
}

/// `kill $PPID` (the init: pid 1 ignores signals it has no handler for, even SIGKILL,
/// from its own namespace) and `ptrace` of every ancestor from inside: kennel keeps
/// running, then obeys its caller.
#[test]
fn a_child_in_a_pid_namespace_cannot_signal_or_trace_kennel() {
    if !available("signals from inside a PID namespace") {
        return;
    }
    let mark = marker();
    let script = format!(
        "kill -TERM $PPID; kill -KILL $PPID; kill -HUP -$PPID; {FIXTURE} attack-ancestors --include-init; \
         echo sent; exec sleep 600"
    );
    let args = [
        "run",
        "--pid-namespace",
        "--grace",
        "5s",
        "--",
        "sh",
        "-c",
        &script,
    ];
    let mut cmd = kennel_in_own_group(&args, &mark);
    cmd.stderr(Stdio::inherit());
    // As root the child could trace its init (CAP_SYS_PTRACE): attack as nobody.
    let deleg = delegated(&mark);
    if let Some(d) = &deleg {
        d.run_as(&mut cmd);
    }
    let mut run = cmd.spawn().expect("kennel run");
    let mut stdout = std::io::BufReader::new(run.stdout.take().expect("stdout"));
    let mut seen = Vec::new();
    loop {
        let mut line = String::new();
        assert!(stdout.read_line(&mut line).expect("read") > 0, "{seen:?}");
        if line.trim() == "sent" {
            break;
        }
        seen.push(line);
    }
    let ancestors: Vec<&String> = seen.iter().filter(|l| l.contains("ancestor ")).collect();
    // Inside, the chain ends at the init (pid 1): kennel itself has no pid here.
    let init = ancestors.last().expect("at least the init");
    assert!(init.starts_with("ancestor 1 "), "{seen:?}");
    if deleg.is_some() {
        assert!(
            init.contains("ptrace=EPERM"),
            "the init is not traceable: {seen:?}"
        );
    }
    sigterm_is_obeyed(&mut run, &seen);
    assert_no_survivors(&mark, Duration::from_secs(5), "kennel run after SIGTERM");
}

/// A marker and a fresh cgroup (under ours) for a root test of a PID namespace's
/// escapee, or `None` with a note where the tier, the cgroups or root are missing.
fn fresh_escape_as_root(what: &str) -> Option<((String, String), Escape)> {
    if !available(what) || !cgroup_available("cgroup escapes") {
        return None;
    }
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } != 0 {
        eprintln!("note: {what} needs root (to move cgroups)");
        return None;
    }
    let mark = marker();
    let escape = Escape::new(false, Dest::Fresh, &mark)?;
    Some((mark, escape))
}

/// `kill -9` of the sidecar after one of its trees escaped its cgroup: nothing of that
/// tree survives when it runs in a PID namespace.
#[test]
fn pidns_escapee_dies_with_a_kill_9_of_the_sidecar() {
    let Some((mark, escape)) = fresh_escape_as_root("escapes from a PID namespace") else {
        return;
    };
    let spawn = serde_json::json!({"op": "spawn", "id": "e", "cmd": FIXTURE,
        "args": ["daemon", "--leader-stays"], "containment": {"pid_namespace": true},
        "env": {&mark.0: &mark.1, "KENNEL_FIXTURE_CGROUP": escape.target.display().to_string()}});
    let (mut sc, _input, events) = serve_with(&spawn);
    let mut spawned = None;
    while let Ok(line) = events.recv_timeout(PATIENCE) {
        if line.contains("\"spawned\"") {
            spawned = Some(line.clone());
        }
        if line.contains("daemon") {
            break;
        }
    }
    let spawned = spawned.expect("spawned event");
    assert!(spawned.contains("pid_namespace"), "{spawned}");
    sc.kill().expect("kill -9 the sidecar");
    sc.wait().expect("reap");
    assert_no_survivors(&mark, PATIENCE, "after kill -9 of the sidecar");
}

/// The tree's cgroup removed from under its keeper: once a supervisor is dead, another
/// kennel process sweeps its empty `kennel-<pid>-N` cgroups (`limits::sweep_stale`),
/// and a cgroup the child escaped from is empty. The keeper must still end the
/// namespace after the `kill -9` of `kennel run` (it used to take the missing
/// `cgroup.events` for "populated" and kill an empty tree forever: 13 of 24 parallel
/// runs of these tests). The directory is removed before the kill, so the keeper finds
/// it gone every time.
#[test]
fn pidns_keeper_ends_when_its_cgroup_is_removed_under_it() {
    let Some((mark, escape)) = fresh_escape_as_root("a keeper whose cgroup is removed") else {
        return;
    };
    let run = EscapeRun::start(
        &mark,
        None,
        &["--pid-namespace"],
        Some(&escape.target),
        true,
    );
    run.await_daemon();
    let cgroup = marked(&mark)
        .into_iter()
        .find_map(|p| {
            let cmdline = kennel_tests::cmdline_of(p)?;
            let mut words = cmdline.split(' ').skip_while(|w| *w != "__kennel-keeper");
            words.nth(1).map(PathBuf::from)
        })
        .expect("the keeper names the tree's cgroup");
    std::fs::remove_dir(&cgroup).expect("the tree's cgroup is empty: its child left it");
    run.signal(libc::SIGKILL);
    let ended = run.wait();
    assert_no_survivors(
        &mark,
        PATIENCE,
        &format!(
            "kill -9 of kennel run, {cgroup:?} removed: {:?}",
            ended.diagnostics
        ),
    );
}
