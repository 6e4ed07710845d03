//! The run: workers drawing cycles, batches ending at quiescent points, the checks
//! after the run and the report.

mod drivers;
mod judge;
mod opts;
mod plan;

pub(crate) use opts::{Opts, DRAIN_TIMEOUT, GRACE, PATIENCE, USAGE};

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kennel_tests::heap;

use self::drivers::*;
use self::judge::*;
use self::plan::*;

#[derive(Default)]
pub(crate) struct Stats {
    pub(crate) cycles: AtomicU64,
    pub(crate) records: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pub(crate) counts: Mutex<BTreeMap<String, u64>>,
    pub(crate) observations: Mutex<BTreeMap<String, u64>>,
    pub(crate) failures: Mutex<Vec<String>>,
    /// Pids the fixtures reported (each checked for leaks and zombies in its cycle).
    pub(crate) pids: AtomicU64,
}

impl Stats {
    pub(crate) fn observe(&self, what: impl Into<String>) {
        self.observe_n(what, 1);
    }
    pub(crate) fn observe_n(&self, what: impl Into<String>, n: u64) {
        *self
            .observations
            .lock()
            .unwrap()
            .entry(what.into())
            .or_default() += n;
    }
    pub(crate) fn count(&self, key: String) {
        *self.counts.lock().unwrap().entry(key).or_default() += 1;
    }
    pub(crate) fn fail(&self, what: String) {
        eprintln!("FAIL {what}");
        self.failures.lock().unwrap().push(what);
    }
}

pub(crate) struct Shared {
    pub(crate) opts: Opts,
    pub(crate) run_id: String,
    pub(crate) sidecar: Sidecar,
    pub(crate) stats: Stats,
    pub(crate) batch: Batch,
}

/// The cycles the workers may start in one batch: the numbers from `next` below
/// `limit`, until `stop_at`.
pub(crate) struct Batch {
    next: AtomicU64,
    limit: u64,
    stop_at: Option<Instant>,
}

impl Batch {
    /// The next cycle's number, or `None` once the batch is spent or its time is up.
    fn claim(&self) -> Option<u64> {
        if self.stop_at.is_some_and(|t| Instant::now() >= t) {
            return None;
        }
        self.next
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < self.limit).then_some(n + 1)
            })
            .ok()
    }
}

