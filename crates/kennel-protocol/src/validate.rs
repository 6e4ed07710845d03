//! The rules serde cannot express: bounds, non-empty strings, no NUL bytes, exclusive
//! fields. Types, required fields and unknown fields are serde's (see `parse.rs`).

use crate::error::{ErrorCode, RequestError};
use crate::request::{CancelRequest, CreditRequest, Request};
use crate::spawn::{LadderStep, Shell, SpawnRequest, StdioMode};
use crate::{MAX_ID_BYTES, MAX_LADDER_STEPS, MAX_SAFE_INTEGER, MAX_WINDOW_BYTES, MIN_WINDOW_BYTES};

/// The longest `direct_socket` path accepted (the OS's own limit, ~100 bytes, is
/// checked by the connect).
const MAX_SOCKET_PATH_BYTES: usize = 4096;

/// A broken rule, as the sentence that explains it.
type Check = Result<(), String>;

impl Request {
    /// Checks the rules beyond types that [`parse_request`](crate::parse_request)
    /// enforces: non-empty bounded ids, non-empty `cmd`, no NUL bytes in strings
    /// passed to the OS, numbers within [`MAX_SAFE_INTEGER`], `ladder` not mixed
    /// with `signal`/`grace_ms`, caps only on piped streams, and so on.
    ///
    /// # Errors
    ///
    /// `invalid_id` or `invalid_field`, with the request's `op` and (valid) `id`.
    pub fn validate(&self) -> Result<(), RequestError> {
        let op = self.op();
        if let Some(id) = self.id() {
            check_id(id).map_err(|m| RequestError::new(ErrorCode::InvalidId, m).with_op(op))?;
        }
        let result = match self.req().map(check_req) {
            Some(Err(m)) => Err(m),
            _ => match self {
                Request::Spawn(r) => r.check(),
                Request::Cancel(r) => r.check(),
                Request::Credit(r) => r.check(),
                Request::Write(_)
                | Request::CloseStdin(_)
                | Request::Kill(_)
                | Request::Eof(_)
                | Request::Signal(_)
                | Request::List(_)
                | Request::Shutdown(_) => Ok(()),
            },
        };
        result.map_err(|m| {
            let mut e = RequestError::new(ErrorCode::InvalidField, m).with_op(op);
            if let Some(id) = self.id() {
                e = e.with_id(id);
            }
            // A bad `req` is not echoed: the client cannot have meant it.
            e.with_req_opt(self.req().filter(|r| check_req(r).is_ok()))
        })
    }
}

/// Checks an id: non-empty and at most [`MAX_ID_BYTES`] bytes.
pub(crate) fn check_id(id: &str) -> Check {
    check_short("id", id, "")
}

/// Checks a `req` tag: non-empty and at most [`MAX_ID_BYTES`] bytes.
pub(crate) fn check_req(req: &str) -> Check {
    check_short("req", req, "; omit it for no acknowledgement")
}

/// A non-empty string of at most [`MAX_ID_BYTES`] bytes; `hint` ends the empty case.
fn check_short(field: &str, value: &str, hint: &str) -> Check {
    if value.is_empty() {
        Err(format!("Field `{field}` must not be empty{hint}."))
    } else if value.len() > MAX_ID_BYTES {
        Err(format!(
            "Field `{field}` is {} bytes long; the limit is {MAX_ID_BYTES}.",
            value.len()
        ))
    } else {
        Ok(())
    }
}

impl CancelRequest {
    fn check(&self) -> Check {
        self.ladder.as_deref().map_or(Ok(()), check_ladder)
    }
}

impl CreditRequest {
    fn check(&self) -> Check {
        if self.bytes == 0 || self.bytes > MAX_WINDOW_BYTES {
            return Err(format!(
                "Field `bytes` must be 1 to {MAX_WINDOW_BYTES}; got {}.",
                self.bytes
            ));
        }
        Ok(())
    }
}

impl SpawnRequest {
    /// The checks of [`Request::validate`] for `spawn`, except the id.
    fn check(&self) -> Check {
        self.check_strings()?;
        self.check_shell()?;
        self.check_times()?;
        self.check_streams()
    }

    /// `cmd`, `args`, `cwd` and the environment: what reaches the OS as C strings.
    fn check_strings(&self) -> Check {
        no_nul("cmd", &self.cmd)?;
        if self.cmd.is_empty() {
            return Err("Field `cmd` must not be empty.".to_owned());
        }
        for (i, arg) in self.args.iter().enumerate() {
            no_nul(&format!("args[{i}]"), arg)?;
        }
        if let Some(cwd) = &self.cwd {
            if cwd.is_empty() {
                return Err("Field `cwd` must not be empty; omit it to inherit.".to_owned());
            }
            no_nul("cwd", cwd)?;
        }
        for (key, value) in &self.env {
            check_env_key(&format!("env.{key}"), key)?;
            no_nul(&format!("env.{key}"), value)?;
        }
        for (i, key) in self.env_remove.iter().enumerate() {
            check_env_key(&format!("env_remove[{i}]"), key)?;
        }
        Ok(())
    }

