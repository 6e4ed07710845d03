//! The keeper process itself: what `__kennel-keeper` runs after [`init`](super::init)
//! recognised the argument (the protocol and the races are in the
//! [module docs](super)).

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;

use rustix::process::{Pid, Signal as Sig, WaitId, WaitIdOptions, WaitOptions};

use super::{say_hello, send, set_termination_signals, CTL_FD};
use crate::sys::unix::linux::{cgroup::Cgroup, pidns, procfs};
use crate::sys::unix::terminal;

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

/// The keeper's `main`: start the program in its own group (and the cgroup, if one
/// was given), report it, then hold the tree until the supervisor lets go.
pub(crate) fn run(args: Vec<OsString>) -> io::Result<()> {
    // SAFETY: the supervisor placed our end of the control socket at fd 3 (dup2 in its
    // pre_exec); nothing else in this fresh process owns that fd.
    let ctl = unsafe { OwnedFd::from_raw_fd(CTL_FD) };
    rustix::io::fcntl_setfd(&ctl, rustix::io::FdFlags::CLOEXEC)?;
    say_hello(&ctl);
    // Asked for a PID namespace: from here on this process is its init.
    if let Err(errno) = pidns::enter_if_asked() {
        return send(&ctl, &format!("N {errno}\n"));
    }
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))?;

    let mut args = args.into_iter();
    let cgroup_arg = args.next().unwrap_or_default();
    let program = args.next().unwrap_or_default();
    let rest: Vec<OsString> = args.collect();
    let cgroup = (cgroup_arg != "-").then(|| Cgroup::open(PathBuf::from(cgroup_arg)).ok());
    // Its `cgroup.procs` is opened here, as before the keeper's leader forks.
    let cgroup = cgroup.flatten().filter(|cg| cg.procs_fd().is_ok());

    // SIGCHLD through a signalfd: block it here, unblock it in the leader before exec
    // (the mask survives exec).
    let sigfd = chld_signalfd()?;
    let mut cmd = leader_command(&program, &rest, cgroup.as_ref());
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
    State::new(ctl, leader, cgroup).hold(&sigfd)
}

/// The leader's command: its own process group, the default dispositions, the
/// terminal if the supervisor asked, and the cgroup joined before `exec`.
fn leader_command(
    program: &OsString,
    rest: &[OsString],
    cgroup: Option<&Cgroup>,
) -> std::process::Command {
    let mut cmd = std::process::Command::new(program);
    cmd.args(rest).process_group(0);
    let claim_terminal = std::env::var_os(terminal::CLAIM_ENV).is_some();
    cmd.env_remove(terminal::CLAIM_ENV).env_remove(pidns::ENV);
    let join_fd = cgroup.and_then(|cg| cg.procs_fd().ok());
    // SAFETY: the closure only makes async-signal-safe system calls (sigprocmask via
    // libc, write, tcsetpgrp) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            unblock_chld();
            // An ignored signal stays ignored across exec: give the program the
            // default dispositions the keeper took away from itself.
            set_termination_signals(libc::SIG_DFL);
            if claim_terminal {
                terminal::claim_in_child();
            }
            if let Some(fd) = join_fd {
                if libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    cmd
}

impl State {
    fn new(ctl: OwnedFd, leader: Pid, cgroup: Option<Cgroup>) -> State {
        State {
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
        }
    }

    /// Run the event loop; if it fails (a poll error), still take the tree down.
    fn hold(mut self, sigfd: &OwnedFd) -> io::Result<()> {
        let result = self.event_loop(sigfd);
        if result.is_err() {
            let others = self.other_children();
            self.kill_tree(&others);
        }
        result
    }

    fn event_loop(&mut self, sigfd: &OwnedFd) -> io::Result<()> {
        loop {
            self.reap_and_check_leader();
            let others = self.other_children();
            if self.leader_exited && !self.reported_exit {
                self.report_exit(&others);
            }
            let populated = self.cgroup.as_ref().is_some_and(Cgroup::populated);
            let empty = self.leader_exited && others.is_empty() && !populated;
            if self.eof && self.released {
                if let Some(cg) = &self.cgroup {
                    cg.move_members_out();
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
            self.wait_for_events(sigfd, self.kill_mode && !empty)?;
        }
        // The tree is gone and the supervisor is done with us.
        let _ = rustix::process::waitid(WaitId::Pid(self.leader), WaitIdOptions::EXITED);
        if let Some(cg) = &mut self.cgroup {
            cg.remove();
        }
        Ok(())
    }

    /// `X <code|-> <signal|-> [pid…]`: the leader exited, with what still runs.
    fn report_exit(&mut self, others: &[Pid]) {
        let mut line = match self.leader_status() {
            Some((code, sig)) => format!("X {} {}", opt(code), opt(sig)),
            None => "X - -".to_owned(),
        };
        for pid in self.live_tree(others) {
            line.push_str(&format!(" {pid}"));
        }
        line.push('\n');
        let _ = send(&self.ctl, &line);
        self.reported_exit = true;
    }

    /// Sleep until a child changed state or the supervisor wrote (or closed the
    /// socket); every 2 ms while killing, so a fork loop is caught up with.
    fn wait_for_events(&mut self, sigfd: &OwnedFd, killing: bool) -> io::Result<()> {
        let mut fds = [
            rustix::event::PollFd::new(sigfd, rustix::event::PollFlags::IN),
            rustix::event::PollFd::new(&self.ctl, rustix::event::PollFlags::IN),
        ];
        let n = if self.eof { 1 } else { 2 };
        let timeout = killing.then_some(rustix::event::Timespec {
            tv_sec: 0,
            tv_nsec: 2_000_000,
        });
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
        pidns::signal_all_if_init(sig.as_raw());
        if let Some(cg) = &self.cgroup {
            cg.signal_all(sig, None);
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

fn drain(fd: &OwnedFd) {
    let mut buf = [0u8; 1024];
    while matches!(rustix::io::read(fd, &mut buf), Ok(n) if n > 0) {}
}

pub(crate) fn release_stdio() {
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
