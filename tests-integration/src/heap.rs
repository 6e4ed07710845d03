//! Live-heap accounting for the soak: a counting global allocator, glibc's own
//! statistics, and the leak verdict the soak applies to quiescent samples.
//!
//! # Why count instead of reading RSS
//!
//! RSS measures what the allocator keeps mapped, not what the program holds. glibc
//! keeps freed chunks in its arenas (one per thread that allocated, up to 8 per core)
//! and returns memory to the kernel only from the top of a heap, so a few live
//! allocations that land high in an arena pin everything below them. The soak's 64 KiB
//! output chunks, allocated on one runtime thread and freed on another, make exactly
//! that pattern: RSS then climbs in steps that depend on timing, not on what is live
//! (`docs/SOAK.md` has the figures). [`Counting`] counts what the program really holds
//! — bytes and allocations handed out and not yet freed — so a leak shows as a trend
//! in [`live`] and allocator retention does not.
//!
//! # The verdict
//!
//! The soak samples [`live`] at quiescent points (every cycle finished, no child of
//! the run alive, fds back to their level) and [`verdict`] compares the second half of
//! the run with the first. A leak grows with the number of cycles; everything else the
//! soak process holds at a quiescent point is bounded (runtime caches, the kennel
//! library's per-process tables, the soak's counters). See [`verdict`] for the rule.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

static LIVE_BYTES: AtomicU64 = AtomicU64::new(0);
static LIVE_ALLOCS: AtomicU64 = AtomicU64::new(0);

/// A global allocator that forwards to [`System`] (glibc's malloc on Linux) and counts
/// the bytes and allocations currently live. Install it with
/// `#[global_allocator] static A: Counting = Counting;`.
pub struct Counting;

// SAFETY: every method forwards to `System` with the caller's own arguments, so the
// `GlobalAlloc` contract is `System`'s; the counters are only updated on success and do
// not allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
            LIVE_ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `alloc_zeroed`'s contract.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
            LIVE_ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by this allocator (hence by `System`) with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE_BYTES.fetch_sub(layout.size() as u64, Ordering::Relaxed);
        LIVE_ALLOCS.fetch_sub(1, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged; `ptr`/`layout` come from this allocator.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            // The old block is gone and a new one of `new_size` is live.
            LIVE_BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
            LIVE_BYTES.fetch_sub(layout.size() as u64, Ordering::Relaxed);
        }
        p
    }
}

/// What the program holds on the heap at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Live {
    /// Bytes allocated and not yet freed (requested sizes, without allocator overhead).
    pub bytes: u64,
    /// Allocations not yet freed.
    pub allocs: u64,
}

/// The current live heap, as counted by [`Counting`] (zeros if it is not installed).
pub fn live() -> Live {
    Live {
        bytes: LIVE_BYTES.load(Ordering::Relaxed),
        allocs: LIVE_ALLOCS.load(Ordering::Relaxed),
    }
}

/// How long a tokio blocking-pool thread may stay parked in a runtime that is sampled
/// (`Builder::thread_keep_alive`; tokio's default is 10 s). A parked thread holds ~550
/// bytes in 4 allocations, so with the default, how many happen to be parked at a
/// quiescent point would be noise in the samples; with this, they are gone by then.
pub const BLOCKING_KEEP_ALIVE: std::time::Duration = std::time::Duration::from_millis(10);

/// Threads of this process (`/proc/self/task`; 0 where there is no procfs).
pub fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
}

/// The live heap at a quiescent point. First waits (at most 2 s) until no more than
/// `idle_threads` threads are left — the runtime's parked blocking threads exit after
/// [`BLOCKING_KEEP_ALIVE`] — then takes the smallest of five readings 10 ms apart, so
/// an allocation some background thread holds for a moment (the kennel library's
/// orphan reaper wakes every 200 ms) is not counted.
pub fn live_settled(idle_threads: usize) -> Live {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while thread_count() > idle_threads && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let mut least = live();
    for _ in 0..4 {
        std::thread::sleep(std::time::Duration::from_millis(10));
        let now = live();
        if now.bytes < least.bytes {
            least = now;
        }
    }
    least
}

