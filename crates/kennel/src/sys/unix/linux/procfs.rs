//! Reading `/proc` (Linux): process state, parentage and groups.

use std::fs;

use rustix::fs::{Mode, OFlags, RawDir};

/// Read a small `/proc` file in as few system calls as possible: `open`, one `pread`
/// into a 4 KiB buffer (a `stat` line is a few hundred bytes), a second for EOF, and
/// `close`. `fs::read_to_string` would add a `statx` and several growing reads (procfs
/// reports size 0), which made a `/proc` scan of a few hundred processes cost
/// milliseconds — a scan runs on every exit of a group-tier child.
fn read_small(path: &str) -> Option<String> {
    read_file(path).ok()
}

/// A small `/proc` or cgroupfs file, read as [`read_small`] does (open, read to EOF,
/// close; [`Reread::read`]): the cgroup files a tree's end reads (`cgroup.events`,
/// `cpu.stat`) report size 0 too.
pub(crate) fn read_file(path: impl AsRef<std::path::Path>) -> std::io::Result<String> {
    Reread::open(path)?.read()
}

/// A small `/proc` or cgroupfs file kept open and read again from its start with
/// `pread`. Both render their files anew at every read from offset 0 (`seq_file`), so a
/// file read at every tree's end costs one system call instead of four (open, read,
/// read for EOF, close) and no path walk: ~1–4 µs against ~6–10 µs each on the 2-vCPU
/// VM, five such files per spawn through the sidecar (issue 16, session 17).
///
/// A cgroup file of a removed cgroup reads `ENODEV` ([`gone`]). Reads are serialized,
/// so a file longer than one read is never stitched together from two renderings.
#[derive(Debug)]
pub(crate) struct Reread {
    fd: std::os::fd::OwnedFd,
    lock: std::sync::Mutex<()>,
}

/// How much one `pread` asks for: every file kept this way is far shorter, so one call
/// reads it whole and the next says EOF.
const REREAD_CHUNK: usize = 4096;

impl Reread {
    /// Open `path` for reading again and again.
    pub(crate) fn open(path: impl AsRef<std::path::Path>) -> std::io::Result<Reread> {
        let fd = rustix::fs::open(
            path.as_ref(),
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Reread::of(fd))
    }

    /// Open `name` in the directory `dir` (an `O_PATH` fd will do).
    pub(crate) fn at(dir: impl std::os::fd::AsFd, name: &str) -> std::io::Result<Reread> {
        let fd = rustix::fs::openat(dir, name, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
        Ok(Reread::of(fd))
    }

    fn of(fd: std::os::fd::OwnedFd) -> Reread {
        Reread {
            fd,
            lock: std::sync::Mutex::new(()),
        }
    }

    /// The file as the kernel renders it now.
    pub(crate) fn read(&self) -> std::io::Result<String> {
        let _one_at_a_time = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut chunk = [0u8; REREAD_CHUNK];
        let mut buf = Vec::new();
        loop {
            match rustix::io::pread(&self.fd, &mut chunk, buf.len() as u64) {
                Ok(0) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }
}

/// Whether an error reading a cgroup file says the cgroup is gone: `NotFound` when
/// opened by path, `ENODEV` through an fd kept from before its removal.
pub(crate) fn gone(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENODEV)
}

/// The fields of `/proc/<pid>/stat` kennel uses.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stat {
    pub(crate) state: char,
    pub(crate) ppid: u32,
    pub(crate) pgrp: u32,
    /// The kernel's `PF_*` task flags.
    pub(crate) flags: u32,
    #[allow(dead_code)]
    pub(crate) start_time: u64,
}

/// `PF_EXITING`: the task is inside `exit(2)` (set before it closes its files).
const PF_EXITING: u32 = 0x4;

impl Stat {
    /// Still running: not a zombie, and not already inside `exit(2)`. A process that
    /// closed its end of a pipe on the way out is exiting, not a leftover: counting it
    /// made a clean exit start a leftover ladder (a flaky `ladder_step: Some(0)`).
    pub(crate) fn running(&self) -> bool {
        self.present() && self.flags & PF_EXITING == 0
    }

