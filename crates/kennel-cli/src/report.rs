//! The outcome as JSON, shaped like the protocol's `exit` event (without `event`/`id`).

use kennel::{Outcome, StreamReport};
use serde_json::{json, Value};

fn stream(report: &StreamReport) -> Value {
    json!({ "bytes": report.bytes, "dropped": report.dropped, "cap_hit": report.cap_hit })
}

/// The outcome's fields as the protocol names them.
pub fn outcome_json(o: &Outcome) -> Value {
    json!({
        "pid": o.pid,
        "code": o.status.code,
        "signal": o.status.signal,
        "signal_name": o.status.signal_name(),
        "reason": o.reason,
        "ladder_step": o.ladder_step,
        "forced": o.forced,
        "wall_time_ms": o.wall_time.as_secs_f64() * 1000.0,
        "stdout": stream(&o.stdout),
        "stderr": stream(&o.stderr),
        "drain": o.drain,
        "leftovers_killed": o.leftovers_killed,
        "containment": o.containment.as_str(),
        "layers": o.layers.iter().map(|l| l.as_str()).collect::<Vec<_>>(),
        "escapees_killed": o.escapees_killed.iter().map(|e| json!({
            "pid": e.pid,
            "found": match e.found {
                kennel::EscapeFound::Descendant => "descendant",
                kennel::EscapeFound::Subreaper => "subreaper",
                _ => "other",
            },
        })).collect::<Vec<_>>(),
        "errors": o.errors,
    })
}
