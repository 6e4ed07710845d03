//! Unix containment: a process group per child, signalled with `killpg`, kept safe from
//! PID reuse by never reaping the leader before the group is torn down; on Linux, a
//! cgroup v2 per child where one is writable, watched by one [`guard`] process per
//! supervisor that kills the cgroups if the supervisor dies; without a cgroup, a keeper
//! process per child that is the tree's subreaper and kills it if the supervisor dies.
//!
//! # What the OS does, and where it races
//!
//! * The child is made leader of a new process group *at spawn* (`setpgid` between
//!   `fork` and `exec`), so it cannot fork a descendant outside the group before the
//!   group exists.
//! * A process group id is the leader's pid. While the leader is unreaped (running or a
//!   zombie) its pid — hence the group id — cannot be handed to another process, so
//!   `killpg(pgid)` can only reach this tree. kennel therefore learns of the leader's
//!   exit with `waitid(WEXITED | WNOWAIT)` (which leaves the zombie in place), tears the
//!   group down, and only then reaps. On Linux the wait goes through a pidfd (readable
//!   when the process exits), so no thread blocks and nobody else's child is reaped.
//! * Descendants that call `setsid()` or `setpgid()` leave the group; `killpg` misses
//!   them. The cgroup tier ([`cgroup`]) keeps them as members; the keeper
//!   ([`keeper`]) is their subreaper and kills them.
//! * Nothing in the group tier survives a `SIGKILL` of the supervisor: the keeper covers
//!   that (its control socket closes when the supervisor dies).
//!
//! Tiers per OS: Linux — cgroup (when writable) + the shared [`guard`] + group, or,
//! without a writable cgroup, keeper + group; macOS and the BSDs —
//! group only (no subreaper, no cgroups, no pidfd: the leader is waited for by a
//! blocking `waitid(WNOWAIT)` on the blocking pool).

#[cfg(target_os = "linux")]
pub(crate) mod cgroup;
#[cfg(target_os = "linux")]
pub(crate) mod guard;
#[cfg(target_os = "linux")]
pub(crate) mod keeper;
#[cfg(target_os = "linux")]
#[allow(
    dead_code,
    reason = "the PID-namespace tier is wired into the keeper after issue 15"
)]
pub(crate) mod pidns;
#[cfg(target_os = "linux")]
pub(crate) mod procfs;
#[cfg(target_os = "linux")]
pub(crate) mod sender;
pub(crate) mod terminal;

use std::collections::HashSet;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Mutex;

use rustix::process::{Pid, WaitId, WaitIdOptions, WaitIdStatus};
use tokio::net::unix::pipe;

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

/// Every tier that works on this machine, strongest first.
// Off Linux the only tier is the group: the last push is all there is.
#[allow(unused_mut, clippy::vec_init_then_push)]
pub(crate) fn available() -> Vec<Containment> {
    let mut tiers = Vec::new();
    #[cfg(target_os = "linux")]
    {
        if cgroup::root().is_some() {
            tiers.push(Containment::Cgroup);
        }
        if keeper::enabled() {
            tiers.push(Containment::Subreaper);
        }
    }
    tiers.push(Containment::Group);
    tiers
}

/// Our direct children (leaders and keepers), so the orphan reaper never reaps an exit
/// status the library waits for. Spawning holds the lock from `fork` until the pid is
/// recorded.
static OURS: Mutex<Option<HashSet<u32>>> = Mutex::new(None);

/// Spawn a helper (the guard) and record it as ours before the orphan reaper can see
/// it exit, so its pid stays ours until we reap it.
#[cfg(target_os = "linux")]
fn spawn_ours(cmd: &mut std::process::Command) -> io::Result<std::process::Child> {
    let mut registry = OURS
        .lock()
        .map_err(|_| io::Error::other("the child registry is poisoned"))?;
    let child = cmd.spawn()?;
    registry.get_or_insert_with(HashSet::new).insert(child.id());
    Ok(child)
}

/// Pids a keep-leftovers run released (moved out of its cgroup on purpose): the
/// escapee sweep never kills them or their descendants.
#[cfg(target_os = "linux")]
static RELEASED: Mutex<Option<HashSet<u32>>> = Mutex::new(None);

