//! `Command::spawn`: ask `sys` for the tree, then start the readers and the run loop
//! and hand back the [`Child`].

use std::sync::Arc;

use tokio::sync::{mpsc, watch, Mutex};
use tokio::time::Instant;

use super::controller::{Shared, StdinSlot};
use super::readers::{Readers, Stream};
use super::run::{Links, Plan, Run};
use super::{Child, Controller, Output};
use crate::output::OutputSpec;
use crate::output::EVENT_CAPACITY;
use crate::plan::{self, LimitPlan};
use crate::sys::imp::{self, Leader, PipeReader, PipeWriter};
use crate::tree::Tree;
use crate::{Command, LimitKind, OutputCap, SpawnError, StdinMode};

/// The parent's ends of a new tree's pipes.
pub(super) struct Pipes {
    pub(super) stdin: Option<PipeWriter>,
    pub(super) stdout: Option<PipeReader>,
    pub(super) stderr: Option<PipeReader>,
}

impl Command {
    /// Start the child in its containment and begin supervising it. Must be called
    /// from within a tokio runtime (multi-threaded or current-thread, with I/O and time
    /// enabled).
    ///
    /// # Errors
    ///
    /// A [`SpawnError`] naming the program and working directory: not found, not
    /// executable, bad working directory, or an OS failure with its stage.
    pub fn spawn(&self) -> Result<Child, SpawnError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(SpawnError::NoRuntime {
                program: self.program.to_string_lossy().into_owned(),
            });
        }
        let started = Instant::now();
        let (leader, pipes, skipped) = spawn_tree(self)?;
        Ok(supervise(self, leader, pipes, started, skipped))
    }

    /// Spawn, collect stdout and stderr (capped at
    /// [`DEFAULT_COLLECT_CAP`](crate::DEFAULT_COLLECT_CAP) each, truncating, unless a
    /// cap was set) and wait for the outcome.
    ///
    /// # Errors
    ///
    /// See [`Command::spawn`].
    pub async fn output(&self) -> Result<Output, SpawnError> {
        let mut cmd = self.clone();
        let default_cap = OutputCap::truncate(crate::DEFAULT_COLLECT_CAP);
        cmd.stdout.cap.get_or_insert(default_cap);
        cmd.stderr.cap.get_or_insert(default_cap);
        Ok(cmd.spawn()?.output().await)
    }
}

/// The one call into `sys`: start `cmd`'s tree in its containment.
fn spawn_tree(cmd: &Command) -> Result<(Leader, Pipes, Vec<LimitKind>), SpawnError> {
    let mut launch = crate::sys::Launch::of(cmd);
    launch.limits = limit_plan(cmd, &launch.plan)?;
    let imp::Spawned {
        leader,
        stdin,
        stdout,
        stderr,
    } = imp::spawn(&launch)?;
    Ok((
        leader,
        Pipes {
            stdin,
            stdout,
            stderr,
        },
        launch.limits.skipped,
    ))
}

/// The limits this tree gets, or the error that one cannot be enforced here (the host's
/// support is probed only when limits or full accounting are asked for).
fn limit_plan(cmd: &Command, containment: &plan::Plan) -> Result<LimitPlan, SpawnError> {
    let program = || cmd.program.to_string_lossy().into_owned();
    let limits = &cmd.limits;
    limits.validate().map_err(|source| SpawnError::BadLimit {
        program: program(),
        source,
    })?;
    if limits.is_empty() && !limits.full_accounting {
        return Ok(LimitPlan::default());
    }
    plan::limits(limits, containment, &imp::probe(), &imp::limit_support()).map_err(
        |(limits, why)| SpawnError::LimitUnsupported {
            program: program(),
            limits,
            why,
        },
    )
}

/// Supervise `tree`, spawned at `started` for `cmd`: start the reader tasks and the run
/// loop's task, and return the handle.
pub(super) fn supervise<T: Tree + 'static>(
    cmd: &Command,
    tree: T,
    pipes: Pipes,
    started: Instant,
    limits_skipped: Vec<LimitKind>,
) -> Child {
    let pid = tree.pid();
    let containment = tree.containment();
    let protection = tree.protection();

    let (tx, rx) = mpsc::channel(EVENT_CAPACITY);
    let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
    let (finished_tx, finished_rx) = watch::channel(false);
    let (tree_ended_tx, tree_ended_rx) = watch::channel(false);
    let readers = start_readers(cmd, pid, &tx, pipes.stdout, pipes.stderr);
    let stdin = Arc::new(Mutex::new(match (cmd.stdin, pipes.stdin) {
        (StdinMode::Piped, Some(writer)) => StdinSlot::Open(writer),
        _ => StdinSlot::NotPiped,
    }));
    let plan = Plan {
        ending: cmd.ending.clone(),
        timeout_at: cmd.ending.timeout.and_then(|t| started.checked_add(t)),
        limits_skipped,
    };
    let links = Links {
        ctl: ctl_rx,
        tx,
        stdin: stdin.clone(),
        finished: finished_tx,
        tree_ended: tree_ended_tx,
    };
    tokio::spawn(Run::new(tree, started, plan, links, readers).supervise());

    let shared = Shared {
        pid,
        started,
        ctl: ctl_tx,
        stdin,
        finished: finished_rx,
        tree_ended: tree_ended_rx,
    };
    Child {
        controller: Controller {
            shared: Arc::new(shared),
        },
        events: rx,
        outcome: None,
        containment,
        protection,
    }
}

/// Start a reader for each of the tree's output pipes, as `cmd` asks.
fn start_readers(
    cmd: &Command,
    pid: u32,
    tx: &mpsc::Sender<super::Item>,
    stdout: Option<PipeReader>,
    stderr: Option<PipeReader>,
) -> Readers {
    let stream = |pipe: Option<PipeReader>, spec: &OutputSpec| {
        pipe.map(|pipe| Stream {
            pipe,
            cap: spec.cap,
            forward: spec.forward().cloned(),
        })
    };
    let eof = |given: &Option<crate::given::GivenEof>| given.as_ref().and_then(|e| e.take());
    Readers::start(
        pid,
        tx,
        [stream(stdout, &cmd.stdout), stream(stderr, &cmd.stderr)],
        [eof(&cmd.given.stdout_eof), eof(&cmd.given.stderr_eof)],
    )
}
