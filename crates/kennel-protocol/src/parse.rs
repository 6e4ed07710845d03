//! The request parser: precise error codes, `id`/`op` recovered for the error event.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::data::Data;
use crate::error::{ErrorCode, RequestError};
use crate::request::{
    check_id, check_req, CancelRequest, ChildRequest, ContainmentSwitches, CreditRequest,
    IdRequest, Request, ShutdownRequest, SignalRequest, SpawnRequest, StdioMode, WriteRequest,
};
use crate::MAX_ID_BYTES;
use crate::MAX_LINE_BYTES;

const SPAWN_FIELDS: &[&str] = &[
    "op",
    "id",
    "cmd",
    "args",
    "cwd",
    "env",
    "env_remove",
    "env_clear",
    "shell",
    "stdin",
    "stdout",
    "stderr",
    "timeout_ms",
    "ladder",
    "signal",
    "grace_ms",
    "stdout_cap",
    "stderr_cap",
    "drain_timeout_ms",
    "keep_leftovers",
    "containment",
    "framing",
    "window",
];
const WRITE_FIELDS: &[&str] = &["op", "id", "data", "data_b64", "req"];
const ID_FIELDS: &[&str] = &["op", "id"];
const CHILD_FIELDS: &[&str] = &["op", "id", "req"];
const CANCEL_FIELDS: &[&str] = &["op", "id", "req", "ladder"];
const SIGNAL_FIELDS: &[&str] = &["op", "id", "signal", "req"];
const CREDIT_FIELDS: &[&str] = &["op", "id", "stream", "bytes"];
const LADDER_STEP_FIELDS: &[&str] = &["signal", "wait_ms"];
const CAP_FIELDS: &[&str] = &["bytes", "policy"];

