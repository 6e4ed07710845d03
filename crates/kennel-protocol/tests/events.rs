//! Every event serializes to the documented line and parses back.

use kennel_protocol::*;
use serde_json::json;

fn round_trip(event: Event, expected: serde_json::Value) {
    let line = event.to_line();
    assert!(
        line.ends_with('\n') && !line[..line.len() - 1].contains('\n'),
        "one line: {line}"
    );
    let value: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(value, expected, "wire form of {}", event.name());
    assert_eq!(value["event"], event.name());
    assert_eq!(Event::from_line(line.as_bytes()).unwrap(), event);
}

#[test]
fn hello() {
    let mut hello = HelloEvent::new(
        "0.1.0",
        vec![ContainmentTier::Subreaper, ContainmentTier::Group],
    );
    assert_eq!(hello.platform, std::env::consts::OS);
    hello.platform = "linux".into();
    // Direct streams are UNIX sockets: Unix only.
    assert_eq!(
        hello.features.iter().any(|f| f == "direct_sockets"),
        cfg!(unix)
    );
    if !cfg!(unix) {
        hello.features.push("direct_sockets".into());
    }
    round_trip(
        Event::Hello(hello),
        json!({"event":"hello","protocol":1,"kennel":"0.1.0","platform":"linux",
               "containment":["subreaper","group"],"max_line_bytes":1048576,"max_children":4096,
               "framings":["json","binary"],"max_frame_bytes":1048576,
               "features":["flow_control","req","cancel_ladder","direct_sockets"],"window_bytes":DEFAULT_WINDOW_BYTES}),
    );
    // A sidecar from before binary framing: `json` only.
    let old = br#"{"event":"hello","protocol":1,"kennel":"0.1.0","platform":"linux","containment":[],"max_line_bytes":1048576,"max_children":4096}"#;
    let Event::Hello(old) = Event::from_line(old).unwrap() else {
        panic!("not a hello")
    };
    assert!(old.framings.is_empty());
    // … and from before flow control: no features, no window.
    assert!(old.features.is_empty());
    assert_eq!(old.window_bytes, None);
}

#[test]
fn spawned() {
    round_trip(
        Event::Spawned(SpawnedEvent {
            id: "a1".into(),
            pid: 4242,
            containment: ContainmentTier::Cgroup,
        }),
        json!({"event":"spawned","id":"a1","pid":4242,"containment":"cgroup"}),
    );
}

