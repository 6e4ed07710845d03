//! One `kennel run --report <file> … -- kennel-fixture daemon [--leader-stays]` whose
//! fixture first leaves its cgroup (`KENNEL_FIXTURE_CGROUP`), as root or as the user of
//! a delegated subtree: what the escape tests start, watch and end — and the one table
//! of those tests (cgroup and PID-namespace tiers, root and unprivileged), whose checks
//! each tier's file keeps (`cgroup_escape::judge`, `pid_namespace::judge`).

use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use kennel_tests::delegated::{Delegated, NOBODY};

use kennel::Containment;

use crate::*;

/// How an escape run ends.
#[derive(Clone, Copy, Debug)]
pub enum End {
    /// `--timeout 1s`: the leader is still running.
    Timeout,
    /// SIGTERM to `kennel run` from outside once the daemon printed: the ladder.
    Cancel,
    /// The leader exits by itself after daemonizing.
    LeaderExit,
    /// `kill -9` of `kennel run` once the daemon printed.
    Kill9,
}

impl End {
    /// `kennel run`'s extra switches for this end.
    pub fn kennel_args(self) -> &'static [&'static str] {
        match self {
            End::Timeout => &["--timeout", "1s"],
            _ => &[],
        }
    }

    /// Whether the leader stays (every end but its own exit).
    pub fn leader_stays(self) -> bool {
        !matches!(self, End::LeaderExit)
    }

    /// `kennel run`'s exit code for a tree that ended this way (`None`: killed).
    pub fn code(self) -> Option<i32> {
        match self {
            End::Timeout => Some(124),
            End::Cancel => Some(128 + 15),
            End::LeaderExit => Some(0),
            End::Kill9 => None,
        }
    }
}

/// A started escape run.
pub struct EscapeRun {
    child: Child,
    /// In a PID namespace (`--pid-namespace`): the pids the fixture prints are not ours.
    in_namespace: bool,
    mark: (String, String),
    report: PathBuf,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
}

/// What the run ended with.
pub struct Ended {
    pub status: ExitStatus,
    /// `--report`'s JSON text (empty if kennel run wrote none, e.g. killed).
    pub report: String,
    /// kennel's and the tree's stderr lines.
    pub diagnostics: Vec<String>,
}

impl EscapeRun {
    /// Start `kennel run <kennel_args…> --report <tmp> -- kennel-fixture daemon
    /// [--leader-stays]`, the fixture moving itself to `target` (if any) first; as
    /// `user`'s when given.
    pub fn start(
        mark: &(String, String),
        user: Option<&Delegated>,
        kennel_args: &[&str],
        target: Option<&Path>,
        leader_stays: bool,
    ) -> EscapeRun {
        let flags: &[&str] = if leader_stays {
            &["--leader-stays"]
        } else {
            &[]
        };
        Self::start_with(mark, user, kennel_args, target, flags)
    }

    /// As [`EscapeRun::start`], with the daemon's `flags`.
    pub fn start_with(
        mark: &(String, String),
        user: Option<&Delegated>,
        kennel_args: &[&str],
        target: Option<&Path>,
        flags: &[&str],
    ) -> EscapeRun {
        let report = std::env::temp_dir().join(format!("kennel-escape-run-{}.json", mark.1));
        let mut cmd = std::process::Command::new(KENNEL);
        cmd.arg("run")
            .args(kennel_args)
            .arg("--report")
            .arg(&report)
            .args(["--", FIXTURE, "daemon"])
            .args(flags)
            .env(&mark.0, &mark.1)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(target) = target {
            cmd.env("KENNEL_FIXTURE_CGROUP", target);
        }
        if let Some(user) = user {
            user.run_as(&mut cmd);
        }
        let mut child = cmd.spawn().expect("spawn kennel run");
        let stdout = kennel_tests::lines_of(child.stdout.take().expect("stdout"));
        let stderr = kennel_tests::lines_of(child.stderr.take().expect("stderr"));
        EscapeRun {
            child,
            in_namespace: kennel_args.contains(&"--pid-namespace"),
            mark: mark.clone(),
            report,
            stdout,
            stderr,
        }
    }

    /// Wait for the fixture's `daemon` line: the escapee has left (and printed its pid,
    /// as its own namespace sees it).
    pub fn await_daemon(&self) -> String {
        loop {
            match self.stdout.recv_timeout(PATIENCE) {
                Ok(line) if line.contains("daemon") => return line,
                Ok(_) => {}
                Err(e) => panic!("no daemon line ({e}); stderr: {:?}", self.diagnostics()),
            }
        }
    }

