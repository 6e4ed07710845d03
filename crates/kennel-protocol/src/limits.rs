//! The `limits` field of `spawn` and the `usage` field of `exit`: resource limits of a
//! whole tree and what it used (the library's `kennel::Limits` and `kennel::Usage`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Resource limits for the whole tree. Every limit is off unless given. A spawn asking
/// for a limit the sidecar's host cannot enforce fails with the error code
/// `unsupported`, unless `best_effort` is true.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SpawnLimits {
    /// The most memory (RAM, no swap on top) the tree may use at once, in bytes; at
    /// least 4096. A tree that runs out is killed whole (`reason` `memory_limit`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 4096))]
    pub memory_max_bytes: Option<u64>,
    /// The most processes (Linux: tasks, threads included) alive in the tree at once;
    /// at least 1. Process creations beyond it fail inside the tree.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub pids_max: Option<u32>,
    /// CPU time as a number of CPUs (0.5 = half of one CPU); at least 0.01.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.01))]
    pub cpus: Option<f64>,
    /// Run without the limits the host cannot enforce instead of failing the spawn.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub best_effort: bool,
    /// Measure `memory_peak_bytes` and `processes` even without their limits (costs
    /// two cgroup v1 directories per tree on hybrid Linux hosts).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub full_accounting: bool,
}

// JSON has no NaN: every value the parser produces is equal to itself.
impl Eq for SpawnLimits {}

/// What the whole tree used: the library's type (`kennel-types`).
pub use kennel_types::Usage;
