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

/// What the head of stdout says about a [`Trigger`] (see [`Trigger::seen`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Not yet.
    Nothing,
    /// Act now.
    Fire,
    /// The text is there: act once this `root` process is stopped (act at once when
    /// the head names no root).
    RootStopped(Option<u32>),
}

impl Trigger {
    /// What `head` (the first bytes of stdout) says about this trigger (its `after_ms`
    /// is the driver's timer, not checked here).
    pub fn seen(&self, head: &[u8]) -> Seen {
        if let Some(lines) = self.lines {
            if kennel_tests::parse_pid_lines(head).len() >= lines {
                return Seen::Fire;
            }
        }
        let Some(text) = &self.text else {
            return Seen::Nothing;
        };
        if !head.windows(text.len()).any(|w| w == text.as_bytes()) {
            return Seen::Nothing;
        }
        if !self.root_stopped {
            return Seen::Fire;
        }
        Seen::RootStopped(
            kennel_tests::parse_pid_lines(head)
                .into_iter()
                .find(|l| l.role == "root")
                .map(|l| l.pid),
        )
    }
}

/// Whether the root of [`Seen::RootStopped`] is stopped (state `T` in /proc); true
/// when the head named no root.
pub fn root_stopped(root: Option<u32>) -> bool {
    let Some(pid) = root else {
        return true;
    };
    let state = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.get(stat.rfind(')')? + 2..)?.chars().next());
    state == Some('T')
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
