//! Which containment a child gets: a pure function of what the [`Command`](crate::Command)
//! asks for ([`ContainmentOptions`]) and what the host offers ([`HostProbe`]).
//!
//! This is the policy; `sys` is the mechanism. `sys::imp::probe()` is the only impure
//! part (it reads `/proc`, asks the kernel for a pidfd, looks at what `keeper::init`
//! recorded); everything here is decided from its answer, so every combination is
//! tested below without a process.
//!
//! One decision is left to spawn time because only trying tells: when the shared guard
//! cannot be started for an OS reason (not because the binary ignores `init()`), `sys`
//! falls back to a keeper for that child. The plan says [`Guarantee::Guard`]; the tree
//! then reports the keeper as one more layer.

use crate::{Containment, LimitKind, Limits};

/// Switches for the containment tiers. Every tier that works here is used unless it is
/// switched off; the process group is always used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContainmentOptions {
    /// A cgroup v2 per child where one is writable (Linux).
    pub cgroup: bool,
    /// Kill the tree if the supervisor dies (Linux). A tree in a cgroup is watched by one
    /// guard process shared by every child of this supervisor, which kills the cgroups
    /// it knows when the supervisor dies (in a binary that never called
    /// [`crate::keeper::init`], a clone of the supervisor that runs no binary); a tree
    /// without a cgroup gets a keeper process of its own that is also its subreaper (it
    /// catches descendants that leave the process group; only in binaries that call
    /// `init()` first in `main`). If `init()` ran but the guard or keeper does not answer its
    /// handshake, the spawn fails
    /// ([`SpawnError::GuardNotStarted`](crate::SpawnError::GuardNotStarted)); `false`
    /// is the explicit way to run without the guarantee. Whether a tree has it:
    /// [`Child::dies_with_supervisor`](crate::Child::dies_with_supervisor).
    pub keeper: bool,
}

impl Default for ContainmentOptions {
    fn default() -> Self {
        ContainmentOptions {
            cgroup: true,
            keeper: true,
        }
    }
}

/// The operating system family kennel runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(
    dead_code,
    reason = "each platform's probe builds only its own variant"
)]
pub(crate) enum Os {
    /// Linux: cgroups v2, subreapers, pidfds.
    Linux,
    /// macOS and the BSDs: process groups only.
    OtherUnix,
    /// Windows: Job Objects.
    Windows,
}

/// What the host offers, as the impure probe found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HostProbe {
    /// Which OS family.
    pub(crate) os: Os,
    /// A cgroup v2 directory this process may create child cgroups in.
    pub(crate) cgroup_writable: bool,
    /// A guard or keeper can be started: `keeper::init` ran in this binary, or a keeper
    /// program was named with `keeper::use_program`.
    pub(crate) helpers: bool,
    /// The shared guard of cgroup trees can be started: `helpers`, or the in-process
    /// guard (Linux ≥ 5.16), which needs no helper binary.
    pub(crate) guard: bool,
    /// This process is a child subreaper that sweeps the orphans it adopts
    /// (`sweep_adopted_orphans`).
    pub(crate) subreaper: bool,
    /// The kernel answers `pidfd_open`.
    pub(crate) pidfd: bool,
}

/// What keeps a tree from outliving its supervisor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Guarantee {
    /// Nothing: the tree survives a `kill -9` of the supervisor.
    None,
    /// The shared guard process watches the tree's cgroup.
    Guard,
    /// A keeper process of its own is the tree's subreaper.
    Keeper,
    /// The kernel kills the Job Object when its last handle (ours) closes.
    JobClose,
}

/// The containment of one child: which layers, strongest first, and what protects it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Every layer that will hold the tree, strongest first; never empty.
    pub(crate) layers: Vec<Containment>,
    /// Put the tree in a cgroup of its own.
    pub(crate) cgroup: bool,
    /// What keeps the tree from outliving the supervisor.
    pub(crate) guarantee: Guarantee,
    /// Wait for the leader through a pidfd (else a blocking `waitid` on a pool thread).
    pub(crate) pidfd: bool,
    /// The keeper makes the tree a PID namespace and is its init.
    pub(crate) pid_namespace: bool,
}

