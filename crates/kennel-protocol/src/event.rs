//! Events: what the sidecar writes to its stdout, one per line.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::data::{serialize_id_data, Data};
use crate::error::ErrorCode;
use crate::exit::ExitEvent;
use crate::frame::{Framing, MAX_FRAME_PAYLOAD};
use crate::request::{id_data_schema, to_line};
use crate::{DEFAULT_MAX_CHILDREN, DEFAULT_WINDOW_BYTES, MAX_LINE_BYTES, PROTOCOL_VERSION};

/// An event line, tagged by its `event` field.
///
/// Clients must ignore fields they do not know (the sidecar may add fields
/// without a protocol version bump); these types do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// First line the sidecar sends: versions and capabilities.
    Hello(HelloEvent),
    /// A child started.
    Spawned(SpawnedEvent),
    /// Bytes the child's tree wrote to stdout.
    Stdout(OutputChunk),
    /// Bytes the child's tree wrote to stderr.
    Stderr(OutputChunk),
    /// A `write` was fully written to the child's stdin pipe.
    Written(WrittenEvent),
    /// A `close_stdin`, `cancel`, `kill` or `signal` that carried a `req` tag took
    /// effect.
    Ack(AckEvent),
    /// The child's tree is gone and its output drained: the outcome. Last event about the id.
    Exit(ExitEvent),
    /// The reply to `list`.
    List(ListEvent),
    /// A request failed (or a line could not be parsed).
    Error(ErrorEvent),
    /// The last line before the sidecar exits.
    Bye(ByeEvent),
}

impl Event {
    /// The event's `event` name as it appears on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Hello(_) => "hello",
            Event::Spawned(_) => "spawned",
            Event::Stdout(_) => "stdout",
            Event::Stderr(_) => "stderr",
            Event::Written(_) => "written",
            Event::Ack(_) => "ack",
            Event::Exit(_) => "exit",
            Event::List(_) => "list",
            Event::Error(_) => "error",
            Event::Bye(_) => "bye",
        }
    }

    /// The `id` the event concerns, if any.
    pub fn id(&self) -> Option<&str> {
        match self {
            Event::Hello(_) => None,
            Event::Spawned(e) => Some(&e.id),
            Event::Stdout(e) | Event::Stderr(e) => Some(&e.id),
            Event::Written(e) => Some(&e.id),
            Event::Ack(e) => Some(&e.id),
            Event::Exit(e) => Some(&e.id),
            Event::List(e) => Some(&e.id),
            Event::Error(e) => e.id.as_deref(),
            Event::Bye(e) => e.id.as_deref(),
        }
    }

    /// Serializes the event as one protocol line, including the final `\n`.
    pub fn to_line(&self) -> String {
        to_line(self)
    }

    /// Parses one event line (a trailing `\n` is allowed). For clients and tests.
    ///
    /// # Errors
    ///
    /// The line is not JSON, or not a known event with fields of the right types.
    pub fn from_line(line: &[u8]) -> Result<Event, serde_json::Error> {
        serde_json::from_slice(line)
    }
}

/// `hello`: the first event, announcing the protocol and the host's abilities.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HelloEvent {
    /// The protocol version, [`PROTOCOL_VERSION`].
    pub protocol: u32,
    /// The sidecar's kennel version, e.g. `"0.1.0"`.
    pub kennel: String,
    /// The host OS as Rust names it: `"linux"`, `"macos"`, `"windows"`, `"freebsd"`, ….
    pub platform: String,
    /// The containment tiers this host offers, strongest first.
    pub containment: Vec<ContainmentTier>,
    /// The longest request line accepted, in bytes (without the `\n`).
    pub max_line_bytes: u64,
    /// How many children may run at once.
    pub max_children: u64,
    /// The output framings a `spawn` may choose (`json` always; `binary` for
    /// length-prefixed data frames). Absent (read as empty: `json` only) from
    /// sidecars older than framing.
    #[serde(default)]
    pub framings: Vec<Framing>,
    /// The largest payload of one binary data frame, in bytes.
    #[serde(default = "max_frame_bytes")]
    pub max_frame_bytes: u64,
    /// Optional protocol features this sidecar implements (absent from older
    /// sidecars: none). `"flow_control"`: `spawn.window` and `credit`; `"req"`: the
    /// `req` tag and `ack` events; `"cancel_ladder"`: `cancel.ladder`;
    /// `"direct_sockets"`: `"direct"` output streams over the client's socket
    /// (`spawn.direct_socket`) and `eof` (Unix only). Clients must ignore names they
    /// do not know.
    #[serde(default)]
    pub features: Vec<String>,
    /// The window the sidecar recommends for `spawn.window` (chosen by measurement;
    /// see docs/DECISIONS.md). Absent when `flow_control` is not offered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_bytes: Option<u64>,
}

/// The names of [`HelloEvent::features`] this crate's sidecar offers (`direct_sockets`
/// on Unix only).
pub const FEATURES: [&str; 4] = ["flow_control", "req", "cancel_ladder", "direct_sockets"];

fn max_frame_bytes() -> u64 {
    MAX_FRAME_PAYLOAD as u64
}

