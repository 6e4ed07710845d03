//! The Unix process shapes: `fork`, `setsid`, signal dispositions, raw fds.

use std::io;
use std::process::ExitCode;

use crate::modes::trees::{tree_role, TreeOpts};
use crate::out::{pid_line, write_out, Stream};
use crate::{Fail, Res};

type Fd = libc::c_int;

/// Leave the current cgroup: join `dir` (created if missing).
#[cfg(target_os = "linux")]
pub fn move_to_cgroup(dir: &std::path::Path) -> io::Result<()> {
    if !dir.exists() {
        std::fs::create_dir(dir)?;
    }
    std::fs::write(dir.join("cgroup.procs"), std::process::id().to_string())
}

/// See the module docs: ptrace and `/proc/<pid>/environ` against every ancestor.
#[cfg(target_os = "linux")]
pub fn attack_ancestors(include_init: bool) -> Res<ExitCode> {
    // SAFETY: getuid/getppid have no preconditions.
    let (me, mut pid) = unsafe { (libc::getuid(), libc::getppid()) };
    let mut report = String::new();
    let last = if include_init { 1 } else { 2 };
    while pid >= last {
        // `status` stays readable for everyone, non-dumpable or not.
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let owner: Option<u32> = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|u| u.parse().ok());
        if owner != Some(me) {
            break;
        }
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        // SAFETY: PTRACE_ATTACH takes a pid and ignores addr/data.
        let attach = unsafe {
            libc::ptrace(
                libc::PTRACE_ATTACH,
                pid,
                std::ptr::null_mut::<libc::c_void>(),
                0,
            )
        };
        let ptrace = if attach == 0 {
            let mut st = 0;
            // SAFETY: waiting for the attach's SIGSTOP, then detaching, on a pid we
            // just attached to.
            unsafe {
                libc::waitpid(pid, &mut st, libc::__WALL);
                libc::ptrace(
                    libc::PTRACE_DETACH,
                    pid,
                    std::ptr::null_mut::<libc::c_void>(),
                    0,
                );
            }
            "ok".to_owned()
        } else {
            errno_name(io::Error::last_os_error())
        };
        let environ = match std::fs::read(format!("/proc/{pid}/environ")) {
            Ok(_) => "ok".to_owned(),
            Err(e) => errno_name(e),
        };
        report.push_str(&format!(
            "ancestor {pid} {} ptrace={ptrace} environ={environ}\n",
            comm.trim()
        ));
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        pid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
    }
    report.push_str("done\n");
    write_out(Stream::Out, report.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(target_os = "linux")]
fn errno_name(e: io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EPERM) => "EPERM".into(),
        Some(libc::EACCES) => "EACCES".into(),
        Some(libc::ESRCH) => "ESRCH".into(),
        Some(n) => format!("errno{n}"),
        None => e.to_string(),
    }
}

pub fn reset_sigpipe() {
    // SAFETY: installing the default disposition has no preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

pub fn ignore_term_signals() {
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        // SAFETY: SIG_IGN is a valid disposition for these signals.
        unsafe {
            libc::signal(sig, libc::SIG_IGN);
        }
    }
}

enum Forked {
    Child,
    Parent(libc::pid_t),
}

/// `fork(2)`. The fixture is single-threaded, so the child may run any
/// code; children never return from their branch (they `_exit`).
fn fork() -> Res<Forked> {
    // SAFETY: the process is single-threaded (no locks can be held by
    // another thread), and the child only runs this program's own code.
    match unsafe { libc::fork() } {
        -1 => Err(Fail::Io("fork", io::Error::last_os_error())),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid)),
    }
}

/// Ends a forked child (or the leader) without unwinding into `main`.
fn exit_now(code: i32) -> ! {
    // SAFETY: _exit has no preconditions; all our output is unbuffered.
    unsafe { libc::_exit(code) }
}

