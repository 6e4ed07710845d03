//! Unix containment: a process group per child, signalled with `killpg`, kept safe from
//! PID reuse by never reaping the leader before the group is torn down; on Linux, a
//! cgroup v2 per child where one is writable, watched by one [`guard`](linux::guard) process per
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
//!   them. The cgroup tier ([`cgroup`](linux::cgroup)) keeps them as members; the keeper
//!   ([`keeper`](linux::keeper)) is their subreaper and kills them.
//! * Nothing in the group tier survives a `SIGKILL` of the supervisor: the keeper covers
//!   that (its control socket closes when the supervisor dies).
//!
//! Tiers per OS: Linux — cgroup (when writable) + the shared [`guard`](linux::guard) + group, or,
//! without a writable cgroup, keeper + group; macOS and the BSDs —
//! group only (no subreaper, no cgroups, no pidfd: the leader is waited for by a
//! blocking `waitid(WNOWAIT)` on the blocking pool).
//!
//! # Files
//!
//! One mechanism per file, each a [`Layer`](crate::sys::Layer): `group.rs` (the process
//! group, every Unix), `linux/cgroup.rs`, `linux/keeper/`; `linux/guard.rs` protects
//! cgroups; `tree.rs` composes them into the tree the run loop drives. Everything
//! Linux-only is under `linux/`, compiled on Linux alone; `nolinux.rs` mirrors its
//! names with uninhabited types for macOS and the BSDs, where the planner never chooses
//! those layers.

pub(crate) mod compat;
pub(crate) mod fifo;
mod group;
#[cfg(target_os = "linux")]
pub(crate) mod linux;
#[cfg(not(target_os = "linux"))]
#[path = "nolinux.rs"]
pub(crate) mod linux;
mod registry;
pub(crate) mod signal;
pub(crate) mod terminal;
mod tree;

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt as _;
use std::process::Stdio;

use tokio::net::unix::pipe;

pub(crate) use linux::{
    become_subreaper, helpers, limit_support, make_undumpable, own_signals, pid_namespace_works,
    probe, sweep_adopted,
};
pub(crate) use tree::{Leader, Protection};

use self::group::Group;
use self::linux::{Cgroup, Keeper, TreeLimits};
use self::tree::Lead;
use crate::plan::{self, Guarantee};
use crate::sys::{Launch, SpawnCtx};
use crate::{Containment, OutputMode, SpawnError, StdinMode};

/// The read end of a child's stdout/stderr.
pub(crate) type PipeReader = pipe::Receiver;
/// The write end of a child's stdin.
pub(crate) type PipeWriter = pipe::Sender;

/// The shell that `Command::shell` runs a command line with.
pub(crate) const DEFAULT_SHELL: &str = "/bin/sh";

/// A freshly spawned child with its pipes.
pub(crate) struct Spawned {
    pub(crate) leader: Leader,
    pub(crate) stdin: Option<PipeWriter>,
    pub(crate) stdout: Option<PipeReader>,
    pub(crate) stderr: Option<PipeReader>,
}

/// Spawn a child in the containment its plan chose.
pub(crate) fn spawn(launch: &Launch<'_>) -> Result<Spawned, SpawnError> {
    let ctx = SpawnCtx::new(launch)?;
    let plan = &launch.plan;
    let cgroup = match plan.cgroup {
        true => Some(Cgroup::create().map_err(|e| ctx.os("creating the cgroup", e))?),
        false => None,
    };
    let ticket = match (&cgroup, plan.guarantee) {
        (Some(cg), Guarantee::Guard) => linux::register_guard(cg, &ctx)?,
        _ => None,
    };
    // A guard that could not be started for an OS reason: a keeper instead.
    let kept = plan.guarantee == Guarantee::Keeper
        || (plan.guarantee == Guarantee::Guard && ticket.is_none());
    let limits = match &cgroup {
        Some(cg) => Some(
            TreeLimits::for_tree(cg, &launch.limits.apply)
                .map_err(|e| ctx.os("setting up the tree's limits", e))?,
        ),
        None => None,
    };
    let joins = limits
        .as_ref()
        .map(TreeLimits::join_fds)
        .unwrap_or_default();
    let Started {
        pid,
        lead,
        cgroup,
        mut pipes,
    } = start(launch, cgroup, &joins, kept, &ctx)?;
    let mut leader = Leader {
        direct_pid: pid,
        lead,
        cgroup,
        limits,
        ticket,
        layers: tree_layers(plan, kept),
        exited: None,
        reaped: false,
    };
    // From here on, `leader`'s Drop kills and reaps the tree if setup fails.
    if let (Lead::Group(g), true) = (&mut leader.lead, plan.pidfd) {
        match pipes.pidfd.take() {
            Some(fd) => g.adopt_pidfd(fd),
            None => g.open_pidfd(),
        }
        .map_err(|e| ctx.os("pidfd_open", e))?;
    }
    let (stdin, stdout, stderr) = take_pipes(pipes, &ctx)?;
    Ok(Spawned {
        leader,
        stdin,
        stdout,
        stderr,
    })
}

