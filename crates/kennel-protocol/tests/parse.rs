//! `parse_request`: one test per error code it produces, defaults, and validation.

use kennel_protocol::*;

fn err(line: &str) -> RequestError {
    match parse_request(line.as_bytes()) {
        Ok(r) => panic!("expected an error for {line}, got {r:?}"),
        Err(e) => {
            assert_sentence(&e.message);
            e
        }
    }
}

fn assert_sentence(message: &str) {
    let first = message.chars().next().expect("non-empty message");
    assert!(
        first.is_uppercase(),
        "message should start a sentence: {message}"
    );
    assert!(
        message.ends_with('.'),
        "message should end with a period: {message}"
    );
}

fn assert_err(line: &str, code: ErrorCode, id: Option<&str>, op: Option<&str>) -> RequestError {
    let e = err(line);
    assert_eq!(e.code, code, "{line}: {}", e.message);
    assert_eq!(e.id.as_deref(), id, "{line}: id");
    assert_eq!(e.op.as_deref(), op, "{line}: op");
    e
}

fn ok(line: &str) -> Request {
    let parsed = parse_request(line.as_bytes()).unwrap_or_else(|e| panic!("{line}: {e}"));
    // serde's own path agrees with the validating parser on valid input.
    let via_serde: Request = serde_json::from_str(line).expect("serde parses a valid request");
    assert_eq!(parsed, via_serde, "{line}");
    parsed
}

#[test]
fn invalid_json() {
    let e = assert_err(
        r#"{"op":"spawn","id":"a1""#,
        ErrorCode::InvalidJson,
        None,
        None,
    );
    assert!(e.message.contains("JSON"));
    assert_err("", ErrorCode::InvalidJson, None, None);
    assert_err(
        "{\"op\":\"list\",\"id\":\"\u{1}\"} trailing",
        ErrorCode::InvalidJson,
        None,
        None,
    );
    // Invalid UTF-8 inside a string.
    let e = parse_request(b"{\"op\":\"list\",\"id\":\"\xff\"}").unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidJson);
}