/// Runs `f` in a forked child, which then sleeps forever; a failure is
/// reported on stderr and ends the child with code 1.
fn in_child(f: impl FnOnce() -> Res<()>) -> ! {
    if let Err(e) = f() {
        if let Fail::Io(what, e) = e {
            let _ = crate::out::write_all(
                Stream::Err,
                format!("kennel-fixture: {what}: {e}\n").as_bytes(),
            );
        }
        exit_now(1);
    }
    sleep_forever()
}

fn pipe() -> Res<(Fd, Fd)> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two c_ints.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(Fail::Io("pipe", io::Error::last_os_error()));
    }
    for fd in fds {
        // SAFETY: fd was just returned by pipe(2).
        unsafe {
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
        }
    }
    Ok((fds[0], fds[1]))
}

fn close(fd: Fd) {
    // SAFETY: closing an fd we own; errors (EINTR) are irrelevant here.
    unsafe {
        libc::close(fd);
    }
}

/// Tells the other end of a readiness pipe that we are ready.
fn notify(w: Fd) {
    // SAFETY: writing one byte from a valid buffer.
    unsafe {
        libc::write(w, b"r".as_ptr().cast(), 1);
    }
    close(w);
}

/// Reads until `n` readiness bytes arrived or every writer is gone.
/// The leader's side of a double fork: close our copy of the write end, reap the
/// intermediate `first`, then wait until the grandchild reported on `r`.
fn reap_then_await_one(first: libc::pid_t, r: Fd, w: Fd) {
    close(w);
    reap(first);
    await_ready(r, 1);
}

fn await_ready(r: Fd, n: usize) {
    let mut got = 0;
    let mut buf = [0u8; 64];
    while got < n {
        // SAFETY: buf is a valid writable buffer of its length.
        let k = unsafe { libc::read(r, buf.as_mut_ptr().cast(), buf.len()) };
        if k == 0 {
            break;
        }
        if k < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            break;
        }
        got += k as usize;
    }
    close(r);
}

fn reap(pid: libc::pid_t) {
    loop {
        // SAFETY: waiting for our own child; a null status is allowed.
        let r = unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
        if r >= 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return;
        }
    }
}

/// Waits until child `pid` is stopped (or gone).
fn await_stopped(pid: libc::pid_t) {
    loop {
        let mut status = 0;
        // SAFETY: waiting for our own child with a valid status pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WUNTRACED) };
        if r < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        // Stopped, exited or killed: either way it will not print again.
        return;
    }
}

fn stop_self() {
    // SAFETY: sending a signal to ourselves.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGSTOP);
    }
}

/// Puts /dev/null over fds 0, 1 and 2.
fn devnull_stdio() -> Res<()> {
    // SAFETY: the path is a valid NUL-terminated string.
    let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
    if fd < 0 {
        return Err(Fail::Io("open /dev/null", io::Error::last_os_error()));
    }
    for target in 0..=2 {
        // SAFETY: fd is open; dup2 onto a standard fd.
        if unsafe { libc::dup2(fd, target) } < 0 {
            return Err(Fail::Io("dup2", io::Error::last_os_error()));
        }
    }
    if fd > 2 {
        close(fd);
    }
    Ok(())
}

/// Closes every open fd, 0 included.
fn close_all_fds() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: close_range(0, ~0, 0) only closes fds.
        if unsafe { libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32) } == 0 {
            return;
        }
    }
    // SAFETY: sysconf has no preconditions.
    let max = unsafe { libc::sysconf(libc::_SC_OPEN_MAX) };
    let max = if max <= 0 { 1024 } else { max.min(1 << 20) };
    for fd in 0..max as Fd {
        close(fd);
    }
}

fn setsid() -> Res<()> {
    // SAFETY: setsid has no memory-safety preconditions.
    if unsafe { libc::setsid() } < 0 {
        return Err(Fail::Io("setsid", io::Error::last_os_error()));
    }
    Ok(())
}

