//! `timeout` mode: GNU coreutils `timeout(1)`'s command line, exit codes and messages,
//! with kennel's tree kill.
//!
//! Reached through a link to the kennel binary named `timeout` (the basename of
//! `argv[0]`, so a symlink or a hard link), or as `kennel timeout`. The command line is
//! read as GNU's `getopt_long("+k:s:v")` reads it: options stop at the first non-option
//! (the DURATION) or after `--`; short options cluster (`-vs KILL`, `-k5`); long ones
//! take `--opt=value` or `--opt value` and may be abbreviated to a unique prefix.
//!
//! What matches GNU (checked case by case against `/usr/bin/timeout` by the
//! `timeout_compat` integration test):
//!
//! - exit codes: the command's own; 124 when the timeout fired (unless
//!   `--preserve-status`); 125 for timeout's own failures, bad usage included; 126/127
//!   when the command cannot be run/found; 137 when the command died of `SIGKILL` after
//!   the timeout (`-s KILL`, or `-k` had to kill), even with `--preserve-status`;
//!   128+N when it died of signal N otherwise;
//! - the messages (`timeout: sending signal TERM to command 'sleep'`, `invalid time
//!   interval`, `invalid signal`, getopt's own), in the C locale's quoting;
//! - a signal sent to timeout itself (INT, TERM, HUP) is sent on to the command as is,
//!   and starts the `-k` countdown.
//!
//! What kennel adds: every signal goes to the whole tree (process group, cgroup or
//! keeper, as `kennel run`), and when the command ends, whatever it left running is
//! killed too (after the drain timeout of `kennel run`, 1 s, during which the
//! leftovers may still finish writing their output).
//!
//! **Without `-k`, kennel does as GNU does: no escalation.** A command that ignores
//! the signal keeps running until it exits on its own, however long; kennel's usual
//! `SIGKILL` after a grace is `kennel run`'s policy, not `timeout`'s, and a script that
//! replaces `timeout` by kennel must not see a slow cleanup handler killed. Its tree is
//! still ended as soon as the command itself exits.
//!
//! From a shell in a terminal the command gets the terminal as a foreground job
//! (`crate::tty`), with or without `--foreground`: reads work, Ctrl-C reaches it, Ctrl-Z
//! stops the job. `--foreground` is accepted; kennel still times out the whole tree
//! (GNU's `--foreground` times out only the command).

use std::ffi::OsString;
use std::io::Write as _;
use std::time::Duration;

use kennel::{Command, Ladder, Signal};
use tokio::time::Instant;

use crate::run::{EXIT_INTERNAL, EXIT_TIMEOUT};

/// The exit code when the command died of `SIGKILL` after a timeout (128 + 9).
pub const EXIT_KILLED: i32 = 128 + 9;

mod args;

use args::quote;
pub use args::{parse, parse_gnu_duration, parse_gnu_signal, Parsed, TimeoutArgs};

/// A signal's name as `timeout -v` prints it: `TERM`, `KILL`, or the number.
fn short_name(signal: Signal) -> String {
    match signal.name() {
        Some(name) => name.trim_start_matches("SIG").to_string(),
        None => signal.number().to_string(),
    }
}

