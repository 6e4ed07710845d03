//! Integration tests of `kennel serve`, the JSON-lines sidecar: the real binary
//! (`kennel-test-cli serve`) driven through its pipes, one file per behaviour, sharing
//! the prelude. Every wait is on an event or on `/proc`, with a deadline; never a bare
//! sleep.
#![cfg(target_os = "linux")]

mod prelude;

mod backpressure;
mod burst;
mod direct;
mod errors;
mod fairness;
mod flow;
mod framing;
mod hello;
mod lifecycle;
mod many;
mod output;
mod stdin;
mod tree;
