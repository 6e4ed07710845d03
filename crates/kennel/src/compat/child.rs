//! The `tokio::process::Child`-shaped handle over kennel's [`Child`](crate::Child).

use std::io;
use std::process::{ExitStatus, Output};

use tokio::io::{AsyncRead, AsyncReadExt};

use super::stdio::{ChildStderr, ChildStdin, ChildStdout};
use crate::{Containment, Controller, Outcome};

/// A spawned tree, with the fields and methods of `tokio::process::Child`, and kennel's
/// own view beside them: [`outcome`](Self::outcome), [`controller`](Self::controller)
/// (cancel with the ladder, signals), [`containment`](Self::containment),
/// [`dies_with_supervisor`](Self::dies_with_supervisor).
///
/// Dropping it kills the whole tree unless the command said
/// [`kill_on_drop(false)`](super::Command::kill_on_drop).
#[derive(Debug)]
#[must_use = "dropping the child kills its whole tree (unless `kill_on_drop(false)`)"]
pub struct Child {
    /// The writer for the child's stdin, when it was `Stdio::piped()`.
    pub stdin: Option<ChildStdin>,
    /// The reader of the child's stdout, when it was `Stdio::piped()`.
    pub stdout: Option<ChildStdout>,
    /// The reader of the child's stderr, when it was `Stdio::piped()`.
    pub stderr: Option<ChildStderr>,
    /// `None` only while being dropped with `kill_on_drop(false)` (moved to a task).
    inner: Option<crate::Child>,
    controller: Controller,
    status: Option<ExitStatus>,
    kill_on_drop: bool,
}

impl Child {
    pub(super) fn new(
        inner: crate::Child,
        stdin_piped: bool,
        stdout: Option<ChildStdout>,
        stderr: Option<ChildStderr>,
        kill_on_drop: bool,
    ) -> Child {
        let controller = inner.controller();
        Child {
            stdin: stdin_piped.then(|| ChildStdin::new(controller.clone())),
            stdout,
            stderr,
            inner: Some(inner),
            controller,
            status: None,
            kill_on_drop,
        }
    }

    /// The leader's pid, until [`wait`](Self::wait) or [`try_wait`](Self::try_wait)
    /// returned its status (then `None`, as tokio: the pid may be reused).
    #[must_use]
    pub fn id(&self) -> Option<u32> {
        self.status.is_none().then(|| self.controller.id())
    }

    /// Start killing the whole tree (kennel's forceful rung: `SIGKILL` to every
    /// process of it, `TerminateJobObject` on Windows) without waiting. `Ok(())` when
    /// the tree is already gone, as tokio.
    ///
    /// # Errors
    ///
    /// None today; the `Result` is tokio's signature.
    pub fn start_kill(&mut self) -> io::Result<()> {
        if self.status.is_none() {
            self.controller.kill();
        }
        Ok(())
    }

    /// Kill the whole tree and wait for it to be gone (and its output drained).
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    pub async fn kill(&mut self) -> io::Result<()> {
        self.start_kill()?;
        self.wait().await?;
        Ok(())
    }

    /// Close stdin (as tokio does, so a child reading it cannot hold the wait up), then
    /// wait until the run is over — the leader exited, whatever it left behind was torn
    /// down, and stdout/stderr were drained into their readers — and return the
    /// leader's status as a `std::process::ExitStatus`. Fused: calling it again
    /// returns the same status.
    ///
    /// # Errors
    ///
    /// When the run's supervisor task ended without a status (its runtime shut down).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        if let Some(status) = self.status {
            return Ok(status);
        }
        let Some(inner) = self.inner.as_mut() else {
            return Err(gone());
        };
        let outcome = inner.wait().await;
        self.settle(&outcome)
    }

    /// The status if the run is over, without waiting: `Ok(None)` while it runs.
    /// "Over" is kennel's: the leader's exit alone is not enough, its leftovers must
    /// be gone and its output drained (see the [module docs](super)).
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(status) = self.status {
            return Ok(Some(status));
        }
        let Some(inner) = self.inner.as_mut() else {
            return Err(gone());
        };
        // Every stream is forwarded, null or inherited, so the only event is `Exit`.
        // `unconstrained`: a spent coop budget must not read as "still running".
        if inner.outcome().is_none() {
            let _ = crate::sys::poll_once(tokio::task::unconstrained(inner.next_event()));
        }
        match inner.outcome().cloned() {
            Some(outcome) => self.settle(&outcome).map(Some),
            None => Ok(None),
        }
    }

    /// Read stdout and stderr to their end while waiting, as tokio's
    /// `wait_with_output` (streams that were not piped come back empty).
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait), and reading the pipes.
    pub async fn wait_with_output(mut self) -> io::Result<Output> {
        let mut stdout_pipe = self.stdout.take();
        let mut stderr_pipe = self.stderr.take();
        let (status, stdout, stderr) = tokio::try_join!(
            self.wait(),
            read_to_end(stdout_pipe.as_mut()),
            read_to_end(stderr_pipe.as_mut())
        )?;
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }

    /// kennel's report of the run, once [`wait`](Self::wait) or
    /// [`try_wait`](Self::try_wait) saw it end: why it ended, the ladder step, the
    /// bytes per stream, leftovers killed, containment.
    #[must_use]
    pub fn outcome(&self) -> Option<&Outcome> {
        self.inner.as_ref().and_then(crate::Child::outcome)
    }

    /// kennel's handle on the running tree: [`cancel`](Controller::cancel) (the
    /// ladder: `SIGTERM`, grace, `SIGKILL`), [`cancel_with`](Controller::cancel_with),
    /// [`signal`](Controller::signal) to the whole tree, and the rest.
    #[must_use]
    pub fn controller(&self) -> &Controller {
        &self.controller
    }

    /// The containment tier the tree runs in.
    #[must_use]
    pub fn containment(&self) -> Option<Containment> {
        self.inner.as_ref().map(crate::Child::containment)
    }

    /// Whether a death of this process — even `kill -9` — kills the tree too (see
    /// [`Child::dies_with_supervisor`](crate::Child::dies_with_supervisor); in a
    /// program that never called [`keeper::init`](crate::keeper::init), `true` for a
    /// cgroup tree on Linux ≥ 5.16, `false` without a cgroup).
    #[must_use]
    pub fn dies_with_supervisor(&self) -> bool {
        self.inner
            .as_ref()
            .is_some_and(crate::Child::dies_with_supervisor)
    }

    fn settle(&mut self, outcome: &Outcome) -> io::Result<ExitStatus> {
        let status = crate::sys::imp::compat::std_status(outcome.status).ok_or_else(|| {
            io::Error::other(format!(
                "the run of pid {} ended without an exit status: {}",
                outcome.pid,
                outcome
                    .errors
                    .iter()
                    .map(crate::RunError::report)
                    .collect::<Vec<_>>()
                    .join("; ")
            ))
        })?;
        self.status = Some(status);
        Ok(status)
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.kill_on_drop || self.status.is_some() {
            return; // kennel's `Child` kills an unfinished tree when dropped.
        }
        let (Some(mut inner), Ok(runtime)) =
            (self.inner.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        runtime.spawn(async move {
            inner.wait().await;
        });
    }
}

fn gone() -> io::Error {
    io::Error::other("the child handle was already given up")
}

async fn read_to_end<R: AsyncRead + Unpin>(reader: Option<&mut R>) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    if let Some(reader) = reader {
        reader.read_to_end(&mut bytes).await?;
    }
    Ok(bytes)
}
