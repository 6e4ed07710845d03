//! The platform layer. `unix/` and `windows/` export the same names with the same
//! signatures; the rest of the crate calls `sys::imp` and carries no `cfg`.
//!
//! Each containment mechanism is one file implementing [`Layer`]: the process group
//! (`unix/group.rs`), the cgroup (`unix/linux/cgroup.rs`), the keeper
//! (`unix/linux/keeper/`), the Job Object (`windows/job.rs`); the guard
//! (`unix/linux/guard.rs`) protects cgroups and holds no processes itself. Each
//! platform's `tree.rs` composes the layers the [planner](crate::plan) chose into the
//! one type that implements [`Tree`](crate::tree::Tree).
//!
//! All `unsafe` of the crate lives below this module, each block with a `// SAFETY:`
//! line.

use std::ffi::{OsStr, OsString};
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use crate::plan::Plan;
use crate::spec::EnvOp;
use crate::tree::TreeSignalError;
use crate::{OutputMode, Signal, SpawnError, StdinMode};

#[cfg(unix)]
pub(crate) mod unix;
#[cfg(unix)]
pub(crate) use unix as imp;

#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) mod splice;

#[cfg(windows)]
pub(crate) mod windows;
#[cfg(windows)]
pub(crate) use windows as imp;

#[cfg(not(any(unix, windows)))]
compile_error!("kennel supports Unix (Linux, macOS, BSD) and Windows");

/// What the platforms without a mechanism say about it (macOS and the BSDs for the
/// Linux-only ones, Windows for the Unix-only ones).
#[cfg(not(target_os = "linux"))]
mod absent;

/// One containment mechanism holding (part of) a process tree.
pub(crate) trait Layer {
    /// Send `signal` to every process the layer holds.
    fn signal(&mut self, signal: Signal) -> Result<(), TreeSignalError>;
    /// Whether a process the layer holds is still running (zombies do not count).
    fn alive(&mut self) -> bool;
    /// The running processes the layer holds.
    fn members(&mut self) -> Vec<u32>;
    /// Resolves when what the layer holds may have changed; may wake spuriously. Layers
    /// that can only be polled pend forever.
    fn changed(&self) -> impl Future<Output = ()> + Send {
        std::future::pending()
    }
    /// Let the processes still held outlive the run.
    fn release(&mut self) {}
    /// Give back the layer's OS resources: the tree is gone (or released) and its
    /// leader reaped.
    fn close(&mut self) {}
}

/// What `sys` needs to start a child: the program and its environment, its stdio, and
/// the containment plan (never the whole public [`Command`](crate::Command)).
pub(crate) struct Launch<'a> {
    pub(crate) program: &'a OsStr,
    pub(crate) args: &'a [OsString],
    pub(crate) cwd: Option<&'a Path>,
    pub(crate) env_clear: bool,
    /// The prepared environment to start from (then `env_clear` is set too).
    pub(crate) env_base: Option<&'a crate::Environment>,
    pub(crate) env: &'a [EnvOp],
    pub(crate) stdin: StdinMode,
    pub(crate) stdout: OutputMode,
    pub(crate) stderr: OutputMode,
    /// Streams handed as is to the OS spawn instead of the modes above.
    pub(crate) given: &'a Given,
    /// The child takes the controlling terminal between `fork` and `exec` (Unix).
    pub(crate) foreground_terminal: bool,
    pub(crate) plan: Plan,
    /// The limits to enforce (checked by the planner).
    pub(crate) limits: crate::plan::LimitPlan,
}

impl Launch<'_> {
    /// What `sys` gets to start `cmd`: program, environment, stdio, containment.
    pub(crate) fn of(cmd: &crate::Command) -> Launch<'_> {
        Launch {
            program: &cmd.program,
            args: &cmd.args,
            cwd: cmd.cwd.as_deref(),
            env_clear: cmd.env_clear,
            env_base: cmd.env_base.as_ref(),
            env: &cmd.env,
            stdin: cmd.stdin,
            stdout: cmd.stdout.mode(),
            stderr: cmd.stderr.mode(),
            given: &cmd.given,
            foreground_terminal: cmd.foreground_terminal,
            limits: crate::plan::LimitPlan::default(),
            plan: cmd.plan(),
        }
    }

    /// Apply arguments, working directory and environment to a std command (shared by
    /// every platform's spawn).
    pub(crate) fn apply_args_cwd_env(&self, std_cmd: &mut std::process::Command) {
        std_cmd.args(self.args);
        if let Some(dir) = self.cwd {
            std_cmd.current_dir(dir);
        }
        if self.env_clear {
            std_cmd.env_clear();
        }
        if let Some(base) = self.env_base {
            std_cmd.envs(base.iter());
        }
        for op in self.env {
            match op {
                EnvOp::Set(k, v) => {
                    std_cmd.env(k, v);
                }
                EnvOp::Remove(k) => {
                    std_cmd.env_remove(k);
                }
            }
        }
    }
}