/// The help text of `timeout` mode (one screen).
pub fn help(prog: &str) -> String {
    format!(
        "\
Usage: {prog} [OPTION] DURATION COMMAND [ARG]...
  or:  {prog} [OPTION]
Start COMMAND, and kill it and everything it started if still running after DURATION.
(kennel's GNU-compatible timeout: same options, durations, messages and exit codes.)

      --preserve-status  exit with the same status as COMMAND, even when the
                           command times out
      --foreground       accepted for compatibility: from a terminal COMMAND always
                           gets it (reads, Ctrl-C, Ctrl-Z); the tree is still timed out
  -k, --kill-after=DURATION
                         also send KILL to the tree if COMMAND is still running
                           this long after the initial signal was sent
  -s, --signal=SIGNAL    the signal sent on timeout (default TERM); a name like
                           'HUP' or a number
  -v, --verbose          diagnose to stderr any signal sent upon timeout
      --help             display this help and exit
      --version          output version information and exit

DURATION is a floating point number with an optional suffix: 's' for seconds
(the default), 'm' for minutes, 'h' for hours or 'd' for days. A duration of 0
disables the associated timeout.

Unlike GNU timeout, the signal goes to every process COMMAND started, even those
that left its process group, and whatever is left when COMMAND exits is killed.
Without -k nothing escalates: a COMMAND that ignores the signal runs on (as GNU).

Exit status:
  124  if COMMAND times out, and --preserve-status is not specified
  125  if the timeout command itself fails (bad usage included)
  126  if COMMAND is found but cannot be invoked
  127  if COMMAND cannot be found
  137  if COMMAND is killed with KILL (-s KILL, or when -k had to kill)
  -    the exit status of COMMAND otherwise (128+N if it died of signal N)
"
    )
}

fn say(prog: &str, message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{prog}: {message}");
}

/// Run `timeout` with `args` (without `argv[0]`); `prog` is the name used in messages.
/// Returns the exit code.
pub async fn main(prog: &str, args: &[OsString]) -> i32 {
    let args = match parse(args) {
        Parsed::Run(args) => args,
        Parsed::Help => {
            let _ = std::io::stdout().lock().write_all(help(prog).as_bytes());
            return 0;
        }
        Parsed::Version => {
            let _ = writeln!(
                std::io::stdout().lock(),
                "timeout (kennel) {}\nA tree-aware, GNU-compatible timeout; see '{prog} --help'.",
                env!("CARGO_PKG_VERSION")
            );
            return 0;
        }
        Parsed::Usage(message) => {
            if let Some(message) = message {
                say(prog, &message);
            }
            let _ = writeln!(
                std::io::stderr().lock(),
                "Try '{prog} --help' for more information."
            );
            return EXIT_INTERNAL;
        }
    };
    run(prog, args).await
}

async fn run(prog: &str, args: TimeoutArgs) -> i32 {
    let Some((program, rest)) = args.command.split_first() else {
        return EXIT_INTERNAL;
    };
    let name = program.to_string_lossy().into_owned();
    // The ladder's first rung is the timeout's signal; the kill is driven from here
    // (`-k`), never by the ladder on its own (see the module docs).
    let cmd = crate::run::with_stdio(
        Command::new(program)
            .args(rest)
            .ladder(Ladder::graceful(args.signal, Duration::MAX)),
    );
    // From a shell in a terminal: the terminal is the command's until the run ends.
    let (cmd, mut job) = crate::tty::Job::prepare(cmd);
    let signals = crate::signals::Signals::install();
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => return spawn_failed(prog, &name, &e),
    };
    if let Some(job) = &mut job {
        job.started(&child.controller());
    }
    let Some((outcome, timed_out)) = supervise(prog, &name, &args, &mut child, signals).await
    else {
        return EXIT_INTERNAL;
    };
    drop(job);
    let code = exit_code(&outcome.status, timed_out, args.preserve_status);
    crate::run::with_output_failure(code, &outcome, |failure| say(prog, failure))
}

/// Says why the command could not be run, as GNU; returns the exit code.
fn spawn_failed(prog: &str, name: &str, e: &kennel::SpawnError) -> i32 {
    let why = match e {
        // GNU's words for these (its exec says ENOENT for a missing interpreter too).
        kennel::SpawnError::NotFound { .. } | kennel::SpawnError::InterpreterNotFound { .. } => {
            "No such file or directory".to_string()
        }
        kennel::SpawnError::PermissionDenied { .. } => "Permission denied".to_string(),
        other => other.report(),
    };
    say(
        prog,
        &format!("failed to run command {}: {why}", quote(name)),
    );
    crate::run::spawn_failed_code(e)
}

