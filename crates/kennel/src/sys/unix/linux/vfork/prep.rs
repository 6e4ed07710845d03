//! What the parent prepares before the clone: the strings the child passes to `execve`
//! (program candidates along `PATH`, argv, envp, the working directory), the child's
//! stdio fds and its stack.

use std::collections::BTreeMap;
use std::ffi::{c_void, CString, OsStr, OsString};
use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt as _;
use std::ptr;
use std::sync::Mutex;

use rustix::fs::{Mode, OFlags};

use super::{failed, STAGES};
use crate::environment::env_entry;
use crate::spec::EnvOp;
use crate::sys::unix::start::SpawnFailed;
use crate::sys::Launch;
use crate::{Environment, OutputMode, StdinMode};

/// The child's stack: enough for the few wrappers it calls (and a lazy symbol
/// binding), with a guard page below it.
const STACK_SIZE: usize = 64 * 1024;
const GUARD_SIZE: usize = 4096;

/// The strings of the `execve` calls, owned here while the child uses pointers to them.
pub(super) struct Exec {
    /// The paths to try, in order.
    pub(super) candidates: Vec<CString>,
    pub(super) argv: Vec<CString>,
    pub(super) envp: Envp,
    pub(super) cwd: Option<CString>,
}

/// The child's `key=value` strings: built for this spawn, or those of a prepared
/// [`Environment`] the command starts from unchanged (no copy per spawn).
pub(super) enum Envp {
    Built(Vec<CString>),
    Prepared(Environment),
}

impl Envp {
    pub(super) fn entries(&self) -> &[CString] {
        match self {
            Envp::Built(entries) => entries,
            Envp::Prepared(env) => env.entries(),
        }
    }
}

impl Exec {
    /// The program looked up in the child's `PATH`, `argv[0]` the program as given.
    pub(super) fn of(launch: &Launch<'_>) -> Result<Exec, SpawnFailed> {
        let (envp, path) = match launch.env_base {
            Some(base) if launch.env.is_empty() => (
                Envp::Prepared(base.clone()),
                base.get("PATH").map(OsStr::to_owned),
            ),
            _ => {
                let env = environment(launch);
                let entries = env
                    .iter()
                    .map(|(k, v)| env_entry(k, v))
                    .collect::<io::Result<Vec<_>>>()
                    .map_err(failed(STAGES[0]))?;
                (Envp::Built(entries), env.get(OsStr::new("PATH")).cloned())
            }
        };
        let candidates = candidates(launch.program, path.as_ref()).map_err(failed(STAGES[0]))?;
        let argv = std::iter::once(launch.program.to_owned())
            .chain(launch.args.iter().cloned())
            .map(cstring)
            .collect::<io::Result<Vec<_>>>()
            .map_err(failed(STAGES[0]))?;
        let cwd = launch
            .cwd
            .map(|d| cstring(d.as_os_str().to_owned()))
            .transpose()
            .map_err(failed(STAGES[4]))?;
        Ok(Exec {
            candidates,
            argv,
            envp,
            cwd,
        })
    }
}

/// The child's environment: the command's prepared one, else ours (unless cleared),
/// with the command's changes, in order.
fn environment(launch: &Launch<'_>) -> BTreeMap<OsString, OsString> {
    let mut env: BTreeMap<OsString, OsString> = match launch.env_base {
        Some(base) => base
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        None if launch.env_clear => BTreeMap::new(),
        None => std::env::vars_os().collect(),
    };
    for op in launch.env {
        match op {
            EnvOp::Set(k, v) => {
                env.insert(k.clone(), v.clone());
            }
            EnvOp::Remove(k) => {
                env.remove(k);
            }
        }
    }
    env
}

/// The paths `execvp` would try for `program` with `path` as `PATH`.
fn candidates(program: &OsStr, path: Option<&OsString>) -> io::Result<Vec<CString>> {
    let found = crate::sys::unix::interp::candidates(program, path.map(OsString::as_os_str));
    if found.is_empty() {
        return Err(io::Error::from(io::ErrorKind::NotFound));
    }
    found
        .into_iter()
        .map(|p| cstring(p.into_os_string()))
        .collect()
}

fn cstring(s: OsString) -> io::Result<CString> {
    CString::new(s.into_vec()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "nul byte found in provided data",
        )
    })
}

pub(super) fn null_terminated(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(ptr::null()))
        .collect()
}

/// (our end, the child's end) of stdin: those of an output stream in the same mode,
/// with a pipe's ends the other way round (the child reads it, we write).
pub(super) fn stdin_fds(mode: StdinMode) -> io::Result<(Option<OwnedFd>, Option<OwnedFd>)> {
    let as_output = match mode {
        StdinMode::Inherit => OutputMode::Inherit,
        StdinMode::Null => OutputMode::Null,
        StdinMode::Piped => OutputMode::Piped,
    };
    let (ours, child) = output_fds(as_output)?;
    Ok(match mode {
        StdinMode::Piped => (child, ours),
        StdinMode::Inherit | StdinMode::Null => (ours, child),
    })
}

/// (our end, the child's end) of stdout or stderr.
pub(super) fn output_fds(mode: OutputMode) -> io::Result<(Option<OwnedFd>, Option<OwnedFd>)> {
    match mode {
        OutputMode::Inherit => Ok((None, None)),
        OutputMode::Null => Ok((None, Some(dev_null()?))),
        OutputMode::Piped => {
            let (read, write) = pipe()?;
            Ok((Some(read), Some(write)))
        }
    }
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    Ok((above_stdio(read)?, above_stdio(write)?))
}

fn dev_null() -> io::Result<OwnedFd> {
    let fd = rustix::fs::open("/dev/null", OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())?;
    above_stdio(fd)
}

