//! The `kennel` command as a library: `main.rs` calls [`main`], and so does the test
//! harness's copy of the binary (`kennel-test-cli` in `tests-integration`), so the
//! integration tests run exactly this code.

#![warn(missing_docs)]

use clap::{Parser, Subcommand};

pub mod duration;
mod limits;
pub use limits::{usage_json, LimitArgs};
mod fatal;
mod log;
pub mod report;
pub mod run;
pub mod serve;
mod signals;
mod stdio;
pub mod timeout;
mod tty;

/// kennel: run process trees that end well — no leaked grandchildren, no lost output,
/// no hung pipes.
#[derive(Debug, Parser)]
#[command(name = "kennel", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run a command as a tree-aware `timeout(1)`: output passed through, the whole tree
    /// ended on timeout or signal, the child's exit code returned (124 on timeout,
    /// 128+N on death by signal N).
    #[command(after_help = RUN_AFTER_HELP)]
    Run(run::RunArgs),
    /// GNU `timeout(1)`'s command line, tree-aware: `kennel timeout [OPTION] DURATION
    /// COMMAND [ARG]...` (also reached through a link to kennel named `timeout`; see
    /// `kennel timeout --help`).
    Timeout {
        /// timeout's own arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// Serve the JSON-lines sidecar protocol on stdin/stdout (see docs/PROTOCOL.md).
    Serve(serve::ServeArgs),
}

const RUN_AFTER_HELP: &str = "\
Exit status: the command's; 124 on timeout; 128+N if it died of signal N; 125 if kennel
failed or was misused; 126/127 if COMMAND cannot be run (not executable, no #! line) / not found; 1 if the
command succeeded but its output could not be written (stdout closed or full).

--report writes one line of JSON: pid, code, signal, signal_name, reason (exited,
timed_out, cancelled, killed, output_cap, supervisor_shutdown), ladder_step, forced,
wall_time_ms (integer), stdout/stderr {bytes, dropped, cap_hit}, drain,
leftovers_killed, containment, errors. A report that cannot be written is said on
stderr; the exit status stays the command's.

A drop-in for GNU timeout (same options, messages, exit codes): `kennel timeout
--help`, or a link to kennel named `timeout`.";

/// What this invocation runs.
enum Mode {
    Run(run::RunArgs),
    Serve(serve::ServeArgs),
    /// `timeout` mode: the name for messages and timeout's arguments.
    Timeout(String, Vec<std::ffi::OsString>),
}

/// `timeout` mode when `argv[0]`'s basename is `timeout` or the first argument is
/// `timeout`; else the `kennel` command line, whose usage errors exit 125 (as GNU
/// timeout's: a script tells kennel's failures from the command's).
fn mode() -> Mode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let invoked_as = argv
        .first()
        .map(std::path::Path::new)
        .and_then(std::path::Path::file_stem)
        .map(|s| s.to_string_lossy().into_owned());
    if invoked_as.as_deref() == Some("timeout") {
        let prog = argv[0].to_string_lossy().into_owned();
        return Mode::Timeout(prog, argv[1..].to_vec());
    }
    if argv.get(1).is_some_and(|a| a == "timeout") {
        return Mode::Timeout("kennel timeout".into(), argv[2..].to_vec());
    }
    match Cli::try_parse_from(argv) {
        Ok(Cli { command }) => match command {
            Cmd::Run(args) => Mode::Run(args),
            Cmd::Serve(args) => Mode::Serve(args),
            Cmd::Timeout { args } => Mode::Timeout("kennel timeout".into(), args),
        },
        Err(e) => {
            let _ = e.print();
            std::process::exit(if e.use_stderr() {
                run::EXIT_INTERNAL
            } else {
                0
            });
        }
    }
}

/// Parse the command line, run the subcommand and exit the process with its code.
pub fn main() -> ! {
    // Before anything else (and before any thread exists): this process may have been
    // started as the keeper of a child's tree.
    kennel::keeper::init();
    // Then, before any file is opened: closed standard streams stay "closed".
    stdio::init();
    // Then the logger (it starts a thread) and the panic policy (`fatal`).
    log::init();
    let mode = mode();
    let panic_code = match mode {
        Mode::Serve(_) => fatal::EXIT_PANIC,
        Mode::Run(_) | Mode::Timeout(..) => run::EXIT_INTERNAL,
    };
    fatal::install(panic_code);
    // Orphans of a tree whose keeper died are reparented to us and reaped, not left to
    // init (Linux; elsewhere there is nothing to do).
    // Every child of kennel is one of its trees: an orphan it adopts that left its
    // tree's cgroup is an escapee, killed when the tree ends.
    let _ = kennel::sweep_adopted_orphans();
    // A child of the same user must not be able to trace kennel or read its memory
    // (every other child's output and environment): non-dumpable. Children are dumpable
    // again after their `execve`.
    if let Err(e) = kennel::make_undumpable() {
        if e.kind() != std::io::ErrorKind::Unsupported {
            tracing::warn!("cannot make kennel non-dumpable: {e}");
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            log::flush();
            std::process::exit(run::EXIT_INTERNAL);
        }
    };
    // A panic in a spawned task is handled by the command (see `fatal`); one in the
    // command's own future lands here, where unwinding must not drop the runtime (its
    // drop waits for blocking threads such as a stdin reader: forever).
    let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match mode {
        Mode::Run(args) => runtime.block_on(run::run(args)),
        Mode::Serve(args) => runtime.block_on(serve::serve(args)),
        Mode::Timeout(prog, args) => runtime.block_on(timeout::main(&prog, &args)),
    }))
    .unwrap_or(panic_code);
    // Don't wait for blocking threads (e.g. a stdin reader) to finish.
    runtime.shutdown_background();
    log::flush();
    std::process::exit(code);
}
