//! The request parser: precise error codes, `id`/`op` recovered for the error event.
//!
//! The frame (`op`, `id`) is checked by hand, because its errors have codes of their
//! own; the fields are serde's, from the request types, with serde's error (and the
//! path of the field it is about) turned into a sentence that names the field.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{ErrorCode, RequestError};
use crate::request::Request;
use crate::validate::{check_id, check_req};
use crate::{MAX_ID_BYTES, MAX_LINE_BYTES};

/// Parses and validates one request line.
///
/// `line` is one line as read from the sidecar's stdin, with or without its
/// final `\n` (or `\r\n`). Strings in the request must be UTF-8 JSON strings;
/// `null` counts as absent for optional fields.
///
/// The line is first parsed as a generic JSON value and its `op` and `id` are
/// checked; then serde reads the other fields into the request type of the `op`, and
/// [`Request::validate`] checks what types cannot say. Every failure gets the most
/// precise code: `invalid_json`, `not_an_object`, `missing_op`, `unknown_op`,
/// `missing_id`, `invalid_id`, `unknown_field` (any field the operation does not
/// define, also inside `ladder` steps, caps and `containment`), `invalid_field` (wrong
/// type or value; the message names the field by its path, e.g. `ladder[0].wait_ms`),
/// or `line_too_long` (more than [`MAX_LINE_BYTES`]). The error carries the request's
/// `op` when it is a string and its `id` when it is a valid id, even when another
/// field is wrong.
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
    let mut obj = parse_object(line)?;
    let hints = Hints::of(&obj);
    let op = operation(&obj).map_err(|e| hints.apply(e))?;
    let fail = |e: RequestError| hints.apply(e.with_op(op));
    check_id_field(op, obj.get("id")).map_err(fail)?;
    obj.remove("op");
    let request = fields(op, Value::Object(obj)).map_err(fail)?;
    request.validate()?;
    Ok(request)
}

/// The line as a JSON object: `line_too_long`, `invalid_json` or `not_an_object`.
fn parse_object(line: &[u8]) -> Result<Map<String, Value>, RequestError> {
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
    match value {
        Value::Object(obj) => Ok(obj),
        other => Err(RequestError::new(
            ErrorCode::NotAnObject,
            format!("The line is {}, not a JSON object.", describe(&other)),
        )),
    }
}

/// The valid `id` and `req` of a request, recovered before anything else is judged so
/// that every error about the request carries them.
struct Hints {
    id: Option<String>,
    req: Option<String>,
}

impl Hints {
    fn of(obj: &Map<String, Value>) -> Hints {
        let valid = |field: &str, check: fn(&str) -> Result<(), String>| {
            obj.get(field)
                .and_then(Value::as_str)
                .filter(|value| check(value).is_ok())
                .map(str::to_owned)
        };
        Hints {
            id: valid("id", check_id),
            req: valid("req", check_req),
        }
    }

    fn apply(&self, e: RequestError) -> RequestError {
        let e = match &self.id {
            Some(id) => e.with_id(id.clone()),
            None => e,
        };
        e.with_req_opt(self.req.as_deref())
    }
}

/// The request's `op`: `missing_op`, `invalid_field` or `unknown_op`.
fn operation(obj: &Map<String, Value>) -> Result<&'static str, RequestError> {
    let op = match obj.get("op") {
        None | Some(Value::Null) => {
            return Err(RequestError::new(
                ErrorCode::MissingOp,
                "The request has no `op` field naming its operation.",
            ))
        }
        Some(Value::String(op)) => op.as_str(),
        Some(other) => {
            return Err(RequestError::new(
                ErrorCode::InvalidField,
                format!(
                    "Field `op` must be a string naming the operation; got {}.",
                    describe(other)
                ),
            ))
        }
    };
    if let Some(known) = Request::OPS.into_iter().find(|known| *known == op) {
        return Ok(known);
    }
    let e = RequestError::new(
        ErrorCode::UnknownOp,
        format!(
            "Unknown operation {}; expected one of {}.",
            quote_short(op),
            Request::OPS.join(", ")
        ),
    );
    Err(if op.len() <= MAX_ID_BYTES {
        e.with_op(op)
    } else {
        e
    })
}

