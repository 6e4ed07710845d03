//! Modes that make process trees: full trees, daemons, pipe holders, background and
//! `nohup` children, fork loops, a Windows job breakaway, and the Linux attack on the
//! supervisor's ancestors.

use std::process::ExitCode;

use super::Mode;
use crate::args::Args;
#[cfg(windows)]
use crate::out::{pid_line, sleep_forever, write_out, Stream, PARENT_PID};
#[cfg(windows)]
use crate::{io_err, win};
use crate::{Fail, Res};

/// The process-tree modes.
pub(crate) const MODES: &[Mode] = &[
    Mode {
        name: "tree",
        run: tree_mode,
    },
    #[cfg(any(unix, windows))]
    Mode {
        name: "daemon",
        run: daemon,
    },
    #[cfg(any(unix, windows))]
    Mode {
        name: "hold-pipe",
        run: hold_pipe,
    },
    #[cfg(any(unix, windows))]
    Mode {
        name: "nohup",
        run: nohup,
    },
    #[cfg(any(unix, windows))]
    Mode {
        name: "fork-loop",
        run: fork_loop,
    },
    #[cfg(unix)]
    Mode {
        name: "background",
        run: background,
    },
    #[cfg(windows)]
    Mode {
        name: "breakaway",
        run: breakaway_mode,
    },
    #[cfg(target_os = "linux")]
    Mode {
        name: "attack-ancestors",
        run: attack_ancestors,
    },
    #[cfg(target_os = "linux")]
    Mode {
        name: "signal-parent",
        run: signal_parent,
    },
];

fn tree_mode(rest: &[String]) -> Res<ExitCode> {
    let a = Args::parse(
        rest,
        &["--depth", "--width", "--x-level", "--x-ppid"],
        &["--ignore-term", "--stop", "--exit-leader"],
    )?;
    a.no_positional()?;
    let opts = TreeOpts {
        depth: a.num("--depth", None)?,
        width: a.num("--width", None)?,
        ignore_term: a.has("--ignore-term"),
        stop: a.has("--stop"),
        exit_leader: a.has("--exit-leader"),
    };
    if opts.depth == 0 {
        return Err(Fail::Usage("--depth must be at least 1".into()));
    }
    let total = tree_size(opts.depth, opts.width);
    if total > 4096 {
        return Err(Fail::Usage(format!("tree of {total} processes is too big")));
    }
    let level: u32 = a.num("--x-level", Some(0))?;
    let ppid: u32 = a.num("--x-ppid", Some(0))?;
    tree(opts, level, ppid)
}

#[cfg(unix)]
fn daemon(rest: &[String]) -> Res<ExitCode> {
    let flags = [
        "--close-fds",
        "--leader-stays",
        "--subreaper",
        "--leave-cgroup",
    ];
    let a = Args::parse(rest, &[], &flags)?;
    a.no_positional()?;
    crate::unix::daemon(crate::unix::DaemonOpts {
        close_fds: a.has("--close-fds"),
        leader_stays: a.has("--leader-stays"),
        subreaper: a.has("--subreaper"),
        leave_cgroup: a.has("--leave-cgroup"),
    })
}

#[cfg(unix)]
fn hold_pipe(rest: &[String]) -> Res<ExitCode> {
    let a = Args::parse(rest, &[], &["--setsid"])?;
    a.no_positional()?;
    crate::unix::hold_pipe(a.has("--setsid"))
}

#[cfg(unix)]
fn background(rest: &[String]) -> Res<ExitCode> {
    Args::only::<0>(rest)?;
    crate::unix::background()
}

#[cfg(unix)]
fn nohup(rest: &[String]) -> Res<ExitCode> {
    Args::only::<0>(rest)?;
    crate::unix::nohup()
}

#[cfg(unix)]
fn fork_loop(rest: &[String]) -> Res<ExitCode> {
    let a = Args::parse(rest, &["--count"], &[])?;
    a.no_positional()?;
    crate::unix::fork_loop(a.at_least_one("--count", None)?)
}

#[cfg(target_os = "linux")]
fn attack_ancestors(rest: &[String]) -> Res<ExitCode> {
    let a = Args::parse(rest, &[], &["--include-init"])?;
    a.no_positional()?;
    crate::unix::attack_ancestors(a.has("--include-init"))
}

#[cfg(target_os = "linux")]
fn signal_parent(rest: &[String]) -> Res<ExitCode> {
    Args::only::<0>(rest)?;
    crate::unix::signal_parent()
}

#[cfg(windows)]
fn daemon(rest: &[String]) -> Res<ExitCode> {
    let a = Args::parse(rest, &["--x-ppid"], &["--leader-stays", "--x-daemon"])?;
    a.no_positional()?;
    win::daemon(
        a.has("--leader-stays"),
        a.has("--x-daemon"),
        a.num("--x-ppid", Some(0))?,
    )
}

