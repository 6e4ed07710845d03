//! Typed errors, one enum per operation. Messages are lowercase sentences that carry the
//! context (program, pid, stage, elapsed time); the OS error is the `source()`, not
//! repeated in the message.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::Signal;

mod control;
use control::describe_signal;
pub use control::{SignalError, SignalErrorKind, StdinError, StdinErrorKind};

/// Spawning failed; nothing was started (or what was started is already gone).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpawnError {
    /// The program does not exist (or is not in `PATH`).
    #[error("cannot spawn `{program}` in {}: the program was not found", cwd.display())]
    NotFound {
        /// The program as given.
        program: String,
        /// The working directory it would have run in.
        cwd: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The program exists, but the kernel could not start it because a file it names
    /// was not found: the interpreter on its `#!` line (a missing one, or one with a
    /// `\r` from Windows line endings), or a binary's dynamic loader. The OS reports
    /// this with the same error as a missing program (`ENOENT`).
    #[error("cannot spawn `{program}` in {}: {} exists, but {}", cwd.display(), path.display(), missing(.interpreter.as_deref()))]
    InterpreterNotFound {
        /// The program as given.
        program: String,
        /// The working directory it would have run in.
        cwd: PathBuf,
        /// The file that was found for the program (relative to `cwd` if relative).
        path: PathBuf,
        /// The interpreter its `#!` line names, which does not exist; `None` when the
        /// file has no `#!` line or the interpreter exists (then it is the loader of a
        /// binary, or the interpreter's own interpreter, that is missing). Boxed to keep
        /// `SpawnError` small.
        interpreter: Option<Box<std::path::Path>>,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The program exists but may not be executed.
    #[error("cannot spawn `{program}` in {}: permission denied (is it executable?)", cwd.display())]
    PermissionDenied {
        /// The program as given.
        program: String,
        /// The working directory it would have run in.
        cwd: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The file exists and may be executed, but the kernel does not know how to run it
    /// (`ENOEXEC`, "Exec format error"): a script whose first line is not a `#!` line
    /// naming its interpreter, or a binary built for another system (or damaged).
    /// kennel does not retry such a file with `/bin/sh`, as `posix_spawn` (std,
    /// tokio) does not; glibc's `execvp`, shells and GNU `timeout` do. Unix only.
    #[error("cannot spawn `{program}` in {}: the kernel cannot run this file (a script needs a `#!` line naming its interpreter as its first line, a binary must be built for this system); give it one, or run it with its interpreter (`sh {program}`)", cwd.display())]
    NotAProgram {
        /// The program as given.
        program: String,
        /// The working directory it would have run in.
        cwd: PathBuf,
        /// The OS error (`ENOEXEC`).
        #[source]
        source: io::Error,
    },
    /// The program is a batch file (`.bat`/`.cmd`, such as the `npx.cmd`, `npm.cmd` and
    /// `codex.cmd` shims npm installs on Windows), which runs through `cmd.exe`, and an
    /// argument holds a line break. `cmd.exe` would end the command line there and run
    /// what follows as another command, so std refuses the argument (CVE-2024-24576)
    /// and nothing was started. Such a program takes multi-line text on stdin or in a
    /// file. Windows only.
    #[error("cannot spawn `{program}` in {}: it is the batch file {}, which runs through cmd.exe, and argument {index} holds a line break, which cmd.exe cannot be given (it would end the command line there); pass multi-line text on stdin or in a file", cwd.display(), path.display())]
    BatchArgument {
        /// The program as given.
        program: String,
        /// The working directory it would have run in.
        cwd: PathBuf,
        /// The batch file.
        path: PathBuf,
        /// Which argument holds the line break (1 is the first after the program).
        index: usize,
        /// std's refusal.
        #[source]
        source: io::Error,
    },
    /// The working directory does not exist or is not a directory.
    #[error("cannot spawn `{program}`: the working directory {} does not exist or is not a directory", cwd.display())]
    BadCwd {
        /// The program as given.
        program: String,
        /// The working directory asked for.
        cwd: PathBuf,
    },
    /// Any other OS failure, with the stage it happened in.
    #[error("cannot spawn `{program}` in {}: {stage} failed", cwd.display())]
    Os {
        /// The program as given.
        program: String,
        /// The working directory it would have run in.
        cwd: PathBuf,
        /// What kennel was doing (e.g. `"fork/exec"`, `"pidfd_open"`).
        stage: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The supervisor-death guarantee was asked for (the default
    /// [`ContainmentOptions`](crate::ContainmentOptions)) but the process that provides
    /// it — the shared guard, or the tree's keeper: this binary re-run with a
    /// `__kennel-…` argument — never entered [`keeper::init`](crate::keeper::init).
    /// That happens when `init()` is not the first thing `main` does, or runs only on
    /// some code path. Nothing was started. The fix is in the message: call `init()`
    /// first in `main`, or switch the guarantee off for this command
    /// (`ContainmentOptions { keeper: false, .. }`), which runs the tree without it and
    /// says so ([`Child::dies_with_supervisor`](crate::Child::dies_with_supervisor)).
    #[error("cannot spawn `{program}`: the process that kills the tree if this one dies did not start (`{helper}` {failure}); call `kennel::keeper::init()` first in `main`, before anything else runs, or switch the guarantee off for this command with `ContainmentOptions {{ keeper: false, .. }}`")]
    GuardNotStarted {
        /// The program as given.
        program: String,
        /// The command line the guard or keeper was started as.
        helper: String,
        /// How it failed to answer.
        failure: HelperFailure,
    },
    /// `spawn` was called outside a tokio runtime.
    #[error("cannot spawn `{program}`: no tokio runtime is running on this thread")]
    NoRuntime {
        /// The program as given.
        program: String,
    },
    /// A resource limit was asked for that this tier cannot enforce (no usable cgroup
    /// controller, no cgroup for the tree, macOS, Wine). Nothing was started: the tree
    /// never runs unbounded unless [`Limits::best_effort`](crate::Limits) says so.
    #[error("cannot spawn `{program}`: the {} limit cannot be enforced here ({why}); ask for best effort to run without it", kinds(.limits))]
    LimitUnsupported {
        /// The program as given.
        program: String,
        /// The limits that cannot be enforced.
        limits: Vec<crate::LimitKind>,
        /// Why, as a short phrase.
        why: &'static str,
    },
    /// A limit value is out of range.
    #[error("cannot spawn `{program}`: {source}")]
    BadLimit {
        /// The program as given.
        program: String,
        /// Which limit.
        #[source]
        source: crate::LimitValueError,
    },
}

fn missing(interpreter: Option<&std::path::Path>) -> String {
    match interpreter {
        Some(i) => format!("the interpreter on its `#!` line, {i:?}, was not found"),
        None => "a file it needs to start was not found (the interpreter on its `#!` line, or the dynamic loader of a binary)".to_string(),
    }
}

/// An error and its sources as one line, each after a `: `.
fn one_line(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}

fn kinds(limits: &[crate::LimitKind]) -> String {
    let names: Vec<&str> = limits.iter().map(|k| k.as_str()).collect();
    names.join(" and ")
}

impl SpawnError {
    /// The error as one line: its message, then its OS error's, if any (what `kennel
    /// run` prints and the sidecar's `error` event carries).
    pub fn report(&self) -> String {
        one_line(self)
    }

    /// The program that failed to spawn.
    pub fn program(&self) -> &str {
        match self {
            SpawnError::NotFound { program, .. }
            | SpawnError::InterpreterNotFound { program, .. }
            | SpawnError::PermissionDenied { program, .. }
            | SpawnError::BatchArgument { program, .. }
            | SpawnError::NotAProgram { program, .. }
            | SpawnError::BadCwd { program, .. }
            | SpawnError::Os { program, .. }
            | SpawnError::GuardNotStarted { program, .. }
            | SpawnError::NoRuntime { program }
            | SpawnError::LimitUnsupported { program, .. }
            | SpawnError::BadLimit { program, .. } => program,
        }
    }
}

/// How a guard or keeper failed its handshake: the binary re-run as one did not answer
/// as one. Every guard and keeper writes a hello line on its control socket as soon as
/// [`keeper::init`](crate::keeper::init) recognises its argument.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HelperFailure {
    /// It closed its control socket (usually: it exited) before saying hello.
    Exited,
    /// It said nothing before the deadline.
    NoAnswer(Duration),
    /// It wrote something other than the hello.
    Unexpected(String),
}

impl std::fmt::Display for HelperFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HelperFailure::Exited => write!(f, "exited without answering its handshake"),
            HelperFailure::NoAnswer(waited) => write!(
                f,
                "did not answer its handshake within {:.0} s",
                waited.as_secs_f64()
            ),
            HelperFailure::Unexpected(line) => {
                write!(f, "answered {line:?} instead of its handshake")
            }
        }
    }
}

