//! The `exit` event: a child's outcome, the last event about its id.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The end-of-run vocabulary is the library's (`kennel-types`), under the wire's names.
pub use kennel_types::{Drain as DrainStatus, EndReason as ExitReason, EscapeFound};

use crate::event::ContainmentTier;
use crate::limits::Usage;

/// `exit`: the outcome of a child; the last event about its id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ExitEvent {
    /// The child's id.
    pub id: String,
    /// The leader's process id.
    pub pid: u32,
    /// The exit code when the leader exited normally (on Windows the full 32-bit
    /// exit code, e.g. 3221225477 for an access violation), else `null`.
    pub code: Option<i64>,
    /// The signal number that killed the leader (Unix), else `null`.
    pub signal: Option<i32>,
    /// That signal's name, e.g. `"SIGKILL"`, when known, else `null`.
    pub signal_name: Option<String>,
    /// Why the child ended.
    pub reason: ExitReason,
    /// Index of the ladder rung in effect when the tree ended (the implicit
    /// forceful rung is the ladder's length); `null` if it was never signalled.
    pub ladder_step: Option<u32>,
    /// Whether the forceful last rung was needed.
    pub forced: bool,
    /// Time from spawn to this event, in milliseconds.
    pub wall_time_ms: u64,
    /// Counters for stdout.
    pub stdout: StreamStats,
    /// Counters for stderr.
    pub stderr: StreamStats,
    /// Whether both pipes reached EOF or the drain timeout expired first.
    pub drain: DrainStatus,
    /// Descendants found alive after the leader exited, and killed.
    pub leftovers_killed: Vec<u32>,
    /// The strongest containment tier that was in effect.
    pub containment: ContainmentTier,
    /// Non-fatal problems met along the way, as sentences.
    pub errors: Vec<String>,
    /// Every containment layer that was active, strongest first (e.g. `cgroup`,
    /// `subreaper`, `group`); `containment` is the first. Absent from older sidecars.
    #[serde(default)]
    pub layers: Vec<ContainmentTier>,
    /// Processes that had left the tree's containment (e.g. moved themselves to another
    /// cgroup) and were killed when the tree ended, with how each was found. Absent
    /// from older sidecars.
    #[serde(default)]
    pub escapees_killed: Vec<EscapeeKilled>,
    /// What the whole tree used, where the host measures it. Absent from older
    /// sidecars.
    #[serde(default)]
    pub usage: Usage,
    /// Limits a `best_effort` spawn ran without (`memory`, `pids`, `cpu`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub limits_skipped: Vec<String>,
}

/// A process that escaped its tree's containment and was killed (`exit` event).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EscapeeKilled {
    /// Its pid.
    pub pid: u32,
    /// How it was found.
    pub found: EscapeFound,
}

/// Byte counters of one output stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StreamStats {
    /// Bytes delivered in events.
    pub bytes: u64,
    /// Bytes read but not delivered (beyond the cap).
    pub dropped: u64,
    /// Whether the stream's cap was reached.
    pub cap_hit: bool,
}
