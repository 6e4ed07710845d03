//! Looking at processes through Linux `/proc`, for "nothing leaked" checks.
//!
//! Every function treats a process that vanished mid-read as gone rather than
//! failing: tests race against exiting processes all the time.
//!
//! Beware: a zombie stays in `/proc` until its parent reaps it. A descendant
//! that escaped to pid 1 is reaped only if pid 1 reaps orphans; on the
//! development VM pid 1 (`process_api`) does **not**, so killed orphans stay
//! zombies for good there. Hence [`wait_all_gone`] counts a zombie as gone
//! (it no longer runs), and [`zombie_children_of`] asks the narrower question
//! the supervisor is responsible for: zombies whose parent is *us*.

use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::wait_until;

/// Fields of `/proc/<pid>/stat` we care about.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stat {
    comm: String,
    state: char,
    ppid: u32,
    pgid: u32,
    sid: u32,
    flags: u64,
}

fn stat(pid: u32) -> Option<Stat> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&s)
}

fn parse_stat(s: &str) -> Option<Stat> {
    // `pid (comm) state ppid pgrp session …`; comm may contain spaces and ')'.
    let open = s.find('(')?;
    let close = s.rfind(')')?;
    let comm = s.get(open + 1..close)?.to_owned();
    let mut rest = s.get(close + 1..)?.split_ascii_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    let pgid = rest.next()?.parse().ok()?;
    let sid = rest.next()?.parse().ok()?;
    // tty_nr, tpgid, then flags.
    let flags = rest.nth(2)?.parse().ok()?;
    Some(Stat {
        comm,
        state,
        ppid,
        pgid,
        sid,
        flags,
    })
}

/// The state letter of `pid` (`R`, `S`, `D`, `T` stopped, `t` traced, `Z`
/// zombie, …), or `None` if there is no such process.
pub fn proc_state(pid: u32) -> Option<char> {
    stat(pid).map(|s| s.state)
}

/// Whether `pid` exists and is not a zombie (or dead, `X`).
pub fn is_alive(pid: u32) -> bool {
    matches!(proc_state(pid), Some(c) if c != 'Z' && c != 'X')
}

/// Whether `pid` is a zombie (exited, not yet reaped by its parent).
pub fn is_zombie(pid: u32) -> bool {
    proc_state(pid) == Some('Z')
}

/// Whether `pid` is stopped (`T`, e.g. by `SIGSTOP`).
pub fn is_stopped(pid: u32) -> bool {
    proc_state(pid) == Some('T')
}

/// Parent pid of `pid`, `None` if it is gone.
pub fn ppid_of(pid: u32) -> Option<u32> {
    stat(pid).map(|s| s.ppid)
}

/// Process group of `pid`, `None` if it is gone.
pub fn pgid_of(pid: u32) -> Option<u32> {
    stat(pid).map(|s| s.pgid)
}

/// Session of `pid`, `None` if it is gone.
pub fn sid_of(pid: u32) -> Option<u32> {
    stat(pid).map(|s| s.sid)
}

/// The command line of `pid` with arguments joined by spaces; for a zombie
/// or kernel thread (empty cmdline) `[comm]` like `ps` shows it. `None` if the
/// process is gone.
pub fn cmdline_of(pid: u32) -> Option<String> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<String> = raw
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    if args.is_empty() {
        return stat(pid).map(|s| format!("[{}]", s.comm));
    }
    Some(args.join(" "))
}

/// A one-line description for failure messages: `cmdline (state X, ppid P,
/// pgid G, sid S)`, or `<gone>`.
pub fn describe(pid: u32) -> String {
    match (stat(pid), cmdline_of(pid)) {
        (Some(s), Some(cmd)) => format!(
            "{cmd} (state {}, ppid {}, pgid {}, sid {})",
            s.state, s.ppid, s.pgid, s.sid
        ),
        _ => "<gone>".to_owned(),
    }
}

