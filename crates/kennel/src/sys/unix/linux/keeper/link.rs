//! The supervisor's side of a keeper: starting it (with the handshake of the
//! [module docs](super#handshake)), the link to it, and the tree it holds as a
//! [`Layer`].

use std::ffi::OsStr;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::process::{Pid, WaitId, WaitIdOptions};

use super::{abandon, await_hello, read_line, HelloError, CTL_FD, KEEPER_ARG};
use crate::sys::unix::linux::{cgroup::Cgroup, pidns, procfs};
use crate::sys::Layer;
use crate::sys::SpawnCtx;
use crate::tree::TreeSignalError;
use crate::{ExitStatus, HelperFailure, Signal, SpawnError};

/// The supervisor's side of one keeper.
#[derive(Debug)]
struct KeeperLink {
    ctl: Option<tokio::net::UnixStream>,
    inbuf: Vec<u8>,
    leader: u32,
    exit: Option<ExitStatus>,
    leftovers: Vec<u32>,
    empty: bool,
    /// Set when the keeper went away before the supervisor let it go: from then on a
    /// supervisor death would leave the tree running.
    lost: Arc<AtomicBool>,
    /// The keeper's pid if it made a PID namespace (it reports namespace pids).
    namespace: Option<u32>,
}

/// How spawning through a keeper failed.
enum KeeperSpawnError {
    /// Starting the keeper itself failed (a stage and the error).
    Keeper(&'static str, io::Error),
    /// The keeper could not make the PID namespace (errno from `pidns::enter`).
    Namespace(io::Error),
    /// The keeper could not start the program (errno from its `exec`).
    Program(io::Error),
    /// The binary re-run as the keeper did not answer as one.
    NotAKeeper(HelperFailure),
}

/// Make `fd` the child's control socket at [`CTL_FD`] (inherited across `exec`).
pub(crate) fn pass_ctl_fd(cmd: &mut std::process::Command, fd: &impl AsRawFd) {
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
fn spawn_with_pipes(
    base: &mut std::process::Command,
    in_namespace: bool,
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
    let mut std_ctl = ours;
    let mut leader = handshake(&mut std_ctl, keeper)?;
    let namespace = in_namespace.then_some(child.id());
    if let Some(outer) = namespace {
        // The leader is the init's unreaped child: it stays under the keeper.
        leader = pidns::leader_on_host(outer, leader).ok_or_else(|| {
            abandon(keeper);
            KeeperSpawnError::Keeper("finding the leader", io::ErrorKind::NotFound.into())
        })?;
    }
    std_ctl
        .set_nonblocking(true)
        .map_err(|e| KeeperSpawnError::Keeper("keeper socket", e))?;
    let ctl = tokio::net::UnixStream::from_std(std_ctl)
        .map_err(|e| KeeperSpawnError::Keeper("registering the keeper socket", e))?;
    let mut link = KeeperLink::new(ctl, leader);
    link.namespace = namespace;
    Ok((child, link))
}

/// The keeper's side of the handshake: the hello (the binary is a keeper), then `L`
/// (the leader's pid) or `F` (its `exec` failed). The keeper answers within
/// milliseconds; 30 s for the `L` covers a machine under heavy load without hanging
/// forever on a keeper that died. A keeper that fails it is killed and reaped.
fn handshake(
    ctl: &mut std::os::unix::net::UnixStream,
    keeper: Pid,
) -> Result<u32, KeeperSpawnError> {
    let fail = |e: KeeperSpawnError| {
        abandon(keeper);
        Err(e)
    };
    let started = Instant::now();
    match await_hello(ctl) {
        Ok(()) => {}
        Err(HelloError::NotAHelper(failure)) => return fail(KeeperSpawnError::NotAKeeper(failure)),
        Err(HelloError::Io(e)) => return fail(KeeperSpawnError::Keeper("keeper handshake", e)),
    }
    let line = match read_line(ctl, started + Duration::from_secs(30)) {
        Ok(Some(line)) => line,
        Ok(None) => {
            let eof = io::Error::from(io::ErrorKind::UnexpectedEof);
            return fail(KeeperSpawnError::Keeper("keeper handshake", eof));
        }
        Err(e) => return fail(KeeperSpawnError::Keeper("keeper handshake", e)),
    };
    let mut words = line.split_whitespace();
    match (
        words.next(),
        words.next().and_then(|w| w.parse::<i32>().ok()),
    ) {
        (Some("L"), Some(pid)) if pid > 0 => Ok(pid as u32),
        (Some(word @ ("F" | "N")), Some(errno)) => {
            let _ = rustix::process::waitid(WaitId::Pid(keeper), WaitIdOptions::EXITED);
            let e = io::Error::from_raw_os_error(errno);
            Err(match word {
                "F" => KeeperSpawnError::Program(e),
                _ => KeeperSpawnError::Namespace(e),
            })
        }
        _ => fail(KeeperSpawnError::Keeper(
            "keeper handshake",
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unexpected line {line:?}"),
            ),
        )),
    }
}

impl KeeperLink {
    fn new(ctl: tokio::net::UnixStream, leader: u32) -> KeeperLink {
        KeeperLink {
            ctl: Some(ctl),
            inbuf: Vec::new(),
            leader,
            exit: None,
            leftovers: Vec::new(),
            empty: false,
            lost: Arc::new(AtomicBool::new(false)),
            namespace: None,
        }
    }