    /// kennel's and the tree's stderr lines read so far.
    fn diagnostics(&self) -> Vec<String> {
        self.stderr.try_iter().collect()
    }

    /// Every stderr line, up to EOF: once kennel run has ended its reader thread may
    /// still be delivering the last lines (reading them with `try_iter` missed the
    /// fixture's own line now and then under load). Nothing but kennel run (and its
    /// guard, until it releases its stdio after its hello) holds the pipe, so EOF
    /// comes soon after kennel run's exit; a pipe still open after [`PATIENCE`] is a
    /// leak.
    fn diagnostics_to_eof(&self) -> Vec<String> {
        let deadline = std::time::Instant::now() + PATIENCE;
        let mut lines = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => lines.push(line),
                Err(RecvTimeoutError::Disconnected) => return lines,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("kennel run's stderr still open {PATIENCE:?} after it ended: {lines:?}")
                }
            }
        }
    }

    /// Bring the run to `end` from outside (cancel, `kill -9`) once the daemon has
    /// left; the other ends come by themselves.
    pub fn end(&self, end: End) {
        let signal = match end {
            End::Cancel => libc::SIGTERM,
            End::Kill9 => libc::SIGKILL,
            End::Timeout | End::LeaderExit => return,
        };
        let line = self.await_daemon();
        if !self.in_namespace {
            await_handshake_done(&self.mark, &line);
        }
        self.signal(signal);
    }

    /// Send `signal` to kennel run.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on the process we started and have not reaped.
        unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
    }

    /// Wait for kennel run to end; read (and remove) its report.
    pub fn wait(mut self) -> Ended {
        let status = self.child.wait().expect("wait kennel run");
        let diagnostics = self.diagnostics_to_eof();
        let report = std::fs::read_to_string(&self.report).unwrap_or_default();
        let _ = std::fs::remove_file(&self.report);
        Ended {
            status,
            report,
            diagnostics,
        }
    }
}

/// Wait until the daemon that printed `line` (`pid <pid> <ppid> daemon`, a pid of
/// ours) has finished its handshake with the leader: written its byte and closed the
/// pipe, so no other process of the tree (`mark`) holds the read end of a pipe the
/// daemon writes (beyond its stdio). The line comes first, and a reader of it may act
/// before the byte is written (1 in 5 times here): if a cancel then kills the leader,
/// the daemon's write finds no reader and it dies of SIGPIPE by itself — before
/// kennel's sweep looks, so the report rightly names no escapee (the flaky
/// `escapees_killed: []` of the cancel tests).
pub fn await_handshake_done(mark: &(String, String), line: &str) {
    let daemon: u32 = line
        .split_whitespace()
        .nth(1)
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("a pid in the daemon line {line:?}"));
    let others: Vec<u32> = marked(mark).into_iter().filter(|&p| p != daemon).collect();
    let done = || {
        let written = pipes_beyond_stdio(daemon, 0o200);
        others
            .iter()
            .all(|&p| pipes_beyond_stdio(p, 0o400).is_disjoint(&written))
    };
    assert!(
        kennel_tests::wait_until(PATIENCE, done),
        "the daemon never closed its handshake pipe: {line:?}"
    );
}

/// The pipes (`pipe:[inode]`) `pid` holds open at fds above 2 for reading (`access`
/// 0o400) or writing (0o200): the mode of a `/proc/<pid>/fd` link says which.
fn pipes_beyond_stdio(pid: u32, access: u32) -> std::collections::HashSet<String> {
    use std::os::unix::fs::PermissionsExt as _;
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Default::default();
    };
    fds.flatten()
        .filter(|fd| {
            fd.file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
                .is_some_and(|n| n > 2)
        })
        .filter(|fd| {
            fd.path()
                .symlink_metadata()
                .is_ok_and(|m| m.permissions().mode() & access != 0)
        })
        .filter_map(|fd| {
            let target = std::fs::read_link(fd.path()).ok()?;
            target
                .to_str()?
                .starts_with("pipe:")
                .then(|| target.to_str().map(str::to_owned))?
        })
        .collect()
}