    /// Not a zombie yet: running, or still inside `exit(2)` (freeing its memory,
    /// closing its files — a socket it listens on is still bound).
    pub(crate) fn present(&self) -> bool {
        self.state != 'Z' && self.state != 'X'
    }
}

pub(crate) fn read_stat(pid: u32) -> Option<Stat> {
    let text = read_small(&format!("/proc/{pid}/stat"))?;
    parse_stat(&text)
}

/// Parse `/proc/<pid>/stat`: the command name may contain spaces and parentheses, so
/// split after the *last* `)`.
pub(crate) fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgrp = fields.next()?.parse().ok()?;
    // Fields after pgrp(5): session(6) tty_nr(7) tpgid(8) flags(9) minflt cminflt majflt
    // cmajflt utime stime cutime cstime priority nice num_threads itrealvalue
    // starttime(22).
    let flags = fields.nth(3)?.parse().ok()?;
    let start_time = fields.nth(12)?.parse().ok()?;
    Some(Stat {
        state,
        ppid,
        pgrp,
        flags,
        start_time,
    })
}

/// The thread of this process that orphans are handed to: its first live thread. The
/// kernel hands a subreaper's orphans to that one thread (`find_alive_thread` walks
/// the thread list from its head: the main thread while it lives), so a sweep for
/// adopted orphans reads one `children` file ([`task_children`]), not every thread's
/// — with the 17–23 threads of the sidecar, reading them all twice or more per exit
/// was a third of its CPU in a churn (issue 16). Children that other threads forked
/// (our own spawns) are not in it; callers tell orphans by the registry, never by
/// which thread holds them.
pub(crate) fn orphan_receiver() -> Option<u32> {
    let me = std::process::id();
    let live = |tid: &u32| {
        let kept = (*tid == me).then(|| kept_main(me)).flatten();
        kept.and_then(|m| m.stat.read().ok())
            .or_else(|| read_small(&format!("/proc/{me}/task/{tid}/stat")))
            .and_then(|text| parse_stat(&text))
            .is_some_and(|s| s.running())
    };
    if live(&me) {
        return Some(me);
    }
    // The main thread has exited (`pthread_exit` in a host's main): the next live
    // thread in list order, which is the order `/proc/<pid>/task` lists them in.
    fs::read_dir(format!("/proc/{me}/task"))
        .ok()?
        .flatten()
        .filter_map(|t| t.file_name().to_str()?.parse::<u32>().ok())
        .find(live)
}

/// The children of thread `tid` of this process, zombies included.
pub(crate) fn task_children(tid: u32) -> Vec<u32> {
    let me = std::process::id();
    let kept = (tid == me).then(|| kept_main(me)).flatten();
    kept.and_then(|m| m.children.read().ok())
        .or_else(|| read_small(&format!("/proc/{me}/task/{tid}/children")))
        .map(|text| parse_pids(&text))
        .unwrap_or_default()
}

/// The main thread's `stat` and `children`, kept open ([`Reread`]): a subreaper's sweep
/// reads both at every tree's end ([`orphan_receiver`], [`task_children`]).
#[derive(Debug)]
struct MainThread {
    /// The process they belong to: a child forked from it (without `exec`) has its own.
    pid: u32,
    stat: Reread,
    children: Reread,
}

static MAIN_THREAD: std::sync::Mutex<Option<std::sync::Arc<MainThread>>> =
    std::sync::Mutex::new(None);

/// Keep this process's main-thread files open for [`orphan_receiver`] and
/// [`task_children`]: called once a process becomes a subreaper, so the two fds are
/// there from the start (a count of its fds at rest does not change later). Where they
/// cannot be opened, the readers open the files each time, as before.
pub(crate) fn keep_main_thread_open() {
    let me = std::process::id();
    let dir = format!("/proc/{me}/task/{me}");
    let (Ok(stat), Ok(children)) = (
        Reread::open(format!("{dir}/stat")),
        Reread::open(format!("{dir}/children")),
    ) else {
        return;
    };
    let kept = MainThread {
        pid: me,
        stat,
        children,
    };
    if let Ok(mut slot) = MAIN_THREAD.lock() {
        *slot = Some(std::sync::Arc::new(kept));
    }
}

/// The kept main-thread files, if they are this process's (`me`).
fn kept_main(me: u32) -> Option<std::sync::Arc<MainThread>> {
    let slot = MAIN_THREAD.lock().ok()?;
    slot.as_ref().filter(|m| m.pid == me).cloned()
}

fn parse_pids(text: &str) -> Vec<u32> {
    text.split_whitespace()
        .filter_map(|w| w.parse::<u32>().ok())
        .collect()
}

/// Children of `pid` (all threads' `children` files), zombies included.
pub(crate) fn children_of(pid: u32) -> Vec<u32> {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for task in tasks.flatten() {
        let path = task.path().join("children");
        if let Some(text) = path.to_str().and_then(read_small) {
            out.extend(parse_pids(&text));
        }
    }
    out
}

/// Every descendant of `pid` (depth first), as far as `/proc` shows them now.
pub(crate) fn descendants_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut stack = children_of(pid);
    while let Some(p) = stack.pop() {
        if out.len() > 1_000_000 {
            break;
        }
        out.push(p);
        stack.extend(children_of(p));
    }
    out
}