/// Waits until none of `pids` runs any more (each is gone from `/proc` or a
/// zombie — see the module docs for why zombies count as gone).
///
/// # Errors
///
/// The survivors at the deadline, each with [`describe`]'s text.
pub fn wait_all_gone(pids: &[u32], deadline: Duration) -> Result<(), Vec<(u32, String)>> {
    if wait_until(deadline, || pids.iter().all(|&p| !is_alive(p))) {
        return Ok(());
    }
    Err(pids
        .iter()
        .filter(|&&p| is_alive(p))
        .map(|&p| (p, describe(p)))
        .collect())
}

/// Like [`wait_all_gone`] but stricter: each pid must have left `/proc`
/// entirely (been reaped). Only meaningful when the reaper is known to reap
/// (the test process itself as subreaper, or a pid 1 that reaps).
///
/// # Errors
///
/// The pids still present (zombies included) at the deadline.
pub fn wait_all_reaped(pids: &[u32], deadline: Duration) -> Result<(), Vec<(u32, String)>> {
    if wait_until(deadline, || pids.iter().all(|&p| proc_state(p).is_none())) {
        return Ok(());
    }
    Err(pids
        .iter()
        .filter(|&&p| proc_state(p).is_some())
        .map(|&p| (p, describe(p)))
        .collect())
}

/// Number of open file descriptors of the current process (not counting the
/// one used to list `/proc/self/fd`). Compare before/after a run.
pub fn open_fd_count() -> usize {
    open_fds().len()
}

/// The open file descriptors of the current process with what they point to
/// (`pipe:[1234]`, `/dev/null`, …), sorted by fd, for leak messages.
pub fn open_fds() -> Vec<(i32, String)> {
    let mut fds = fds_of(std::process::id());
    // The directory stream's own fd shows up as a link to `/proc/<pid>/fd`;
    // it is gone (read_link fails) or points at the fd dir.
    let me = format!("/proc/{}/fd", std::process::id());
    fds.retain(|(_, t)| *t != me);
    fds
}

/// The open file descriptors of `pid` with what they point to, sorted by fd (empty
/// when it is gone or not ours to look at).
pub fn fds_of(pid: u32) -> Vec<(i32, String)> {
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    let mut fds: Vec<(i32, String)> = dir
        .filter_map(|e| {
            let e = e.ok()?;
            let fd: i32 = e.file_name().to_str()?.parse().ok()?;
            let target = fs::read_link(e.path()).ok()?;
            Some((fd, target.to_string_lossy().into_owned()))
        })
        .collect();
    fds.sort();
    fds
}

/// Live children of `pid` that run its own program image (the same command line): a
/// process's in-process kennel guards (a `CLONE_VM` child shares the memory its command
/// line is read from).
pub fn own_image_children_of(pid: u32) -> Vec<u32> {
    let own = cmdline_of(pid);
    children_of(pid)
        .into_iter()
        .filter(|&c| is_alive(c) && cmdline_of(c) == own)
        .collect()
}

/// Direct children of `pid` (all its threads), `None` if the kernel lacks
/// `/proc/<pid>/task/<tid>/children`.
fn children_from_task_files(pid: u32) -> Option<Vec<u32>> {
    let tasks = fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut out = Vec::new();
    let mut any = false;
    for t in tasks.flatten() {
        let Ok(s) = fs::read_to_string(t.path().join("children")) else {
            continue;
        };
        any = true;
        out.extend(
            s.split_ascii_whitespace()
                .filter_map(|p| p.parse::<u32>().ok()),
        );
    }
    any.then_some(out)
}

/// All processes whose parent is `pid` (zombies included), by scanning `/proc`.
pub fn children_of(pid: u32) -> Vec<u32> {
    if let Some(c) = children_from_task_files(pid) {
        return c;
    }
    all_pids()
        .into_iter()
        .filter(|&p| ppid_of(p) == Some(pid))
        .collect()
}

/// Every pid in `/proc`.
pub fn all_pids() -> Vec<u32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}

/// All descendants of `pid` (children, their children, …; zombies included),
/// breadth first. Only finds processes still parented inside the tree: a
/// double-forked daemon reparented to pid 1 is no longer a descendant.
pub fn descendants_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut queue = vec![pid];
    while let Some(p) = queue.pop() {
        for c in children_of(p) {
            if c != pid && !out.contains(&c) {
                out.push(c);
                queue.push(c);
            }
        }
    }
    out
}

