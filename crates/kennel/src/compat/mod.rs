//! A `tokio::process`-shaped API with kennel's tree kill built in: change
//! `use tokio::process::Command;` to `use kennel::compat::Command;` and the code that
//! builds, spawns, pipes, waits and kills keeps compiling — with the whole tree, not
//! just the leader, under kennel's supervision.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use std::process::Stdio;
//! use kennel::compat::Command; // was: use tokio::process::Command;
//! use tokio::io::{AsyncBufReadExt, BufReader};
//!
//! let mut cmd = Command::new("sh");
//! cmd.arg("-c").arg("sleep 300 & echo started").stdout(Stdio::piped());
//! let mut child = cmd.spawn()?;
//! let stdout = child.stdout.take().expect("piped");
//! let mut lines = BufReader::new(stdout).lines();
//! while let Some(line) = lines.next_line().await? {
//!     println!("{line}");
//! }
//! let status = child.wait().await?; // the background `sleep` was torn down too
//! println!("{status}, {:?}", child.outcome().map(|o| &o.leftovers_killed));
//! # Ok(()) }
//! ```
//!
//! # Where kennel's meaning differs from tokio's
//!
//! | | `tokio::process` | `kennel::compat` |
//! |---|---|---|
//! | `kill()`, `start_kill()` | `SIGKILL` to the leader; its descendants run on | the forceful rung to the whole tree (process group, cgroup or Job Object) |
//! | the leader exits, descendants remain (`sh -c 'daemon &'`) | they run on, holding the pipes | torn down with kennel's ladder once output has drained (keep them with `kennel(\|k\| k.keep_leftovers(true))`) |
//! | `wait()`, `try_wait()`, `status()` | the leader's exit | the end of the run: leader exited, leftovers gone, stdout/stderr drained (a descendant holding a pipe: at most the drain timeout, 1 s, later) |
//! | a piped stdout/stderr after the leader's exit | open while any descendant holds the pipe | EOF once kennel's drain of it is over, after every byte the tree wrote |
//! | dropping the `Child` | the process runs on (`kill_on_drop` is `false` by default) | the tree is killed (`kill_on_drop` is `true` by default); with `false` it runs on, supervised by a task of the runtime, and dies with the runtime |
//! | `ChildStdin` writes | straight into the pipe | accepted at once, carried out by kennel's stdin pipe; errors show at the next write / `flush` / `shutdown` |
//! | `ChildStdin::shutdown()` | flushes; the pipe stays open until the handle is dropped | closes the child's stdin (EOF), as dropping it does |
//! | `stdin/stdout/stderr(T: Into<Stdio>)` | any `Stdio`, reused by every spawn | any `Stdio`; `piped()` (and on Unix `null()`, `inherit()`) serves every spawn, a file, descriptor or pipe end (as itself or as a `Stdio` made from it) serves one, as does on Windows a `null()`/`inherit()` value (see [Stdio](#stdio)) |
//! | exit status | from `waitpid` | kennel's [`ExitStatus`](crate::ExitStatus) rebuilt as `std::process::ExitStatus` (`from_raw`; a core dump flag is not carried) |
//! | a process killed with its supervisor (`kill -9`) | nothing happens to it | killed too: in a cgroup always (Linux ≥ 5.16), without one when [`keeper::init`](crate::keeper::init) ran first in `main` ([`Child::dies_with_supervisor`]) |
//!
//! Everything else — arguments, environment, working directory, `output()` forcing
//! pipes on stdout/stderr, `status()` dropping piped handles, `wait()` closing stdin,
//! fused `wait`, `id()` turning `None` after the status is known — is tokio's.
//!
//! # kennel's own API beside it
//!
//! [`Command::kennel`] reaches kennel's builder (timeout, ladder, caps, drain timeout,
//! containment switches); [`Child::controller`] the running tree (cancel with the
//! ladder, signals); [`Child::outcome`] the typed report once the run is over. There
//! is one machinery: these types wrap [`crate::Command`] and [`crate::Child`], and
//! piped output is kennel's [`Forward`](crate::Forward) into a pipe the caller reads.
//!
//! # Containment without `keeper::init()`
//!
//! A program that never calls [`keeper::init`](crate::keeper::init) still gets every
//! tier that needs no helper binary: a cgroup of its own per tree where one is
//! writable (Linux), else a process group; a Job Object on Windows. On Linux (≥ 5.16)
//! its cgroup trees also die with it, even on `kill -9`: their guard is a clone of the
//! program that runs no binary (the *in-process guard*; the kernel's OOM killer, which
//! kills every process sharing the program's memory, takes it along). A tree without a
//! cgroup (none writable) would need a keeper, the program re-run as a helper: it runs
//! without the guarantee. [`Child::dies_with_supervisor`] says which, and
//! [`Child::containment`] names the tier. For a keeper (and a guard with memory of its
//! own) without touching `main`, name a binary that hosts them — the `kennel` CLI of
//! the same version — in the environment variable [`HELPER_ENV`] (`KENNEL_HELPER`).
//!
//! # Stdio
//!
//! Only `Stdio::piped()` needs kennel: its pipe is kennel's, so the tree's output is
//! drained, counted and capped, and the reader ends when the drain does. Everything
//! else goes to the OS spawn exactly as given — a `File`, an `OwnedFd`, a std child's
//! `ChildStdout`, `io::stdout()`, or a `Stdio` made from any of them — and kennel
//! reads and writes nothing on that stream (the tree kill does not depend on it).
//! `std::process::Stdio` is opaque and not copyable on stable Rust, which shapes how:
//!
//! - Anything but a value *already of type* `Stdio` is handed on without looking (no
//!   conversion into `Stdio` makes a pipe).
//! - Unix: a `Stdio` value is told apart by the alternate `Debug` of a
//!   `std::process::Command` holding it (`MakePipe`, `Null`, `Inherit`, or the
//!   descriptor's number, which is duplicated while that probe holds it). A shape
//!   std might show in the future and this crate does not know fails the spawn with
//!   `io::ErrorKind::Unsupported` rather than being guessed at.
//! - Windows: std's `Command` shows no stdio, so a `Stdio` value goes to std's spawn as
//!   given; when std makes a pipe for it (it was `piped()`), kennel adopts that pipe —
//!   a thread copies between it and kennel's own, so reading, caps, byte counts and the
//!   drain timeout are as for any piped stream — and the next spawns pipe too.
//! - A file, descriptor or pipe end serves one spawn (tokio duplicates it for each),
//!   and so does on Windows a `null()` or `inherit()` value (nothing tells it apart to
//!   remake it): spawning the same command again fails with
//!   `io::ErrorKind::InvalidInput` until it is set again.

mod child;
mod command;
mod helper;
mod stdio;

pub use child::Child;
pub use command::Command;
pub use helper::HELPER_ENV;
pub(crate) use stdio::Kind;
pub use stdio::{ChildStderr, ChildStdin, ChildStdout};
