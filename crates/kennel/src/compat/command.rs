//! The `tokio::process::Command`-shaped builder: `&mut self` setters over kennel's own
//! [`Command`](crate::Command), plus the stdio and drop settings tokio has.

use std::ffi::OsStr;
use std::future::Future;
use std::io;
use std::path::Path;
use std::process::{ExitStatus, Output, Stdio};

use super::child::Child;
use super::stdio::{self, Kind, Stream};

/// A process to run, with the builder and spawn methods of `tokio::process::Command`
/// (same names, signatures and, where kennel's meaning allows, behaviour; see the
/// [module docs](super) for the differences). Everything kennel adds — timeout,
/// ladder, caps, drain timeout, containment switches — is set with
/// [`Command::kennel`].
///
/// # Examples
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use kennel::compat::Command;
///
/// let mut cmd = Command::new("ls");
/// cmd.arg("-l");
/// let output = cmd.output().await?;
/// assert!(output.status.success());
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Command {
    inner: crate::Command,
    stdin: Option<Kind>,
    stdout: Option<Kind>,
    stderr: Option<Kind>,
    kill_on_drop: bool,
}

impl Command {
    /// Run `program` (looked up in `PATH` as `std` does), with no arguments, the
    /// supervisor's environment and working directory, and all three streams inherited.
    pub fn new<S: AsRef<OsStr>>(program: S) -> Command {
        Command::from_kennel(crate::Command::new(program))
    }

    fn from_kennel(inner: crate::Command) -> Command {
        Command {
            inner,
            stdin: None,
            stdout: None,
            stderr: None,
            kill_on_drop: true,
        }
    }

    /// Apply a by-value kennel builder step to the wrapped command.
    fn update(&mut self, step: impl FnOnce(crate::Command) -> crate::Command) -> &mut Command {
        let inner = std::mem::replace(&mut self.inner, crate::Command::new(""));
        self.inner = step(inner);
        self
    }