impl Plan {
    /// The strongest layer: what the outcome reports as the tree's containment.
    pub(crate) fn strongest(&self) -> Containment {
        self.layers.first().copied().unwrap_or(Containment::Group)
    }
}

/// Decide the containment of a child.
pub(crate) fn plan(options: ContainmentOptions, host: &HostProbe) -> Plan {
    if host.os == Os::Windows {
        return Plan {
            layers: vec![Containment::JobObject],
            cgroup: false,
            guarantee: Guarantee::JobClose,
            pidfd: false,
            pid_namespace: false,
        };
    }
    let linux = host.os == Os::Linux;
    let cgroup = linux && options.cgroup && host.cgroup_writable;
    let asked = linux && options.keeper;
    // A cgroup tree is guarded by the shared guard: the cgroup already holds every
    // descendant, so a keeper per child would only add an exec. Without a cgroup only
    // a keeper (a helper binary) holds the tree.
    let guarantee = match (cgroup, asked && host.guard, asked && host.helpers) {
        (true, true, _) => Guarantee::Guard,
        (false, _, true) => Guarantee::Keeper,
        _ => Guarantee::None,
    };
    let strongest = if cgroup {
        Containment::Cgroup
    } else if guarantee == Guarantee::Keeper {
        Containment::Subreaper
    } else {
        Containment::Group
    };
    let subreaper = guarantee == Guarantee::Keeper || (linux && host.subreaper);
    Plan {
        layers: layers(strongest, subreaper),
        cgroup,
        guarantee,
        pidfd: linux && host.pidfd,
        pid_namespace: false,
    }
}

/// The plan of a child that asked for a PID namespace
/// ([`Command::pid_namespace`](crate::Command::pid_namespace)): `base` (what [`plan`]
/// chose) with the namespace as its strongest layer — a keeper is its init and the
/// tree's guarantee, the cgroup stays if `base` had one — when the host makes PID
/// namespaces (`available`, probed only for such a child), the binary hosts keepers,
/// and the leftovers are not to be kept (they would die with the init). Otherwise
/// `base` unchanged: the outcome says which containment was used.
pub(crate) fn in_pid_namespace(
    base: Plan,
    available: bool,
    keep_leftovers: bool,
    host: &HostProbe,
) -> Plan {
    if host.os != Os::Linux || !available || !host.helpers || keep_leftovers {
        return base;
    }
    let mut layers = vec![Containment::PidNamespace];
    if base.cgroup {
        layers.push(Containment::Cgroup);
    }
    layers.push(Containment::Group);
    Plan {
        layers,
        guarantee: Guarantee::Keeper,
        pid_namespace: true,
        ..base
    }
}

impl crate::Command {
    /// The containment of this command on this host (the PID namespace is probed only
    /// when asked for).
    pub(crate) fn plan(&self) -> crate::plan::Plan {
        let host = crate::sys::imp::probe();
        let base = crate::plan::plan(self.containment, &host);
        let ns = self.pid_namespace && crate::sys::imp::pid_namespace_works();
        crate::plan::in_pid_namespace(base, ns, self.ending.keep_leftovers, &host)
    }

    /// Opt-in (Linux): a PID namespace per tree whose init is kennel's keeper. Nothing
    /// can leave it, and the kernel kills all of it when the init dies — even after an
    /// escape from the cgroup, even on `kill -9` of the supervisor. Needs root or
    /// unprivileged user namespaces and a keeper host ([`crate::keeper::init`]); not
    /// with [`Command::keep_leftovers`](crate::Command::keep_leftovers). Where unavailable the other tiers are used
    /// ([`Outcome::containment`](crate::Outcome::containment) says). The child sees
    /// itself as pid 2 and a fresh `/proc` (own mount namespace; without root, a user
    /// namespace mapping only our uid/gid); pids kennel reports are the host's.
    /// Costs and effects: `docs/DECISIONS.md`.
    pub fn pid_namespace(mut self, on: bool) -> Self {
        self.pid_namespace = on;
        self
    }
}

/// The layers of a tree held by `strongest`, strongest first: then a subreaper (a
/// keeper, or this process sweeping its adopted orphans), then the process group.
pub(crate) fn layers(strongest: Containment, subreaper: bool) -> Vec<Containment> {
    let mut layers = vec![strongest];
    if subreaper && !layers.contains(&Containment::Subreaper) {
        layers.push(Containment::Subreaper);
    }
    if strongest != Containment::JobObject && !layers.contains(&Containment::Group) {
        layers.push(Containment::Group);
    }
    layers
}