fn unregister(pid: u32) {
    if let Ok(mut set) = OURS.lock() {
        if let Some(set) = set.as_mut() {
            set.remove(&pid);
        }
    }
}

/// Mark this process a child subreaper (Linux) and reap, in a background thread, the
/// zombies of orphans reparented to it that are not kennel's own children.
pub(crate) fn become_subreaper() -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        rustix::process::set_child_subreaper(Some(rustix::process::getpid()))?;
        std::thread::Builder::new()
            .name("kennel-orphans".into())
            .spawn(|| loop {
                std::thread::sleep(std::time::Duration::from_millis(200));
                reap_strays();
            })?;
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }
}

/// Make this process non-dumpable (Linux, `prctl(PR_SET_DUMPABLE, 0)`): a process of the
/// same user can then neither `ptrace` it nor read its memory, environment or file
/// descriptors through `/proc/<pid>` (those files become root's). Programs the process
/// starts are dumpable again: `execve` of an ordinary (non-setuid, readable) binary
/// resets the flag, so children are not affected. Root (`CAP_SYS_PTRACE`) still can.
pub(crate) fn make_undumpable() -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)?;
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }
}

/// Reap zombie children that are not ours: reparented orphans. Never touches a pid the
/// library is waiting for (they are registered while the spawn lock is held).
#[cfg(target_os = "linux")]
fn reap_strays() {
    let Ok(guard) = OURS.lock() else { return };
    let me = std::process::id();
    for pid in procfs::children_of(me) {
        if guard.as_ref().is_some_and(|s| s.contains(&pid)) {
            continue;
        }
        if procfs::read_stat(pid).is_some_and(|s| s.state == 'Z') {
            if let Some(p) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
                let _ = rustix::process::waitpid(Some(p), rustix::process::WaitOptions::NOHANG);
            }
        }
    }
}