    fn check_shell(&self) -> Check {
        let Some(shell) = &self.shell else {
            return Ok(());
        };
        if let Shell::Path(path) = shell {
            if path.is_empty() {
                return Err("Field `shell` must be a boolean or a non-empty path.".to_owned());
            }
            no_nul("shell", path)?;
        }
        if shell.is_enabled() && !self.args.is_empty() {
            return Err(
                "Field `args` must be empty when `shell` is set; put the arguments in `cmd`."
                    .to_owned(),
            );
        }
        Ok(())
    }

    /// The timeout and the ladder (or its shortcuts).
    fn check_times(&self) -> Check {
        if self.timeout_ms == Some(0) {
            return Err(
                "Field `timeout_ms` must be at least 1; omit it for no timeout.".to_owned(),
            );
        }
        check_max("timeout_ms", self.timeout_ms)?;
        check_max("grace_ms", self.grace_ms)?;
        check_max("drain_timeout_ms", self.drain_timeout_ms)?;
        let Some(ladder) = &self.ladder else {
            return Ok(());
        };
        if self.signal.is_some() || self.grace_ms.is_some() {
            return Err(
                "Field `ladder` cannot be combined with the `signal`/`grace_ms` shortcuts."
                    .to_owned(),
            );
        }
        check_ladder(ladder)
    }

    /// The flow-control window and the caps.
    fn check_streams(&self) -> Check {
        if let Some(window) = self.window {
            if !(MIN_WINDOW_BYTES..=MAX_WINDOW_BYTES).contains(&window) {
                return Err(format!(
                    "Field `window` must be {MIN_WINDOW_BYTES} to {MAX_WINDOW_BYTES} bytes; got {window}."
                ));
            }
        }
        self.check_direct()?;
        for (name, cap, mode) in [
            ("stdout_cap", &self.stdout_cap, self.stdout),
            ("stderr_cap", &self.stderr_cap, self.stderr),
        ] {
            if let Some(cap) = cap {
                check_max(&format!("{name}.bytes"), Some(cap.bytes))?;
                if mode != StdioMode::Pipe {
                    let stream = &name[..6];
                    return Err(format!("Field `{name}` needs `{stream}` to be \"pipe\"."));
                }
            }
        }
        Ok(())
    }
}

impl SpawnRequest {
    /// `"direct"` streams: output only, the client's socket and token, and nothing the
    /// sidecar would have to see of the bytes (caps are checked with them), nor
    /// leftovers that would hold the stream open (the drain waits for its EOF).
    fn check_direct(&self) -> Check {
        if self.stdin == StdioMode::Direct {
            return Err(
                "Field `stdin` cannot be \"direct\": only `stdout` and `stderr` can.".to_owned(),
            );
        }
        if self.stdout != StdioMode::Direct && self.stderr != StdioMode::Direct {
            return match (&self.direct_socket, &self.direct_token) {
                (None, None) => Ok(()),
                _ => Err(
                    "Fields `direct_socket` and `direct_token` need a \"direct\" stream."
                        .to_owned(),
                ),
            };
        }
        match (&self.direct_socket, &self.direct_token) {
            (Some(socket), Some(token)) => {
                check_short("direct_token", token, "")?;
                if socket.is_empty() || socket.len() > MAX_SOCKET_PATH_BYTES {
                    return Err(format!(
                        "Field `direct_socket` must be a path of 1 to {MAX_SOCKET_PATH_BYTES} bytes."
                    ));
                }
            }
            _ => {
                return Err(
                    "A \"direct\" stream needs `direct_socket` and `direct_token`: the client's socket the sidecar connects to, and the token it names there."
                        .to_owned(),
                )
            }
        }
        if !self.framing.is_default() {
            return Err(
                "Field `framing` does not apply to a \"direct\" stream (the client reads its bytes itself); omit it."
                    .to_owned(),
            );
        }
        if self.keep_leftovers {
            return Err(
                "Field `keep_leftovers` cannot be combined with a \"direct\" stream: the leftovers would hold it open, and its EOF would never come."
                    .to_owned(),
            );
        }
        Ok(())
    }
}

fn check_ladder(ladder: &[LadderStep]) -> Check {
    if ladder.len() > MAX_LADDER_STEPS {
        return Err(format!(
            "Field `ladder` has {} rungs; the limit is {MAX_LADDER_STEPS}.",
            ladder.len()
        ));
    }
    for (i, step) in ladder.iter().enumerate() {
        check_max(&format!("ladder[{i}].wait_ms"), Some(step.wait_ms))?;
    }
    Ok(())
}

fn no_nul(field: &str, value: &str) -> Check {
    if value.contains('\0') {
        Err(format!("Field `{field}` must not contain a NUL character."))
    } else {
        Ok(())
    }
}

fn check_env_key(field: &str, key: &str) -> Check {
    if key.is_empty() || key.contains('=') || key.contains('\0') {
        Err(format!(
            "Field `{field}` must be a non-empty variable name without `=` or NUL."
        ))
    } else {
        Ok(())
    }
}

fn check_max(field: &str, value: Option<u64>) -> Check {
    match value {
        Some(v) if v > MAX_SAFE_INTEGER => Err(format!(
            "Field `{field}` is {v}; the largest accepted value is {MAX_SAFE_INTEGER}."
        )),
        _ => Ok(()),
    }
}
