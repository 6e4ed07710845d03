//! `spawn`: the request that starts a child, and the types of its fields.
//!
//! Each field is declared once, here: serde derives its parsing (`null` counts as
//! absent), schemars its schema, and `validate.rs` checks what types cannot say.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use schemars::JsonSchema;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::frame::Framing;
use crate::limits::SpawnLimits;
use crate::signal::Signal;
use crate::switches::ContainmentSwitches;
use crate::wire;
#[cfg(doc)]
use crate::DEFAULT_SIGNAL;

/// `spawn`: start a child.
///
/// Defaults: `args` `[]`, `env_clear` false, `stdin` `"null"`, `stdout`/`stderr`
/// `"pipe"`, no timeout, the ladder of one rung — [`DEFAULT_SIGNAL`], then the
/// sidecar's default grace (5 s, the library's `kennel::DEFAULT_GRACE`) — then the
/// forceful kill, no caps, the sidecar's drain timeout, leftovers killed, every
/// available containment tier.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SpawnRequest {
    /// The child's id, chosen by the client, unique among the sidecar's live children.
    #[schemars(length(min = 1, max = 256))]
    pub id: String,
    /// The program (looked up in `PATH` when it has no separator), or with `shell`
    /// the command line given to the shell.
    #[schemars(length(min = 1))]
    pub cmd: String,
    /// Arguments, not including the program name. Must be empty with `shell`.
    #[serde(default, deserialize_with = "wire::or_default")]
    pub args: Vec<String>,
    /// Working directory; default: the sidecar's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Variables set over the inherited (or, with `env_clear`, empty) environment.
    #[serde(
        default,
        deserialize_with = "wire::or_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub env: BTreeMap<String, String>,
    /// Variables removed from the inherited environment (applied before `env`).
    #[serde(
        default,
        deserialize_with = "wire::or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub env_remove: Vec<String>,
    /// Start from an empty environment instead of the sidecar's.
    #[serde(
        default,
        deserialize_with = "wire::or_default",
        skip_serializing_if = "is_false"
    )]
    pub env_clear: bool,
    /// Run `cmd` through a shell: `true` for the platform shell (`/bin/sh -c` or
    /// `cmd.exe /C`), a string for that shell program (given `-c` on Unix, `/C` on
    /// Windows). `false` is the same as absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Shell>,
    /// The child's stdin; default `"null"`.
    #[serde(default = "StdioMode::null", deserialize_with = "StdioMode::or_null")]
    pub stdin: StdioMode,
    /// The child's stdout; default `"pipe"` (streamed as `stdout` events).
    #[serde(default = "StdioMode::pipe", deserialize_with = "StdioMode::or_pipe")]
    pub stdout: StdioMode,
    /// The child's stderr; default `"pipe"` (streamed as `stderr` events).
    #[serde(default = "StdioMode::pipe", deserialize_with = "StdioMode::or_pipe")]
    pub stderr: StdioMode,
    /// Run the ladder after this many milliseconds (`reason: "timed_out"`); at least 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 9_007_199_254_740_991u64))]
    pub timeout_ms: Option<u64>,
    /// The termination ladder; the forceful kill after its last rung is implicit.
    /// Exclusive with `signal`/`grace_ms`.
    #[serde(
        default,
        deserialize_with = "wire::objects",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(length(max = 16))]
    pub ladder: Option<Vec<LadderStep>>,
    /// Shortcut: the first (only) rung's signal; default [`DEFAULT_SIGNAL`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<Signal>,
    /// Shortcut: how long the first rung waits before the forceful kill, in
    /// milliseconds; default: the sidecar's default grace (5 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 9_007_199_254_740_991u64))]
    pub grace_ms: Option<u64>,
    /// Limit on stdout bytes delivered; needs `stdout: "pipe"`.
    #[serde(
        default,
        deserialize_with = "wire::object",
        skip_serializing_if = "Option::is_none"
    )]
    pub stdout_cap: Option<OutputCap>,
    /// Limit on stderr bytes delivered; needs `stderr: "pipe"`.
    #[serde(
        default,
        deserialize_with = "wire::object",
        skip_serializing_if = "Option::is_none"
    )]
    pub stderr_cap: Option<OutputCap>,
    /// After the tree is gone, how long to wait for the pipes to reach EOF (a
    /// leaked descendant may hold them) before reporting `drain: "timeout"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 9_007_199_254_740_991u64))]
    pub drain_timeout_ms: Option<u64>,
    /// Leave descendants that outlive the leader running instead of killing them.
    #[serde(
        default,
        deserialize_with = "wire::or_default",
        skip_serializing_if = "is_false"
    )]
    pub keep_leftovers: bool,
    /// Per-tier switches of the containment used for this child.
    #[serde(
        default,
        deserialize_with = "wire::object_or_default",
        skip_serializing_if = "ContainmentSwitches::is_default"
    )]
    pub containment: ContainmentSwitches,
    /// How this child's output is delivered: `json` events (default) or `binary`
    /// data frames (offered when `hello.framings` lists it).
    #[serde(
        default,
        deserialize_with = "wire::or_default",
        skip_serializing_if = "Framing::is_default"
    )]
    pub framing: Framing,
    /// Per-stream flow control: the sidecar sends at most this many bytes of each
    /// output stream beyond what the client has returned with `credit`, and stops
    /// reading the child's pipe meanwhile. Absent: no flow control (output is only
    /// limited by the connection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1024, max = 2_147_483_647u64))]
    pub window: Option<u64>,
    /// Resource limits of the whole tree (memory, processes, CPU). A limit the host
    /// cannot enforce fails the spawn with `unsupported` unless `best_effort`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<SpawnLimits>,
    /// With a `"direct"` stream (only then): the client's listening UNIX socket, which
    /// the sidecar connects each direct stream to (docs/PROTOCOL.md, "Direct streams").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 4096))]
    pub direct_socket: Option<String>,
    /// With `direct_socket`: the client's token, named in each connection's header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub direct_token: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl SpawnRequest {
    /// A request with only `id` and `cmd` set and every other field at its default.
    pub fn new(id: impl Into<String>, cmd: impl Into<String>) -> SpawnRequest {
        SpawnRequest {
            id: id.into(),
            cmd: cmd.into(),
            args: Vec::new(),
            cwd: None,
            env: BTreeMap::new(),
            env_remove: Vec::new(),
            env_clear: false,
            shell: None,
            stdin: StdioMode::Null,
            stdout: StdioMode::Pipe,
            stderr: StdioMode::Pipe,
            timeout_ms: None,
            ladder: None,
            signal: None,
            grace_ms: None,
            stdout_cap: None,
            stderr_cap: None,
            drain_timeout_ms: None,
            keep_leftovers: false,
            containment: ContainmentSwitches::default(),
            framing: Framing::Json,
            window: None,
            limits: None,
            direct_socket: None,
            direct_token: None,
        }
    }

    /// `timeout_ms` as a duration.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout_ms.map(Duration::from_millis)
    }

    /// `drain_timeout_ms` as a duration.
    pub fn drain_timeout(&self) -> Option<Duration> {
        self.drain_timeout_ms.map(Duration::from_millis)
    }
}

