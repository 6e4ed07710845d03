//! `"direct"` output streams and `attach` (feature `direct_streams`).

use kennel_protocol::*;

fn invalid(line: &str, field: &str) {
    let e = parse_request(line.as_bytes()).expect_err(line);
    assert_eq!(e.code, ErrorCode::InvalidField, "{line}: {}", e.message);
    assert_eq!(e.id.as_deref(), Some("a1"), "{line}");
    assert!(
        e.message.contains(&format!("`{field}`")),
        "{line}: message should name `{field}`: {}",
        e.message
    );
}

#[test]
fn a_spawn_may_ask_for_direct_output_streams() {
    let line =
        r#"{"op":"spawn","id":"a1","cmd":"yes","stdout":"direct","stderr":"direct","window":4096}"#;
    let Ok(Request::Spawn(r)) = parse_request(line.as_bytes()) else {
        panic!("not a spawn: {line}")
    };
    assert_eq!((r.stdout, r.stderr), (StdioMode::Direct, StdioMode::Direct));
    let again = Request::Spawn(r.clone()).to_line();
    assert_eq!(
        parse_request(again.trim_end().as_bytes()),
        Ok(Request::Spawn(r))
    );
}

#[test]
fn direct_refuses_what_would_need_the_bytes_or_hold_the_fifo() {
    let s = r#"{"op":"spawn","id":"a1","cmd":"yes","#;
    invalid(&format!(r#"{s}"stdin":"direct"}}"#), "stdin");
    invalid(
        &format!(r#"{s}"stdout":"direct","stdout_cap":{{"bytes":1}}}}"#),
        "stdout_cap",
    );
    invalid(
        &format!(r#"{s}"stderr":"direct","stderr_cap":{{"bytes":1}}}}"#),
        "stderr_cap",
    );
    invalid(
        &format!(r#"{s}"stdout":"direct","framing":"binary"}}"#),
        "framing",
    );
    invalid(
        &format!(r#"{s}"stderr":"direct","keep_leftovers":true}}"#),
        "keep_leftovers",
    );
}

#[test]
fn attach_names_the_child_and_carries_a_tag() {
    let line = r#"{"op":"attach","id":"a1","req":"r1"}"#;
    let r = parse_request(line.as_bytes()).unwrap();
    assert_eq!(r.op(), "attach");
    assert_eq!((r.id(), r.req()), (Some("a1"), Some("r1")));
    assert_eq!(r.to_line().trim_end(), line);
    let e = parse_request(br#"{"op":"attach","id":"a1","stream":"stdout"}"#).unwrap_err();
    assert_eq!(e.code, ErrorCode::UnknownField);
}

#[test]
fn the_sidecar_offers_direct_streams() {
    assert!(FEATURES.contains(&"direct_streams"));
}
