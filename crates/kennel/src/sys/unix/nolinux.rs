//! The names of `linux/` on macOS and the BSDs, where none of those mechanisms exist:
//! no cgroups, no subreaper, no pidfd, no keeper or guard. The types are uninhabited
//! (the planner never chooses these layers here, so no value is ever built) and the
//! queries answer what the OS offers: nothing.

use std::convert::Infallible;
use std::io;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

pub(crate) use crate::sys::absent::{
    become_subreaper, helpers, make_undumpable, own_signals, sweep_adopted,
};

use crate::plan::{HostProbe, Os};
use crate::sys::Layer;
use crate::sys::SpawnCtx;
use crate::tree::TreeSignalError;
use crate::{Escapee, ExitStatus, Signal, SpawnError};

/// Process groups only; the leader is waited for by a blocking `waitid(WNOWAIT)`.
pub(crate) fn probe() -> HostProbe {
    HostProbe {
        os: Os::OtherUnix,
        cgroup_writable: false,
        helpers: false,
        guard: false,
        subreaper: false,
        pidfd: false,
    }
}

/// Never asked: the planner chooses no PID namespace here.
pub(crate) fn ask_for_pid_namespace(_cmd: &mut std::process::Command) {}

/// No PID namespaces here.
pub(crate) fn pid_namespace_works() -> bool {
    false
}

/// No cgroups here.
#[derive(Debug)]
pub(crate) struct Cgroup(Infallible);

impl Cgroup {
    pub(crate) fn create() -> io::Result<Cgroup> {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }

    pub(crate) fn procs_fd(&self) -> io::Result<std::os::fd::RawFd> {
        match self.0 {}
    }

    pub(crate) fn signal_skipping(
        &mut self,
        _signal: crate::Signal,
        _skip: Option<u32>,
    ) -> Result<(), crate::tree::TreeSignalError> {
        match self.0 {}
    }
}

/// No cgroup limits here (the planner refuses them first).
#[derive(Debug)]
pub(crate) struct TreeLimits(Infallible);

impl TreeLimits {
    pub(crate) fn for_tree(cg: &Cgroup, _limits: &crate::Limits) -> io::Result<TreeLimits> {
        match cg.0 {}
    }

    pub(crate) fn join_fds(&self) -> Vec<std::os::fd::RawFd> {
        match self.0 {}
    }

    pub(crate) fn usage(&self) -> crate::Usage {
        match self.0 {}
    }

    pub(crate) fn out_of_memory(&self) -> Option<tokio::sync::watch::Receiver<bool>> {
        match self.0 {}
    }

    pub(crate) fn oom_killed(&self) -> bool {
        match self.0 {}
    }
}

/// No cgroups, so no limits, on this OS.
pub(crate) fn limit_support() -> crate::plan::LimitSupport {
    crate::plan::LimitSupport {
        why_not: "no cgroups on this OS",
        ..crate::plan::LimitSupport::default()
    }
}

/// No guard here.
#[derive(Debug)]
pub(crate) struct Ticket(Infallible);

impl Drop for Ticket {
    fn drop(&mut self) {
        match self.0 {}
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        match self.0 {}
    }
}

impl Ticket {
    pub(crate) fn generation(&self) -> u64 {
        match self.0 {}
    }
}

/// No keeper here.
#[derive(Debug)]
pub(crate) struct Keeper(Infallible);

impl Keeper {
    pub(crate) fn command(
        program: &std::ffi::OsStr,
        _cgroup: Option<&Cgroup>,
    ) -> std::process::Command {
        std::process::Command::new(program)
    }

    pub(crate) fn spawn(
        _cmd: &mut std::process::Command,
        _cgroup: Option<Cgroup>,
        ctx: &SpawnCtx,
    ) -> Result<(std::process::Child, Keeper), SpawnError> {
        Err(ctx.os(
            "starting the keeper",
            io::Error::from(io::ErrorKind::Unsupported),
        ))
    }

    pub(crate) fn pid(&self) -> u32 {
        match self.0 {}
    }

    pub(crate) fn lost(&self) -> Arc<AtomicBool> {
        match self.0 {}
    }

    pub(crate) async fn wait_exit(&mut self) -> io::Result<ExitStatus> {
        match self.0 {}
    }

    pub(crate) fn let_go(&mut self) {
        match self.0 {}
    }

    pub(crate) fn take_cgroup(&mut self) -> Option<Cgroup> {
        match self.0 {}
    }
}

/// A layer that cannot exist here: every method is unreachable by its type.
macro_rules! absent_layer {
    ($($layer:ty),*) => {$(
        impl Layer for $layer {
            fn signal(&mut self, _signal: Signal) -> Result<(), TreeSignalError> {
                match self.0 {}
            }
            fn alive(&mut self) -> bool {
                match self.0 {}
            }
            fn members(&mut self) -> Vec<u32> {
                match self.0 {}
            }
        }
    )*};
}

absent_layer!(Cgroup, Keeper);

/// Never asked: the planner chooses no cgroup here.
pub(crate) fn guarded_cgroup(ctx: &SpawnCtx) -> Result<(Cgroup, Option<Ticket>), SpawnError> {
    Err(ctx.os(
        "creating the cgroup",
        io::Error::from(io::ErrorKind::Unsupported),
    ))
}

/// Never called: there is no cgroup here.
pub(crate) fn give_back(cg: Cgroup, _ticket: Ticket, _limits: Option<&TreeLimits>) {
    match cg.0 {}
}

/// No guard ever covered anything here.
pub(crate) fn guard_covers(_generation: u64) -> bool {
    false
}

pub(crate) fn sweep_escapees(_leader: Option<u32>, cg: &Cgroup) -> Vec<Escapee> {
    match cg.0 {}
}

/// Group members cannot be listed here without a full process table scan: unknown.
pub(crate) fn group_members(_pgid: u32) -> Option<Vec<u32>> {
    None
}

/// Unknown here, as [`group_members`].
pub(crate) fn group_present(_pgid: u32, _census: bool) -> Option<Vec<u32>> {
    None
}

/// No census here: groups cannot be listed.
pub(crate) fn renew_census() {}

/// tokio's timer (no timerfd here).
pub(crate) async fn sleep_until(deadline: tokio::time::Instant) {
    tokio::time::sleep_until(deadline).await;
}

/// Unknown here; counted as running.
pub(crate) fn running(_pid: u32) -> bool {
    true
}

/// No cgroup here, so no spawn into one.
pub(crate) fn spawn_into(
    _launch: &crate::sys::Launch<'_>,
    cg: &Cgroup,
) -> Result<Option<super::start::Spawned>, super::start::SpawnFailed> {
    match cg.0 {}
}

/// No pidfd here.
pub(crate) struct Pidfd(Infallible);

impl Pidfd {
    pub(crate) fn open(_pid: u32) -> io::Result<Option<Pidfd>> {
        Ok(None)
    }

    pub(crate) fn from_owned(_fd: std::os::fd::OwnedFd) -> io::Result<Pidfd> {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }

    pub(crate) async fn wait_exit(&self) -> io::Result<ExitStatus> {
        match self.0 {}
    }

    pub(crate) fn signal(&self, _signal: rustix::process::Signal) {
        match self.0 {}
    }

    pub(crate) fn reap(&self) -> io::Result<bool> {
        match self.0 {}
    }

    pub(crate) fn signal_group(
        &self,
        _signal: Option<rustix::process::Signal>,
    ) -> io::Result<bool> {
        match self.0 {}
    }
}

/// No pidfd, so no group signal through one.
pub(crate) fn group_signals() -> bool {
    false
}
