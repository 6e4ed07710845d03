//! Stable error codes and the error [`parse_request`](crate::parse_request) returns.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::event::{ErrorEvent, Event};

/// The stable, machine-readable code of an `error` event.
///
/// Codes are `snake_case` strings on the wire and never change meaning within a
/// protocol version. Clients must treat unknown codes like `internal`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The line is not valid JSON (or not valid UTF-8).
    InvalidJson,
    /// The line is valid JSON but not an object.
    NotAnObject,
    /// The object has no `op` field (or it is `null`).
    MissingOp,
    /// `op` names no operation of this protocol version.
    UnknownOp,
    /// The operation needs an `id` and there is none (or it is `null`).
    MissingId,
    /// `id` is not a string, is empty, or is longer than [`MAX_ID_BYTES`](crate::MAX_ID_BYTES).
    InvalidId,
    /// A field has the wrong type or a bad value; the message names the field.
    InvalidField,
    /// The request has a field this operation does not define; the message names it.
    UnknownField,
    /// The line is longer than [`MAX_LINE_BYTES`](crate::MAX_LINE_BYTES); it was discarded.
    LineTooLong,
    /// `spawn` used an `id` that names a child that is still known to the sidecar.
    DuplicateId,
    /// The `id` names no child the sidecar knows.
    UnknownId,
    /// The child could not be started (program not found, bad cwd, containment failed…).
    SpawnFailed,
    /// `write`/`close_stdin` on a child spawned with `"stdin": "null"`.
    StdinNotPiped,
    /// `write` after `close_stdin`, or after the child closed its stdin.
    StdinClosed,
    /// A `write` does not fit the bound on bytes still waiting to enter stdin pipes
    /// (per child and in all); nothing of it was written. Wait for `written` events.
    StdinFull,
    /// Delivering a signal failed.
    SignalFailed,
    /// The request is valid but this platform or build cannot honour it.
    Unsupported,
    /// `spawn` would exceed the sidecar's `max_children`.
    TooManyChildren,
    /// The sidecar is shutting down and accepts no new children.
    ShuttingDown,
    /// A bug or an unexpected OS error in the sidecar.
    Internal,
}

impl ErrorCode {
    /// Every code, in documentation order.
    pub const ALL: [ErrorCode; 20] = [
        ErrorCode::InvalidJson,
        ErrorCode::NotAnObject,
        ErrorCode::MissingOp,
        ErrorCode::UnknownOp,
        ErrorCode::MissingId,
        ErrorCode::InvalidId,
        ErrorCode::InvalidField,
        ErrorCode::UnknownField,
        ErrorCode::LineTooLong,
        ErrorCode::DuplicateId,
        ErrorCode::UnknownId,
        ErrorCode::SpawnFailed,
        ErrorCode::StdinNotPiped,
        ErrorCode::StdinClosed,
        ErrorCode::StdinFull,
        ErrorCode::SignalFailed,
        ErrorCode::Unsupported,
        ErrorCode::TooManyChildren,
        ErrorCode::ShuttingDown,
        ErrorCode::Internal,
    ];

    /// The code as it appears on the wire, e.g. `"invalid_json"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::NotAnObject => "not_an_object",
            ErrorCode::MissingOp => "missing_op",
            ErrorCode::UnknownOp => "unknown_op",
            ErrorCode::MissingId => "missing_id",
            ErrorCode::InvalidId => "invalid_id",
            ErrorCode::InvalidField => "invalid_field",
            ErrorCode::UnknownField => "unknown_field",
            ErrorCode::LineTooLong => "line_too_long",
            ErrorCode::DuplicateId => "duplicate_id",
            ErrorCode::UnknownId => "unknown_id",
            ErrorCode::SpawnFailed => "spawn_failed",
            ErrorCode::StdinNotPiped => "stdin_not_piped",
            ErrorCode::StdinClosed => "stdin_closed",
            ErrorCode::StdinFull => "stdin_full",
            ErrorCode::SignalFailed => "signal_failed",
            ErrorCode::Unsupported => "unsupported",
            ErrorCode::TooManyChildren => "too_many_children",
            ErrorCode::ShuttingDown => "shutting_down",
            ErrorCode::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request that could not be accepted, ready to be sent back as an `error` event:
/// the [`ErrorEvent`] itself, so an error and its event are one type with one list of
/// fields (docs/DECISIONS.md, issue 15). Its `Display` is the message.
///
/// [`parse_request`](crate::parse_request) returns it for malformed lines; the
/// sidecar builds its own with [`RequestError::new`] for errors found while
/// acting (`unknown_id`, `spawn_failed`, …).
pub type RequestError = ErrorEvent;

impl RequestError {
    /// An error with a code and a message and no `id` or `op`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        RequestError {
            code,
            message: message.into(),
            id: None,
            op: None,
            req: None,
        }
    }

    /// Sets the `id` the error concerns.
    #[must_use]
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Sets the `op` the error concerns.
    #[must_use]
    pub fn with_op(mut self, op: impl Into<String>) -> Self {
        self.op = Some(op.into());
        self
    }

    /// Sets the `req` tag of the request the error answers.
    #[must_use]
    pub fn with_req(mut self, req: impl Into<String>) -> Self {
        self.req = Some(req.into());
        self
    }

    /// Sets the `req` tag when there is one.
    #[must_use]
    pub fn with_req_opt(self, req: Option<&str>) -> Self {
        match req {
            Some(req) => self.with_req(req),
            None => self,
        }
    }

    /// The `error` event that reports this error.
    pub fn to_event(&self) -> Event {
        Event::Error(self.clone())
    }
}

impl From<RequestError> for Event {
    fn from(e: RequestError) -> Self {
        Event::Error(e)
    }
}
