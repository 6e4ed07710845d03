//! The keeper (Linux): a small process between the supervisor and each child's tree
//! that makes the tree die with the supervisor — even with `kill -9` — and catches every
//! descendant that escapes the process group.
//!
//! ```text
//! supervisor ──(socketpair, fd 3)── keeper [child subreaper] ── leader [own group] ── …
//! ```
//!
//! # Why a keeper, and not `PR_SET_PDEATHSIG` or a PID namespace
//!
//! * `PR_SET_PDEATHSIG` fires when the *thread* that forked the child exits, not the
//!   process (a child forked from a tokio blocking-pool thread that retires after 10 s of
//!   idleness would be killed early), it only reaches the leader (grandchildren survive),
//!   and it is not inherited.
//! * A PID namespace kills everything when its init dies, but it needs root or an
//!   unprivileged user namespace (Ubuntu 24.04's AppArmor forbids those), the child
//!   becomes PID 1 (which ignores `SIGTERM` unless it installs a handler — the ladder's
//!   graceful rung would silently do nothing), and every pid it prints is a namespace
//!   pid, useless to the caller.
//! * The keeper needs nothing but `fork`/`exec`. Its end of the control socket closes
//!   when the supervisor dies *for any reason*, which the kernel guarantees; the keeper
//!   then kills the tree. Being the tree's child subreaper, every orphaned descendant
//!   (double fork, `setsid`, `nohup … &`) is reparented to it, so the keeper sees the
//!   whole tree — per tree, so a supervisor running many children never has to guess
//!   which tree an orphan came from.
//!
//! Cost: one extra `fork`+`exec` of the supervisor's own binary per child (measured in
//! `docs/BENCHMARKS.md`, and see `docs/DECISIONS.md`).
//!
//! # Protocol (text lines on the socket)
//!
//! keeper → supervisor: `H` hello, first, as soon as [`init`] recognised the argument
//! (see [Handshake](#handshake)); `L <pid>` leader started; `F <errno>` spawn failed;
//! `X <code|-> <signal|-> [pid…]` leader exited (with the tree's live processes at that
//! moment); `E` no process of the tree is left.
//! supervisor → keeper: `S <signo>` signal the tree; `K` kill the tree (repeated until it
//! is empty); `R` leave what is left running (keep-leftovers). EOF: kill the tree
//! (unless released), reap the leader, exit.
//!
//! # Handshake
//!
//! A keeper (and the shared [guard](super::guard)) is the supervisor's binary re-run
//! with a `__kennel-…` argument; only [`init`] turns it into one. A binary that calls
//! `init()` late, or only on some code path, runs something else instead — typically
//! it exits with a usage error, or it runs its own `main` for a while. So every helper
//! first writes the hello line `H` on its control socket, and the supervisor waits for
//! it ([`await_hello`], [`HELLO_DEADLINE`]) before it relies on the helper. Without the
//! hello the helper's process group is killed and reaped and the spawn fails with
//! `SpawnError::GuardNotStarted`, which says to call `init()` first in `main`
//! (`docs/DECISIONS.md`: a supervisor-death guarantee that does not hold is never
//! claimed).
//!
//! # PID reuse
//!
//! The keeper signals the group only while the leader is unreaped, and other processes
//! only while they are its own unreaped children (reparented orphans): an unreaped pid
//! cannot be reused. Deeper descendants of an orphan are reached when their parent dies
//! and they are reparented to the keeper; the kill rung repeats until nothing is left,
//! so a fork loop converges.

use std::ffi::OsString;
use std::io::{self, Read as _};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal as Sig, WaitId, WaitIdOptions, WaitOptions};

use super::cgroup::Cgroup;
use super::procfs;
use crate::HelperFailure;

/// `argv[1]` that turns the supervisor's binary into a keeper.
pub(crate) const KEEPER_ARG: &str = "__kennel-keeper";

/// The fd the control socket is placed at in the keeper.
pub(crate) const CTL_FD: RawFd = 3;

static ENABLED: AtomicBool = AtomicBool::new(false);
static PROGRAM: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// The first line every helper (keeper, guard) writes on its control socket: proof that
/// the re-run binary entered [`init`] as a helper.
pub(super) const HELLO: &str = "H";