    fn absorb(&mut self) {
        while let Some(pos) = self.inbuf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.inbuf.drain(..=pos).collect();
            let line = String::from_utf8_lossy(&line);
            let mut words = line.split_whitespace();
            match words.next() {
                Some("X") => {
                    let code = words.next().and_then(|w| w.parse().ok());
                    let signal = words.next().and_then(|w| w.parse().ok());
                    self.exit = Some(ExitStatus { code, signal });
                    let pids = words.filter_map(|w| w.parse().ok()).collect();
                    self.leftovers = pidns::to_host(self.namespace, pids);
                }
                Some("E") => self.empty = true,
                _ => {}
            }
        }
    }

    /// Read whatever the keeper sent, without blocking. A closed socket means the keeper
    /// is gone: the tree is as empty as we can make it.
    fn poll_lines(&mut self) {
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
            self.exit = Some(ExitStatus {
                code: None,
                signal: None,
            });
        }
    }

    /// Wait until the leader exits.
    async fn wait_exit(&mut self) -> io::Result<ExitStatus> {
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
    fn command(&mut self, line: &str) -> io::Result<()> {
        let ctl = self
            .ctl
            .as_ref()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))?;
        crate::sys::unix::linux::send_all(ctl, line.as_bytes())
    }

    /// Resolves when the keeper sent something (or closed the socket).
    async fn readable(&self) {
        match &self.ctl {
            Some(ctl) => {
                let _ = ctl.readable().await;
            }
            None => std::future::pending::<()>().await,
        }
    }

    /// Close the control socket: the keeper kills whatever is left, reaps, and exits.
    fn close(&mut self) {
        self.ctl = None;
    }
}

/// A tree held by its keeper: the keeper is the tree's subreaper, signals it on
/// request, and kills it when the supervisor goes away. A tree in a cgroup whose guard
/// could not be started has the cgroup too (the keeper kills it); it is removed here
/// once the tree is gone.
#[derive(Debug)]
pub(crate) struct Keeper {
    link: KeeperLink,
    cgroup: Option<Cgroup>,
}

impl Keeper {
    /// The keeper's command line around `program`: the keeper binary, its argument, the
    /// cgroup to put the leader in (`-` for none), then the program.
    pub(crate) fn command(program: &OsStr, cgroup: Option<&Cgroup>) -> std::process::Command {
        let mut cmd = std::process::Command::new(super::program());
        cmd.arg(KEEPER_ARG)
            .arg(cgroup.map_or_else(
                || std::ffi::OsString::from("-"),
                |cg| cg.dir().as_os_str().to_owned(),
            ))
            .arg(program);
        cmd
    }

    /// Start the keeper from `cmd` (made by [`Keeper::command`], with arguments,
    /// environment and stdio set); returns its `Child` (for the pipes) and the layer.
    pub(crate) fn spawn(
        cmd: &mut std::process::Command,
        cgroup: Option<Cgroup>,
        ctx: &SpawnCtx,
    ) -> Result<(std::process::Child, Keeper), SpawnError> {
        let in_namespace = cmd.get_envs().any(|(k, v)| k == pidns::ENV && v.is_some());
        let (child, link) = spawn_with_pipes(cmd, in_namespace).map_err(|e| match e {
            KeeperSpawnError::Keeper(stage, source) => ctx.os(stage, source),
            KeeperSpawnError::Namespace(source) => ctx.os("creating the PID namespace", source),
            KeeperSpawnError::Program(source) => ctx.program_error(source, "exec"),
            KeeperSpawnError::NotAKeeper(failure) => ctx.not_started(failure, KEEPER_ARG),
        })?;
        Ok((child, Keeper { link, cgroup }))
    }

    /// The leader's pid (not the keeper's), as the host sees it.
    pub(crate) fn pid(&self) -> u32 {
        self.link.leader
    }

    /// Set when the keeper went away before the supervisor let it go.
    pub(crate) fn lost(&self) -> Arc<AtomicBool> {
        self.link.lost.clone()
    }

    /// Wait until the leader exits (the keeper reports it).
    pub(crate) async fn wait_exit(&mut self) -> io::Result<ExitStatus> {
        self.link.wait_exit().await
    }

    /// Close the control socket: the keeper kills whatever is left (unless released),
    /// reaps, and exits.
    pub(crate) fn let_go(&mut self) {
        self.link.close();
    }

    /// The cgroup, to be dropped only once the keeper is reaped.
    pub(crate) fn take_cgroup(&mut self) -> Option<Cgroup> {
        self.cgroup.take()
    }
}

impl Layer for Keeper {
    fn signal(&mut self, signal: Signal) -> Result<(), TreeSignalError> {
        let sig = crate::sys::unix::signal::to_platform(signal)?;
        if signal == Signal::Kill {
            self.link.command("K\n")?;
        } else {
            self.link.command(&format!("S {}\n", sig.as_raw()))?;
        }
        Ok(())
    }

    fn alive(&mut self) -> bool {
        self.link.poll_lines();
        !(self.link.exit.is_some() && self.link.empty)
    }

    fn members(&mut self) -> Vec<u32> {
        self.link.poll_lines();
        self.link
            .leftovers
            .iter()
            .copied()
            .filter(|&p| procfs::read_stat(p).is_some_and(|s| s.running()))
            .collect()
    }

    fn changed(&self) -> impl std::future::Future<Output = ()> + Send {
        self.link.readable()
    }

    fn release(&mut self) {
        let _ = self.link.command("R\n");
        if let Some(cg) = &mut self.cgroup {
            cg.release();
        }
    }

    fn close(&mut self) {
        if let Some(mut cg) = self.cgroup.take() {
            cg.close();
        }
    }
}
