//! Requests: what a client sends to the sidecar, one per line.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Duration;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::data::{serialize_id_data, Data};
use crate::error::{ErrorCode, RequestError};
use crate::event::ContainmentTier;
use crate::frame::Framing;
use crate::signal::Signal;
use crate::{
    DEFAULT_GRACE_MS, DEFAULT_SIGNAL, MAX_ID_BYTES, MAX_LADDER_STEPS, MAX_SAFE_INTEGER,
    MAX_WINDOW_BYTES, MIN_WINDOW_BYTES,
};

/// A request line, tagged by its `op` field.
///
/// Build one with [`parse_request`](crate::parse_request), which validates it
/// and reports precise errors. Deserializing with serde directly checks types
/// only; call [`Request::validate`] afterwards.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "op", rename_all = "snake_case")]
#[non_exhaustive]
// One request per line, moved once: boxing `spawn` would only make matching clumsier.
#[allow(clippy::large_enum_variant)]
pub enum Request {
    /// Start a child; its `id` names it in every later request and event.
    Spawn(SpawnRequest),
    /// Write bytes to the child's stdin; acknowledged by a `written` event.
    Write(WriteRequest),
    /// Close the child's stdin (the child sees EOF).
    CloseStdin(ChildRequest),
    /// Run the child's termination ladder on its whole tree (`reason: "cancelled"`).
    /// A second `cancel` while the ladder runs jumps to the forceful last rung.
    Cancel(CancelRequest),
    /// Kill the child's whole tree at once with the forceful last rung (`reason: "killed"`).
    Kill(ChildRequest),
    /// Send one signal to the child's tree; the child keeps running unless it dies of it.
    Signal(SignalRequest),
    /// Ask for the children the sidecar knows; answered by a `list` event with this `id`.
    List(IdRequest),
    /// Stop every child (ladder), report their exits, send `bye` and exit.
    Shutdown(ShutdownRequest),
    /// Return flow-control credit for one output stream of a child spawned with a
    /// `window`: the sidecar may send `bytes` more of that stream. Never acknowledged.
    Credit(CreditRequest),
}

impl Request {
    /// The `op` names of every request, in documentation order.
    pub const OPS: [&'static str; 9] = [
        "spawn",
        "write",
        "close_stdin",
        "cancel",
        "kill",
        "signal",
        "list",
        "shutdown",
        "credit",
    ];