/// The layers the started tree is held by (`kept`: through a keeper).
fn tree_layers(plan: &plan::Plan, kept: bool) -> Vec<Containment> {
    match plan.pid_namespace {
        // The namespace's init reaps every orphan: no subreaper layer of its own.
        true => plan.layers.clone(),
        false => plan::layers(
            plan.strongest(),
            kept || plan.layers.contains(&Containment::Subreaper),
        ),
    }
}

/// A started direct child or keeper: its pid, the layer holding the leader, the cgroup
/// if the tree still needs it held here, and the parent's ends of its pipes.
struct Started {
    pid: u32,
    lead: Lead,
    cgroup: Option<Cgroup>,
    pipes: RawPipes,
}

/// The parent's ends of a child's pipes (and its pidfd, when the spawn made one).
#[derive(Default)]
struct RawPipes {
    stdin: Option<OwnedFd>,
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
    pidfd: Option<OwnedFd>,
}

impl RawPipes {
    fn of(child: &mut std::process::Child) -> RawPipes {
        RawPipes {
            stdin: child.stdin.take().map(OwnedFd::from),
            stdout: child.stdout.take().map(OwnedFd::from),
            stderr: child.stderr.take().map(OwnedFd::from),
            pidfd: None,
        }
    }
}

/// Fork and exec, directly or through a keeper, [`Spawning`](registry::Spawning) from
/// before the fork until the pid is recorded, so the orphan reaper cannot take the exit
/// status of a child that dies at once.
fn start(
    launch: &Launch<'_>,
    cgroup: Option<Cgroup>,
    joins: &[std::os::fd::RawFd],
    kept: bool,
    ctx: &SpawnCtx,
) -> Result<Started, SpawnError> {
    let spawning = registry::spawning();
    let started = match (kept, &cgroup) {
        // A leader joining its cgroup: the vfork-style spawn (no fork of our memory).
        // v1 limit cgroups are joined by std's pre_exec (`join_before_exec`); a given
        // `Stdio` can only be handed to std's `Command`.
        (false, Some(cg))
            if !launch.foreground_terminal
                && launch.plan.pidfd
                && joins.is_empty()
                && !launch.given.any() =>
        {
            match linux::spawn_into(launch, cg) {
                Ok(Some(s)) => Some(Started {
                    pid: s.pid,
                    lead: Lead::Group(Group::new(s.pid)),
                    cgroup: None,
                    pipes: RawPipes {
                        stdin: s.stdin,
                        stdout: s.stdout,
                        stderr: s.stderr,
                        pidfd: Some(s.pidfd),
                    },
                }),
                Ok(None) => None,
                Err(f) if f.stage == "fork/exec" => {
                    return Err(ctx.program_error(f.source, f.stage))
                }
                Err(f) => return Err(ctx.os(f.stage, f.source)),
            }
        }
        _ => None,
    };
    let started = match started {
        Some(s) => Started { cgroup, ..s },
        None => start_std(launch, cgroup, joins, kept, ctx)?,
    };
    if let Some(spawning) = &spawning {
        spawning.record(started.pid);
    }
    Ok(started)
}