/// Nothing carrying `mark` is alive, apart from kennel's guard (kennel's child, which
/// carries the marker too and exits once it sees kennel gone): at once for the tree,
/// within 5 s for the guard.
pub fn assert_tree_gone(mark: &(String, String), what: &str) {
    let tree: Vec<u32> = marked(mark)
        .into_iter()
        .filter(|&p| !kennel_tests::cmdline_of(p).is_some_and(|c| c.contains("__kennel-guard")))
        .collect();
    if !tree.is_empty() {
        assert_no_survivors(mark, Duration::ZERO, what);
    }
    assert_no_survivors(mark, Duration::from_secs(5), &format!("the guard: {what}"));
}

/// Where the escapee moves itself.
#[derive(Clone, Copy, Debug)]
pub enum Dest {
    /// kennel's own cgroup (ours as root; the subtree's `supervisor` leaf).
    Kennel,
    /// A leaf next to kennel's and the trees' cgroups.
    Sibling,
    /// A cgroup the child creates (under ours as root; in the subtree).
    Fresh,
    /// The root cgroup (not the user's: it refuses `nobody`).
    Root,
}

impl Dest {
    /// The cgroup directory this destination names in `deleg`.
    pub fn dir(self, deleg: &Delegated) -> PathBuf {
        match self {
            Dest::Kennel => deleg.supervisor(),
            Dest::Sibling => deleg.sibling(),
            Dest::Fresh => deleg.dir().join("escape"),
            Dest::Root => deleg.root().to_path_buf(),
        }
    }
}

/// The delegated subtree for one test, or a note that the test cannot run here.
pub fn delegated(mark: &(String, String)) -> Option<Delegated> {
    let deleg = Delegated::create(&mark.1, NOBODY);
    if deleg.is_none() {
        eprintln!("note: unprivileged cgroup escapes need root and a writable cgroup v2");
    }
    deleg
}

/// Where an escape run's fixture moves itself, and as whom `kennel run` runs: as root,
/// the cgroup [`Dest`] names in the whole hierarchy (a fresh one, under ours, removed
/// on drop); unprivileged, `nobody` with a delegated subtree and `Dest` in it.
pub struct Escape {
    /// The user's subtree, when unprivileged.
    pub deleg: Option<Delegated>,
    /// The cgroup the fixture moves itself to.
    pub target: PathBuf,
    /// Remove `target` on drop (root's fresh and sibling cgroups).
    remove: bool,
}

impl Escape {
    /// The escape to `dest` for one test (`mark`), or `None` with a note where the
    /// unprivileged subtree cannot be made here.
    pub fn new(unprivileged: bool, dest: Dest, mark: &(String, String)) -> Option<Escape> {
        if unprivileged {
            let deleg = delegated(mark)?;
            let target = dest.dir(&deleg);
            return Some(Escape {
                deleg: Some(deleg),
                target,
                remove: false,
            });
        }
        let (mount, own) = kennel_tests::delegated::own_cgroup().expect("a cgroup2 mount");
        let (target, remove) = match dest {
            Dest::Kennel => (own, false),
            Dest::Root => (mount, false),
            Dest::Sibling | Dest::Fresh => (own.join(format!("escape-{}", mark.1)), true),
        };
        Some(Escape {
            deleg: None,
            target,
            remove,
        })
    }

    /// [`EscapeRun::start`] of this escape, for a run that is to end by `end`.
    pub fn start(&self, mark: &(String, String), kennel_args: &[&str], end: End) -> EscapeRun {
        EscapeRun::start(
            mark,
            self.deleg.as_ref(),
            kennel_args,
            Some(&self.target),
            end.leader_stays(),
        )
    }
}

impl Drop for Escape {
    fn drop(&mut self) {
        // Empty by then, or the survivors were killed by the failing assertion.
        if self.remove {
            let _ = std::fs::remove_dir(&self.target);
        }
    }
}

