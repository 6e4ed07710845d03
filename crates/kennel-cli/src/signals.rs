//! SIGINT, SIGTERM and SIGHUP sent to kennel run the ladder on the tree (`kennel run`) or
//! start the shutdown (`kennel serve`); a further one escalates to the forceful rung (as a
//! second Ctrl-C does for most tools).
//!
//! The handlers are installed with [`Signals::install`] *before* the child is spawned: a
//! signal that arrives while the child starts is then recorded and forwarded as soon as
//! the forwarding task runs, instead of killing kennel by the default disposition (which
//! left the tree to the keeper's SIGKILL and the caller without an exit code or report —
//! found by the fixture matrix, `supervisor-sigterm`/`tree` cells of `kennel run`).

use kennel::{Controller, Signal};

/// Termination signals of this process, caught from the moment of [`Signals::install`].
pub struct Signals {
    #[cfg(unix)]
    streams: Option<[tokio::signal::unix::Signal; 3]>,
}

impl Signals {
    /// Catch SIGINT, SIGTERM and SIGHUP from now on (Windows: Ctrl-C, caught by the
    /// forwarding task). Must run inside the tokio runtime.
    pub fn install() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let streams = match (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
                signal(SignalKind::hangup()),
            ) {
                (Ok(int), Ok(term), Ok(hup)) => Some([int, term, hup]),
                _ => {
                    tracing::error!(
                        "cannot install signal handlers; signals to kennel will not reach the children"
                    );
                    None
                }
            };
            Signals { streams }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    /// Forward the caught signals to `controller` (each one a `cancel`: the first runs
    /// the ladder, the next escalates) until the task is aborted.
    pub async fn forward_to_ladder(self, controller: Controller) {
        self.forward(move || controller.cancel()).await
    }

    /// Call `on_signal` for every caught signal until the task is aborted.
    pub async fn forward(mut self, mut on_signal: impl FnMut()) {
        loop {
            self.recv().await;
            on_signal();
        }
    }

    /// Resolves at the next caught signal; never if the handlers could not be installed.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a signal that arrives meanwhile is kept for the next call.
    pub async fn recv(&mut self) {
        self.recv_signal().await;
    }

    /// Resolves at the next caught signal with that signal (`Int` for Ctrl-C on
    /// Windows); never if the handlers could not be installed.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a signal that arrives meanwhile is kept for the next call.
    pub async fn recv_signal(&mut self) -> Signal {
        #[cfg(unix)]
        {
            let Some([int, term, hup]) = &mut self.streams else {
                return std::future::pending().await;
            };
            tokio::select! {
                _ = int.recv() => Signal::Int,
                _ = term.recv() => Signal::Term,
                _ = hup.recv() => Signal::Hup,
            }
        }
        #[cfg(not(unix))]
        {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
            Signal::Int
        }
    }
}
