//! Stable error codes and the error [`parse_request`](crate::parse_request) returns.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::event::{ErrorEvent, Event};

/// Declares [`ErrorCode`] from one list of codes, each with its wire name: the enum (each
/// variant serialized as its name), [`ErrorCode::ALL`] and [`ErrorCode::as_str`]. A code
/// is named once, so the three cannot disagree.
macro_rules! error_codes {
    (
        $(#[$meta:meta])*
        pub enum ErrorCode { $($(#[doc = $doc:literal])+ $code:ident as $wire:literal,)+ }
    ) => {
        $(#[$meta])*
        pub enum ErrorCode { $($(#[doc = $doc])+ #[serde(rename = $wire)] $code,)+ }

        impl ErrorCode {
            /// Every code, in documentation order.
            pub const ALL: [ErrorCode; [$($wire),+].len()] = [$(ErrorCode::$code),+];

            /// The code as it appears on the wire, e.g. `"invalid_json"`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$code => $wire,)+
                }
            }
        }
    };
}

error_codes! {
    /// The stable, machine-readable code of an `error` event.
    ///
    /// Codes are `snake_case` strings on the wire and never change meaning within a
    /// protocol version. Clients must treat unknown codes like `internal`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
    #[non_exhaustive]
    pub enum ErrorCode {
        /// The line is not valid JSON (or not valid UTF-8).
        InvalidJson as "invalid_json",
        /// The line is valid JSON but not an object.
        NotAnObject as "not_an_object",
        /// The object has no `op` field (or it is `null`).
        MissingOp as "missing_op",
        /// `op` names no operation of this protocol version.
        UnknownOp as "unknown_op",
        /// The operation needs an `id` and there is none (or it is `null`).
        MissingId as "missing_id",
        /// `id` is not a string, is empty, or is longer than [`MAX_ID_BYTES`](crate::MAX_ID_BYTES).
        InvalidId as "invalid_id",
        /// A field has the wrong type or a bad value; the message names the field.
        InvalidField as "invalid_field",
        /// The request has a field this operation does not define; the message names it.
        UnknownField as "unknown_field",
        /// The line is longer than [`MAX_LINE_BYTES`](crate::MAX_LINE_BYTES); it was discarded.
        LineTooLong as "line_too_long",
        /// `spawn` used an `id` that names a child that is still known to the sidecar.
        DuplicateId as "duplicate_id",
        /// The `id` names no child the sidecar knows.
        UnknownId as "unknown_id",
        /// The child could not be started (program not found, bad cwd, containment failed…).
        SpawnFailed as "spawn_failed",
        /// `write`/`close_stdin` on a child spawned with `"stdin": "null"`.
        StdinNotPiped as "stdin_not_piped",
        /// `write` after `close_stdin`, or after the child closed its stdin.
        StdinClosed as "stdin_closed",
        /// A `write` does not fit the bound on bytes still waiting to enter stdin pipes
        /// (per child and in all); nothing of it was written. Wait for `written` events.
        StdinFull as "stdin_full",
        /// Delivering a signal failed.
        SignalFailed as "signal_failed",
        /// The request is valid but this platform or build cannot honour it.
        Unsupported as "unsupported",
        /// `spawn` would exceed the sidecar's `max_children`.
        TooManyChildren as "too_many_children",
        /// The sidecar is shutting down and accepts no new children.
        ShuttingDown as "shutting_down",
        /// A bug or an unexpected OS error in the sidecar.
        Internal as "internal",
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
