//! The Windows counterparts of the Unix shapes: processes are created by re-running
//! this program (`std::process::Command`) with hidden `--x-…` flags; a child reports
//! readiness with `ready\n` on its stderr, a private pipe to its parent.

use std::io::{self, Read as _};
use std::os::windows::io::{AsRawHandle as _, IntoRawHandle as _};
use std::os::windows::process::CommandExt as _;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::Ordering;

use crate::out::{self, pid_line, sleep_forever, write_out, PARENT_PID};
use crate::{io_err, Fail, Res};

use windows_sys::Win32::Foundation::{CloseHandle, HANDLE as Handle};
use windows_sys::Win32::System::Console::{
    GetStdHandle, SetConsoleCtrlHandler, SetStdHandle, STD_ERROR_HANDLE, STD_HANDLE,
    STD_OUTPUT_HANDLE,
};
use windows_sys::Win32::System::Diagnostics::Debug::{
    SetErrorMode, SetUnhandledExceptionFilter, EXCEPTION_POINTERS, SEM_FAILCRITICALERRORS,
    SEM_NOGPFAULTERRORBOX,
};
use windows_sys::Win32::System::Threading::{
    GetCurrentProcess, CREATE_BREAKAWAY_FROM_JOB, CREATE_NEW_PROCESS_GROUP, DETACHED_PROCESS,
};

#[link(name = "ntdll.dll", kind = "raw-dylib", modifiers = "+verbatim")]
extern "system" {
    /// Suspends every thread of a process (the counterpart of kennel's
    /// `NtResumeProcess`; Wine implements both).
    fn NtSuspendProcess(process: Handle) -> i32;
}

/// Re-runs this program with `args`: stdin null, stdout inherited, stderr a pipe to
/// us (the readiness channel).
pub fn spawn_self(args: &[String], flags: u32) -> Res<Child> {
    let exe = std::env::current_exe().map_err(io_err("current_exe"))?;
    Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .creation_flags(flags)
        .spawn()
        .map_err(io_err("spawn"))
}

/// Waits until `kid` wrote a line to its stderr (or closed it).
pub fn await_ready(kid: &mut Child) {
    if let Some(err) = kid.stderr.as_mut() {
        let mut got = Vec::new();
        let mut b = [0u8; 64];
        while !got.contains(&b'\n') {
            match err.read(&mut b) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&b[..n]),
            }
        }
    }
}

fn suspend_handle(process: Handle) -> Res<()> {
    // SAFETY: `process` is a valid process handle with PROCESS_SUSPEND_RESUME access
    // (our child's handle from CreateProcess, or the current-process pseudo handle).
    let status = unsafe { NtSuspendProcess(process) };
    if status < 0 {
        return Err(Fail::Io(
            "NtSuspendProcess",
            io::Error::other(format!("NTSTATUS {status:#010x}")),
        ));
    }
    Ok(())
}

/// Suspends every thread of `kid`.
pub fn suspend(kid: &Child) -> Res<()> {
    suspend_handle(kid.as_raw_handle())
}

/// Suspends every thread of this process, the calling one included: returns only if
/// someone resumes it.
pub fn suspend_self() -> Res<()> {
    // SAFETY: returns the current-process pseudo handle; no preconditions.
    suspend_handle(unsafe { GetCurrentProcess() })
}

unsafe extern "system" fn swallow_control_event(_event: u32) -> i32 {
    1
}

/// Installs a console control handler that returns TRUE for every event (Ctrl-C,
/// Ctrl-Break, close): the Windows way to ignore SIGTERM/SIGINT.
pub fn ignore_console_control() {
    // SAFETY: the handler is a plain function that lives as long as the process.
    unsafe {
        SetConsoleCtrlHandler(Some(swallow_control_event), 1);
    }
}

/// Points the standard handle `which` at `NUL` and closes the old one.
fn drop_std_handle(which: STD_HANDLE) -> Res<()> {
    let nul = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("NUL")
        .map_err(io_err("open NUL"))?;
    // SAFETY: plain call; the result is the process's current standard handle.
    let old = unsafe { GetStdHandle(which) };
    // SAFETY: `nul` is a valid handle we own and hand over to the process's standard
    // handle table (it is never closed); `old` was the inherited handle, closed once.
    unsafe {
        if SetStdHandle(which, nul.into_raw_handle()) == 0 {
            return Err(Fail::Io("SetStdHandle", io::Error::last_os_error()));
        }
        if !old.is_null() && old as isize != -1 {
            CloseHandle(old);
        }
    }
    Ok(())
}

/// `daemon [--leader-stays]` on Windows: the leader starts the daemon with
/// `DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP` (no console, its own console
/// group: what a Windows service-style launcher does), first also with
/// `CREATE_BREAKAWAY_FROM_JOB`, the one way out of a job.
pub fn daemon(leader_stays: bool, is_daemon: bool, ppid: u32) -> Res<ExitCode> {
    if is_daemon {
        PARENT_PID.store(ppid, Ordering::Relaxed);
        pid_line("daemon")?;
        write_out(out::Stream::Err, b"ready\n")?;
        sleep_forever()
    }
    if leader_stays {
        pid_line("leader")?;
    }
    let args = [
        "daemon".to_string(),
        "--x-daemon".to_string(),
        format!("--x-ppid={}", std::process::id()),
    ];
    let detached = DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP;
    let mut kid = match spawn_self(&args, detached | CREATE_BREAKAWAY_FROM_JOB) {
        Ok(kid) => {
            write_out(
                out::Stream::Err,
                format!("breakaway escaped {}\n", kid.id()).as_bytes(),
            )?;
            kid
        }
        Err(Fail::Io(_, e)) => {
            write_out(
                out::Stream::Err,
                format!("breakaway refused {}\n", e.raw_os_error().unwrap_or(-1)).as_bytes(),
            )?;
            spawn_self(&args, detached)?
        }
        Err(e) => return Err(e),
    };
    await_ready(&mut kid);
    std::mem::forget(kid);
    if leader_stays {
        sleep_forever()
    }
    Ok(ExitCode::SUCCESS)
}

