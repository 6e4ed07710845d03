//! What to run: program, arguments, working directory, environment, stdio, limits and the
//! termination ladder. Familiar to `std`/`tokio::process::Command` users.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::output::OutputSpec;
use crate::{ContainmentOptions, Forward, Ladder};

/// What the child's stdin is connected to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StdinMode {
    /// `/dev/null` (or `NUL`): the child sees EOF at once. The default.
    #[default]
    Null,
    /// A pipe written with [`Child::write_stdin`](crate::Child::write_stdin).
    Piped,
    /// The supervisor's own stdin.
    Inherit,
}

/// What a child's stdout or stderr is connected to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutputMode {
    /// A pipe read by kennel and delivered as events. The default.
    #[default]
    Piped,
    /// The supervisor's own stream (no events, no byte counts).
    Inherit,
    /// Discarded.
    Null,
}

/// What happens when a stream's output passes its cap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum CapPolicy {
    /// Keep reading (so the child never blocks), drop what is past the cap, count it.
    #[default]
    Truncate,
    /// Kill the whole tree at once (the forceful rung).
    Kill,
}

/// A per-stream output cap.
///
/// When the cap falls inside a UTF-8 character, the cut moves back to the start of that
/// character, so a stream that was valid text stays valid text. If the character began
/// in an earlier, already delivered chunk, the cut moves forward to finish it instead
/// (at most 3 bytes past the cap).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputCap {
    /// Maximum bytes delivered for the stream.
    pub bytes: u64,
    /// What to do past it.
    pub policy: CapPolicy,
}

impl OutputCap {
    /// A cap of `bytes` that truncates.
    pub fn truncate(bytes: u64) -> Self {
        OutputCap {
            bytes,
            policy: CapPolicy::Truncate,
        }
    }

    /// A cap of `bytes` that kills the tree.
    pub fn kill(bytes: u64) -> Self {
        OutputCap {
            bytes,
            policy: CapPolicy::Kill,
        }
    }
}

/// The cap [`Child::output`](crate::Child::output) applies to a stream that has none:
/// 10 MiB, enough for any build log a human reads, small enough that a runaway child
/// cannot take the supervisor's memory.
pub const DEFAULT_COLLECT_CAP: u64 = 10 * 1024 * 1024;

/// How long to wait, after the leader exited, for stdout and stderr to reach EOF before
/// deciding that a descendant holds them (then the holders are torn down).
///
/// One second: a background job that prints a last line right after its parent exits
/// still gets it out (typical flush latencies are micro- to milliseconds), while a
/// leaked daemon holding the pipe costs a bounded second instead of a hung caller
/// (Node's `'close'` waits forever).
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum EnvOp {
    Set(OsString, OsString),
    Remove(OsString),
}

/// How a run is brought to its end: when (the timeout), how (the ladder), how long the
/// pipes may drain after the leader's exit, and whether leftovers are torn down. The
/// run loop keeps it as given.
#[derive(Clone, Debug)]
pub(crate) struct Ending {
    pub(crate) timeout: Option<Duration>,
    pub(crate) ladder: Ladder,
    pub(crate) drain_timeout: Duration,
    pub(crate) keep_leftovers: bool,
}

impl Default for Ending {
    fn default() -> Self {
        Ending {
            timeout: None,
            ladder: Ladder::default(),
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            keep_leftovers: false,
        }
    }
}

/// [`Command`]'s builder methods that only store their argument: `name(arg: Type) =>
/// field` sets `field` (a path below `self`) to `arg.into()`: an `Option` field to
/// `Some(arg)`, an [`OutputTarget`](crate::output::OutputTarget) to the mode or the
/// forward.
macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident($arg:ident: $ty:ty) => $($field:ident).+;)*) => {$(
        $(#[$doc])*
        pub fn $name(mut self, $arg: $ty) -> Self {
            self.$($field).+ = $arg.into();
            self
        }
    )*};
}

