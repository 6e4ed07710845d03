//! The Job Object layer: every descendant of the child inherits the job, none can
//! break away (no `JOB_OBJECT_LIMIT_BREAKAWAY_OK`), and the kernel kills the job when
//! its last handle — ours — closes (`JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE`). The races
//! are in the [module docs](super).

use std::io;
use std::os::windows::io::{AsRawHandle as _, FromRawHandle as _, OwnedHandle};

use windows_sys::Win32::Foundation::{ERROR_MORE_DATA, HANDLE};
use windows_sys::Win32::System::Console::{GenerateConsoleCtrlEvent, CTRL_BREAK_EVENT};
use windows_sys::Win32::System::JobObjects::{
    CreateJobObjectW, JobObjectBasicAccountingInformation, JobObjectBasicProcessIdList,
    QueryInformationJobObject, TerminateJobObject, JOBOBJECT_BASIC_ACCOUNTING_INFORMATION,
    JOBOBJECT_BASIC_PROCESS_ID_LIST,
};
use windows_sys::Win32::System::Threading::{
    OpenProcess, QueryFullProcessImageNameW, PROCESS_NAME_WIN32, PROCESS_QUERY_LIMITED_INFORMATION,
};

use super::KILLED_EXIT_CODE;
use crate::sys::Layer;
use crate::tree::TreeSignalError;
use crate::{Limits, Signal};

/// A child's job, with the console process group its graceful signal is aimed at (the
/// leader's pid: the child is created with `CREATE_NEW_PROCESS_GROUP`).
pub(crate) struct JobObject {
    pub(crate) job: Job,
    pub(crate) console_group: u32,
}

impl Layer for JobObject {
    /// [`Signal::Kill`] is `TerminateJobObject`; [`Signal::Term`], [`Signal::Break`]
    /// and [`Signal::Int`] are `CTRL_BREAK_EVENT` to the leader's console process
    /// group; [`Signal::Cont`] does nothing (nothing in the tree is stopped by kennel);
    /// anything else is [`TreeSignalError::Unsupported`].
    ///
    /// When `CTRL_BREAK_EVENT` cannot be generated (no console shared with the child,
    /// or Wine), the job is terminated at once and the error says so.
    fn signal(&mut self, signal: Signal) -> Result<(), TreeSignalError> {
        match signal {
            Signal::Kill => Ok(self.job.terminate(KILLED_EXIT_CODE)?),
            Signal::Term | Signal::Break | Signal::Int => {
                // SAFETY: plain call; the group id is our unreaped leader's pid.
                if unsafe { GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, self.console_group) } != 0 {
                    return Ok(());
                }
                let e = io::Error::last_os_error();
                let fallback = match self.job.terminate(KILLED_EXIT_CODE) {
                    Ok(()) => "the tree was ended with TerminateJobObject instead".to_string(),
                    Err(t) => format!("TerminateJobObject failed too: {t}"),
                };
                Err(TreeSignalError::Os(io::Error::other(format!(
                    "CTRL_BREAK_EVENT cannot be delivered (no console shared with the child: {e}); {fallback}"
                ))))
            }
            Signal::Cont => Ok(()),
            _ => Err(TreeSignalError::Unsupported),
        }
    }

    /// Whether any process of the job is still running. The console host that Windows
    /// (or Wine) starts for a child with a console of its own (`conhost.exe`, in the
    /// child's job) does not count: it exits with its last client, or with the job.
    fn alive(&mut self) -> bool {
        // A query failure (never seen) counts as gone: the job is still killed when its
        // handle closes, unless leftovers were asked to be kept.
        if !self.job.active_processes().is_ok_and(|n| n > 0) {
            return false;
        }
        match self.job.pids() {
            Ok(pids) => pids.into_iter().any(|p| !is_console_host(p)),
            Err(_) => true,
        }
    }

    fn members(&mut self) -> Vec<u32> {
        self.job
            .pids()
            .unwrap_or_default()
            .into_iter()
            .filter(|&p| !is_console_host(p))
            .collect()
    }

    /// Clear KILL_ON_JOB_CLOSE, so closing the job handle (when the tree is dropped)
    /// spares the processes still alive. They stay in the (now handle-less) job, which
    /// only means they cannot break away either.
    fn release(&mut self) {
        let _ = self.job.set_kill_on_close(false);
    }
}