    /// Configure what kennel adds to tokio's surface: [`timeout`](crate::Command::timeout),
    /// [`ladder`](crate::Command::ladder), [`grace`](crate::Command::grace), output caps,
    /// [`drain_timeout`](crate::Command::drain_timeout),
    /// [`keep_leftovers`](crate::Command::keep_leftovers),
    /// [`containment`](crate::Command::containment). Stdio set here is replaced by this
    /// command's [`stdin`](Self::stdin)/[`stdout`](Self::stdout)/[`stderr`](Self::stderr)
    /// at spawn.
    ///
    /// ```no_run
    /// # async fn demo() -> std::io::Result<()> {
    /// use std::time::Duration;
    /// let status = kennel::compat::Command::new("make")
    ///     .kennel(|k| k.timeout(Duration::from_secs(600)))
    ///     .status()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn kennel(
        &mut self,
        configure: impl FnOnce(crate::Command) -> crate::Command,
    ) -> &mut Command {
        self.update(configure)
    }

    /// Append one argument, passed verbatim.
    pub fn arg<S: AsRef<OsStr>>(&mut self, arg: S) -> &mut Command {
        self.update(|c| c.arg(arg))
    }

    /// Append arguments, passed verbatim.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.update(|c| c.args(args))
    }

    /// Set one environment variable of the child.
    pub fn env<K, V>(&mut self, key: K, val: V) -> &mut Command
    where
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.update(|c| c.env(key, val))
    }

    /// Set several environment variables of the child.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.update(|c| c.envs(vars))
    }

    /// Remove one variable from the child's environment.
    pub fn env_remove<K: AsRef<OsStr>>(&mut self, key: K) -> &mut Command {
        self.update(|c| c.env_remove(key))
    }

    /// Start the child from an empty environment.
    pub fn env_clear(&mut self) -> &mut Command {
        self.update(crate::Command::env_clear)
    }

    /// The child's working directory.
    pub fn current_dir<P: AsRef<Path>>(&mut self, dir: P) -> &mut Command {
        self.update(|c| c.current_dir(dir))
    }

    /// The child's stdin: `Stdio::piped()` (then [`Child::stdin`] is a writer),
    /// `Stdio::null()`, `Stdio::inherit()` (the default for [`spawn`](Self::spawn)), or a
    /// `File`, `OwnedFd`, a std child's pipe end, or a `Stdio` made from one — anything
    /// `Into<Stdio>`, handed to the OS spawn as is.
    ///
    /// # Platform-specific behavior
    ///
    /// A file or pipe end is used by one spawn (`Stdio` cannot be copied; a second
    /// spawn fails with `InvalidInput` until it is set again); on Windows so is a
    /// `null()` or `inherit()` value (see the [module docs](super#stdio)).
    pub fn stdin<T: Into<Stdio> + 'static>(&mut self, cfg: T) -> &mut Command {
        self.stdin = Some(stdio::classify(cfg));
        self
    }

    /// The child's stdout: `Stdio::piped()` (then [`Child::stdout`] is a reader),
    /// `Stdio::null()`, `Stdio::inherit()` (the default for [`spawn`](Self::spawn)), or
    /// a file or pipe end, as for [`stdin`](Self::stdin).
    pub fn stdout<T: Into<Stdio> + 'static>(&mut self, cfg: T) -> &mut Command {
        self.stdout = Some(stdio::classify(cfg));
        self
    }

    /// The child's stderr, as [`stdout`](Self::stdout).
    pub fn stderr<T: Into<Stdio> + 'static>(&mut self, cfg: T) -> &mut Command {
        self.stderr = Some(stdio::classify(cfg));
        self
    }

    /// Whether dropping the [`Child`] (or an unfinished [`output`](Self::output) or
    /// [`status`](Self::status) future) kills the whole tree. **Default `true`**, unlike
    /// tokio's `false`. With `false`, a dropped child's tree runs on, supervised in a
    /// background task of the runtime, until it ends on its own — or until the runtime
    /// shuts down, which kills it (see the [module docs](super)).
    pub fn kill_on_drop(&mut self, kill_on_drop: bool) -> &mut Command {
        self.kill_on_drop = kill_on_drop;
        self
    }

    /// What [`kill_on_drop`](Self::kill_on_drop) was set to (`true` unless changed).
    #[must_use]
    pub fn get_kill_on_drop(&self) -> bool {
        self.kill_on_drop
    }

    /// The program, as given.
    #[must_use]
    pub fn get_program(&self) -> &OsStr {
        self.inner.get_program()
    }

    /// The arguments, as given.
    pub fn get_args(&self) -> impl Iterator<Item = &OsStr> {
        self.inner.get_args()
    }

    /// The working directory, if set.
    #[must_use]
    pub fn get_current_dir(&self) -> Option<&Path> {
        self.inner.get_current_dir()
    }

    /// Start the child in its containment, as `tokio::process::Command::spawn`. Must be
    /// called inside a tokio runtime. The command can be spawned again.
    ///
    /// # Errors
    ///
    /// The spawn failure as an `io::Error` whose kind is the OS error's (`NotFound`
    /// for a missing program, …) and whose inner error is the [`SpawnError`](crate::SpawnError);
    /// `Unsupported` for a `Stdio` whose shape std's `Debug` shows in a way kennel does
    /// not know (Unix), `InvalidInput` for a file or pipe end an earlier spawn took;
    /// the OS error of creating a pipe or duplicating a `Stdio`'s descriptor.
    pub fn spawn(&mut self) -> io::Result<Child> {
        let take = |setting: &mut Option<Kind>| setting.as_mut().map_or(Kind::Inherit, Kind::take);
        let (cmd, stdin) = stdio::input(self.inner.clone(), take(&mut self.stdin))?;
        let (cmd, stdout) = stdio::output(cmd, take(&mut self.stdout), Stream::Stdout)?;
        let (cmd, stderr) = stdio::output(cmd, take(&mut self.stderr), Stream::Stderr)?;
        super::helper::adopt_from_env();
        let inner = cmd.spawn().map_err(spawn_error)?;
        // `cmd` (and with it kennel's only other handle on the pipes' write ends) is
        // dropped here: the readers get EOF once kennel's own readers are done.
        drop(cmd);
        Ok(Child::new(
            inner,
            stdin.settle(&mut self.stdin).is_some(),
            stdout.settle(&mut self.stdout),
            stderr.settle(&mut self.stderr),
            self.kill_on_drop,
        ))
    }

    /// Spawn with stdout and stderr piped (whatever they were set to, as tokio does),
    /// then collect both and the status, as `tokio::process::Command::output`. Stdin is
    /// what was set, inherited by default (tokio's behaviour). The spawn happens when
    /// this is called, not when the future is first polled.
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn), and reading the pipes.
    pub fn output(&mut self) -> impl Future<Output = io::Result<Output>> {
        self.stdout = Some(Kind::Piped);
        self.stderr = Some(Kind::Piped);
        let child = self.spawn();
        async { child?.wait_with_output().await }
    }

    /// Spawn and wait for the status, as `tokio::process::Command::status` (streams
    /// inherited unless set; piped handles are dropped at once). The spawn happens
    /// when this is called.
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn) and [`Child::wait`].
    pub fn status(&mut self) -> impl Future<Output = io::Result<ExitStatus>> {
        let child = self.spawn();
        async {
            let mut child = child?;
            child.stdin.take();
            child.stdout.take();
            child.stderr.take();
            child.wait().await
        }
    }
}

