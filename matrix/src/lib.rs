//! The fixture matrix (issue 6): every fixture against every implementation — kennel
//! through its Node client and through `kennel run`, the usual Node agent code
//! (`baseline/`), its shell-tool variant, execa and tree-kill — on Linux and, for what
//! Wine can run, on Windows; written to `docs/REPORT.md` by `cargo xtask matrix`.
//!
//! # How a cell runs
//!
//! Each implementation is driven through the same tiny interface ([`job`]): a driver
//! program (`baseline/drivers/<impl>.js` for the Node columns, `kennel-matrix-cli-driver`
//! for `kennel run`) reads a job (argv, grace, stdin bytes, when to act and how, a slow
//! consumer), runs it with its implementation as an agent would, and writes a result
//! (status as the caller sees it, stdout length + SHA-256 + head, timings, uncaught
//! errors). The harness ([`cell`]) tags the driver's environment, bounds the run, looks
//! for the tree's survivors in `/proc` when the final status arrives, and sweeps
//! everything tagged afterwards; it is a child subreaper so orphans come back to it
//! ([`procs`]). The pass criteria ([`fixtures`]) are evaluated on what was seen, never on
//! what an implementation says about itself.
//!
//! # Why drivers write a file and wait
//!
//! The result goes to a file (not the driver's stdout, which a leaked grandchild could
//! hold), and the driver then waits for EOF on its stdin: survivors are counted while
//! the supervisor is still alive, so a supervisor that cleans up only when it exits
//! (kennel's sidecar does, on EOF) cannot hide a leak that its final status missed.
#![warn(missing_docs)]

pub mod job;

cfg_if::cfg_if! {
    // The harness itself: tags, /proc, subreaper, the Wine loaders' /proc evidence.
    if #[cfg(target_os = "linux")] {
        pub mod cell;
        pub mod fixtures;
        pub mod impls;
        pub mod procs;
        pub mod report;
        pub mod wine_loader;
    }
}

/// `s` cut to at most `max` characters, with `…` when cut.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}
