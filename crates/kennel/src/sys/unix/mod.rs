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
//! cgroups; `tree.rs` composes them into the tree the run loop drives; `start.rs` starts
//! the leader (or its keeper). Everything
//! Linux-only is under `linux/`, compiled on Linux alone; `nolinux.rs` mirrors its
//! names with uninhabited types for macOS and the BSDs, where the planner never chooses
//! those layers.

pub(crate) mod compat;
pub(crate) mod fifo;
mod group;
pub(crate) mod interp;
#[cfg(target_os = "linux")]
pub(crate) mod linux;
#[cfg(not(target_os = "linux"))]
#[path = "nolinux.rs"]
pub(crate) mod linux;
mod registry;
pub(crate) mod signal;
mod start;
pub(crate) mod terminal;
mod tree;

use std::io;
use std::os::fd::OwnedFd;

use tokio::net::unix::pipe;

pub(crate) use linux::{
    become_subreaper, helpers, limit_support, make_undumpable, own_signals, pid_namespace_works,
    probe, sweep_adopted,
};
pub(crate) use tree::{Leader, Protection};

use self::linux::{Cgroup, TreeLimits};
use self::start::Start;
use self::tree::Lead;
use crate::plan::{self, Guarantee};
use crate::sys::{Launch, SpawnCtx};
use crate::{Containment, SpawnError};

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
    let (cgroup, ticket) = tree_cgroup(plan, &ctx)?;
    // A guard that could not be started for an OS reason: a keeper instead, where a
    // helper binary can host one (else the tree runs unguarded, and says so).
    let kept = plan.guarantee == Guarantee::Keeper
        || (plan.guarantee == Guarantee::Guard && ticket.is_none() && helpers::enabled());
    let limits = tree_limits(cgroup.as_ref(), launch, &ctx)?;
    let joins = limits
        .as_ref()
        .map(TreeLimits::join_fds)
        .unwrap_or_default();
    let Started {
        pid,
        lead,
        cgroup,
        mut pipes,
    } = Start {
        launch,
        joins: &joins,
        kept,
        ctx: &ctx,
    }
    .run(cgroup)?;
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

/// The tree's cgroup, if its plan has one, and the guard's ticket for it.
fn tree_cgroup(
    plan: &plan::Plan,
    ctx: &SpawnCtx,
) -> Result<(Option<Cgroup>, Option<linux::Ticket>), SpawnError> {
    Ok(match (plan.cgroup, plan.guarantee) {
        (true, Guarantee::Guard) => {
            let (cg, ticket) = linux::guarded_cgroup(ctx)?;
            (Some(cg), ticket)
        }
        (true, _) => (
            Some(Cgroup::create().map_err(|e| ctx.os("creating the cgroup", e))?),
            None,
        ),
        (false, _) => (None, None),
    })
}

/// The tree's limits, set up beside its cgroup (none without one).
fn tree_limits(
    cgroup: Option<&Cgroup>,
    launch: &Launch<'_>,
    ctx: &SpawnCtx,
) -> Result<Option<TreeLimits>, SpawnError> {
    cgroup
        .map(|cg| TreeLimits::for_tree(cg, &launch.limits.apply))
        .transpose()
        .map_err(|e| ctx.os("setting up the tree's limits", e))
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

type Pipes = (Option<PipeWriter>, Option<PipeReader>, Option<PipeReader>);

/// Register the child's pipes with the reactor. They are our own anonymous pipes, so
/// tokio's checks (an `fstat` for the type, `F_GETFL` for the access mode) are skipped:
/// one `F_SETFL` makes each non-blocking (two system calls fewer per pipe, on the
/// spawn's round trip).
fn take_pipes(pipes: RawPipes, ctx: &SpawnCtx) -> Result<Pipes, SpawnError> {
    let stdin = pipes
        .stdin
        .map(|fd| nonblocking(fd).and_then(pipe::Sender::from_owned_fd_unchecked))
        .transpose()
        .map_err(|e| ctx.os("registering stdin with the reactor", e))?;
    let stdout = pipes
        .stdout
        .map(|fd| nonblocking(fd).and_then(pipe::Receiver::from_owned_fd_unchecked))
        .transpose()
        .map_err(|e| ctx.os("registering stdout with the reactor", e))?;
    let stderr = pipes
        .stderr
        .map(|fd| nonblocking(fd).and_then(pipe::Receiver::from_owned_fd_unchecked))
        .transpose()
        .map_err(|e| ctx.os("registering stderr with the reactor", e))?;
    Ok((stdin, stdout, stderr))
}

/// `fd` (our end of a pipe we made) in non-blocking mode.
fn nonblocking(fd: OwnedFd) -> io::Result<OwnedFd> {
    rustix::fs::fcntl_setfl(&fd, rustix::fs::OFlags::NONBLOCK)?;
    Ok(fd)
}

/// A new descriptor for `stream` (e.g. our stdout), as a `File` kennel can forward into.
pub(crate) fn duplicate(stream: &impl std::os::fd::AsFd) -> io::Result<std::fs::File> {
    Ok(std::fs::File::from(stream.as_fd().try_clone_to_owned()?))
}
