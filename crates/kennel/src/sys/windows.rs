//! Windows containment: a Job Object per child, ended with `TerminateJobObject`, and
//! killed by the kernel when the supervisor dies.
//!
//! # What the OS does, and where it races
//!
//! * **The job is assigned before the child runs an instruction.** A process created
//!   normally starts running at once, and anything it creates before
//!   `AssignProcessToJobObject` is outside the job (nextest's `assign_process_to_job`
//!   note admits this race). kennel creates the child with `CREATE_SUSPENDED` (through
//!   `std::process::Command`, which keeps argument quoting, `PATH` search and the
//!   environment block identical to std), assigns it to a fresh job, and only then
//!   resumes it with `NtResumeProcess` (std hands out the process handle but not the
//!   main thread's, and `NtResumeProcess` resumes every thread of a process in one
//!   call). Since Windows 8 a process may be in nested jobs, so this works when the
//!   supervisor itself runs inside a job (CI runners, terminals, IDEs).
//! * **Every descendant inherits the job.** The job is created without
//!   `JOB_OBJECT_LIMIT_BREAKAWAY_OK` / `JOB_OBJECT_LIMIT_SILENT_BREAKAWAY_OK`, so a
//!   descendant calling `CreateProcess` with `CREATE_BREAKAWAY_FROM_JOB` gets
//!   `ERROR_ACCESS_DENIED` instead of escaping. Unlike a Unix process group, there is no
//!   `setsid` to leave a job: the kernel sees the whole tree, daemons included.
//! * **Supervisor death kills the tree.** The job has
//!   `JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE`; its only handle is ours (not inheritable),
//!   so when the supervisor exits for any reason — even `TerminateProcess` — the kernel
//!   closes the handle and terminates every process in the job.
//! * **The forceful rung** is `TerminateJobObject(job, 137)`: every process of the job
//!   exits with code 137 (the Unix shell's `128 + SIGKILL`, so scripts comparing
//!   platforms see one number). Windows has no "killed by signal", so
//!   [`ExitStatus::signal`] is always `None`; the outcome's `forced`/`reason` say that
//!   the tree was killed.
//! * **The graceful rung** is `GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, pid)`. The
//!   child is created with `CREATE_NEW_PROCESS_GROUP`, so its console process group id
//!   is its pid and the event reaches it and the descendants that share its console
//!   group (a descendant that made its own group is missed, as `killpg` misses a
//!   `setsid` child; the forceful rung then gets it). `CTRL_C_EVENT` cannot be aimed at
//!   a group, so [`Signal::Int`] is delivered as `CTRL_BREAK_EVENT` too. The event only
//!   travels within one console: when the supervisor has no console (a GUI app, a
//!   service, `DETACHED_PROCESS`), the child is created with `CREATE_NO_WINDOW` (no
//!   console window pops up) and has a console of its own, so the event cannot be
//!   delivered. kennel then ends the tree at once with the forceful rung and reports
//!   the failure (a recorded error in the outcome) rather than waiting out a grace the
//!   child can never act on. Wine 8.0 does not implement the event either.
//! * **The leader's pid stays ours until reap.** The leader's process handle is held
//!   open until [`Leader::reap`], so its pid (which is also the console group id) cannot
//!   be reused while kennel might still signal it. The leader's exit is observed with
//!   `RegisterWaitForSingleObject` on that handle (a thread-pool wait, no thread per
//!   child). Whether the tree is still alive is the job's `ActiveProcesses` count, and
//!   the leftovers are its process id list; both are snapshots, which is why the
//!   supervisor polls until the count reaches zero after `TerminateJobObject` (the job's
//!   completion port would also say `ACTIVE_PROCESS_ZERO`, but its messages are not
//!   guaranteed to be delivered, so kennel does not rely on it).
//! * **Pipes.** Our ends are overlapped named pipes (`\\.\pipe\kennel-…`, created with
//!   `FILE_FLAG_FIRST_PIPE_INSTANCE`, one instance, remote clients rejected) driven by
//!   tokio's I/O completion port; the child's ends are ordinary synchronous handles that
//!   std makes inheritable only for the duration of `CreateProcess`. EOF
//!   (`ERROR_BROKEN_PIPE`) comes when every process holding the child's end has exited
//!   or closed it, as on Unix. Between creating a pipe and opening its client end, a
//!   local process that guessed the name could connect first; the open then fails and
//!   the spawn reports it.