/// What to run and how to supervise it. Build it, then [`Command::spawn`].
///
/// # Examples
///
/// ```no_run
/// # async fn demo() -> Result<(), kennel::SpawnError> {
/// use std::time::Duration;
/// use kennel::{Command, Event};
///
/// let mut child = Command::new("make")
///     .arg("-j4")
///     .current_dir("/src/project")
///     .env("CI", "1")
///     .timeout(Duration::from_secs(600))
///     .spawn()?;
/// while let Some(event) = child.next_event().await {
///     match event {
///         Event::Stdout(bytes) | Event::Stderr(bytes) => print!("{}", String::from_utf8_lossy(&bytes)),
///         Event::Exit(outcome) => println!("{outcome:?}"),
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Command {
    pub(crate) program: OsString,
    pub(crate) args: Vec<OsString>,
    pub(crate) cwd: Option<PathBuf>,
    pub(crate) env_clear: bool,
    /// The environment to start from instead of the supervisor's ([`Command::environment`]).
    pub(crate) env_base: Option<crate::Environment>,
    pub(crate) env: Vec<EnvOp>,
    pub(crate) stdin: StdinMode,
    pub(crate) stdout: OutputSpec,
    pub(crate) stderr: OutputSpec,
    pub(crate) given: crate::sys::Given,
    pub(crate) ending: Ending,
    pub(crate) pid_namespace: bool,
    pub(crate) containment: ContainmentOptions,
    pub(crate) foreground_terminal: bool,
    pub(crate) limits: crate::Limits,
}