/// One escape test: `kennel run` with `tier` (a cgroup, or a PID namespace), as root
/// or `nobody`, whose fixture moves itself to `dest` and daemonizes; the run ends by
/// `end` and the tier's file judges it (`cgroup_escape::judge`,
/// `pid_namespace::judge`). A note where the host cannot run it.
fn escape(tier: Containment, unprivileged: bool, dest: Dest, end: End) {
    let pidns = tier == Containment::PidNamespace;
    if pidns && !crate::pid_namespace::available("escapes from a PID namespace") {
        return;
    }
    if !cgroup_available("cgroup escapes") {
        return;
    }
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } != 0 {
        eprintln!("note: the escape tests need root (to move cgroups, or to drop to nobody)");
        return;
    }
    let mark = marker();
    let Some(escape) = Escape::new(unprivileged, dest, &mark) else {
        return;
    };
    let mut args = if pidns {
        vec!["--pid-namespace"]
    } else {
        vec![]
    };
    args.extend(end.kennel_args());
    let run = escape.start(&mark, &args, end);
    run.end(end);
    let ended = run.wait();
    let what = format!(
        "{tier:?} unprivileged={unprivileged} {dest:?} {end:?}: {} {:?}",
        ended.report, ended.diagnostics
    );
    if pidns {
        crate::pid_namespace::judge(&mark, end, &ended, &what);
    } else {
        let refused = unprivileged && matches!(dest, Dest::Root);
        crate::cgroup_escape::judge(&mark, refused, end, &ended, &what);
    }
}

// Every escape: the tier, as `nobody`, where the escapee goes, how the run ends.
cases! { escape:
    to_kennels_own_cgroup_then_timeout(Containment::Cgroup, false, Dest::Kennel, End::Timeout);
    to_kennels_own_cgroup_then_cancel(Containment::Cgroup, false, Dest::Kennel, End::Cancel);
    to_kennels_own_cgroup_then_leader_exit(Containment::Cgroup, false, Dest::Kennel, End::LeaderExit);
    to_the_root_cgroup_then_timeout(Containment::Cgroup, false, Dest::Root, End::Timeout);
    to_the_root_cgroup_then_leader_exit(Containment::Cgroup, false, Dest::Root, End::LeaderExit);
    to_a_fresh_cgroup_then_cancel(Containment::Cgroup, false, Dest::Fresh, End::Cancel);
    to_a_fresh_cgroup_then_timeout(Containment::Cgroup, false, Dest::Fresh, End::Timeout);
    unprivileged_to_kennels_own_cgroup_then_timeout(Containment::Cgroup, true, Dest::Kennel, End::Timeout);
    unprivileged_to_kennels_own_cgroup_then_cancel(Containment::Cgroup, true, Dest::Kennel, End::Cancel);
    unprivileged_to_a_sibling_cgroup_then_leader_exit(Containment::Cgroup, true, Dest::Sibling, End::LeaderExit);
    unprivileged_to_a_sibling_cgroup_then_cancel(Containment::Cgroup, true, Dest::Sibling, End::Cancel);
    unprivileged_to_a_fresh_cgroup_then_timeout(Containment::Cgroup, true, Dest::Fresh, End::Timeout);
    unprivileged_to_a_fresh_cgroup_then_leader_exit(Containment::Cgroup, true, Dest::Fresh, End::LeaderExit);
    unprivileged_to_the_root_cgroup_is_refused(Containment::Cgroup, true, Dest::Root, End::LeaderExit);
    pidns_to_kennels_own_cgroup_then_kill_9_of_kennel_run(Containment::PidNamespace, false, Dest::Kennel, End::Kill9);
    pidns_to_the_root_cgroup_then_kill_9_of_kennel_run(Containment::PidNamespace, false, Dest::Root, End::Kill9);
    pidns_to_a_fresh_cgroup_then_kill_9_of_kennel_run(Containment::PidNamespace, false, Dest::Fresh, End::Kill9);
    pidns_to_the_root_cgroup_then_timeout(Containment::PidNamespace, false, Dest::Root, End::Timeout);
    pidns_to_kennels_own_cgroup_then_cancel(Containment::PidNamespace, false, Dest::Kennel, End::Cancel);
    pidns_to_a_fresh_cgroup_then_leader_exit(Containment::PidNamespace, false, Dest::Fresh, End::LeaderExit);
    pidns_unprivileged_to_a_sibling_cgroup_then_kill_9_of_kennel_run(Containment::PidNamespace, true, Dest::Sibling, End::Kill9);
    pidns_unprivileged_to_kennels_own_cgroup_then_kill_9_of_kennel_run(Containment::PidNamespace, true, Dest::Kennel, End::Kill9);
    pidns_unprivileged_to_a_fresh_cgroup_then_timeout(Containment::PidNamespace, true, Dest::Fresh, End::Timeout);
    pidns_unprivileged_to_a_sibling_cgroup_then_cancel(Containment::PidNamespace, true, Dest::Sibling, End::Cancel);
}
