//! Running a command from a shell in a terminal as the shell would have run it.
//!
//! - **The terminal is the command's**: kennel's tree runs in a process group of its
//!   own, so once it is spawned [`Job::start`] makes that group the terminal's
//!   foreground group ([`kennel::terminal::Foreground`]) and resumes the tree (a read
//!   before the hand-over stopped it with `SIGTTIN`). A read from the terminal then
//!   works, and Ctrl-C / Ctrl-\ send SIGINT / SIGQUIT to the tree, not to kennel: a
//!   command that dies of it makes kennel exit 130 / 131, and what it leaves running is
//!   torn down as always.
//! - **Ctrl-Z stops the whole job**: the tree stops (SIGTSTP from the terminal); kennel
//!   sees its leader stopped, takes the terminal back and stops itself, so the shell
//!   sees a stopped job. `fg` continues kennel, which hands the terminal (and the modes
//!   the command had) back and sends the tree SIGCONT.
//! - **When kennel ends** — exit, timeout, signal, error — [`Job`]'s drop restores the
//!   terminal's foreground group and its modes.
//! - **Output**: when kennel's stdout or stderr is a terminal, the command gets the
//!   terminal itself there, not a pipe (colours and line buffering kept; those bytes
//!   are not counted in `--report`). See `run::with_stdio`.
//!
//! Nothing happens unless stdin is a terminal whose foreground group is kennel's (a
//! script, a pipe, a background job: as before).

use std::sync::Arc;
use std::time::Duration;

use kennel::terminal::Foreground;
use kennel::Controller;
#[cfg(unix)]
use kennel::Signal;

/// How often the leader's state is looked at for a stop (Ctrl-Z).
const STOP_POLL: Duration = Duration::from_millis(50);

/// Whether descriptor 1 (stdout) or 2 (stderr) is a terminal.
pub(crate) fn is_terminal(n: usize) -> bool {
    use std::io::IsTerminal as _;
    match n {
        0 => std::io::stdin().is_terminal(),
        1 => std::io::stdout().is_terminal(),
        _ => std::io::stderr().is_terminal(),
    }
}

/// The terminal handed to a running tree; dropping it takes the terminal back.
pub(crate) struct Job {
    foreground: Arc<Foreground>,
    watcher: tokio::task::JoinHandle<()>,
}

#[cfg(unix)]
fn sigcont() -> Signal {
    Signal::from_number(rustix::process::Signal::CONT.as_raw())
}

impl Job {
    /// Hand the terminal to the tree of `controller` if kennel holds one (see the module
    /// docs); `None` otherwise (always on Windows: a console has no foreground group).
    #[cfg(not(unix))]
    pub(crate) async fn start(controller: &Controller) -> Option<Job> {
        let _ = (controller, STOP_POLL);
        None
    }

    /// Hand the terminal to the tree of `controller` if kennel holds one (see the module
    /// docs); `None` otherwise.
    #[cfg(unix)]
    pub(crate) async fn start(controller: &Controller) -> Option<Job> {
        let foreground = match Foreground::give_to(controller.id()) {
            Ok(Some(fg)) => Arc::new(fg),
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!("cannot hand the terminal to the command: {e}");
                return None;
            }
        };
        let _ = controller.signal(sigcont()).await;
        let watcher = tokio::spawn(follow_stops(foreground.clone(), controller.clone()));
        Some(Job {
            foreground,
            watcher,
        })
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        self.watcher.abort();
        if let Err(e) = self.foreground.take_back() {
            tracing::warn!("cannot take the terminal back: {e}");
        }
    }
}

#[cfg(unix)]
/// Ctrl-Z: when the leader stops, stop kennel too (terminal back to kennel's group
/// first, so the shell gets it); when kennel is continued, continue the tree.
async fn follow_stops(foreground: Arc<Foreground>, controller: Controller) {
    let leader = controller.id();
    loop {
        tokio::time::sleep(STOP_POLL).await;
        if !is_stopped(leader) {
            continue;
        }
        let _ = foreground.take_back();
        // Returns once the shell's `fg` (or `bg`) continued us.
        let _ =
            rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::STOP);
        // `bg` continues us without the terminal: then the tree stays in the background.
        let _ = foreground.give_again();
        let _ = controller.signal(sigcont()).await;
    }
}

#[cfg(target_os = "linux")]
fn is_stopped(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('T'))
    })
}

#[cfg(all(unix, not(target_os = "linux")))]
fn is_stopped(_pid: u32) -> bool {
    false
}
