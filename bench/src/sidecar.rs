//! The sidecar (`kennel serve`) under load, driven over its protocol from here:
//!
//! * memory: RSS idle; with N idle children (`kennel-fixture sleep`, all spawned and
//!   printing); while a child floods and the caller reads nothing (peak above idle);
//! * scale: N children at once (all spawned, all cancelled, every outcome checked);
//!   a burst of N `print` children (every output and exit code checked); a churn of M
//!   short children with K in flight — spawns per second, against `tokio::process`
//!   doing the same churn in this process — then no leaked process and a flat fd count.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, BufWriter, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

use crate::stats::{ms, row};
use crate::{procfs, Bins, Result};

/// Arguments of `kennel-bench sidecar`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Idle children held at once (memory, and "N at once").
    #[arg(long, default_value_t = 1000)]
    children: usize,
    /// Short children in the churn.
    #[arg(long, default_value_t = 10_000)]
    churn: usize,
    /// Churn children in flight at once.
    #[arg(long, default_value_t = 32)]
    in_flight: usize,
    /// Bytes the unread flooding child tries to write.
    #[arg(long, default_value_t = 1 << 30)]
    flood_bytes: u64,
    /// How long the caller reads nothing while the child floods.
    #[arg(long, default_value_t = 3000)]
    flood_ms: u64,
}

struct Sidecar {
    child: Child,
    pid: u32,
    stdin: BufWriter<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Sidecar {
    async fn start(bins: &Bins) -> Result<Sidecar> {
        let mut child = tokio::process::Command::new(&bins.kennel)
            .arg("serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start `kennel serve`: {e}"))?;
        let pid = child.id().ok_or("the sidecar has no pid")?;
        let stdin = BufWriter::new(child.stdin.take().ok_or("no stdin")?);
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut s = Sidecar {
            child,
            pid,
            stdin,
            lines: BufReader::with_capacity(1 << 20, stdout).lines(),
        };
        let hello = s.next().await?;
        if hello["event"] != "hello" {
            return Err(format!("expected hello, got {hello}"));
        }
        Ok(s)
    }

    async fn send(&mut self, v: &Value) -> Result<()> {
        let mut line = v.to_string();
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .await
            .map_err(|e| format!("writing to the sidecar: {e}"))
    }

    async fn flush(&mut self) -> Result<()> {
        self.stdin
            .flush()
            .await
            .map_err(|e| format!("writing to the sidecar: {e}"))
    }

    async fn next(&mut self) -> Result<Value> {
        let line = self
            .lines
            .next_line()
            .await
            .map_err(|e| format!("reading from the sidecar: {e}"))?
            .ok_or("the sidecar closed its stdout")?;
        serde_json::from_str(&line).map_err(|e| format!("bad event line {line:?}: {e}"))
    }

    fn rss_mib(&self) -> f64 {
        procfs::rss_kib(self.pid).unwrap_or(0) as f64 / 1024.0
    }

    async fn close(mut self) -> Result<()> {
        self.flush().await?;
        drop(self.stdin);
        while let Some(line) = self.lines.next_line().await.ok().flatten() {
            if line.contains("\"event\":\"bye\"") {
                break;
            }
        }
        let status = self
            .child
            .wait()
            .await
            .map_err(|e| format!("waiting for the sidecar: {e}"))?;
        if !status.success() {
            return Err(format!("the sidecar exited with {status}"));
        }
        Ok(())
    }
}

/// The text of a `stdout` event (`data` or `data_b64`).
fn data_of(ev: &Value) -> Vec<u8> {
    if let Some(s) = ev["data"].as_str() {
        return s.as_bytes().to_vec();
    }
    ev["data_b64"].as_str().map_or_else(Vec::new, |s| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .unwrap_or_default()
    })
}

