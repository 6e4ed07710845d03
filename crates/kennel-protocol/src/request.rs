//! Requests: what a client sends to the sidecar, one per line.

use std::borrow::Cow;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::data::{serialize_id_data, Data};
use crate::signal::Signal;
use crate::spawn::{LadderStep, SpawnRequest};
use crate::wire;

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
    /// The client read one of the child's `"direct"` streams to EOF: the drain stops
    /// waiting for it (as for a pipe's EOF). Feature `direct_sockets`.
    Eof(EofRequest),
}

impl Request {
    /// The `op` names of every request, in documentation order.
    pub const OPS: [&'static str; 10] = [
        "spawn",
        "write",
        "close_stdin",
        "cancel",
        "kill",
        "signal",
        "list",
        "shutdown",
        "credit",
        "eof",
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
            Request::Eof(_) => "eof",
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
            Request::Eof(r) => Some(&r.id),
        }
    }

    /// The request's `req` tag, echoed in its acknowledgement or error (only the
    /// operations on a running child carry one).
    pub fn req(&self) -> Option<&str> {
        match self {
            Request::Write(r) => r.req.as_deref(),
            Request::CloseStdin(r) | Request::Kill(r) => r.req.as_deref(),
            Request::Eof(r) => r.req.as_deref(),
            Request::Cancel(r) => r.req.as_deref(),
            Request::Signal(r) => r.req.as_deref(),
            Request::Spawn(_) | Request::List(_) | Request::Shutdown(_) | Request::Credit(_) => {
                None
            }
        }
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
    #[serde(
        default,
        deserialize_with = "wire::objects",
        skip_serializing_if = "Option::is_none"
    )]
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
}

/// Which output stream of a child a `credit` or an `eof` is for.
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

/// `eof`: the client read a `"direct"` stream of the child to EOF (no process of the
/// tree holds it any more); the drain no longer waits for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EofRequest {
    /// The child's id.
    #[schemars(length(min = 1, max = 256))]
    pub id: String,
    /// The direct stream that reached EOF.
    pub stream: OutputStream,
    /// A tag echoed in the `ack` (or `error`) answering this request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub req: Option<String>,
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