/// Blocks forever, reaping our children as they die, then in pause().
pub fn sleep_forever() -> ! {
    loop {
        // SAFETY: waitpid with a null status pointer is allowed.
        let r = unsafe { libc::waitpid(-1, std::ptr::null_mut(), 0) };
        if r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD) {
            // SAFETY: pause has no preconditions.
            unsafe {
                libc::pause();
            }
        }
    }
}

pub fn tree(opts: TreeOpts) -> Res<ExitCode> {
    if opts.ignore_term {
        ignore_term_signals();
    }
    // The root's body runs here; forked nodes never return from `node`.
    node(opts, 0, opts.depth, None)?;
    Ok(ExitCode::SUCCESS)
}

/// One tree node: print, create the subtree, report readiness up, then
/// stop / exit / sleep. Returns only for the root with `--exit-leader`.
fn node(opts: TreeOpts, level: u32, depth_left: u32, up: Option<Fd>) -> Res<()> {
    pid_line(tree_role(level))?;
    if depth_left > 1 {
        if opts.stop {
            let mut kids = Vec::new();
            for _ in 0..opts.width {
                match fork()? {
                    Forked::Child => in_child(|| node(opts, level + 1, depth_left - 1, None)),
                    Forked::Parent(pid) => kids.push(pid),
                }
            }
            for pid in kids {
                await_stopped(pid);
            }
        } else {
            let (r, w) = pipe()?;
            for _ in 0..opts.width {
                if let Forked::Child = fork()? {
                    close(r);
                    if let Some(up) = up {
                        close(up);
                    }
                    in_child(|| node(opts, level + 1, depth_left - 1, Some(w)));
                }
            }
            close(w);
            await_ready(r, opts.width as usize);
        }
    }
    if let Some(up) = up {
        notify(up);
    }
    if level == 0 {
        if opts.stop {
            write_out(Stream::Out, b"stopped\n")?;
        }
        if opts.exit_leader {
            return Ok(());
        }
    }
    if opts.stop {
        stop_self();
    }
    sleep_forever()
}

/// The shape of `daemon` (module docs).
pub struct DaemonOpts {
    pub close_fds: bool,
    pub leader_stays: bool,
    pub subreaper: bool,
    pub leave_cgroup: bool,
}

