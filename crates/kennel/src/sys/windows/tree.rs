//! The composed tree on Windows: the leader's process handle (held until reap, so its
//! pid — also its console group id — cannot be reused while kennel might signal it),
//! its exit wait, and the Job Object layer holding every descendant.

use std::io;
use std::os::windows::io::{AsRawHandle as _, OwnedHandle};

use windows_sys::Win32::Foundation::WAIT_OBJECT_0;
use windows_sys::Win32::System::Threading::{GetExitCodeProcess, WaitForSingleObject, INFINITE};

use super::exit_wait::ExitWait;
use super::job::JobObject;
use super::limits::JobLimits;
use super::KILLED_EXIT_CODE;
use crate::sys::Layer;
use crate::tree::{OutOfMemory, Tree, TreeSignalError};
use crate::{Containment, Escapee, ExitStatus, Signal, Usage};

/// Whether a tree still dies with its supervisor. On Windows always: the Job Object is
/// created with `JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE` and only this process holds it, so
/// the kernel kills the tree when this process ends, however it ends.
#[derive(Clone, Debug)]
pub(crate) struct Protection;

impl Protection {
    /// Always true.
    pub(crate) fn holds(&self) -> bool {
        true
    }
}

/// The leader of a child's job. Holds the leader's process handle until
/// [`Tree::reap`], so its pid (and console group id) stays ours.
pub(crate) struct Leader {
    pub(super) pid: u32,
    /// Declared before `process`: the wait must be unregistered before the handle
    /// it waits on is closed.
    pub(super) exit_wait: Option<ExitWait>,
    pub(super) process: OwnedHandle,
    pub(super) job: JobObject,
    /// The one layer the plan chose: the Job Object.
    pub(super) containment: Containment,
    /// The limit messages of the job, when it has limits.
    pub(super) limits: Option<JobLimits>,
    pub(super) exited: Option<ExitStatus>,
    pub(super) reaped: bool,
}

impl Leader {
    /// The leader's exit status, once its process handle is signalled.
    async fn exit_status(&mut self) -> io::Result<ExitStatus> {
        if let Some(wait) = &mut self.exit_wait {
            if !wait.fired {
                // An error means the callback's sender was dropped unsent, which cannot
                // happen while the wait is registered; check the handle below anyway.
                let _ = (&mut wait.rx).await;
                wait.fired = true;
            }
        }
        // SAFETY: the process handle is valid; a zero timeout never blocks.
        let signalled = unsafe { WaitForSingleObject(self.process.as_raw_handle(), 0) };
        if signalled != WAIT_OBJECT_0 {
            // No registered wait (cannot happen after spawn): wait on a pool thread.
            let dup = self.process.try_clone()?;
            tokio::task::spawn_blocking(move || {
                // SAFETY: `dup` is a valid process handle owned by this closure.
                unsafe { WaitForSingleObject(dup.as_raw_handle(), INFINITE) }
            })
            .await
            .map_err(io::Error::other)?;
        }
        let mut code = 0u32;
        // SAFETY: valid process handle with PROCESS_QUERY_INFORMATION; `code` writable.
        if unsafe { GetExitCodeProcess(self.process.as_raw_handle(), &mut code) } == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(ExitStatus {
            // Exit codes are u32 on Windows (NTSTATUS values such as 0xC0000005 become
            // negative); the bits are kept.
            code: Some(code as i32),
            signal: None,
        })
    }
}

impl Tree for Leader {
    fn pid(&self) -> u32 {
        self.pid
    }

    fn containment(&self) -> Containment {
        self.containment
    }

    /// The Job Object alone.
    fn layers(&self) -> Vec<Containment> {
        vec![self.containment]
    }

    /// Always: the job is killed when its last handle (ours) closes.
    fn protection(&self) -> Protection {
        Protection
    }

    /// Wait until the leader exits (its handle stays open).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the wait is registered once and only observed here.
    async fn wait_exit(&mut self) -> io::Result<ExitStatus> {
        if let Some(status) = self.exited {
            return Ok(status);
        }
        let status = self.exit_status().await?;
        self.exited = Some(status);
        Ok(status)
    }

    fn assume_exited(&mut self, status: ExitStatus) {
        self.exited.get_or_insert(status);
    }

    fn signal_tree(&mut self, signal: Signal) -> Result<(), TreeSignalError> {
        if self.reaped {
            return Err(TreeSignalError::Gone);
        }
        self.job.signal(signal)
    }

    fn tree_alive(&mut self) -> bool {
        if self.reaped {
            return false;
        }
        self.exited.is_none() || self.job.alive()
    }

    /// Pends forever: the job is polled (its completion-port messages are not
    /// guaranteed).
    async fn changed(&self) {
        self.job.changed().await
    }

    fn leftovers(&mut self) -> Vec<u32> {
        let pid = self.pid;
        let mut pids = self.job.members();
        pids.retain(|&p| p != pid);
        pids
    }

    fn release_leftovers(&mut self) {
        self.job.release();
    }

    /// Nothing can leave a Job Object without `JOB_OBJECT_LIMIT_BREAKAWAY_OK` (which
    /// kennel never sets): there are no escapees to sweep.
    fn sweep_escapees(&mut self) -> Vec<Escapee> {
        Vec::new()
    }

    /// Release the exited leader. Only after [`Tree::wait_exit`] returned and the tree
    /// was torn down (or released): the leader's pid may be reused once the `Leader` is
    /// dropped, which closes its process handle and the job handle — and
    /// KILL_ON_JOB_CLOSE ends anything left in the job that was not released.
    async fn reap(&mut self) {
        if self.reaped || self.exited.is_none() {
            return;
        }
        self.exit_wait = None;
        self.reaped = true;
        self.job.close();
    }

    fn usage(&self) -> Usage {
        let notices = self.limits.as_ref().filter(|l| l.counts_forks());
        super::limits::usage(self.job.job.raw(), notices.and_then(JobLimits::notices))
            .unwrap_or_default()
    }

    fn out_of_memory(&self) -> OutOfMemory {
        OutOfMemory(self.limits.as_ref().and_then(JobLimits::out_of_memory))
    }

    fn oom_killed(&self) -> bool {
        self.limits
            .as_ref()
            .is_some_and(JobLimits::memory_limit_hit)
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        // Unregister before the process handle closes (also guaranteed by field order).
        self.exit_wait = None;
        if self.reaped {
            return;
        }
        // Abandoned before the tree was torn down: end it now. Closing the job handle
        // (KILL_ON_JOB_CLOSE) would do it too; this makes it explicit and immediate.
        let _ = self.job.job.terminate(KILLED_EXIT_CODE);
    }
}
