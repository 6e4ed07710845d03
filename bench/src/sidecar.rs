//! The sidecar (`kennel serve`) under load, driven over its protocol from here:
//!
//! * memory: RSS idle; with N idle children (`kennel-fixture sleep`, all spawned and
//!   printing); while a child floods and the caller reads nothing (peak above idle);
//! * scale: N children at once (all spawned, all cancelled, every outcome checked);
//!   a burst of N `print` children (every output and exit code checked); a churn of M
//!   short children with K in flight — spawns per second, against `tokio::process`
//!   doing the same churn in this process, in interleaved rounds — then no leaked
//!   process and a flat fd count.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use kennel_protocol::{Event, ExitReason};
use kennel_tests::sidecar::request::{self, Spawn};
use kennel_tests::sidecar::{self as driver};
use serde_json::Value;

use crate::stats::{ms, row};
use crate::{Bins, Result};

/// How long any one event may take: a bound that only a hung sidecar meets.
const PATIENCE: Duration = Duration::from_secs(120);

/// Arguments of `kennel-bench sidecar`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Idle children held at once (memory, and "N at once").
    #[arg(long, default_value_t = 1000)]
    children: usize,
    /// Short children in the churn, through the sidecar (and as many with tokio):
    /// rounded up to a multiple of the churn's rounds, and reported as run.
    #[arg(long, default_value_t = 10_200)]
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

/// The sidecar under test: the shared driver ([`kennel_tests::sidecar`]), its pipes kept
/// together because the bench writes and reads from one loop.
struct Sidecar {
    process: driver::Sidecar,
    pid: u32,
    stdin: driver::Writer,
    stdout: driver::Reader,
}

impl Sidecar {
    async fn start(bins: &Bins) -> Result<Sidecar> {
        let (process, stdin, stdout) = driver::Sidecar::start(&bins.kennel, &[], &[], PATIENCE)
            .await
            .map_err(|e| format!("cannot start `kennel serve`: {e}"))?;
        Ok(Sidecar {
            pid: process.pid,
            process,
            stdin,
            stdout,
        })
    }

    /// Queues a request; [`Sidecar::flush`] sends what is queued.
    async fn send(&mut self, v: &Value) -> Result<()> {
        self.stdin.queue(v).await.map_err(|e| e.to_string())
    }

    async fn flush(&mut self) -> Result<()> {
        self.stdin.flush().await.map_err(|e| e.to_string())
    }

    async fn next(&mut self) -> Result<Event> {
        match self.stdout.next_within(PATIENCE).await {
            Ok(Some(r)) => Ok(r.event),
            Ok(None) => Err("the sidecar closed its stdout".into()),
            Err(e) => Err(format!("reading from the sidecar: {e}")),
        }
    }

    fn rss_mib(&self) -> f64 {
        kennel_tests::rss_kib(self.pid).unwrap_or(0) as f64 / 1024.0
    }

    async fn close(mut self) -> Result<()> {
        self.flush().await?;
        drop(self.stdin);
        while let Ok(Some(r)) = self.stdout.next_within(PATIENCE).await {
            if let Event::Bye(_) = r.event {
                break;
            }
        }
        let status = self
            .process
            .wait(PATIENCE)
            .await
            .map_err(|e| format!("waiting for the sidecar: {e}"))?;
        if !status.success() {
            return Err(format!("the sidecar exited with {status}"));
        }
        Ok(())
    }
}