/// How long a freshly started helper may take to say hello. A binary that calls
/// [`init`] first answers within milliseconds of its `exec` (the dynamic loader and
/// `main`'s first line); 10 s covers a machine under heavy load, and bounds how long a
/// spawn hangs on a binary that runs its own long `main` instead.
pub(super) const HELLO_DEADLINE: Duration = Duration::from_secs(10);

/// Say hello to the supervisor. A supervisor that is already gone makes this fail; the
/// helper then reads EOF on the socket and does its teardown as usual.
pub(super) fn say_hello(ctl: &OwnedFd) {
    let _ = send(ctl, &format!("{HELLO}\n"));
}

/// Why a helper's hello did not come.
pub(super) enum HelloError {
    /// The binary did not answer as a helper: it never entered [`init`].
    NotAHelper(HelperFailure),
    /// Reading the socket failed.
    Io(io::Error),
}

/// Read one line from a helper's control socket before `deadline`: `Ok(None)` on EOF,
/// `TimedOut` at the deadline.
///
/// A read with a timeout is never restarted after a signal handler ran (signal(7)),
/// whatever `SA_RESTART` says: `EINTR` retries against the same deadline.
pub(super) fn read_line(sock: &mut UnixStream, deadline: Instant) -> io::Result<Option<String>> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::from(io::ErrorKind::TimedOut));
        }
        sock.set_read_timeout(Some(left))?;
        match sock.read(&mut byte) {
            Ok(1) if byte[0] == b'\n' => {
                return Ok(Some(String::from_utf8_lossy(&line).into_owned()))
            }
            Ok(1) => line.push(byte[0]),
            Ok(_) => return Ok(None),
            // The timeout expired (EAGAIN) or a handler ran: the loop checks the deadline.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::Interrupted
                        | io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e),
        }
    }
}

/// Wait for a freshly started helper's hello ([`HELLO_DEADLINE`]).
pub(super) fn await_hello(sock: &mut UnixStream) -> Result<(), HelloError> {
    match read_line(sock, Instant::now() + HELLO_DEADLINE) {
        Ok(Some(line)) if line == HELLO => Ok(()),
        Ok(Some(line)) => Err(HelloError::NotAHelper(HelperFailure::Unexpected(line))),
        Ok(None) => Err(HelloError::NotAHelper(HelperFailure::Exited)),
        Err(e) if e.kind() == io::ErrorKind::TimedOut => Err(HelloError::NotAHelper(
            HelperFailure::NoAnswer(HELLO_DEADLINE),
        )),
        Err(e) => Err(HelloError::Io(e)),
    }
}

/// Kill a helper that failed its handshake — its whole process group: a binary that
/// did not enter [`init`] may have started processes of its own — and reap it. The
/// helper is our unreaped child and leads its group, so neither id can have been
/// reused.
pub(super) fn abandon(helper: Pid) {
    let _ = rustix::process::kill_process_group(helper, Sig::KILL);
    let _ = rustix::process::kill_process(helper, Sig::KILL);
    while let Err(rustix::io::Errno::INTR) =
        rustix::process::waitid(WaitId::Pid(helper), WaitIdOptions::EXITED)
    {}
}

/// How a helper started from this binary (`args`) is shown in an error: the real path
/// rather than `/proc/self/exe`.
pub(crate) fn helper_command_line(arg: &str) -> String {
    let program = program();
    let shown = if program == std::path::Path::new("/proc/self/exe") {
        std::fs::read_link(&program).unwrap_or(program)
    } else {
        program
    };
    format!("{} {arg}", shown.display())
}

/// Become a keeper if asked to by `argv`; otherwise remember that this binary can host
/// keepers.
pub(crate) fn init() {
    let mut args = std::env::args_os();
    let first = args.nth(1);
    let helper = [KEEPER_ARG, super::guard::GUARD_ARG]
        .iter()
        .any(|arg| first.as_deref() == Some(std::ffi::OsStr::new(arg)));
    if helper {
        // A guard or keeper holds the power to end trees: no child may trace it, nor
        // end it with `kill $PPID` (it ends when its control socket closes, or by
        // SIGKILL). Best effort: it works without (and neither call fails on Linux).
        let _ = super::make_undumpable();
        set_termination_signals(libc::SIG_IGN);
    }
    if first.as_deref() == Some(std::ffi::OsStr::new(KEEPER_ARG)) {
        let rest: Vec<OsString> = args.collect();
        let code = match run(rest) {
            Ok(()) => 0,
            Err(_) => 1,
        };
        std::process::exit(code);
    }
    if first.as_deref() == Some(std::ffi::OsStr::new(super::guard::GUARD_ARG)) {
        std::process::exit(i32::from(super::guard::run().is_err()));
    }
    ENABLED.store(true, Ordering::Release);
}

