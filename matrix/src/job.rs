//! The job a driver runs and the result it writes: the one interface every
//! implementation of the matrix shares (`baseline/drivers/common.js` is the Node side,
//! `src/bin/kennel-matrix-cli-driver.rs` the `kennel run` side).

use serde::{Deserialize, Serialize};

/// What the driver waits for before it acts.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Trigger {
    /// Act this many ms after spawning (a timeout).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_ms: Option<u64>,
    /// Act once stdout carried this many fixture pid lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lines: Option<usize>,
    /// Act once stdout contains this text…
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// …and the tree's `root` process is stopped (state `T` in /proc).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub root_stopped: bool,
}

/// What the driver does when the trigger fires.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Abort the run through the implementation's API (AbortSignal, SIGTERM to `kennel run`).
    Abort,
    /// SIGKILL the supervisor (the Node process; `kennel run`).
    SigkillSelf,
    /// SIGTERM to the supervisor.
    SigtermSelf,
    /// SIGINT to the supervisor.
    SigintSelf,
}

/// Resource limits of the tree, for the implementations that have them (kennel's
/// columns; the others ignore them, which is what the limits rows show).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct JobLimits {
    /// Memory of the whole tree, in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_max_bytes: Option<u64>,
    /// Live processes of the whole tree.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pids_max: Option<u32>,
}

/// One run of one fixture by one implementation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    /// The command (no shell).
    pub argv: Vec<String>,
    /// Grace between the graceful signal and the forceful one, in ms.
    pub grace_ms: u64,
    /// Write this many bytes to stdin in one call, then close it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin_bytes: Option<u64>,
    /// When to act (none: run to completion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Trigger>,
    /// What to do then.
    pub action: Action,
    /// A slow consumer: block this long on every stdout chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow_ms_per_chunk: Option<u64>,
    /// Where the driver writes its [`DriverResult`] (via a rename, so it appears whole).
    pub result_file: String,
    /// Resource limits of the tree (where the implementation has them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<JobLimits>,
}

/// What a driver reports once the implementation gave its final status.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct DriverResult {
    /// Implementation name.
    pub r#impl: String,
    /// The exit code the implementation reports (its own convention).
    pub code: Option<i64>,
    /// The signal the implementation reports, if its API has one.
    pub signal: Option<String>,
    /// The status as the caller sees it, for the report.
    pub status: String,
    /// Stdout bytes delivered before the final status.
    pub stdout_bytes: u64,
    /// SHA-256 (hex) of those bytes.
    pub stdout_sha256: String,
    /// Their first 256 KiB, base64.
    pub stdout_head: String,
    /// Stdout bytes that arrived after the final status (within 300 ms).
    pub stdout_bytes_late: u64,
    /// Stderr bytes.
    pub stderr_bytes: u64,
    /// ms from spawn to the trigger, if it fired.
    pub trigger_ms: Option<u64>,
    /// ms from spawn to the final status.
    pub final_ms: u64,
    /// Uncaught exceptions / unhandled rejections the caller would have crashed on.
    pub uncaught: Vec<String>,
    /// Implementation-specific details (kennel's outcome fields, execa's flags, …).
    #[serde(default)]
    pub extra: serde_json::Value,
}
