//! Integration tests of kennel on Windows (Job Objects), run natively and under Wine:
//! one file per behaviour, sharing the prelude. Every test synchronizes on the fixture's
//! pid lines with deadlines, never on bare sleeps, and asserts "no leaks" by looking:
//! it opens a handle to every process the fixture reported while that process is alive
//! (so a reused pid can never fool it) and waits for each handle to be signalled.
//!
//! Tests marked `#[ignore = "needs real Windows: …"]` exercise what Wine 8.0 does not
//! implement (`GenerateConsoleCtrlEvent`); the GitHub Actions Windows job runs them with
//! `-- --include-ignored`. They are listed in docs/WINDOWS.md.
#![cfg(windows)]

mod prelude;

mod breakaway;
mod compat;
mod crash;
mod drain;
mod errors;
mod flood;
mod lifecycle;
mod limits;
mod shapes;
mod shims;
mod signals;
mod supervisor_death;
mod tree;