/// `nohup` on Windows: the leader starts a child with `DETACHED_PROCESS |
/// CREATE_NEW_PROCESS_GROUP` (no console, so no console control event can reach
/// it: the Windows `nohup`), which prints its line, points its stdout and stderr at
/// `NUL`, and sleeps forever; the leader waits until then and exits 0.
pub fn nohup(is_child: bool, ppid: u32) -> Res<ExitCode> {
    if is_child {
        PARENT_PID.store(ppid, Ordering::Relaxed);
        pid_line("nohup")?;
        drop_std_handle(STD_OUTPUT_HANDLE)?;
        write_out(out::Stream::Err, b"ready\n")?;
        drop_std_handle(STD_ERROR_HANDLE)?;
        sleep_forever()
    }
    let args = [
        "nohup".to_string(),
        "--x-child".to_string(),
        format!("--x-ppid={}", std::process::id()),
    ];
    let mut kid = spawn_self(&args, DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP)?;
    await_ready(&mut kid);
    std::mem::forget(kid);
    Ok(ExitCode::SUCCESS)
}

/// `hold-pipe` on Windows: leader → intermediate → holder; the holder inherits
/// stdout (its stderr is the readiness pipe), prints its line and sleeps forever;
/// the intermediate exits once the holder printed, the leader once the
/// intermediate exited.
pub fn hold_pipe(level: u32, ppid: u32) -> Res<ExitCode> {
    PARENT_PID.store(ppid, Ordering::Relaxed);
    if level >= 2 {
        pid_line("holder")?;
        write_out(out::Stream::Err, b"ready\n")?;
        sleep_forever()
    }
    let args = [
        "hold-pipe".to_string(),
        format!("--x-level={}", level + 1),
        format!("--x-ppid={}", std::process::id()),
    ];
    let mut kid = spawn_self(&args, 0)?;
    await_ready(&mut kid);
    if level == 0 {
        kid.wait().map_err(io_err("wait for the intermediate"))?;
    } else {
        std::mem::forget(kid);
        write_out(out::Stream::Err, b"ready\n")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `fork-loop --count N` on Windows: member `index` prints its line, starts member
/// `index + 1` (stdio inherited) unless it is the `N`th, and sleeps forever.
pub fn fork_loop(count: u32, index: u32, ppid: u32) -> Res<ExitCode> {
    PARENT_PID.store(ppid, Ordering::Relaxed);
    pid_line("looper")?;
    if index < count {
        let exe = std::env::current_exe().map_err(io_err("current_exe"))?;
        let next = Command::new(exe)
            .arg("fork-loop")
            .arg(format!("--count={count}"))
            .arg(format!("--x-index={}", index + 1))
            .arg(format!("--x-ppid={}", std::process::id()))
            .stdin(Stdio::null())
            .spawn()
            .map_err(io_err("spawn the next looper"))?;
        std::mem::forget(next);
    }
    sleep_forever()
}

/// How `crash` ends the process.
#[derive(Clone, Copy)]
pub enum Crash {
    /// A write to an unmapped address: `STATUS_ACCESS_VIOLATION` (0xC0000005).
    AccessViolation,
    /// `std::process::abort()`: `__fastfail`, `STATUS_STACK_BUFFER_OVERRUN`
    /// (0xC0000409).
    Abort,
}

/// `EXCEPTION_EXECUTE_HANDLER`: the process ends with the exception's code.
unsafe extern "system" fn end_with_exception_code(_info: *const EXCEPTION_POINTERS) -> i32 {
    1
}

/// Crashes like a C program that no debugger watches: no error dialog
/// (`SEM_NOGPFAULTERRORBOX`), no just-in-time debugger (an unhandled-exception
/// filter that returns `EXCEPTION_EXECUTE_HANDLER`; Wine would otherwise start
/// `winedbg`), so the NTSTATUS of the exception becomes the exit code.
pub fn crash(how: Crash) -> Res<ExitCode> {
    // SAFETY: plain calls; the filter is a plain function that lives as long as the
    // process.
    unsafe {
        SetErrorMode(SEM_FAILCRITICALERRORS | SEM_NOGPFAULTERRORBOX);
        SetUnhandledExceptionFilter(Some(end_with_exception_code));
    }
    match how {
        Crash::AccessViolation => {
            // The first 64 KiB of a Windows address space are never mapped.
            let addr = 0x10 as *mut u8;
            // SAFETY: not safe at all, on purpose: the write faults and the process
            // dies with STATUS_ACCESS_VIOLATION before anything observes it.
            unsafe { std::ptr::write_volatile(addr, 1) };
        }
        Crash::Abort => std::process::abort(),
    }
    sleep_forever()
}
