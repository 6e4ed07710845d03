//! `kennel run --report`: the outcome as one line of JSON, shaped like the protocol's
//! `exit` event (without `event`/`id`), written after all of the child's output.
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `pid` | integer | the leader's process id |
//! | `code` | integer or null | its exit code, when it exited |
//! | `signal` | integer or null | the signal it died of |
//! | `signal_name` | string or null | that signal's name, e.g. `"SIGTERM"` |
//! | `reason` | string | why the run ended: `exited`, `timed_out`, `cancelled` (a signal to kennel), `killed`, `output_cap`, `supervisor_shutdown`, `memory_limit` (the tree ran out of memory under `--memory-max` and was killed) |
//! | `ladder_step` | integer or null | the rung in effect when the tree ended (the forceful rung is the number of graceful ones: 1 for `kennel run`); null if never signalled |
//! | `forced` | boolean | whether `SIGKILL` was needed |
//! | `wall_time_ms` | integer | milliseconds from spawn to the end |
//! | `stdout`, `stderr` | object | `bytes` passed on, `dropped` past a cap, `cap_hit` |
//! | `drain` | string | `complete` when both streams reached EOF, else how it ended |
//! | `leftovers_killed` | array of integers | descendants alive after the leader exited, killed |
//! | `containment` | string | how the tree was held: `cgroup`, `subreaper`, `group`, `job_object` |
//! | `errors` | array of strings | non-fatal problems met on the way, as sentences |
//! | `usage` | object | what the whole tree used, where measured: `cpu_user_ms`, `cpu_system_ms`, `memory_peak_bytes`, `processes` (with `processes_exact`), `forks_refused`, `oom_kills` |
//! | `limits_skipped` | array of strings | limits `--limits-best-effort` ran without (`memory`, `pids`, `cpu`) |

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
        "wall_time_ms": u64::try_from(o.wall_time.as_millis()).unwrap_or(u64::MAX),
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
        "errors": o.errors.iter().map(kennel::RunError::report).collect::<Vec<_>>(),
        "usage": crate::usage_json(&o.usage),
        "limits_skipped": o.limits_skipped.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
    })
}