#[allow(dead_code, reason = "wired into spawn in phase B of issue 18")]
pub(crate) mod limits;

use std::ffi::c_void;
use std::fs::OpenOptions;
use std::future::Future as _;
use std::io;
use std::os::windows::io::{AsRawHandle as _, FromRawHandle as _, OwnedHandle};
use std::os::windows::process::CommandExt as _;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::net::windows::named_pipe::{NamedPipeServer, ServerOptions};
use tokio::sync::oneshot;
use windows_sys::Win32::Foundation::{
    ERROR_ACCESS_DENIED, ERROR_FILE_NOT_FOUND, ERROR_MORE_DATA, ERROR_PATH_NOT_FOUND, HANDLE,
    INVALID_HANDLE_VALUE, WAIT_OBJECT_0,
};
use windows_sys::Win32::System::Console::{
    GenerateConsoleCtrlEvent, GetConsoleProcessList, CTRL_BREAK_EVENT,
};
use windows_sys::Win32::System::JobObjects::{
    AssignProcessToJobObject, CreateJobObjectW, JobObjectBasicAccountingInformation,
    JobObjectBasicProcessIdList, JobObjectExtendedLimitInformation, QueryInformationJobObject,
    SetInformationJobObject, TerminateJobObject, JOBOBJECT_BASIC_ACCOUNTING_INFORMATION,
    JOBOBJECT_BASIC_PROCESS_ID_LIST, JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
    JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
};
use windows_sys::Win32::System::Threading::{
    GetExitCodeProcess, OpenProcess, QueryFullProcessImageNameW, RegisterWaitForSingleObject,
    TerminateProcess, UnregisterWaitEx, WaitForSingleObject, CREATE_NEW_PROCESS_GROUP,
    CREATE_NO_WINDOW, CREATE_SUSPENDED, INFINITE, PROCESS_NAME_WIN32,
    PROCESS_QUERY_LIMITED_INFORMATION, WT_EXECUTEINWAITTHREAD, WT_EXECUTEONLYONCE,
};

use crate::{Command, Containment, ExitStatus, OutputMode, Signal, SpawnError, StdinMode};

/// The exit code `TerminateJobObject` gives every process of a killed tree: the Unix
/// shell's `128 + SIGKILL`.
pub(crate) const KILLED_EXIT_CODE: u32 = 137;

/// Size of each pipe's buffer in the kernel (as a Linux pipe's default).
const PIPE_BUFFER: u32 = 64 * 1024;

/// The read end of a child's stdout/stderr: the server end of an overlapped named pipe.
pub(crate) type PipeReader = NamedPipeServer;
/// The write end of a child's stdin: the server end of an overlapped named pipe.
pub(crate) type PipeWriter = NamedPipeServer;

/// A freshly spawned child with its pipes.
pub(crate) struct Spawned {
    pub(crate) leader: Leader,
    pub(crate) stdin: Option<PipeWriter>,
    pub(crate) stdout: Option<PipeReader>,
    pub(crate) stderr: Option<PipeReader>,
}

/// Every tier that works on this machine, strongest first.
pub(crate) fn available() -> Vec<Containment> {
    vec![Containment::JobObject]
}

/// Windows has no subreaper: orphans are not reparented, and the job already holds
/// every descendant.
pub(crate) fn become_subreaper() -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// Unsupported, as [`become_subreaper`].
pub(crate) fn sweep_adopted() -> io::Result<()> {
    become_subreaper()
}

/// Nothing to do: another user's process cannot open ours with debug rights without
/// `SeDebugPrivilege`, and a same-user one can; there is no per-process switch.
pub(crate) fn make_undumpable() -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

#[link(name = "ntdll.dll", kind = "raw-dylib", modifiers = "+verbatim")]
extern "system" {
    /// Resumes every thread of a process (undocumented but stable since NT 5.1; used by
    /// Process Explorer, Wine implements it).
    fn NtResumeProcess(process: HANDLE) -> i32;
}

