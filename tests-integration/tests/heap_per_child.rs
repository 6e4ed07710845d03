//! What the kennel library keeps on the heap per live child and per finished child
//! (issue 12), counted by `kennel_tests::heap::Counting`, installed as this test
//! binary's global allocator. One test only: the counters are process-wide.
//!
//! Rounds of [`CHILDREN`] quiet children (each prints its pid line, then sleeps until
//! signalled), with the soak's mix of containment tiers: all spawned, each seen alive,
//! the heap counted (what the live children cost), all cancelled and awaited, the
//! handles dropped, and once no task is left the heap is counted again (what finished
//! children left behind). Two checks:
//!
//! * a quiet live child costs less than one output chunk buffer ([`kennel::CHUNK_SIZE`]):
//!   readers allocate a chunk only when their pipe is readable (before this was fixed,
//!   each quiet child pinned two 64 KiB buffers: 143 KB per child, now ~13 KB);
//! * the first round warms up; over the others, `kennel_tests::heap::verdict` must find
//!   no growth: a library that kept one allocation per finished child would grow by 120
//!   over the last three rounds, twice the bound.
#![cfg(target_os = "linux")]

use std::time::Duration;

use kennel::{Command, ContainmentOptions, EndReason, Event, Ladder, Signal};
use kennel_tests::heap::{self, Live, Sample};

#[global_allocator]
static ALLOCATOR: heap::Counting = heap::Counting;

const FIXTURE: &str = env!("CARGO_BIN_EXE_kennel-fixture");
const KENNEL: &str = env!("CARGO_BIN_EXE_kennel-test-cli");
const ROUNDS: u64 = 7;
const CHILDREN: u64 = 40;

/// The live heap once no task is left.
fn settled(rt: &tokio::runtime::Runtime, idle_threads: usize) -> Live {
    let metrics = rt.metrics();
    assert!(
        kennel_tests::wait_until(Duration::from_secs(10), || metrics.num_alive_tasks() == 0),
        "{} tasks still alive 10 s after every child finished",
        metrics.num_alive_tasks()
    );
    heap::live_settled(idle_threads)
}

async fn round() -> Live {
    let mut children = Vec::new();
    for i in 0..CHILDREN {
        let containment = match i % 3 {
            0 => ContainmentOptions {
                cgroup: false,
                keeper: true,
            },
            1 => ContainmentOptions {
                cgroup: true,
                keeper: false,
            },
            _ => ContainmentOptions::default(),
        };
        let child = Command::new(FIXTURE)
            .args(["tree", "--depth", "1", "--width", "1"])
            .ladder(Ladder::graceful(Signal::Term, Duration::from_millis(500)))
            .containment(containment)
            .spawn()
            .expect("spawn the fixture");
        children.push(child);
    }
    // Every child alive (it printed its pid line).
    for child in &mut children {
        let mut out = Vec::new();
        while !out.contains(&b'\n') {
            match tokio::time::timeout(Duration::from_secs(30), child.next_event()).await {
                Ok(Some(Event::Stdout(b))) => out.extend_from_slice(&b),
                other => panic!("no pid line from a quiet child: {other:?}"),
            }
        }
    }
    let alive = heap::live();
    for child in &children {
        child.cancel();
    }
    for child in &mut children {
        let outcome = tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .expect("the cancelled child ends");
        assert_eq!(outcome.reason, EndReason::Cancelled, "{outcome:?}");
    }
    alive
}

#[test]
fn finished_children_leave_nothing_on_the_heap() {
    kennel::keeper::use_program(KENNEL);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_keep_alive(heap::BLOCKING_KEEP_ALIVE)
        .enable_all()
        .build()
        .expect("build the runtime");
    let idle_threads = heap::thread_count();
    // Allocated up front, so the test's own bookkeeping does not grow between samples.
    let mut rounds: Vec<(Live, Live, Live)> = Vec::with_capacity(ROUNDS as usize);
    for _ in 0..ROUNDS {
        let before = settled(&rt, idle_threads);
        let alive = rt.block_on(round());
        let after = settled(&rt, idle_threads);
        rounds.push((before, alive, after));
    }
    let per_child = |a: u64, b: u64| (a as i64 - b as i64) / CHILDREN as i64;
    let report: Vec<String> = rounds
        .iter()
        .enumerate()
        .map(|(r, (before, alive, after))| {
            format!(
                "round {}: before {} B / {} allocs; {CHILDREN} alive: {} B, {} allocs per \
                 live child; after: {} B / {} allocs",
                r + 1,
                before.bytes,
                before.allocs,
                per_child(alive.bytes, before.bytes),
                per_child(alive.allocs, before.allocs),
                after.bytes,
                after.allocs
            )
        })
        .collect();
    let report = report.join("\n");
    println!("{report}");
    // A quiet child holds no output buffer (`kennel::CHUNK_SIZE` per piped stream):
    // chunks are allocated only when a pipe is readable.
    for (before, alive, _) in &rounds[1..] {
        assert!(
            per_child(alive.bytes, before.bytes) < kennel::CHUNK_SIZE as i64,
            "a quiet live child holds an output buffer:\n{report}"
        );
    }
    // The first round warms up (runtime, cgroup tables, the shared guard).
    let samples: Vec<Sample> = rounds
        .iter()
        .zip(1..)
        .map(|((_, _, after), r)| Sample {
            cycles: r * CHILDREN,
            live: *after,
        })
        .collect();
    if let Err(e) = heap::verdict(&samples[1..]) {
        panic!("the library kept memory per finished child: {e}\n{report}");
    }
}