    /// The request's `op` as it appears on the wire.
    pub fn op(&self) -> &'static str {
        match self {
            Request::Spawn(_) => "spawn",
            Request::Write(_) => "write",
            Request::CloseStdin(_) => "close_stdin",
            Request::Cancel(_) => "cancel",
            Request::Kill(_) => "kill",
            Request::Signal(_) => "signal",
            Request::List(_) => "list",
            Request::Shutdown(_) => "shutdown",
            Request::Credit(_) => "credit",
        }
    }

    /// The request's `id` (only `shutdown` may lack one).
    pub fn id(&self) -> Option<&str> {
        match self {
            Request::Spawn(r) => Some(&r.id),
            Request::Write(r) => Some(&r.id),
            Request::CloseStdin(r) | Request::Kill(r) => Some(&r.id),
            Request::Cancel(r) => Some(&r.id),
            Request::List(r) => Some(&r.id),
            Request::Signal(r) => Some(&r.id),
            Request::Shutdown(r) => r.id.as_deref(),
            Request::Credit(r) => Some(&r.id),
        }
    }

    /// The request's `req` tag, echoed in its acknowledgement or error (only the
    /// operations on a running child carry one).
    pub fn req(&self) -> Option<&str> {
        match self {
            Request::Write(r) => r.req.as_deref(),
            Request::CloseStdin(r) | Request::Kill(r) => r.req.as_deref(),
            Request::Cancel(r) => r.req.as_deref(),
            Request::Signal(r) => r.req.as_deref(),
            Request::Spawn(_) | Request::List(_) | Request::Shutdown(_) | Request::Credit(_) => {
                None
            }
        }
    }

    /// Checks the rules beyond types that [`parse_request`](crate::parse_request)
    /// enforces: non-empty bounded ids, non-empty `cmd`, no NUL bytes in strings
    /// passed to the OS, numbers within [`MAX_SAFE_INTEGER`], `ladder` not mixed
    /// with `signal`/`grace_ms`, caps only on piped streams, and so on.
    ///
    /// # Errors
    ///
    /// `invalid_id` or `invalid_field`, with the request's `op` and (valid) `id`.
    pub fn validate(&self) -> Result<(), RequestError> {
        let op = self.op();
        if let Some(id) = self.id() {
            check_id(id).map_err(|m| RequestError::new(ErrorCode::InvalidId, m).with_op(op))?;
        }
        let result = match self.req().map(check_req) {
            Some(Err(m)) => Err(m),
            _ => match self {
                Request::Spawn(r) => r.validate(),
                Request::Cancel(r) => r.validate(),
                Request::Credit(r) => r.validate(),
                Request::Write(_)
                | Request::CloseStdin(_)
                | Request::Kill(_)
                | Request::Signal(_)
                | Request::List(_)
                | Request::Shutdown(_) => Ok(()),
            },
        };
        result.map_err(|m| {
            let mut e = RequestError::new(ErrorCode::InvalidField, m).with_op(op);
            if let Some(id) = self.id() {
                e = e.with_id(id);
            }
            // A bad `req` is not echoed: the client cannot have meant it.
            match self.req().filter(|r| check_req(r).is_ok()) {
                Some(req) => e.with_req(req),
                None => e,
            }
        })
    }

    /// Serializes the request as one protocol line, including the final `\n`.
    pub fn to_line(&self) -> String {
        to_line(self)
    }
}

/// Serializes a value as one JSON line. Serialization of protocol types cannot
/// fail (string keys, no non-finite floats); an impossible failure yields `{}`.
pub(crate) fn to_line<T: Serialize>(value: &T) -> String {
    let mut line = serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned());
    line.push('\n');
    line
}

/// Checks an id: non-empty and at most [`MAX_ID_BYTES`] bytes.
pub(crate) fn check_id(id: &str) -> Result<(), String> {
    check_short("id", id, "")
}

/// Checks a `req` tag: non-empty and at most [`MAX_ID_BYTES`] bytes.
pub(crate) fn check_req(req: &str) -> Result<(), String> {
    check_short("req", req, "; omit it for no acknowledgement")
}

/// A non-empty string of at most [`MAX_ID_BYTES`] bytes; `hint` ends the empty case.
fn check_short(field: &str, value: &str, hint: &str) -> Result<(), String> {
    if value.is_empty() {
        Err(format!("Field `{field}` must not be empty{hint}."))
    } else if value.len() > MAX_ID_BYTES {
        Err(format!(
            "Field `{field}` is {} bytes long; the limit is {MAX_ID_BYTES}.",
            value.len()
        ))
    } else {
        Ok(())
    }
}

/// `list`: a request that names only itself; the reply carries its `id`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdRequest {
    /// The request's id, echoed in the reply.
    #[schemars(length(min = 1, max = 256))]
    pub id: String,
}

/// A request about one child that carries nothing else: `close_stdin`, `kill`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChildRequest {
    /// The child's id.
    #[schemars(length(min = 1, max = 256))]
    pub id: String,
    /// A tag chosen by the client: when present, success is acknowledged by an `ack`
    /// event carrying it, and an `error` about the request carries it too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub req: Option<String>,
}

impl ChildRequest {
    /// A request about child `id` without a `req` tag.
    pub fn new(id: impl Into<String>) -> ChildRequest {
        ChildRequest {
            id: id.into(),
            req: None,
        }
    }
}

