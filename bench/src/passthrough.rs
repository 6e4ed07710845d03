//! `kennel run` passthrough: `kennel run -- kennel-fixture flood --bytes N` with its
//! stdout a pipe this program drains, against `kennel-fixture flood` writing to that pipe
//! directly.

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::stats::row;
use crate::throughput::secs_per_gib;
use crate::{Bins, Result};

/// Arguments of `kennel-bench passthrough`.
pub(crate) type Args = crate::throughput::Args;

fn drain(mut cmd: Command, bytes: u64) -> Result<Duration> {
    let t = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("spawn failed: {e}"))?;
    let mut out = child.stdout.take().ok_or("no stdout pipe")?;
    let mut buf = vec![0u8; 1 << 20];
    let mut got = 0u64;
    loop {
        let n = out
            .read(&mut buf)
            .map_err(|e| format!("read failed: {e}"))?;
        if n == 0 {
            break;
        }
        got += n as u64;
    }
    let status = child.wait().map_err(|e| format!("wait: {e}"))?;
    if !status.success() || got != bytes {
        return Err(format!("{cmd:?}: {status}, {got} of {bytes} bytes"));
    }
    Ok(t.elapsed())
}

pub(crate) async fn run(bins: &Bins, args: Args) -> Result<()> {
    let bytes = args.bytes.to_string();
    let (mut base, mut ours) = (Vec::new(), Vec::new());
    let bins = bins.clone();
    tokio::task::spawn_blocking(move || -> Result<()> {
        for _ in 0..args.runs {
            let mut direct = Command::new(&bins.fixture);
            direct.args(["flood", "--bytes", &bytes]);
            base.push(secs_per_gib(drain(direct, args.bytes)?, args.bytes));
            let mut run = Command::new(&bins.kennel);
            run.args(["run", "--"])
                .arg(&bins.fixture)
                .args(["flood", "--bytes", &bytes]);
            ours.push(secs_per_gib(drain(run, args.bytes)?, args.bytes));
        }
        let mib = args.bytes >> 20;
        row(
            "throughput.run.direct",
            "s/GiB",
            &format!("kennel-fixture flood writing straight to the pipe ({mib} MiB per run)"),
            &base,
        );
        row(
            "throughput.run.kennel",
            "s/GiB",
            &format!("`kennel run` passthrough, default containment ({mib} MiB per run)"),
            &ours,
        );
        Ok(())
    })
    .await
    .map_err(|e| format!("task failed: {e}"))?
}