/// Spawn `cmd` suspended, put it in a new job, then let it run.
pub(crate) fn spawn(cmd: &Command) -> Result<Spawned, SpawnError> {
    let program = cmd.program.to_string_lossy().into_owned();
    let cwd = match &cmd.cwd {
        Some(dir) => {
            if !dir.is_dir() {
                return Err(SpawnError::BadCwd {
                    program,
                    cwd: dir.clone(),
                });
            }
            dir.clone()
        }
        None => std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
    };
    let os_err = |stage: &'static str| {
        let program = program.clone();
        let cwd = cwd.clone();
        move |source: io::Error| SpawnError::Os {
            program,
            cwd,
            stage,
            source,
        }
    };

    // The job first: if it cannot be made, nothing was started.
    let job = Job::new().map_err(os_err("creating the job object"))?;

    let mut std_cmd = std::process::Command::new(&cmd.program);
    cmd.apply_args_cwd_env(&mut std_cmd);
    let (stdin, child_stdin) = match cmd.stdin {
        StdinMode::Null => (None, Stdio::null()),
        StdinMode::Inherit => (None, Stdio::inherit()),
        StdinMode::Piped => {
            let (ours, theirs) =
                pipe(Direction::ToChild).map_err(os_err("creating the stdin pipe"))?;
            (Some(ours), theirs)
        }
    };
    let (stdout, child_stdout) =
        output_pipe(cmd.stdout).map_err(os_err("creating the stdout pipe"))?;
    let (stderr, child_stderr) =
        output_pipe(cmd.stderr).map_err(os_err("creating the stderr pipe"))?;
    std_cmd.stdin(child_stdin);
    std_cmd.stdout(child_stdout);
    std_cmd.stderr(child_stderr);
    let mut flags = CREATE_SUSPENDED | CREATE_NEW_PROCESS_GROUP;
    if !has_console() {
        // Without a console of ours, a console child would get a new, visible one.
        flags |= CREATE_NO_WINDOW;
    }
    std_cmd.creation_flags(flags);

    let spawned = std_cmd.spawn();
    // Close our copies of the child's pipe ends (the Command owns them): from now on
    // only the tree holds them, so EOF means the tree let go.
    drop(std_cmd);
    let child = spawned.map_err(|source| classify_spawn_error(source, &program, &cwd))?;
    let pid = child.id();
    let process = OwnedHandle::from(child);

    // SAFETY: both handles are valid and owned by us for the duration of the call.
    if unsafe { AssignProcessToJobObject(job.raw(), process.as_raw_handle()) } == 0 {
        let e = io::Error::last_os_error();
        // The child never ran an instruction; end it before it can.
        // SAFETY: `process` is a valid process handle with PROCESS_ALL_ACCESS.
        unsafe {
            TerminateProcess(process.as_raw_handle(), KILLED_EXIT_CODE);
        }
        return Err(os_err("AssignProcessToJobObject")(e));
    }
    // From here on the job holds the child: if anything fails, dropping `job` (with
    // KILL_ON_JOB_CLOSE) ends it.
    let exit_wait = ExitWait::register(&process).map_err(os_err("RegisterWaitForSingleObject"))?;
    // SAFETY: `process` is a valid process handle with PROCESS_SUSPEND_RESUME access.
    let status = unsafe { NtResumeProcess(process.as_raw_handle()) };
    if status < 0 {
        return Err(os_err("NtResumeProcess")(io::Error::other(format!(
            "NTSTATUS {status:#010x}"
        ))));
    }
    Ok(Spawned {
        leader: Leader {
            pid,
            exit_wait: Some(exit_wait),
            process,
            job,
            exited: None,
            reaped: false,
        },
        stdin,
        stdout,
        stderr,
    })
}

fn classify_spawn_error(source: io::Error, program: &str, cwd: &std::path::Path) -> SpawnError {
    let program = program.to_string();
    let cwd = cwd.to_path_buf();
    let raw = source.raw_os_error().and_then(|c| u32::try_from(c).ok());
    match raw {
        Some(ERROR_FILE_NOT_FOUND | ERROR_PATH_NOT_FOUND) => SpawnError::NotFound {
            program,
            cwd,
            source,
        },
        Some(ERROR_ACCESS_DENIED) => SpawnError::PermissionDenied {
            program,
            cwd,
            source,
        },
        // std's own PATH search reports a miss without an OS code.
        _ if source.kind() == io::ErrorKind::NotFound => SpawnError::NotFound {
            program,
            cwd,
            source,
        },
        _ if source.kind() == io::ErrorKind::PermissionDenied => SpawnError::PermissionDenied {
            program,
            cwd,
            source,
        },
        _ => SpawnError::Os {
            program,
            cwd,
            stage: "CreateProcessW",
            source,
        },
    }
}

