//! Output throughput of the library: `kennel-fixture flood --bytes N` read through the
//! event stream, against `tokio::process` reading the same child's pipe. Each sample is
//! the time from spawn to the final outcome with every byte received and counted.

use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

use crate::stats::row;
use crate::{Bins, Result};

/// Arguments of `kennel-bench throughput` and `kennel-bench passthrough`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Bytes the child writes per run.
    #[arg(long, default_value_t = 1 << 30)]
    pub(crate) bytes: u64,
    /// Runs per variant.
    #[arg(long, default_value_t = 5)]
    pub(crate) runs: usize,
}

/// Seconds per GiB (so that median/p99 keep their "lower is better" meaning).
pub(crate) fn secs_per_gib(d: Duration, bytes: u64) -> f64 {
    d.as_secs_f64() * (1u64 << 30) as f64 / bytes as f64
}

async fn tokio_once(bins: &Bins, bytes: u64) -> Result<Duration> {
    let t = Instant::now();
    let mut child = tokio::process::Command::new(&bins.fixture)
        .args(["flood", "--bytes", &bytes.to_string()])
        .process_group(0)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("tokio spawn failed: {e}"))?;
    let mut out = child.stdout.take().ok_or("no stdout pipe")?;
    let mut buf = vec![0u8; kennel::CHUNK_SIZE];
    let mut got = 0u64;
    loop {
        let n = out
            .read(&mut buf)
            .await
            .map_err(|e| format!("read failed: {e}"))?;
        if n == 0 {
            break;
        }
        got += n as u64;
    }
    let status = child.wait().await.map_err(|e| format!("wait: {e}"))?;
    if !status.success() || got != bytes {
        return Err(format!("tokio flood: {status}, {got} of {bytes} bytes"));
    }
    Ok(t.elapsed())
}

async fn kennel_once(bins: &Bins, bytes: u64) -> Result<Duration> {
    let t = Instant::now();
    let mut child = kennel::Command::new(&bins.fixture)
        .args(["flood", "--bytes", &bytes.to_string()])
        .stderr(kennel::OutputMode::Null)
        .spawn()
        .map_err(|e| format!("kennel spawn failed: {e}"))?;
    let mut got = 0u64;
    let outcome = loop {
        match child.next_event().await {
            Some(kennel::Event::Stdout(b)) => got += b.len() as u64,
            Some(kennel::Event::Stderr(_)) => {}
            Some(kennel::Event::Exit(o)) => break o,
            None => return Err("event stream ended without an outcome".into()),
        }
    };
    if !outcome.success() || got != bytes {
        return Err(format!("kennel flood: {outcome:?}, {got} of {bytes} bytes"));
    }
    Ok(t.elapsed())
}

pub(crate) async fn run(bins: &Bins, args: Args) -> Result<()> {
    let (mut base, mut ours) = (Vec::new(), Vec::new());
    for _ in 0..args.runs {
        base.push(secs_per_gib(
            tokio_once(bins, args.bytes).await?,
            args.bytes,
        ));
        ours.push(secs_per_gib(
            kennel_once(bins, args.bytes).await?,
            args.bytes,
        ));
    }
    let mib = args.bytes >> 20;
    row(
        "throughput.lib.tokio",
        "s/GiB",
        &format!("tokio::process reading the pipe ({mib} MiB per run)"),
        &base,
    );
    row(
        "throughput.lib.kennel",
        "s/GiB",
        &format!("kennel library event stream, default containment ({mib} MiB per run)"),
        &ours,
    );
    Ok(())
}
