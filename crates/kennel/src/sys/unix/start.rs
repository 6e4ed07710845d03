//! Starting a tree's leader, or its keeper: the vfork-style spawn straight into the
//! tree's cgroup where it can be used, else std's `Command` (the keeper, the group
//! tier, a leader that claims the terminal, given `Stdio`s, cgroup v1 joins).

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt as _;
use std::process::Stdio;

use super::group::Group;
use super::linux::{self, Cgroup, Keeper};
use super::tree::Lead;
use super::{registry, terminal, RawPipes, Started};
use crate::sys::{Launch, SpawnCtx};
use crate::{OutputMode, SpawnError, StdinMode};

/// What starting the leader (or its keeper) takes besides the cgroup: the launch, the
/// tree's cgroup v1 `cgroup.procs` fds to join before exec, whether a keeper is asked,
/// and the spawn's error context.
pub(super) struct Start<'a> {
    pub(super) launch: &'a Launch<'a>,
    pub(super) joins: &'a [std::os::fd::RawFd],
    pub(super) kept: bool,
    pub(super) ctx: &'a SpawnCtx,
}

/// A leader the vfork-style spawn started (Linux only: elsewhere never built), our
/// unreaped child, with its pidfd and the parent's pipe ends.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) struct Spawned {
    pub(crate) pid: u32,
    pub(crate) pidfd: OwnedFd,
    pub(crate) stdin: Option<OwnedFd>,
    pub(crate) stdout: Option<OwnedFd>,
    pub(crate) stderr: Option<OwnedFd>,
}

/// Why the vfork-style spawn failed, and at which stage (Linux only, as [`Spawned`]).
#[derive(Debug)]
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) struct SpawnFailed {
    /// `"fork/exec"` when the program could not be started (not found, not
    /// executable, …); otherwise the step that failed.
    pub(crate) stage: &'static str,
    pub(crate) source: io::Error,
}

impl Start<'_> {
    /// Fork and exec, directly or through a keeper, [`Spawning`](registry::Spawning) from
    /// before the fork until the pid is recorded, so the orphan reaper cannot take the exit
    /// status of a child that dies at once.
    pub(super) fn run(&self, cgroup: Option<Cgroup>) -> Result<Started, SpawnError> {
        let spawning = registry::spawning();
        let started = match (&cgroup, self.vfork_style()) {
            (Some(cg), true) => self.vfork_into(cg)?,
            _ => None,
        };
        let started = match started {
            Some(s) => Started { cgroup, ..s },
            None => self.through_std(cgroup)?,
        };
        if let Some(spawning) = &spawning {
            spawning.record(started.pid);
        }
        Ok(started)
    }

    /// A leader joining its cgroup takes the vfork-style spawn (no fork of our memory),
    /// unless it has a keeper, claims the terminal, has v1 limit cgroups to join (std's
    /// pre_exec does: `join_before_exec`), has a given `Stdio` (only std's `Command`
    /// takes one), or the kernel lacks `CLONE_PIDFD`.
    fn vfork_style(&self) -> bool {
        let launch = self.launch;
        !self.kept
            && !launch.foreground_terminal
            && launch.plan.pidfd
            && self.joins.is_empty()
            && !launch.given.any()
    }

    /// The vfork-style spawn into `cg`; `None` when this kernel cannot do it.
    fn vfork_into(&self, cg: &Cgroup) -> Result<Option<Started>, SpawnError> {
        match linux::spawn_into(self.launch, cg) {
            Ok(Some(s)) => Ok(Some(Started {
                pid: s.pid,
                lead: Lead::Group(Group::new(s.pid)),
                cgroup: None,
                pipes: RawPipes {
                    stdin: s.stdin,
                    stdout: s.stdout,
                    stderr: s.stderr,
                    pidfd: Some(s.pidfd),
                },
            })),
            Ok(None) => Ok(None),
            Err(f) if f.stage == "fork/exec" => Err(self.ctx.program_error(f.source, f.stage)),
            Err(f) => Err(self.ctx.os(f.stage, f.source)),
        }
    }

    /// [`run`](Start::run) through std's `Command`: the keeper, the group tier (std's
    /// `posix_spawn`), a leader that claims the terminal, or a kernel without
    /// `CLONE_PIDFD`.
    fn through_std(&self, cgroup: Option<Cgroup>) -> Result<Started, SpawnError> {
        let Start {
            launch,
            joins,
            kept,
            ctx,
        } = *self;
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
        let fd = cg
            .procs_fd()
            .map_err(|e| ctx.os("opening the cgroup's cgroup.procs", e))?;
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

fn output_stdio(mode: OutputMode) -> Stdio {
    match mode {
        OutputMode::Piped => Stdio::piped(),
        OutputMode::Inherit => Stdio::inherit(),
        OutputMode::Null => Stdio::null(),
    }
}
