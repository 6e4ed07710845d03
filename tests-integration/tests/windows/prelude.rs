//! Shared helpers: spawning the fixture, collecting events until a condition, and
//! watching processes through handles until they are gone.

use std::os::windows::io::{AsRawHandle as _, FromRawHandle as _, OwnedHandle};
use std::time::{Duration, Instant};

pub use kennel::{
    Child, Command, Containment, Drain, EndReason, Ladder, Outcome, Signal, SignalErrorKind,
    SpawnError, StdinMode,
};
pub use kennel_tests::verify_text_prefix;

/// The fixture binary.
pub const FIXTURE: &str = env!("CARGO_BIN_EXE_kennel-fixture");

/// Generous bound for anything that should take milliseconds (Wine starts a process in
/// ~0.2 s on a warm wineserver; a loaded 2-core CI machine is slower).
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The exit code `TerminateJobObject` gives a killed tree (kennel's choice: 128 + 9).
pub const KILLED: i32 = 137;

/// Whether this is Wine (every Wine prefix has `winecfg.exe`; Windows has none).
pub fn under_wine() -> bool {
    std::path::Path::new(r"C:\windows\system32\winecfg.exe").exists()
}

/// A fixture command.
pub fn fixture(args: &[&str]) -> Command {
    Command::new(FIXTURE).args(args)
}

/// A ladder that goes straight to `TerminateJobObject` (no console event).
pub fn kill_only() -> Ladder {
    Ladder::new()
}

pub use kennel_tests::events::Seen;

/// `fixture(args)` ended by the job kill alone ([`kill_only`]), spawned; with an empty
/// [`Seen`] for its events.
pub fn spawn_kill_only(args: &[&str]) -> (Child, Seen) {
    (
        fixture(args).ladder(kill_only()).spawn().unwrap(),
        Seen::default(),
    )
}

/// Read events until `done(seen)` holds; panics (with what was seen) after [`PATIENCE`]
/// or if the run ends first.
pub async fn read_until(child: &mut Child, seen: &mut Seen, done: impl FnMut(&Seen) -> bool) {
    kennel_tests::events::read_until(child, seen, PATIENCE, done).await
}

/// Read until `n` pid lines have been printed; returns their pids, and handles to the
/// processes opened while they are alive (dropping them terminates the processes).
#[must_use = "dropping the handles terminates the processes"]
pub async fn read_pids(child: &mut Child, seen: &mut Seen, n: usize) -> (Vec<u32>, Procs) {
    read_until(child, seen, |s| s.lines().len() >= n).await;
    let pids = seen.pids();
    let procs = Procs::open(&pids);
    (pids, procs)
}

/// Spawn `command` and read until `n` pid lines have been printed; returns the child,
/// what was seen and their pids, without opening the processes (some may have exited).
pub async fn spawn_printed(command: Command, n: usize) -> (Child, Seen, Vec<u32>) {
    let mut child = command.spawn().unwrap();
    let mut seen = Seen::default();
    read_until(&mut child, &mut seen, |s| s.lines().len() >= n).await;
    let pids = seen.pids();
    (child, seen, pids)
}

/// [`spawn_printed`], and handles to the processes opened while they are alive (see
/// [`read_pids`]).
pub async fn spawn_ready(command: Command, n: usize) -> (Child, Seen, Vec<u32>, Procs) {
    let (child, seen, pids) = spawn_printed(command, n).await;
    let procs = Procs::open(&pids);
    (child, seen, pids, procs)
}

/// Read every remaining event; returns the outcome (checks it is the last event).
pub async fn read_to_end(child: &mut Child, seen: &mut Seen) -> Outcome {
    kennel_tests::events::read_to_end(child, seen, PATIENCE * 2).await
}

// --- Looking at processes -----------------------------------------------------------

use windows_sys::Win32::Foundation::WAIT_OBJECT_0;
use windows_sys::Win32::System::Threading::{
    GetExitCodeProcess, OpenProcess, TerminateProcess, WaitForSingleObject,
    PROCESS_QUERY_LIMITED_INFORMATION, PROCESS_SYNCHRONIZE as SYNCHRONIZE, PROCESS_TERMINATE,
};

/// Handles to processes, opened while they were alive: waiting on them can never be
/// fooled by pid reuse. Dropping it terminates whatever is still running (cleanup of a
/// failed test).
pub struct Procs(Vec<(u32, OwnedHandle)>);

impl Procs {
    /// Open every pid; panics if one is already gone (the caller read its line from a
    /// process that should be alive).
    pub fn open(pids: &[u32]) -> Procs {
        Procs(
            pids.iter()
                .map(|&pid| {
                    (
                        pid,
                        open(pid).unwrap_or_else(|| panic!("pid {pid} is not running")),
                    )
                })
                .collect(),
        )
    }

    /// The pids still running.
    pub fn running(&self) -> Vec<u32> {
        self.0
            .iter()
            .filter(|(_, h)| !signalled(h))
            .map(|(pid, _)| *pid)
            .collect()
    }

    /// Exit code of `pid` once it exited.
    pub fn exit_code(&self, pid: u32) -> Option<u32> {
        let (_, h) = self.0.iter().find(|(p, _)| *p == pid)?;
        let mut code = 0;
        // SAFETY: a valid process handle and a writable u32.
        let ok = unsafe { GetExitCodeProcess(h.as_raw_handle(), &mut code) };
        (ok != 0 && signalled(h)).then_some(code)
    }

    /// Wait until every process exited; the pids still running at the deadline.
    pub fn wait_gone(&self, within: Duration) -> Result<(), Vec<u32>> {
        let end = Instant::now() + within;
        loop {
            let running = self.running();
            if running.is_empty() {
                return Ok(());
            }
            if Instant::now() >= end {
                return Err(running);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Every process must be gone right after the outcome (the tree was torn down before
    /// the Exit event).
    pub fn assert_gone(&self) {
        let running = self.running();
        assert!(
            running.is_empty(),
            "still running after the outcome: {running:?}"
        );
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for (_, h) in &self.0 {
            // SAFETY: a valid handle with PROCESS_TERMINATE access; terminating an exited
            // process fails harmlessly.
            unsafe {
                TerminateProcess(h.as_raw_handle(), 1);
            }
        }
    }
}

/// A handle to a running process, or `None` if there is no such process.
pub fn open(pid: u32) -> Option<OwnedHandle> {
    // SAFETY: plain call; a null return means failure.
    let raw = unsafe {
        OpenProcess(
            SYNCHRONIZE | PROCESS_TERMINATE | PROCESS_QUERY_LIMITED_INFORMATION,
            0,
            pid,
        )
    };
    if raw.is_null() {
        return None;
    }
    // SAFETY: a fresh handle nobody else owns.
    let h = unsafe { OwnedHandle::from_raw_handle(raw) };
    (!signalled(&h)).then_some(h)
}

fn signalled(h: &OwnedHandle) -> bool {
    // SAFETY: a valid handle with SYNCHRONIZE access; zero timeout.
    unsafe { WaitForSingleObject(h.as_raw_handle(), 0) == WAIT_OBJECT_0 }
}
