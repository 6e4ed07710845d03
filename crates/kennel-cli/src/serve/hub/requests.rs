//! The requests on a known child, and `list`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use kennel_protocol::{
    CancelRequest, ChildInfo, ChildRequest, ChildState, CreditRequest, ErrorCode, Event, ListEvent,
    RequestError, SignalRequest, WriteRequest,
};
use tokio::sync::mpsc;

use super::{Hub, Out, STDIN_QUEUE_PER_CHILD, STDIN_QUEUE_TOTAL};
use crate::serve::child::{ack, StdinJob};
use crate::serve::convert::{self, request_error};

impl Hub {
    pub(super) async fn write(&self, req: WriteRequest) {
        let total = self.stdin_total.clone();
        let tag = req.req.clone();
        self.with_child("write", &req.id.clone(), tag.as_deref(), move |entry| {
            let id = req.id.as_str();
            let Some(stdin) = &entry.stdin else {
                return Err(stdin_not_piped("write", id));
            };
            if entry.stdin_closed {
                return Err(request_error(
                    ErrorCode::StdinClosed,
                    "The child's stdin was closed by `close_stdin`.",
                    "write",
                    id,
                ));
            }
            let len = req.data.len();
            let queued = stdin.queued.load(Ordering::Relaxed);
            let all = total.load(Ordering::Relaxed);
            if queued > 0
                && (queued + len > STDIN_QUEUE_PER_CHILD || all + len > STDIN_QUEUE_TOTAL)
            {
                return Err(request_error(
                    ErrorCode::StdinFull,
                    format!(
                        "The write does not fit: {queued} bytes for this child (and {all} in all) are still waiting to enter stdin pipes, and the limit is {STDIN_QUEUE_PER_CHILD} per child ({STDIN_QUEUE_TOTAL} in all); wait for `written` events before sending more."
                    ),
                    "write",
                    id,
                ));
            }
            stdin.queued.fetch_add(len, Ordering::Relaxed);
            total.fetch_add(len, Ordering::Relaxed);
            if let Err(mpsc::error::SendError(_)) =
                stdin.tx.send(StdinJob::Write(req.data.into_bytes(), req.req))
            {
                stdin.queued.fetch_sub(len, Ordering::Relaxed);
                total.fetch_sub(len, Ordering::Relaxed);
                return Err(request_error(
                    ErrorCode::StdinClosed,
                    "The child has ended; its stdin is closed.",
                    "write",
                    id,
                ));
            }
            Ok(None)
        })
        .await;
    }

    pub(super) async fn close_stdin(&self, req: ChildRequest) {
        self.with_child("close_stdin", &req.id, req.req.as_deref(), |entry| {
            let Some(stdin) = &entry.stdin else {
                return Err(stdin_not_piped("close_stdin", &req.id));
            };
            if !entry.stdin_closed || req.req.is_some() {
                entry.stdin_closed = true;
                // After the pending writes (the stdin writer acknowledges it then); if
                // the child already ended, its stdin is closed anyway.
                if let Err(mpsc::error::SendError(_)) =
                    stdin.tx.send(StdinJob::Close(req.req.clone()))
                {
                    // The stdin writer is gone: so is the child's stdin.
                    return Ok(ack(&req.id, "close_stdin", req.req.clone()));
                }
            }
            Ok(None)
        })
        .await;
    }

    pub(super) async fn cancel(&self, r: CancelRequest) {
        let ladder = match r
            .ladder
            .as_ref()
            .map(|l| convert::ladder(l, "cancel", &r.id))
        {
            Some(Err(e)) => {
                return self
                    .reply(&e.with_req_opt(r.req.as_deref()).to_event())
                    .await
            }
            Some(Ok(ladder)) => Some(ladder),
            None => None,
        };
        let waits: Duration = r.ladder.iter().flatten().map(|s| s.wait()).sum();
        self.with_child("cancel", &r.id, r.req.as_deref(), |e| {
            e.terminating = true;
            // The teardown may now take as long as this ladder.
            e.ladder = e.ladder.max(waits);
            match ladder {
                Some(ladder) => e.controller.cancel_with(ladder),
                None => e.controller.cancel(),
            }
            Ok(ack(&r.id, "cancel", r.req.clone()))
        })
        .await;
    }