/// Zombie children of `pid` (unreaped exits the parent is responsible for);
/// `zombie_children_of(std::process::id())` after a run should be empty.
pub fn zombie_children_of(pid: u32) -> Vec<u32> {
    children_of(pid)
        .into_iter()
        .filter(|&c| is_zombie(c))
        .collect()
}

/// Members of process group `pgid` that still run (zombies excluded).
pub fn live_members_of_group(pgid: u32) -> Vec<u32> {
    all_pids()
        .into_iter()
        .filter(|&p| pgid_of(p) == Some(pgid) && is_alive(p))
        .collect()
}

/// SIGKILLs each pid, ignoring errors — for test cleanup. Skips 0, 1, our own
/// pid and values that are not valid positive pids (which `kill(2)` would
/// treat as process groups).
pub fn kill_pids(pids: &[u32]) {
    let me = std::process::id();
    for &p in pids {
        if p <= 1 || p == me || p > i32::MAX as u32 {
            continue;
        }
        // SAFETY: kill(2) has no memory-safety preconditions; the pid is a
        // positive value, so it targets one process, never a group.
        unsafe {
            libc::kill(p as libc::pid_t, libc::SIGKILL);
        }
    }
}

/// The resident set size of `pid` in KiB (`VmRSS` of `/proc/<pid>/status`): the one
/// RSS probe of the tests, the bench and the soak.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Bytes `pid` has written so far (`wchar` of `/proc/<pid>/io`).
pub fn wchar(pid: u32) -> Option<u64> {
    let io = fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    io.lines()
        .find_map(|l| l.strip_prefix("wchar:"))
        .and_then(|v| v.trim().parse().ok())
}

/// How many fds `pid` has open (0 when it is gone). For the current process,
/// [`open_fd_count`] leaves out the fd that lists the directory.
pub fn fd_count_of(pid: u32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// A bound on the spare cgroups a kennel process keeps open: the library keeps at
/// most 8 (`spare::MAX`, the one made ahead included); one more is allowed here.
pub const SPARE_CGROUPS_MAX: usize = 9;

/// How many fds `pid` has open (0 when it is gone), leaving out those of its spare
/// cgroups: a kennel process keeps empty `kennel-<pid>-N` cgroup directories (an
/// `O_PATH` fd each, and its `cgroup.events` and `cpu.stat` once read) for its next
/// trees, as many as its last burst of trees that ended on their own left, at most
/// [`SPARE_CGROUPS_MAX`]. For counts at rest that must come back to where they were.
/// More such directories than the bound, two fds to one file, or one to a cgroup that
/// holds a process are all counted, so a leak of them still shows.
pub fn fd_count_at_rest(pid: u32) -> usize {
    let fds = fds_of(pid);
    let prefix = format!("kennel-{pid}-");
    let ours = |dir: &Path| {
        dir.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(&prefix))
            && fs::read_to_string(dir.join("cgroup.procs")).is_ok_and(|p| p.trim().is_empty())
    };
    // (the spare's directory, the fd's target) for each fd of a spare cgroup.
    let mut spares: Vec<(&Path, &str)> = fds
        .iter()
        .map(|(_, target)| target.as_str())
        .filter_map(|target| {
            let path = Path::new(target);
            let kept_file = matches!(
                path.file_name().and_then(|n| n.to_str()),
                Some("cgroup.events" | "cpu.stat")
            );
            let dir = match path.parent() {
                Some(parent) if kept_file => parent,
                _ => path,
            };
            ours(dir).then_some((dir, target))
        })
        .collect();
    let n = spares.len();
    spares.sort_unstable();
    spares.dedup();
    let mut dirs: Vec<&Path> = spares.iter().map(|(dir, _)| *dir).collect();
    dirs.dedup();
    if spares.len() == n && dirs.len() <= SPARE_CGROUPS_MAX {
        fds.len() - n
    } else {
        fds.len()
    }
}

/// Whether the environment of `pid` (`/proc/<pid>/environ`) holds an entry for which
/// `matches` is true (an entry is `NAME=value`, as bytes). A process that is gone, or
/// whose environment we may not read, holds nothing.
pub fn environ_any(pid: u32, mut matches: impl FnMut(&[u8]) -> bool) -> bool {
    environ(pid).is_some_and(|env| env.split(|&b| b == 0).any(&mut matches))
}

