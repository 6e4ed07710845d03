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

/// How much of stdout a driver keeps (and reports, base64) as its head.
pub const HEAD_BYTES: usize = 256 * 1024;

/// Append to `head` what of `chunk` fits in [`HEAD_BYTES`]; false once the head was
/// already full (nothing new to look at).
pub fn extend_head(head: &mut Vec<u8>, chunk: &[u8]) -> bool {
    if head.len() >= HEAD_BYTES {
        return false;
    }
    let take = chunk.len().min(HEAD_BYTES - head.len());
    head.extend_from_slice(&chunk[..take]);
    true
}

/// A driver's watch on stdout for its [`Trigger`]: fires once the trigger is met — at
/// once, or for [`Seen::RootStopped`] from a thread that polls `/proc` until the root
/// is stopped (one such thread per run).
#[derive(Debug)]
pub struct TriggerWatch {
    trigger: Trigger,
    polling: bool,
}

impl TriggerWatch {
    /// Watch for `trigger` (its `after_ms` is the driver's own timer).
    pub fn new(trigger: Trigger) -> TriggerWatch {
        TriggerWatch {
            trigger,
            polling: false,
        }
    }

    /// Look at `head` (the first bytes of stdout so far) and call `fire` if the trigger
    /// is met, now or from the poller (the driver's `fire` acts only once).
    pub fn check(&mut self, head: &[u8], fire: impl FnOnce() + Send + 'static) {
        match self.trigger.seen(head) {
            Seen::Nothing => {}
            Seen::Fire => fire(),
            Seen::RootStopped(_) if self.polling => {}
            Seen::RootStopped(root) => {
                self.polling = true;
                std::thread::spawn(move || {
                    while !root_stopped(root) {
                        std::thread::sleep(std::time::Duration::from_millis(5));
                    }
                    fire();
                });
            }
        }
    }
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
    /// Their first 4 KiB as text (lossy UTF-8), where the driver keeps them (the
    /// `kennel run` driver: kennel's own errors land there), so a failed cell says why.
    #[serde(default)]
    pub stderr_head: String,
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

impl Job {
    /// The job file named by the driver's first argument (`usage` when there is none).
    pub fn from_args(usage: &str) -> Result<Job, String> {
        let path = std::env::args().nth(1).ok_or(usage)?;
        let bytes = std::fs::read(&path).map_err(|e| format!("cannot read the job {path}: {e}"))?;
        serde_json::from_slice(&bytes).map_err(|e| format!("bad job {path}: {e}"))
    }
}

/// The driver's clock: ms since the spawn, and the moment the trigger fired (once).
#[derive(Debug)]
pub struct Clock {
    t0: std::time::Instant,
    fired: std::sync::Mutex<Option<u64>>,
}

impl Clock {
    /// Started at `t0`; `fired` when the trigger time is already known (a timer of the
    /// implementation's own, started with it).
    pub fn new(t0: std::time::Instant, fired: Option<u64>) -> Clock {
        Clock {
            t0,
            fired: std::sync::Mutex::new(fired),
        }
    }

    /// ms since the spawn.
    pub fn ms(&self) -> u64 {
        self.t0.elapsed().as_millis() as u64
    }

    /// Record that the trigger fired now; false if it had already.
    pub fn fire(&self) -> bool {
        let mut t = self.fired.lock().unwrap_or_else(|e| e.into_inner());
        if t.is_some() {
            return false;
        }
        *t = Some(self.ms());
        true
    }

    /// When the trigger fired, if it did.
    pub fn fired(&self) -> Option<u64> {
        *self.fired.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Write `result` to `path` through a rename, so that it appears whole.
pub fn write_result(path: &str, result: &DriverResult) -> std::io::Result<()> {
    let tmp = format!("{path}.tmp");
    std::fs::write(&tmp, serde_json::to_vec(result)?)?;
    std::fs::rename(tmp, path)
}

/// Stay alive until the harness looked for survivors (it creates `<result>.release`).
pub fn wait_for_release(result_file: &str) {
    let release = format!("{result_file}.release");
    while !std::path::Path::new(&release).exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
