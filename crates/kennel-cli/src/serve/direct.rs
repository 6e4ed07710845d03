//! `"direct"` output streams: the child writes into a connection to the client's own
//! socket, which the client reads itself, so the sidecar is not in the data path (no
//! copy, no wake-up per chunk: issue 13's throughput, docs/DECISIONS.md "Direct
//! streams").
//!
//! # The connection
//!
//! The client listens on a UNIX stream socket in a private directory of its own and
//! names it in the spawn (`direct_socket`, with a `direct_token`). For each direct
//! stream the sidecar connects to it before the fork, writes one header line (JSON:
//! `token`, `id`, `stream`) and hands the connection to the child as that stream
//! ([`kennel::Command::given_stdout_with_eof`]); its own copy is closed when the
//! spawn returns. A connected stream socket is what Node's `child_process` gives a
//! child, so the client reads it as fast. The connection waits in the socket's
//! backlog until the client accepts it, and what the child writes meanwhile waits in
//! its buffer: nothing is lost, and no round trip is needed before the child runs.
//!
//! # The drain
//!
//! The sidecar cannot see when the tree's last writer is gone (it holds no end of the
//! connection that would tell), so the client says so: `eof` names the child and the
//! stream once its reader reached EOF. The library's drain waits for that report as
//! it waits for a pipe's EOF — descendants that outlive the leader keep writing until
//! then, at most the drain timeout, and the `exit` follows. Once the shutdown begins
//! no report is awaited ([`Eofs::release`]): a client that is going away may never
//! send it.

use std::future::Future;

use kennel_protocol::OutputStream;
use tokio::sync::watch;

#[cfg(not(unix))]
#[path = "direct/other.rs"]
mod imp;
#[cfg(unix)]
#[path = "direct/unix.rs"]
mod imp;

pub(crate) use imp::connect;

/// The client's reports of one child's direct streams reaching EOF: one flag per
/// stream (stdout, stderr), which the library's drain waits for.
#[derive(Default)]
pub(crate) struct Eofs {
    flags: [watch::Sender<bool>; 2],
}

impl Eofs {
    /// The future the drain waits for on `stream`: resolves when the client reports its
    /// EOF, when the shutdown releases every stream, or when `self` is gone.
    pub(crate) fn reached(&self, stream: OutputStream) -> impl Future<Output = ()> + use<> {
        let mut flag = self.flags[index(stream)].subscribe();
        async move {
            let _ = flag.wait_for(|eof| *eof).await;
        }
    }

    /// The client read `stream` to EOF.
    pub(crate) fn report(&self, stream: OutputStream) {
        self.flags[index(stream)].send_replace(true);
    }

    /// Stop waiting for any report (the shutdown began).
    pub(crate) fn release(&self) {
        for flag in &self.flags {
            flag.send_replace(true);
        }
    }
}

fn index(stream: OutputStream) -> usize {
    match stream {
        OutputStream::Stdout => 0,
        OutputStream::Stderr => 1,
    }
}