async fn sample_rss(s: &Sidecar, n: usize) -> Vec<f64> {
    let mut v = Vec::new();
    for _ in 0..n {
        v.push(s.rss_mib());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    v
}

/// Phase: N idle children at once; RSS; cancel all; check every outcome.
async fn idle_children(s: &mut Sidecar, bins: &Bins, n: usize) -> Result<(Vec<f64>, Duration)> {
    let fixture = bins.fixture.to_string_lossy().into_owned();
    let t = Instant::now();
    for i in 0..n {
        s.send(&json!({"op":"spawn","id":format!("idle{i}"),"cmd":fixture,"args":["sleep","600000"],"grace_ms":2000}))
            .await?;
    }
    s.flush().await?;
    let (mut spawned, mut printed) = (0, 0);
    while spawned < n || printed < n {
        let ev = s.next().await?;
        match ev["event"].as_str() {
            Some("spawned") => spawned += 1,
            Some("stdout") if data_of(&ev).starts_with(b"pid ") => printed += 1,
            Some("error") | Some("exit") => return Err(format!("idle child failed: {ev}")),
            _ => {}
        }
    }
    let all_up = t.elapsed();
    let rss = sample_rss(s, 10).await;
    for i in 0..n {
        s.send(&json!({"op":"cancel","id":format!("idle{i}")}))
            .await?;
    }
    s.flush().await?;
    let mut exited = 0;
    while exited < n {
        let ev = s.next().await?;
        if ev["event"] == "exit" {
            if ev["reason"] != "cancelled" || ev["signal_name"] != "SIGTERM" {
                return Err(format!("unexpected outcome of an idle child: {ev}"));
            }
            exited += 1;
        } else if ev["event"] == "error" {
            return Err(format!("cancel failed: {ev}"));
        }
    }
    Ok((rss, all_up))
}

/// Phase: N `print` children at once; every output and exit code checked.
async fn burst(s: &mut Sidecar, bins: &Bins, n: usize) -> Result<Duration> {
    let fixture = bins.fixture.to_string_lossy().into_owned();
    let t = Instant::now();
    for i in 0..n {
        s.send(&json!({"op":"spawn","id":format!("b{i}"),"cmd":fixture,"args":["print",format!("hello {i}")]}))
            .await?;
    }
    s.flush().await?;
    let mut out: HashMap<String, Vec<u8>> = HashMap::new();
    let mut exited = 0;
    while exited < n {
        let ev = s.next().await?;
        let id = ev["id"].as_str().unwrap_or_default().to_owned();
        match ev["event"].as_str() {
            Some("stdout") => out.entry(id).or_default().extend(data_of(&ev)),
            Some("exit") => {
                let i: usize = id
                    .strip_prefix('b')
                    .and_then(|i| i.parse().ok())
                    .ok_or("bad id")?;
                let got = out.remove(&id).unwrap_or_default();
                if ev["code"] != 0 || got != format!("hello {i}\n").as_bytes() {
                    return Err(format!(
                        "burst child {id}: {ev} with stdout {:?}",
                        String::from_utf8_lossy(&got)
                    ));
                }
                exited += 1;
            }
            Some("error") => return Err(format!("burst spawn failed: {ev}")),
            _ => {}
        }
    }
    Ok(t.elapsed())
}

/// Phase: churn of `total` `exit 0` children, `k` in flight. Returns per-child latency
/// and the total time.
async fn churn(
    s: &mut Sidecar,
    bins: &Bins,
    total: usize,
    k: usize,
) -> Result<(Vec<Duration>, Duration)> {
    let fixture = bins.fixture.to_string_lossy().into_owned();
    let t = Instant::now();
    let mut started: HashMap<String, Instant> = HashMap::new();
    let mut lat = Vec::with_capacity(total);
    let mut next = 0;
    while lat.len() < total {
        while next < total && started.len() < k {
            let id = format!("c{next}");
            s.send(&json!({"op":"spawn","id":id,"cmd":fixture,"args":["exit","0"]}))
                .await?;
            started.insert(id, Instant::now());
            next += 1;
        }
        s.flush().await?;
        let ev = s.next().await?;
        match ev["event"].as_str() {
            Some("exit") => {
                if ev["code"] != 0 || ev["reason"] != "exited" {
                    return Err(format!("churn child failed: {ev}"));
                }
                let id = ev["id"].as_str().unwrap_or_default();
                let t0 = started.remove(id).ok_or("exit of an unknown id")?;
                lat.push(t0.elapsed());
            }
            Some("error") => return Err(format!("churn spawn failed: {ev}")),
            _ => {}
        }
    }
    Ok((lat, t.elapsed()))
}

/// The same churn with `tokio::process` in this process (process group, piped output).
async fn tokio_churn(bins: &Bins, total: usize, k: usize) -> Result<Duration> {
    let t = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    let mut next = 0;
    let mut done = 0;
    while done < total {
        while next < total && set.len() < k {
            let fixture = bins.fixture.clone();
            set.spawn(async move {
                tokio::process::Command::new(fixture)
                    .args(["exit", "0"])
                    .process_group(0)
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .output()
                    .await
            });
            next += 1;
        }
        match set.join_next().await {
            Some(Ok(Ok(out))) if out.status.success() => done += 1,
            other => return Err(format!("tokio churn child failed: {other:?}")),
        }
    }
    Ok(t.elapsed())
}

/// Phase: a child floods; the caller reads nothing for `hold`. Returns the RSS samples.
async fn flood_unread(
    s: &mut Sidecar,
    bins: &Bins,
    bytes: u64,
    hold: Duration,
) -> Result<Vec<f64>> {
    let fixture = bins.fixture.to_string_lossy().into_owned();
    s.send(&json!({"op":"spawn","id":"flood","cmd":fixture,"args":["flood","--bytes",bytes.to_string()]}))
        .await?;
    s.flush().await?;
    loop {
        let ev = s.next().await?;
        match ev["event"].as_str() {
            Some("spawned") => break,
            Some("error") => return Err(format!("flood spawn failed: {ev}")),
            _ => {}
        }
    }
    // Read nothing: sample the sidecar's RSS while the pipes fill up and stay full.
    let mut rss = Vec::new();
    let end = Instant::now() + hold;
    while Instant::now() < end {
        rss.push(s.rss_mib());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.send(&json!({"op":"kill","id":"flood"})).await?;
    s.flush().await?;
    loop {
        let ev = s.next().await?;
        if ev["event"] == "exit" {
            break;
        }
    }
    Ok(rss)
}

pub(crate) async fn run(bins: &Bins, args: Args) -> Result<()> {
    let mut s = Sidecar::start(bins).await?;
    let before_running = procfs::running(&bins.fixture).len();
    let idle = sample_rss(&s, 10).await;
    let idle_median = {
        let mut v = idle.clone();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    row(
        "memory.idle",
        "MiB",
        "sidecar RSS, idle (after hello)",
        &idle,
    );

    let n = args.children;
    let (rss, all_up) = idle_children(&mut s, bins, n).await?;
    row(
        "memory.children",
        "MiB",
        &format!("sidecar RSS with {n} idle children (all spawned and printing)"),
        &rss,
    );
    row(
        "scale.children.up",
        "s",
        &format!("{n} children at once: first spawn request to the last child's pid line (all then cancelled, every outcome checked)"),
        &[all_up.as_secs_f64()],
    );

    let burst_time = burst(&mut s, bins, n).await?;
    row(
        "scale.burst",
        "s",
        &format!("{n} `print` children requested at once, to the last exit (every output and code checked)"),
        &[burst_time.as_secs_f64()],
    );

    let flood = flood_unread(
        &mut s,
        bins,
        args.flood_bytes,
        Duration::from_millis(args.flood_ms),
    )
    .await?;
    let above: Vec<f64> = flood.iter().map(|r| r - idle_median).collect();
    row(
        "memory.flood",
        "MiB",
        &format!("sidecar RSS above idle while a child floods and the caller reads nothing ({} samples over {} ms)", flood.len(), args.flood_ms),
        &above,
    );

    let fds_before = procfs::fd_count(s.pid);
    let (lat, total) = churn(&mut s, bins, args.churn, args.in_flight).await?;
    let tokio_total = tokio_churn(bins, args.churn, args.in_flight).await?;
    // The sidecar reaps and closes asynchronously after each exit event: give it a
    // moment to settle before counting.
    let mut fds_after = procfs::fd_count(s.pid);
    let settle = Instant::now() + Duration::from_secs(2);
    while fds_after > fds_before && Instant::now() < settle {
        tokio::time::sleep(Duration::from_millis(20)).await;
        fds_after = procfs::fd_count(s.pid);
    }
    let leaked = procfs::running(&bins.fixture)
        .len()
        .saturating_sub(before_running);
    let zombies = procfs::children(s.pid)
        .into_iter()
        .filter(|&p| procfs::state(p) == Some('Z'))
        .count();
    let m = args.churn;
    let k = args.in_flight;
    row(
        "scale.churn.sidecar",
        "spawns/s",
        &format!("churn of {m} `exit 0` children through one sidecar, {k} in flight"),
        &[m as f64 / total.as_secs_f64()],
    );
    row(
        "scale.churn.tokio",
        "spawns/s",
        &format!("the same churn with tokio::process in one process, {k} in flight"),
        &[m as f64 / tokio_total.as_secs_f64()],
    );
    row(
        "scale.churn.latency",
        "ms",
        "churn: spawn request to exit event, per child",
        &ms(&lat),
    );
    println!("check\tchurn.leaked\t{leaked}");
    println!("check\tchurn.zombies\t{zombies}");
    println!("check\tchurn.fds\t{fds_before}\t{fds_after}");
    if leaked != 0 || zombies != 0 || fds_after > fds_before {
        return Err(format!(
            "after the churn: {leaked} leaked fixture processes, {zombies} zombie children, fds {fds_before} → {fds_after}"
        ));
    }
    s.close().await
}