/// Whether this process is attached to a console (which its children then share).
fn has_console() -> bool {
    let mut pids = [0u32; 1];
    // SAFETY: the buffer is valid for the one element we say it has.
    unsafe { GetConsoleProcessList(pids.as_mut_ptr(), 1) != 0 }
}

fn output_pipe(mode: OutputMode) -> io::Result<(Option<PipeReader>, Stdio)> {
    Ok(match mode {
        OutputMode::Piped => {
            let (ours, theirs) = pipe(Direction::FromChild)?;
            (Some(ours), theirs)
        }
        OutputMode::Inherit => (None, Stdio::inherit()),
        OutputMode::Null => (None, Stdio::null()),
    })
}

#[derive(Clone, Copy)]
enum Direction {
    /// The child writes (stdout/stderr).
    FromChild,
    /// The child reads (stdin).
    ToChild,
}

/// A named pipe: our overlapped server end, registered with tokio, and the child's
/// synchronous client end.
fn pipe(direction: Direction) -> io::Result<(NamedPipeServer, Stdio)> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut attempts = 0;
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(r"\\.\pipe\kennel-{}-{n}-{nanos:08x}", std::process::id());
        let mut options = ServerOptions::new();
        options
            .first_pipe_instance(true)
            .reject_remote_clients(true)
            .max_instances(1)
            .in_buffer_size(PIPE_BUFFER)
            .out_buffer_size(PIPE_BUFFER);
        match direction {
            Direction::FromChild => options.access_inbound(true).access_outbound(false),
            Direction::ToChild => options.access_inbound(false).access_outbound(true),
        };
        let server = match options.create(&name) {
            Ok(server) => server,
            // The name is taken (FILE_FLAG_FIRST_PIPE_INSTANCE): pick another.
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied && attempts < 8 => {
                attempts += 1;
                continue;
            }
            Err(e) => return Err(e),
        };
        let mut open = OpenOptions::new();
        match direction {
            Direction::FromChild => open.write(true),
            Direction::ToChild => open.read(true),
        };
        // Not inheritable: std duplicates it as inheritable only inside its spawn lock.
        let client = open.open(&name)?;
        connect_now(&server)?;
        return Ok((server, Stdio::from(client)));
    }
}