/// `cancel`: run the termination ladder on the child's tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    /// The child's id.
    #[schemars(length(min = 1, max = 256))]
    pub id: String,
    /// A tag echoed in the `ack` (or `error`) answering this request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub req: Option<String>,
    /// A ladder for this cancel instead of the one given at `spawn` (at most 16
    /// rungs; the forceful kill after the last is implicit). Ignored when a ladder is
    /// already running (the cancel then jumps to the forceful rung).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16))]
    pub ladder: Option<Vec<LadderStep>>,
}

impl CancelRequest {
    /// A cancel of child `id` with the spawn's ladder and no `req` tag.
    pub fn new(id: impl Into<String>) -> CancelRequest {
        CancelRequest {
            id: id.into(),
            req: None,
            ladder: None,
        }
    }

    fn validate(&self) -> Result<(), String> {
        if let Some(ladder) = &self.ladder {
            check_ladder(ladder)?;
        }
        Ok(())
    }
}

/// Which output stream of a child a `credit` is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutputStream {
    /// The child's stdout.
    Stdout,
    /// The child's stderr.
    Stderr,
}

/// `credit`: the client consumed `bytes` of a stream; the sidecar may send that many
/// more (see `window` in `spawn`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditRequest {
    /// The child's id.
    #[schemars(length(min = 1, max = 256))]
    pub id: String,
    /// The stream the credit is for.
    pub stream: OutputStream,
    /// How many more bytes the sidecar may send; at least 1, and the stream's
    /// available window may not grow past [`MAX_WINDOW_BYTES`](crate::MAX_WINDOW_BYTES).
    #[schemars(range(min = 1, max = 2_147_483_647u64))]
    pub bytes: u64,
}

impl CreditRequest {
    fn validate(&self) -> Result<(), String> {
        if self.bytes == 0 || self.bytes > MAX_WINDOW_BYTES {
            return Err(format!(
                "Field `bytes` must be 1 to {MAX_WINDOW_BYTES}; got {}.",
                self.bytes
            ));
        }
        Ok(())
    }
}

/// `shutdown`: stop everything and exit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShutdownRequest {
    /// An optional request id, echoed in the `bye` event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub id: Option<String>,
}

/// `signal`: deliver one signal to the child's tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignalRequest {
    /// The child's id.
    #[schemars(length(min = 1, max = 256))]
    pub id: String,
    /// The signal to send.
    pub signal: Signal,
    /// A tag echoed in the `ack` (once the signal was delivered) or `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub req: Option<String>,
}

/// `write`: bytes for the child's stdin, as `data` (text) or `data_b64`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteRequest {
    /// The child's id.
    pub id: String,
    /// The bytes to write (decoded from `data_b64` when sent that way).
    pub data: Data,
    /// A tag echoed in the `written` (or `error`) answering this write.
    pub req: Option<String>,
}

impl Serialize for WriteRequest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_id_data(s, "WriteRequest", &self.id, &self.data, self.req.as_deref())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WriteWire {
    id: String,
    #[serde(default)]
    data: Option<String>,
    #[serde(default)]
    data_b64: Option<String>,
    #[serde(default)]
    req: Option<String>,
}

impl<'de> Deserialize<'de> for WriteRequest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = WriteWire::deserialize(d)?;
        let data = Data::from_fields(w.data, w.data_b64).map_err(serde::de::Error::custom)?;
        Ok(WriteRequest {
            id: w.id,
            data,
            req: w.req,
        })
    }
}

impl JsonSchema for WriteRequest {
    fn schema_name() -> Cow<'static, str> {
        "WriteRequest".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        id_data_schema(
            "`write`: bytes for the child's stdin; exactly one of `data` (UTF-8 text) or `data_b64` (standard base64).",
            true,
        )
    }
}

