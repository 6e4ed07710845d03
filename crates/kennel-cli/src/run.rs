//! `kennel run`: a tree-aware `timeout(1)`.
//!
//! Exit codes follow GNU `timeout`: the child's own code; 124 when the timeout fired;
//! 128+N when the leader died of signal N; 125 when kennel itself failed; 126 when the
//! program was found but cannot be run (not executable, not a program the kernel knows
//! — a script without `#!` —, or on Windows a batch file given a line break); 127 when
//! it was not found.
//!
//! The child's stdout and stderr are forwarded to kennel's own with
//! [`kennel::Forward`]: `splice(2)` on Linux where the destination allows it (a pipe, a
//! file, `/dev/null`), so a passthrough costs about what the command writing there
//! directly costs; a copy otherwise (a terminal, an `O_APPEND` file). Bytes are still
//! counted for `--report`. When kennel's stdout or stderr loses its reader
//! (`kennel run … | head`), kennel closes the child's side of that stream, so the tree
//! gets `EPIPE`/`SIGPIPE` exactly as it would writing to the pipe itself.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use kennel::{Command, EndReason, Forward, Ladder, Outcome, OutputMode, Signal, StdinMode};

use crate::duration::parse_duration;
use crate::report::outcome_json;

/// Exit code when the timeout fired (as GNU timeout).
pub const EXIT_TIMEOUT: i32 = 124;
/// Exit code when kennel itself failed.
pub const EXIT_INTERNAL: i32 = 125;
/// Exit code when the program exists but cannot be executed.
pub const EXIT_NOT_EXECUTABLE: i32 = 126;
/// Exit code when the program was not found.
pub const EXIT_NOT_FOUND: i32 = 127;

/// After a panic, how long to wait for the library to confirm the tree got SIGKILL.
const KILL_ACK_WAIT: Duration = Duration::from_millis(500);

/// How long writing `--report -` to stderr may take: a stderr pipe that nobody reads
/// cannot keep kennel from exiting (the report is then lost, and the exit code says so).
pub const REPORT_WAIT: Duration = Duration::from_secs(1);

/// Size asked for the child's stdout pipe (see [`Forward::pipe_size`]).
const PASSTHROUGH_PIPE_SIZE: usize = 1 << 20;

/// Arguments of `kennel run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Run the termination ladder after this long (e.g. 500ms, 2s, 1m, 1.5h; a bare
    /// number is seconds; 0 means no timeout).
    #[arg(long, value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Wait this long after the first signal before SIGKILL [default: 5s, the
    /// library's default grace].
    #[arg(long, value_parser = parse_duration)]
    pub grace: Option<Duration>,
    /// The first signal of the ladder.
    #[arg(long, default_value = "TERM")]
    pub signal: Signal,
    /// After the leader exits, how long to wait for its descendants to close stdout and
    /// stderr before tearing them down.
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    pub drain_timeout: Duration,
    /// Leave descendants that outlive the leader running.
    #[arg(long)]
    pub keep_leftovers: bool,
    /// Do not put the tree in a cgroup v2 even where one is writable (Linux).
    #[arg(long)]
    pub no_cgroup: bool,
    /// Do not run the tree under a keeper (then a `kill -9` of kennel leaves the tree
    /// running, and descendants that leave the process group escape; Linux).
    #[arg(long)]
    pub no_keeper: bool,
    /// Run the tree in a PID namespace of its own whose init is kennel's keeper
    /// (Linux, root or unprivileged user namespaces): nothing of the tree can leave it,
    /// and all of it dies with kennel — even `kill -9`, even after leaving its cgroup.
    /// The command sees itself as pid 2 and a fresh /proc. Fails (125) where it cannot
    /// be made.
    #[arg(long, conflicts_with = "keep_leftovers")]
    pub pid_namespace: bool,
    /// Write the outcome as one line of JSON to FILE, or to stderr with `-` (after all
    /// of the child's output, so its stdout stays byte-exact). Fields: below.
    #[arg(long, value_name = "FILE|-")]
    pub report: Option<String>,
    /// Resource limits of the whole tree.
    #[command(flatten)]
    pub limits: crate::LimitArgs,
    /// The command and its arguments (no shell is involved).
    /// Options end at the first argument that is not one (or at `--`).
    #[arg(required = true, trailing_var_arg = true)]
    pub command: Vec<String>,
}