/// The `shell` field of `spawn`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Shell {
    /// `true`: use the platform shell; `false`: no shell.
    Enabled(bool),
    /// Use this shell program.
    Path(String),
}

impl<'de> Deserialize<'de> for Shell {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Shell, D::Error> {
        struct ShellVisitor;

        impl Visitor<'_> for ShellVisitor {
            type Value = Shell;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a boolean or a string (the shell program)")
            }

            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Shell, E> {
                Ok(Shell::Enabled(v))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Shell, E> {
                Ok(Shell::Path(v.to_owned()))
            }
        }

        d.deserialize_any(ShellVisitor)
    }
}

impl Shell {
    /// Whether a shell is used at all.
    pub fn is_enabled(&self) -> bool {
        !matches!(self, Shell::Enabled(false))
    }

    /// The shell program named in the request, if one was.
    pub fn path(&self) -> Option<&str> {
        match self {
            Shell::Path(p) => Some(p),
            Shell::Enabled(_) => None,
        }
    }
}

/// How a child's standard stream is connected. (`inherit` is not offered: the
/// sidecar's own stdin/stdout carry the protocol.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StdioMode {
    /// A pipe to the sidecar: `write` requests for stdin, events for output.
    Pipe,
    /// The null device.
    Null,
    /// Output only (feature `direct_sockets`, Unix): a connection to the client's
    /// socket (`direct_socket`) that the client reads itself; the sidecar never sees
    /// the bytes. No caps, no `framing`, no `keep_leftovers`.
    Direct,
}

impl StdioMode {
    fn null() -> StdioMode {
        StdioMode::Null
    }

    fn pipe() -> StdioMode {
        StdioMode::Pipe
    }

    fn or_null<'de, D: Deserializer<'de>>(d: D) -> Result<StdioMode, D::Error> {
        Option::deserialize(d).map(|mode| mode.unwrap_or(StdioMode::Null))
    }

    fn or_pipe<'de, D: Deserializer<'de>>(d: D) -> Result<StdioMode, D::Error> {
        Option::deserialize(d).map(|mode| mode.unwrap_or(StdioMode::Pipe))
    }
}

/// One rung of the termination ladder: send `signal` to the tree, then wait up to
/// `wait_ms` for it to exit before the next rung.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LadderStep {
    /// The signal this rung sends.
    pub signal: Signal,
    /// How long to wait after it, in milliseconds (0: go straight to the next rung).
    #[schemars(range(max = 9_007_199_254_740_991u64))]
    pub wait_ms: u64,
}

impl LadderStep {
    /// `wait_ms` as a duration.
    pub fn wait(&self) -> Duration {
        Duration::from_millis(self.wait_ms)
    }
}

/// A limit on how many bytes of one stream are delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutputCap {
    /// Bytes delivered at most; 0 is allowed (deliver nothing / kill on the first byte).
    #[schemars(range(max = 9_007_199_254_740_991u64))]
    pub bytes: u64,
    /// What happens at the cap; default `"truncate"`.
    #[serde(default)]
    pub policy: CapPolicy,
}

/// What happens when a stream reaches its cap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CapPolicy {
    /// Keep draining the pipe (so the child never blocks) but drop the bytes
    /// beyond the cap; they are counted in the exit event's `dropped`.
    #[default]
    Truncate,
    /// Terminate the tree as `cancel` does (`reason: "output_cap"`); bytes beyond
    /// the cap are dropped.
    Kill,
}