/// Tell tokio (mio) that the server end is connected. mio starts reading a server
/// pipe only once `connect` has succeeded; the client end is already open, so
/// `ConnectNamedPipe` answers `ERROR_PIPE_CONNECTED` at once and the first poll of
/// `connect()` is ready — polled here with a no-op waker because spawning is sync.
fn connect_now(server: &NamedPipeServer) -> io::Result<()> {
    struct Noop;
    impl std::task::Wake for Noop {
        fn wake(self: std::sync::Arc<Self>) {}
    }
    let waker = std::task::Waker::from(std::sync::Arc::new(Noop));
    let mut cx = std::task::Context::from_waker(&waker);
    let connect = std::pin::pin!(server.connect());
    match connect.poll(&mut cx) {
        std::task::Poll::Ready(result) => result,
        std::task::Poll::Pending => Err(io::Error::new(
            io::ErrorKind::NotConnected,
            "the pipe's client end is open but the server is not connected",
        )),
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

/// A Job Object that kills its processes when its last handle closes.
struct Job(OwnedHandle);

impl Job {
    fn new() -> io::Result<Job> {
        // SAFETY: null attributes (not inheritable) and no name are allowed.
        let raw = unsafe { CreateJobObjectW(std::ptr::null(), std::ptr::null()) };
        if raw.is_null() {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh handle that nothing else owns.
        let job = Job(unsafe { OwnedHandle::from_raw_handle(raw) });
        job.set_kill_on_close(true)?;
        Ok(job)
    }

    fn raw(&self) -> HANDLE {
        self.0.as_raw_handle()
    }

    /// Set or clear KILL_ON_JOB_CLOSE (no breakaway flags either way).
    fn set_kill_on_close(&self, kill: bool) -> io::Result<()> {
        let mut info = JOBOBJECT_EXTENDED_LIMIT_INFORMATION::default();
        if kill {
            info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
        }
        // SAFETY: `info` is a valid JOBOBJECT_EXTENDED_LIMIT_INFORMATION of the size
        // passed, read only during the call.
        let ok = unsafe {
            SetInformationJobObject(
                self.raw(),
                JobObjectExtendedLimitInformation,
                (&raw const info).cast(),
                size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32,
            )
        };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn terminate(&self, code: u32) -> io::Result<()> {
        // SAFETY: the job handle is valid and has JOB_OBJECT_TERMINATE access.
        if unsafe { TerminateJobObject(self.raw(), code) } == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Processes of the job that have not terminated.
    fn active_processes(&self) -> io::Result<u32> {
        let mut info = JOBOBJECT_BASIC_ACCOUNTING_INFORMATION::default();
        // SAFETY: `info` is a writable struct of the size passed.
        let ok = unsafe {
            QueryInformationJobObject(
                self.raw(),
                JobObjectBasicAccountingInformation,
                (&raw mut info).cast(),
                size_of::<JOBOBJECT_BASIC_ACCOUNTING_INFORMATION>() as u32,
                std::ptr::null_mut(),
            )
        };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(info.ActiveProcesses)
    }

    /// Pids of the job's processes.
    fn pids(&self) -> io::Result<Vec<u32>> {
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

/// A thread-pool wait on the leader's process handle that fires a oneshot once.
struct ExitWait {
    /// The wait object from `RegisterWaitForSingleObject`.
    wait: HANDLE,
    /// The callback's context: boxed so its address is stable; freed only after
    /// `UnregisterWaitEx(…, INVALID_HANDLE_VALUE)` guaranteed the callback is done.
    slot: *mut Option<oneshot::Sender<()>>,
    rx: oneshot::Receiver<()>,
    fired: bool,
}

// SAFETY: the wait handle and the boxed slot are only touched by the callback (once,
// on a pool thread, synchronized with Drop by UnregisterWaitEx) and by the owner; both
// may move between threads.
unsafe impl Send for ExitWait {}
// SAFETY: no `&self` method of ExitWait touches the raw pointers (only `&mut self` and
// Drop do), so shared references across threads cannot race on them.
unsafe impl Sync for ExitWait {}

unsafe extern "system" fn on_leader_exit(context: *mut c_void, _timed_out: bool) {
    // SAFETY: `context` is the `slot` box of a live ExitWait: ExitWait's Drop waits for
    // this callback to finish before freeing it, and WT_EXECUTEONLYONCE means it runs at
    // most once, so this is the only access.
    let slot = unsafe { &mut *context.cast::<Option<oneshot::Sender<()>>>() };
    if let Some(tx) = slot.take() {
        let _ = tx.send(());
    }
}

impl ExitWait {
    fn register(process: &OwnedHandle) -> io::Result<ExitWait> {
        let (tx, rx) = oneshot::channel();
        let slot = Box::into_raw(Box::new(Some(tx)));
        let mut wait: HANDLE = std::ptr::null_mut();
        // SAFETY: `process` outlives the wait (the Leader drops its ExitWait first);
        // `slot` stays valid until Drop unregistered the wait (see `on_leader_exit`).
        let ok = unsafe {
            RegisterWaitForSingleObject(
                &mut wait,
                process.as_raw_handle(),
                Some(on_leader_exit),
                slot.cast::<c_void>().cast_const(),
                INFINITE,
                WT_EXECUTEONLYONCE | WT_EXECUTEINWAITTHREAD,
            )
        };
        if ok == 0 {
            let e = io::Error::last_os_error();
            // SAFETY: the registration failed, so no callback will ever see `slot`.
            drop(unsafe { Box::from_raw(slot) });
            return Err(e);
        }
        Ok(ExitWait {
            wait,
            slot,
            rx,
            fired: false,
        })
    }
}

impl Drop for ExitWait {
    fn drop(&mut self) {
        // SAFETY: `wait` is our registered wait object; INVALID_HANDLE_VALUE makes the
        // call return only once a running callback has finished, after which the slot
        // can no longer be reached.
        unsafe {
            UnregisterWaitEx(self.wait, INVALID_HANDLE_VALUE);
        }
        // SAFETY: the slot came from Box::into_raw and nothing else refers to it now.
        drop(unsafe { Box::from_raw(self.slot) });
    }
}

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
/// [`Leader::reap`], so its pid (and console group id) stays ours.
pub(crate) struct Leader {
    pid: u32,
    /// Declared before `process`: the wait must be unregistered before the handle
    /// it waits on is closed.
    exit_wait: Option<ExitWait>,
    process: OwnedHandle,
    job: Job,
    exited: Option<ExitStatus>,
    reaped: bool,
}

impl Leader {
    /// The leader's pid.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether the tree dies with the supervisor: always, the job is killed when its
    /// last handle (ours) closes.
    pub(crate) fn protection(&self) -> Protection {
        Protection
    }

    /// The tier actually used for this tree.
    pub(crate) fn containment(&self) -> Containment {
        Containment::JobObject
    }

    /// Every containment layer active for this tree: the Job Object alone.
    pub(crate) fn layers(&self) -> Vec<Containment> {
        vec![self.containment()]
    }

    /// Nothing can leave a Job Object without `JOB_OBJECT_LIMIT_BREAKAWAY_OK` (which
    /// kennel never sets): there are no escapees to sweep.
    pub(crate) fn sweep_escapees(&mut self) -> Vec<crate::Escapee> {
        Vec::new()
    }

    /// Wait until the leader exits (its handle stays open).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the wait is registered once and only observed here.
    pub(crate) async fn wait_exit(&mut self) -> io::Result<ExitStatus> {
        if let Some(status) = self.exited {
            return Ok(status);
        }
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
        let status = ExitStatus {
            // Exit codes are u32 on Windows (NTSTATUS values such as 0xC0000005 become
            // negative); the bits are kept.
            code: Some(code as i32),
            signal: None,
        };
        self.exited = Some(status);
        Ok(status)
    }

    /// Record an exit status learned some other way (or give up learning it), so the
    /// teardown can proceed.
    pub(crate) fn assume_exited(&mut self, status: ExitStatus) {
        self.exited.get_or_insert(status);
    }

    /// Deliver `signal` to the tree: [`Signal::Kill`] is `TerminateJobObject`;
    /// [`Signal::Term`], [`Signal::Break`] and [`Signal::Int`] are `CTRL_BREAK_EVENT` to
    /// the leader's console process group; [`Signal::Cont`] does nothing (nothing in the
    /// tree is stopped by kennel); anything else is `InvalidInput` (unsupported).
    ///
    /// # Errors
    ///
    /// When `CTRL_BREAK_EVENT` cannot be generated (no console shared with the child,
    /// or Wine), the job is terminated at once and the error says so.
    pub(crate) fn signal_tree(&mut self, signal: Signal) -> io::Result<()> {
        if self.reaped {
            return Err(io::Error::from(io::ErrorKind::NotFound));
        }
        match signal {
            Signal::Kill => self.job.terminate(KILLED_EXIT_CODE),
            Signal::Term | Signal::Break | Signal::Int => {
                // SAFETY: plain call; the group id is our unreaped leader's pid.
                if unsafe { GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, self.pid) } != 0 {
                    return Ok(());
                }
                let e = io::Error::last_os_error();
                let fallback = match self.job.terminate(KILLED_EXIT_CODE) {
                    Ok(()) => "the tree was ended with TerminateJobObject instead".to_string(),
                    Err(t) => format!("TerminateJobObject failed too: {t}"),
                };
                Err(io::Error::other(format!(
                    "CTRL_BREAK_EVENT cannot be delivered (no console shared with the child: {e}); {fallback}"
                )))
            }
            Signal::Cont => Ok(()),
            _ => Err(io::Error::from(io::ErrorKind::InvalidInput)),
        }
    }

    /// Whether any process of the job is still running. The console host that Windows
    /// (or Wine) starts for a child with a console of its own (`conhost.exe`, in the
    /// child's job) does not count: it exits with its last client, or with the job.
    pub(crate) fn tree_alive(&mut self) -> bool {
        if self.reaped {
            return false;
        }
        if self.exited.is_none() {
            return true;
        }
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

    /// Resolves when the tree may have changed state; pends forever, since the job is
    /// polled (its completion-port messages are not guaranteed).
    pub(crate) async fn changed(&self) {
        std::future::pending::<()>().await
    }

    /// Live processes of the job other than the leader.
    pub(crate) fn leftovers(&mut self) -> Vec<u32> {
        self.job
            .pids()
            .unwrap_or_default()
            .into_iter()
            .filter(|&p| p != self.pid && !is_console_host(p))
            .collect()
    }

    /// Let the processes still alive outlive the run: clear KILL_ON_JOB_CLOSE, so
    /// closing the job handle (when the leader is dropped) spares them. They stay in
    /// the (now handle-less) job, which only means they cannot break away either.
    pub(crate) fn release_leftovers(&mut self) {
        let _ = self.job.set_kill_on_close(false);
    }

    /// Release the exited leader. Call only after [`Leader::wait_exit`] returned and the
    /// tree was torn down (or released): the leader's pid may be reused once the
    /// `Leader` is dropped, which closes its process handle and the job handle — and
    /// KILL_ON_JOB_CLOSE ends anything left in the job that was not released.
    pub(crate) async fn reap(&mut self) {
        if self.reaped || self.exited.is_none() {
            return;
        }
        self.exit_wait = None;
        self.reaped = true;
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
        let _ = self.job.terminate(KILLED_EXIT_CODE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_job_is_empty() {
        let job = Job::new().unwrap();
        assert_eq!(job.active_processes().unwrap(), 0);
        assert!(job.pids().unwrap().is_empty());
    }

    #[test]
    fn this_tier_is_the_job_object() {
        assert_eq!(available(), vec![Containment::JobObject]);
        assert!(become_subreaper().is_err());
    }
}

/// The terminal hand-over of a Unix job; a Windows console has no foreground process
/// group, so there is never anything to hand over.
pub(crate) mod terminal {
    /// Never built: [`Foreground::claim`] always answers `None`.
    pub(crate) struct Foreground(std::convert::Infallible);

    impl Foreground {
        pub(crate) fn claim() -> std::io::Result<Option<Foreground>> {
            Ok(None)
        }

        pub(crate) fn hand_to(&self, _pgid: u32) -> std::io::Result<()> {
            match self.0 {}
        }

        pub(crate) fn take_back(&self) -> std::io::Result<()> {
            match self.0 {}
        }

        pub(crate) fn give_again(&self) -> std::io::Result<()> {
            match self.0 {}
        }
    }
}

impl crate::tree::Tree for Leader {
    fn pid(&self) -> u32 {
        Leader::pid(self)
    }
    fn containment(&self) -> Containment {
        Leader::containment(self)
    }
    fn layers(&self) -> Vec<Containment> {
        Leader::layers(self)
    }
    fn protection(&self) -> Protection {
        Leader::protection(self)
    }
    fn wait_exit(&mut self) -> impl std::future::Future<Output = io::Result<ExitStatus>> + Send {
        Leader::wait_exit(self)
    }
    fn assume_exited(&mut self, status: ExitStatus) {
        Leader::assume_exited(self, status)
    }
    fn signal_tree(&mut self, signal: Signal) -> Result<(), crate::tree::TreeSignalError> {
        Leader::signal_tree(self, signal).map_err(|e| match e.kind() {
            io::ErrorKind::InvalidInput => crate::tree::TreeSignalError::Unsupported,
            io::ErrorKind::NotFound => crate::tree::TreeSignalError::Gone,
            _ => crate::tree::TreeSignalError::Os(e),
        })
    }
    fn tree_alive(&mut self) -> bool {
        Leader::tree_alive(self)
    }
    fn changed(&self) -> impl std::future::Future<Output = ()> + Send {
        Leader::changed(self)
    }
    fn leftovers(&mut self) -> Vec<u32> {
        Leader::leftovers(self)
    }
    fn release_leftovers(&mut self) {
        Leader::release_leftovers(self)
    }
    fn sweep_escapees(&mut self) -> Vec<crate::Escapee> {
        Leader::sweep_escapees(self)
    }
    fn reap(&mut self) -> impl std::future::Future<Output = ()> + Send {
        Leader::reap(self)
    }
}