/// The line of an event, for error messages.
fn line(ev: &Event) -> String {
    ev.to_line().trim_end().to_owned()
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
        let spawn = Spawn::new(&format!("idle{i}"), &fixture, &["sleep", "600000"]);
        s.send(&spawn.with("grace_ms", 2000).build()).await?;
    }
    s.flush().await?;
    let (mut spawned, mut printed) = (0, 0);
    while spawned < n || printed < n {
        let ev = s.next().await?;
        match &ev {
            Event::Spawned(_) => spawned += 1,
            Event::Stdout(c) if c.data.as_bytes().starts_with(b"pid ") => printed += 1,
            Event::Error(_) | Event::Exit(_) => {
                return Err(format!("idle child failed: {}", line(&ev)))
            }
            _ => {}
        }
    }
    let all_up = t.elapsed();
    let rss = sample_rss(s, 10).await;
    for i in 0..n {
        s.send(&request::cancel(&format!("idle{i}"))).await?;
    }
    s.flush().await?;
    let mut exited = 0;
    while exited < n {
        let ev = s.next().await?;
        match &ev {
            Event::Exit(e)
                if e.reason == ExitReason::Cancelled
                    && e.signal_name.as_deref() == Some("SIGTERM") =>
            {
                exited += 1
            }
            Event::Exit(_) => {
                return Err(format!(
                    "unexpected outcome of an idle child: {}",
                    line(&ev)
                ))
            }
            Event::Error(_) => return Err(format!("cancel failed: {}", line(&ev))),
            _ => {}
        }
    }
    Ok((rss, all_up))
}

/// Phase: N `print` children at once; every output and exit code checked.
async fn burst(s: &mut Sidecar, bins: &Bins, n: usize) -> Result<Duration> {
    let fixture = bins.fixture.to_string_lossy().into_owned();
    let t = Instant::now();
    for i in 0..n {
        let text = format!("hello {i}");
        s.send(&Spawn::new(&format!("b{i}"), &fixture, &["print", &text]).build())
            .await?;
    }
    s.flush().await?;
    let mut out: HashMap<String, Vec<u8>> = HashMap::new();
    let mut exited = 0;
    while exited < n {
        let ev = s.next().await?;
        match &ev {
            Event::Stdout(c) => out
                .entry(c.id.clone())
                .or_default()
                .extend_from_slice(c.data.as_bytes()),
            Event::Exit(e) => {
                let id = &e.id;
                let i: usize = id
                    .strip_prefix('b')
                    .and_then(|i| i.parse().ok())
                    .ok_or("bad id")?;
                let got = out.remove(id).unwrap_or_default();
                if e.code != Some(0) || got != format!("hello {i}\n").as_bytes() {
                    return Err(format!(
                        "burst child {id}: {} with stdout {:?}",
                        line(&ev),
                        String::from_utf8_lossy(&got)
                    ));
                }
                exited += 1;
            }
            Event::Error(_) => return Err(format!("burst spawn failed: {}", line(&ev))),
            _ => {}
        }
    }
    Ok(t.elapsed())
}

/// How many rounds the churn is split into, the two variants alternating (sidecar,
/// tokio, tokio, sidecar, …): one long run of each in a row measured the machine's
/// drift as much as the variants (tokio's own churn read 1230–1940 spawns/s across
/// runs on one host, issue 16).
const CHURN_ROUNDS: usize = 6;

/// Children per churn round, so that `total` is split over [`CHURN_ROUNDS`] (rounded up).
fn churn_per_round(total: usize) -> usize {
    total.div_ceil(CHURN_ROUNDS).max(1)
}

/// The two churn variants.
#[derive(Clone, Copy)]
enum Churner {
    Sidecar,
    Tokio,
}

/// Phase: churn of `total` `exit 0` children, `k` in flight, through the sidecar and
/// with tokio in this process, in [`CHURN_ROUNDS`] interleaved rounds. Returns each
/// round's rate (spawns/s) of the sidecar and of tokio, and the sidecar's per-child
/// latencies.
async fn churn_interleaved(
    s: &mut Sidecar,
    bins: &Bins,
    total: usize,
    k: usize,
) -> Result<(Vec<f64>, Vec<f64>, Vec<Duration>)> {
    let per_round = churn_per_round(total);
    let (mut ours, mut tokios, mut lat) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..CHURN_ROUNDS {
        let order = if round % 2 == 0 {
            [Churner::Sidecar, Churner::Tokio]
        } else {
            [Churner::Tokio, Churner::Sidecar]
        };
        for who in order {
            match who {
                Churner::Sidecar => {
                    let (l, t) = churn(s, bins, round, per_round, k).await?;
                    ours.push(per_round as f64 / t.as_secs_f64());
                    lat.extend(l);
                }
                Churner::Tokio => {
                    let t = tokio_churn(bins, per_round, k).await?;
                    tokios.push(per_round as f64 / t.as_secs_f64());
                }
            }
        }
    }
    Ok((ours, tokios, lat))
}