/// The child's stdin is kennel's; its stdout and stderr are forwarded to kennel's. A
/// stream that was closed when kennel started is read and dropped (events that
/// `Child::wait` discards), so its byte count tells whether the tree wrote to it (see
/// `crate::stdio`).
pub(crate) fn with_stdio(cmd: Command) -> Command {
    let mut cmd = cmd.stdin(StdinMode::Inherit);
    // One child, two pipes: a bigger stdout pipe costs 1 MiB of the user's pipe quota
    // and is worth ~15% of passthrough throughput (docs/DECISIONS.md).
    cmd = match Forward::stdout() {
        _ if crate::stdio::was_closed(1) => cmd.stdout(OutputMode::Piped),
        // A terminal: the command gets it itself (colours, line buffering; crate::tty).
        _ if crate::tty::is_terminal(1) => cmd.stdout(OutputMode::Inherit),
        Ok(out) => cmd.forward_stdout(out.pipe_size(PASSTHROUGH_PIPE_SIZE)),
        Err(_) => cmd.stdout(OutputMode::Null),
    };
    match Forward::stderr() {
        _ if crate::stdio::was_closed(2) => cmd.stderr(OutputMode::Piped),
        _ if crate::tty::is_terminal(2) => cmd.stderr(OutputMode::Inherit),
        Ok(err) => cmd.forward_stderr(err),
        Err(_) => cmd.stderr(OutputMode::Null),
    }
}

/// After a panic: end the tree and wait a little for the library to confirm the kill.
pub(crate) async fn kill_after_panic(controller: &kennel::Controller) {
    controller.kill();
    let ack = controller.signal(Signal::Kill);
    let _ = tokio::time::timeout(KILL_ACK_WAIT, ack).await;
}

/// The sentence saying that kennel could not pass the tree's output on, if that
/// happened: the stream was closed when kennel started and the tree wrote to it, or
/// kennel's stdout or stderr failed (`/dev/full`, an I/O error; not a reader that went
/// away, which the tree sees itself as `EPIPE`).
fn output_failure(outcome: &Outcome) -> Option<String> {
    for (n, name, report) in [
        (1, "stdout", &outcome.stdout),
        (2, "stderr", &outcome.stderr),
    ] {
        if crate::stdio::was_closed(n) && report.bytes > 0 {
            return Some(format!(
                "write error: Bad file descriptor ({name} was closed; {} bytes lost)",
                report.bytes
            ));
        }
    }
    // The library's sentence for a failed destination (kennel::Forward's docs).
    outcome
        .errors
        .iter()
        .find(|e| matches!(e, kennel::RunError::Forward { .. }))
        .map(kennel::RunError::report)
}

/// The exit code once output could not be passed on (said with `say`): the command's
/// own if it failed, else 1, as the command writing there directly would have failed.
pub(crate) fn with_output_failure(code: i32, outcome: &Outcome, say: impl FnOnce(&str)) -> i32 {
    match output_failure(outcome) {
        Some(failure) => {
            say(&failure);
            if code == 0 {
                1
            } else {
                code
            }
        }
        None => code,
    }
}

/// The command of `kennel run` with its options.
fn command(args: &RunArgs, program: &str, rest: &[String]) -> Command {
    let ladder = Ladder::graceful(args.signal, args.grace.unwrap_or(kennel::DEFAULT_GRACE));
    let cmd = with_stdio(
        Command::new(program)
            .args(rest)
            .ladder(ladder)
            .drain_timeout(args.drain_timeout)
            .keep_leftovers(args.keep_leftovers)
            .containment(kennel::ContainmentOptions {
                cgroup: !args.no_cgroup,
                keeper: !args.no_keeper,
            })
            .pid_namespace(args.pid_namespace)
            .limits(args.limits.limits(args.report.is_some())),
    );
    // `--timeout 0` is no timeout, as GNU timeout's 0.
    match args.timeout.filter(|t| !t.is_zero()) {
        Some(timeout) => cmd.timeout(timeout),
        None => cmd,
    }
}

