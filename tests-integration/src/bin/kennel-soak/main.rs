//! `kennel-soak`: thousands of random spawn / cancel / kill / timeout / natural-exit
//! cycles through the kennel library *and* through a `kennel serve` sidecar, then leak
//! checks. Run it with `cargo xtask soak` (which builds it in release mode), or
//! directly:
//!
//! ```text
//! kennel-soak [--cycles N | --duration 10m] [--seed S] [--parallel P]
//!             [--fixture PATH] [--kennel PATH] [--inject-leak BYTES]
//! ```
//!
//! # What one cycle does
//!
//! A cycle picks (from its own RNG, seeded by `--seed` and the cycle number, so the
//! *plan* of a failing cycle is reproducible; the timing is not) a path (library or
//! sidecar), a fixture plan and an action:
//!
//! * plans, all `kennel-fixture seq` (sequence-numbered, checksummed records):
//!   a **flood** (one writer, thousands of records in random write sizes, sometimes
//!   on stderr too), a finite **tree** of writers, an endless tree, **daemons**
//!   (writers that `setsid` out of the process group), **signal-ignorers**
//!   (writers that ignore SIGTERM, so the ladder must escalate); plus the classic
//!   fixture modes `tree`, `daemon`, `fork-loop` and `hold-pipe`;
//! * actions: natural exit, `cancel` after a random delay (sometimes 0: right after
//!   spawn), double `cancel`, `kill`, or a random `timeout`; a short ladder
//!   (SIGTERM, 200 ms, SIGKILL) keeps cycles quick;
//! * containment: randomly with or without the cgroup tier (and, through the library,
//!   without the keeper when a cgroup is there to catch escaped daemons).
//!
//! Every child carries `KENNEL_SOAK=<run>:<cycle>` in its environment. Checks per
//! cycle: the outcome's reason fits the action; bytes counted in the outcome equal
//! bytes received; every stream is an exact prefix of the expected records (or
//! exactly complete after a natural exit); drain complete for seq plans; no process
//! of the tree still alive once `exit` arrived.
//!
//! # Checks after the run
//!
//! * no process anywhere whose environment carries this run's marker (a `/proc/*/environ`
//!   scan, so escaped descendants are found too);
//! * no zombie among the children of the soak process and the sidecar (the pids the
//!   fixtures reported are checked for zombies per cycle, when `exit` arrives, while
//!   they cannot have been reused yet);
//! * the soak process's and the sidecar's open fd counts equal their counts after the
//!   warm-up (exactly);
//! * the live heap: every allocation of this process goes through a counting global
//!   allocator (`kennel_tests::heap`). The run is cut into 8 batches; after the warm-up
//!   and after each batch, with every cycle finished, no task of a cycle alive and the
//!   fds back to their level (a *quiescent point*), the live heap bytes and allocations
//!   are sampled, and `kennel_tests::heap::verdict` fails the run if the second half
//!   grew like a leak. RSS (and glibc's `mallinfo2` view) is reported, not checked: it
//!   measures what glibc keeps mapped, which moves with timing (`docs/SOAK.md`). The
//!   sidecar's RSS is reported too.
//!
//! The report (cycles per path/plan/action, failures with their cycle seed, the
//! observations, fd and RSS figures) goes to stdout; the exit code is 0 only if
//! nothing failed.
#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("kennel-soak runs on Linux only (it checks leaks through /proc)");
    std::process::exit(2);
}

#[cfg(target_os = "linux")]
mod soak;

#[cfg(target_os = "linux")]
use soak::{Opts, USAGE};

#[cfg(target_os = "linux")]
fn main() {
    // Keepers are re-executions of this binary: must run before any thread starts.
    kennel::keeper::init();
    let opts = match Opts::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("kennel-soak: {e}\n{}", USAGE);
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        // Parked blocking threads would be noise in the live-heap samples.
        .thread_keep_alive(kennel_tests::heap::BLOCKING_KEEP_ALIVE)
        .enable_all()
        .build()
        .expect("build the tokio runtime");
    // Like `kennel run`/`kennel serve`: orphans of trees run without a keeper (cgroup
    // tier only) are reparented here and reaped, instead of to pid 1 — which on some
    // hosts (this VM) never reaps them, leaving zombies the checks would count.
    if let Err(e) = kennel::become_subreaper() {
        eprintln!("kennel-soak: cannot become a child subreaper: {e}");
    }
    let ok = runtime.block_on(soak::run(opts));
    std::process::exit(if ok { 0 } else { 1 });
}

/// Every allocation of the soak process goes through the counting allocator, so the
/// leak check reads the live heap rather than RSS (see `kennel_tests::heap`).
#[global_allocator]
static ALLOCATOR: kennel_tests::heap::Counting = kennel_tests::heap::Counting;