/// The `id` field: `missing_id` or `invalid_id` (only `shutdown` may lack one).
fn check_id_field(op: &str, id: Option<&Value>) -> Result<(), RequestError> {
    match id {
        None | Some(Value::Null) if op == "shutdown" => Ok(()),
        None | Some(Value::Null) => Err(RequestError::new(
            ErrorCode::MissingId,
            format!("Operation `{op}` needs an `id` field."),
        )),
        Some(Value::String(id)) => {
            check_id(id).map_err(|message| RequestError::new(ErrorCode::InvalidId, message))
        }
        Some(other) => Err(RequestError::new(
            ErrorCode::InvalidId,
            format!("Field `id` must be a string; got {}.", describe(other)),
        )),
    }
}

/// The request's fields (without `op`) as the request type of `op`.
fn fields(op: &'static str, obj: Value) -> Result<Request, RequestError> {
    Ok(match op {
        "spawn" => Request::Spawn(typed(op, obj)?),
        "write" => Request::Write(typed(op, obj)?),
        "close_stdin" => Request::CloseStdin(typed(op, obj)?),
        "cancel" => Request::Cancel(typed(op, obj)?),
        "kill" => Request::Kill(typed(op, obj)?),
        "signal" => Request::Signal(typed(op, obj)?),
        "list" => Request::List(typed(op, obj)?),
        "credit" => Request::Credit(typed(op, obj)?),
        "eof" => Request::Eof(typed(op, obj)?),
        _ => Request::Shutdown(typed(op, obj)?),
    })
}

fn typed<T: DeserializeOwned>(op: &str, obj: Value) -> Result<T, RequestError> {
    serde_path_to_error::deserialize(obj).map_err(|e| field_error(op, &e))
}

/// A serde error as `unknown_field` or `invalid_field`, naming the field by its path
/// (`ladder[0].wait_ms`, `env.HOME`).
fn field_error(op: &str, e: &serde_path_to_error::Error<serde_json::Error>) -> RequestError {
    let path = e.path().to_string();
    let path = short(&path);
    let inner = e.inner().to_string();
    if let Some(rest) = inner.strip_prefix("unknown field `") {
        // "unknown field `x`, expected one of `a`, `b`": the path ends with `x`.
        let defined = rest.split_once(", expected ").map_or("none", |(_, e)| e);
        let defined: Vec<&str> = defined.split('`').skip(1).step_by(2).collect();
        return RequestError::new(
            ErrorCode::UnknownField,
            format!(
                "Field `{path}` is not defined for `{op}`; the defined fields are: {}.",
                defined.join(", ")
            ),
        );
    }
    let message = if let Some(rest) = inner.strip_prefix("missing field `") {
        let field = rest.trim_end_matches('`');
        match path {
            "." => format!("Field `{field}` is required."),
            _ => format!("Field `{path}.{field}` is required."),
        }
    } else if let Some((got, expected)) = inner.split_once(", expected ") {
        format!(
            "Field `{path}` must be {}; got {}.",
            plain(expected),
            plain(got)
        )
    } else if path == "." {
        // The request type's own check, already a sentence (`write`'s data fields).
        inner
    } else {
        format!("Field `{path}` is invalid: {inner}.")
    };
    RequestError::new(ErrorCode::InvalidField, message)
}

/// One side of a serde message in the protocol's words: JSON, not Rust, type names.
fn plain(text: &str) -> String {
    let text = ["invalid type: ", "invalid value: ", "unknown variant "]
        .into_iter()
        .find_map(|prefix| text.strip_prefix(prefix))
        .unwrap_or(text);
    match text {
        "u64" => "a non-negative integer".to_owned(),
        "a sequence" | "sequence" => "an array".to_owned(),
        "a map" | "map" => "an object".to_owned(),
        _ => text.to_owned(),
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
