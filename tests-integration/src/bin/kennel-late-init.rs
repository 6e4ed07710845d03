//! `kennel-late-init`: a host binary that supervises with the kennel library but calls
//! `kennel::keeper::init()` in the wrong place, for the tests of what kennel does then
//! (`tests/unix_containment/late_init.rs`).
//!
//! Run as `kennel-late-init <mode> <program> [args…]`. Every mode spawns `program args…`
//! (stdio null) with the default containment and prints one line per spawn to stdout:
//!
//! ```text
//! spawned <pid> <containment> <dies_with_supervisor>\n
//! error <message>\n
//! ```
//!
//! then `ready\n`, and waits until it is killed (the trees run on).
//!
//! Modes:
//! * `first`: calls `init()` first thing in `main` (the right way): the control. As
//!   `init()` must run before the command line is looked at, this mode also needs
//!   `KENNEL_LATE_INIT_FIRST=1` in the environment (the guard or keeper, re-run with
//!   `__kennel-…` instead of a mode, inherits it).
//! * `late`: calls `init()` only on this mode's code path, then spawns. The guard (or
//!   keeper) is this binary re-run as `kennel-late-init __kennel-guard`, which takes no
//!   mode path and exits with a usage error, as a real CLI would.
//! * `after-spawn`: spawns once, then calls `init()`, then spawns again.
//! * `late-opt-out`: as `late`, but the command switches the supervisor-death guarantee
//!   off (`ContainmentOptions { keeper: false, .. }`): the explicit opt-in to run without
//!   it.
//!
//! `KENNEL_LATE_INIT_NO_CGROUP` set: every spawn switches the cgroup off (the keeper tier).
//!
//! Anything else on the command line: a usage message on stderr, exit code 2 — or, with
//! `KENNEL_LATE_INIT_HANG=1`, it hangs instead (a `main` that runs on without ever
//! calling `init()`, so the guard or keeper never answers).

use kennel::{Command, ContainmentOptions};

fn main() {
    if std::env::var_os("KENNEL_LATE_INIT_FIRST").is_some() {
        kennel::keeper::init();
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mode, program, rest) = match args.as_slice() {
        [mode, program, rest @ ..] => (mode.as_str(), program.clone(), rest.to_vec()),
        _ => usage(),
    };
    match mode {
        "first" | "late" | "after-spawn" | "late-opt-out" => {}
        _ => usage(),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async move {
        let cgroup = std::env::var_os("KENNEL_LATE_INIT_NO_CGROUP").is_none();
        let cmd = Command::new(&program)
            .args(&rest)
            .containment(ContainmentOptions {
                cgroup,
                ..ContainmentOptions::default()
            })
            .stdin(kennel::StdinMode::Null)
            .stdout(kennel::OutputMode::Null)
            .stderr(kennel::OutputMode::Null);
        let mut children = Vec::new();
        match mode {
            "late" => {
                kennel::keeper::init();
                children.extend(spawn(&cmd));
            }
            "late-opt-out" => {
                kennel::keeper::init();
                let cmd = cmd.containment(ContainmentOptions {
                    cgroup,
                    keeper: false,
                });
                children.extend(spawn(&cmd));
            }
            "after-spawn" => {
                children.extend(spawn(&cmd));
                kennel::keeper::init();
                children.extend(spawn(&cmd));
            }
            _ => children.extend(spawn(&cmd)),
        }
        println!("ready");
        // Hold the handles (dropping one kills its tree) until we are killed.
        std::future::pending::<()>().await;
        drop(children);
    });
}

fn spawn(cmd: &Command) -> Option<kennel::Child> {
    match cmd.spawn() {
        Ok(child) => {
            println!(
                "spawned {} {} {}",
                child.id(),
                child.containment().as_str(),
                child.dies_with_supervisor()
            );
            Some(child)
        }
        Err(e) => {
            println!("error {e}");
            None
        }
    }
}

fn usage() -> ! {
    eprintln!("usage: kennel-late-init first|late|after-spawn|late-opt-out PROGRAM [ARGS…]");
    if std::env::var_os("KENNEL_LATE_INIT_HANG").is_some() {
        loop {
            std::thread::park();
        }
    }
    std::process::exit(2)
}