/// A problem met during a run that did not stop it, reported in
/// [`Outcome::errors`](crate::Outcome::errors). The message says what happened and to
/// which pid; the OS error, when there was one, is the [`source`](std::error::Error::source)
/// ([`RunError::report`] renders both as one line).
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The leader's exit could not be waited for (should not happen): the tree was
    /// killed so that nothing leaks, and the exit status is unknown.
    #[error("cannot learn how pid {pid} exited ({:.3}s after spawn); the tree was killed", elapsed.as_secs_f64())]
    Wait {
        /// The leader's pid.
        pid: u32,
        /// Time since spawn.
        elapsed: Duration,
        /// The OS error.
        #[source]
        source: Arc<io::Error>,
    },
    /// A signal of the termination ladder could not be sent to the tree.
    #[error("cannot send {signal} to the tree of pid {pid}: {} ({:.3}s after spawn)", describe_signal(*kind), elapsed.as_secs_f64())]
    Signal {
        /// The leader's pid.
        pid: u32,
        /// The signal.
        signal: Signal,
        /// What went wrong.
        kind: SignalErrorKind,
        /// Time since spawn.
        elapsed: Duration,
        /// The OS error, when there was one.
        #[source]
        source: Option<Arc<io::Error>>,
    },
    /// Reading a stream failed; the stream was treated as ended.
    #[error("reading {stream} of pid {pid} failed after {bytes} bytes")]
    Read {
        /// The leader's pid.
        pid: u32,
        /// `"stdout"` or `"stderr"`.
        stream: &'static str,
        /// Bytes read before the failure.
        bytes: u64,
        /// The OS error.
        #[source]
        source: Arc<io::Error>,
    },
    /// The reader of a [`Forward`](crate::Forward) destination went away (`EPIPE`):
    /// kennel closed the stream, as a direct write would have failed.
    #[error("the reader of the destination of {stream} of pid {pid} went away after {bytes} bytes; {stream} was closed, so the tree's next writes to it fail")]
    DestinationGone {
        /// The leader's pid.
        pid: u32,
        /// `"stdout"` or `"stderr"`.
        stream: &'static str,
        /// Bytes forwarded before the failure.
        bytes: u64,
    },
    /// Writing to a [`Forward`](crate::Forward) destination failed: kennel closed the
    /// stream.
    #[error("forwarding {stream} of pid {pid} failed after {bytes} bytes; {stream} was closed, so the tree's next writes to it fail")]
    Forward {
        /// The leader's pid.
        pid: u32,
        /// `"stdout"` or `"stderr"`.
        stream: &'static str,
        /// Bytes forwarded before the failure.
        bytes: u64,
        /// The OS error.
        #[source]
        source: Arc<io::Error>,
    },
    /// An output reader task ended abnormally (a panic); its stream's report is empty.
    #[error("the {stream} reader of pid {pid} failed")]
    Reader {
        /// The leader's pid.
        pid: u32,
        /// `"stdout"` or `"stderr"`.
        stream: &'static str,
        /// The task's failure.
        #[source]
        source: Arc<tokio::task::JoinError>,
    },
    /// The supervisor task ended before the outcome was known (only a runtime shutting
    /// down aborts it): the tree was killed, and this outcome is all that is known.
    #[error("the supervisor task of pid {pid} ended before the outcome was known (runtime shut down); the tree was killed")]
    SupervisorLost {
        /// The leader's pid.
        pid: u32,
    },
    /// An error read back from its serialized form: only its sentence is known.
    #[error("{message}")]
    Reported {
        /// The error's [`report`](RunError::report).
        message: String,
    },
}

