//! The machine's floor for a batch of spawns, driven by the Node bench (`bench.mjs
//! spawn`, the `spawn.node.*.floor` rows): no supervisor, no pipes, no containment —
//! one thread that `posix_spawn`s the children back to back (std's `Command`, which
//! returns once the child has exec'd, as Node's `spawn` does) and reaps them as they
//! end.
//!
//! Each line on stdin is a batch size N: N `kennel-fixture exit 0` children are
//! started, every one is reaped and must have exited 0, and one line goes back:
//!
//! ```text
//! batch <TAB> own_1,…,own_N <TAB> from_start_1,…,from_start_N
//! ```
//!
//! in milliseconds, per child in spawn order: `own` from its own spawn call to its
//! reaping (the stagger of the spawns before it left out, as Node's per-call rows
//! time Node's own `spawn`), `from_start` from the batch's start (when all N were
//! asked for at once, as the kennel client's calls are). EOF ends the program.
//!
//! It runs in its own process so that Node's event loop does not share its timing,
//! and so that reaping "any child" reaps only the batch's.

use std::io::{BufRead, Write};
use std::process::{Command, Stdio};
use std::time::Instant;

use rustix::process::{wait, WaitOptions};

use crate::{Bins, Result};

/// Arguments of `kennel-bench floor` (none: batch sizes come on stdin).
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

pub(crate) async fn run(bins: &Bins, _args: Args) -> Result<()> {
    let fixture = bins.fixture.clone();
    tokio::task::spawn_blocking(move || serve(&fixture))
        .await
        .map_err(|e| format!("floor: the batch thread failed: {e}"))?
}

fn serve(fixture: &std::path::Path) -> Result<()> {
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let line = line.map_err(|e| format!("floor: cannot read stdin: {e}"))?;
        let n: usize = line
            .trim()
            .parse()
            .map_err(|e| format!("floor: {line:?} is not a batch size: {e}"))?;
        let (own, from_start) = batch(fixture, n)?;
        writeln!(out, "batch\t{}\t{}", join(&own), join(&from_start))
            .and_then(|()| out.flush())
            .map_err(|e| format!("floor: cannot write stdout: {e}"))?;
    }
    Ok(())
}

/// Start `n` children back to back and reap them as they end, on a second thread (so a
/// child that ends while later ones are still being spawned is timed when it ended);
/// the times of each, in spawn order.
fn batch(fixture: &std::path::Path, n: usize) -> Result<(Vec<f64>, Vec<f64>)> {
    let t0 = Instant::now();
    let (started, reaped) = std::thread::scope(|s| {
        let (spawned, each) = std::sync::mpsc::channel();
        let reaper = s.spawn(move || reap(n, &each));
        let mut started = Vec::with_capacity(n);
        for _ in 0..n {
            let t = Instant::now();
            match Command::new(fixture)
                .args(["exit", "0"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
            {
                // Reaped by `reap` (any child); `Child` neither waits nor kills on drop.
                Ok(child) => {
                    started.push((child.id(), t));
                    let _ = spawned.send(());
                }
                Err(e) => {
                    // The reaper waits for `n`: this program cannot go on.
                    eprintln!(
                        "kennel-bench floor: cannot spawn {}: {e}",
                        fixture.display()
                    );
                    std::process::exit(1);
                }
            }
        }
        let reaped = reaper
            .join()
            .unwrap_or_else(|_| Err("floor: the reaper panicked".into()));
        (started, reaped)
    });
    let mut own = vec![0.0; n];
    let mut from_start = vec![0.0; n];
    for (pid, end) in reaped? {
        let i = started
            .iter()
            .position(|&(id, _)| id == pid)
            .ok_or_else(|| format!("floor: reaped {pid}, not one of the batch's"))?;
        own[i] = ms(end - started[i].1);
        from_start[i] = ms(end - t0);
    }
    Ok((own, from_start))
}

/// Reap `n` children (any), each with the time it was reaped; every one must have
/// exited 0. The k-th `wait` begins once `spawned` has said k children exist (a `wait`
/// with none would fail at once).
fn reap(n: usize, spawned: &std::sync::mpsc::Receiver<()>) -> Result<Vec<(u32, Instant)>> {
    let mut reaped = Vec::with_capacity(n);
    for _ in 0..n {
        spawned
            .recv()
            .map_err(|_| "floor: the spawning thread ended early")?;
        let (pid, status) = wait(WaitOptions::empty())
            .map_err(|e| format!("floor: wait failed: {e}"))?
            .ok_or("floor: wait returned no child")?;
        let end = Instant::now();
        let pid = u32::try_from(pid.as_raw_nonzero().get())
            .map_err(|_| format!("floor: wait returned pid {pid:?}"))?;
        if status.exit_status() != Some(0) {
            return Err(format!("floor: child {pid} ended with {status:?}"));
        }
        reaped.push((pid, end));
    }
    Ok(reaped)
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn join(xs: &[f64]) -> String {
    xs.iter()
        .map(|x| format!("{x:.4}"))
        .collect::<Vec<_>>()
        .join(",")
}