pub(crate) async fn one_cycle(sh: &Shared, n: u64) {
    let seed = sh.opts.seed.wrapping_mul(1_000_003).wrapping_add(n);
    let mut rng = fastrand::Rng::with_seed(seed);
    let (plan, action) = pick(&mut rng, seed);
    let via_sidecar = rng.bool();
    let marker_value = format!("{}:{n}", sh.run_id);
    let marker = ("KENNEL_SOAK", marker_value.as_str());
    let cycle = Cycle {
        fixture: &sh.opts.fixture,
        plan: &plan,
        action,
        marker,
        seed,
    };
    let mut seen = if via_sidecar {
        sidecar_cycle(&sh.sidecar, &format!("c{n}"), &cycle, &mut rng).await
    } else {
        library_cycle(&cycle, &mut rng).await
    };
    judge(&plan, action, &mut seen, &sh.stats);
    let pids = seen.pids();
    let full_marker = format!("KENNEL_SOAK={marker_value}");
    let alive = alive_marked(&pids, &full_marker);
    if !alive.is_empty() {
        sh.stats
            .observe("tree members alive when exit arrived (then checked again)");
        let still: Vec<u32> = {
            let ok = kennel_tests::wait_until(Duration::from_secs(2), || {
                alive_marked(&alive, &full_marker).is_empty()
            });
            if ok {
                Vec::new()
            } else {
                alive_marked(&alive, &full_marker)
            }
        };
        if !still.is_empty() {
            seen.failures
                .push(format!("alive 2 s after exit: {still:?}"));
        }
    }
    // Zombies among the tree's pids, checked now while the pids are still ours (over
    // a long run pids wrap around: pid_max is often 32768). The keeper or kennel
    // reaps; on this VM pid 1 does not, so an escaped orphan would stay a zombie.
    let zombies = |p: &[u32]| -> Vec<u32> {
        p.iter()
            .copied()
            .filter(|&p| kennel_tests::is_zombie(p))
            .collect()
    };
    if let Some(&z) = zombies(&pids).first() {
        // The parent's name only: an observation key must not grow with the run.
        let parent = match kennel_tests::ppid_of(z) {
            Some(1) => "pid 1".into(),
            Some(pp) => std::fs::read_to_string(format!("/proc/{pp}/comm"))
                .map_or_else(|_| "gone".into(), |c| c.trim().to_owned()),
            None => "unknown".into(),
        };
        sh.stats.observe(format!(
            "tree members zombies when exit arrived, parent {parent} (then checked again)"
        ));
        if !kennel_tests::wait_until(Duration::from_secs(2), || zombies(&pids).is_empty()) {
            let left: Vec<String> = zombies(&pids)
                .into_iter()
                .map(|z| format!("{z} (parent {})", describe_parent(z)))
                .collect();
            seen.failures
                .push(format!("zombies 2 s after exit: {left:?}"));
        }
    }
    sh.stats
        .pids
        .fetch_add(pids.len() as u64, Ordering::Relaxed);
    leak_for_testing(sh.opts.leak_bytes);
    let path = if via_sidecar { "sidecar" } else { "library" };
    sh.stats.count(format!("path {path}"));
    sh.stats.count(format!("plan {}", plan.name));
    sh.stats.count(format!("action {}", action.name()));
    if let Some(e) = &seen.exit {
        sh.stats.count(format!("reason {}", e.reason));
    }
    for f in seen.failures {
        sh.stats.fail(format!(
            "cycle {n} (seed {seed}, {path}, {} {:?}, {action:?}): {f}",
            plan.name, plan.args
        ));
    }
    sh.stats.cycles.fetch_add(1, Ordering::Relaxed);
}

pub(crate) async fn worker(sh: Arc<Shared>) {
    while let Some(n) = sh.batch.claim() {
        one_cycle(&sh, n).await;
        if n > 0 && n % 250 == 0 {
            let f = sh.stats.failures.lock().unwrap().len();
            eprintln!("kennel-soak: {n} cycles started, {f} failures so far");
        }
    }
}

pub(crate) async fn run_batch(sh: &Arc<Shared>) {
    let mut tasks = Vec::new();
    for _ in 0..sh.opts.parallel {
        tasks.push(tokio::spawn(worker(sh.clone())));
    }
    for t in tasks {
        if let Err(e) = t.await {
            sh.stats.fail(format!("a worker panicked: {e}"));
        }
    }
}

/// The RSS of `pid` in KiB, 0 when it is gone (reported, not checked).
fn rss_kib(pid: u32) -> u64 {
    kennel_tests::rss_kib(pid).unwrap_or(0)
}

pub(crate) struct Probe {
    pub(crate) fds: usize,
    pub(crate) rss: u64,
    pub(crate) sc_fds: usize,
    pub(crate) sc_rss: u64,
}

pub(crate) fn probe(sc: u32) -> Probe {
    Probe {
        fds: kennel_tests::fd_count_at_rest(std::process::id()),
        rss: rss_kib(std::process::id()),
        sc_fds: kennel_tests::fd_count_at_rest(sc),
        sc_rss: rss_kib(sc),
    }
}

