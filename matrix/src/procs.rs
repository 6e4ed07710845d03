//! Finding a cell's processes and cleaning up after it (Linux).
//!
//! Every cell's driver is started with a unique `KENNEL_MATRIX_CELL=<tag>` in its
//! environment. Every process of the cell inherits it — the supervisor, kennel's sidecar
//! and keepers, the fixture tree, a `setsid` daemon, a double fork, processes Wine starts —
//! so "what is left of this cell" is a scan of `/proc/*/environ` for the tag, independent
//! of what the implementation under test reported (fixture pid lines can be lost with the
//! output). Zombies have no readable environ and do not count as alive.
//!
//! The harness is a child subreaper ([`Reaper`]): orphans of a cell are reparented to it
//! (not to pid 1, which does not reap on this kind of VM) and reaped by one thread, which
//! also records the drivers' exit statuses. The sweep after a cell SIGCONTs and SIGKILLs
//! whatever carries the tag until nothing does, so one bad cell cannot poison the next.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The environment variable carrying a cell's tag.
pub const MARKER_VAR: &str = "KENNEL_MATRIX_CELL";

/// A process seen in `/proc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    /// Its pid.
    pub pid: u32,
    /// Its command line (`[comm]` if empty).
    pub cmdline: String,
    /// The file name of its executable (`node`, `kennel`, `kennel-fixture`, `wine64-preloader`, …).
    pub exe: String,
    /// Its state letter (`S`, `R`, `T`, …).
    pub state: char,
}

impl std::fmt::Display for Proc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The program's file name, not its whole path: the report is read, not replayed.
        let (prog, rest) = self
            .cmdline
            .split_once(' ')
            .unwrap_or((self.cmdline.as_str(), ""));
        let prog = prog.rsplit(['/', '\\']).next().unwrap_or(prog);
        let cmd = crate::clip(format!("{prog} {rest}").trim_end(), 70);
        write!(f, "{} `{}` ({})", self.pid, cmd, self.state)
    }
}

/// Every live (non-zombie) process whose environment carries `MARKER_VAR=tag`.
pub fn tagged(tag: &str) -> Vec<Proc> {
    let needle = format!("{MARKER_VAR}={tag}");
    kennel_tests::all_pids()
        .into_iter()
        .filter(|&pid| pid != std::process::id() && kennel_tests::has_env_entry(pid, &needle))
        .filter_map(|pid| {
            let state = kennel_tests::proc_state(pid)?;
            if state == 'Z' || state == 'X' {
                return None;
            }
            let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_default();
            Some(Proc {
                pid,
                cmdline: kennel_tests::cmdline_of(pid).unwrap_or_default(),
                exe,
                state,
            })
        })
        .collect()
}

/// Polls [`tagged`] (filtered by `keep`) until it is empty or `within` passed; returns
/// what is left and when it became empty.
pub fn wait_gone(
    tag: &str,
    within: Duration,
    keep: impl Fn(&Proc) -> bool,
) -> (Vec<Proc>, Duration) {
    let start = Instant::now();
    loop {
        let left: Vec<Proc> = tagged(tag).into_iter().filter(&keep).collect();
        if left.is_empty() || start.elapsed() >= within {
            return (left, start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(pid: u32, sig: rustix::process::Signal) {
    if let Some(p) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process(p, sig);
    }
}

/// SIGKILL (and SIGCONT) everything tagged until nothing is, for up to `within`.
/// Returns what survived even that (which would poison the next cell: the caller fails).
pub fn sweep(tag: &str, within: Duration) -> Vec<Proc> {
    let start = Instant::now();
    loop {
        let left = tagged(tag);
        if left.is_empty() || start.elapsed() >= within {
            return left;
        }
        for p in &left {
            signal(p.pid, rustix::process::Signal::KILL);
            signal(p.pid, rustix::process::Signal::CONT);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `sig` to `pid`.
pub fn kill(pid: u32, sig: rustix::process::Signal) {
    signal(pid, sig);
}

/// How a reaped child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// `exit(code)`.
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ended::Code(c) => write!(f, "exit code {c}"),
            Ended::Signal(s) => write!(f, "signal {s}"),
        }
    }
}

/// The harness's child subreaper and the one thread that reaps (see the module docs).
/// Never use `std::process::Child::wait` (or `output`/`status`) while it runs: it would
/// race this thread; use [`Reaper::wait`] with the child's pid.
///
/// Every reaped pid is recorded with the time it was reaped: pids are reused (a matrix run
/// wraps around `pid_max`), so a cell only trusts records made after it started its driver.
#[derive(Clone)]
pub struct Reaper {
    ended: Records,
}

/// pid → how it ended and when it was reaped; the condvar wakes [`Reaper::wait`].
type Records = Arc<(Mutex<HashMap<u32, (Ended, Instant)>>, Condvar)>;

impl Reaper {
    /// Become a child subreaper and start reaping.
    pub fn start() -> Result<Reaper, String> {
        rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
            .map_err(|e| format!("cannot become a child subreaper: {e}"))?;
        let ended: Records = Arc::default();
        let shared = ended.clone();
        std::thread::Builder::new()
            .name("reaper".into())
            .spawn(move || loop {
                // `wait`, i.e. waitpid(-1): rustix's `waitpid(None)` is waitpid(0), our group only.
                match rustix::process::wait(rustix::process::WaitOptions::empty()) {
                    Ok(Some((pid, status))) => {
                        let how = match (status.exit_status(), status.terminating_signal()) {
                            (Some(c), _) => Ended::Code(c),
                            (None, Some(s)) => Ended::Signal(s),
                            (None, None) => continue,
                        };
                        let (map, cv) = &*shared;
                        map.lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(pid.as_raw_nonzero().get() as u32, (how, Instant::now()));
                        cv.notify_all();
                    }
                    // ECHILD (no children yet) or EINTR: look again shortly.
                    _ => std::thread::sleep(Duration::from_millis(10)),
                }
            })
            .map_err(|e| format!("cannot start the reaper thread: {e}"))?;
        Ok(Reaper { ended })
    }

    /// Forget every record made before `t` (orphans of earlier cells, reused pids).
    pub fn forget_before(&self, t: Instant) {
        let (map, _) = &*self.ended;
        map.lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, (_, at)| *at >= t);
    }

    /// How `pid` (a child of the harness, started at `since`) ended, waiting up to `within`.
    pub fn wait(&self, pid: u32, since: Instant, within: Duration) -> Option<Ended> {
        let (map, cv) = &*self.ended;
        let end = Instant::now() + within;
        let mut guard = map.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(&(e, at)) = guard.get(&pid) {
                if at >= since {
                    guard.remove(&pid);
                    return Some(e);
                }
            }
            let now = Instant::now();
            if now >= end {
                return None;
            }
            guard = cv
                .wait_timeout(guard, end - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Has `pid` (started at `since`) ended? (Does not consume the record.)
    pub fn ended(&self, pid: u32, since: Instant) -> Option<Ended> {
        let (map, _) = &*self.ended;
        map.lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&pid)
            .filter(|(_, at)| *at >= since)
            .map(|(e, _)| *e)
    }
}