impl Command {
    /// Run `program` with no arguments. The program is looked up in `PATH` as
    /// `std::process::Command` does; no shell is involved.
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        Command {
            program: program.as_ref().to_os_string(),
            args: Vec::new(),
            cwd: None,
            env_clear: false,
            env_base: None,
            env: Vec::new(),
            stdin: StdinMode::default(),
            stdout: OutputSpec::default(),
            stderr: OutputSpec::default(),
            given: crate::sys::Given::default(),
            ending: Ending::default(),
            pid_namespace: false,
            containment: ContainmentOptions::default(),
            foreground_terminal: false,
            limits: crate::Limits::default(),
        }
    }

    /// Run `command_line` through the platform shell (`/bin/sh -c` on Unix, `cmd.exe /C`
    /// on Windows). Only this constructor involves a shell.
    pub fn shell(command_line: impl AsRef<OsStr>) -> Self {
        Self::shell_with(crate::sys::imp::DEFAULT_SHELL, command_line)
    }

    /// Run `command_line` through the given shell (`shell -c command_line`, or
    /// `shell /C command_line` when the shell is `cmd.exe`).
    pub fn shell_with(shell: impl AsRef<OsStr>, command_line: impl AsRef<OsStr>) -> Self {
        let shell = shell.as_ref();
        let is_cmd = Path::new(shell)
            .file_stem()
            .is_some_and(|stem| stem.eq_ignore_ascii_case("cmd"));
        Command::new(shell)
            .arg(if is_cmd { "/C" } else { "-c" })
            .arg(command_line)
    }

    /// Append one argument, passed verbatim.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    /// Append arguments, passed verbatim.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    /// The working directory of the child (checked at spawn: a missing directory is a
    /// [`SpawnError::BadCwd`](crate::SpawnError::BadCwd), never mistaken for a missing
    /// program).
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.cwd = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Set one environment variable.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env.push(EnvOp::Set(
            key.as_ref().to_os_string(),
            value.as_ref().to_os_string(),
        ));
        self
    }

    /// Set several environment variables.
    pub fn envs<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        for (k, v) in vars {
            self = self.env(k, v);
        }
        self
    }

    /// Remove one variable from the child's environment.
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.env.push(EnvOp::Remove(key.as_ref().to_os_string()));
        self
    }

    /// Start from an empty environment instead of the supervisor's (variables set with
    /// [`Command::env`] are still applied, whichever order the calls came in). Replaces
    /// an earlier [`Command::environment`].
    pub fn env_clear(mut self) -> Self {
        self.env_clear = true;
        self.env_base = None;
        self
    }

    /// Start from `env` instead of the supervisor's environment (variables set with
    /// [`Command::env`] and removed with [`Command::env_remove`] are still applied,
    /// whichever order the calls came in). Replaces an earlier [`Command::env_clear`].
    ///
    /// For a process that spawns often from an environment it does not change: an
    /// [`Environment`](crate::Environment) is captured once, where each spawn that
    /// inherits the supervisor's environment copies it anew.
    pub fn environment(mut self, env: &crate::Environment) -> Self {
        self.env_clear = true;
        self.env_base = Some(env.clone());
        self
    }

    setters! {
        /// Where stdin comes from (default [`StdinMode::Null`]).
        stdin(mode: StdinMode) => stdin;
        /// Where stdout goes (default [`OutputMode::Piped`]). Replaces an earlier
        /// [`Command::forward_stdout`].
        stdout(mode: OutputMode) => stdout.to;
        /// Where stderr goes (default [`OutputMode::Piped`]). Replaces an earlier
        /// [`Command::forward_stderr`].
        stderr(mode: OutputMode) => stderr.to;
        /// Pipe stdout and forward what the tree writes to `dest` instead of delivering
        /// it as [`Event::Stdout`](crate::Event::Stdout): no events, but unlike
        /// [`OutputMode::Inherit`] the bytes are counted in the
        /// [`Outcome`](crate::Outcome), caps apply, and the drain timeout still ends a
        /// wait on a descendant that holds the pipe. See [`Forward`] for how the bytes
        /// travel. Replaces an earlier [`Command::stdout`].
        forward_stdout(dest: Forward) => stdout.to;
        /// Pipe stderr and forward it to `dest`, as [`Command::forward_stdout`] does for
        /// stdout.
        forward_stderr(dest: Forward) => stderr.to;
        /// Run the ladder when the run has lasted this long (reason `timed_out`).
        timeout(timeout: Duration) => ending.timeout;
        /// The termination ladder used by cancel, timeout and leftover teardown.
        ladder(ladder: Ladder) => ending.ladder;
        /// A cap on stdout only.
        stdout_cap(cap: OutputCap) => stdout.cap;
        /// A cap on stderr only.
        stderr_cap(cap: OutputCap) => stderr.cap;
        /// How long after the leader's exit to wait for the pipes to close (default
        /// [`DEFAULT_DRAIN_TIMEOUT`]).
        drain_timeout(timeout: Duration) => ending.drain_timeout;
        /// Leave processes that outlive the leader running (default: tear them down with
        /// the ladder once output has drained). Pipe holders still stop being read at the
        /// drain timeout.
        keep_leftovers(keep: bool) => ending.keep_leftovers;
        /// Switch containment tiers on or off (e.g. to test the weaker tiers, or to skip
        /// the per-child keeper's extra `exec` when supervisor death does not matter).
        containment(options: ContainmentOptions) => containment;
        /// Make the child's process group the foreground group of the terminal on its
        /// stdin, between `fork` and `exec` (Unix; nothing elsewhere, or when stdin is not
        /// a terminal), as a shell does for a foreground job: the child can read the
        /// terminal from its first instruction, and Ctrl-C / Ctrl-Z reach its tree. Use
        /// with [`StdinMode::Inherit`] and
        /// [`terminal::Foreground`](crate::terminal::Foreground), which saves the terminal
        /// before the spawn and gives it back after.
        foreground_terminal(claim: bool) => foreground_terminal;
        /// Bound the whole tree's memory, processes and CPU ([`Limits`](crate::Limits));
        /// one this tier cannot enforce fails the spawn unless
        /// [`Limits::best_effort`](crate::Limits).
        limits(limits: crate::Limits) => limits;
    }

    /// Shortcut for a one-rung ladder: `signal`, wait `grace`, then kill.
    pub fn grace(self, signal: crate::Signal, grace: Duration) -> Self {
        self.ladder(Ladder::graceful(signal, grace))
    }

    /// The same cap on stdout and on stderr.
    pub fn output_cap(self, cap: OutputCap) -> Self {
        self.stdout_cap(cap).stderr_cap(cap)
    }

    /// The program, as given.
    pub fn get_program(&self) -> &OsStr {
        &self.program
    }

    /// The arguments, as given.
    pub fn get_args(&self) -> impl Iterator<Item = &OsStr> {
        self.args.iter().map(OsString::as_os_str)
    }

    /// The working directory, if set.
    pub fn get_current_dir(&self) -> Option<&Path> {
        self.cwd.as_deref()
    }
}