/// Whether `pid` runs `conhost.exe` (a console host, not part of the user's tree).
/// A process that cannot be opened (already gone) is not.
fn is_console_host(pid: u32) -> bool {
    // SAFETY: plain call; a null return means failure.
    let raw = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
    if raw.is_null() {
        return false;
    }
    // SAFETY: a fresh handle nobody else owns.
    let process = unsafe { OwnedHandle::from_raw_handle(raw) };
    let mut buf = [0u16; 1024];
    let mut len = buf.len() as u32;
    // SAFETY: `buf` is writable for `len` UTF-16 units; `len` is updated to the length.
    let ok = unsafe {
        QueryFullProcessImageNameW(
            process.as_raw_handle(),
            PROCESS_NAME_WIN32,
            buf.as_mut_ptr(),
            &mut len,
        )
    };
    if ok == 0 {
        return false;
    }
    let path = String::from_utf16_lossy(&buf[..(len as usize).min(buf.len())]);
    let name = path.rsplit(['\\', '/']).next().unwrap_or(&path);
    name.eq_ignore_ascii_case("conhost.exe")
}

/// A Job Object that kills its processes when its last handle closes, with the
/// tree's limits.
pub(crate) struct Job(OwnedHandle, Limits);

impl Job {
    #[cfg(test)]
    pub(crate) fn new() -> io::Result<Job> {
        Job::with_limits(&Limits::default())
    }

    /// A job enforcing `limits` (see [`super::limits`]).
    pub(crate) fn with_limits(limits: &Limits) -> io::Result<Job> {
        // SAFETY: null attributes (not inheritable) and no name are allowed.
        let raw = unsafe { CreateJobObjectW(std::ptr::null(), std::ptr::null()) };
        if raw.is_null() {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh handle that nothing else owns.
        let job = Job(unsafe { OwnedHandle::from_raw_handle(raw) }, *limits);
        job.set_kill_on_close(true)?;
        Ok(job)
    }

    pub(crate) fn raw(&self) -> HANDLE {
        self.0.as_raw_handle()
    }

    /// Set or clear KILL_ON_JOB_CLOSE (no breakaway flags either way), keeping the
    /// limits: both live in one structure.
    pub(crate) fn set_kill_on_close(&self, kill: bool) -> io::Result<()> {
        super::limits::set(self.raw(), &self.1, kill)
    }

    pub(crate) fn terminate(&self, code: u32) -> io::Result<()> {
        // SAFETY: the job handle is valid and has JOB_OBJECT_TERMINATE access.
        if unsafe { TerminateJobObject(self.raw(), code) } == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Processes of the job that have not terminated.
    pub(crate) fn active_processes(&self) -> io::Result<u32> {
        let info: JOBOBJECT_BASIC_ACCOUNTING_INFORMATION =
            super::limits::query_info(self.raw(), JobObjectBasicAccountingInformation)?;
        Ok(info.ActiveProcesses)
    }

    /// Pids of the job's processes.
    pub(crate) fn pids(&self) -> io::Result<Vec<u32>> {
        let header = size_of::<JOBOBJECT_BASIC_PROCESS_ID_LIST>() - size_of::<usize>();
        let mut capacity = 64usize;
        loop {
            // usize-aligned storage for the header plus `capacity` ids.
            let words = header.div_ceil(size_of::<usize>()) + capacity;
            let mut buf = vec![0usize; words];
            let bytes = u32::try_from(words * size_of::<usize>())
                .map_err(|_| io::Error::from(io::ErrorKind::OutOfMemory))?;
            // SAFETY: `buf` is writable, usize-aligned (as the struct needs) and `bytes`
            // long.
            let ok = unsafe {
                QueryInformationJobObject(
                    self.raw(),
                    JobObjectBasicProcessIdList,
                    buf.as_mut_ptr().cast(),
                    bytes,
                    std::ptr::null_mut(),
                )
            };
            let err = (ok == 0).then(io::Error::last_os_error);
            // SAFETY: the buffer starts with a JOBOBJECT_BASIC_PROCESS_ID_LIST header
            // (zeroed, then filled by the call); it is aligned and large enough.
            let list = unsafe { &*buf.as_ptr().cast::<JOBOBJECT_BASIC_PROCESS_ID_LIST>() };
            let more =
                list.NumberOfAssignedProcesses as usize > list.NumberOfProcessIdsInList as usize;
            match err {
                Some(e) if e.raw_os_error() == Some(ERROR_MORE_DATA as i32) || more => {
                    if capacity >= 1 << 16 {
                        return Err(e);
                    }
                    capacity = (list.NumberOfAssignedProcesses as usize + 16).max(capacity * 2);
                }
                Some(e) => return Err(e),
                None if more && capacity < 1 << 16 => {
                    capacity = (list.NumberOfAssignedProcesses as usize + 16).max(capacity * 2);
                }
                None => {
                    let n = (list.NumberOfProcessIdsInList as usize).min(capacity);
                    let first = header / size_of::<usize>();
                    return Ok(buf[first..first + n]
                        .iter()
                        .filter_map(|&p| u32::try_from(p).ok())
                        .collect());
                }
            }
        }
    }
}
