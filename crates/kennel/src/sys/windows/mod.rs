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
//!   open until the tree is reaped, so its pid (which is also the console group id) cannot
//!   be reused while kennel might still signal it. The leader's exit is observed with
//!   `RegisterWaitForSingleObject` on that handle (a thread-pool wait, no thread per
//!   child). Whether the tree is still alive is the job's `ActiveProcesses` count, and
//!   the leftovers are its process id list; both are snapshots, which is why the
//!   supervisor polls until the count reaches zero after `TerminateJobObject` (the job's
//!   completion port would also say `ACTIVE_PROCESS_ZERO`, but its messages are not
//!   guaranteed to be delivered, so kennel does not rely on it).
//! * **Pipes** are overlapped named pipes; see `pipe.rs`.
//!
//! # Files
//!
//! `job.rs` is the one containment layer (a [`Layer`](crate::sys::Layer)); `tree.rs`
//! composes it with the leader's process handle and `exit_wait.rs` into the tree the
//! run loop drives; `pipe.rs` makes the stdio pipes.

pub(crate) mod compat;
mod exit_wait;
mod job;
pub(crate) mod limits;
mod pathext;
mod pipe;
pub(crate) mod signal;
pub(crate) mod terminal;
mod tree;

use std::io;
use std::os::windows::io::{AsRawHandle as _, OwnedHandle};
use std::os::windows::process::CommandExt as _;
use std::path::PathBuf;
use std::process::Stdio;

use windows_sys::Win32::Foundation::HANDLE;
use windows_sys::Win32::System::Console::GetConsoleProcessList;
use windows_sys::Win32::System::JobObjects::AssignProcessToJobObject;
use windows_sys::Win32::System::Threading::{
    TerminateProcess, CREATE_NEW_PROCESS_GROUP, CREATE_NO_WINDOW, CREATE_SUSPENDED,
};

pub(crate) use crate::sys::absent::{
    become_subreaper, helpers, make_undumpable, own_signals, sweep_adopted,
};
pub(crate) use pipe::duplicate;
pub(crate) use tree::{Leader, Protection};

use self::exit_wait::ExitWait;
use self::job::{Job, JobObject};
use self::pipe::{output_pipe, pipe, Direction, StdPipes};
use crate::plan::{HostProbe, Os};
use crate::sys::{Launch, SpawnCtx};
use crate::{OutputMode, SpawnError, StdinMode};
use tokio::net::windows::named_pipe::NamedPipeServer;

/// The exit code `TerminateJobObject` gives every process of a killed tree: the Unix
/// shell's `128 + SIGKILL`.
pub(crate) const KILLED_EXIT_CODE: u32 = 137;

/// The shell that `Command::shell` runs a command line with.
pub(crate) const DEFAULT_SHELL: &str = "cmd.exe";

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

pub(crate) use limits::support as limit_support;

/// What this host offers: a Job Object per child, always.
pub(crate) fn probe() -> HostProbe {
    HostProbe {
        os: Os::Windows,
        cgroup_writable: false,
        helpers: false,
        guard: false,
        subreaper: false,
        pidfd: false,
    }
}

/// No PID namespaces here.
pub(crate) fn pid_namespace_works() -> bool {
    false
}

#[link(name = "ntdll.dll", kind = "raw-dylib", modifiers = "+verbatim")]
extern "system" {
    /// Resumes every thread of a process (undocumented but stable since NT 5.1; used by
    /// Process Explorer, Wine implements it).
    fn NtResumeProcess(process: HANDLE) -> i32;
}

/// Spawn the child suspended, put it in a new job, then let it run.
pub(crate) fn spawn(launch: &Launch<'_>) -> Result<Spawned, SpawnError> {
    let ctx = SpawnCtx::new(launch)?;
    // A console has no foreground process group to hand over (see `terminal.rs`).
    let _ = launch.foreground_terminal;
    // The job first: if it cannot be made, nothing was started.
    let apply = &launch.limits.apply;
    let job = Job::with_limits(apply).map_err(|e| ctx.os("creating the job object", e))?;
    let limits = match apply.is_empty() {
        true => None,
        false => Some(
            limits::JobLimits::attach(job.raw(), apply)
                .map_err(|e| ctx.os("watching the job's limits", e))?,
        ),
    };
    let (mut std_cmd, started) = std_command(launch);
    let (stdin, stdout, stderr) = connect_stdio(&mut std_cmd, launch, &ctx)?;
    let spawned = std_cmd.spawn();
    // Close our copies of the child's pipe ends (the Command owns them): from now on
    // only the tree holds them, so EOF means the tree let go.
    drop(std_cmd);
    // std reports ERROR_FILE_NOT_FOUND and ERROR_PATH_NOT_FOUND as `NotFound`, and
    // ERROR_ACCESS_DENIED as `PermissionDenied`.
    let mut child = spawned.map_err(|source| {
        pathext::batch_refusal(&ctx, launch, &started, source)
            .unwrap_or_else(|source| ctx.program_error(source, "CreateProcessW"))
    })?;
    let pid = child.id();
    let std_pipes = StdPipes::take(&mut child);
    let process = OwnedHandle::from(child);
    let exit_wait = contain_and_resume(&job, &process, &ctx)?;
    // After the job holds the child: a failure here ends it with the job.
    let modes = (launch.stdin, launch.stdout, launch.stderr);
    let (adopted_stdin, adopted_stdout, adopted_stderr) = std_pipes
        .adopt(launch.given, modes)
        .map_err(|e| ctx.os("adopting the pipe std made for a given Stdio", e))?;
    Ok(Spawned {
        leader: Leader {
            pid,
            exit_wait: Some(exit_wait),
            process,
            job: JobObject {
                job,
                console_group: pid,
            },
            containment: launch.plan.strongest(),
            limits,
            exited: None,
            reaped: false,
        },
        stdin: stdin.or(adopted_stdin),
        stdout: stdout.or(adopted_stdout),
        stderr: stderr.or(adopted_stderr),
    })
}

