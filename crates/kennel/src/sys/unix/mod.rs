//! Unix containment: a process group per child, signalled with `killpg`, kept safe from
//! PID reuse by never reaping the leader before the group is torn down.
//!
//! # What the OS does, and where it races
//!
//! * The child is made leader of a new process group *at spawn* (`setpgid` inside
//!   `posix_spawn`/`fork`, via `std::process::CommandExt::process_group(0)`), so it
//!   cannot fork a descendant outside the group before the group exists.
//! * A process group id is the leader's pid. While the leader is unreaped (running or a
//!   zombie) its pid — hence the group id — cannot be handed to another process, so
//!   `killpg(pgid)` can only reach this tree. kennel therefore learns of the leader's
//!   exit with `waitid(WEXITED | WNOWAIT)` (which leaves the zombie in place), tears the
//!   group down, and only then reaps. On Linux the wait goes through a pidfd (readable
//!   when the process exits), so no thread blocks and nobody else's child is reaped.
//! * Descendants that call `setsid()` or `setpgid()` leave the group; `killpg` misses
//!   them. The subreaper sweep (Linux) is the tier that finds them.
//! * Nothing here survives a `SIGKILL` of the supervisor: the keeper tier covers that.

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::Stdio;

use rustix::process::{Pid, WaitId, WaitIdOptions, WaitIdStatus};
use tokio::net::unix::pipe;

use crate::spec::EnvOp;
use crate::{Command, Containment, ExitStatus, OutputMode, Signal, SpawnError, StdinMode};

/// The read end of a child's stdout/stderr.
pub(crate) type PipeReader = pipe::Receiver;
/// The write end of a child's stdin.
pub(crate) type PipeWriter = pipe::Sender;

/// A freshly spawned child with its pipes.
pub(crate) struct Spawned {
    pub(crate) leader: Leader,
    pub(crate) stdin: Option<PipeWriter>,
    pub(crate) stdout: Option<PipeReader>,
    pub(crate) stderr: Option<PipeReader>,
}

/// The containment tier this platform uses.
pub(crate) fn containment() -> Containment {
    Containment::Group
}

/// Every tier that works on this machine, strongest first.
pub(crate) fn available() -> Vec<Containment> {
    vec![Containment::Group]
}

/// Spawn `cmd` as the leader of a new process group.
pub(crate) fn spawn(cmd: &Command) -> Result<Spawned, SpawnError> {
    let program = cmd.program.to_string_lossy().into_owned();
    let cwd = match &cmd.cwd {
        Some(dir) => {
            if !dir.is_dir() {
                return Err(SpawnError::BadCwd {
                    program,
                    cwd: dir.clone(),
                });
            }
            dir.clone()
        }
        None => std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
    };

    let mut std_cmd = std::process::Command::new(&cmd.program);
    std_cmd.args(&cmd.args);
    if let Some(dir) = &cmd.cwd {
        std_cmd.current_dir(dir);
    }
    if cmd.env_clear {
        std_cmd.env_clear();
    }
    for op in &cmd.env {
        match op {
            EnvOp::Set(k, v) => {
                std_cmd.env(k, v);
            }
            EnvOp::Remove(k) => {
                std_cmd.env_remove(k);
            }
        }
    }
    std_cmd.stdin(match cmd.stdin {
        StdinMode::Null => Stdio::null(),
        StdinMode::Piped => Stdio::piped(),
        StdinMode::Inherit => Stdio::inherit(),
    });
    std_cmd.stdout(output_stdio(cmd.stdout));
    std_cmd.stderr(output_stdio(cmd.stderr));
    // A new process group led by the child, set before exec: nothing the child runs can
    // fork outside it before it exists.
    std_cmd.process_group(0);

    let mut child = std_cmd.spawn().map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => SpawnError::NotFound {
            program: program.clone(),
            cwd: cwd.clone(),
            source,
        },
        io::ErrorKind::PermissionDenied => SpawnError::PermissionDenied {
            program: program.clone(),
            cwd: cwd.clone(),
            source,
        },
        _ => SpawnError::Os {
            program: program.clone(),
            cwd: cwd.clone(),
            stage: "fork/exec",
            source,
        },
    })?;
    let pid = child.id();
    let mut leader = Leader::new(pid);
    // From here on, `leader`'s Drop kills and reaps the tree if setup fails.
    let os_err = |stage: &'static str| {
        let program = program.clone();
        let cwd = cwd.clone();
        move |source: io::Error| SpawnError::Os {
            program,
            cwd,
            stage,
            source,
        }
    };
    leader.open_pidfd().map_err(os_err("pidfd_open"))?;
    let stdin = child
        .stdin
        .take()
        .map(|w| pipe::Sender::from_owned_fd(OwnedFd::from(w)))
        .transpose()
        .map_err(os_err("registering stdin with the reactor"))?;
    let stdout = child
        .stdout
        .take()
        .map(|r| pipe::Receiver::from_owned_fd(OwnedFd::from(r)))
        .transpose()
        .map_err(os_err("registering stdout with the reactor"))?;
    let stderr = child
        .stderr
        .take()
        .map(|r| pipe::Receiver::from_owned_fd(OwnedFd::from(r)))
        .transpose()
        .map_err(os_err("registering stderr with the reactor"))?;
    Ok(Spawned {
        leader,
        stdin,
        stdout,
        stderr,
    })
}