/// `std::process::Stdio` values handed as is to the OS spawn, one slot per stream (the
/// compat layer's files and pipes; kennel reads and writes nothing on such a stream,
/// as for `Inherit`). `Stdio` is neither `Clone` nor `Copy`: a clone of the
/// [`Command`](crate::Command) shares the slots, the first spawn takes each `Stdio`,
/// and a later spawn of a clone fails with `InvalidInput` rather than guess. A spawn
/// with any given stream takes std's spawn path (the vfork-style one works on raw
/// descriptors). A given stream on which a pipe is asked for (compat's `Stdio` values
/// on Windows, which nothing tells apart before the spawn) is a pipe only if std makes
/// one for it; the spawn then puts `Stdio::piped()` back into the slot, which tells the
/// caller (`windows/pipe.rs`, "Pipes std made").
#[derive(Clone, Debug, Default)]
pub(crate) struct Given {
    pub(crate) stdin: Option<Slot>,
    pub(crate) stdout: Option<Slot>,
    pub(crate) stderr: Option<Slot>,
    /// The reports of the given stdout's and stderr's EOF the drain waits for.
    pub(crate) stdout_eof: Option<crate::given::GivenEof>,
    pub(crate) stderr_eof: Option<crate::given::GivenEof>,
}

/// One given stream, taken once.
pub(crate) type Slot = Arc<Mutex<Option<Stdio>>>;

impl Given {
    /// A slot holding `stdio`.
    pub(crate) fn slot(stdio: Stdio) -> Option<Slot> {
        Some(Arc::new(Mutex::new(Some(stdio))))
    }

    /// Whether any stream is given (then Unix takes std's spawn path).
    #[cfg(unix)]
    pub(crate) fn any(&self) -> bool {
        self.stdin.is_some() || self.stdout.is_some() || self.stderr.is_some()
    }

    /// Set the given streams on `cmd` (replacing what the modes set).
    pub(crate) fn apply(
        &self,
        cmd: &mut std::process::Command,
        ctx: &SpawnCtx,
    ) -> Result<(), SpawnError> {
        if let Some(stdio) = take(&self.stdin, "taking the given stdin", ctx)? {
            cmd.stdin(stdio);
        }
        if let Some(stdio) = take(&self.stdout, "taking the given stdout", ctx)? {
            cmd.stdout(stdio);
        }
        if let Some(stdio) = take(&self.stderr, "taking the given stderr", ctx)? {
            cmd.stderr(stdio);
        }
        Ok(())
    }
}

fn take(
    slot: &Option<Slot>,
    stage: &'static str,
    ctx: &SpawnCtx,
) -> Result<Option<Stdio>, SpawnError> {
    let Some(slot) = slot else { return Ok(None) };
    let taken = match slot.lock() {
        Ok(mut stdio) => stdio.take(),
        Err(poisoned) => poisoned.into_inner().take(),
    };
    match taken {
        Some(stdio) => Ok(Some(stdio)),
        None => Err(ctx.os(
            stage,
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "a clone of this command was spawned with it already (a Stdio cannot be copied)",
            ),
        )),
    }
}

#[cfg(unix)]
use unix::interp::existing_program;

/// Windows reports a missing program only when it is missing (no `#!` lines).
#[cfg(not(unix))]
fn existing_program(
    _program: &OsStr,
    _cwd: &Path,
    _path_var: Option<&OsStr>,
) -> Option<(PathBuf, Option<PathBuf>)> {
    None
}