/// The std command for `launch`, suspended in a console group of its own, and the file
/// it starts: the program as given, or the file only a `PATHEXT` lookup finds for a
/// bare name (`npx` → `…\npx.cmd`, `pathext.rs`).
fn std_command(launch: &Launch<'_>) -> (std::process::Command, PathBuf) {
    let started = pathext::resolve(launch).unwrap_or_else(|| PathBuf::from(launch.program));
    let mut std_cmd = std::process::Command::new(&started);
    launch.apply_args_cwd_env(&mut std_cmd);
    let mut flags = CREATE_SUSPENDED | CREATE_NEW_PROCESS_GROUP;
    if !has_console() {
        // Without a console of ours, a console child would get a new, visible one.
        flags |= CREATE_NO_WINDOW;
    }
    std_cmd.creation_flags(flags);
    (std_cmd, started)
}

type Pipes = (Option<PipeWriter>, Option<PipeReader>, Option<PipeReader>);

/// Create the stdio pipes `launch` asks for and give the child its ends. A stream with
/// a given `Stdio` gets that instead, and a pipe only if std makes one for it
/// ([`StdPipes::adopt`]).
fn connect_stdio(
    std_cmd: &mut std::process::Command,
    launch: &Launch<'_>,
    ctx: &SpawnCtx,
) -> Result<Pipes, SpawnError> {
    let given = launch.given;
    let (stdin, child_stdin) = match launch.stdin {
        _ if given.stdin.is_some() => (None, Stdio::inherit()),
        StdinMode::Null => (None, Stdio::null()),
        StdinMode::Inherit => (None, Stdio::inherit()),
        StdinMode::Piped => {
            let (ours, theirs) =
                pipe(Direction::ToChild).map_err(|e| ctx.os("creating the stdin pipe", e))?;
            (Some(ours), Stdio::from(theirs))
        }
    };
    let unless_given = |slot: &Option<_>, mode| match slot {
        Some(_) => OutputMode::Inherit,
        None => mode,
    };
    let (stdout, child_stdout) = output_pipe(unless_given(&given.stdout, launch.stdout))
        .map_err(|e| ctx.os("creating the stdout pipe", e))?;
    let (stderr, child_stderr) = output_pipe(unless_given(&given.stderr, launch.stderr))
        .map_err(|e| ctx.os("creating the stderr pipe", e))?;
    std_cmd.stdin(child_stdin);
    std_cmd.stdout(child_stdout);
    std_cmd.stderr(child_stderr);
    launch.given.apply(std_cmd, ctx)?;
    Ok((stdin, stdout, stderr))
}

/// Assign the suspended child to its job, register the wait for its exit, and only
/// then let it run its first instruction.
fn contain_and_resume(
    job: &Job,
    process: &OwnedHandle,
    ctx: &SpawnCtx,
) -> Result<ExitWait, SpawnError> {
    // SAFETY: both handles are valid and owned by us for the duration of the call.
    if unsafe { AssignProcessToJobObject(job.raw(), process.as_raw_handle()) } == 0 {
        let e = io::Error::last_os_error();
        // The child never ran an instruction; end it before it can.
        // SAFETY: `process` is a valid process handle with PROCESS_ALL_ACCESS.
        unsafe {
            TerminateProcess(process.as_raw_handle(), KILLED_EXIT_CODE);
        }
        return Err(ctx.os("AssignProcessToJobObject", e));
    }
    // From here on the job holds the child: if anything fails, dropping `job` (with
    // KILL_ON_JOB_CLOSE) ends it.
    let exit_wait =
        ExitWait::register(process).map_err(|e| ctx.os("RegisterWaitForSingleObject", e))?;
    // SAFETY: `process` is a valid process handle with PROCESS_SUSPEND_RESUME access.
    let status = unsafe { NtResumeProcess(process.as_raw_handle()) };
    if status < 0 {
        let e = io::Error::other(format!("NTSTATUS {status:#010x}"));
        return Err(ctx.os("NtResumeProcess", e));
    }
    Ok(exit_wait)
}

/// Whether this process is attached to a console (which its children then share).
fn has_console() -> bool {
    let mut pids = [0u32; 1];
    // SAFETY: the buffer is valid for the one element we say it has.
    unsafe { GetConsoleProcessList(pids.as_mut_ptr(), 1) != 0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Containment;

    #[test]
    fn a_fresh_job_is_empty() {
        let job = Job::new().unwrap();
        assert_eq!(job.active_processes().unwrap(), 0);
        assert!(job.pids().unwrap().is_empty());
    }

    #[test]
    fn this_tier_is_the_job_object() {
        assert_eq!(
            crate::plan::available(&probe()),
            vec![Containment::JobObject]
        );
        assert!(become_subreaper().is_err());
    }
}
