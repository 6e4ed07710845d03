//! `clone3(CLONE_VM | CLONE_VFORK | CLONE_PIDFD | CLONE_INTO_CGROUP |
//! CLONE_CLEAR_SIGHAND)`: the leader is born inside its cgroup, so it never has to join
//! one, and with its signal handlers at their defaults.
//!
//! # Why
//!
//! Joining a cgroup by writing to its `cgroup.procs` migrates the process: the kernel
//! takes `cgroup_threadgroup_rwsem` for writing, which waits for every `fork` in
//! flight on the host, holds off every new one meanwhile, and (without the cgroup2
//! mount's `favordynmods`) can wait for an RCU grace period. `CLONE_INTO_CGROUP`
//! (Linux 5.7) places the new process in the cgroup as part of the `clone` itself,
//! under the read side of that lock that every `fork` takes. The guarantee is the
//! same, only stronger: the program's first instruction — and every instruction of
//! the child before `exec` — already runs inside the cgroup.
//!
//! # The stack switch
//!
//! glibc 2.36 has no `clone3` wrapper, and `clone3` with `CLONE_VM` cannot be called
//! through `syscall(2)`: the child returns from the system call on the new stack, in
//! the middle of a Rust function whose frame is on the parent's stack. The few
//! instructions below do what glibc's own `clone3` wrapper (2.34+, internal) does on
//! x86_64: the child, on its fresh stack, clears the frame pointer, calls `child(arg)`
//! and ends with `exit` with what it returned; it never returns into the caller's
//! frame. Other architectures report `ENOSYS` here, and the caller joins the old way.

use std::ffi::{c_int, c_void};
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};

use super::prep::Stack;

/// Set once the kernel has said it has no `clone3` or no `CLONE_INTO_CGROUP`.
static REFUSED: AtomicBool = AtomicBool::new(false);

/// Whether this kernel is known to refuse [`clone_into_cgroup`] every time.
pub(super) fn refused() -> bool {
    REFUSED.load(Ordering::Relaxed)
}

/// Remember a refusal that will not change for this process: no `clone3` (`ENOSYS`:
/// Linux < 5.3, a seccomp filter, not x86_64), a `struct clone_args` too big for it
/// (`E2BIG`: Linux < 5.7 with a cgroup fd that is not 0), flags it does not know
/// (`EINVAL`: the same kernels otherwise; the arguments are the same every time), or a
/// seccomp filter that answers `EPERM`. Others (`EACCES`, `EBADF`, `ENODEV`,
/// `EOPNOTSUPP`) are this cgroup's alone. Remembering too much only costs the speed:
/// the fallback is always correct.
pub(super) fn note_refusal(error: &io::Error) {
    let kernel_wide = [libc::ENOSYS, libc::E2BIG, libc::EINVAL, libc::EPERM];
    if error
        .raw_os_error()
        .is_some_and(|e| kernel_wide.contains(&e))
    {
        REFUSED.store(true, Ordering::Relaxed);
    }
}

/// `CLONE_INTO_CGROUP` (Linux 5.7; the `libc` crate types it as a 32-bit `c_int`).
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// `CLONE_CLEAR_SIGHAND` (Linux 5.5, so every kernel with `CLONE_INTO_CGROUP`): the
/// child's handlers start at their defaults, ignored signals stay ignored — what the
/// child did itself with ~65 `rt_sigaction` calls per spawn (`signals::reset_signals`:
/// one to read each signal's disposition, one more for each handled signal), on the
/// path every spawn waits for.
const CLONE_CLEAR_SIGHAND: u64 = 0x1_0000_0000;