/// Set SIGINT, SIGTERM and SIGHUP to `disposition` (`SIG_IGN` or `SIG_DFL`).
/// Async-signal-safe (only `sigaction`), so callable between fork and exec.
fn set_termination_signals(disposition: libc::sighandler_t) {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: a zeroed sigaction with SIG_IGN/SIG_DFL as handler and an empty
        // mask is valid; sigaction(2) is async-signal-safe.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = disposition;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
    }
}

/// Use another binary that calls [`init`] (e.g. `kennel`) as the keeper.
pub(crate) fn use_program(path: PathBuf) -> bool {
    PROGRAM.set(path).is_ok()
}

/// Whether a keeper can be started: [`init`] ran in this binary, or a keeper program was
/// named.
pub(crate) fn enabled() -> bool {
    ENABLED.load(Ordering::Acquire) || PROGRAM.get().is_some()
}

/// The binary to start as a keeper.
pub(crate) fn program() -> PathBuf {
    PROGRAM
        .get()
        .cloned()
        .unwrap_or_else(|| PathBuf::from("/proc/self/exe"))
}

struct State {
    ctl: OwnedFd,
    leader: Pid,
    leader_exited: bool,
    cgroup: Option<Cgroup>,
    kill_mode: bool,
    /// The supervisor asked to leave the leftovers running (`R`).
    released: bool,
    eof: bool,
    reported_exit: bool,
    reported_empty: bool,
    inbuf: Vec<u8>,
}

fn run(args: Vec<OsString>) -> io::Result<()> {
    // SAFETY: the supervisor placed our end of the control socket at fd 3 (dup2 in its
    // pre_exec); nothing else in this fresh process owns that fd.
    let ctl = unsafe { OwnedFd::from_raw_fd(CTL_FD) };
    rustix::io::fcntl_setfd(&ctl, rustix::io::FdFlags::CLOEXEC)?;
    say_hello(&ctl);
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))?;

    let mut args = args.into_iter();
    let cgroup_arg = args.next().unwrap_or_default();
    let program = args.next().unwrap_or_default();
    let rest: Vec<OsString> = args.collect();
    let cgroup = if cgroup_arg == "-" {
        None
    } else {
        Cgroup::open(PathBuf::from(cgroup_arg)).ok()
    };

    // SIGCHLD through a signalfd: block it here, unblock it in the leader before exec
    // (the mask survives exec).
    let sigfd = chld_signalfd()?;

    let mut cmd = std::process::Command::new(&program);
    cmd.args(&rest).process_group(0);
    let claim_terminal = std::env::var_os(super::terminal::CLAIM_ENV).is_some();
    cmd.env_remove(super::terminal::CLAIM_ENV);
    let join_fd = cgroup.as_ref().map(Cgroup::procs_fd);
    // SAFETY: the closure only makes async-signal-safe system calls (sigprocmask via
    // libc, write, tcsetpgrp) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            unblock_chld();
            // An ignored signal stays ignored across exec: give the program the
            // default dispositions the keeper took away from itself.
            set_termination_signals(libc::SIG_DFL);
            if claim_terminal {
                super::terminal::claim_in_child();
            }
            if let Some(fd) = join_fd {
                if libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            let errno = e.raw_os_error().unwrap_or(0);
            let _ = send(&ctl, &format!("F {errno}\n"));
            return Ok(());
        }
    };
    // From here on the keeper must not leave without killing the tree: an early return
    // would orphan a running leader (session 2 saw one survive a `kill -9` of `kennel
    // run` that landed between this spawn and the `L` line).
    let Some(leader) = i32::try_from(child.id()).ok().and_then(Pid::from_raw) else {
        let _ = child.kill();
        return Err(io::Error::from(io::ErrorKind::InvalidData));
    };
    // If the supervisor is already gone this fails (EPIPE); the event loop then reads
    // EOF on the socket and kills the tree.
    let _ = send(
        &ctl,
        &format!("L {leader}\n", leader = leader.as_raw_nonzero()),
    );
    // Only the tree may hold the child's stdio now: otherwise EOF would never come.
    release_stdio();

    let mut st = State {
        ctl,
        leader,
        leader_exited: false,
        cgroup,
        kill_mode: false,
        released: false,
        eof: false,
        reported_exit: false,
        reported_empty: false,
        inbuf: Vec::new(),
    };
    let result = st.event_loop(&sigfd);
    if result.is_err() {
        // The loop failed (poll error): still take the tree down before leaving.
        let others = st.other_children();
        st.kill_tree(&others);
    }
    result
}