#[test]
fn not_an_object() {
    let e = assert_err(r#"["op","spawn"]"#, ErrorCode::NotAnObject, None, None);
    assert!(e.message.contains("an array"), "{}", e.message);
    assert_err("42", ErrorCode::NotAnObject, None, None);
    assert_err("null", ErrorCode::NotAnObject, None, None);
    assert_err(r#""spawn""#, ErrorCode::NotAnObject, None, None);
}

#[test]
fn missing_op() {
    assert_err(
        r#"{"id":"a1","cmd":"ls"}"#,
        ErrorCode::MissingOp,
        Some("a1"),
        None,
    );
    assert_err(
        r#"{"op":null,"id":"a1"}"#,
        ErrorCode::MissingOp,
        Some("a1"),
        None,
    );
}

#[test]
fn op_of_wrong_type_is_invalid_field() {
    let e = assert_err(
        r#"{"op":7,"id":"a1"}"#,
        ErrorCode::InvalidField,
        Some("a1"),
        None,
    );
    assert!(e.message.contains("`op`"));
}

#[test]
fn unknown_op() {
    let e = assert_err(
        r#"{"op":"spwan","id":"a1"}"#,
        ErrorCode::UnknownOp,
        Some("a1"),
        Some("spwan"),
    );
    assert!(
        e.message.contains("spawn"),
        "lists the known ops: {}",
        e.message
    );
    // A huge op is not echoed back.
    let long = "x".repeat(1000);
    assert_err(
        &format!(r#"{{"op":"{long}"}}"#),
        ErrorCode::UnknownOp,
        None,
        None,
    );
}

#[test]
fn missing_id() {
    // Every operation but `shutdown` needs an id.
    for op in Request::OPS.into_iter().filter(|&op| op != "shutdown") {
        assert_err(
            &format!(r#"{{"op":"{op}"}}"#),
            ErrorCode::MissingId,
            None,
            Some(op),
        );
    }
    assert_err(
        r#"{"op":"kill","id":null}"#,
        ErrorCode::MissingId,
        None,
        Some("kill"),
    );
}

#[test]
fn invalid_id() {
    assert_err(
        r#"{"op":"kill","id":""}"#,
        ErrorCode::InvalidId,
        None,
        Some("kill"),
    );
    assert_err(
        r#"{"op":"kill","id":5}"#,
        ErrorCode::InvalidId,
        None,
        Some("kill"),
    );
    assert_err(
        r#"{"op":"shutdown","id":[]}"#,
        ErrorCode::InvalidId,
        None,
        Some("shutdown"),
    );
    let long = "i".repeat(MAX_ID_BYTES + 1);
    assert_err(
        &format!(r#"{{"op":"cancel","id":"{long}"}}"#),
        ErrorCode::InvalidId,
        None,
        Some("cancel"),
    );
    let longest = "i".repeat(MAX_ID_BYTES);
    ok(&format!(r#"{{"op":"cancel","id":"{longest}"}}"#));
}

#[test]
fn unknown_field() {
    let e = assert_err(
        r#"{"op":"spawn","id":"a1","cmd":"ls","timout_ms":5}"#,
        ErrorCode::UnknownField,
        Some("a1"),
        Some("spawn"),
    );
    assert!(
        e.message.contains("`timout_ms`") && e.message.contains("timeout_ms"),
        "{}",
        e.message
    );
    assert_err(
        r#"{"op":"kill","id":"a1","signal":"KILL"}"#,
        ErrorCode::UnknownField,
        Some("a1"),
        Some("kill"),
    );
    // Nested objects are checked too.
    for (line, field) in [
        (
            r#"{"op":"spawn","id":"a1","cmd":"ls","stdout_cap":{"byte":1}}"#,
            "stdout_cap.byte",
        ),
        (
            r#"{"op":"spawn","id":"a1","cmd":"ls","ladder":[{"signal":"TERM","wait_ms":1,"x":1}]}"#,
            "ladder[0].x",
        ),
        (
            r#"{"op":"spawn","id":"a1","cmd":"ls","containment":{"pidns":false}}"#,
            "containment.pidns",
        ),
    ] {
        let e = assert_err(line, ErrorCode::UnknownField, Some("a1"), Some("spawn"));
        assert!(e.message.contains(&format!("`{field}`")), "{}", e.message);
    }
}

#[test]
fn line_too_long() {
    let data = "a".repeat(MAX_LINE_BYTES);
    let line = format!(r#"{{"op":"write","id":"a1","data":"{data}"}}"#);
    let e = parse_request(line.as_bytes()).unwrap_err();
    assert_eq!(e.code, ErrorCode::LineTooLong);
    assert_sentence(&e.message);
    // Exactly at the limit is fine, `\n` and `\r\n` not counted.
    let pad = MAX_LINE_BYTES - r#"{"op":"write","id":"a1","data":""}"#.len();
    let line = format!(
        "{{\"op\":\"write\",\"id\":\"a1\",\"data\":\"{}\"}}\r\n",
        "a".repeat(pad)
    );
    assert!(parse_request(line.as_bytes()).is_ok());
}

fn field_err(line: &str, field: &str) {
    let e = err(line);
    assert_eq!(e.code, ErrorCode::InvalidField, "{line}: {}", e.message);
    assert_eq!(e.id.as_deref(), Some("a1"), "{line}");
    assert!(e.op.is_some());
    assert!(
        e.message.contains(&format!("`{field}`")),
        "{line}: message should name `{field}`: {}",
        e.message
    );
}

#[test]
fn invalid_field() {
    // The field each bad request names, by request: spawn …
    let s = r#"{"op":"spawn","id":"a1","#;
    let rungs = vec![r#"{"signal":"TERM","wait_ms":1}"#; MAX_LADDER_STEPS + 1].join(",");
    let too_many_rungs = format!(r#""cmd":"ls","ladder":[{rungs}]}}"#);
    for (rest, field) in [
        (r#""args":["x"]}"#, "cmd"),
        (r#""cmd":""}"#, "cmd"),
        (r#""cmd":5}"#, "cmd"),
        (r#""cmd":"a\u0000b"}"#, "cmd"),
        (r#""cmd":"ls","args":"-l"}"#, "args"),
        (r#""cmd":"ls","args":[1]}"#, "args[0]"),
        (r#""cmd":"ls","cwd":""}"#, "cwd"),
        (r#""cmd":"ls","env":{"A":1}}"#, "env.A"),
        (r#""cmd":"ls","env":{"A=B":"1"}}"#, "env.A=B"),
        (r#""cmd":"ls","env":{"":"1"}}"#, "env."),
        (r#""cmd":"ls","env_remove":[""]}"#, "env_remove[0]"),
        (r#""cmd":"ls","env_clear":"yes"}"#, "env_clear"),
        (r#""cmd":"ls","shell":""}"#, "shell"),
        (r#""cmd":"ls","shell":3}"#, "shell"),
        (r#""cmd":"ls","shell":true,"args":["x"]}"#, "args"),
        (r#""cmd":"ls","stdin":"inherit"}"#, "stdin"),
        (r#""cmd":"ls","stdout":"file"}"#, "stdout"),
        (r#""cmd":"ls","timeout_ms":-1}"#, "timeout_ms"),
        (r#""cmd":"ls","timeout_ms":1.5}"#, "timeout_ms"),
        (r#""cmd":"ls","timeout_ms":0}"#, "timeout_ms"),
        (r#""cmd":"ls","timeout_ms":"5"}"#, "timeout_ms"),
        (
            r#""cmd":"ls","timeout_ms":18446744073709551616}"#,
            "timeout_ms",
        ),
        (r#""cmd":"ls","timeout_ms":9007199254740992}"#, "timeout_ms"),
        (r#""cmd":"ls","grace_ms":-5}"#, "grace_ms"),
        (r#""cmd":"ls","drain_timeout_ms":true}"#, "drain_timeout_ms"),
        (r#""cmd":"ls","signal":"SIGFOO"}"#, "signal"),
        (r#""cmd":"ls","signal":0}"#, "signal"),
        (r#""cmd":"ls","signal":65}"#, "signal"),
        (r#""cmd":"ls","ladder":{}}"#, "ladder"),
        (
            r#""cmd":"ls","ladder":[{"signal":"TERM"}]}"#,
            "ladder[0].wait_ms",
        ),
        (r#""cmd":"ls","ladder":[],"signal":"INT"}"#, "ladder"),
        (r#""cmd":"ls","ladder":[],"grace_ms":1}"#, "ladder"),
        (too_many_rungs.as_str(), "ladder"),
        (
            r#""cmd":"ls","ladder":[{"signal":"TERM","wait_ms":9007199254740992}]}"#,
            "ladder[0].wait_ms",
        ),
        (
            r#""cmd":"ls","stdout_cap":{"bytes":-1}}"#,
            "stdout_cap.bytes",
        ),
        (
            r#""cmd":"ls","stdout_cap":{"policy":"kill"}}"#,
            "stdout_cap.bytes",
        ),
        (
            r#""cmd":"ls","stderr_cap":{"bytes":1,"policy":"drop"}}"#,
            "stderr_cap.policy",
        ),
        (
            r#""cmd":"ls","stderr":"null","stderr_cap":{"bytes":1}}"#,
            "stderr_cap",
        ),
        (r#""cmd":"ls","keep_leftovers":1}"#, "keep_leftovers"),
        (r#""cmd":"ls","framing":"msgpack"}"#, "framing"),
        (
            r#""cmd":"ls","containment":{"cgroup":"no"}}"#,
            "containment.cgroup",
        ),
        (r#""cmd":"ls","containment":[]}"#, "containment"),
        (r#""cmd":"ls","stdout_cap":[1,"kill"]}"#, "stdout_cap"),
        (r#""cmd":"ls","ladder":[["TERM",1]]}"#, "ladder[0]"),
    ] {
        field_err(&format!("{s}{rest}"), field);
    }
    // … write …
    let w = r#"{"op":"write","id":"a1""#;
    for (rest, field) in [
        ("}", "data"),
        (r#","data":"x","data_b64":"eA=="}"#, "data_b64"),
        (r#","data_b64":"not base64!"}"#, "data_b64"),
        (r#","data":5}"#, "data"),
    ] {
        field_err(&format!("{w}{rest}"), field);
    }
    // … and signal.
    for line in [
        r#"{"op":"signal","id":"a1"}"#,
        r#"{"op":"signal","id":"a1","signal":"SIGNOPE"}"#,
        r#"{"op":"signal","id":"a1","signal":-9}"#,
        r#"{"op":"signal","id":"a1","signal":2.0}"#,
    ] {
        field_err(line, "signal");
    }
}

#[test]
fn invalid_field_messages_say_what_was_expected_and_what_came() {
    let s = r#"{"op":"spawn","id":"a1","cmd":"ls","#;
    for (rest, message) in [
        (
            r#""timeout_ms":"5"}"#,
            r#"Field `timeout_ms` must be a non-negative integer; got string "5"."#,
        ),
        (
            r#""stdin":"inherit"}"#,
            "Field `stdin` must be one of `pipe`, `null`, `direct`; got `inherit`.",
        ),
        (
            r#""shell":3}"#,
            "Field `shell` must be a boolean or a string (the shell program); got integer `3`.",
        ),
        (
            r#""ladder":[{"signal":"TERM"}]}"#,
            "Field `ladder[0].wait_ms` is required.",
        ),
        (
            r#""containment":[]}"#,
            "Field `containment` must be an object; got an array.",
        ),
    ] {
        assert_eq!(err(&format!("{s}{rest}")).message, message);
    }
    let e = err(r#"{"op":"signal","id":"a1","signal":"SIGNOPE"}"#);
    assert!(
        e.message.contains("a signal name") && e.message.contains("\"SIGNOPE\""),
        "{}",
        e.message
    );
}

#[test]
fn spawn_defaults() {
    let Request::Spawn(r) = ok(r#"{"op":"spawn","id":"a1","cmd":"make"}"#) else {
        panic!("not a spawn")
    };
    assert_eq!(r, SpawnRequest::new("a1", "make"));
    assert!(r.args.is_empty());
    assert_eq!(r.cwd, None);
    assert!(r.env.is_empty() && r.env_remove.is_empty() && !r.env_clear);
    assert_eq!(r.shell, None);
    assert_eq!(
        (r.stdin, r.stdout, r.stderr),
        (StdioMode::Null, StdioMode::Pipe, StdioMode::Pipe)
    );
    assert_eq!(r.timeout_ms, None);
    // No ladder and no shortcut: the sidecar's default ladder.
    assert_eq!((&r.ladder, r.signal, r.grace_ms), (&None, None, None));
    assert_eq!(
        (r.stdout_cap, r.stderr_cap, r.drain_timeout_ms),
        (None, None, None)
    );
    assert!(!r.keep_leftovers);
    assert!(r.containment.is_default());
    assert_eq!(r.framing, Framing::Json);
    // `null` is the same as absent.
    let nulls = r#"{"op":"spawn","id":"a1","cmd":"make","args":null,"cwd":null,"env":null,"shell":null,"stdin":null,"timeout_ms":null,"containment":null,"framing":null}"#;
    assert_eq!(parse_request(nulls.as_bytes()).unwrap(), Request::Spawn(r));
}

#[test]
fn spawn_everything() {
    let line = r#"{"op":"spawn","id":"a1","cmd":"cargo","args":["test","--","x"],"cwd":"/tmp","env":{"RUST_LOG":"debug"},"env_remove":["HOME"],"env_clear":true,"stdin":"pipe","stdout":"pipe","stderr":"null","timeout_ms":60000,"ladder":[{"signal":"SIGINT","wait_ms":2000},{"signal":15,"wait_ms":0}],"stdout_cap":{"bytes":0,"policy":"kill"},"drain_timeout_ms":0,"keep_leftovers":true,"containment":{"cgroup":false,"job_object":true},"framing":"binary"}"#;
    let Request::Spawn(r) = ok(line) else {
        panic!("not a spawn")
    };
    assert_eq!(r.args, ["test", "--", "x"]);
    assert_eq!(r.env.get("RUST_LOG").map(String::as_str), Some("debug"));
    assert_eq!(r.stdin, StdioMode::Pipe);
    assert_eq!(r.stderr, StdioMode::Null);
    assert_eq!(r.timeout(), Some(std::time::Duration::from_secs(60)));
    assert_eq!(
        r.ladder,
        Some(vec![
            LadderStep {
                signal: Signal::Int,
                wait_ms: 2000
            },
            LadderStep {
                signal: Signal::Number(15),
                wait_ms: 0
            }
        ])
    );
    assert_eq!(
        r.stdout_cap,
        Some(OutputCap {
            bytes: 0,
            policy: CapPolicy::Kill
        })
    );
    assert_eq!(r.containment.get(ContainmentTier::Cgroup), Some(false));
    assert_eq!(r.containment.get(ContainmentTier::JobObject), Some(true));
    assert_eq!(r.containment.get(ContainmentTier::Group), None);
    assert_eq!(r.framing, Framing::Binary);
    // The shortcut form and a shell.
    let Request::Spawn(r) = ok(
        r#"{"op":"spawn","id":"b","cmd":"echo $HOME","shell":true,"signal":"int","grace_ms":100,"stderr_cap":{"bytes":10}}"#,
    ) else {
        panic!("not a spawn")
    };
    assert_eq!((r.signal, r.grace_ms), (Some(Signal::Int), Some(100)));
    assert_eq!(
        r.stderr_cap,
        Some(OutputCap {
            bytes: 10,
            policy: CapPolicy::Truncate
        })
    );
    assert!(r.shell.as_ref().is_some_and(Shell::is_enabled));
    let Request::Spawn(r) =
        ok(r#"{"op":"spawn","id":"b","cmd":"ls","shell":false,"args":["-l"],"grace_ms":7}"#)
    else {
        panic!("not a spawn")
    };
    assert_eq!((r.signal, r.grace_ms), (None, Some(7)));
    let Request::Spawn(r) =
        ok(r#"{"op":"spawn","id":"b","cmd":"dir","shell":"C:\\Windows\\cmd.exe"}"#)
    else {
        panic!("not a spawn")
    };
    assert_eq!(
        r.shell.as_ref().and_then(Shell::path),
        Some("C:\\Windows\\cmd.exe")
    );
}

#[test]
fn other_ops() {
    assert_eq!(
        ok(r#"{"op":"write","id":"a1","data":"héllo\n"}"#),
        Request::Write(WriteRequest {
            id: "a1".into(),
            data: Data::Text("héllo\n".into()),
            req: None,
        })
    );
    assert_eq!(
        ok(r#"{"op":"write","id":"a1","data_b64":"/wA="}"#),
        Request::Write(WriteRequest {
            id: "a1".into(),
            data: Data::Binary(vec![0xFF, 0]),
            req: None,
        })
    );
    assert_eq!(ok(r#"{"op":"write","id":"a1","data":""}"#).id(), Some("a1"));
    assert_eq!(
        ok(r#"{"op":"close_stdin","id":"a1"}"#),
        Request::CloseStdin(ChildRequest::new("a1"))
    );
    assert_eq!(
        ok(r#"{"op":"cancel","id":"a1"}"#),
        Request::Cancel(CancelRequest::new("a1"))
    );
    assert_eq!(
        ok(r#"{"op":"kill","id":"a1"}"#),
        Request::Kill(ChildRequest::new("a1"))
    );
    assert_eq!(
        ok(r#"{"op":"list","id":"q"}"#),
        Request::List(IdRequest { id: "q".into() })
    );
    for (text, signal) in [
        ("\"SIGINT\"", Signal::Int),
        ("\"INT\"", Signal::Int),
        ("\"hup\"", Signal::Hup),
        ("9", Signal::Number(9)),
    ] {
        assert_eq!(
            ok(&format!(r#"{{"op":"signal","id":"a1","signal":{text}}}"#)),
            Request::Signal(SignalRequest {
                id: "a1".into(),
                signal,
                req: None,
            })
        );
    }
    assert_eq!(
        ok(r#"{"op":"shutdown"}"#),
        Request::Shutdown(ShutdownRequest { id: None })
    );
    assert_eq!(ok(r#"{"op":"shutdown","id":"s"}"#).id(), Some("s"));
    // Trailing newline and whitespace are fine.
    assert!(parse_request(b"  {\"op\":\"kill\",\"id\":\"a1\"}  \n").is_ok());
}

#[test]
fn requests_round_trip_through_their_lines() {
    let lines = [
        r#"{"op":"spawn","id":"a1","cmd":"make -j4","env":{"A":"1"},"shell":"/bin/bash","ladder":[{"signal":"SIGTERM","wait_ms":5}],"containment":{"cgroup":false}}"#,
        r#"{"op":"write","id":"a1","data_b64":"AAEC"}"#,
        r#"{"op":"write","id":"a1","data":"x"}"#,
        r#"{"op":"signal","id":"a1","signal":"SIGUSR1"}"#,
        r#"{"op":"signal","id":"a1","signal":12}"#,
        r#"{"op":"shutdown"}"#,
    ];
    for line in lines {
        let request = ok(line);
        let again = parse_request(request.to_line().as_bytes()).expect("re-parses");
        assert_eq!(request, again, "{line}");
    }
}

#[test]
fn error_events_carry_id_and_op() {
    let e = err(r#"{"op":"spawn","id":"a1","cmd":""}"#);
    let line = e.to_event().to_line();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["event"], "error");
    assert_eq!(v["code"], "invalid_field");
    assert_eq!(v["id"], "a1");
    assert_eq!(v["op"], "spawn");
    // Unknown id/op are omitted, not null.
    let line = err("[]").to_event().to_line();
    assert!(
        !line.contains("\"id\"") && !line.contains("\"op\""),
        "{line}"
    );
}

#[test]
fn error_codes_are_stable_strings() {
    for code in ErrorCode::ALL {
        assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        let back: ErrorCode = serde_json::from_value(code.as_str().into()).unwrap();
        assert_eq!(back, code);
    }
}

#[test]
fn signal_names() {
    for (signal, name) in Signal::named() {
        assert_eq!(Signal::from_name(name), Some(signal));
        assert_eq!(Signal::from_name(&name[3..]), Some(signal));
        assert_eq!(Signal::from_name(&name.to_lowercase()), Some(signal));
        assert_eq!(signal.name(), Some(name));
        assert_eq!(serde_json::to_value(signal).unwrap(), name);
    }
    assert_eq!(Signal::from_name("SIG"), None);
    assert_eq!(Signal::from_name(""), None);
    assert_eq!(Signal::from_name("é"), None);
    assert_eq!(serde_json::to_value(Signal::Number(34)).unwrap(), 34);
}

#[test]
fn req_tags_flow_control_and_cancel_ladder() {
    assert_eq!(
        ok(r#"{"op":"kill","id":"a1","req":"r1"}"#),
        Request::Kill(ChildRequest {
            id: "a1".into(),
            req: Some("r1".into())
        })
    );
    assert_eq!(
        ok(r#"{"op":"cancel","id":"a1","req":"r2","ladder":[{"signal":"INT","wait_ms":10}]}"#),
        Request::Cancel(CancelRequest {
            id: "a1".into(),
            req: Some("r2".into()),
            ladder: Some(vec![LadderStep {
                signal: Signal::Int,
                wait_ms: 10
            }]),
        })
    );
    assert_eq!(
        ok(r#"{"op":"write","id":"a1","data":"x","req":"w"}"#).req(),
        Some("w")
    );
    assert_eq!(
        ok(r#"{"op":"signal","id":"a1","signal":"HUP","req":"s"}"#).req(),
        Some("s")
    );
    assert_eq!(
        ok(r#"{"op":"credit","id":"a1","stream":"stderr","bytes":4096}"#),
        Request::Credit(CreditRequest {
            id: "a1".into(),
            stream: OutputStream::Stderr,
            bytes: 4096
        })
    );
    let Request::Spawn(s) = ok(r#"{"op":"spawn","id":"a1","cmd":"x","window":65536}"#) else {
        panic!("not a spawn")
    };
    assert_eq!(s.window, Some(65536));

    // Errors echo a valid `req`, so the client can match them.
    let e = assert_err(
        r#"{"op":"signal","id":"a1","signal":"NOPE","req":"s9"}"#,
        ErrorCode::InvalidField,
        Some("a1"),
        Some("signal"),
    );
    assert_eq!(e.req.as_deref(), Some("s9"));
    let e = assert_err(
        r#"{"op":"cancel","id":"a1","req":"c","ladder":[{"signal":"INT","wait_ms":1,"x":1}]}"#,
        ErrorCode::UnknownField,
        Some("a1"),
        Some("cancel"),
    );
    assert_eq!(e.req.as_deref(), Some("c"));
    let e = assert_err(
        r#"{"op":"kill","id":"a1","req":""}"#,
        ErrorCode::InvalidField,
        Some("a1"),
        Some("kill"),
    );
    assert_eq!(e.req, None);
    // `req` is not defined where there is nothing to acknowledge.
    assert_err(
        r#"{"op":"credit","id":"a1","stream":"stdout","bytes":1,"req":"x"}"#,
        ErrorCode::UnknownField,
        Some("a1"),
        Some("credit"),
    );
    assert_err(
        r#"{"op":"list","id":"a1","req":"x"}"#,
        ErrorCode::UnknownField,
        Some("a1"),
        Some("list"),
    );
    for bad in [
        r#"{"op":"credit","id":"a1","stream":"stdout","bytes":0}"#,
        r#"{"op":"credit","id":"a1","stream":"stdout","bytes":2147483648}"#,
        r#"{"op":"credit","id":"a1","stream":"both","bytes":1}"#,
        r#"{"op":"credit","id":"a1","stream":"stdout"}"#,
        r#"{"op":"spawn","id":"a1","cmd":"x","window":1023}"#,
        r#"{"op":"spawn","id":"a1","cmd":"x","window":2147483648}"#,
    ] {
        assert_eq!(err(bad).code, ErrorCode::InvalidField, "{bad}");
    }
}

// `"direct"` output streams and `eof` (feature `direct_sockets`).

const DIRECT: &str = r#""direct_socket":"/tmp/k/s","direct_token":"t1""#;

#[test]
fn a_spawn_may_ask_for_direct_output_streams() {
    let line = format!(
        r#"{{"op":"spawn","id":"a1","cmd":"yes","stdout":"direct","stderr":"direct","window":4096,{DIRECT}}}"#
    );
    let Ok(Request::Spawn(r)) = parse_request(line.as_bytes()) else {
        panic!("not a spawn: {line}")
    };
    assert_eq!((r.stdout, r.stderr), (StdioMode::Direct, StdioMode::Direct));
    assert_eq!(r.direct_socket.as_deref(), Some("/tmp/k/s"));
    assert_eq!(r.direct_token.as_deref(), Some("t1"));
    let again = Request::Spawn(r.clone()).to_line();
    assert_eq!(
        parse_request(again.trim_end().as_bytes()),
        Ok(Request::Spawn(r))
    );
}

#[test]
fn direct_refuses_what_would_need_the_bytes_or_hold_the_stream() {
    let s = format!(r#"{{"op":"spawn","id":"a1","cmd":"yes",{DIRECT},"#);
    field_err(&format!(r#"{s}"stdin":"direct"}}"#), "stdin");
    field_err(
        &format!(r#"{s}"stdout":"direct","stdout_cap":{{"bytes":1}}}}"#),
        "stdout_cap",
    );
    field_err(
        &format!(r#"{s}"stderr":"direct","stderr_cap":{{"bytes":1}}}}"#),
        "stderr_cap",
    );
    field_err(
        &format!(r#"{s}"stdout":"direct","framing":"binary"}}"#),
        "framing",
    );
    field_err(
        &format!(r#"{s}"stderr":"direct","keep_leftovers":true}}"#),
        "keep_leftovers",
    );
}

#[test]
fn direct_needs_the_clients_socket_and_token_and_nothing_else_takes_them() {
    let s = r#"{"op":"spawn","id":"a1","cmd":"yes","#;
    for bad in [
        format!(r#"{s}"stdout":"direct"}}"#),
        format!(r#"{s}"stdout":"direct","direct_socket":"/tmp/k/s"}}"#),
        format!(r#"{s}"stderr":"direct","direct_token":"t1"}}"#),
        format!(r#"{s}"stdout":"direct","direct_socket":"","direct_token":"t1"}}"#),
        format!(r#"{s}"stdout":"direct","direct_socket":"/s","direct_token":""}}"#),
        format!(r#"{s}{DIRECT}}}"#),
    ] {
        assert_eq!(err(&bad).code, ErrorCode::InvalidField, "{bad}");
    }
}

#[test]
fn eof_names_the_child_and_the_stream_and_carries_a_tag() {
    let line = r#"{"op":"eof","id":"a1","stream":"stderr","req":"r1"}"#;
    let r = parse_request(line.as_bytes()).unwrap();
    assert_eq!(r.op(), "eof");
    assert_eq!((r.id(), r.req()), (Some("a1"), Some("r1")));
    assert_eq!(r.to_line().trim_end(), line);
    let e = parse_request(br#"{"op":"eof","id":"a1"}"#).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidField);
    let e = parse_request(br#"{"op":"eof","id":"a1","stream":"stdin"}"#).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidField);
}

#[test]
fn the_sidecar_offers_direct_sockets() {
    assert!(FEATURES.contains(&"direct_sockets"));
}