/// Parses and validates one request line.
///
/// `line` is one line as read from the sidecar's stdin, with or without its
/// final `\n` (or `\r\n`). Strings in the request must be UTF-8 JSON strings;
/// `null` counts as absent for optional fields.
///
/// The line is first parsed as a generic JSON value, so every failure gets the
/// most precise code: `invalid_json`, `not_an_object`, `missing_op`,
/// `unknown_op`, `missing_id`, `invalid_id`, `unknown_field` (any field the
/// operation does not define, also inside `ladder` steps, caps and
/// `containment`), `invalid_field` (wrong type or value; the message names the
/// field), or `line_too_long` (more than [`MAX_LINE_BYTES`]). The error carries
/// the request's `op` when it is a string and its `id` when it is a valid id,
/// even when another field is wrong.
///
/// # Errors
///
/// A [`RequestError`] with the code, a one-sentence message, and the `id`/`op`
/// recovered from the line; turn it into an `error` event with
/// [`RequestError::to_event`].
///
/// # Examples
///
/// ```
/// use kennel_protocol::{parse_request, ErrorCode};
///
/// let err = parse_request(br#"{"op":"spawn","id":"a1","cmd":"ls","timout_ms":5}"#).unwrap_err();
/// assert_eq!(err.code, ErrorCode::UnknownField);
/// assert_eq!(err.id.as_deref(), Some("a1"));
/// assert_eq!(err.op.as_deref(), Some("spawn"));
/// ```
pub fn parse_request(line: &[u8]) -> Result<Request, RequestError> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.len() > MAX_LINE_BYTES {
        return Err(RequestError::new(
            ErrorCode::LineTooLong,
            format!(
                "The line is {} bytes long; the limit is {MAX_LINE_BYTES}.",
                line.len()
            ),
        ));
    }
    let value: Value = serde_json::from_slice(line).map_err(|e| {
        RequestError::new(
            ErrorCode::InvalidJson,
            format!("The line is not valid JSON: {e}."),
        )
    })?;
    let obj = match value {
        Value::Object(obj) => obj,
        other => {
            return Err(RequestError::new(
                ErrorCode::NotAnObject,
                format!("The line is {}, not a JSON object.", describe(&other)),
            ))
        }
    };

    // Recover what we can for the error event before judging anything else.
    let id_hint = obj
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| check_id(id).is_ok())
        .map(str::to_owned);
    let req_hint = obj
        .get("req")
        .and_then(Value::as_str)
        .filter(|req| check_req(req).is_ok())
        .map(str::to_owned);
    let with_id = |e: RequestError| {
        let e = match &id_hint {
            Some(id) => e.with_id(id.clone()),
            None => e,
        };
        e.with_req_opt(req_hint.as_deref())
    };

    let op = match obj.get("op") {
        None | Some(Value::Null) => {
            return Err(with_id(RequestError::new(
                ErrorCode::MissingOp,
                "The request has no `op` field naming its operation.",
            )))
        }
        Some(Value::String(op)) => op.as_str(),
        Some(other) => {
            return Err(with_id(RequestError::new(
                ErrorCode::InvalidField,
                format!(
                    "Field `op` must be a string naming the operation; got {}.",
                    describe(other)
                ),
            )))
        }
    };
    let fail =
        |code: ErrorCode, message: String| with_id(RequestError::new(code, message).with_op(op));

    let allowed = match op {
        "spawn" => SPAWN_FIELDS,
        "write" => WRITE_FIELDS,
        "list" | "shutdown" => ID_FIELDS,
        "close_stdin" | "kill" => CHILD_FIELDS,
        "cancel" => CANCEL_FIELDS,
        "signal" => SIGNAL_FIELDS,
        "credit" => CREDIT_FIELDS,
        _ => {
            let mut e = RequestError::new(
                ErrorCode::UnknownOp,
                format!(
                    "Unknown operation {}; expected one of {}.",
                    quote_short(op),
                    Request::OPS.join(", ")
                ),
            );
            if op.len() <= MAX_ID_BYTES {
                e = e.with_op(op);
            }
            return Err(with_id(e));
        }
    };

    match obj.get("id") {
        None | Some(Value::Null) if op == "shutdown" => {}
        None | Some(Value::Null) => {
            return Err(fail(
                ErrorCode::MissingId,
                format!("Operation `{op}` needs an `id` field."),
            ))
        }
        Some(Value::String(id)) => {
            if let Err(message) = check_id(id) {
                return Err(fail(ErrorCode::InvalidId, message));
            }
        }
        Some(other) => {
            return Err(fail(
                ErrorCode::InvalidId,
                format!("Field `id` must be a string; got {}.", describe(other)),
            ))
        }
    }

    check_keys(&obj, "", allowed, op).map_err(|m| fail(ErrorCode::UnknownField, m))?;

    let fields = Fields { obj: &obj };
    let request = match op {
        "spawn" => Request::Spawn(spawn(&fields).map_err(|e| fail(e.0, e.1))?),
        "write" => {
            let id = fields.id();
            let data: Option<String> =
                fields.opt("data", "a string").map_err(|e| fail(e.0, e.1))?;
            let data_b64: Option<String> = fields
                .opt("data_b64", "a base64 string")
                .map_err(|e| fail(e.0, e.1))?;
            let data =
                Data::from_fields(data, data_b64).map_err(|m| fail(ErrorCode::InvalidField, m))?;
            Request::Write(WriteRequest {
                id,
                data,
                req: tag(&fields).map_err(|e| fail(e.0, e.1))?,
            })
        }
        "signal" => Request::Signal(SignalRequest {
            id: fields.id(),
            signal: fields
                .req("signal", "a signal name like \"SIGINT\" or a number")
                .map_err(|e| fail(e.0, e.1))?,
            req: tag(&fields).map_err(|e| fail(e.0, e.1))?,
        }),
        "close_stdin" | "kill" => {
            let r = ChildRequest {
                id: fields.id(),
                req: tag(&fields).map_err(|e| fail(e.0, e.1))?,
            };
            if op == "kill" {
                Request::Kill(r)
            } else {
                Request::CloseStdin(r)
            }
        }
        "cancel" => {
            check_ladder_keys(&fields, "cancel").map_err(|e| fail(e.0, e.1))?;
            Request::Cancel(CancelRequest {
                id: fields.id(),
                req: tag(&fields).map_err(|e| fail(e.0, e.1))?,
                ladder: fields.opt("ladder", LADDER).map_err(|e| fail(e.0, e.1))?,
            })
        }
        "credit" => Request::Credit(CreditRequest {
            id: fields.id(),
            stream: fields
                .req("stream", "\"stdout\" or \"stderr\"")
                .map_err(|e| fail(e.0, e.1))?,
            bytes: fields
                .req("bytes", "a positive integer")
                .map_err(|e| fail(e.0, e.1))?,
        }),
        "list" => Request::List(IdRequest { id: fields.id() }),
        _ => Request::Shutdown(ShutdownRequest {
            id: obj.get("id").and_then(Value::as_str).map(str::to_owned),
        }),
    };
    request.validate()?;
    Ok(request)
}

/// The optional `req` tag.
fn tag(f: &Fields<'_>) -> Result<Option<String>, FieldError> {
    f.opt("req", "a string of 1 to 256 bytes")
}

/// A failure while reading fields: code and message.
struct FieldError(ErrorCode, String);

/// Typed access to the request object's fields, naming the field on failure.
struct Fields<'a> {
    obj: &'a Map<String, Value>,
}

impl Fields<'_> {
    /// The already checked `id` (empty only if absent, which was checked before).
    fn id(&self) -> String {
        self.obj
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    }

    fn opt<T: DeserializeOwned>(
        &self,
        name: &str,
        expected: &str,
    ) -> Result<Option<T>, FieldError> {
        match self.obj.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => T::deserialize(v).map(Some).map_err(|e| {
                FieldError(
                    ErrorCode::InvalidField,
                    format!("Field `{name}` must be {expected}: {e}."),
                )
            }),
        }
    }

    fn req<T: DeserializeOwned>(&self, name: &str, expected: &str) -> Result<T, FieldError> {
        self.opt(name, expected)?.ok_or_else(|| {
            FieldError(
                ErrorCode::InvalidField,
                format!("Field `{name}` is required and must be {expected}."),
            )
        })
    }
}

