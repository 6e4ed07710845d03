//! `"direct"` streams of a spawn (their connections: `serve/direct.rs`) and `eof`.

use std::sync::Arc;

use kennel::Command;
use kennel_protocol::{EofRequest, ErrorCode, OutputStream, RequestError, SpawnRequest, StdioMode};

use super::Hub;
use crate::serve::child::ack;
use crate::serve::convert::request_error;
use crate::serve::direct::{connect, Eofs};

impl Hub {
    /// Connects each `"direct"` stream of `req` to the client's socket and gives the
    /// connection to the child as that stream; the drain waits for the client's `eof`
    /// of each. `None` without direct streams.
    pub(super) async fn direct_streams(
        &self,
        mut cmd: Command,
        req: &SpawnRequest,
    ) -> Result<(Command, Option<Arc<Eofs>>), RequestError> {
        let (Some(socket), Some(token)) = (&req.direct_socket, &req.direct_token) else {
            // The parser lets no direct stream through without them.
            return Ok((cmd, None));
        };
        let eofs = Arc::new(Eofs::default());
        for (stream, mode) in [
            (OutputStream::Stdout, req.stdout),
            (OutputStream::Stderr, req.stderr),
        ] {
            if mode != StdioMode::Direct {
                continue;
            }
            let conn = connect(socket, token, &req.id, stream).await.map_err(|e| {
                let (code, what) = match e.kind() {
                    std::io::ErrorKind::Unsupported => (
                        ErrorCode::Unsupported,
                        "This sidecar offers no direct streams",
                    ),
                    _ => (
                        ErrorCode::SpawnFailed,
                        "Cannot connect a direct stream to the client's socket",
                    ),
                };
                request_error(code, format!("{what} ({socket}): {e}."), "spawn", &req.id)
            })?;
            let eof = eofs.reached(stream);
            cmd = match stream {
                OutputStream::Stdout => cmd.given_stdout_with_eof(conn, eof),
                OutputStream::Stderr => cmd.given_stderr_with_eof(conn, eof),
            };
        }
        Ok((cmd, Some(eofs)))
    }

    /// `eof`: the client read a direct stream of the child to EOF; the drain stops
    /// waiting for it.
    pub(super) async fn eof(&self, EofRequest { id, stream, req }: EofRequest) {
        self.with_child("eof", &id, req.as_deref(), |e| match &e.direct {
            Some(eofs) => {
                eofs.report(stream);
                Ok(ack(&id, "eof", req.clone()))
            }
            None => Err(request_error(
                ErrorCode::InvalidField,
                "The child has no \"direct\" stream.",
                "eof",
                &id,
            )),
        })
        .await;
    }
}