/// Spawn `cmd` in its containment.
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
    let program_error = |source: io::Error, stage: &'static str| match source.kind() {
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
            stage,
            source,
        },
    };
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

    #[cfg(target_os = "linux")]
    let cgroup = if cmd.containment.cgroup && cgroup::root().is_some() {
        Some(cgroup::Cgroup::create().map_err(os_err("creating the cgroup"))?)
    } else {
        None
    };
    #[cfg(target_os = "linux")]
    let wants_guard = cmd.containment.keeper && keeper::enabled();
    // A cgroup tree is guarded by the shared guard (see `guard`): the cgroup already
    // holds every descendant, so a keeper per child would only add an exec. If the
    // guard cannot be started for an OS reason, fall back to a keeper; if the binary
    // does not enter the guard (it calls `keeper::init` late), fail: the keeper is the
    // same binary, and the guarantee is never claimed without a helper that answered.
    #[cfg(target_os = "linux")]
    let not_started = |failure, arg| SpawnError::GuardNotStarted {
        program: program.clone(),
        helper: keeper::helper_command_line(arg),
        failure,
    };
    #[cfg(target_os = "linux")]
    let ticket = match &cgroup {
        Some(cg) if wants_guard => match guard::register(cg.dir()) {
            Ok(ticket) => Some(ticket),
            Err(guard::GuardError::NotAGuard(failure)) => {
                return Err(not_started(failure, guard::GUARD_ARG));
            }
            Err(guard::GuardError::Os) => None,
        },
        _ => None,
    };
    #[cfg(target_os = "linux")]
    let use_keeper = wants_guard && ticket.is_none();
    #[cfg(not(target_os = "linux"))]
    let use_keeper = false;

    let mut std_cmd = if use_keeper {
        #[cfg(target_os = "linux")]
        let mut c = std::process::Command::new(keeper::program());
        #[cfg(not(target_os = "linux"))]
        let c = std::process::Command::new(&cmd.program);
        #[cfg(target_os = "linux")]
        c.arg(keeper::KEEPER_ARG)
            .arg(cgroup.as_ref().map_or_else(
                || std::ffi::OsString::from("-"),
                |cg| cg.dir().as_os_str().to_owned(),
            ))
            .arg(&cmd.program);
        c
    } else {
        std::process::Command::new(&cmd.program)
    };
    cmd.apply_args_cwd_env(&mut std_cmd);
    if use_keeper && cmd.foreground_terminal {
        // The keeper claims the terminal for the program it starts (see `terminal`).
        std_cmd.env(terminal::CLAIM_ENV, "1");
    }
    std_cmd.stdin(match cmd.stdin {
        StdinMode::Null => Stdio::null(),
        StdinMode::Piped => Stdio::piped(),
        StdinMode::Inherit => Stdio::inherit(),
    });
    std_cmd.stdout(output_stdio(cmd.stdout));
    std_cmd.stderr(output_stdio(cmd.stderr));

    // Hold the registry lock from fork until the pid is recorded, so the orphan reaper
    // cannot take the exit status of a child that dies at once.
    let registry = OURS.lock();
    let (mut child, kind, containment) = if use_keeper {
        #[cfg(target_os = "linux")]
        {
            let mut std_cmd = std_cmd;
            // The pipes must be created by `spawn`; keeper::spawn adds the control
            // socket and the new process group.
            let (child, link) = keeper::spawn_with_pipes(&mut std_cmd).map_err(|e| match e {
                keeper::KeeperSpawnError::Keeper(stage, source) => SpawnError::Os {
                    program: program.clone(),
                    cwd: cwd.clone(),
                    stage,
                    source,
                },
                keeper::KeeperSpawnError::Program(source) => program_error(source, "exec"),
                keeper::KeeperSpawnError::NotAKeeper(failure) => {
                    not_started(failure, keeper::KEEPER_ARG)
                }
            })?;
            let containment = if cgroup.is_some() {
                Containment::Cgroup
            } else {
                Containment::Subreaper
            };
            (child, Kind::Kept(link), containment)
        }
        #[cfg(not(target_os = "linux"))]
        unreachable!("the keeper is Linux-only")
    } else {
        // A new process group led by the child, set before exec: nothing the child runs
        // can fork outside it before it exists.
        std_cmd.process_group(0);
        if cmd.foreground_terminal {
            // SAFETY: `claim_in_child` only makes async-signal-safe calls (its docs).
            unsafe {
                std_cmd.pre_exec(|| {
                    terminal::claim_in_child();
                    Ok(())
                });
            }
        }
        #[cfg(target_os = "linux")]
        if let Some(cg) = &cgroup {
            let fd = cg.procs_fd();
            // SAFETY: between fork and exec the closure only calls write(2), which is
            // async-signal-safe, on an fd opened (CLOEXEC) before the fork.
            unsafe {
                std_cmd.pre_exec(move || {
                    if rustix::io::write(std::os::fd::BorrowedFd::borrow_raw(fd), b"0")? != 1 {
                        return Err(io::Error::from(io::ErrorKind::WriteZero));
                    }
                    Ok(())
                });
            }
        }
        let child = std_cmd.spawn().map_err(|e| program_error(e, "fork/exec"))?;
        #[cfg(target_os = "linux")]
        let containment = if cgroup.is_some() {
            Containment::Cgroup
        } else {
            Containment::Group
        };
        #[cfg(not(target_os = "linux"))]
        let containment = Containment::Group;
        let pid = child.id();
        (child, Kind::Direct(Direct::new(pid)), containment)
    };
    let direct_pid = child.id();
    if let Ok(mut set) = registry {
        set.get_or_insert_with(HashSet::new).insert(direct_pid);
    }

    let mut leader = Leader {
        kind,
        direct_pid,
        containment,
        #[cfg(target_os = "linux")]
        cgroup,
        #[cfg(target_os = "linux")]
        ticket,
        exited: None,
        reaped: false,
    };
    // From here on, `leader`'s Drop kills and reaps the tree if setup fails.
    #[allow(irrefutable_let_patterns)] // Kind has one variant off Linux
    if let Kind::Direct(d) = &mut leader.kind {
        d.open_pidfd().map_err(os_err("pidfd_open"))?;
    }
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

