//! The Linux mechanisms: a cgroup v2 per child ([`cgroup`]), the shared [`guard`] that
//! kills the cgroups if the supervisor dies, a [`keeper`] per child without a cgroup
//! (the tree's subreaper), this process as a subreaper sweeping adopted orphans
//! ([`orphans`]), pidfds for waiting and signalling without PID reuse races
//! ([`Pidfd`]), and `/proc` ([`procfs`]). The whole module is compiled on Linux only;
//! `../nolinux.rs` mirrors its names for macOS and the BSDs, where the planner never
//! chooses them.

mod census;
pub(crate) mod cgroup;
mod fdio;
pub(crate) mod guard;
pub(crate) mod keeper;
pub(crate) mod limits;
pub(crate) mod orphans;
mod pidfd;
pub(crate) mod pidns;
pub(crate) mod procfs;
mod sender;
mod spare;
mod timer;
pub(crate) mod vfork;

use std::sync::OnceLock;

pub(crate) use census::renew_soon as renew_census;
pub(crate) use cgroup::Cgroup;
pub(crate) use fdio::{closed_now, send_all};
pub(crate) use guard::Ticket;
pub(crate) use keeper::Keeper;
pub(crate) use limits::{support as limit_support, TreeLimits};
pub(crate) use orphans::{become_subreaper, make_undumpable, sweep_adopted, sweep_escapees};
pub(crate) use pidfd::{group_signals, Pidfd};
pub(crate) use timer::sleep_until;

use crate::plan::{HostProbe, Os};
use crate::sys::SpawnCtx;
use crate::{HelperFailure, SpawnError};

/// The guard and keepers: this binary re-run as a helper.
pub(crate) mod helpers {
    pub(crate) use super::keeper::{enabled, init, use_program};
}

/// Termination signals of this process with their sender.
pub(crate) mod own_signals {
    pub(crate) use super::sender::{in_our_trees, install, Receiver};
}

/// What this host offers (the only impure input of the [planner](crate::plan)).
pub(crate) fn probe() -> HostProbe {
    HostProbe {
        os: Os::Linux,
        cgroup_writable: cgroup::root().is_some(),
        helpers: keeper::enabled(),
        guard: guard::available(),
        subreaper: orphans::we_are_subreaper(),
        pidfd: pidfd_works(),
    }
}

/// Whether this host makes PID namespaces for trees (probed once, by a real attempt:
/// [`pidns::mode`]).
pub(crate) fn pid_namespace_works() -> bool {
    // The probe forks and reaps a child of ours: the orphan reaper (which waits for
    // the registry to be settled) must not reap it first, so the probe counts as a
    // spawn in flight until it is done.
    let _in_flight = super::registry::spawning();
    pidns::mode().is_some()
}

/// Ask the keeper started by `cmd` to make its tree a PID namespace ([`pidns::ENV`]).
pub(crate) fn ask_for_pid_namespace(cmd: &mut std::process::Command) {
    if let Some(mode) = pidns::mode() {
        cmd.env(pidns::ENV, mode.as_arg());
    }
}

/// Whether the kernel answers `pidfd_open` (5.3+, and no seccomp filter refusing it).
/// Asked once, of this process.
fn pidfd_works() -> bool {
    static WORKS: OnceLock<bool> = OnceLock::new();
    *WORKS.get_or_init(|| {
        rustix::process::pidfd_open(
            rustix::process::getpid(),
            rustix::process::PidfdFlags::empty(),
        )
        .is_ok()
    })
}

/// Put the cgroup under the shared guard. `Ok(None)` when the guard cannot be started
/// for an OS reason: the caller falls back to a keeper. If the binary does not enter
/// the guard (it calls `keeper::init` late), the spawn fails: the keeper is the same
/// binary, and the guarantee is never claimed without a helper that answered.
fn register_guard(cg: &Cgroup, ctx: &SpawnCtx) -> Result<Option<Ticket>, SpawnError> {
    match guard::register(cg.dir()) {
        Ok(ticket) => Ok(Some(ticket)),
        Err(guard::GuardError::NotAGuard(failure)) => {
            Err(ctx.not_started(failure, guard::GUARD_ARG))
        }
        Err(guard::GuardError::Os) => Ok(None),
    }
}

/// A cgroup for a tree under the guard, and the guard's ticket for it: the
/// [spare](spare) made ahead when one is ready (then the next is made in the
/// background), else a fresh one. No ticket when the guard cannot be started for an
/// OS reason (as [`register_guard`]).
pub(crate) fn guarded_cgroup(ctx: &SpawnCtx) -> Result<(Cgroup, Option<Ticket>), SpawnError> {
    if let Some((cg, ticket)) = spare::take() {
        spare::refill_later();
        return Ok((cg, Some(ticket)));
    }
    let cg = Cgroup::create().map_err(|e| ctx.os("creating the cgroup", e))?;
    let ticket = register_guard(&cg, ctx)?;
    if ticket.is_some() {
        spare::refill_later();
    }
    Ok((cg, ticket))
}

/// The cgroup of a guarded tree that ended and was reaped, with its ticket: kept for
/// the next guarded tree if it is fit for one, else removed ([`spare`]).
pub(crate) fn give_back(cg: Cgroup, ticket: Ticket, limits: Option<&TreeLimits>) {
    spare::give_back(cg, ticket, limits);
}

/// Start `launch`'s leader directly inside `cg` ([`vfork`]); `Ok(None)` where the
/// kernel cannot (the caller uses std's spawn).
pub(crate) fn spawn_into(
    launch: &crate::sys::Launch<'_>,
    cg: &Cgroup,
) -> Result<Option<super::start::Spawned>, super::start::SpawnFailed> {
    vfork::spawn(
        launch,
        vfork::CgroupFds {
            dir: cg.dir_fd(),
            procs: &|| cg.procs_fd(),
        },
    )
}

/// Whether the guard of `generation` still covers the trees it was given.
pub(crate) fn guard_covers(generation: u64) -> bool {
    guard::covers(generation)
}

impl SpawnCtx {
    /// The guard or keeper (started with `arg`) did not answer as one.
    pub(crate) fn not_started(&self, failure: HelperFailure, arg: &str) -> SpawnError {
        SpawnError::GuardNotStarted {
            program: self.program.clone(),
            helper: keeper::helper_command_line(arg),
            failure,
        }
    }
}

/// Pids of the live (non-zombie) members of the process group `pgid`; `None` where
/// they cannot be listed (never on Linux).
pub(crate) fn group_members(pgid: u32) -> Option<Vec<u32>> {
    Some(procfs::group_members(pgid))
}

/// Processes of group `pgid` that are not zombies yet (inside `exit(2)` included),
/// with `census` through the latest census while it vouches for the group
/// (`census.rs`); `None` when they cannot be listed.
pub(crate) fn group_present(pgid: u32, census: bool) -> Option<Vec<u32>> {
    census::group_present(pgid, census)
}

/// Whether `pid` is running (not a zombie, not exiting).
pub(crate) fn running(pid: u32) -> bool {
    procfs::read_stat(pid).is_some_and(|s| s.running())
}