pub fn daemon(opts: DaemonOpts) -> Res<ExitCode> {
    let DaemonOpts {
        close_fds,
        leader_stays,
        subreaper,
        leave_cgroup,
    } = opts;
    if leader_stays {
        pid_line("leader")?;
    }
    let (r, w) = pipe()?;
    match fork()? {
        Forked::Child => {
            close(r);
            in_child(|| {
                setsid()?;
                if subreaper {
                    adopt_then_exit()?;
                }
                if let Forked::Parent(_) = fork()? {
                    exit_now(0);
                }
                // SAFETY: the path is a valid NUL-terminated string.
                unsafe {
                    libc::chdir(c"/".as_ptr());
                }
                if leave_cgroup {
                    leave_own_cgroup();
                }
                pid_line("daemon")?;
                if close_fds {
                    // Closing `w` too tells the leader we are done.
                    close_all_fds();
                } else {
                    notify(w);
                }
                Ok(())
            })
        }
        Forked::Parent(first) => {
            reap_then_await_one(first, r, w);
            // With --close-fds the daemon reports by closing `w`: EOF.
            if leader_stays {
                sleep_forever()
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `daemon --subreaper`: make this process a child subreaper and fork; the parent
/// (this process) reaps the child once it forked on (the grandchild is then ours,
/// adopted) and exits, handing the adopted grandchild to the next subreaper up.
/// Returns in the child.
fn adopt_then_exit() -> Res<()> {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER) only changes this process's flag.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
        return Err(Fail::Io(
            "PR_SET_CHILD_SUBREAPER",
            io::Error::last_os_error(),
        ));
    }
    #[cfg(not(target_os = "linux"))]
    return Err(Fail::Usage("--subreaper is Linux-only".into()));
    #[cfg(target_os = "linux")]
    match fork()? {
        Forked::Child => Ok(()),
        Forked::Parent(child) => {
            // The child exits once it forked the daemon: the daemon is ours now.
            reap(child);
            exit_now(0)
        }
    }
}

/// `daemon --leave-cgroup`: move to the parent of our cgroup (out of a per-child
/// cgroup, into the supervisor's); best effort, said on stderr when refused.
fn leave_own_cgroup() {
    #[cfg(target_os = "linux")]
    if let Err(e) = join_parent_cgroup() {
        let line = format!("kennel-fixture: could not leave the cgroup: {e}\n");
        let _ = crate::out::write_all(Stream::Err, line.as_bytes());
    }
}

/// Write our pid to the `cgroup.procs` of our cgroup's parent, in the cgroup2
/// mount (`/sys/fs/cgroup`, or `/sys/fs/cgroup/unified` on a hybrid host); never
/// creates a file.
#[cfg(target_os = "linux")]
fn join_parent_cgroup() -> io::Result<()> {
    use std::io::Write as _;
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")?;
    let mount = mountinfo
        .lines()
        .find_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let point = left.split_whitespace().nth(4)?;
            right
                .starts_with("cgroup2 ")
                .then(|| std::path::PathBuf::from(point))
        })
        .ok_or_else(|| io::Error::other("no cgroup2 mount"))?;
    let own = std::fs::read_to_string("/proc/self/cgroup")?;
    let own = own
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or("/");
    let parent = std::path::Path::new(own)
        .parent()
        .ok_or_else(|| io::Error::other("already in the root cgroup"))?;
    let procs = mount
        .join(parent.strip_prefix("/").unwrap_or(parent))
        .join("cgroup.procs");
    let mut file = std::fs::OpenOptions::new().write(true).open(procs)?;
    file.write_all(std::process::id().to_string().as_bytes())
}

/// See the module docs: SIGTERM to the parent, SIGHUP to its group if it leads one, and
/// the pid line only once the parent has taken them.
#[cfg(target_os = "linux")]
pub fn signal_parent() -> Res<ExitCode> {
    // SAFETY: getppid/getpgid/kill take plain integers.
    let parent = unsafe {
        let parent = libc::getppid();
        libc::kill(parent, libc::SIGTERM);
        if libc::getpgid(parent) == parent {
            libc::kill(-parent, libc::SIGHUP);
        }
        parent
    };
    let sent = (1u64 << (libc::SIGTERM - 1)) | (1u64 << (libc::SIGHUP - 1));
    write_out(
        Stream::Err,
        format!("leader: signalled pid {parent}; waiting until it takes the signals\n").as_bytes(),
    )?;
    await_taken(parent, sent, std::time::Duration::from_secs(5));
    pid_line("leader")?;
    sleep_forever()
}

/// Wait until none of the `signals` (a mask, bit `n - 1` for signal `n`) is pending in
/// `pid`'s shared set (`ShdPnd` of `/proc/<pid>/status`), `pid` is gone or a zombie, or
/// `patience` has passed (said on stderr).
///
/// Standard signals do not queue: a SIGTERM sent while another is pending is merged
/// into it and keeps the first one's sender. Whoever acts on this process's pid line
/// (the matrix aborts the run with a SIGTERM to the supervisor) must find the
/// parent's signals taken, or the abort would be lost in them.
#[cfg(target_os = "linux")]
fn await_taken(pid: i32, signals: u64, patience: std::time::Duration) {
    let deadline = std::time::Instant::now() + patience;
    loop {
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            return;
        };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(str::trim)
        };
        let pending = field("ShdPnd:")
            .and_then(|hex| u64::from_str_radix(hex, 16).ok())
            .unwrap_or(0);
        let dead = field("State:").is_some_and(|s| s.starts_with(['Z', 'X']));
        if pending & signals == 0 || dead {
            return;
        }
        if std::time::Instant::now() >= deadline {
            let _ = write_out(
                Stream::Err,
                format!("leader: pid {pid} still has the signals pending; going on\n").as_bytes(),
            );
            return;
        }
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
}