/// The program and working directory of a spawn, to name them in its errors.
pub(crate) struct SpawnCtx {
    pub(crate) program: String,
    pub(crate) cwd: PathBuf,
    /// The program as given, and how the command sets the child's `PATH` (`None`: as
    /// ours; `Some(None)`: unset): to find, after a "not found", the file that exists
    /// but could not start. Our own `PATH` is read only then, not on every spawn.
    program_os: OsString,
    path_set: Option<Option<OsString>>,
}

/// How the command sets the child's variable `name`: `None` when the child inherits
/// ours, `Some(None)` when it is unset. Names compare as the OS compares them: exactly
/// on Unix, without case on Windows (`Path` is `PATH` there).
pub(crate) fn child_var(launch: &Launch<'_>, name: &str) -> Option<Option<OsString>> {
    let same = |k: &OsStr| match cfg!(windows) {
        true => k.to_str().is_some_and(|k| k.eq_ignore_ascii_case(name)),
        false => k == name,
    };
    let base = match launch.env_base {
        Some(base) if cfg!(windows) => Some(
            base.iter()
                .filter(|(k, _)| same(k))
                .map(|(_, v)| v.to_os_string())
                .last(),
        ),
        Some(base) => Some(base.get(name).map(OsStr::to_owned)),
        None => launch.env_clear.then_some(None),
    };
    launch.env.iter().fold(base, |var, op| match op {
        EnvOp::Set(k, v) if same(k) => Some(Some(v.clone())),
        EnvOp::Remove(k) if same(k) => Some(None),
        _ => var,
    })
}

impl SpawnCtx {
    /// The context of `launch`, or the error that its working directory is not a
    /// directory.
    pub(crate) fn new(launch: &Launch<'_>) -> Result<SpawnCtx, SpawnError> {
        let program = launch.program.to_string_lossy().into_owned();
        let cwd = match launch.cwd {
            Some(dir) if !dir.is_dir() => {
                return Err(SpawnError::BadCwd {
                    program,
                    cwd: dir.to_path_buf(),
                })
            }
            Some(dir) => dir.to_path_buf(),
            None => std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
        };
        let path_set = child_var(launch, "PATH");
        Ok(SpawnCtx {
            program,
            cwd,
            program_os: launch.program.to_owned(),
            path_set,
        })
    }

    /// An OS failure at `stage`.
    pub(crate) fn os(&self, stage: &'static str, source: io::Error) -> SpawnError {
        SpawnError::Os {
            program: self.program.clone(),
            cwd: self.cwd.clone(),
            stage,
            source,
        }
    }

    /// Starting the program failed: not found (the program, or its interpreter), not
    /// executable, or another OS failure (at `stage`).
    pub(crate) fn program_error(&self, source: io::Error, stage: &'static str) -> SpawnError {
        let (program, cwd) = (self.program.clone(), self.cwd.clone());
        #[cfg(unix)]
        if source.raw_os_error() == Some(libc::ENOEXEC) {
            return SpawnError::NotAProgram {
                program,
                cwd,
                source,
            };
        }
        match source.kind() {
            io::ErrorKind::NotFound => {
                let path_var = match &self.path_set {
                    Some(set) => set.clone(),
                    None => std::env::var_os("PATH"),
                };
                match existing_program(&self.program_os, &cwd, path_var.as_deref()) {
                    Some((path, interpreter)) => SpawnError::InterpreterNotFound {
                        program,
                        cwd,
                        path,
                        interpreter: interpreter.map(PathBuf::into_boxed_path),
                        source,
                    },
                    None => SpawnError::NotFound {
                        program,
                        cwd,
                        source,
                    },
                }
            }
            io::ErrorKind::PermissionDenied => SpawnError::PermissionDenied {
                program,
                cwd,
                source,
            },
            _ => self.os(stage, source),
        }
    }
}

/// Poll `future` once, without a task to wake (for a future known to be ready, or one
/// whose first poll is all that is wanted).
pub(crate) fn poll_once<F: std::future::Future>(future: F) -> Option<F::Output> {
    struct Noop;
    impl std::task::Wake for Noop {
        fn wake(self: std::sync::Arc<Self>) {}
    }
    let waker = std::task::Waker::from(std::sync::Arc::new(Noop));
    let mut cx = std::task::Context::from_waker(&waker);
    match std::pin::pin!(future).poll(&mut cx) {
        std::task::Poll::Ready(output) => Some(output),
        std::task::Poll::Pending => None,
    }
}