/// [`start`] through std's `Command`: the keeper, the group tier (std's `posix_spawn`),
/// a leader that claims the terminal, or a kernel without `CLONE_PIDFD`.
fn start_std(
    launch: &Launch<'_>,
    cgroup: Option<Cgroup>,
    joins: &[std::os::fd::RawFd],
    kept: bool,
    ctx: &SpawnCtx,
) -> Result<Started, SpawnError> {
    let mut cmd = if kept {
        Keeper::command(launch.program, cgroup.as_ref())
    } else {
        std::process::Command::new(launch.program)
    };
    join_before_exec(&mut cmd, joins.to_vec());
    launch.apply_args_cwd_env(&mut cmd);
    if kept && launch.plan.pid_namespace {
        // The keeper makes the tree a PID namespace and becomes its init.
        linux::ask_for_pid_namespace(&mut cmd);
    }
    if kept && launch.foreground_terminal {
        // The keeper claims the terminal for the program it starts (see `terminal`).
        cmd.env(terminal::CLAIM_ENV, "1");
    }
    cmd.stdin(match launch.stdin {
        StdinMode::Null => Stdio::null(),
        StdinMode::Piped => Stdio::piped(),
        StdinMode::Inherit => Stdio::inherit(),
    });
    cmd.stdout(output_stdio(launch.stdout));
    cmd.stderr(output_stdio(launch.stderr));
    launch.given.apply(&mut cmd, ctx)?;
    if kept {
        // The pipes must be created by `spawn`; the keeper's spawn adds the control
        // socket and the new process group.
        let (mut child, keeper) = Keeper::spawn(&mut cmd, cgroup, ctx)?;
        return Ok(Started {
            pid: child.id(),
            lead: Lead::Kept(keeper),
            cgroup: None,
            pipes: RawPipes::of(&mut child),
        });
    }
    let mut child = spawn_direct(cmd, launch.foreground_terminal, cgroup.as_ref(), ctx)?;
    Ok(Started {
        pid: child.id(),
        lead: Lead::Group(Group::new(child.id())),
        cgroup,
        pipes: RawPipes::of(&mut child),
    })
}

/// Join the tree's cgroup v1 directories (their `cgroup.procs` fds, opened before the
/// fork) between `fork` and `exec`: the leader, or its keeper, whose children inherit
/// them.
fn join_before_exec(cmd: &mut std::process::Command, fds: Vec<std::os::fd::RawFd>) {
    if fds.is_empty() {
        return;
    }
    // SAFETY: between fork and exec the closure only calls write(2), which is
    // async-signal-safe, on fds opened (CLOEXEC) before the fork.
    unsafe {
        cmd.pre_exec(move || {
            for fd in &fds {
                if rustix::io::write(std::os::fd::BorrowedFd::borrow_raw(*fd), b"0")? != 1 {
                    return Err(io::Error::from(io::ErrorKind::WriteZero));
                }
            }
            Ok(())
        });
    }
}

/// Fork the leader as our direct child: leader of a new process group set before exec
/// (nothing the child runs can fork outside it before it exists), in its cgroup before
/// exec, with the terminal if asked.
fn spawn_direct(
    mut cmd: std::process::Command,
    claim_terminal: bool,
    cgroup: Option<&Cgroup>,
    ctx: &SpawnCtx,
) -> Result<std::process::Child, SpawnError> {
    cmd.process_group(0);
    if claim_terminal {
        // SAFETY: `claim_in_child` only makes async-signal-safe calls (its docs).
        unsafe {
            cmd.pre_exec(|| {
                terminal::claim_in_child();
                Ok(())
            });
        }
    }
    if let Some(cg) = cgroup {
        let fd = cg.procs_fd();
        // SAFETY: between fork and exec the closure only calls write(2), which is
        // async-signal-safe, on an fd opened (CLOEXEC) before the fork.
        unsafe {
            cmd.pre_exec(move || {
                if rustix::io::write(std::os::fd::BorrowedFd::borrow_raw(fd), b"0")? != 1 {
                    return Err(io::Error::from(io::ErrorKind::WriteZero));
                }
                Ok(())
            });
        }
    }
    cmd.spawn().map_err(|e| ctx.program_error(e, "fork/exec"))
}

type Pipes = (Option<PipeWriter>, Option<PipeReader>, Option<PipeReader>);

/// Register the child's pipes with the reactor.
fn take_pipes(pipes: RawPipes, ctx: &SpawnCtx) -> Result<Pipes, SpawnError> {
    let stdin = pipes
        .stdin
        .map(pipe::Sender::from_owned_fd)
        .transpose()
        .map_err(|e| ctx.os("registering stdin with the reactor", e))?;
    let stdout = pipes
        .stdout
        .map(pipe::Receiver::from_owned_fd)
        .transpose()
        .map_err(|e| ctx.os("registering stdout with the reactor", e))?;
    let stderr = pipes
        .stderr
        .map(pipe::Receiver::from_owned_fd)
        .transpose()
        .map_err(|e| ctx.os("registering stderr with the reactor", e))?;
    Ok((stdin, stdout, stderr))
}

fn output_stdio(mode: OutputMode) -> Stdio {
    match mode {
        OutputMode::Piped => Stdio::piped(),
        OutputMode::Inherit => Stdio::inherit(),
        OutputMode::Null => Stdio::null(),
    }
}

/// A new descriptor for `stream` (e.g. our stdout), as a `File` kennel can forward into.
pub(crate) fn duplicate(stream: &impl std::os::fd::AsFd) -> io::Result<std::fs::File> {
    Ok(std::fs::File::from(stream.as_fd().try_clone_to_owned()?))
}