/// One round of the churn through the sidecar: `total` `exit 0` children, `k` in
/// flight. Returns per-child latency and the round's time.
async fn churn(
    s: &mut Sidecar,
    bins: &Bins,
    round: usize,
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
            let id = format!("c{round}.{next}");
            s.send(&Spawn::new(&id, &fixture, &["exit", "0"]).build())
                .await?;
            started.insert(id, Instant::now());
            next += 1;
        }
        s.flush().await?;
        let ev = s.next().await?;
        match &ev {
            Event::Exit(e) => {
                if e.code != Some(0) || e.reason != ExitReason::Exited {
                    return Err(format!("churn child failed: {}", line(&ev)));
                }
                let t0 = started.remove(&e.id).ok_or("exit of an unknown id")?;
                lat.push(t0.elapsed());
            }
            Event::Error(_) => return Err(format!("churn spawn failed: {}", line(&ev))),
            _ => {}
        }
    }
    Ok((lat, t.elapsed()))
}

/// One round of the same churn with `tokio::process` in this process (process group,
/// piped output).
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
    let bytes = bytes.to_string();
    s.send(&Spawn::new("flood", &fixture, &["flood", "--bytes", &bytes]).build())
        .await?;
    s.flush().await?;
    loop {
        let ev = s.next().await?;
        match &ev {
            Event::Spawned(_) => break,
            Event::Error(_) => return Err(format!("flood spawn failed: {}", line(&ev))),
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
    s.send(&request::kill("flood")).await?;
    s.flush().await?;
    loop {
        if let Event::Exit(_) = s.next().await? {
            break;
        }
    }
    Ok(rss)
}

pub(crate) async fn run(bins: &Bins, args: Args) -> Result<()> {
    let mut s = Sidecar::start(bins).await?;
    let before_running = kennel_tests::live_running(&bins.fixture).len();
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

    // At rest: the spare cgroups the sidecar keeps (a bounded number, an fd each)
    // are not counted, so any growth is a leak.
    let fds_before = kennel_tests::fd_count_at_rest(s.pid);
    let (ours, tokios, lat) = churn_interleaved(&mut s, bins, args.churn, args.in_flight).await?;
    // The sidecar reaps and closes asynchronously after each exit event: give it a
    // moment to settle before counting.
    let mut fds_after = kennel_tests::fd_count_at_rest(s.pid);
    let settle = Instant::now() + Duration::from_secs(2);
    while fds_after > fds_before && Instant::now() < settle {
        tokio::time::sleep(Duration::from_millis(20)).await;
        fds_after = kennel_tests::fd_count_at_rest(s.pid);
    }
    let leaked = kennel_tests::live_running(&bins.fixture)
        .len()
        .saturating_sub(before_running);
    let zombies = kennel_tests::zombie_children_of(s.pid).len();
    let m = churn_per_round(args.churn) * CHURN_ROUNDS;
    let k = args.in_flight;
    row(
        "scale.churn.sidecar",
        "spawns/s",
        &format!("churn of {m} `exit 0` children through one sidecar, {k} in flight, in {CHURN_ROUNDS} rounds interleaved with tokio's (a sample per round)"),
        &ours,
    );
    row(
        "scale.churn.tokio",
        "spawns/s",
        &format!("the same churn with tokio::process in one process, {k} in flight"),
        &tokios,
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