/// Every tier that works on this host, strongest first (what a sidecar's `hello`
/// reports); `pid_namespace` says whether the host makes PID namespaces (an opt-in
/// tier; asked only on Linux with helpers, as answering costs a probe).
pub(crate) fn available_with(
    host: &HostProbe,
    pid_namespace: impl FnOnce() -> bool,
) -> Vec<Containment> {
    let mut tiers = available(host);
    if host.os == Os::Linux && host.helpers && pid_namespace() {
        tiers.insert(0, Containment::PidNamespace);
    }
    tiers
}

/// Every tier that works on this host without asking for one, strongest first.
pub(crate) fn available(host: &HostProbe) -> Vec<Containment> {
    match host.os {
        Os::Windows => vec![Containment::JobObject],
        Os::OtherUnix => vec![Containment::Group],
        Os::Linux => {
            let mut tiers = Vec::new();
            if host.cgroup_writable {
                tiers.push(Containment::Cgroup);
            }
            if host.helpers {
                tiers.push(Containment::Subreaper);
            }
            tiers.push(Containment::Group);
            tiers
        }
    }
}

/// Which limits this host can enforce for a tree of its tier, and why not where it
/// cannot (from `sys::imp::limit_support`, probed only when limits are asked for).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct LimitSupport {
    pub(crate) memory: bool,
    pub(crate) pids: bool,
    pub(crate) cpu: bool,
    /// Why a limit this host lacks cannot be enforced, as a short phrase.
    pub(crate) why_not: &'static str,
}

impl LimitSupport {
    fn has(&self, kind: LimitKind) -> bool {
        match kind {
            LimitKind::Memory => self.memory,
            LimitKind::Pids => self.pids,
            LimitKind::Cpu => self.cpu,
        }
    }
}

/// The limits of one tree: the ones to enforce, and the ones best effort skipped.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct LimitPlan {
    pub(crate) apply: Limits,
    pub(crate) skipped: Vec<LimitKind>,
}