pub fn hold_pipe(new_session: bool) -> Res<ExitCode> {
    let (r, w) = pipe()?;
    match fork()? {
        Forked::Child => {
            close(r);
            if let Forked::Parent(_) = fork()? {
                exit_now(0);
            }
            in_child(|| {
                if new_session {
                    setsid()?;
                }
                pid_line("holder")?;
                notify(w);
                Ok(())
            })
        }
        Forked::Parent(first) => {
            reap_then_await_one(first, r, w);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A child that prints, drops its stdio, and then lets the leader exit.
fn leave_detached_child(role: &str, prepare: impl FnOnce() -> Res<()>) -> Res<ExitCode> {
    let (r, w) = pipe()?;
    match fork()? {
        Forked::Child => {
            close(r);
            in_child(|| {
                prepare()?;
                pid_line(role)?;
                devnull_stdio()?;
                notify(w);
                Ok(())
            })
        }
        Forked::Parent(_) => {
            close(w);
            await_ready(r, 1);
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn background() -> Res<ExitCode> {
    leave_detached_child("background", || {
        // SAFETY: setpgid(0, 0) moves us into a new group of our own.
        if unsafe { libc::setpgid(0, 0) } != 0 {
            return Err(Fail::Io("setpgid", io::Error::last_os_error()));
        }
        Ok(())
    })
}

pub fn nohup() -> Res<ExitCode> {
    leave_detached_child("nohup", || {
        // SAFETY: SIG_IGN is a valid disposition for SIGHUP.
        unsafe {
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
        }
        Ok(())
    })
}

pub fn fork_loop(count: u32) -> Res<ExitCode> {
    let mut left = count;
    loop {
        pid_line("looper")?;
        left -= 1;
        if left == 0 {
            sleep_forever()
        }
        match fork() {
            Ok(Forked::Child) => continue,
            Ok(Forked::Parent(_)) => sleep_forever(),
            Err(Fail::Io(what, e)) => {
                let _ = crate::out::write_all(
                    Stream::Err,
                    format!("kennel-fixture: {what}: {e}\n").as_bytes(),
                );
                sleep_forever()
            }
            Err(e) => return Err(e),
        }
    }
}

pub fn parse_signal(s: &str) -> Option<libc::c_int> {
    if let Ok(n) = s.parse::<libc::c_int>() {
        return (n > 0).then_some(n);
    }
    let name = s.to_ascii_uppercase();
    let name = name.strip_prefix("SIG").unwrap_or(&name);
    Some(match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ILL" => libc::SIGILL,
        "TRAP" => libc::SIGTRAP,
        "ABRT" => libc::SIGABRT,
        "BUS" => libc::SIGBUS,
        "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "CHLD" => libc::SIGCHLD,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "TSTP" => libc::SIGTSTP,
        "TTIN" => libc::SIGTTIN,
        "TTOU" => libc::SIGTTOU,
        "XCPU" => libc::SIGXCPU,
        "XFSZ" => libc::SIGXFSZ,
        "WINCH" => libc::SIGWINCH,
        "SYS" => libc::SIGSYS,
        _ => return None,
    })
}

pub fn kill_self(sig: libc::c_int) {
    // SAFETY: resetting a disposition and signalling ourselves. Setting
    // the disposition of KILL/STOP fails harmlessly (EINVAL).
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::kill(libc::getpid(), sig);
    }
}

static TRAP_EXIT_CODE: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn on_term(_: libc::c_int) {
    const MSG: &[u8] = b"got SIGTERM\n";
    // SAFETY: write(2) and _exit(2) are async-signal-safe; the atomic
    // load is a plain memory read.
    unsafe {
        libc::write(1, MSG.as_ptr().cast(), MSG.len());
        libc::_exit(TRAP_EXIT_CODE.load(std::sync::atomic::Ordering::Relaxed));
    }
}

pub fn trap_term(code: i32) {
    TRAP_EXIT_CODE.store(code, std::sync::atomic::Ordering::Relaxed);
    // SAFETY: a zeroed sigaction is a valid starting point; the handler is
    // an extern "C" fn that only uses async-signal-safe calls.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_term as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGTERM, &sa, std::ptr::null_mut());
    }
}

/// The `seq` mode: see the module docs.
pub fn seq(opts: crate::modes::output::SeqOpts) -> Res<ExitCode> {
    if opts.ignore_term {
        ignore_term_signals();
    }
    pid_line("main")?;
    let mut writers = Vec::new();
    if opts.procs > 1 {
        let (r, w) = pipe()?;
        for index in 1..opts.procs {
            match fork()? {
                Forked::Child => {
                    close(r);
                    let result = (|| {
                        if opts.setsid {
                            setsid()?;
                        }
                        pid_line("writer")?;
                        notify(w);
                        seq_write(opts, index)
                    })();
                    exit_now(i32::from(result.is_err()));
                }
                Forked::Parent(pid) => writers.push(pid),
            }
        }
        close(w);
        await_ready(r, writers.len());
    }
    seq_write(opts, 0)?;
    for pid in writers {
        reap(pid);
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes writer `index`'s records (forever when `opts.records` is 0).
fn seq_write(opts: crate::modes::output::SeqOpts, index: u32) -> Res<()> {
    let mut pending = Vec::new();
    let mut seq = 0u64;
    loop {
        let done = opts.records > 0 && seq >= opts.records;
        if !done {
            pending.extend(kennel_tests::seqdata::record(opts.seed, index, seq));
            seq += 1;
        }
        let take = match opts.chunk {
            0 => pending.len(),
            k if pending.len() >= k => k,
            _ if done => pending.len(),
            _ => continue,
        };
        if take == 0 {
            return Ok(());
        }
        write_out(Stream::Out, &pending[..take])?;
        if opts.stderr {
            write_out(Stream::Err, &pending[..take])?;
        }
        pending.drain(..take);
        if !opts.delay.is_zero() {
            std::thread::sleep(opts.delay);
        }
    }
}

/// Closes one of our fds (the `close-stdout` / `drop-stdin` modes).
pub fn close_fd(fd: Fd) {
    close(fd);
}

/// `fork-bomb`: see the module docs.
pub(crate) fn fork_bomb(count: u32, exit: bool) -> Res<ExitCode> {
    pid_line("leader")?;
    let (ready_r, ready_w) = pipe()?;
    let (mut started, mut refused) = (0u32, 0u32);
    for _ in 0..count {
        match fork() {
            Ok(Forked::Child) => {
                close(ready_r);
                let _ = pid_line("bomb");
                notify(ready_w);
                sleep_forever()
            }
            Ok(Forked::Parent(_)) => started += 1,
            Err(Fail::Io(_, e)) if e.raw_os_error() == Some(libc::EAGAIN) => refused += 1,
            Err(e) => return Err(e),
        }
    }
    close(ready_w);
    await_ready(ready_r, started as usize);
    write_out(
        Stream::Out,
        format!("forks {started} {refused}\n").as_bytes(),
    )?;
    if exit {
        return Ok(ExitCode::SUCCESS);
    }
    sleep_forever()
}

/// `spin`: see the module docs.
pub(crate) fn spin(cpu_ms: u64) -> Res<ExitCode> {
    pid_line("main")?;
    let used_ms = || {
        let mut t = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `t` is a valid, writable timespec.
        unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
        t.tv_sec as u64 * 1000 + t.tv_nsec as u64 / 1_000_000
    };
    let mut x = 0u64;
    while used_ms() < cpu_ms {
        for i in 0..10_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
    }
    write_out(Stream::Out, format!("cpu_ms {}\n", used_ms()).as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