impl State {
    fn event_loop(&mut self, sigfd: &OwnedFd) -> io::Result<()> {
        loop {
            self.reap_and_check_leader();
            let others = self.other_children();
            if self.leader_exited && !self.reported_exit {
                let mut line = match self.leader_status() {
                    Some((code, sig)) => format!("X {} {}", opt(code), opt(sig)),
                    None => "X - -".to_owned(),
                };
                for pid in self.live_tree(&others) {
                    line.push_str(&format!(" {pid}"));
                }
                line.push('\n');
                let _ = send(&self.ctl, &line);
                self.reported_exit = true;
            }
            let populated = self.cgroup.as_ref().is_some_and(Cgroup::populated);
            let empty = self.leader_exited && others.is_empty() && !populated;
            if self.eof && self.released {
                if let Some(cg) = &self.cgroup {
                    cg.release();
                }
                break;
            }
            if empty {
                if !self.reported_empty {
                    let _ = send(&self.ctl, "E\n");
                    self.reported_empty = true;
                }
                if self.eof {
                    break;
                }
            } else if self.kill_mode {
                self.kill_tree(&others);
            }

            let mut fds = [
                rustix::event::PollFd::new(sigfd, rustix::event::PollFlags::IN),
                rustix::event::PollFd::new(&self.ctl, rustix::event::PollFlags::IN),
            ];
            let n = if self.eof { 1 } else { 2 };
            let timeout = if self.kill_mode && !empty {
                Some(rustix::event::Timespec {
                    tv_sec: 0,
                    tv_nsec: 2_000_000,
                })
            } else {
                None
            };
            match rustix::event::poll(&mut fds[..n], timeout.as_ref()) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
            let sig_ready = !fds[0].revents().is_empty();
            let ctl_ready = n == 2 && !fds[1].revents().is_empty();
            if sig_ready {
                drain(sigfd);
            }
            if ctl_ready {
                self.read_commands();
            }
        }
        // The tree is gone and the supervisor is done with us.
        let _ = rustix::process::waitid(WaitId::Pid(self.leader), WaitIdOptions::EXITED);
        if let Some(cg) = &mut self.cgroup {
            cg.remove();
        }
        Ok(())
    }