fn spawn(f: &Fields<'_>) -> Result<SpawnRequest, FieldError> {
    // Unknown keys inside the nested objects are `unknown_field`, as at the top level.
    let unknown = |m| FieldError(ErrorCode::UnknownField, m);
    // Serde would also accept a struct written as an array; the protocol does not.
    let not_object = |field: String, v: &Value| {
        FieldError(
            ErrorCode::InvalidField,
            format!("Field `{field}` must be an object; got {}.", describe(v)),
        )
    };
    check_ladder_keys(f, "spawn")?;
    for (field, allowed) in [
        ("stdout_cap", CAP_FIELDS),
        ("stderr_cap", CAP_FIELDS),
        ("containment", &ContainmentSwitches::FIELDS[..]),
    ] {
        match f.obj.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::Object(obj)) => {
                check_keys(obj, &format!("{field}."), allowed, "spawn").map_err(unknown)?;
            }
            Some(other) => return Err(not_object(field.to_owned(), other)),
        }
    }

    const MS: &str = "a non-negative integer (milliseconds)";
    const STDIO: &str = "\"pipe\" or \"null\"";
    const CAP: &str = "an object {\"bytes\": n, \"policy\": \"truncate\" | \"kill\"}";
    let mut r = SpawnRequest::new(f.id(), f.req::<String>("cmd", "a string")?);
    r.args = f.opt("args", "an array of strings")?.unwrap_or_default();
    r.cwd = f.opt("cwd", "a string")?;
    r.env = f.opt("env", "an object of strings")?.unwrap_or_default();
    r.env_remove = f
        .opt("env_remove", "an array of strings")?
        .unwrap_or_default();
    r.env_clear = f.opt("env_clear", "a boolean")?.unwrap_or_default();
    r.shell = f.opt("shell", "a boolean or a string (the shell program)")?;
    r.stdin = f.opt("stdin", STDIO)?.unwrap_or(StdioMode::Null);
    r.stdout = f.opt("stdout", STDIO)?.unwrap_or(StdioMode::Pipe);
    r.stderr = f.opt("stderr", STDIO)?.unwrap_or(StdioMode::Pipe);
    r.timeout_ms = f.opt("timeout_ms", MS)?;
    r.ladder = f.opt("ladder", LADDER)?;
    r.signal = f.opt("signal", "a signal name like \"SIGTERM\" or a number")?;
    r.grace_ms = f.opt("grace_ms", MS)?;
    r.stdout_cap = f.opt("stdout_cap", CAP)?;
    r.stderr_cap = f.opt("stderr_cap", CAP)?;
    r.drain_timeout_ms = f.opt("drain_timeout_ms", MS)?;
    r.keep_leftovers = f.opt("keep_leftovers", "a boolean")?.unwrap_or_default();
    r.containment = f
        .opt("containment", "an object of tier names to booleans")?
        .unwrap_or_default();
    r.framing = f
        .opt("framing", "\"json\" or \"binary\"")?
        .unwrap_or_default();
    r.window = f.opt("window", "a number of bytes")?;
    Ok(r)
}

/// Rejects unknown keys inside `ladder` rungs (`unknown_field`) and rungs that are not
/// objects (`invalid_field`).
fn check_ladder_keys(f: &Fields<'_>, op: &str) -> Result<(), FieldError> {
    if let Some(Value::Array(steps)) = f.obj.get("ladder") {
        for (i, step) in steps.iter().enumerate() {
            let field = format!("ladder[{i}]");
            let Value::Object(step) = step else {
                return Err(FieldError(
                    ErrorCode::InvalidField,
                    format!("Field `{field}` must be an object; got {}.", describe(step)),
                ));
            };
            check_keys(step, &format!("{field}."), LADDER_STEP_FIELDS, op)
                .map_err(|m| FieldError(ErrorCode::UnknownField, m))?;
        }
    }
    Ok(())
}

const LADDER: &str = "an array of {\"signal\": name or number, \"wait_ms\": n}";

/// Rejects keys outside `allowed`, naming the first one (with its `prefix` path).
fn check_keys(
    obj: &Map<String, Value>,
    prefix: &str,
    allowed: &[&str],
    op: &str,
) -> Result<(), String> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        None => Ok(()),
        Some(key) => {
            let defined: Vec<&str> = allowed.iter().copied().filter(|k| *k != "op").collect();
            Err(format!(
                "Field `{prefix}{}` is not defined for `{op}`; the defined fields are: {}.",
                short(key),
                defined.join(", ")
            ))
        }
    }
}

/// What kind of JSON value this is, with an article ("a string", "an array").
fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a non-integer number",
        Value::Number(n) if n.is_i64() && n.as_i64().is_some_and(|n| n < 0) => "a negative integer",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A string cut to a length fit for a message.
fn short(s: &str) -> &str {
    const MAX: usize = 64;
    if s.len() <= MAX {
        return s;
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A quoted, shortened string for messages.
fn quote_short(s: &str) -> String {
    if s.len() <= 64 {
        format!("{s:?}")
    } else {
        format!("{:?}…", short(s))
    }
}
