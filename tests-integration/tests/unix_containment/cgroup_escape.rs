//! A process that leaves its tree's cgroup (writes its pid to another cgroup's
//! `cgroup.procs` — kennel's own, the root, or a fresh one it creates) and then
//! `setsid`s / double-forks still dies with the tree, however the run ends: the final
//! sweep finds it as a descendant of the leader or as an orphan adopted by `kennel run`
//! (a child subreaper), and the report names it.
//!
//! Needs root (moving between cgroups) and a writable cgroup v2.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use crate::*;

/// The (read-write) cgroup2 mount — `/sys/fs/cgroup`, or `/sys/fs/cgroup/unified` on
/// a hybrid host — and our own cgroup's directory in it.
fn own_cgroup() -> (PathBuf, PathBuf) {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mount = mountinfo
        .lines()
        .find_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let mut fields = left.split_whitespace();
            let point = fields.nth(4)?;
            let options = fields.next()?;
            (right.starts_with("cgroup2 ") && options.starts_with("rw"))
                .then(|| PathBuf::from(point))
        })
        .expect("a cgroup2 mount");
    let text = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let own = text.lines().find_map(|l| l.strip_prefix("0::")).unwrap();
    let dir = mount.join(own.trim_start_matches('/'));
    (mount, dir)
}

#[derive(Clone, Copy, Debug)]
enum Dest {
    /// kennel's own cgroup (the one `kennel run` runs in: ours).
    Kennel,
    /// The root cgroup.
    Root,
    /// A fresh cgroup the child creates next to kennel's per-child cgroups.
    Fresh,
}

#[derive(Clone, Copy, Debug)]
enum End {
    /// `--timeout`: the leader is still running.
    Timeout,
    /// SIGTERM to `kennel run` from outside: the ladder.
    Cancel,
    /// The leader exits by itself after daemonizing.
    LeaderExit,
}

fn escape(dest: Dest, end: End) {
    if !cgroup_available("cgroup escapes") || unsafe { libc::getuid() } != 0 {
        eprintln!("note: cgroup escapes need root and a writable cgroup v2; not tested");
        return;
    }
    let mark = marker();
    let (mount, own) = own_cgroup();
    let target = match dest {
        Dest::Kennel => own.clone(),
        Dest::Root => mount,
        Dest::Fresh => own.join(format!("escape-{}", mark.1)),
    };
    // The fresh cgroup is removed however the test ends (empty by then, or the
    // survivors were killed by the failing assertion).
    struct RemoveDir(Option<PathBuf>);
    impl Drop for RemoveDir {
        fn drop(&mut self) {
            if let Some(dir) = &self.0 {
                let _ = std::fs::remove_dir(dir);
            }
        }
    }
    let _fresh = RemoveDir(matches!(dest, Dest::Fresh).then(|| target.clone()));
    let report = std::env::temp_dir().join(format!("kennel-escape-{}.json", mark.1));
    let mut args: Vec<String> = vec![
        "run".into(),
        "--report".into(),
        report.display().to_string(),
    ];
    if matches!(end, End::Timeout) {
        args.extend(["--timeout".into(), "1s".into()]);
    }
    args.extend(["--".into(), FIXTURE.into(), "daemon".into()]);
    if !matches!(end, End::LeaderExit) {
        args.push("--leader-stays".into());
    }
    let mut run = std::process::Command::new(KENNEL)
        .args(&args)
        .env(&mark.0, &mark.1)
        .env("KENNEL_FIXTURE_CGROUP", &target)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    if matches!(end, End::Cancel) {
        // Once the daemon printed and told the leader, it has left: cancel from outside.
        use std::io::BufRead as _;
        let mut out = std::io::BufReader::new(run.stdout.take().unwrap());
        let mut line = String::new();
        while !line.contains("daemon") {
            line.clear();
            assert!(out.read_line(&mut line).unwrap() > 0, "daemon line");
        }
        crate::escape_run::await_handshake_done(&mark, &line);
        // SAFETY: kill(2) on the process we started.
        unsafe { libc::kill(run.id() as libc::pid_t, libc::SIGTERM) };
    }
    let status = run.wait().unwrap();
    let text = std::fs::read_to_string(&report).unwrap();
    let _ = std::fs::remove_file(&report);
    let what = format!("{dest:?} {end:?}: {text}");
    match end {
        End::Timeout => assert_eq!(status.code(), Some(124), "{what}"),
        End::Cancel => assert_eq!(status.code(), Some(128 + 15), "{what}"),
        End::LeaderExit => assert_eq!(status.code(), Some(0), "{what}"),
    }
    // Right after kennel run exits, nothing of the tree runs. (kennel's guard carries
    // the marker too, as kennel's child: it exits on its own once it sees kennel gone.)
    let tree: Vec<u32> = marked(&mark)
        .into_iter()
        .filter(|&p| !kennel_tests::cmdline_of(p).is_some_and(|c| c.contains("__kennel-guard")))
        .collect();
    if !tree.is_empty() {
        assert_no_survivors(&mark, Duration::ZERO, &what);
    }
    assert_no_survivors(&mark, Duration::from_secs(5), &format!("the guard: {what}"));
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["containment"], "cgroup", "{what}");
    let layers = report["layers"].as_array().unwrap();
    assert!(
        layers.iter().any(|l| l == "subreaper"),
        "kennel run is a subreaper: {what}"
    );
    let escapees = report["escapees_killed"].as_array().unwrap();
    assert!(!escapees.is_empty(), "the escapee is reported: {what}");
}

