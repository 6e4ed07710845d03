//! Security properties (issue 8; the threat model is `docs/SECURITY.md`): no shell
//! unless asked, environment clearing, no network sockets, isolation between children,
//! and the limits on request size, children count and output.
#![cfg(target_os = "linux")]

#[path = "../serve/prelude.rs"]
#[allow(dead_code, unused_imports)]
mod sidecar;

mod env;
mod isolation;
mod limits;
mod no_network;
mod no_shell;

pub use serde_json::{json, Value};
pub use sidecar::{request, spawn_request, Bystander, Sidecar, FIXTURE, PATIENCE};