/// `PF_KTHREAD` in the flags of `/proc/<pid>/stat`: a kernel thread (no environment).
const PF_KTHREAD: u64 = 0x0020_0000;

/// How long an empty environment of a live user process is read again.
const EXEC_WINDOW: Duration = Duration::from_millis(20);

/// The environment block of `pid`. A live process in the middle of `execve` reads as
/// empty for a moment (the new image's `env_start`/`env_end` are set last, in
/// `create_elf_tables`): a scan taken then would miss a tagged process that is alive,
/// so an empty read of a live user process is retried for up to [`EXEC_WINDOW`]. Not
/// pid 1's: never a test's process, and here (`process_api`) its environment is empty.
fn environ(pid: u32) -> Option<Vec<u8>> {
    let deadline = std::time::Instant::now() + EXEC_WINDOW;
    loop {
        let env = fs::read(format!("/proc/{pid}/environ")).ok()?;
        let user_process = || {
            stat(pid).is_some_and(|s| s.flags & PF_KTHREAD == 0 && !matches!(s.state, 'Z' | 'X'))
        };
        if !env.is_empty() || pid == 1 || std::time::Instant::now() >= deadline || !user_process() {
            return Some(env);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Whether the environment of `pid` holds exactly the entry `entry` (`NAME=value`).
pub fn has_env_entry(pid: u32, entry: &str) -> bool {
    environ_any(pid, |kv| kv == entry.as_bytes())
}

/// Live (non-zombie) processes whose environment holds exactly `entry`
/// (`NAME=value`): the leftovers of whatever was tagged with it.
pub fn live_with_env_entry(entry: &str) -> Vec<u32> {
    all_pids()
        .into_iter()
        .filter(|&pid| is_alive(pid) && has_env_entry(pid, entry))
        .collect()
}

/// Live (non-zombie) processes running the executable `exe` (`/proc/<pid>/exe`).
pub fn live_running(exe: &std::path::Path) -> Vec<u32> {
    all_pids()
        .into_iter()
        .filter(|&pid| fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|p| p == exe))
        .filter(|&pid| is_alive(pid))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_odd_comm() {
        let s = parse_stat("42 (a b) c)) S 1 42 42 0 -1 4194560").unwrap();
        assert_eq!(s.comm, "a b) c)");
        assert_eq!(s.flags, 4194560);
        assert_eq!((s.state, s.ppid, s.pgid, s.sid), ('S', 1, 42, 42));
    }

    #[test]
    fn self_is_visible() {
        let me = std::process::id();
        assert!(is_alive(me));
        assert!(!is_zombie(me));
        assert!(cmdline_of(me).is_some());
        assert!(ppid_of(me).is_some());
        assert!(open_fd_count() >= 3);
        assert_eq!(proc_state(u32::MAX), None);
        assert!(wait_all_gone(&[u32::MAX], Duration::from_millis(1)).is_ok());
        let err = wait_all_gone(&[me], Duration::from_millis(20)).unwrap_err();
        assert_eq!(err[0].0, me);
    }

    #[test]
    fn children_and_zombies() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        assert!(wait_until(Duration::from_secs(10), || is_zombie(pid)));
        assert!(descendants_of(std::process::id()).contains(&pid));
        assert!(zombie_children_of(std::process::id()).contains(&pid));
        assert!(wait_all_gone(&[pid], Duration::from_secs(1)).is_ok());
        assert!(wait_all_reaped(&[pid], Duration::from_millis(10)).is_err());
        child.wait().unwrap();
        assert!(wait_all_reaped(&[pid], Duration::from_secs(1)).is_ok());
    }

    #[test]
    fn open_fds_lists_a_new_fd() {
        use std::os::fd::AsRawFd;
        let f = fs::File::open("/dev/null").unwrap();
        let fds = open_fds();
        assert!(
            fds.contains(&(f.as_raw_fd(), "/dev/null".to_owned())),
            "{fds:?}"
        );
        assert!(!fds.iter().any(|(_, t)| t.ends_with("/fd")), "{fds:?}");
    }
}