cases! { escape:
    to_kennels_own_cgroup_then_timeout(Dest::Kennel, End::Timeout);
    to_kennels_own_cgroup_then_cancel(Dest::Kennel, End::Cancel);
    to_kennels_own_cgroup_then_leader_exit(Dest::Kennel, End::LeaderExit);
    to_the_root_cgroup_then_timeout(Dest::Root, End::Timeout);
    to_the_root_cgroup_then_leader_exit(Dest::Root, End::LeaderExit);
    to_a_fresh_cgroup_then_cancel(Dest::Fresh, End::Cancel);
    to_a_fresh_cgroup_then_timeout(Dest::Fresh, End::Timeout);
}

#[test]
fn the_sidecar_reports_and_kills_an_escapee_on_timeout() {
    if !cgroup_available("cgroup escapes") || unsafe { libc::getuid() } != 0 {
        eprintln!("note: cgroup escapes need root and a writable cgroup v2; not tested");
        return;
    }
    let mark = marker();
    let (_, own) = own_cgroup();
    let spawn = serde_json::json!({"op": "spawn", "id": "e", "cmd": FIXTURE,
        "args": ["daemon", "--leader-stays"], "timeout_ms": 500,
        "env": {&mark.0: &mark.1, "KENNEL_FIXTURE_CGROUP": own.display().to_string()}});
    let (mut sc, input, events) = serve_with(&spawn);
    let mut lines = std::iter::from_fn(|| events.recv_timeout(PATIENCE).ok());
    let exit = lines
        .by_ref()
        .map(|line| serde_json::from_str::<serde_json::Value>(&line).unwrap())
        .find(|e| e["event"] == "exit")
        .expect("exit event");
    assert_eq!(exit["reason"], "timed_out", "{exit}");
    let escapees = exit["escapees_killed"].as_array().unwrap();
    assert!(!escapees.is_empty(), "{exit}");
    assert!(
        exit["layers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == "subreaper"),
        "{exit}"
    );
    // Right after the exit event, nothing of the tree runs; the sidecar still serves.
    assert_no_survivors(&mark, Duration::ZERO, &exit.to_string());
    drop(input);
    assert!(lines.any(|l| l.contains("\"bye\"")), "bye");
    assert_eq!(sc.wait().unwrap().code(), Some(0));
}