enum Kind {
    /// The leader is our own child, waited for through a pidfd.
    Direct(Direct),
    /// The leader runs under a keeper (Linux).
    #[cfg(target_os = "linux")]
    Kept(keeper::KeeperLink),
}

/// Whether a tree still dies with its supervisor (a `kill -9` of this process takes it
/// down): a cheap handle the `Child` keeps, so the answer is never a stale claim.
#[derive(Clone, Debug)]
pub(crate) enum Protection {
    /// No guard or keeper watches the tree (none was asked for, `keeper::init` was not
    /// called before the spawn, or the OS has no way: macOS, the BSDs).
    None,
    /// The shared guard of this generation covers the tree's cgroup.
    #[cfg(target_os = "linux")]
    Guard(u64),
    /// The tree's keeper; the flag is set if it went away early.
    #[cfg(target_os = "linux")]
    Keeper(std::sync::Arc<std::sync::atomic::AtomicBool>),
}

impl Protection {
    /// True while a guard or keeper has watched the tree, without a gap, since spawn.
    pub(crate) fn holds(&self) -> bool {
        match self {
            Protection::None => false,
            #[cfg(target_os = "linux")]
            Protection::Guard(generation) => guard::covers(*generation),
            #[cfg(target_os = "linux")]
            Protection::Keeper(lost) => !lost.load(std::sync::atomic::Ordering::Acquire),
        }
    }
}

/// The leader of a child's tree. Holds the leader unreaped until [`Leader::reap`], so
/// its pid and group id stay ours.
pub(crate) struct Leader {
    kind: Kind,
    /// Our direct child: the leader, or its keeper.
    direct_pid: u32,
    containment: Containment,
    #[cfg(target_os = "linux")]
    cgroup: Option<cgroup::Cgroup>,
    /// The shared guard watches the cgroup until this is dropped (after the tree is
    /// gone).
    #[cfg(target_os = "linux")]
    ticket: Option<guard::Ticket>,
    exited: Option<ExitStatus>,
    reaped: bool,
}

struct Direct {
    pid: u32,
    #[cfg(target_os = "linux")]
    pidfd: Option<tokio::io::unix::AsyncFd<OwnedFd>>,
}

impl Direct {
    fn new(pid: u32) -> Self {
        Direct {
            pid,
            #[cfg(target_os = "linux")]
            pidfd: None,
        }
    }

