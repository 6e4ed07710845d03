//! The JSON Schema of the protocol, checked in at `docs/protocol.schema.json`.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema};

use crate::event::Event;
use crate::request::Request;

/// Any line of the protocol: a request (client → sidecar) or an event (sidecar → client).
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)] // only its schema is used
enum ProtocolLine {
    Request(Request),
    Event(Event),
}

/// One JSON Schema (draft 2020-12) document describing every request and event.
///
/// The root accepts any protocol line; `$defs/Request` and `$defs/Event` describe
/// each direction. The schema checks shapes and simple bounds; the rules that
/// need more (e.g. `ladder` not mixed with `signal`) are in `docs/PROTOCOL.md`.
pub fn protocol_schema() -> Schema {
    let mut generator = SchemaSettings::draft2020_12().into_generator();
    let mut schema = generator.root_schema_for::<ProtocolLine>();
    schema.insert(
        "title".to_owned(),
        "kennel sidecar protocol v1 (JSON lines)".into(),
    );
    schema.insert(
        "description".to_owned(),
        "One line of the `kennel serve` protocol: a Request (client to sidecar, tagged by `op`) or an Event (sidecar to client, tagged by `event`). See docs/PROTOCOL.md.".into(),
    );
    schema
}

/// [`protocol_schema`] as pretty-printed JSON with a final newline, exactly as
/// checked in at `docs/protocol.schema.json`.
pub fn protocol_schema_string() -> String {
    let mut s = serde_json::to_string_pretty(&protocol_schema()).unwrap_or_default();
    s.push('\n');
    s
}