/// The schema of `{id, data | data_b64}` objects.
pub(crate) fn id_data_schema(description: &str, strict: bool) -> Schema {
    let mut schema = json_schema!({
        "description": description,
        "type": "object",
        "properties": {
            "id": { "type": "string", "minLength": 1, "maxLength": 256 },
            "data": { "type": "string", "description": "The bytes, when they are valid UTF-8." },
            "data_b64": {
                "type": "string",
                "contentEncoding": "base64",
                "description": "The bytes, standard base64 with padding."
            },
            "req": {
                "type": "string",
                "minLength": 1,
                "maxLength": 256,
                "description": "The request's tag, echoed in its answer."
            }
        },
        "required": ["id"],
        "oneOf": [
            { "required": ["data"] },
            { "required": ["data_b64"] }
        ]
    });
    if strict {
        schema.insert("additionalProperties".to_owned(), false.into());
    } else if let Some(props) = schema
        .get_mut("properties")
        .and_then(serde_json::Value::as_object_mut)
    {
        // Output events carry no tag.
        props.remove("req");
    }
    schema
}

/// `spawn`: start a child.
///
/// Defaults: `args` `[]`, `env_clear` false, `stdin` `"null"`, `stdout`/`stderr`
/// `"pipe"`, no timeout, the ladder `[{signal: DEFAULT_SIGNAL, wait_ms:
/// DEFAULT_GRACE_MS}]` then the forceful kill, no caps, the sidecar's drain
/// timeout, leftovers killed, every available containment tier.
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
    #[serde(default)]
    pub args: Vec<String>,
    /// Working directory; default: the sidecar's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Variables set over the inherited (or, with `env_clear`, empty) environment.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Variables removed from the inherited environment (applied before `env`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_remove: Vec<String>,
    /// Start from an empty environment instead of the sidecar's.
    #[serde(default, skip_serializing_if = "is_false")]
    pub env_clear: bool,
    /// Run `cmd` through a shell: `true` for the platform shell (`/bin/sh -c` or
    /// `cmd.exe /C`), a string for that shell program (given `-c` on Unix, `/C` on
    /// Windows). `false` is the same as absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Shell>,
    /// The child's stdin; default `"null"`.
    #[serde(default = "StdioMode::null")]
    pub stdin: StdioMode,
    /// The child's stdout; default `"pipe"` (streamed as `stdout` events).
    #[serde(default = "StdioMode::pipe")]
    pub stdout: StdioMode,
    /// The child's stderr; default `"pipe"` (streamed as `stderr` events).
    #[serde(default = "StdioMode::pipe")]
    pub stderr: StdioMode,
    /// Run the ladder after this many milliseconds (`reason: "timed_out"`); at least 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 9_007_199_254_740_991u64))]
    pub timeout_ms: Option<u64>,
    /// The termination ladder; the forceful kill after its last rung is implicit.
    /// Exclusive with `signal`/`grace_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16))]
    pub ladder: Option<Vec<LadderStep>>,
    /// Shortcut: the first (only) rung's signal; default [`DEFAULT_SIGNAL`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<Signal>,
    /// Shortcut: how long the first rung waits before the forceful kill, in
    /// milliseconds; default [`DEFAULT_GRACE_MS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 9_007_199_254_740_991u64))]
    pub grace_ms: Option<u64>,
    /// Limit on stdout bytes delivered; needs `stdout: "pipe"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout_cap: Option<OutputCap>,
    /// Limit on stderr bytes delivered; needs `stderr: "pipe"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr_cap: Option<OutputCap>,
    /// After the tree is gone, how long to wait for the pipes to reach EOF (a
    /// leaked descendant may hold them) before reporting `drain: "timeout"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 9_007_199_254_740_991u64))]
    pub drain_timeout_ms: Option<u64>,
    /// Leave descendants that outlive the leader running instead of killing them.
    #[serde(default, skip_serializing_if = "is_false")]
    pub keep_leftovers: bool,
    /// Per-tier switches of the containment used for this child.
    #[serde(default, skip_serializing_if = "ContainmentSwitches::is_default")]
    pub containment: ContainmentSwitches,
    /// How this child's output is delivered: `json` events (default) or `binary`
    /// data frames (offered when `hello.framings` lists it).
    #[serde(default, skip_serializing_if = "Framing::is_default")]
    pub framing: Framing,
    /// Per-stream flow control: the sidecar sends at most this many bytes of each
    /// output stream beyond what the client has returned with `credit`, and stops
    /// reading the child's pipe meanwhile. Absent: no flow control (output is only
    /// limited by the connection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1024, max = 2_147_483_647u64))]
    pub window: Option<u64>,
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
        }
    }

    /// The ladder to run, with the shortcuts and defaults applied: `ladder` if
    /// given, else one rung of `signal` (default [`DEFAULT_SIGNAL`]) waiting
    /// `grace_ms` (default [`DEFAULT_GRACE_MS`]). The forceful kill after the
    /// last rung is not included.
    pub fn effective_ladder(&self) -> Vec<LadderStep> {
        match &self.ladder {
            Some(ladder) => ladder.clone(),
            None => vec![LadderStep {
                signal: self.signal.unwrap_or(DEFAULT_SIGNAL),
                wait_ms: self.grace_ms.unwrap_or(DEFAULT_GRACE_MS),
            }],
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

    /// The checks of [`Request::validate`] for `spawn`, except the id; the error
    /// is the message.
    fn validate(&self) -> Result<(), String> {
        no_nul("cmd", &self.cmd)?;
        if self.cmd.is_empty() {
            return Err("Field `cmd` must not be empty.".to_owned());
        }
        for (i, arg) in self.args.iter().enumerate() {
            no_nul(&format!("args[{i}]"), arg)?;
        }
        if let Some(cwd) = &self.cwd {
            if cwd.is_empty() {
                return Err("Field `cwd` must not be empty; omit it to inherit.".to_owned());
            }
            no_nul("cwd", cwd)?;
        }
        for (key, value) in &self.env {
            check_env_key(&format!("env.{key}"), key)?;
            no_nul(&format!("env.{key}"), value)?;
        }
        for (i, key) in self.env_remove.iter().enumerate() {
            check_env_key(&format!("env_remove[{i}]"), key)?;
        }
        if let Some(shell) = &self.shell {
            if let Shell::Path(path) = shell {
                if path.is_empty() {
                    return Err("Field `shell` must be a boolean or a non-empty path.".to_owned());
                }
                no_nul("shell", path)?;
            }
            if shell.is_enabled() && !self.args.is_empty() {
                return Err(
                    "Field `args` must be empty when `shell` is set; put the arguments in `cmd`."
                        .to_owned(),
                );
            }
        }
        if self.timeout_ms == Some(0) {
            return Err(
                "Field `timeout_ms` must be at least 1; omit it for no timeout.".to_owned(),
            );
        }
        check_max("timeout_ms", self.timeout_ms)?;
        check_max("grace_ms", self.grace_ms)?;
        check_max("drain_timeout_ms", self.drain_timeout_ms)?;
        if let Some(ladder) = &self.ladder {
            if self.signal.is_some() || self.grace_ms.is_some() {
                return Err(
                    "Field `ladder` cannot be combined with the `signal`/`grace_ms` shortcuts."
                        .to_owned(),
                );
            }
            check_ladder(ladder)?;
        }
        if let Some(window) = self.window {
            if !(MIN_WINDOW_BYTES..=MAX_WINDOW_BYTES).contains(&window) {
                return Err(format!(
                    "Field `window` must be {MIN_WINDOW_BYTES} to {MAX_WINDOW_BYTES} bytes; got {window}."
                ));
            }
        }
        for (name, cap, mode) in [
            ("stdout_cap", &self.stdout_cap, self.stdout),
            ("stderr_cap", &self.stderr_cap, self.stderr),
        ] {
            if let Some(cap) = cap {
                check_max(&format!("{name}.bytes"), Some(cap.bytes))?;
                if mode != StdioMode::Pipe {
                    let stream = &name[..6];
                    return Err(format!("Field `{name}` needs `{stream}` to be \"pipe\"."));
                }
            }
        }
        Ok(())
    }
}

fn check_ladder(ladder: &[LadderStep]) -> Result<(), String> {
    if ladder.len() > MAX_LADDER_STEPS {
        return Err(format!(
            "Field `ladder` has {} rungs; the limit is {MAX_LADDER_STEPS}.",
            ladder.len()
        ));
    }
    for (i, step) in ladder.iter().enumerate() {
        check_max(&format!("ladder[{i}].wait_ms"), Some(step.wait_ms))?;
    }
    Ok(())
}

fn no_nul(field: &str, value: &str) -> Result<(), String> {
    if value.contains('\0') {
        Err(format!("Field `{field}` must not contain a NUL character."))
    } else {
        Ok(())
    }
}

fn check_env_key(field: &str, key: &str) -> Result<(), String> {
    if key.is_empty() || key.contains('=') || key.contains('\0') {
        Err(format!(
            "Field `{field}` must be a non-empty variable name without `=` or NUL."
        ))
    } else {
        Ok(())
    }
}

fn check_max(field: &str, value: Option<u64>) -> Result<(), String> {
    match value {
        Some(v) if v > MAX_SAFE_INTEGER => Err(format!(
            "Field `{field}` is {v}; the largest accepted value is {MAX_SAFE_INTEGER}."
        )),
        _ => Ok(()),
    }
}

/// The `shell` field of `spawn`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Shell {
    /// `true`: use the platform shell; `false`: no shell.
    Enabled(bool),
    /// Use this shell program.
    Path(String),
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
}

