//! The `kennel` command as a library: `main.rs` calls [`main`], and so does the test
//! harness's copy of the binary (`kennel-test-cli` in `tests-integration`), so the
//! integration tests run exactly this code.

#![warn(missing_docs)]

use clap::{Parser, Subcommand};

pub mod duration;
mod fatal;
mod log;
pub mod report;
pub mod run;
pub mod serve;
mod signals;

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
    Run(run::RunArgs),
    /// Serve the JSON-lines sidecar protocol on stdin/stdout (see docs/PROTOCOL.md).
    Serve(serve::ServeArgs),
}

/// Parse the command line, run the subcommand and exit the process with its code.
pub fn main() -> ! {
    // Before anything else (and before any thread exists): this process may have been
    // started as the keeper of a child's tree.
    kennel::keeper::init();
    // Then the logger (it starts a thread) and the panic policy (`fatal`).
    log::init();
    let cli = Cli::parse();
    let panic_code = match cli.command {
        Cmd::Run(_) => run::EXIT_INTERNAL,
        Cmd::Serve(_) => fatal::EXIT_PANIC,
    };
    fatal::install(panic_code);
    // Orphans of a tree whose keeper died are reparented to us and reaped, not left to
    // init (Linux; elsewhere there is nothing to do).
    let _ = kennel::become_subreaper();
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
    let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match cli.command {
        Cmd::Run(args) => runtime.block_on(run::run(args)),
        Cmd::Serve(args) => runtime.block_on(serve::serve(args)),
    }))
    .unwrap_or(panic_code);
    // Don't wait for blocking threads (e.g. a stdin reader) to finish.
    runtime.shutdown_background();
    log::flush();
    std::process::exit(code);
}