impl HelloEvent {
    /// A `hello` for this build and host with the protocol defaults for the limits.
    pub fn new(kennel: impl Into<String>, containment: Vec<ContainmentTier>) -> HelloEvent {
        HelloEvent {
            protocol: PROTOCOL_VERSION,
            kennel: kennel.into(),
            platform: std::env::consts::OS.to_owned(),
            containment,
            max_line_bytes: MAX_LINE_BYTES as u64,
            max_children: DEFAULT_MAX_CHILDREN as u64,
            framings: Framing::ALL.to_vec(),
            max_frame_bytes: MAX_FRAME_PAYLOAD as u64,
            features: FEATURES
                .iter()
                // UNIX sockets handed to a child are Unix's: Windows keeps every
                // stream framed.
                .filter(|f| cfg!(unix) || **f != "direct_sockets")
                .map(|f| (*f).to_owned())
                .collect(),
            window_bytes: Some(DEFAULT_WINDOW_BYTES),
        }
    }
}

/// A containment tier: how a child's tree is held together so it can be killed whole.
///
/// Clients must accept names they do not know; new tiers may be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ContainmentTier {
    /// A cgroup v2, killed with `cgroup.kill` (Linux); nothing escapes it.
    Cgroup,
    /// Process group plus the sidecar as child subreaper, sweeping descendants that
    /// left the group (Linux).
    Subreaper,
    /// A process group/session only, killed with `killpg` (Unix).
    Group,
    /// A Job Object with kill-on-close (Windows).
    JobObject,
    /// A PID namespace whose init is the sidecar's keeper (Linux; opt-in): nothing
    /// leaves it, and all of it dies with the init.
    PidNamespace,
}

impl ContainmentTier {
    /// Every tier, strongest Unix tier first, then Windows.
    pub const ALL: [ContainmentTier; 5] = [
        ContainmentTier::PidNamespace,
        ContainmentTier::Cgroup,
        ContainmentTier::Subreaper,
        ContainmentTier::Group,
        ContainmentTier::JobObject,
    ];

    /// The tier's wire name, e.g. `"job_object"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ContainmentTier::Cgroup => "cgroup",
            ContainmentTier::Subreaper => "subreaper",
            ContainmentTier::Group => "group",
            ContainmentTier::JobObject => "job_object",
            ContainmentTier::PidNamespace => "pid_namespace",
        }
    }
}

/// `spawned`: the child started; always before any other event about its id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SpawnedEvent {
    /// The child's id.
    pub id: String,
    /// The leader's process id.
    pub pid: u32,
    /// The strongest containment tier in effect for this child.
    pub containment: ContainmentTier,
}

/// `stdout` / `stderr`: a chunk of output, as `data` (text) or `data_b64`.
///
/// Produce the payloads with a [`Chunker`](crate::Chunker) per stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputChunk {
    /// The child's id.
    pub id: String,
    /// The bytes, exactly as read from the pipe.
    pub data: Data,
}

impl Serialize for OutputChunk {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_id_data(s, "OutputChunk", &self.id, &self.data, None)
    }
}

#[derive(Deserialize)]
struct OutputWire {
    id: String,
    #[serde(default)]
    data: Option<String>,
    #[serde(default)]
    data_b64: Option<String>,
}

impl<'de> Deserialize<'de> for OutputChunk {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = OutputWire::deserialize(d)?;
        let data = Data::from_fields(w.data, w.data_b64).map_err(serde::de::Error::custom)?;
        Ok(OutputChunk { id: w.id, data })
    }
}

impl JsonSchema for OutputChunk {
    fn schema_name() -> Cow<'static, str> {
        "OutputChunk".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        id_data_schema(
            "`stdout`/`stderr`: output bytes; `data` when the chunk is valid UTF-8, else `data_b64`.",
            false,
        )
    }
}

/// `written`: a `write` reached the child's stdin pipe in full.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WrittenEvent {
    /// The child's id.
    pub id: String,
    /// How many bytes the `write` carried.
    pub bytes: u64,
    /// The `write`'s `req` tag, when it had one (omitted otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub req: Option<String>,
}

/// `ack`: a request on a child that carried a `req` tag took effect.
///
/// What "took effect" means per operation: `close_stdin` — the pipe is closed (after
/// the writes before it); `cancel` — the ladder was started (or escalated);
/// `kill` — the forceful rung was ordered; `signal` — the OS accepted the signal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AckEvent {
    /// The child's id.
    pub id: String,
    /// The operation acknowledged.
    pub op: String,
    /// The request's `req` tag.
    pub req: String,
}

/// `list`: the reply to a `list` request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ListEvent {
    /// The `list` request's id.
    pub id: String,
    /// The children the sidecar knows, in spawn order.
    pub children: Vec<ChildInfo>,
}

/// One child in a `list` reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ChildInfo {
    /// The child's id.
    pub id: String,
    /// The leader's process id.
    pub pid: u32,
    /// Whether it is running or already on its way out.
    pub state: ChildState,
}

/// The state of a child in a `list` reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChildState {
    /// Running; no termination started.
    Running,
    /// Being terminated, or exited and draining; its `exit` event is still to come.
    Exiting,
}

/// `error`: a request failed or a line could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, thiserror::Error)]
#[error("{message}")]
pub struct ErrorEvent {
    /// The stable code.
    pub code: ErrorCode,
    /// A human-readable sentence.
    pub message: String,
    /// The request's `id`, when known (omitted otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The request's `op`, when known (omitted otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<String>,
    /// The request's `req` tag, when it had a valid one (omitted otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub req: Option<String>,
}

/// `bye`: the last line before the sidecar exits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ByeEvent {
    /// What started the shutdown.
    pub reason: ByeReason,
    /// The `shutdown` request's id, when it had one (omitted otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// What made the sidecar shut down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ByeReason {
    /// EOF on its stdin.
    Eof,
    /// A `shutdown` request.
    Shutdown,
    /// SIGTERM, SIGINT or SIGHUP (Windows: a console control event).
    Signal,
}
