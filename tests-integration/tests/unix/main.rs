//! Integration tests of kennel on Unix (Linux `/proc` assertions): one file per
//! behaviour, sharing the prelude. Every test synchronizes on the fixture's pid lines or
//! on `/proc` with deadlines, never on bare sleeps, and asserts "no leaks" by looking.
#![cfg(target_os = "linux")]

mod prelude;

mod cap;
mod drain;
mod errors;
mod exiting;
mod fixture_modes;
mod flood;
mod forward;
mod given;
mod group_pin;
mod ladder;
mod lifecycle;
mod run_cli;
mod signal_merge;
mod signal_race;
mod stdin;
mod terminal;
mod timeout_compat;
mod tree;