    /// `credit`: never acknowledged. An unknown id is ignored (the credit raced the
    /// child's `exit`, which is normal); a child without flow control or a window that
    /// would overflow is an error.
    pub(super) async fn credit(&self, r: CreditRequest) {
        let error = {
            let state = self.lock();
            let Some(entry) = state.children.get(&r.id) else {
                return;
            };
            match &entry.windows {
                None => Some(request_error(
                    ErrorCode::InvalidField,
                    "The child was spawned without `window`; it has no flow control to credit.",
                    "credit",
                    &r.id,
                )),
                Some(w) => w.credit(r.stream, r.bytes).err().map(|o| {
                    request_error(
                        ErrorCode::InvalidField,
                        format!(
                            "Field `bytes` would grow the window from {} past {} bytes.",
                            o.available,
                            kennel_protocol::MAX_WINDOW_BYTES
                        ),
                        "credit",
                        &r.id,
                    )
                }),
            }
        };
        if let Some(e) = error {
            self.reply(&e.to_event()).await;
        }
    }

    pub(super) async fn signal(self: &Arc<Self>, req: SignalRequest) {
        let hub = self.clone();
        let tag = req.req.clone();
        self.with_child("signal", &req.id, tag.as_deref(), |entry| {
            let sig = convert::signal(req.signal, "signal", &req.id)?;
            // The library answers from the child's supervisor task, which may be busy
            // delivering output under backpressure: wait for it in a task of its own
            // so the request loop never blocks. The forwarder waits for these tasks
            // before queueing `exit`, so an error still comes before it.
            // The child has ended, its `exit` is being queued: as the library would
            // (`Finished`), acknowledge.
            let Some(guard) = entry.signals.enter() else {
                return Ok(ack(&req.id, "signal", req.req.clone()));
            };
            let controller = entry.controller.clone();
            let id = req.id.clone();
            let tag = req.req.clone();
            tokio::spawn(async move {
                let reply = match controller.signal(sig).await {
                    Ok(()) => ack(&id, "signal", tag),
                    Err(e) => {
                        let code = match e.kind {
                            // The tree ended meanwhile: its `exit` is coming; nothing
                            // to report but the acknowledgement.
                            kennel::SignalErrorKind::Finished => None,
                            kennel::SignalErrorKind::Unsupported => Some(ErrorCode::Unsupported),
                            _ => Some(ErrorCode::SignalFailed),
                        };
                        match code {
                            None => ack(&id, "signal", tag),
                            Some(code) => {
                                let mut message = e.to_string();
                                if let Some(source) = std::error::Error::source(&e) {
                                    message = format!("{message}: {source}");
                                }
                                let err = request_error(code, message, "signal", &id)
                                    .with_req_opt(tag.as_deref());
                                Some(err.to_event())
                            }
                        }
                    }
                };
                if let Some(event) = reply {
                    hub.reply(&event).await;
                }
                drop(guard);
            });
            Ok(None)
        })
        .await;
    }

    pub(super) async fn list(&self, id: String) {
        let Ok(permit) = self.control.reserve().await else {
            return;
        };
        let state = self.lock();
        let mut children: Vec<(u64, ChildInfo)> = state
            .children
            .iter()
            .map(|(child_id, e)| {
                let exiting =
                    e.terminating || e.ended.load(Ordering::Relaxed) || e.controller.is_finished();
                let info = ChildInfo {
                    id: child_id.clone(),
                    pid: e.pid,
                    state: if exiting {
                        ChildState::Exiting
                    } else {
                        ChildState::Running
                    },
                };
                (e.gen, info)
            })
            .collect();
        children.sort_by_key(|(gen, _)| *gen);
        let event = Event::List(ListEvent {
            id,
            children: children.into_iter().map(|(_, info)| info).collect(),
        });
        // Queued under the lock, like every reply that names children.
        permit.send(Out::Line(event.to_line()));
        drop(state);
    }
}

fn stdin_not_piped(op: &str, id: &str) -> RequestError {
    request_error(
        ErrorCode::StdinNotPiped,
        "The child was spawned with `\"stdin\": \"null\"`; spawn it with `\"stdin\": \"pipe\"` to write to it.",
        op,
        id,
    )
}