/// Decide the limits of a tree with containment `plan`: on Linux only a tree with a
/// cgroup can hold limits. Every requested limit the host lacks fails the spawn (the
/// kinds and why), unless `limits.best_effort`: then it is skipped.
pub(crate) fn limits(
    limits: &Limits,
    plan: &Plan,
    host: &HostProbe,
    support: &LimitSupport,
) -> Result<LimitPlan, (Vec<LimitKind>, &'static str)> {
    let no_cgroup = host.os == Os::Linux && !plan.cgroup;
    let missing: Vec<LimitKind> = limits
        .requested()
        .into_iter()
        .filter(|k| no_cgroup || !support.has(*k))
        .collect();
    let why = if no_cgroup {
        "the tree has no cgroup"
    } else {
        support.why_not
    };
    if !missing.is_empty() && !limits.best_effort {
        return Err((missing, why));
    }
    let mut apply = *limits;
    for kind in &missing {
        match kind {
            LimitKind::Memory => apply.memory_max_bytes = None,
            LimitKind::Pids => apply.pids_max = None,
            LimitKind::Cpu => apply.cpus = None,
        }
    }
    Ok(LimitPlan {
        apply,
        skipped: missing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Containment::{Cgroup, Group, JobObject, Subreaper};

    fn host(os: Os, cgroup_writable: bool, helpers: bool, subreaper: bool) -> HostProbe {
        HostProbe {
            os,
            cgroup_writable,
            helpers,
            guard: helpers,
            subreaper,
            pidfd: true,
        }
    }

    /// Without a helper binary (no `keeper::init`), a cgroup tree still gets the guard
    /// (the in-process one); a tree without a cgroup gets no keeper.
    #[test]
    fn the_guard_without_helpers_covers_cgroup_trees_only() {
        let no_helpers = |cgroup_writable| HostProbe {
            guard: true,
            ..host(Os::Linux, cgroup_writable, false, false)
        };
        let got = plan(ContainmentOptions::default(), &no_helpers(true));
        assert_eq!(got.guarantee, Guarantee::Guard);
        assert_eq!(got.layers, [Cgroup, Group]);
        let got = plan(ContainmentOptions::default(), &no_helpers(false));
        assert_eq!(got.guarantee, Guarantee::None);
        assert_eq!(got.layers, [Group]);
        let got = plan(options(true, false), &no_helpers(true));
        assert_eq!(got.guarantee, Guarantee::None, "the opt-out holds");
    }

    fn options(cgroup: bool, keeper: bool) -> ContainmentOptions {
        ContainmentOptions { cgroup, keeper }
    }

    /// (asked for a cgroup, asked for a keeper, cgroup writable, helpers, subreaper).
    type Case = (bool, bool, bool, bool, bool);
    /// (layers, cgroup, guarantee).
    type Expected = (&'static [Containment], bool, Guarantee);

    /// Every Linux combination of (asked for a cgroup, asked for a keeper, cgroup
    /// writable, helpers available, we sweep adopted orphans).
    #[test]
    fn linux_every_combination() {
        #[rustfmt::skip]
        let table: &[(Case, Expected)] = &[
            // ask cg, ask kp, cg ok, helpers, subreaper => layers, cgroup, guarantee
            ((false, false, false, false, false), (&[Group], false, Guarantee::None)),
            ((false, false, false, false, true), (&[Group, Subreaper], false, Guarantee::None)),
            ((false, false, false, true, false), (&[Group], false, Guarantee::None)),
            ((false, false, false, true, true), (&[Group, Subreaper], false, Guarantee::None)),
            ((false, false, true, false, false), (&[Group], false, Guarantee::None)),
            ((false, false, true, false, true), (&[Group, Subreaper], false, Guarantee::None)),
            ((false, false, true, true, false), (&[Group], false, Guarantee::None)),
            ((false, false, true, true, true), (&[Group, Subreaper], false, Guarantee::None)),
            ((false, true, false, false, false), (&[Group], false, Guarantee::None)),
            ((false, true, false, false, true), (&[Group, Subreaper], false, Guarantee::None)),
            ((false, true, false, true, false), (&[Subreaper, Group], false, Guarantee::Keeper)),
            ((false, true, false, true, true), (&[Subreaper, Group], false, Guarantee::Keeper)),
            ((false, true, true, false, false), (&[Group], false, Guarantee::None)),
            ((false, true, true, false, true), (&[Group, Subreaper], false, Guarantee::None)),
            ((false, true, true, true, false), (&[Subreaper, Group], false, Guarantee::Keeper)),
            ((false, true, true, true, true), (&[Subreaper, Group], false, Guarantee::Keeper)),
            ((true, false, false, false, false), (&[Group], false, Guarantee::None)),
            ((true, false, false, false, true), (&[Group, Subreaper], false, Guarantee::None)),
            ((true, false, false, true, false), (&[Group], false, Guarantee::None)),
            ((true, false, false, true, true), (&[Group, Subreaper], false, Guarantee::None)),
            ((true, false, true, false, false), (&[Cgroup, Group], true, Guarantee::None)),
            ((true, false, true, false, true), (&[Cgroup, Subreaper, Group], true, Guarantee::None)),
            ((true, false, true, true, false), (&[Cgroup, Group], true, Guarantee::None)),
            ((true, false, true, true, true), (&[Cgroup, Subreaper, Group], true, Guarantee::None)),
            ((true, true, false, false, false), (&[Group], false, Guarantee::None)),
            ((true, true, false, false, true), (&[Group, Subreaper], false, Guarantee::None)),
            ((true, true, false, true, false), (&[Subreaper, Group], false, Guarantee::Keeper)),
            ((true, true, false, true, true), (&[Subreaper, Group], false, Guarantee::Keeper)),
            ((true, true, true, false, false), (&[Cgroup, Group], true, Guarantee::None)),
            ((true, true, true, false, true), (&[Cgroup, Subreaper, Group], true, Guarantee::None)),
            ((true, true, true, true, false), (&[Cgroup, Group], true, Guarantee::Guard)),
            ((true, true, true, true, true), (&[Cgroup, Subreaper, Group], true, Guarantee::Guard)),
        ];
        for &((ask_cg, ask_kp, cg_ok, helpers, subreaper), (layers, cgroup, guarantee)) in table {
            let got = plan(
                options(ask_cg, ask_kp),
                &host(Os::Linux, cg_ok, helpers, subreaper),
            );
            let case = (ask_cg, ask_kp, cg_ok, helpers, subreaper);
            assert_eq!(got.layers, layers, "{case:?}");
            assert_eq!(got.cgroup, cgroup, "{case:?}");
            assert_eq!(got.guarantee, guarantee, "{case:?}");
            assert_eq!(got.strongest(), layers[0], "{case:?}");
            assert!(got.pidfd, "{case:?}");
        }
    }

    /// Exhaustively: the plan never uses what the host lacks or the command refused.
    #[test]
    fn never_more_than_asked_or_offered() {
        for os in [Os::Linux, Os::OtherUnix, Os::Windows] {
            for bits in 0u32..128 {
                let bit = |n: u32| bits & (1 << n) != 0;
                let (ask_cg, ask_kp, cg_ok, helpers, subreaper, pidfd) =
                    (bit(0), bit(1), bit(2), bit(3), bit(4), bit(5));
                // Helpers always host a guard; the in-process one may be there without.
                let guard = helpers || bit(6);
                let probe = HostProbe {
                    os,
                    cgroup_writable: cg_ok,
                    helpers,
                    guard,
                    subreaper,
                    pidfd,
                };
                let got = plan(options(ask_cg, ask_kp), &probe);
                let case = (os, ask_cg, ask_kp, cg_ok, helpers, subreaper, pidfd);
                assert!(!got.layers.is_empty(), "{case:?}");
                assert_eq!(got.cgroup, got.layers.contains(&Cgroup), "{case:?}");
                if got.cgroup {
                    assert!(os == Os::Linux && ask_cg && cg_ok, "{case:?}");
                }
                if got.guarantee == Guarantee::Keeper {
                    assert!(os == Os::Linux && ask_kp && helpers, "{case:?}");
                }
                assert_eq!(
                    got.guarantee == Guarantee::Guard,
                    got.cgroup && ask_kp && guard,
                    "{case:?}"
                );
                assert_eq!(got.pidfd, os == Os::Linux && pidfd, "{case:?}");
                // Every tier the plan uses is one `available` reports.
                for layer in &got.layers {
                    let offered = available(&probe).contains(layer)
                        || (*layer == Subreaper && subreaper && os == Os::Linux);
                    assert!(offered, "{case:?}: {layer:?}");
                }
                match os {
                    Os::Windows => {
                        assert_eq!(got.layers, vec![JobObject]);
                        assert_eq!(got.guarantee, Guarantee::JobClose);
                    }
                    Os::OtherUnix => {
                        assert_eq!(got.layers, vec![Group]);
                        assert_eq!(got.guarantee, Guarantee::None);
                    }
                    Os::Linux => assert!(got.layers.contains(&Group), "{case:?}"),
                }
            }
        }
    }

    #[test]
    fn available_tiers_per_host() {
        assert_eq!(
            available(&host(Os::Windows, true, true, true)),
            vec![JobObject]
        );
        assert_eq!(
            available(&host(Os::OtherUnix, true, true, true)),
            vec![Group]
        );
        assert_eq!(
            available(&host(Os::Linux, false, false, false)),
            vec![Group]
        );
        assert_eq!(
            available(&host(Os::Linux, true, false, false)),
            vec![Cgroup, Group]
        );
        assert_eq!(
            available(&host(Os::Linux, false, true, false)),
            vec![Subreaper, Group]
        );
        assert_eq!(
            available(&host(Os::Linux, true, true, true)),
            vec![Cgroup, Subreaper, Group]
        );
    }

    /// Every combination of (OS, namespaces offered, helpers, leftovers kept, cgroup
    /// writable, cgroup asked): the namespace only where all allow it, strongest, with
    /// the keeper as guarantee and the cgroup kept; otherwise the plan without it.
    #[test]
    fn a_pid_namespace_only_where_offered_hosted_and_no_leftovers_are_kept() {
        use Containment::PidNamespace;
        for os in [Os::Linux, Os::OtherUnix, Os::Windows] {
            for bits in 0u32..32 {
                let bit = |n: u32| bits & (1 << n) != 0;
                let (ns_ok, helpers, keep, cg_ok, ask_cg) =
                    (bit(0), bit(1), bit(2), bit(3), bit(4));
                let probe = host(os, cg_ok, helpers, false);
                let base = plan(options(ask_cg, true), &probe);
                let got = in_pid_namespace(base.clone(), ns_ok, keep, &probe);
                let case = (os, ns_ok, helpers, keep, cg_ok, ask_cg);
                let used = os == Os::Linux && ns_ok && helpers && !keep;
                assert_eq!(got.pid_namespace, used, "{case:?}");
                let offered = available_with(&probe, || ns_ok).contains(&PidNamespace);
                assert_eq!(offered, os == Os::Linux && helpers && ns_ok, "{case:?}");
                if !used {
                    assert_eq!(got, base, "{case:?}");
                    continue;
                }
                let expected: &[Containment] = if base.cgroup {
                    &[PidNamespace, Cgroup, Group]
                } else {
                    &[PidNamespace, Group]
                };
                assert_eq!(got.layers, expected, "{case:?}");
                assert_eq!(got.strongest(), PidNamespace, "{case:?}");
                assert_eq!(got.guarantee, Guarantee::Keeper, "{case:?}");
                assert_eq!(got.cgroup, base.cgroup, "{case:?}");
            }
        }
    }

    #[test]
    fn the_namespace_probe_runs_only_where_it_could_be_used() {
        let probed = std::cell::Cell::new(false);
        let ask = || {
            probed.set(true);
            true
        };
        available_with(&host(Os::Linux, true, false, false), ask);
        assert!(!probed.get(), "no helpers: no keeper can be an init");
        available_with(&host(Os::Windows, true, true, false), ask);
        assert!(!probed.get());
        let tiers = available_with(&host(Os::Linux, true, true, false), ask);
        assert!(probed.get());
        assert_eq!(
            tiers,
            vec![Containment::PidNamespace, Cgroup, Subreaper, Group]
        );
    }

    #[test]
    fn a_keeper_fallback_adds_the_subreaper_layer_once() {
        assert_eq!(layers(Cgroup, true), vec![Cgroup, Subreaper, Group]);
        assert_eq!(layers(Subreaper, true), vec![Subreaper, Group]);
        assert_eq!(layers(Group, false), vec![Group]);
        assert_eq!(layers(JobObject, false), vec![JobObject]);
    }

    #[test]
    fn limits_need_a_cgroup_and_a_controller_unless_best_effort() {
        let support = LimitSupport {
            memory: true,
            pids: false,
            cpu: true,
            why_not: "no pids controller",
        };
        let linux = host(Os::Linux, true, true, false);
        let cgroup_plan = plan(options(true, true), &linux);
        let asked = Limits::new().memory_max_bytes(1 << 26).pids_max(64);
        assert_eq!(
            limits(&asked, &cgroup_plan, &linux, &support),
            Err((vec![LimitKind::Pids], "no pids controller"))
        );
        let relaxed =
            limits(&asked.best_effort(true), &cgroup_plan, &linux, &support).expect("best effort");
        assert_eq!(relaxed.skipped, vec![LimitKind::Pids]);
        assert_eq!(
            (relaxed.apply.memory_max_bytes, relaxed.apply.pids_max),
            (Some(1 << 26), None)
        );
        let no_cgroup = plan(options(false, true), &linux);
        let memory = Limits::new().memory_max_bytes(1 << 26);
        assert_eq!(
            limits(&memory, &no_cgroup, &linux, &support),
            Err((vec![LimitKind::Memory], "the tree has no cgroup"))
        );
        let mac = host(Os::OtherUnix, false, false, false);
        let none = LimitSupport {
            why_not: "no cgroups on this OS",
            ..LimitSupport::default()
        };
        assert!(limits(&memory, &plan(options(true, true), &mac), &mac, &none).is_err());
        let windows = host(Os::Windows, false, false, false);
        let job = LimitSupport {
            memory: true,
            pids: true,
            cpu: true,
            why_not: "",
        };
        let p = limits(&asked, &plan(options(true, true), &windows), &windows, &job);
        assert_eq!(p.expect("a job").apply, asked);
        assert_eq!(
            limits(&Limits::new(), &no_cgroup, &linux, &none).expect("nothing asked"),
            LimitPlan::default()
        );
    }
}