    fn read_commands(&mut self) {
        let mut buf = [0u8; 512];
        match rustix::io::read(&self.ctl, &mut buf) {
            Ok(0) | Err(_) => {
                // The supervisor is gone (exited, crashed, killed) or done: kill all,
                // unless it released the leftovers first.
                self.eof = true;
                self.kill_mode = !self.released;
            }
            Ok(n) => self.inbuf.extend_from_slice(&buf[..n]),
        }
        while let Some(pos) = self.inbuf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.inbuf.drain(..=pos).collect();
            let line = String::from_utf8_lossy(&line);
            let mut words = line.split_whitespace();
            match (
                words.next(),
                words.next().and_then(|n| n.parse::<i32>().ok()),
            ) {
                (Some("S"), Some(signo)) => {
                    let others = self.other_children();
                    if let Some(sig) = Sig::from_named_raw(signo) {
                        self.signal_tree(sig, &others);
                    }
                }
                (Some("K"), _) => self.kill_mode = true,
                (Some("R"), _) => self.released = true,
                _ => {}
            }
        }
    }

    /// Reap exited children other than the leader; note the leader's exit (unreaped).
    fn reap_and_check_leader(&mut self) {
        for pid in procfs::children_of(rustix::process::getpid().as_raw_nonzero().get() as u32) {
            if pid == self.leader.as_raw_nonzero().get() as u32 {
                continue;
            }
            if procfs::read_stat(pid).is_some_and(|s| s.state == 'Z') {
                if let Some(p) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
                    let _ = rustix::process::waitpid(Some(p), WaitOptions::NOHANG);
                }
            }
        }
        if !self.leader_exited {
            self.leader_exited = matches!(
                rustix::process::waitid(
                    WaitId::Pid(self.leader),
                    WaitIdOptions::EXITED | WaitIdOptions::NOWAIT | WaitIdOptions::NOHANG,
                ),
                Ok(Some(_))
            );
        }
    }

    fn leader_status(&self) -> Option<(Option<i32>, Option<i32>)> {
        let status = rustix::process::waitid(
            WaitId::Pid(self.leader),
            WaitIdOptions::EXITED | WaitIdOptions::NOWAIT | WaitIdOptions::NOHANG,
        )
        .ok()??;
        Some(if status.exited() {
            (status.exit_status(), None)
        } else {
            (None, status.terminating_signal())
        })
    }

    /// Our live children other than the leader: reparented orphans of the tree.
    fn other_children(&self) -> Vec<Pid> {
        let me = rustix::process::getpid().as_raw_nonzero().get() as u32;
        let leader = self.leader.as_raw_nonzero().get() as u32;
        procfs::children_of(me)
            .into_iter()
            .filter(|&p| p != leader)
            .filter(|&p| procfs::read_stat(p).is_some_and(|s| s.state != 'Z'))
            .filter_map(|p| i32::try_from(p).ok().and_then(Pid::from_raw))
            .collect()
    }

    /// Every live process of the tree we can see (for the exit report).
    fn live_tree(&self, others: &[Pid]) -> Vec<u32> {
        let leader = self.leader.as_raw_nonzero().get() as u32;
        let mut pids: Vec<u32> = procfs::group_members(leader)
            .into_iter()
            .filter(|&p| p != leader)
            .collect();
        for o in others {
            let o = o.as_raw_nonzero().get() as u32;
            pids.push(o);
            pids.extend(procfs::descendants_of(o));
        }
        if let Some(cg) = &self.cgroup {
            pids.extend(cg.pids());
        }
        pids.sort_unstable();
        pids.dedup();
        pids.retain(|&p| p != leader);
        pids
    }

    fn signal_tree(&self, sig: Sig, others: &[Pid]) {
        // The leader is unreaped: its group id is still ours.
        let _ = rustix::process::kill_process_group(self.leader, sig);
        if let Some(cg) = &self.cgroup {
            cg.signal_all(sig);
        }
        for &pid in others {
            // An unreaped child of ours: the pid cannot have been reused.
            let _ = rustix::process::kill_process(pid, sig);
            if rustix::process::getpgid(Some(pid)).ok() == Some(pid) {
                let _ = rustix::process::kill_process_group(pid, sig);
            }
        }
    }

    fn kill_tree(&self, others: &[Pid]) {
        if let Some(cg) = &self.cgroup {
            let _ = cg.kill();
        }
        self.signal_tree(Sig::KILL, others);
    }
}