/// The exit code for a command that could not be started: 127 not found, 126 found but
/// not runnable (this way), as a shell says; 125 for kennel's own failures.
pub(crate) fn spawn_failed_code(e: &kennel::SpawnError) -> i32 {
    match e {
        kennel::SpawnError::NotFound { .. } | kennel::SpawnError::InterpreterNotFound { .. } => {
            EXIT_NOT_FOUND
        }
        kennel::SpawnError::PermissionDenied { .. }
        | kennel::SpawnError::NotAProgram { .. }
        | kennel::SpawnError::BatchArgument { .. } => EXIT_NOT_EXECUTABLE,
        _ => EXIT_INTERNAL,
    }
}

/// Run the command; returns the process exit code for `kennel run`.
pub async fn run(args: RunArgs) -> i32 {
    let Some((program, rest)) = args.command.split_first() else {
        tracing::error!("no command given");
        return EXIT_INTERNAL;
    };
    if args.pid_namespace
        && !kennel::available_containment().contains(&kennel::Containment::PidNamespace)
    {
        tracing::error!("--pid-namespace: this host cannot make a PID namespace for the tree");
        return EXIT_INTERNAL;
    }
    // From a shell in a terminal: the terminal is the command's until the run ends.
    let (cmd, mut job) = crate::tty::Job::prepare(command(&args, program, rest));
    // Before the spawn, so a signal that arrives while the child starts is not fatal to us.
    let signals = crate::signals::Signals::install();
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            tracing::error!("{}", e.report());
            return spawn_failed_code(&e);
        }
    };

    let controller = child.controller();
    let signals = tokio::spawn(signals.forward_to_ladder(controller.clone()));
    if let Some(job) = &mut job {
        job.started(&controller);
    }

    // Both streams are forwarded: the only event is the exit, sent after every byte
    // the tree wrote reached our stdout/stderr.
    let outcome = tokio::select! {
        outcome = child.wait() => outcome,
        // A panic in any task (see `crate::fatal`): end the tree, exit 125.
        () = crate::fatal::raised() => {
            kill_after_panic(&controller).await;
            return EXIT_INTERNAL;
        }
    };
    signals.abort();
    drop(job);

    let code = with_output_failure(exit_code(&outcome), &outcome, |failure| {
        tracing::error!("{failure}");
    });
    if let Some(target) = &args.report {
        // The report is extra: failing to write it is said, the command's code stays.
        if let Err(e) = write_report(target, &outcome) {
            tracing::error!("cannot write the report to {target}: {e}");
        }
    }
    code
}

fn write_report(target: &str, outcome: &Outcome) -> std::io::Result<()> {
    let mut text = serde_json::to_string(&outcome_json(outcome))?;
    text.push('\n');
    if target == "-" {
        // On a thread of its own: a blocking write to a full pipe must not hold the
        // exit (the thread is left behind; the process exits around it).
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("kennel-report".into())
            .spawn(move || {
                let _ = done_tx.send(std::io::stderr().lock().write_all(text.as_bytes()));
            })?;
        match done_rx.recv_timeout(REPORT_WAIT) {
            Ok(result) => result,
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("stderr took more than {REPORT_WAIT:?}"),
            )),
        }
    } else {
        std::fs::write(PathBuf::from(target), text)
    }
}

/// The exit code of `kennel run` for an outcome.
pub fn exit_code(outcome: &Outcome) -> i32 {
    if outcome.reason == EndReason::TimedOut {
        return EXIT_TIMEOUT;
    }
    outcome.status.shell_code()
}
