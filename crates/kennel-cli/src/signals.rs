//! SIGINT, SIGTERM and SIGHUP sent to kennel run the ladder on the tree (`kennel run`) or
//! start the shutdown (`kennel serve`); a further one escalates to the forceful rung (as a
//! second Ctrl-C does for most tools).
//!
//! The handlers are installed with [`Signals::install`] *before* the child is spawned: a
//! signal that arrives while the child starts is then recorded and forwarded as soon as
//! the forwarding task runs, instead of killing kennel by the default disposition (which
//! left the tree to the keeper's SIGKILL and the caller without an exit code or report —
//! found by the fixture matrix, `supervisor-sigterm`/`tree` cells of `kennel run`).
//!
//! On Linux a signal sent by a process of one of kennel's own trees (`kill -TERM $PPID`
//! or `kill -TERM -<kennel's group>` from a child) is not obeyed: a child must not be
//! able to end its supervisor and every other tree with it. It is logged and ignored
//! ([`kennel::own_signals`] tells the sender). Signals from anywhere else — the caller,
//! a terminal (the kernel, no sender), or a sender that already exited — keep their
//! meaning. One exception the kernel makes: standard signals do not queue, so the
//! caller's SIGTERM sent while a tree's SIGTERM is still pending (not yet taken by a
//! thread of kennel: tens of µs, rarely milliseconds under load) is merged into the
//! tree's and ignored with it; the caller must send it again. The ignored-line says so.

use kennel::{Controller, Signal};

/// Termination signals of this process, caught from the moment of [`Signals::install`].
pub struct Signals {
    #[cfg(target_os = "linux")]
    own: Option<kennel::own_signals::OwnSignals>,
    #[cfg(all(unix, not(target_os = "linux")))]
    streams: Option<[tokio::signal::unix::Signal; 3]>,
}

impl Signals {
    /// Catch SIGINT, SIGTERM and SIGHUP from now on (Windows: Ctrl-C, caught by the
    /// forwarding task). Must run inside the tokio runtime.
    pub fn install() -> Signals {
        #[cfg(target_os = "linux")]
        {
            let own = match kennel::own_signals::OwnSignals::install() {
                Ok(own) => Some(own),
                Err(e) => {
                    tracing::error!(
                        "cannot install signal handlers ({e}); signals to kennel will not reach the children"
                    );
                    None
                }
            };
            Signals { own }
        }
        #[cfg(all(unix, not(target_os = "linux")))]
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
        #[cfg(target_os = "linux")]
        {
            let Some(own) = &mut self.own else {
                return std::future::pending().await;
            };
            loop {
                match own.recv().await {
                    Ok(caught) if caught.from_a_tree => tracing::warn!(
                        "ignored {sig} from pid {}: a process of a supervised tree may not end kennel \
                         (a {sig} sent from elsewhere at the same moment is merged into it by the \
                         kernel and must be sent again)",
                        caught.sender.unwrap_or(0),
                        sig = caught.signal,
                    ),
                    Ok(caught) => return caught.signal,
                    Err(e) => {
                        tracing::error!(
                            "cannot read caught signals ({e}); ignoring signals from now on"
                        );
                        return std::future::pending().await;
                    }
                }
            }
        }
        #[cfg(all(unix, not(target_os = "linux")))]
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