fn opt(v: Option<i32>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

fn send(fd: &OwnedFd, line: &str) -> io::Result<()> {
    let mut bytes = line.as_bytes();
    while !bytes.is_empty() {
        match rustix::io::write(fd, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn drain(fd: &OwnedFd) {
    let mut buf = [0u8; 1024];
    while matches!(rustix::io::read(fd, &mut buf), Ok(n) if n > 0) {}
}

pub(super) fn release_stdio() {
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        for target in 0..3 {
            // SAFETY: fds 0..3 are this process's stdio; replacing them with /dev/null
            // (dup2 closes the old description atomically) is what we want, and no Rust
            // object owns them.
            unsafe {
                libc::dup2(null.as_raw_fd(), target);
            }
        }
    }
}

fn chld_signalfd() -> io::Result<OwnedFd> {
    // SAFETY: plain libc calls on a zeroed, locally owned sigset; the returned fd is
    // checked and wrapped in an OwnedFd at once. This process is single-threaded here,
    // so changing the mask affects only this thread, as intended.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        if libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// Async-signal-safe: used between fork and exec.
fn unblock_chld() {
    // SAFETY: sigemptyset/sigaddset/sigprocmask on a local set are async-signal-safe.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
    }
}

/// The supervisor's side of one keeper.
#[derive(Debug)]
pub(crate) struct KeeperLink {
    ctl: Option<tokio::net::UnixStream>,
    inbuf: Vec<u8>,
    pub(crate) leader: u32,
    pub(crate) exit: Option<crate::ExitStatus>,
    pub(crate) leftovers: Vec<u32>,
    pub(crate) empty: bool,
    /// Set when the keeper went away before the supervisor let it go: from then on a
    /// supervisor death would leave the tree running.
    pub(crate) lost: std::sync::Arc<AtomicBool>,
}

/// How spawning through a keeper failed.
pub(crate) enum KeeperSpawnError {
    /// Starting the keeper itself failed (a stage and the error).
    Keeper(&'static str, io::Error),
    /// The keeper could not start the program (errno from its `exec`).
    Program(io::Error),
    /// The binary re-run as the keeper did not answer as one.
    NotAKeeper(HelperFailure),
}

/// Make `fd` the child's control socket at [`CTL_FD`] (inherited across `exec`).
pub(super) fn pass_ctl_fd(cmd: &mut std::process::Command, fd: &impl AsRawFd) {
    let fd = fd.as_raw_fd();
    // SAFETY: dup2 and fcntl are async-signal-safe; only the child's own fd table is
    // touched between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if fd == CTL_FD {
                let flags = libc::fcntl(CTL_FD, libc::F_GETFD);
                libc::fcntl(CTL_FD, libc::F_SETFD, flags & !libc::FD_CLOEXEC);
            } else if libc::dup2(fd, CTL_FD) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Start a keeper from `base` (its argv, env, cwd and stdio already set); returns the
/// keeper's `Child` (for the pipes) and the link to it.
pub(crate) fn spawn_with_pipes(
    base: &mut std::process::Command,
) -> Result<(std::process::Child, KeeperLink), KeeperSpawnError> {
    let (ours, theirs) = std::os::unix::net::UnixStream::pair()
        .map_err(|e| KeeperSpawnError::Keeper("socketpair", e))?;
    base.process_group(0);
    pass_ctl_fd(base, &theirs);
    let child = base
        .spawn()
        .map_err(|e| KeeperSpawnError::Keeper("starting the keeper", e))?;
    drop(theirs);
    let keeper = i32::try_from(child.id())
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(|| {
            KeeperSpawnError::Keeper(
                "starting the keeper",
                io::Error::from(io::ErrorKind::InvalidData),
            )
        })?;

    // Handshake: the hello (the binary is a keeper), then `L` or `F`. The keeper
    // answers within milliseconds; 30 s for the `L` covers a machine under heavy load
    // without hanging forever on a keeper that died.
    let mut std_ctl = ours;
    let started = Instant::now();
    match await_hello(&mut std_ctl) {
        Ok(()) => {}
        Err(HelloError::NotAHelper(failure)) => {
            abandon(keeper);
            return Err(KeeperSpawnError::NotAKeeper(failure));
        }
        Err(HelloError::Io(e)) => {
            abandon(keeper);
            return Err(KeeperSpawnError::Keeper("keeper handshake", e));
        }
    }
    let reap_keeper = move || {
        let _ = rustix::process::waitid(WaitId::Pid(keeper), WaitIdOptions::EXITED);
    };
    let line = match read_line(&mut std_ctl, started + Duration::from_secs(30)) {
        Ok(Some(line)) => line,
        Ok(None) => {
            abandon(keeper);
            return Err(KeeperSpawnError::Keeper(
                "keeper handshake",
                io::Error::from(io::ErrorKind::UnexpectedEof),
            ));
        }
        Err(e) => {
            abandon(keeper);
            return Err(KeeperSpawnError::Keeper("keeper handshake", e));
        }
    };
    let mut words = line.split_whitespace();
    match (
        words.next(),
        words.next().and_then(|w| w.parse::<i32>().ok()),
    ) {
        (Some("L"), Some(pid)) if pid > 0 => {
            std_ctl
                .set_nonblocking(true)
                .map_err(|e| KeeperSpawnError::Keeper("keeper socket", e))?;
            let ctl = tokio::net::UnixStream::from_std(std_ctl)
                .map_err(|e| KeeperSpawnError::Keeper("registering the keeper socket", e))?;
            Ok((
                child,
                KeeperLink {
                    ctl: Some(ctl),
                    inbuf: Vec::new(),
                    leader: pid as u32,
                    exit: None,
                    leftovers: Vec::new(),
                    empty: false,
                    lost: std::sync::Arc::new(AtomicBool::new(false)),
                },
            ))
        }
        (Some("F"), Some(errno)) => {
            reap_keeper();
            Err(KeeperSpawnError::Program(io::Error::from_raw_os_error(
                errno,
            )))
        }
        _ => {
            abandon(keeper);
            Err(KeeperSpawnError::Keeper(
                "keeper handshake",
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("unexpected line {line:?}"),
                ),
            ))
        }
    }
}

impl KeeperLink {
    fn absorb(&mut self) {
        while let Some(pos) = self.inbuf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.inbuf.drain(..=pos).collect();
            let line = String::from_utf8_lossy(&line);
            let mut words = line.split_whitespace();
            match words.next() {
                Some("X") => {
                    let code = words.next().and_then(|w| w.parse().ok());
                    let signal = words.next().and_then(|w| w.parse().ok());
                    self.exit = Some(crate::ExitStatus { code, signal });
                    self.leftovers = words.filter_map(|w| w.parse().ok()).collect();
                }
                Some("E") => self.empty = true,
                _ => {}
            }
        }
    }

    /// Read whatever the keeper sent, without blocking. A closed socket means the keeper
    /// is gone: the tree is as empty as we can make it.
    pub(crate) fn poll_lines(&mut self) {
        let Some(ctl) = &self.ctl else { return };
        let mut buf = [0u8; 4096];
        loop {
            match ctl.try_read(&mut buf) {
                Ok(0) => {
                    self.keeper_gone();
                    break;
                }
                Ok(n) => self.inbuf.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.keeper_gone();
                    break;
                }
            }
        }
        self.absorb();
    }

    fn keeper_gone(&mut self) {
        self.ctl = None;
        self.lost.store(true, Ordering::Release);
        self.empty = true;
        if self.exit.is_none() {
            self.exit = Some(crate::ExitStatus {
                code: None,
                signal: None,
            });
        }
    }

    /// Wait until the leader exits.
    pub(crate) async fn wait_exit(&mut self) -> io::Result<crate::ExitStatus> {
        loop {
            self.poll_lines();
            if let Some(status) = self.exit {
                return Ok(status);
            }
            match &self.ctl {
                Some(ctl) => ctl.readable().await?,
                None => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
            }
        }
    }

    /// Send a command line.
    ///
    /// A plain `send(2)` on the socket, not tokio's `try_write`: tokio reports a freshly
    /// registered socket as not writable until its reactor has polled it once, so a
    /// signal or kill sent the moment `spawn` returned failed with `WouldBlock` and was
    /// lost. The lines are a few bytes and the keeper reads them as they come, so the
    /// socket buffer (hundreds of KiB) is never full unless the keeper is stuck; then
    /// `WouldBlock` is the honest answer. `MSG_NOSIGNAL`: a dead keeper is an `EPIPE`,
    /// never a `SIGPIPE` that would kill a host program which has not ignored it.
    pub(crate) fn command(&mut self, line: &str) -> io::Result<()> {
        let ctl = self
            .ctl
            .as_ref()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))?;
        let mut bytes = line.as_bytes();
        while !bytes.is_empty() {
            match rustix::net::send(ctl, bytes, rustix::net::SendFlags::NOSIGNAL) {
                Ok(n) => bytes = &bytes[n..],
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Resolves when the keeper sent something (or closed the socket).
    pub(crate) async fn readable(&self) {
        match &self.ctl {
            Some(ctl) => {
                let _ = ctl.readable().await;
            }
            None => std::future::pending::<()>().await,
        }
    }

    /// Close the control socket: the keeper kills whatever is left, reaps, and exits.
    pub(crate) fn close(&mut self) {
        self.ctl = None;
    }
}