/// glibc's view of its heap (`mallinfo2(3)`, summed over all arenas), in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MallocStats {
    /// Memory the arenas obtained from the kernel with `brk`/`mmap` for heaps.
    pub arena: u64,
    /// Bytes in chunks handed out (live, with malloc's per-chunk overhead).
    pub in_use: u64,
    /// Bytes in free chunks kept by the arenas (retained, not returned to the kernel).
    pub free: u64,
    /// Bytes in chunks allocated directly with `mmap` (large allocations).
    pub mmapped: u64,
    /// Of `free`, what sits at the top of the main heap and `malloc_trim` could return.
    pub releasable: u64,
}

/// glibc's statistics; `None` where the C library is not glibc.
pub fn malloc_stats() -> Option<MallocStats> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `mallinfo2` takes no arguments, returns a struct by value and only
        // reads the allocator's own state under its locks.
        let m = unsafe { libc::mallinfo2() };
        Some(MallocStats {
            arena: m.arena as u64,
            in_use: m.uordblks as u64,
            free: m.fordblks as u64,
            mmapped: m.hblkhd as u64,
            releasable: m.keepcost as u64,
        })
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        None
    }
}

/// Print glibc's per-arena statistics to stderr (`malloc_stats(3)`): how many arenas
/// the threads made and what each keeps. Does nothing where the C library is not glibc.
pub fn print_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_stats` takes no arguments and writes to stderr.
    unsafe {
        libc::malloc_stats();
    }
}

/// Return free memory of every arena to the kernel (`malloc_trim(3)`), so what RSS
/// still counts afterwards is memory in use. `false` where the C library is not glibc
/// (or nothing could be returned).
pub fn trim() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `malloc_trim` only walks the allocator's own arenas under their locks.
        unsafe { libc::malloc_trim(0) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// A quiescent sample: after `cycles` cycles, nothing of the run alive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Cycles finished when the sample was taken (warm-up included).
    pub cycles: u64,
    /// The live heap then.
    pub live: Live,
}

/// The largest growth of the live heap over the second half of a run that is not a
/// leak, in bytes: bounded state seen at a new high at the last quiescent point (a hash
/// table that doubled at a new peak of concurrency, tokio's not-yet-released I/O
/// registrations). Measured: at most +856 bytes over the second half of 1 500-cycle
/// runs, +352 over that of a 20-minute run (`docs/SOAK.md`).
pub const SETTLE_BYTES: u64 = 32 * 1024;

/// The same for live allocations. Measured: at most +3.
pub const SETTLE_ALLOCS: u64 = 64;

/// Whether quiescent samples show a leak. `samples[0]` is taken after the warm-up, the
/// second half starts at the middle sample.
///
/// A leak of `L` bytes in `A` allocations per cycle makes the live heap grow by
/// `L × cycles` between two quiescent points, in the second half as in the first;
/// state that is only *bounded* grows while it fills (the warm-up and the first half)
/// and then stays. So the run fails when, over the second half (middle sample → last),
/// the live heap grew by more than [`SETTLE_BYTES`] or the live allocations by more
/// than [`SETTLE_ALLOCS`]. Neither bound scales with the run: a 1 500-cycle run (750
/// cycles in its second half) catches a leak of one allocation per 12 cycles (any
/// size) or of 44 bytes per cycle (even in an allocation that only grows); a
/// 20-minute run (~22 000 cycles per half) one of an allocation per ~350 cycles.
pub fn verdict(samples: &[Sample]) -> Result<(), String> {
    let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
        return Err("no live-heap samples".into());
    };
    let mid = &samples[samples.len() / 2];
    let grew = |a: u64, b: u64| b as i128 - a as i128;
    let second = last.cycles.saturating_sub(mid.cycles);
    let (b1, b2) = (
        grew(first.live.bytes, mid.live.bytes),
        grew(mid.live.bytes, last.live.bytes),
    );
    let (a1, a2) = (
        grew(first.live.allocs, mid.live.allocs),
        grew(mid.live.allocs, last.live.allocs),
    );
    let mut problems = Vec::new();
    if b2 > i128::from(SETTLE_BYTES) {
        problems.push(format!(
            "live heap grew {b2} bytes over the second half ({} → {} bytes in {second} \
             cycles; first half: {b1}; at most {SETTLE_BYTES})",
            mid.live.bytes, last.live.bytes
        ));
    }
    if a2 > i128::from(SETTLE_ALLOCS) {
        problems.push(format!(
            "live allocations grew by {a2} over the second half ({} → {} in {second} \
             cycles; first half: {a1}; at most {SETTLE_ALLOCS})",
            mid.live.allocs, last.live.allocs
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nine samples 100 cycles apart, the live heap given by `f(i)`.
    fn run(f: impl Fn(u64) -> (u64, u64)) -> Vec<Sample> {
        (0..9)
            .map(|i| {
                let (bytes, allocs) = f(i);
                Sample {
                    cycles: 24 + 100 * i,
                    live: Live { bytes, allocs },
                }
            })
            .collect()
    }

    #[test]
    fn a_flat_heap_passes() {
        assert_eq!(verdict(&run(|_| (450_000, 170))), Ok(()));
    }

    #[test]
    fn bounded_noise_and_a_filling_first_half_pass() {
        // Filling up in the first half (40 KiB, 200 allocations), then a parked
        // thread or two coming and going (±600 bytes, ±4 allocations).
        let samples = run(|i| {
            let fill = i.min(4);
            (
                450_000 + fill * 10_000 + (i % 2) * 600,
                170 + fill * 50 + (i % 2) * 4,
            )
        });
        assert_eq!(verdict(&samples), Ok(()));
    }

    #[test]
    fn one_small_allocation_per_cycle_fails() {
        // 400 cycles in the second half, 32 bytes each.
        let err = verdict(&run(|i| (450_000 + 3_200 * i, 170 + 100 * i))).unwrap_err();
        assert!(err.contains("live allocations grew by 400"), "{err}");
        assert!(!err.contains("live heap grew"), "{err}");
    }

    #[test]
    fn a_growing_allocation_fails_on_bytes() {
        // One vector that never shrinks, 100 bytes per cycle: allocations stay flat.
        let err = verdict(&run(|i| (450_000 + 10_000 * i, 170))).unwrap_err();
        assert!(err.contains("live heap grew 40000 bytes"), "{err}");
        assert!(!err.contains("allocations"), "{err}");
    }

    #[test]
    fn a_leak_only_in_the_second_half_fails() {
        let err = verdict(&run(|i| (450_000, 170 + 30 * i.saturating_sub(4)))).unwrap_err();
        assert!(err.contains("live allocations grew by 120"), "{err}");
    }

    #[test]
    fn the_counting_allocator_counts_live_bytes_and_allocations() {
        // The test binary does not install `Counting`: drive it directly.
        let layout = Layout::from_size_align(1000, 8).unwrap();
        let before = live();
        // SAFETY: a valid non-zero layout; the pointer is freed below with it.
        let p = unsafe { Counting.alloc(layout) };
        assert!(!p.is_null());
        let during = live();
        // SAFETY: `p` came from `Counting.alloc(layout)`; grown to 3000 bytes.
        let p = unsafe { Counting.realloc(p, layout, 3000) };
        let grown = live();
        // SAFETY: `p` is the realloc'ed block, now of 3000 bytes.
        unsafe { Counting.dealloc(p, Layout::from_size_align(3000, 8).unwrap()) };
        let after = live();
        assert_eq!(during.bytes - before.bytes, 1000);
        assert_eq!(during.allocs - before.allocs, 1);
        assert_eq!(grown.bytes - before.bytes, 3000);
        assert_eq!(grown.allocs - before.allocs, 1);
        assert_eq!(after, before);
    }
}