/// Waits for the command to end: sends the timeout's signal when it fires and `-k`'s
/// kill after it, and passes on the signals timeout itself gets. Returns the outcome
/// and whether the timeout fired; `None` after a panic (the tree was killed).
async fn supervise(
    prog: &str,
    name: &str,
    args: &TimeoutArgs,
    child: &mut kennel::Child,
    mut signals: crate::signals::Signals,
) -> Option<(kennel::Outcome, bool)> {
    let controller = child.controller();
    let mut timeout_at = args.duration.and_then(|d| Instant::now().checked_add(d));
    let mut kill_at: Option<Instant> = None;
    let mut timed_out = false;
    let arm_kill = |kill_at: &mut Option<Instant>| {
        if kill_at.is_none() {
            *kill_at = args.kill_after.and_then(|k| Instant::now().checked_add(k));
        }
    };
    loop {
        tokio::select! {
            outcome = child.wait() => return Some((outcome, timed_out)),
            () = sleep_until(timeout_at) => {
                timeout_at = None;
                timed_out = true;
                if args.verbose {
                    say(prog, &format!(
                        "sending signal {} to command {}", short_name(args.signal), quote(name)
                    ));
                }
                controller.cancel();
                arm_kill(&mut kill_at);
            }
            () = sleep_until(kill_at) => {
                kill_at = None;
                if args.verbose {
                    say(prog, &format!("sending signal KILL to command {}", quote(name)));
                }
                controller.kill();
            }
            signal = signals.recv_signal() => {
                // As GNU: the signal timeout got goes on to the command (the whole tree).
                let _ = controller.signal(signal).await;
                arm_kill(&mut kill_at);
            }
            () = crate::fatal::raised() => {
                crate::run::kill_after_panic(&controller).await;
                return None;
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// GNU timeout's exit code for a command that ended with `status`.
pub fn exit_code(status: &kennel::ExitStatus, timed_out: bool, preserve_status: bool) -> i32 {
    if timed_out && status.signal == Some(Signal::Kill.number()) {
        // As GNU: "killed" stays distinguishable even with --preserve-status.
        return EXIT_KILLED;
    }
    if timed_out && !preserve_status {
        return EXIT_TIMEOUT;
    }
    status.shell_code()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Parsed {
        parse(&args.iter().map(OsString::from).collect::<Vec<_>>())
    }

    fn run_args(args: &[&str]) -> TimeoutArgs {
        match p(args) {
            Parsed::Run(a) => a,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn durations_as_gnu() {
        let d = parse_gnu_duration;
        assert_eq!(d("1"), Some(Some(Duration::from_secs(1))));
        assert_eq!(d(".5"), Some(Some(Duration::from_millis(500))));
        assert_eq!(d("1e-1"), Some(Some(Duration::from_millis(100))));
        assert_eq!(d("1.5m"), Some(Some(Duration::from_secs(90))));
        assert_eq!(d("2h"), Some(Some(Duration::from_secs(7200))));
        assert_eq!(d("1d"), Some(Some(Duration::from_secs(86400))));
        assert_eq!(d(" 3s"), Some(Some(Duration::from_secs(3))));
        assert_eq!(d("0x10"), Some(Some(Duration::from_secs(16))));
        assert_eq!(d("0"), Some(None));
        assert_eq!(d("0s"), Some(None));
        assert_eq!(d("inf"), Some(None));
        for bad in [
            "", "abc", "1x", "-1", "nan", "1.5.5", "1ss", "s", "1s ", "500ms",
        ] {
            assert_eq!(d(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn signals_as_gnu() {
        assert_eq!(parse_gnu_signal("KILL"), Some(Signal::Kill));
        assert_eq!(parse_gnu_signal("sigterm"), Some(Signal::Term));
        assert_eq!(parse_gnu_signal("9"), Some(Signal::Kill));
        assert_eq!(parse_gnu_signal("0").map(Signal::number), Some(0));
        assert_eq!(parse_gnu_signal("99"), None);
        assert_eq!(parse_gnu_signal("FOO"), None);
    }

    #[test]
    fn options_stop_at_the_duration() {
        let a = run_args(&["-vs", "KILL", "-k5", "--pres", "1", "cmd", "-v", "--", "x"]);
        assert!(a.verbose && a.preserve_status);
        assert_eq!(a.signal, Signal::Kill);
        assert_eq!(a.kill_after, Some(Duration::from_secs(5)));
        assert_eq!(a.command, ["cmd", "-v", "--", "x"]);
        let a = run_args(&["--", "1", "true"]);
        assert_eq!(a.command, ["true"]);
        let a = run_args(&["--signal=INT", "--kill-after", "2", "1", "true"]);
        assert_eq!(
            (a.signal, a.kill_after),
            (Signal::Int, Some(Duration::from_secs(2)))
        );
    }

    #[test]
    fn usage_errors_as_getopt() {
        let msg = |args: &[&str]| match p(args) {
            Parsed::Usage(m) => m,
            other => panic!("{args:?}: {other:?}"),
        };
        assert_eq!(msg(&[]), None);
        assert_eq!(msg(&["5"]), None);
        for (args, message) in [
            (
                &["--ver"][..],
                "option '--ver' is ambiguous; possibilities: '--verbose' '--version'",
            ),
            (&["--foo", "1", "x"], "unrecognized option '--foo'"),
            (&["-x", "1", "x"], "invalid option -- 'x'"),
            (&["-1", "x"], "invalid option -- '1'"),
            (&["-k"], "option requires an argument -- 'k'"),
            (&["--sig"], "option '--signal' requires an argument"),
            (
                &["--verbose=1", "1", "x"],
                "option '--verbose' doesn't allow an argument",
            ),
            (&["-s", "FOO", "1", "x"], "'FOO': invalid signal"),
            (&["abc", "x"], "invalid time interval 'abc'"),
        ] {
            assert_eq!(msg(args).unwrap(), message, "{args:?}");
        }
        assert_eq!(p(&["--help", "--foo"]), Parsed::Help);
        assert_eq!(p(&["--vers"]), Parsed::Version);
    }

    #[test]
    fn exit_codes_as_gnu() {
        let exited = |code| kennel::ExitStatus {
            code: Some(code),
            signal: None,
        };
        let died = |sig| kennel::ExitStatus {
            code: None,
            signal: Some(sig),
        };
        assert_eq!(exit_code(&exited(3), false, false), 3);
        assert_eq!(exit_code(&died(2), false, false), 130);
        assert_eq!(exit_code(&died(15), true, false), 124);
        assert_eq!(exit_code(&died(15), true, true), 143);
        assert_eq!(exit_code(&exited(7), true, true), 7);
        assert_eq!(exit_code(&died(9), true, false), 137);
        assert_eq!(exit_code(&died(9), true, true), 137);
    }

    #[test]
    fn quotes_as_gnu_in_the_c_locale() {
        assert_eq!(quote("sleep"), "'sleep'");
        assert_eq!(quote("it's"), "'it\\'s'");
    }
}