/// The kernel's `struct clone_args` up to `cgroup` (`CLONE_ARGS_SIZE_VER2`, 88 bytes).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Start `child(arg)` in a new process born inside the cgroup whose directory is open
/// as `cgroup_dir`, with every signal handler reset to the default (ignored signals
/// stay ignored), sharing our memory until it calls `exec` or exits (the calling
/// thread waits until then). Returns the child's pid; the kernel stores a pidfd of it
/// in `*pidfd`. Signals must be blocked in the calling thread (see `clone_blocked`).
///
/// # Errors
///
/// The system call's: `ENOSYS` (no `clone3`, a seccomp filter that hides it, or not
/// x86_64), `E2BIG` (a kernel older than `CLONE_INTO_CGROUP`), `EINVAL`/`EBADF`/
/// `EOPNOTSUPP` (the cgroup cannot take a process this way), `EPERM`, `EACCES`, …
///
/// # Safety
///
/// As `clone(2)` with `CLONE_VM`: `stack` must be used by the child alone for as long
/// as it runs, `child` must only make async-signal-safe calls that touch neither the
/// caller's thread-local storage (`errno` aside: the caller is suspended) nor its heap,
/// and `arg` and `pidfd` must stay valid until this returns.
pub(super) unsafe fn clone_into_cgroup(
    child: extern "C" fn(*mut c_void) -> c_int,
    stack: &Stack,
    cgroup_dir: RawFd,
    arg: *mut c_void,
    pidfd: *mut c_int,
) -> io::Result<u32> {
    let (low, size) = stack.area();
    let args = CloneArgs {
        flags: (libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PIDFD) as u64
            | CLONE_INTO_CGROUP
            | CLONE_CLEAR_SIGHAND,
        pidfd: pidfd as u64,
        exit_signal: libc::SIGCHLD as u64,
        stack: low as u64,
        stack_size: size as u64,
        cgroup: u64::try_from(cgroup_dir).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?,
        ..CloneArgs::default()
    };
    // SAFETY: the caller's contract (above) is the system call's; `args` lives on this
    // frame, which the parent resumes only after the child has exec'd or exited.
    let ret = unsafe { raw_clone3(&args, child, arg) };
    if ret < 0 {
        return Err(io::Error::from_raw_os_error(
            i32::try_from(-ret).unwrap_or(libc::EINVAL),
        ));
    }
    u32::try_from(ret).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// The system call with the stack switch: the parent gets the child's pid or
/// `-errno`; the child runs `child(arg)` on its own stack and `exit`s with its result.
///
/// # Safety
///
/// As [`clone_into_cgroup`].
#[cfg(target_arch = "x86_64")]
unsafe fn raw_clone3(
    args: &CloneArgs,
    child: extern "C" fn(*mut c_void) -> c_int,
    arg: *mut c_void,
) -> i64 {
    let ret: i64;
    // SAFETY: `syscall` clobbers rax (the result), rcx and r11 only; the parent
    // continues after label 2 with every other register intact. The child (rax = 0)
    // starts on the stack the kernel switched to (16-byte aligned: the top of a page-
    // aligned mapping), keeps r12/r13 (preserved across the system call), clears rbp
    // (no frame chain back into the parent's stack), calls `child(arg)` and ends with
    // `exit(2)`: it never reaches code that would use the parent's frame.
    unsafe {
        core::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "xor ebp, ebp",
            "mov rdi, r12",
            "call r13",
            "mov edi, eax",
            "mov eax, {exit}",
            "syscall",
            "ud2",
            "2:",
            exit = const libc::SYS_exit,
            inlateout("rax") libc::SYS_clone3 => ret,
            in("rdi") std::ptr::from_ref(args),
            in("rsi") std::mem::size_of::<CloneArgs>(),
            in("r12") arg,
            in("r13") child,
            lateout("rcx") _,
            lateout("r11") _,
        );
    }
    ret
}

/// Other architectures: not done here (the caller joins through `cgroup.procs`).
#[cfg(not(target_arch = "x86_64"))]
unsafe fn raw_clone3(
    _args: &CloneArgs,
    _child: extern "C" fn(*mut c_void) -> c_int,
    _arg: *mut c_void,
) -> i64 {
    -i64::from(libc::ENOSYS)
}