#[cfg(windows)]
fn nohup(rest: &[String]) -> Res<ExitCode> {
    let a = Args::parse(rest, &["--x-ppid"], &["--x-child"])?;
    a.no_positional()?;
    win::nohup(a.has("--x-child"), a.num("--x-ppid", Some(0))?)
}

#[cfg(windows)]
fn hold_pipe(rest: &[String]) -> Res<ExitCode> {
    let a = Args::parse(rest, &["--x-level", "--x-ppid"], &[])?;
    a.no_positional()?;
    win::hold_pipe(a.num("--x-level", Some(0))?, a.num("--x-ppid", Some(0))?)
}

#[cfg(windows)]
fn fork_loop(rest: &[String]) -> Res<ExitCode> {
    let a = Args::parse(rest, &["--count", "--x-index", "--x-ppid"], &[])?;
    a.no_positional()?;
    let n = a.at_least_one("--count", None)?;
    win::fork_loop(n, a.num("--x-index", Some(1))?, a.num("--x-ppid", Some(0))?)
}

#[cfg(windows)]
fn breakaway_mode(rest: &[String]) -> Res<ExitCode> {
    Args::only::<0>(rest)?;
    breakaway()
}

#[derive(Clone, Copy)]
pub(crate) struct TreeOpts {
    pub(crate) depth: u32,
    pub(crate) width: u32,
    pub(crate) ignore_term: bool,
    pub(crate) stop: bool,
    pub(crate) exit_leader: bool,
}

fn tree_size(depth: u32, width: u32) -> u64 {
    let mut total: u64 = 0;
    let mut level: u64 = 1;
    for _ in 0..depth {
        total = total.saturating_add(level);
        level = level.saturating_mul(u64::from(width));
    }
    total
}

pub(crate) fn tree_role(level: u32) -> &'static str {
    match level {
        0 => "root",
        1 => "child",
        _ => "grandchild",
    }
}

#[cfg(unix)]
fn tree(opts: TreeOpts, _level: u32, _ppid: u32) -> Res<ExitCode> {
    crate::unix::tree(opts)
}

#[cfg(windows)]
fn tree(opts: TreeOpts, level: u32, ppid: u32) -> Res<ExitCode> {
    PARENT_PID.store(ppid, std::sync::atomic::Ordering::Relaxed);
    if opts.ignore_term {
        win::ignore_console_control();
    }
    pid_line(tree_role(level))?;
    let mut kids = Vec::new();
    if opts.depth > 1 {
        for _ in 0..opts.width {
            let mut args = vec![
                "tree".to_string(),
                format!("--depth={}", opts.depth - 1),
                format!("--width={}", opts.width),
                format!("--x-level={}", level + 1),
                format!("--x-ppid={}", std::process::id()),
            ];
            args.extend(opts.ignore_term.then(|| "--ignore-term".to_string()));
            args.extend(opts.stop.then(|| "--stop".to_string()));
            kids.push(win::spawn_self(&args, 0)?);
        }
        // Each child writes `ready\n` to its stderr once its subtree printed (and, with
        // `--stop`, is suspended).
        for kid in &mut kids {
            win::await_ready(kid);
        }
    }
    if opts.stop {
        for kid in &kids {
            win::suspend(kid)?;
        }
    }
    // Keep the children (and their stderr pipes) alive: never dropped.
    std::mem::forget(kids);
    if level > 0 {
        write_out(Stream::Err, b"ready\n")?;
    } else {
        if opts.stop {
            write_out(Stream::Out, b"stopped\n")?;
        }
        if opts.exit_leader {
            return Ok(ExitCode::SUCCESS);
        }
    }
    if opts.stop {
        win::suspend_self()?;
    }
    sleep_forever()
}

/// Windows `breakaway`: try to start a child outside our job.
#[cfg(windows)]
fn breakaway() -> Res<ExitCode> {
    use std::os::windows::process::CommandExt as _;
    use std::process::{Command, Stdio};
    const CREATE_BREAKAWAY_FROM_JOB: u32 = 0x0100_0000;
    pid_line("main")?;
    let exe = std::env::current_exe().map_err(io_err("current_exe"))?;
    let spawned = Command::new(&exe)
        .args(["sleep", "600000"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .creation_flags(CREATE_BREAKAWAY_FROM_JOB)
        .spawn();
    match spawned {
        Err(e) => write_out(
            Stream::Out,
            format!("breakaway refused {}\n", e.raw_os_error().unwrap_or(-1)).as_bytes(),
        )?,
        Ok(child) => {
            write_out(
                Stream::Out,
                format!("breakaway escaped {}\n", child.id()).as_bytes(),
            )?;
            std::mem::forget(child);
        }
    }
    sleep_forever()
}
