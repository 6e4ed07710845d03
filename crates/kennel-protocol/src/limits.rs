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

/// What the whole tree used. A field is absent where the host cannot measure it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Usage {
    /// CPU time in user mode of every process of the tree, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_user_ms: Option<u64>,
    /// CPU time in the kernel on behalf of the tree, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_system_ms: Option<u64>,
    /// The tree's peak memory use in bytes (Linux: the cgroup's, page cache included;
    /// Windows: the job's peak committed memory).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_peak_bytes: Option<u64>,
    /// How many processes the tree started: exact when `processes_exact` (Windows),
    /// else a lower bound (Linux: the peak of live tasks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub processes: Option<u64>,
    /// Whether `processes` counts every process started.
    pub processes_exact: bool,
    /// Process creations refused because the tree was at `pids_max`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forks_refused: Option<u64>,
    /// Processes of the tree the kernel's OOM killer killed (0 when the sidecar killed
    /// the whole tree first, on the OOM notification; `reason` is `memory_limit` either
    /// way).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oom_kills: Option<u64>,
}
