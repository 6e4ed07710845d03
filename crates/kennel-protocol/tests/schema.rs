//! The checked-in schema must match the generated one.

use std::path::PathBuf;

fn schema_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/protocol.schema.json")
}

#[test]
fn checked_in_schema_is_current() {
    let generated = kennel_protocol::protocol_schema_string();
    let path = schema_path();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).expect("write docs/protocol.schema.json");
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "docs/protocol.schema.json is out of date with the protocol types.\n\
         Regenerate it with: UPDATE_SCHEMA=1 cargo test -p kennel-protocol --test schema\n\
         then review and commit the diff."
    );
}

#[test]
fn schema_names_every_op_and_event() {
    let text = kennel_protocol::protocol_schema_string();
    for op in kennel_protocol::Request::OPS {
        assert!(
            text.contains(&format!("\"const\": \"{op}\"")),
            "op {op} missing"
        );
    }
    for event in [
        "hello", "spawned", "stdout", "stderr", "written", "ack", "exit", "list", "error", "bye",
    ] {
        assert!(
            text.contains(&format!("\"const\": \"{event}\"")),
            "event {event} missing"
        );
    }
    for code in kennel_protocol::ErrorCode::ALL {
        assert!(text.contains(&format!("\"{code}\"")), "code {code} missing");
    }
}