#[test]
fn stdout_and_stderr() {
    round_trip(
        Event::Stdout(OutputChunk {
            id: "a1".into(),
            data: Data::Text("hi\n".into()),
        }),
        json!({"event":"stdout","id":"a1","data":"hi\n"}),
    );
    round_trip(
        Event::Stderr(OutputChunk {
            id: "a1".into(),
            data: Data::Binary(vec![0xff, 0, 1]),
        }),
        json!({"event":"stderr","id":"a1","data_b64":"/wAB"}),
    );
    assert!(Event::from_line(br#"{"event":"stdout","id":"a1"}"#).is_err());
    assert!(Event::from_line(br#"{"event":"stdout","id":"a1","data":"","data_b64":""}"#).is_err());
}

#[test]
fn written() {
    round_trip(
        Event::Written(WrittenEvent {
            id: "a1".into(),
            bytes: 12,
            req: None,
        }),
        json!({"event":"written","id":"a1","bytes":12}),
    );
    round_trip(
        Event::Written(WrittenEvent {
            id: "a1".into(),
            bytes: 12,
            req: Some("w1".into()),
        }),
        json!({"event":"written","id":"a1","bytes":12,"req":"w1"}),
    );
}

#[test]
fn ack() {
    round_trip(
        Event::Ack(AckEvent {
            id: "a1".into(),
            op: "cancel".into(),
            req: "r7".into(),
        }),
        json!({"event":"ack","id":"a1","op":"cancel","req":"r7"}),
    );
}

fn exit_event() -> ExitEvent {
    ExitEvent {
        id: "a1".into(),
        pid: 4242,
        code: None,
        signal: Some(15),
        signal_name: Some("SIGTERM".into()),
        reason: ExitReason::TimedOut,
        ladder_step: Some(0),
        forced: false,
        wall_time_ms: 5003,
        stdout: StreamStats {
            bytes: 10,
            dropped: 0,
            cap_hit: false,
        },
        stderr: StreamStats {
            bytes: 4,
            dropped: 100,
            cap_hit: true,
        },
        drain: DrainStatus::Complete,
        leftovers_killed: vec![4250],
        containment: ContainmentTier::Subreaper,
        errors: vec!["Could not read /proc/4250/stat.".into()],
        layers: vec![ContainmentTier::Subreaper, ContainmentTier::Group],
        escapees_killed: vec![EscapeeKilled {
            pid: 4260,
            found: EscapeFound::Subreaper,
        }],
        usage: {
            // `Usage` is the library's `#[non_exhaustive]` type: set field by field.
            let mut usage = Usage::default();
            usage.cpu_user_ms = Some(1200);
            usage.cpu_system_ms = Some(30);
            usage.memory_peak_bytes = Some(67_108_864);
            usage.processes = Some(64);
            usage.forks_refused = Some(236);
            usage
        },
        limits_skipped: Vec::new(),
    }
}

#[test]
fn exit() {
    round_trip(
        Event::Exit(exit_event()),
        json!({"event":"exit","id":"a1","pid":4242,"code":null,"signal":15,"signal_name":"SIGTERM",
               "reason":"timed_out","ladder_step":0,"forced":false,"wall_time_ms":5003,
               "stdout":{"bytes":10,"dropped":0,"cap_hit":false},
               "stderr":{"bytes":4,"dropped":100,"cap_hit":true},
               "drain":"complete","leftovers_killed":[4250],"containment":"subreaper",
               "errors":["Could not read /proc/4250/stat."],
               "layers":["subreaper","group"],
               "escapees_killed":[{"pid":4260,"found":"subreaper"}],
               "usage":{"cpu_user_ms":1200,"cpu_system_ms":30,"memory_peak_bytes":67108864,
                        "processes":64,"processes_exact":false,"forks_refused":236}}),
    );
    // A Windows exit code beyond i32.
    let mut e = exit_event();
    e.code = Some(3_221_225_477);
    e.signal = None;
    e.signal_name = None;
    e.ladder_step = None;
    e.reason = ExitReason::Exited;
    e.drain = DrainStatus::Timeout;
    e.containment = ContainmentTier::JobObject;
    let line = Event::Exit(e.clone()).to_line();
    assert!(line.contains(r#""code":3221225477"#) && line.contains(r#""signal":null"#));
    assert_eq!(Event::from_line(line.as_bytes()).unwrap(), Event::Exit(e));
    for (reason, text) in [
        (ExitReason::Exited, "exited"),
        (ExitReason::TimedOut, "timed_out"),
        (ExitReason::Cancelled, "cancelled"),
        (ExitReason::Killed, "killed"),
        (ExitReason::OutputCap, "output_cap"),
        (ExitReason::SupervisorShutdown, "supervisor_shutdown"),
        (ExitReason::MemoryLimit, "memory_limit"),
    ] {
        assert_eq!(serde_json::to_value(reason).unwrap(), text);
    }
}

#[test]
fn list() {
    round_trip(
        Event::List(ListEvent {
            id: "q1".into(),
            children: vec![
                ChildInfo {
                    id: "a1".into(),
                    pid: 1,
                    state: ChildState::Running,
                },
                ChildInfo {
                    id: "a2".into(),
                    pid: 2,
                    state: ChildState::Exiting,
                },
            ],
        }),
        json!({"event":"list","id":"q1","children":[
            {"id":"a1","pid":1,"state":"running"},{"id":"a2","pid":2,"state":"exiting"}]}),
    );
}

#[test]
fn error() {
    round_trip(
        Event::Error(ErrorEvent {
            code: ErrorCode::UnknownId,
            message: "No child has the id \"zz\".".into(),
            id: Some("zz".into()),
            op: Some("kill".into()),
            req: None,
        }),
        json!({"event":"error","code":"unknown_id","message":"No child has the id \"zz\".","id":"zz","op":"kill"}),
    );
    round_trip(
        RequestError::new(ErrorCode::InvalidJson, "The line is not valid JSON.").into(),
        json!({"event":"error","code":"invalid_json","message":"The line is not valid JSON."}),
    );
}

#[test]
fn bye() {
    round_trip(
        Event::Bye(ByeEvent {
            reason: ByeReason::Eof,
            id: None,
        }),
        json!({"event":"bye","reason":"eof"}),
    );
    round_trip(
        Event::Bye(ByeEvent {
            reason: ByeReason::Shutdown,
            id: Some("s1".into()),
        }),
        json!({"event":"bye","reason":"shutdown","id":"s1"}),
    );
}

#[test]
fn clients_may_ignore_unknown_event_fields() {
    let e = Event::from_line(br#"{"event":"written","id":"a1","bytes":3,"later":true}"#).unwrap();
    assert_eq!(
        e,
        Event::Written(WrittenEvent {
            id: "a1".into(),
            bytes: 3,
            req: None,
        })
    );
    assert_eq!(e.id(), Some("a1"));
}