/// Pids of running processes whose process group is `pgid`: neither zombies nor
/// inside `exit(2)` ([`Stat::running`]; what may be counted as a leftover).
pub(crate) fn group_members(pgid: u32) -> Vec<u32> {
    group_listed(pgid)
        .into_iter()
        .filter(|&pid| read_stat(pid).is_some_and(|s| s.pgrp == pgid && s.running()))
        .collect()
}

/// Pids of every process whose process group is `pgid` now, zombies included.
fn group_listed(pgid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    // What was listed before a failure is all there is to report.
    let _ = each_pid(|pid| {
        let pid = pid.unsigned_abs();
        if getpgid(pid) == Some(pgid) {
            out.push(pid);
        }
    });
    out
}

/// Every process listed in `/proc` now, with its process group (zombies included).
///
/// Every process is asked for its group with `getpgid(2)` — one cheap system call —
/// so that only the members' `stat` files are read, by the callers that need them.
/// Reading every process's `stat` instead made this scan most of the CPU a group-tier
/// child cost (the kernel formats ~50 fields per `stat` read): it runs on every
/// natural exit. `/proc` is listed with raw `getdents64` into one buffer (no
/// allocation per entry, as `read_dir` makes).
///
/// `None` when `/proc` cannot be listed whole (no fd left, say): nobody can be said to
/// be gone then.
pub(crate) fn all_groups() -> Option<Vec<(u32, u32)>> {
    let mut out = Vec::new();
    each_pid(|pid| {
        let pid = pid.unsigned_abs();
        if let Some(group) = getpgid(pid) {
            out.push((pid, group));
        }
    })
    .ok()?;
    Some(out)
}

/// The process group of `pid` (a thread's number answers for its process); `None`
/// when nobody holds the number.
pub(crate) fn getpgid(pid: u32) -> Option<u32> {
    let pid = i32::try_from(pid).ok()?;
    // Not rustix's `getpgid`: it asserts a positive answer, and kernel threads are in
    // process group 0.
    // SAFETY: getpgid(2) only reads its integer argument; -1 (ESRCH) is handled.
    let group = unsafe { libc::getpgid(pid) };
    u32::try_from(group).ok()
}

/// Call `f` with every pid listed in `/proc` now; an error when `/proc` cannot be
/// listed (whole).
fn each_pid(mut f: impl FnMut(i32)) -> std::io::Result<()> {
    let dir = rustix::fs::open(
        "/proc",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    // 16 KiB: a few hundred entries per `getdents64`.
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut entries = RawDir::new(dir, buf.spare_capacity_mut());
    while let Some(entry) = entries.next() {
        let entry = entry?;
        let pid = std::str::from_utf8(entry.file_name().to_bytes())
            .ok()
            .and_then(|s| s.parse::<i32>().ok())
            .filter(|&p| p > 0);
        if let Some(pid) = pid {
            f(pid);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_command_names() {
        let line = "1234 (a) b (c)) S 1 1234 1234 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 98765 1000 10 18446744073709551615";
        let stat = parse_stat(line).unwrap();
        assert_eq!(stat.state, 'S');
        assert_eq!(stat.ppid, 1);
        assert_eq!(stat.pgrp, 1234);
        assert_eq!(stat.start_time, 98765);
        assert_eq!(stat.flags, 4194560);
        assert!(stat.running());
        let exiting = line.replace(" 4194560 ", " 4194564 ");
        assert!(!parse_stat(&exiting).unwrap().running(), "PF_EXITING");
        assert!(parse_stat(&exiting).unwrap().present(), "not a zombie yet");
        let zombie = line.replace(") S ", ") Z ");
        assert!(!parse_stat(&zombie).unwrap().present(), "a zombie");
    }

    #[test]
    fn the_group_scan_finds_this_process_in_its_group() {
        let me = std::process::id();
        let group = rustix::process::getpgrp()
            .as_raw_nonzero()
            .get()
            .unsigned_abs();
        assert!(group_members(group).contains(&me));
        let mut pids = Vec::new();
        each_pid(|p| pids.push(p.unsigned_abs())).expect("/proc is listed");
        assert!(pids.contains(&me) && pids.contains(&1), "{pids:?}");
    }

    #[test]
    fn reads_own_stat() {
        let me = std::process::id();
        let stat = read_stat(me).unwrap();
        assert_ne!(stat.state, 'Z');
        assert_eq!(
            stat.pgrp,
            rustix::process::getpgrp().as_raw_nonzero().get() as u32
        );
        assert!(stat.start_time > 0);
    }
}