impl RunError {
    /// The error as one line: its message, then the OS error's, if any (what the CLI's
    /// report and the sidecar's `exit` event carry).
    pub fn report(&self) -> String {
        one_line(self)
    }

    /// The pid the error concerns (`None` for one read back from its serialized form).
    pub fn pid(&self) -> Option<u32> {
        match self {
            RunError::Wait { pid, .. }
            | RunError::Signal { pid, .. }
            | RunError::Read { pid, .. }
            | RunError::DestinationGone { pid, .. }
            | RunError::Forward { pid, .. }
            | RunError::Reader { pid, .. }
            | RunError::SupervisorLost { pid } => Some(*pid),
            RunError::Reported { .. } => None,
        }
    }
}

/// Two run errors are equal when they say the same thing (the OS errors they carry
/// compare by their text).
impl PartialEq for RunError {
    fn eq(&self, other: &Self) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
            && self.report() == other.report()
    }
}

impl Eq for RunError {}

#[cfg(feature = "serde")]
impl serde::Serialize for RunError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.report())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for RunError {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let message = <String as serde::Deserialize>::deserialize(d)?;
        Ok(RunError::Reported { message })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_as_sentences_with_context() {
        let e = SpawnError::NotFound {
            program: "nope".into(),
            cwd: "/tmp".into(),
            source: io::Error::from(io::ErrorKind::NotFound),
        };
        assert_eq!(
            e.to_string(),
            "cannot spawn `nope` in /tmp: the program was not found"
        );
        let e = SpawnError::InterpreterNotFound {
            program: "./build.sh".into(),
            cwd: "/src".into(),
            path: "./build.sh".into(),
            interpreter: Some(std::path::Path::new("/bin/bash\r").into()),
            source: io::Error::from(io::ErrorKind::NotFound),
        };
        assert_eq!(
            e.to_string(),
            "cannot spawn `./build.sh` in /src: ./build.sh exists, but the interpreter on its `#!` line, \"/bin/bash\\r\", was not found"
        );
        let e = SpawnError::GuardNotStarted {
            program: "make".into(),
            helper: "/usr/bin/host __kennel-guard".into(),
            failure: HelperFailure::Exited,
        };
        assert_eq!(
            e.to_string(),
            "cannot spawn `make`: the process that kills the tree if this one dies did not start \
             (`/usr/bin/host __kennel-guard` exited without answering its handshake); call \
             `kennel::keeper::init()` first in `main`, before anything else runs, or switch the \
             guarantee off for this command with `ContainmentOptions { keeper: false, .. }`"
        );
        let e = StdinError {
            pid: 42,
            kind: StdinErrorKind::BrokenPipe,
            written: 3,
            len: 10,
            elapsed: Duration::from_millis(1500),
            source: None,
        };
        assert_eq!(
            e.to_string(),
            "stdin of pid 42: the child no longer reads stdin (3 of 10 bytes written, 1.500s after spawn)"
        );
        let e = SignalError {
            pid: 7,
            signal: Signal::Int,
            kind: SignalErrorKind::Finished,
            elapsed: Duration::from_millis(2),
            source: None,
        };
        assert_eq!(
            e.to_string(),
            "cannot send SIGINT to the tree of pid 7: the tree has already ended (0.002s after spawn)"
        );
        let e = RunError::Forward {
            pid: 9,
            stream: "stdout",
            bytes: 12,
            source: Arc::new(io::Error::other("disk on fire")),
        };
        assert_eq!(
            e.report(),
            "forwarding stdout of pid 9 failed after 12 bytes; stdout was closed, so the \
             tree's next writes to it fail: disk on fire"
        );
        assert_eq!(e.pid(), Some(9));
    }
}