/// Program, arguments, environment changes and working directory carry over; stdio
/// does not (`std` has no getter for it): set it again on the result.
/// The program, arguments, environment changes and working directory of a
/// `tokio::process::Command` (through [`into_std`](tokio::process::Command::into_std)).
/// Its `kill_on_drop` is not carried over: tokio's default (`false`) is not kennel's
/// (`true`, see the module docs), so an unchanged tokio command keeps kennel's default;
/// stdio set on the tokio command cannot be read back and is left at kennel's default.
impl From<tokio::process::Command> for Command {
    fn from(tokio_cmd: tokio::process::Command) -> Command {
        Command::from(tokio_cmd.into_std())
    }
}

impl From<std::process::Command> for Command {
    fn from(std_cmd: std::process::Command) -> Command {
        let mut cmd = Command::new(std_cmd.get_program());
        cmd.args(std_cmd.get_args());
        for (key, value) in std_cmd.get_envs() {
            match value {
                Some(value) => cmd.env(key, value),
                None => cmd.env_remove(key),
            };
        }
        if let Some(dir) = std_cmd.get_current_dir() {
            cmd.current_dir(dir);
        }
        cmd
    }
}

/// kennel's own builder; its stdio settings are replaced by this command's (default
/// inherit) at spawn.
impl From<crate::Command> for Command {
    fn from(inner: crate::Command) -> Command {
        Command::from_kennel(inner)
    }
}

/// A [`SpawnError`](crate::SpawnError) as the `io::Error` tokio users match on: the OS
/// error's kind, the typed error inside.
fn spawn_error(e: crate::SpawnError) -> io::Error {
    use std::error::Error as _;
    let kind = match &e {
        crate::SpawnError::NotFound { .. }
        | crate::SpawnError::InterpreterNotFound { .. }
        | crate::SpawnError::BadCwd { .. } => io::ErrorKind::NotFound,
        crate::SpawnError::PermissionDenied { .. } => io::ErrorKind::PermissionDenied,
        _ => e
            .source()
            .and_then(|s| s.downcast_ref::<io::Error>())
            .map_or(io::ErrorKind::Other, io::Error::kind),
    };
    io::Error::new(kind, e)
}
