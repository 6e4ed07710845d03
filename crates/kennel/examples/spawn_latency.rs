//! Spawn round trip per containment tier: start `/bin/true`, wait for the final outcome
//! (output drained, tree gone, leader reaped). Prints median and p99 per tier.
//!
//! ```text
//! cargo run --release -p kennel --example spawn_latency -- [runs]
//! ```
//!
//! With `KENNEL_EXAMPLE_NO_INIT=1` it never calls `keeper::init()`, as a tokio user's
//! program: the cgroup tiers get the in-process guard, the keeper tier none. The first
//! spawn of each tier (which starts the guard, if any) is printed on its own.

use std::time::{Duration, Instant};

use kennel::{Command, ContainmentOptions};

fn main() {
    // This example hosts the keeper itself (unless asked not to).
    if std::env::var_os("KENNEL_EXAMPLE_NO_INIT").is_none() {
        kennel::keeper::init();
    }
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(300);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let tiers = [
        (
            "group only",
            ContainmentOptions {
                cgroup: false,
                keeper: false,
            },
        ),
        (
            "cgroup",
            ContainmentOptions {
                cgroup: true,
                keeper: false,
            },
        ),
        (
            "keeper (subreaper + supervisor-death guard)",
            ContainmentOptions {
                cgroup: false,
                keeper: true,
            },
        ),
        ("cgroup + keeper (default)", ContainmentOptions::default()),
    ];
    println!("available tiers: {:?}", kennel::available_containment());
    rt.block_on(async {
        // Raw std spawn + wait of the same program, with a process group, as the baseline.
        let mut raw = Vec::new();
        for _ in 0..runs {
            let t = Instant::now();
            let mut c = std::process::Command::new("/bin/true");
            #[cfg(unix)]
            std::os::unix::process::CommandExt::process_group(&mut c, 0);
            c.status().expect("spawn");
            raw.push(t.elapsed());
        }
        report("std::process (+ process group), no pipes", &mut raw);
        for (name, opts) in tiers {
            let mut times = Vec::new();
            for _ in 0..runs {
                let t = Instant::now();
                let mut child = Command::new("/bin/true")
                    .containment(opts)
                    .spawn()
                    .expect("spawn");
                let outcome = child.wait().await;
                assert!(outcome.success());
                times.push(t.elapsed());
            }
            println!(
                "{name:<48} first   {:>7.3} ms",
                times[0].as_secs_f64() * 1e3
            );
            report(name, &mut times);
        }
    });
}

fn report(name: &str, times: &mut [Duration]) {
    times.sort_unstable();
    let median = times[times.len() / 2];
    let p99 = times[(times.len() * 99 / 100).min(times.len() - 1)];
    println!(
        "{name:<48} median {:>7.3} ms   p99 {:>7.3} ms",
        median.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );
}