    #[cfg(target_os = "linux")]
    fn open_pidfd(&mut self) -> io::Result<()> {
        // The child cannot have been reaped yet (only we wait for it), so the pid still
        // names it. ENOSYS (kernel < 5.3) or a seccomp filter: fall back to a blocking
        // waitid on a worker thread.
        match rustix::process::pidfd_open(to_pid(self.pid), rustix::process::PidfdFlags::empty()) {
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

    async fn wait_exit(&mut self) -> io::Result<ExitStatus> {
        #[cfg(target_os = "linux")]
        if let Some(pidfd) = &self.pidfd {
            loop {
                let mut guard = pidfd.readable().await?;
                let status = rustix::process::waitid(
                    WaitId::PidFd(std::os::fd::AsFd::as_fd(pidfd.get_ref())),
                    WaitIdOptions::EXITED | WaitIdOptions::NOWAIT | WaitIdOptions::NOHANG,
                )?;
                match status {
                    Some(status) => return Ok(convert_status(&status)),
                    None => guard.clear_ready(),
                }
            }
        }
        let pid = to_pid(self.pid);
        tokio::task::spawn_blocking(move || loop {
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
        .map_err(io::Error::other)?
    }
}

fn to_pid(pid: u32) -> Pid {
    // A spawned child's pid is always positive; `Pid::INIT` is never signalled because
    // every signalling path is gated on an unreaped child of ours.
    i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .unwrap_or(Pid::INIT)
}

impl Leader {
    /// The leader's pid (not the keeper's).
    pub(crate) fn pid(&self) -> u32 {
        match &self.kind {
            Kind::Direct(d) => d.pid,
            #[cfg(target_os = "linux")]
            Kind::Kept(k) => k.leader,
        }
    }

    /// The tier actually used for this tree.
    pub(crate) fn containment(&self) -> Containment {
        self.containment
    }

    /// Whether the tree dies with the supervisor.
    pub(crate) fn protection(&self) -> Protection {
        #[cfg(target_os = "linux")]
        {
            if let Kind::Kept(k) = &self.kind {
                return Protection::Keeper(k.lost.clone());
            }
            if let Some(ticket) = &self.ticket {
                return Protection::Guard(ticket.generation());
            }
        }
        Protection::None
    }

    /// Wait until the leader exits, without reaping it.
    pub(crate) async fn wait_exit(&mut self) -> io::Result<ExitStatus> {
        if let Some(status) = self.exited {
            return Ok(status);
        }
        let status = match &mut self.kind {
            Kind::Direct(d) => d.wait_exit().await?,
            #[cfg(target_os = "linux")]
            Kind::Kept(k) => k.wait_exit().await?,
        };
        self.exited = Some(status);
        Ok(status)
    }

    /// Record an exit status learned some other way (or give up learning it), so the
    /// teardown can proceed.
    pub(crate) fn assume_exited(&mut self, status: ExitStatus) {
        self.exited.get_or_insert(status);
    }

    /// Send `signal` to every process of the tree.
    pub(crate) fn signal_tree(&mut self, signal: Signal) -> io::Result<()> {
        if self.reaped {
            return Err(io::Error::from(io::ErrorKind::NotFound));
        }
        let sig = to_rustix(signal)?;
        match &mut self.kind {
            #[cfg(target_os = "linux")]
            Kind::Kept(k) => {
                if signal == Signal::Kill {
                    k.command("K\n")
                } else {
                    k.command(&format!("S {}\n", sig.as_raw()))
                }
            }
            Kind::Direct(d) => {
                // The group first: one system call reaches (nearly) the whole tree at
                // once; the cgroup sweep after it only has escapees left to reach, and
                // it costs a pidfd and a /proc read per member.
                // The leader is unreaped, so the group id cannot belong to anyone else.
                let group = rustix::process::kill_process_group(to_pid(d.pid), sig);
                #[cfg(target_os = "linux")]
                if self.exited.is_none() {
                    if let Some(pidfd) = &d.pidfd {
                        let _ = rustix::process::pidfd_send_signal(pidfd.get_ref(), sig);
                    }
                }
                #[cfg(target_os = "linux")]
                if let Some(cg) = &self.cgroup {
                    if signal == Signal::Kill {
                        let _ = cg.kill();
                    } else {
                        cg.signal_all(sig);
                    }
                }
                match group {
                    // An empty group (the leader is a zombie, nobody else is left).
                    Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
                    Err(e) => Err(e.into()),
                }
            }
        }
    }

    /// Whether any process of the tree is still running (zombies do not count).
    pub(crate) fn tree_alive(&mut self) -> bool {
        if self.reaped {
            return false;
        }
        match &mut self.kind {
            #[cfg(target_os = "linux")]
            Kind::Kept(k) => {
                k.poll_lines();
                !(k.exit.is_some() && k.empty)
            }
            Kind::Direct(d) => {
                if self.exited.is_none() {
                    return true;
                }
                #[cfg(target_os = "linux")]
                if self.cgroup.as_ref().is_some_and(cgroup::Cgroup::populated) {
                    return true;
                }
                if rustix::process::test_kill_process_group(to_pid(d.pid)).is_err() {
                    return false;
                }
                // killpg(0) also succeeds for a group whose only members are zombies.
                #[cfg(target_os = "linux")]
                {
                    !procfs::group_members(d.pid).is_empty()
                }
                #[cfg(not(target_os = "linux"))]
                {
                    true
                }
            }
        }
    }

    /// Resolves when the tree may have changed state (the keeper sent something); pends
    /// forever for trees that can only be polled.
    pub(crate) async fn changed(&self) {
        #[cfg(target_os = "linux")]
        if let Kind::Kept(k) = &self.kind {
            return k.readable().await;
        }
        std::future::pending::<()>().await
    }

    /// Live processes of the tree other than the leader (Linux; empty elsewhere).
    pub(crate) fn leftovers(&mut self) -> Vec<u32> {
        match &mut self.kind {
            #[cfg(target_os = "linux")]
            Kind::Kept(k) => {
                k.poll_lines();
                k.leftovers
                    .iter()
                    .copied()
                    .filter(|&p| procfs::read_stat(p).is_some_and(|s| s.running()))
                    .collect()
            }
            Kind::Direct(d) => {
                #[cfg(target_os = "linux")]
                {
                    let mut pids: Vec<u32> = procfs::group_members(d.pid);
                    if let Some(cg) = &self.cgroup {
                        pids.extend(cg.pids());
                    }
                    pids.sort_unstable();
                    pids.dedup();
                    pids.retain(|&p| {
                        p != d.pid && procfs::read_stat(p).is_some_and(|s| s.running())
                    });
                    pids
                }
                #[cfg(not(target_os = "linux"))]
                {
                    let _ = d;
                    Vec::new()
                }
            }
        }
    }

    /// Let the processes still alive outlive the run: move them out of the cgroup and
    /// tell the keeper not to kill them.
    pub(crate) fn release_leftovers(&mut self) {
        #[cfg(target_os = "linux")]
        {
            if let Kind::Kept(k) = &mut self.kind {
                let _ = k.command("R\n");
            }
            if let Some(cg) = &self.cgroup {
                if let Ok(mut set) = RELEASED.lock() {
                    set.get_or_insert_with(HashSet::new).extend(cg.pids());
                }
                cg.release();
            }
        }
    }

    /// Every containment layer active for this tree, strongest first.
    pub(crate) fn layers(&self) -> Vec<Containment> {
        let mut layers = vec![self.containment];
        #[cfg(target_os = "linux")]
        {
            let subreaper = matches!(self.kind, Kind::Kept(_)) || we_are_subreaper();
            if subreaper && !layers.contains(&Containment::Subreaper) {
                layers.push(Containment::Subreaper);
            }
        }
        if !layers.contains(&Containment::Group) {
            layers.push(Containment::Group);
        }
        layers
    }

    /// The final sweep of a cgroup tree: SIGKILL every process that left the tree's
    /// cgroup but can still be attributed to it — a descendant of the leader outside
    /// the cgroup, or (when this process is a child subreaper) an orphan adopted by us
    /// that is in none of our live cgroups and was not released. Repeated until a pass
    /// finds nothing (an escapee may fork meanwhile), at most 50 passes. Returns what
    /// was killed. Trees without a cgroup have nothing to sweep here (the keeper is
    /// their subreaper; the group tier promises nothing about `setsid`).
    // Off Linux there is nothing to sweep: `killed` stays empty.
    #[allow(unused_mut)]
    pub(crate) fn sweep_escapees(&mut self) -> Vec<crate::Escapee> {
        let mut killed = Vec::new();
        #[cfg(target_os = "linux")]
        {
            let (Kind::Direct(d), Some(cg)) = (&self.kind, &self.cgroup) else {
                return killed;
            };
            let leader = d.pid;
            for _ in 0..50 {
                let found = escapees(leader, cg);
                if found.is_empty() {
                    break;
                }
                for escapee in found {
                    if kill_verified(escapee.pid, |pid| !cg.contains(pid)) {
                        killed.push(escapee);
                    }
                }
            }
            killed.sort_by_key(|e| e.pid);
            killed.dedup_by_key(|e| e.pid);
            // SIGKILL is asynchronous: the outcome promises nothing of the tree runs,
            // so wait (bounded; a rare path) until each one is past running.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
            while killed
                .iter()
                .any(|e| procfs::read_stat(e.pid).is_some_and(|s| s.running()))
                && std::time::Instant::now() < deadline
            {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
        killed
    }

    /// Reap the exited leader (or release its keeper, which reaps it). Call only after
    /// [`Leader::wait_exit`] returned and the tree was torn down: after this, the group
    /// id may be reused.
    pub(crate) async fn reap(&mut self) {
        if self.reaped || self.exited.is_none() {
            return;
        }
        #[cfg(target_os = "linux")]
        if let Kind::Kept(k) = &mut self.kind {
            k.close();
        }
        let pid = to_pid(self.direct_pid);
        // A direct leader is already a zombie: reap it inline. A keeper needs a moment
        // to see its socket close and exit: wait for it off the runtime.
        let done = matches!(
            rustix::process::waitid(
                WaitId::Pid(pid),
                WaitIdOptions::EXITED | WaitIdOptions::NOHANG
            ),
            Ok(Some(_)) | Err(_)
        );
        if !done {
            let _ = tokio::task::spawn_blocking(move || {
                while let Err(rustix::io::Errno::INTR) =
                    rustix::process::waitid(WaitId::Pid(pid), WaitIdOptions::EXITED)
                {
                }
            })
            .await;
        }
        self.reaped = true;
        unregister(self.direct_pid);
        #[cfg(target_os = "linux")]
        {
            if let Some(mut cg) = self.cgroup.take() {
                cg.remove();
            }
            drop(self.ticket.take());
            // Close the pidfd now rather than when the supervisor task ends: once the
            // outcome is out, no fd of the run may remain open.
            if let Kind::Direct(d) = &mut self.kind {
                d.pidfd = None;
            }
        }
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        if self.reaped {
            return;
        }
        // Abandoned before the tree was torn down (setup failure, a dropped handle whose
        // runtime shut down): kill the whole tree now, while the leader is unreaped,
        // and reap off-thread so no zombie is left and no caller blocks.
        match &mut self.kind {
            Kind::Direct(d) => {
                let _ = rustix::process::kill_process_group(
                    to_pid(d.pid),
                    rustix::process::Signal::KILL,
                );
            }
            #[cfg(target_os = "linux")]
            Kind::Kept(k) => k.close(),
        }
        #[cfg(target_os = "linux")]
        let cgroup = self.cgroup.take();
        #[cfg(target_os = "linux")]
        let ticket = self.ticket.take();
        let pid = to_pid(self.direct_pid);
        let direct = self.direct_pid;
        let _ = std::thread::Builder::new()
            .name("kennel-reap".into())
            .spawn(move || {
                while let Err(rustix::io::Errno::INTR) =
                    rustix::process::waitid(WaitId::Pid(pid), WaitIdOptions::EXITED)
                {
                }
                unregister(direct);
                #[cfg(target_os = "linux")]
                {
                    drop(cgroup);
                    drop(ticket);
                }
            });
    }
}

/// Set by [`sweep_adopted`]: every child of this process was started by kennel, so an
/// unregistered child is an orphan adopted from a tree.
#[cfg(target_os = "linux")]
static SWEEPS_ADOPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Become a child subreaper ([`become_subreaper`]) *and* treat every orphan it adopts
/// as part of the trees: the final sweep of a cgroup tree kills adopted orphans that
/// left their cgroup. Only for a process whose children are all started by kennel.
pub(crate) fn sweep_adopted() -> io::Result<()> {
    become_subreaper()?;
    #[cfg(target_os = "linux")]
    SWEEPS_ADOPTED.store(true, std::sync::atomic::Ordering::Release);
    Ok(())
}

/// Whether this process is a child subreaper that sweeps its adopted orphans.
#[cfg(target_os = "linux")]
fn we_are_subreaper() -> bool {
    SWEEPS_ADOPTED.load(std::sync::atomic::Ordering::Acquire)
        && rustix::process::child_subreaper().is_ok_and(|p| p.is_some())
}

/// Running processes attributable to the tree of `leader` but outside its cgroup
/// `cg` (see [`Leader::sweep_escapees`]).
#[cfg(target_os = "linux")]
fn escapees(leader: u32, cg: &cgroup::Cgroup) -> Vec<crate::Escapee> {
    use crate::{EscapeFound, Escapee};
    let running = |pid: u32| procfs::read_stat(pid).is_some_and(|s| s.running());
    let mut out: Vec<Escapee> = procfs::descendants_of(leader)
        .into_iter()
        .filter(|&p| running(p) && !cg.contains(p))
        .map(|pid| Escapee {
            pid,
            found: EscapeFound::Descendant,
        })
        .collect();
    if we_are_subreaper() {
        let me = std::process::id();
        let released = RELEASED
            .lock()
            .ok()
            .and_then(|g| g.clone())
            .unwrap_or_default();
        // Our own children are told apart with the registry locked: a spawn holds the
        // lock from its fork until the pid is recorded, so a child read here that is
        // not registered is an adopted orphan, never a tree being born.
        let orphans: Vec<u32> = {
            let Ok(ours) = OURS.lock() else {
                return out;
            };
            procfs::children_of(me)
                .into_iter()
                .filter(|p| !ours.as_ref().is_some_and(|s| s.contains(p)))
                .collect()
        };
        for orphan in orphans {
            if released.contains(&orphan) || in_a_tree_cgroup(orphan) {
                continue;
            }
            for pid in std::iter::once(orphan).chain(procfs::descendants_of(orphan)) {
                if running(pid) && !released.contains(&pid) && !in_a_tree_cgroup(pid) {
                    out.push(Escapee {
                        pid,
                        found: EscapeFound::Subreaper,
                    });
                }
            }
        }
    }
    out
}

/// Whether `pid` is in a live cgroup of one of our trees (`kennel-<our pid>-N`).
#[cfg(target_os = "linux")]
pub(crate) fn in_a_tree_cgroup(pid: u32) -> bool {
    let prefix = format!("kennel-{}-", std::process::id());
    std::fs::read_to_string(format!("/proc/{pid}/cgroup")).is_ok_and(|text| {
        text.lines()
            .find_map(|l| l.strip_prefix("0::"))
            .and_then(|p| p.rsplit('/').next())
            .is_some_and(|name| name.starts_with(&prefix))
    })
}

/// SIGKILL `pid` through a pidfd, if `still` holds once the pidfd pins the process
/// (so a pid reused since it was read is never signalled). Whether it was sent.
#[cfg(target_os = "linux")]
fn kill_verified(pid: u32, still: impl Fn(u32) -> bool) -> bool {
    let Ok(pidfd) = rustix::process::pidfd_open(to_pid(pid), rustix::process::PidfdFlags::empty())
    else {
        return false;
    };
    still(pid)
        && procfs::read_stat(pid).is_some_and(|s| s.running())
        && rustix::process::pidfd_send_signal(&pidfd, rustix::process::Signal::KILL).is_ok()
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

impl crate::tree::Tree for Leader {
    fn pid(&self) -> u32 {
        Leader::pid(self)
    }
    fn containment(&self) -> Containment {
        Leader::containment(self)
    }
    fn layers(&self) -> Vec<Containment> {
        Leader::layers(self)
    }
    fn protection(&self) -> Protection {
        Leader::protection(self)
    }
    fn wait_exit(&mut self) -> impl std::future::Future<Output = io::Result<ExitStatus>> + Send {
        Leader::wait_exit(self)
    }
    fn assume_exited(&mut self, status: ExitStatus) {
        Leader::assume_exited(self, status)
    }
    fn signal_tree(&mut self, signal: Signal) -> Result<(), crate::tree::TreeSignalError> {
        Leader::signal_tree(self, signal).map_err(|e| match e.kind() {
            io::ErrorKind::InvalidInput => crate::tree::TreeSignalError::Unsupported,
            io::ErrorKind::NotFound => crate::tree::TreeSignalError::Gone,
            _ => crate::tree::TreeSignalError::Os(e),
        })
    }
    fn tree_alive(&mut self) -> bool {
        Leader::tree_alive(self)
    }
    fn changed(&self) -> impl std::future::Future<Output = ()> + Send {
        Leader::changed(self)
    }
    fn leftovers(&mut self) -> Vec<u32> {
        Leader::leftovers(self)
    }
    fn release_leftovers(&mut self) {
        Leader::release_leftovers(self)
    }
    fn sweep_escapees(&mut self) -> Vec<crate::Escapee> {
        Leader::sweep_escapees(self)
    }
    fn reap(&mut self) -> impl std::future::Future<Output = ()> + Send {
        Leader::reap(self)
    }
}
