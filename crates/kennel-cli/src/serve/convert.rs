//! Pure translations between the wire types of `kennel-protocol` and the library types of
//! `kennel`: a `spawn` request into a [`kennel::Command`], a [`kennel::Outcome`] into an
//! `exit` event, protocol signals into library signals, containment tiers both ways.

use std::time::Duration;

use kennel::{Command, Containment, ContainmentOptions, Ladder, Outcome, OutputMode, StdinMode};
use kennel_protocol::{
    CapPolicy, ContainmentTier, ErrorCode, ExitEvent, LadderStep, OutputCap, RequestError, Shell,
    Signal, SpawnRequest, StdioMode, StreamStats, DEFAULT_SIGNAL,
};

/// A library containment as the protocol names it.
pub(crate) fn tier(containment: Containment) -> ContainmentTier {
    match containment {
        Containment::Cgroup => ContainmentTier::Cgroup,
        Containment::Subreaper => ContainmentTier::Subreaper,
        Containment::JobObject => ContainmentTier::JobObject,
        Containment::PidNamespace => ContainmentTier::PidNamespace,
        // `Containment` is non-exhaustive; a future tier is at least a group.
        _ => ContainmentTier::Group,
    }
}

/// Turns the `containment` switches of a spawn into the library's options, checked
/// against the tiers this host offers.
///
/// `true` (require) is honoured when the tier is available (the library uses every
/// available tier that is not switched off). `false` (avoid) switches off `cgroup` and
/// `subreaper` (the library's per-child keeper); `group` and `job_object` are the base
/// of every child where they exist and cannot be avoided.
///
/// # Errors
///
/// `unsupported` naming the first switch that cannot be honoured.
pub(crate) fn containment(
    req: &SpawnRequest,
    available: &[ContainmentTier],
) -> Result<ContainmentOptions, RequestError> {
    let mut options = ContainmentOptions::default();
    for tier in ContainmentTier::ALL {
        let offered = available.contains(&tier);
        let message = match (req.containment.get(tier), tier) {
            (Some(true), _) if !offered => format!(
                "Containment tier `{}` is required but this host does not offer it (available: {}).",
                tier.as_str(),
                names(available)
            ),
            (Some(false), ContainmentTier::Cgroup) => {
                options.cgroup = false;
                continue;
            }
            (Some(false), ContainmentTier::Subreaper) => {
                options.keeper = false;
                continue;
            }
            // Opt-in: off unless `true` (checked by `pid_namespace`).
            (_, ContainmentTier::PidNamespace) => continue,
            (Some(false), _) if offered => format!(
                "Containment tier `{}` is the base of every child on this host and cannot be switched off (available: {}).",
                tier.as_str(),
                names(available)
            ),
            _ => continue,
        };
        return Err(request_error(
            ErrorCode::Unsupported,
            message,
            "spawn",
            &req.id,
        ));
    }
    if req.containment.pid_namespace == Some(true) && req.keep_leftovers {
        let message = "Containment tier `pid_namespace` cannot keep leftovers: they die with the namespace's init.";
        return Err(request_error(
            ErrorCode::Unsupported,
            message.to_owned(),
            "spawn",
            &req.id,
        ));
    }
    Ok(options)
}