impl StdioMode {
    fn null() -> StdioMode {
        StdioMode::Null
    }

    fn pipe() -> StdioMode {
        StdioMode::Pipe
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

/// Per-tier containment switches of `spawn`: absent uses the tier when the host
/// offers it, `false` avoids it, `true` requires it (the spawn fails with
/// `unsupported` when the host does not offer it). Unknown tier names are
/// rejected with `unknown_field`; new tiers become new optional fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ContainmentSwitches {
    /// A cgroup v2 with `cgroup.kill` (Linux).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<bool>,
    /// The sidecar as child subreaper, sweeping escaped descendants (Linux).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subreaper: Option<bool>,
    /// A new process group/session per child (Unix).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<bool>,
    /// A Job Object with kill-on-close (Windows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_object: Option<bool>,
}

impl ContainmentSwitches {
    /// The field names, i.e. the tier names a switch can name.
    pub const FIELDS: [&'static str; 4] = ["cgroup", "subreaper", "group", "job_object"];

    /// Whether no switch is set.
    pub fn is_default(&self) -> bool {
        *self == ContainmentSwitches::default()
    }

    /// The switch for a tier: `None` use if available, `Some(false)` avoid,
    /// `Some(true)` require.
    pub fn get(&self, tier: ContainmentTier) -> Option<bool> {
        match tier {
            ContainmentTier::Cgroup => self.cgroup,
            ContainmentTier::Subreaper => self.subreaper,
            ContainmentTier::Group => self.group,
            ContainmentTier::JobObject => self.job_object,
        }
    }

    /// Sets the switch for a tier.
    pub fn set(&mut self, tier: ContainmentTier, switch: Option<bool>) {
        match tier {
            ContainmentTier::Cgroup => self.cgroup = switch,
            ContainmentTier::Subreaper => self.subreaper = switch,
            ContainmentTier::Group => self.group = switch,
            ContainmentTier::JobObject => self.job_object = switch,
        }
    }
}
