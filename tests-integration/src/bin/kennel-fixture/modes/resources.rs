//! Modes that use resources for the limits tests and the matrix's "fork bomb" and
//! "memory hog" rows: many forks, much memory, CPU time.

use std::process::ExitCode;

use super::Mode;
use crate::args::Args;
use crate::out::{pid_line, write_out, Stream};
use crate::Res;

/// The resource modes.
pub(crate) const MODES: &[Mode] = &[
    #[cfg(unix)]
    Mode {
        name: "fork-bomb",
        run: fork_bomb,
    },
    #[cfg(unix)]
    Mode {
        name: "spin",
        run: spin,
    },
    Mode {
        name: "alloc",
        run: alloc,
    },
];

#[cfg(unix)]
fn fork_bomb(rest: &[String]) -> Res<ExitCode> {
    let a = Args::parse(rest, &["--count"], &["--exit"])?;
    a.no_positional()?;
    crate::unix::fork_bomb(a.num("--count", None)?, a.has("--exit"))
}

#[cfg(unix)]
fn spin(rest: &[String]) -> Res<ExitCode> {
    let a = Args::parse(rest, &["--cpu-ms"], &[])?;
    a.no_positional()?;
    crate::unix::spin(a.num("--cpu-ms", None)?)
}

/// `alloc`: allocate and touch `--mib` MiB, then say so; with `--hold`, then keep it
/// until killed (a process whose `exit(2)` takes long: freeing the memory).
fn alloc(rest: &[String]) -> Res<ExitCode> {
    let a = Args::parse(rest, &["--mib"], &["--hold"])?;
    a.no_positional()?;
    let mib: u64 = a.num("--mib", None)?;
    pid_line("main")?;
    let mut held = Vec::new();
    for _ in 0..mib {
        held.push(vec![1u8; 1 << 20]);
    }
    write_out(
        Stream::Out,
        format!("allocated {}\n", held.len()).as_bytes(),
    )?;
    if a.has("--hold") {
        crate::out::sleep_forever();
    }
    drop(held);
    Ok(ExitCode::SUCCESS)
}