fn output_stdio(mode: OutputMode) -> Stdio {
    match mode {
        OutputMode::Piped => Stdio::piped(),
        OutputMode::Inherit => Stdio::inherit(),
        OutputMode::Null => Stdio::null(),
    }
}

/// The leader of a child's process group. Holds the leader unreaped until
/// [`Leader::reap`], so its pid and group id stay ours.
pub(crate) struct Leader {
    pid: u32,
    #[cfg(target_os = "linux")]
    pidfd: Option<tokio::io::unix::AsyncFd<OwnedFd>>,
    exited: Option<ExitStatus>,
    reaped: bool,
}

impl Leader {
    fn new(pid: u32) -> Self {
        Leader {
            pid,
            #[cfg(target_os = "linux")]
            pidfd: None,
            exited: None,
            reaped: false,
        }
    }

    #[cfg(target_os = "linux")]
    fn open_pidfd(&mut self) -> io::Result<()> {
        // The child cannot have been reaped yet (only we wait for it), so the pid still
        // names it. ENOSYS (kernel < 5.3) or a seccomp filter: fall back to a blocking
        // waitid on a worker thread.
        match rustix::process::pidfd_open(self.rustix_pid(), rustix::process::PidfdFlags::empty()) {
            Ok(fd) => {
                // SAFETY: `fd` is an open pidfd that the AsyncFd owns from here on; it is
                // never replaced or closed behind its back (only `into_inner` in Drop).
                let registered = unsafe {
                    tokio::io::unix::AsyncFd::register_with_interest(
                        fd,
                        tokio::io::Interest::READABLE,
                    )
                };
                self.pidfd = Some(registered.map_err(io::Error::from)?);
                Ok(())
            }
            Err(e) if e == rustix::io::Errno::NOSYS || e == rustix::io::Errno::PERM => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn open_pidfd(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// The leader's pid.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    fn rustix_pid(&self) -> Pid {
        // A spawned child's pid is always positive; `Pid::INIT` is never signalled by
        // the group paths below because they are gated on `!self.reaped`.
        i32::try_from(self.pid)
            .ok()
            .and_then(Pid::from_raw)
            .unwrap_or(Pid::INIT)
    }

    /// Wait until the leader exits, without reaping it.
    pub(crate) async fn wait_exit(&mut self) -> io::Result<ExitStatus> {
        if let Some(status) = self.exited {
            return Ok(status);
        }
        #[cfg(target_os = "linux")]
        if let Some(pidfd) = &self.pidfd {
            loop {
                let mut guard = pidfd.readable().await?;
                let status = rustix::process::waitid(
                    WaitId::PidFd(std::os::fd::AsFd::as_fd(pidfd.get_ref())),
                    WaitIdOptions::EXITED | WaitIdOptions::NOWAIT | WaitIdOptions::NOHANG,
                )?;
                match status {
                    Some(status) => {
                        let status = convert_status(&status);
                        self.exited = Some(status);
                        return Ok(status);
                    }
                    None => guard.clear_ready(),
                }
            }
        }
        let pid = self.rustix_pid();
        let status = tokio::task::spawn_blocking(move || loop {
            match rustix::process::waitid(
                WaitId::Pid(pid),
                WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
            ) {
                Ok(Some(status)) => return Ok(convert_status(&status)),
                Ok(None) | Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(io::Error::from(e)),
            }
        })
        .await
        .map_err(io::Error::other)??;
        self.exited = Some(status);
        Ok(status)
    }

    /// Record an exit status learned some other way (or give up learning it), so the
    /// teardown can proceed.
    pub(crate) fn assume_exited(&mut self, status: ExitStatus) {
        self.exited.get_or_insert(status);
    }

    /// Send `signal` to every process in the leader's group (and to the leader through
    /// its pidfd, which also reaches it if it left its own group).
    pub(crate) fn signal_tree(&self, signal: Signal) -> io::Result<()> {
        if self.reaped {
            return Err(io::Error::from(io::ErrorKind::NotFound));
        }
        let sig = to_rustix(signal)?;
        // The leader is unreaped, so the group id cannot belong to anyone else.
        let group = rustix::process::kill_process_group(self.rustix_pid(), sig);
        #[cfg(target_os = "linux")]
        if self.exited.is_none() {
            if let Some(pidfd) = &self.pidfd {
                let _ = rustix::process::pidfd_send_signal(pidfd.get_ref(), sig);
            }
        }
        match group {
            Ok(()) => Ok(()),
            // The group is empty (the leader is a zombie and nobody else is left).
            Err(rustix::io::Errno::SRCH) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether any process of the tree is still running (zombies do not count once the
    /// leader has exited: a group of zombies is gone for our purposes).
    pub(crate) fn tree_alive(&self) -> bool {
        if self.reaped {
            return false;
        }
        if self.exited.is_none() {
            return true;
        }
        if rustix::process::test_kill_process_group(self.rustix_pid()).is_err() {
            return false;
        }
        // killpg(0) also succeeds for a group whose only members are zombies (ours, the
        // leader, or orphans not yet reaped by their new parent).
        #[cfg(target_os = "linux")]
        {
            !group_members(self.pid).is_empty()
        }
        #[cfg(not(target_os = "linux"))]
        {
            true
        }
    }

    /// Live processes of the leader's group other than the leader (Linux; empty
    /// elsewhere).
    pub(crate) fn leftovers(&self) -> Vec<u32> {
        #[cfg(target_os = "linux")]
        {
            group_members(self.pid)
                .into_iter()
                .filter(|&p| p != self.pid)
                .collect()
        }
        #[cfg(not(target_os = "linux"))]
        {
            Vec::new()
        }
    }

    /// Reap the exited leader. Call only after [`Leader::wait_exit`] returned and the
    /// group was torn down: after this, the group id may be reused.
    pub(crate) fn reap(&mut self) {
        if self.reaped || self.exited.is_none() {
            return;
        }
        let _ = self.reap_now(false);
    }

    fn reap_now(&mut self, block: bool) -> io::Result<bool> {
        let options = if block {
            WaitIdOptions::EXITED
        } else {
            WaitIdOptions::EXITED | WaitIdOptions::NOHANG
        };
        #[cfg(target_os = "linux")]
        let result = match &self.pidfd {
            Some(pidfd) => rustix::process::waitid(
                WaitId::PidFd(std::os::fd::AsFd::as_fd(pidfd.get_ref())),
                options,
            ),
            None => rustix::process::waitid(WaitId::Pid(self.rustix_pid()), options),
        };
        #[cfg(not(target_os = "linux"))]
        let result = rustix::process::waitid(WaitId::Pid(self.rustix_pid()), options);
        match result {
            Ok(Some(_)) | Err(rustix::io::Errno::CHILD) => {
                self.reaped = true;
                Ok(true)
            }
            Ok(None) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        if self.reaped {
            return;
        }
        // Abandoned before the tree was torn down (setup failure, or the runtime shut
        // down under us): kill the whole group now, while the leader is unreaped, and
        // reap it off-thread so no zombie is left and no caller blocks.
        let _ =
            rustix::process::kill_process_group(self.rustix_pid(), rustix::process::Signal::KILL);
        if matches!(self.reap_now(false), Ok(true)) {
            return;
        }
        let pid = self.rustix_pid();
        #[cfg(target_os = "linux")]
        let pidfd = self.pidfd.take().map(|fd| fd.into_inner());
        let _ = std::thread::Builder::new()
            .name("kennel-reap".into())
            .spawn(move || {
                #[cfg(target_os = "linux")]
                let _keep_pidfd_open_until_reaped = pidfd;
                loop {
                    match rustix::process::waitid(WaitId::Pid(pid), WaitIdOptions::EXITED) {
                        Err(rustix::io::Errno::INTR) => continue,
                        _ => break,
                    }
                }
            });
    }
}

fn convert_status(status: &WaitIdStatus) -> ExitStatus {
    if status.exited() {
        ExitStatus {
            code: status.exit_status(),
            signal: None,
        }
    } else {
        ExitStatus {
            code: None,
            signal: status.terminating_signal(),
        }
    }
}

/// Map a kennel signal to this platform's number.
fn to_rustix(signal: Signal) -> io::Result<rustix::process::Signal> {
    use rustix::process::Signal as S;
    Ok(match signal {
        Signal::Hup => S::HUP,
        Signal::Int => S::INT,
        Signal::Quit => S::QUIT,
        Signal::Kill => S::KILL,
        Signal::Usr1 => S::USR1,
        Signal::Usr2 => S::USR2,
        Signal::Term | Signal::Break => S::TERM,
        Signal::Cont => S::CONT,
        Signal::Stop => S::STOP,
        Signal::Tstp => S::TSTP,
        Signal::Winch => S::WINCH,
        Signal::Other(n) if (1..=64).contains(&n) => {
            // SAFETY: the number is in the kernel's signal range. rustix marks this
            // unchecked because libc reserves some real-time signals for its own use in
            // *this* process; we only ever send it to other processes.
            unsafe { S::from_raw_unchecked(n) }
        }
        Signal::Other(_) => return Err(io::Error::from(io::ErrorKind::InvalidInput)),
    })
}

/// Pids of live (non-zombie) processes whose process group is `pgid`, from `/proc`.
#[cfg(target_os = "linux")]
pub(crate) fn group_members(pgid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(stat) = read_stat(pid) {
            if stat.pgrp == pgid && stat.state != 'Z' && stat.state != 'X' {
                out.push(pid);
            }
        }
    }
    out
}

/// The fields of `/proc/<pid>/stat` kennel uses.
#[cfg(target_os = "linux")]
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stat {
    pub(crate) state: char,
    pub(crate) ppid: u32,
    pub(crate) pgrp: u32,
    pub(crate) start_time: u64,
}

#[cfg(target_os = "linux")]
pub(crate) fn read_stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// Parse `/proc/<pid>/stat`: the command name may contain spaces and parentheses, so
/// split after the *last* `)`.
#[cfg(target_os = "linux")]
pub(crate) fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgrp = fields.next()?.parse().ok()?;
    // Fields after pgrp: session(6) tty_nr tpgid flags minflt cminflt majflt cmajflt
    // utime stime cutime cstime priority nice num_threads itrealvalue starttime(22).
    let start_time = fields.nth(16)?.parse().ok()?;
    Some(Stat {
        state,
        ppid,
        pgrp,
        start_time,
    })
}

#[cfg(all(test, target_os = "linux"))]
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
