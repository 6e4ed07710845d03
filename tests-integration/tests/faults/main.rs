//! Fault injection (issue 8): one file per fault, each against the real sidecar
//! (`kennel-test-cli serve`) or the library. Every wait is on an event or on `/proc`,
//! with a deadline.
#![cfg(target_os = "linux")]

mod prelude;
#[path = "../serve/prelude.rs"]
#[allow(dead_code, unused_imports)]
mod sidecar;

mod caller_gone;
mod client_gone;
mod closed_stdout;
mod fd_exhaustion;
mod huge_line;
mod quick_exit;
mod random_lines;
mod run_output_gone;
mod signal_storm;
mod sigstop;
mod stdin_reader_gone;
mod stuck_exit;
