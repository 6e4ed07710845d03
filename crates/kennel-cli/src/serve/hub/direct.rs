//! `"direct"` streams of a spawn (their FIFOs: `serve/direct.rs`) and `attach`.

use std::sync::Arc;

use kennel::Command;
use kennel_protocol::{ChildRequest, ErrorCode, RequestError, SpawnRequest, StdioMode};

use super::Hub;
use crate::serve::child::ack;
use crate::serve::convert::request_error;
use crate::serve::direct::Holds;

/// The direct streams of a started child: the sidecar's holds and the FIFOs' paths.
pub(crate) struct Direct {
    pub(crate) holds: Arc<Holds>,
    pub(crate) stdout: Option<String>,
    pub(crate) stderr: Option<String>,
}

impl Hub {
    /// Gives each `"direct"` stream of `req` a FIFO: its write end becomes the child's
    /// stream, the sidecar keeps a hold until `attach`. `None` without direct streams.
    pub(super) fn direct_streams(
        &self,
        mut cmd: Command,
        req: &SpawnRequest,
    ) -> Result<(Command, Option<Direct>), RequestError> {
        if req.stdout != StdioMode::Direct && req.stderr != StdioMode::Direct {
            return Ok((cmd, None));
        }
        let dir = self.fifos.as_ref().map_err(|e| {
            request_error(
                ErrorCode::Unsupported,
                format!("This sidecar offers no direct streams: {e}."),
                "spawn",
                &req.id,
            )
        })?;
        let mut held = Vec::new();
        let mut paths = [None, None];
        for (i, (stream, mode)) in [("stdout", req.stdout), ("stderr", req.stderr)]
            .into_iter()
            .enumerate()
        {
            if mode != StdioMode::Direct {
                continue;
            }
            let fifo = dir.fifo(stream).map_err(|e| {
                request_error(
                    ErrorCode::SpawnFailed,
                    format!("Cannot make the FIFO of the direct {stream}: {e}."),
                    "spawn",
                    &req.id,
                )
            })?;
            let ((path, hold), writer) = fifo.split();
            paths[i] = Some(path.to_string_lossy().into_owned());
            held.push((path, hold));
            cmd = match stream {
                "stdout" => cmd.given_stdout(writer),
                _ => cmd.given_stderr(writer),
            };
        }
        let [stdout, stderr] = paths;
        let drain_timeout = req.drain_timeout().unwrap_or(self.limits.drain_timeout);
        Ok((
            cmd,
            Some(Direct {
                holds: Arc::new(Holds::new(held, drain_timeout)),
                stdout,
                stderr,
            }),
        ))
    }

    /// `attach`: the client opened the child's FIFOs; close the holds.
    pub(super) async fn attach(&self, ChildRequest { id, req }: ChildRequest) {
        self.with_child("attach", &id, req.as_deref(), |e| match &e.direct {
            Some(holds) => {
                holds.release();
                Ok(ack(&id, "attach", req.clone()))
            }
            None => Err(request_error(
                ErrorCode::InvalidField,
                "The child has no \"direct\" stream to attach.",
                "attach",
                &id,
            )),
        })
        .await;
    }
}