fn names(tiers: &[ContainmentTier]) -> String {
    let names: Vec<&str> = tiers.iter().map(|t| t.as_str()).collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// An error about a request with its `op` and `id`.
pub(crate) fn request_error(
    code: ErrorCode,
    message: impl Into<String>,
    op: &str,
    id: &str,
) -> RequestError {
    RequestError::new(code, message).with_op(op).with_id(id)
}

/// A protocol signal as a library signal. The protocol carries names; the library's
/// vocabulary ([`kennel::Signal`]'s `FromStr`) turns them into signals of this platform.
/// A number is passed to the OS unchanged ([`kennel::Signal::Other`]).
///
/// # Errors
///
/// `unsupported` for a name the library does not know on this platform.
pub(crate) fn signal(sig: Signal, op: &str, id: &str) -> Result<kennel::Signal, RequestError> {
    let parsed = match (sig, sig.name()) {
        (_, Some(name)) => name.parse::<kennel::Signal>().ok(),
        (Signal::Number(n), None) => Some(kennel::Signal::Other(n)),
        (_, None) => None,
    };
    parsed.ok_or_else(|| {
        request_error(
            ErrorCode::Unsupported,
            format!("Signal {sig} cannot be delivered by this sidecar on this platform."),
            op,
            id,
        )
    })
}

/// The library ladder of protocol rungs (`unsupported` for a signal this platform
/// cannot send).
pub(crate) fn ladder(steps: &[LadderStep], op: &str, id: &str) -> Result<Ladder, RequestError> {
    let mut ladder = Ladder::new();
    for step in steps {
        ladder = ladder.then(signal(step.signal, op, id)?, step.wait());
    }
    Ok(ladder)
}

/// The ladder of a `spawn`: its `ladder`, or one rung of its `signal` (default
/// [`DEFAULT_SIGNAL`]) waiting `grace_ms` (default the library's
/// [`kennel::DEFAULT_GRACE`]).
pub(crate) fn spawn_ladder(req: &SpawnRequest) -> Result<Ladder, RequestError> {
    if let Some(steps) = &req.ladder {
        return ladder(steps, "spawn", &req.id);
    }
    let signal = signal(req.signal.unwrap_or(DEFAULT_SIGNAL), "spawn", &req.id)?;
    let grace = req
        .grace_ms
        .map_or(kennel::DEFAULT_GRACE, Duration::from_millis);
    Ok(Ladder::graceful(signal, grace))
}

/// Maps every field of a `spawn` request onto a [`Command`]. The containment options come from
/// [`containment`], the ladder from [`spawn_ladder`]; a child that does not clear its
/// environment starts from `inherited` (the sidecar's own, captured once).
pub(crate) fn command(
    req: &SpawnRequest,
    inherited: &kennel::Environment,
    default_drain_timeout: Duration,
    containment: ContainmentOptions,
    ladder: Ladder,
) -> Command {
    let mut cmd = match &req.shell {
        Some(Shell::Path(shell)) => Command::shell_with(shell, &req.cmd),
        Some(Shell::Enabled(true)) => Command::shell(&req.cmd),
        Some(Shell::Enabled(false)) | None => Command::new(&req.cmd).args(&req.args),
    };
    if let Some(cwd) = &req.cwd {
        cmd = cmd.current_dir(cwd);
    }
    cmd = if req.env_clear {
        cmd.env_clear()
    } else {
        cmd.environment(inherited)
    };
    // `env_remove` applies before `env` (the protocol's order).
    for key in &req.env_remove {
        cmd = cmd.env_remove(key);
    }
    cmd = cmd.envs(&req.env);
    cmd = cmd.stdin(match req.stdin {
        StdioMode::Pipe => StdinMode::Piped,
        // `"direct"` stdin is refused by the parser.
        StdioMode::Null | StdioMode::Direct => StdinMode::Null,
    });
    cmd = cmd.stdout(output_mode(req.stdout));
    cmd = cmd.stderr(output_mode(req.stderr));
    if let Some(timeout) = req.timeout() {
        cmd = cmd.timeout(timeout);
    }
    cmd = cmd.ladder(ladder);
    if let Some(cap) = req.stdout_cap {
        cmd = cmd.stdout_cap(output_cap(cap));
    }
    if let Some(cap) = req.stderr_cap {
        cmd = cmd.stderr_cap(output_cap(cap));
    }
    cmd = cmd.drain_timeout(req.drain_timeout().unwrap_or(default_drain_timeout));
    cmd.keep_leftovers(req.keep_leftovers)
        .containment(containment)
        .pid_namespace(req.containment.pid_namespace == Some(true))
        .limits(req.limits.map(limits).unwrap_or_default())
}

/// The `limits` of a spawn as the library's.
fn limits(l: kennel_protocol::SpawnLimits) -> kennel::Limits {
    let mut out = kennel::Limits::new()
        .best_effort(l.best_effort)
        .full_accounting(l.full_accounting);
    out.memory_max_bytes = l.memory_max_bytes;
    out.pids_max = l.pids_max;
    out.cpus = l.cpus;
    out
}

fn output_mode(mode: StdioMode) -> OutputMode {
    match mode {
        StdioMode::Pipe => OutputMode::Piped,
        StdioMode::Null => OutputMode::Null,
        // Replaced by the connection to the client's socket (`hub/direct.rs`).
        StdioMode::Direct => OutputMode::Null,
    }
}

fn output_cap(cap: OutputCap) -> kennel::OutputCap {
    match cap.policy {
        CapPolicy::Truncate => kennel::OutputCap::truncate(cap.bytes),
        CapPolicy::Kill => kennel::OutputCap::kill(cap.bytes),
    }
}

/// The `exit` event of a child from its outcome.
pub(crate) fn exit_event(id: &str, o: &Outcome) -> ExitEvent {
    let stats = |r: &kennel::StreamReport| StreamStats {
        bytes: r.bytes,
        dropped: r.dropped,
        cap_hit: r.cap_hit,
    };
    ExitEvent {
        id: id.to_owned(),
        pid: o.pid,
        code: o.status.code.map(i64::from),
        signal: o.status.signal,
        signal_name: o.status.signal_name().map(str::to_owned),
        reason: o.reason,
        ladder_step: o.ladder_step.map(|s| u32::try_from(s).unwrap_or(u32::MAX)),
        forced: o.forced,
        wall_time_ms: u64::try_from(o.wall_time.as_millis()).unwrap_or(u64::MAX),
        stdout: stats(&o.stdout),
        stderr: stats(&o.stderr),
        drain: o.drain,
        leftovers_killed: o.leftovers_killed.clone(),
        containment: tier(o.containment),
        errors: o.errors.iter().map(kennel::RunError::report).collect(),
        layers: o.layers.iter().copied().map(tier).collect(),
        escapees_killed: o
            .escapees_killed
            .iter()
            .map(|e| kennel_protocol::EscapeeKilled {
                pid: e.pid,
                found: e.found,
            })
            .collect(),
        usage: o.usage,
        limits_skipped: o
            .limits_skipped
            .iter()
            .map(|k| k.as_str().to_owned())
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kennel_protocol::parse_request;

    fn spawn_req(line: &str) -> SpawnRequest {
        match parse_request(line.as_bytes()) {
            Ok(kennel_protocol::Request::Spawn(r)) => r,
            other => panic!("not a spawn: {other:?}"),
        }
    }

    #[test]
    fn containment_switches() {
        let avail = [ContainmentTier::Subreaper, ContainmentTier::Group];
        let ok = spawn_req(
            r#"{"op":"spawn","id":"a","cmd":"x","containment":{"group":true,"cgroup":false}}"#,
        );
        let options = containment(&ok, &avail).unwrap();
        assert!(!options.cgroup && options.keeper);
        let no_keeper =
            spawn_req(r#"{"op":"spawn","id":"a","cmd":"x","containment":{"subreaper":false}}"#);
        assert!(!containment(&no_keeper, &avail).unwrap().keeper);
        let missing =
            spawn_req(r#"{"op":"spawn","id":"a","cmd":"x","containment":{"cgroup":true}}"#);
        let e = containment(&missing, &avail).unwrap_err();
        assert_eq!(e.code, ErrorCode::Unsupported);
        assert_eq!(e.id.as_deref(), Some("a"));
        let avoid = spawn_req(r#"{"op":"spawn","id":"a","cmd":"x","containment":{"group":false}}"#);
        assert_eq!(
            containment(&avoid, &avail).unwrap_err().code,
            ErrorCode::Unsupported
        );
    }

    #[test]
    fn signals_map() {
        assert_eq!(
            signal(Signal::Term, "signal", "a").unwrap(),
            kennel::Signal::Term
        );
        assert_eq!(
            signal(Signal::Number(40), "signal", "a").unwrap(),
            kennel::Signal::Other(40)
        );
        assert_eq!(
            signal(Signal::Break, "signal", "a").unwrap(),
            kennel::Signal::Break
        );
        // Every protocol name is the library's: mapped as the library parses it, or
        // `unsupported` where the library does not know it.
        for (sig, name) in Signal::named() {
            match (signal(sig, "signal", "a"), name.parse::<kennel::Signal>()) {
                (Ok(mapped), Ok(parsed)) => assert_eq!(mapped, parsed, "{name}"),
                (Err(e), Err(_)) => assert_eq!(e.code, ErrorCode::Unsupported, "{name}"),
                (mapped, parsed) => panic!("{name}: {mapped:?} but the library: {parsed:?}"),
            }
        }
        #[cfg(target_os = "linux")]
        assert_eq!(
            signal(Signal::Segv, "signal", "a").unwrap(),
            kennel::Signal::Other(11)
        );
        // On Linux the library knows every name the protocol has.
        #[cfg(target_os = "linux")]
        for (sig, name) in Signal::named() {
            assert!(signal(sig, "signal", "a").is_ok(), "{name} is unsupported");
        }
    }

    #[test]
    fn the_default_ladder_is_the_librarys() {
        let req = spawn_req(r#"{"op":"spawn","id":"a","cmd":"x"}"#);
        assert_eq!(spawn_ladder(&req).unwrap(), Ladder::default());
        let req = spawn_req(r#"{"op":"spawn","id":"a","cmd":"x","signal":"INT"}"#);
        assert_eq!(
            spawn_ladder(&req).unwrap(),
            Ladder::graceful(kennel::Signal::Int, kennel::DEFAULT_GRACE)
        );
        let req = spawn_req(r#"{"op":"spawn","id":"a","cmd":"x","grace_ms":7}"#);
        assert_eq!(
            spawn_ladder(&req).unwrap(),
            Ladder::graceful(kennel::Signal::Term, Duration::from_millis(7))
        );
    }

    /// The command for `req` with the sidecar's defaults.
    fn with_defaults(req: &SpawnRequest) -> Command {
        command(
            req,
            &kennel::Environment::capture(),
            Duration::from_secs(1),
            ContainmentOptions::default(),
            Ladder::default(),
        )
    }

    #[test]
    fn ladder_and_fields_reach_the_command() {
        let req = spawn_req(
            r#"{"op":"spawn","id":"a","cmd":"prog","args":["x"],"cwd":"/tmp","ladder":[]}"#,
        );
        let cmd = with_defaults(&req);
        assert_eq!(cmd.get_program(), "prog");
        assert_eq!(cmd.get_args().collect::<Vec<_>>(), ["x"]);
        assert_eq!(cmd.get_current_dir(), Some(std::path::Path::new("/tmp")));
        let shell = spawn_req(r#"{"op":"spawn","id":"a","cmd":"echo hi","shell":"/bin/bash"}"#);
        let cmd = with_defaults(&shell);
        assert_eq!(cmd.get_program(), "/bin/bash");
        assert_eq!(cmd.get_args().collect::<Vec<_>>(), ["-c", "echo hi"]);
    }
}
