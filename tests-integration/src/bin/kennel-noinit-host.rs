//! `kennel-noinit-host`: a host binary that supervises with the kennel library and never
//! calls `kennel::keeper::init()` (nor names a helper program), as every tokio user of
//! `kennel::compat` does — for the tests of the in-process guard
//! (`tests/noinit_guard.rs`).
//!
//! Run as `kennel-noinit-host <kennel|compat> <program> [args…]`: spawns `program
//! args…` through `kennel::Command` or `kennel::compat::Command` (stdin null, stdout and
//! stderr inherited), prints
//!
//! ```text
//! spawned <pid> <containment> <dies_with_supervisor>\n
//! ```
//!
//! (or `error <message>\n`) and then reads its stdin: a line `exit` makes it exit 0 at
//! once with its trees still running (no handle is dropped); EOF, or anything else, is
//! ignored and it waits until it is killed.

use std::io::BufRead as _;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [api, program, rest @ ..] = args.as_slice() else {
        eprintln!("usage: kennel-noinit-host kennel|compat PROGRAM [ARGS…]");
        std::process::exit(2);
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let _guard = runtime.enter();
    let child = match api.as_str() {
        "kennel" => kennel::Command::new(program)
            .args(rest)
            .stdin(kennel::StdinMode::Null)
            .stdout(kennel::OutputMode::Inherit)
            .stderr(kennel::OutputMode::Inherit)
            .spawn()
            .map(|c| {
                let tier = c.containment().as_str().to_owned();
                (c.id(), tier, c.dies_with_supervisor(), Held::Kennel(c))
            })
            .map_err(|e| e.to_string()),
        "compat" => kennel::compat::Command::new(program)
            .args(rest)
            .stdin(std::process::Stdio::null())
            .spawn()
            .map(|c| {
                let id = c.id().unwrap_or(0);
                let tier = c.containment().map_or("none", |t| t.as_str()).to_owned();
                (id, tier, c.dies_with_supervisor(), Held::Compat(c))
            })
            .map_err(|e| e.to_string()),
        _ => {
            eprintln!("usage: kennel-noinit-host kennel|compat PROGRAM [ARGS…]");
            std::process::exit(2);
        }
    };
    let _held = match child {
        Ok((pid, containment, dies, held)) => {
            println!("spawned {pid} {containment} {dies}");
            Some(held)
        }
        Err(e) => {
            println!("error {e}");
            None
        }
    };
    for line in std::io::stdin().lock().lines() {
        if line.is_ok_and(|l| l == "exit") {
            // Exit with the trees running: the guard, seeing its socket close, ends them.
            std::process::exit(0);
        }
    }
    loop {
        std::thread::park();
    }
}

/// A spawned child, held so that its drop does not end the tree.
enum Held {
    Kennel(#[allow(dead_code, reason = "held, never read")] kennel::Child),
    Compat(#[allow(dead_code, reason = "held, never read")] kennel::compat::Child),
}
