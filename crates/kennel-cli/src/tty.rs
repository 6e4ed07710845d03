//! Running a command from a shell in a terminal as the shell would have run it.
//!
//! - **The terminal is the command's**: kennel's tree runs in a process group of its
//!   own, which [`Job`] makes the terminal's foreground group
//!   ([`kennel::terminal::Foreground`]; the child takes it between `fork` and `exec`,
//!   as under a shell). A read from the terminal works from the first instruction,
//!   and Ctrl-C / Ctrl-\ send SIGINT / SIGQUIT to the tree, not to kennel: a
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

use kennel::terminal::Foreground;
use kennel::Controller;
#[cfg(unix)]
use kennel::Signal;

/// How often the leader's state is looked at for a stop (Ctrl-Z).
#[cfg(unix)]
const STOP_POLL: std::time::Duration = std::time::Duration::from_millis(50);

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
    watcher: Option<tokio::task::JoinHandle<()>>,
}

#[cfg(unix)]
fn sigcont() -> Signal {
    Signal::from_number(rustix::process::Signal::CONT.as_raw())
}

impl Job {
    /// Before the spawn: if kennel holds the terminal (see the module docs), save it and
    /// have `cmd`'s child take it; `None` (and `cmd` unchanged) otherwise.
    pub(crate) fn prepare(cmd: kennel::Command) -> (kennel::Command, Option<Job>) {
        match Foreground::claim() {
            Ok(Some(fg)) => (
                cmd.foreground_terminal(true),
                Some(Job {
                    foreground: Arc::new(fg),
                    watcher: None,
                }),
            ),
            Ok(None) => (cmd, None),
            Err(e) => {
                tracing::warn!("cannot read the terminal's state; not handing it over: {e}");
                (cmd, None)
            }
        }
    }

    /// After the spawn: the tree of `controller` has the terminal; follow its stops.
    pub(crate) fn started(&mut self, controller: &Controller) {
        // Normally a no-op: the child took the terminal before exec. An error means the
        // group is gone already (the command exited).
        let _ = self.foreground.hand_to(controller.id());
        #[cfg(unix)]
        {
            self.watcher = Some(tokio::spawn(follow_stops(
                self.foreground.clone(),
                controller.clone(),
            )));
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        if let Some(watcher) = &self.watcher {
            watcher.abort();
        }
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