pub async fn run(opts: Opts) -> bool {
    let started = Instant::now();
    let run_id = format!("{}-{}", std::process::id(), opts.seed);
    let sidecar = match Sidecar::start(&opts.kennel).await {
        Ok(s) => s,
        Err(e) => {
            println!("kennel-soak: cannot start the sidecar: {e}");
            return false;
        }
    };
    println!(
        "kennel-soak: seed {} parallel {} {} (run {run_id})",
        opts.seed,
        opts.parallel,
        match (opts.cycles, opts.duration) {
            (Some(c), _) => format!("{c} cycles"),
            (_, Some(d)) => format!("for {d:?}"),
            _ => String::new(),
        }
    );
    let warmup = (opts.parallel as u64 * 6).max(24);
    let sh = Arc::new(Shared {
        batch: Batch {
            next: AtomicU64::new(0),
            limit: warmup,
            stop_at: None,
        },
        run_id,
        sidecar,
        stats: Stats::default(),
        opts,
    });
    // Tasks (the sidecar's reader) and threads alive with no cycle running.
    let idle = Idle {
        tasks: tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks(),
        threads: heap::thread_count(),
    };
    // Warm-up: lazily created runtime fds, thread pools, allocator arenas, and the
    // guard (one per process) whatever containments the warm-up drew.
    run_batch(&sh).await;
    if let Err(e) = prime_containments(&sh.opts.fixture).await {
        sh.stats.fail(e);
    }
    let sc_pid = sh.sidecar.pid;
    let mut points = vec![quiescent_point(&sh, idle, None)];
    let before = probe(sc_pid);
    let total = sh.opts.cycles.map(|c| c + warmup);
    let main_start = Instant::now();
    let stop_at = sh.opts.duration.map(|d| main_start + d);
    // SEGMENTS batches, each ending at a quiescent point; the mid probe (RSS, fds)
    // after the first half.
    let mut sh = sh;
    let mut mid = None;
    for i in 1..=SEGMENTS {
        let (limit, stop) = match (total, stop_at) {
            (Some(t), _) => (warmup + (t - warmup) * i / SEGMENTS, None),
            (_, Some(s)) => (
                u64::MAX,
                Some(main_start + (s - main_start) * i as u32 / SEGMENTS as u32),
            ),
            _ => (warmup, None),
        };
        sh = rebind(sh, limit, stop);
        run_batch(&sh).await;
        points.push(quiescent_point(&sh, idle, Some(before.fds)));
        if i == SEGMENTS / 2 {
            mid = Some(probe(sc_pid));
        }
    }
    let Some(mid) = mid else {
        unreachable!("SEGMENTS is at least 2")
    };
    let main_cycles = sh.stats.cycles.load(Ordering::Relaxed) - warmup;

    let AfterRun {
        after,
        leaked,
        reported,
    } = after_run(&sh, &before, &points).await;
    let stats = &sh.stats;

    let failures = stats.failures.lock().unwrap();
    println!("\n== kennel-soak report ==");
    println!(
        "cycles: {} after {warmup} warm-up cycles, {:.1} s, seed {}",
        main_cycles,
        started.elapsed().as_secs_f64(),
        sh.opts.seed
    );
    println!(
        "verified: {} records, {} bytes of output (exact prefixes / complete streams)",
        stats.records.load(Ordering::Relaxed),
        stats.bytes.load(Ordering::Relaxed)
    );
    println!("reported pids checked for leaks and zombies: {reported}");
    for (k, v) in stats.counts.lock().unwrap().iter() {
        println!("  {k}: {v}");
    }
    println!(
        "soak process: fds {} → {} (mid {}), RSS {} → {} KiB (mid {})",
        before.fds, after.fds, mid.fds, before.rss, after.rss, mid.rss
    );
    println!(
        "sidecar:      fds {} → {} (mid {}), RSS {} → {} KiB (mid {})",
        before.sc_fds, after.sc_fds, mid.sc_fds, before.sc_rss, after.sc_rss, mid.sc_rss
    );
    println!("soak process live heap at quiescent points (no child alive):");
    println!(
        "  cycles   live bytes  live allocs threads | glibc arena   in use     free  mmapped | RSS KiB"
    );
    for p in &points {
        let m = p.malloc.unwrap_or_default();
        println!(
            "  {:>6} {:>12} {:>12} {:>7} | {:>11} {:>8} {:>8} {:>8} | {:>7}",
            p.sample.cycles,
            p.sample.live.bytes,
            p.sample.live.allocs,
            p.threads,
            m.arena,
            m.in_use,
            m.free,
            m.mmapped,
            p.rss
        );
    }
    // RSS minus what the allocator merely kept: give every free page back and look
    // again (information, like RSS itself; the run is over).
    let rss_end = rss_kib(std::process::id());
    eprintln!("glibc's arenas at the end of the run (malloc_stats):");
    heap::print_arenas();
    let trimmed = heap::trim();
    println!(
        "  RSS at the end {rss_end} KiB; after malloc_trim(0) {} KiB{}",
        rss_kib(std::process::id()),
        if trimmed { "" } else { " (nothing returned)" }
    );
    println!("leaked processes: {leaked}");
    for (k, v) in stats.observations.lock().unwrap().iter() {
        println!("observation: {k}: {v}");
    }
    println!("failures: {}", failures.len());
    for f in failures.iter().take(50) {
        println!("  {f}");
    }
    failures.is_empty()
}