/// An fd numbered 3 or above (a supervisor with a closed stdin/stdout/stderr gets
/// those numbers for new fds, and the child's `dup2`s must not overwrite one another).
fn above_stdio(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    Ok(rustix::io::fcntl_dupfd_cloexec(&fd, 3)?)
}

/// An anonymous mapping for the child's stack, with a guard page at its low end.
pub(in crate::sys::unix::linux) struct Stack {
    base: *mut c_void,
    len: usize,
}

impl Stack {
    pub(in crate::sys::unix::linux) fn new() -> io::Result<Stack> {
        let len = STACK_SIZE + GUARD_SIZE;
        // SAFETY: a fresh private anonymous mapping; nothing else refers to it.
        let base = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let stack = Stack { base, len };
        // SAFETY: the lowest page of our own mapping becomes inaccessible: an overflow
        // faults instead of writing below the mapping.
        if unsafe { libc::mprotect(base, GUARD_SIZE, libc::PROT_NONE) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(stack)
    }

    /// The initial stack pointer (stacks grow down; the end is page-aligned).
    pub(in crate::sys::unix::linux) fn top(&self) -> *mut c_void {
        // SAFETY: one past the end of our mapping, never dereferenced as such.
        unsafe { self.base.cast::<u8>().add(self.len).cast() }
    }

    /// The usable area, guard page excluded: (its lowest address, its size).
    pub(in crate::sys::unix::linux) fn area(&self) -> (*mut c_void, usize) {
        // SAFETY: the guard page is the first page of our mapping; the rest follows it.
        let low = unsafe { self.base.cast::<u8>().add(GUARD_SIZE).cast() };
        (low, self.len - GUARD_SIZE)
    }

    /// Give the mapping up for good: for a child that may run after its parent is gone
    /// (nothing can tell when it no longer uses the stack, so it is never unmapped).
    pub(in crate::sys::unix::linux) fn leak(self) {
        std::mem::forget(self);
    }
}

// SAFETY: a `Stack` owns its mapping alone (no copy of the pointer outlives a clone
// that returned), so it may move to, and be dropped on, another thread.
unsafe impl Send for Stack {}

/// How many child stacks are kept for later spawns.
const POOL_MAX: usize = 4;

/// Child stacks kept for later spawns: mapping, protecting and unmapping one per spawn
/// cost three system calls, the page faults of a fresh mapping and, for the unmap, a
/// TLB shoot-down (an IPI to every CPU running a thread of this process — costly in a
/// VM). A stack is only put back once its child no longer runs on it.
static POOL: Mutex<Vec<Stack>> = Mutex::new(Vec::new());

/// A child stack taken from the pool (or mapped), given back when dropped.
pub(in crate::sys::unix::linux) struct PooledStack(ManuallyDrop<Stack>);

impl PooledStack {
    /// A kept stack, or a new one.
    pub(in crate::sys::unix::linux) fn take() -> io::Result<PooledStack> {
        Ok(PooledStack(ManuallyDrop::new(take_from(&POOL)?)))
    }
}

/// A stack of `pool`, or a new one.
fn take_from(pool: &Mutex<Vec<Stack>>) -> io::Result<Stack> {
    match pool.lock().ok().and_then(|mut pool| pool.pop()) {
        Some(stack) => Ok(stack),
        None => Stack::new(),
    }
}

/// Keep `stack` in `pool` if there is room (else it is unmapped).
fn give_back(pool: &Mutex<Vec<Stack>>, stack: Stack) {
    if let Ok(mut pool) = pool.lock() {
        if pool.len() < POOL_MAX {
            pool.push(stack);
        }
    }
}

impl std::ops::Deref for PooledStack {
    type Target = Stack;

    fn deref(&self) -> &Stack {
        &self.0
    }
}

impl Drop for PooledStack {
    /// Only once the child no longer runs on the stack: for a `CLONE_VFORK` child, once
    /// the clone returned (the child has called `exec` or exited).
    fn drop(&mut self) {
        // SAFETY: taken once, here, and never used again: `self` is being dropped.
        let stack = unsafe { ManuallyDrop::take(&mut self.0) };
        give_back(&POOL, stack);
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `new`, no longer in use (the
        // child has exec'd or exited before `clone` returned).
        unsafe {
            libc::munmap(self.base, self.len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stack_given_back_is_taken_again_and_the_pool_is_bounded() {
        let pool = Mutex::new(Vec::new());
        let first = take_from(&pool).expect("a new stack");
        let top = first.top();
        give_back(&pool, first);
        let again = take_from(&pool).expect("the kept stack");
        assert_eq!(again.top(), top, "the kept stack is reused");
        give_back(&pool, again);
        for _ in 0..POOL_MAX + 2 {
            give_back(&pool, Stack::new().expect("a stack"));
        }
        assert_eq!(pool.lock().expect("unpoisoned").len(), POOL_MAX);
    }

    #[test]
    fn path_lookup_tries_each_directory_like_execvp() {
        let path = OsString::from("/a::/b");
        let got = candidates(OsStr::new("prog"), Some(&path)).expect("candidates");
        let got: Vec<&[u8]> = got.iter().map(|c| c.as_bytes()).collect();
        assert_eq!(got, [&b"/a/prog"[..], b"./prog", b"/b/prog"]);
        let got = candidates(OsStr::new("./x/prog"), Some(&path)).expect("a path");
        assert_eq!(got.len(), 1);
        let got = candidates(OsStr::new("prog"), None).expect("the default PATH");
        assert_eq!(got[0].as_bytes(), b"/bin/prog");
        assert!(candidates(OsStr::new(""), None).is_err());
    }
}