/// Batches of the run after the warm-up, each ending at a quiescent point where the
/// live heap is sampled.
pub(crate) const SEGMENTS: u64 = 8;

/// Tasks and threads of the soak process with no cycle running.
#[derive(Clone, Copy)]
pub(crate) struct Idle {
    pub(crate) tasks: usize,
    pub(crate) threads: usize,
}

/// What a quiescent point saw.
pub(crate) struct Point {
    pub(crate) sample: heap::Sample,
    pub(crate) malloc: Option<heap::MallocStats>,
    pub(crate) rss: u64,
    pub(crate) threads: usize,
}

/// Wait until no cycle's task is alive and (after the first point) the soak
/// process's fds are back to `fds`, then sample the live heap.
pub(crate) fn quiescent_point(sh: &Shared, idle: Idle, fds: Option<usize>) -> Point {
    let idle_tasks = idle.tasks;
    let metrics = tokio::runtime::Handle::current().metrics();
    let me = std::process::id();
    let quiet = kennel_tests::wait_until(Duration::from_secs(10), || {
        metrics.num_alive_tasks() <= idle_tasks
            && fds.is_none_or(|f| kennel_tests::fd_count_at_rest(me) == f)
    });
    if !quiet {
        sh.stats.fail(format!(
            "not quiescent 10 s after a batch: {} tasks alive (idle: {idle_tasks}), {} fds \
             (expected {fds:?}): {:?}",
            metrics.num_alive_tasks(),
            kennel_tests::fd_count_at_rest(me),
            kennel_tests::fds_of(me)
        ));
    }
    Point {
        sample: heap::Sample {
            cycles: sh.stats.cycles.load(Ordering::Relaxed),
            live: heap::live_settled(idle.threads),
        },
        malloc: heap::malloc_stats(),
        rss: rss_kib(me),
        threads: heap::thread_count(),
    }
}

/// `--inject-leak`: leak `bytes` per cycle, so a test can show the check catches it.
pub(crate) fn leak_for_testing(bytes: usize) {
    if bytes > 0 {
        std::hint::black_box(Box::leak(vec![1u8; bytes].into_boxed_slice()));
    }
}

/// The same shared state with a new cycle limit and stop time (the numbering goes on).
pub(crate) fn rebind(sh: Arc<Shared>, limit: u64, stop_at: Option<Instant>) -> Arc<Shared> {
    let Ok(inner) = Arc::try_unwrap(sh) else {
        unreachable!("all workers have finished")
    };
    Arc::new(Shared {
        batch: Batch {
            next: inner.batch.next,
            limit,
            stop_at,
        },
        ..inner
    })
}
