//! The platform parts of `kennel::compat` (the tokio-shaped layer): what a `Stdio`
//! value is, the pipe behind a piped output handle, and kennel's exit status as std's.

use std::fs::File;
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt as _;
use std::process::Stdio;
use std::sync::Arc;

use crate::compat::Kind;

/// What `stdio` is. A `Stdio` is opaque on stable Rust (`Stdio::makes_pipe` is
/// unstable, rust-lang/rust#98288); the one place std shows it is the alternate `Debug`
/// of a `std::process::Command` holding it, which names the variant (`MakePipe`,
/// `Null`, `Inherit`) and, for one made from a descriptor (`Stdio::from(file)`, a std
/// child's pipe end, `io::stdout()`), its number. Such a descriptor is duplicated
/// while the probe still holds it, and the duplicate is handed to the spawn as given;
/// dropping the probe then closes the original. A shape this code does not know (a
/// future std) is `Unsupported`, never guessed at.
pub(crate) fn classify(stdio: Stdio) -> Kind {
    let mut probe = std::process::Command::new("");
    probe.stdout(stdio);
    match shown(&format!("{probe:#?}")) {
        Shown::Pipe => Kind::Piped,
        Shown::Null => Kind::Null,
        Shown::Inherit => Kind::Inherit,
        Shown::Fd(fd) => match duplicate_held(&probe, fd) {
            Ok(fd) => Kind::Given(Stdio::from(fd)),
            Err(e) => Kind::Failed(Arc::new(e)),
        },
        Shown::Unknown => Kind::Unsupported,
    }
}

/// What std's `Debug` of a probe command says its stdout is.
#[derive(Debug, PartialEq, Eq)]
enum Shown {
    Pipe,
    Null,
    Inherit,
    /// A descriptor the `Stdio` owns (`Fd`) or borrows for the whole program
    /// (`StaticFd`: the process's own stdio).
    Fd(RawFd),
    Unknown,
}

/// Read the stdout of a probe command from its alternate `Debug`: `stdout: Some(MakePipe)`,
/// `stdout: Some(Fd(FileDesc(OwnedFd { fd: 3 })))`, `stdout: Some(StaticFd(BorrowedFd {
/// fd: 1 }))` (std ≥ 1.74; `FileDesc` is left out by some versions).
fn shown(debug: &str) -> Shown {
    let words: Vec<&str> = debug
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .filter(|word| !word.is_empty())
        .skip_while(|word| *word != "stdout")
        .skip(1)
        .collect();
    // Digits only: never a sign, so never -1 (which `BorrowedFd` must not hold).
    let number = |n: &str| match n.bytes().all(|b| b.is_ascii_digit()) {
        true => n.parse::<RawFd>().map_or(Shown::Unknown, Shown::Fd),
        false => Shown::Unknown,
    };
    match words.as_slice() {
        ["Some", "MakePipe", ..] => Shown::Pipe,
        ["Some", "Null", ..] => Shown::Null,
        ["Some", "Inherit", ..] => Shown::Inherit,
        ["Some", "Fd", "FileDesc", "OwnedFd", "fd", n, ..]
        | ["Some", "Fd", "OwnedFd", "fd", n, ..]
        | ["Some", "StaticFd", "BorrowedFd", "fd", n, ..] => number(n),
        _ => Shown::Unknown,
    }
}

/// A duplicate (close-on-exec) of descriptor `fd`, which the `Stdio` inside `probe`
/// holds.
fn duplicate_held(probe: &std::process::Command, fd: RawFd) -> io::Result<OwnedFd> {
    let _holder = probe;
    // SAFETY: `fd` is the number std's `Debug` of `probe` just showed for its stdout:
    // the descriptor of an `OwnedFd` the `Stdio` inside `probe` owns, or of a
    // `BorrowedFd<'static>` (the process's own stdio, open for the whole program).
    // `probe` is borrowed for this whole function, so the descriptor stays open until
    // the duplicate exists; `shown` parsed it from digits only, so it is not -1.
    let held = unsafe { BorrowedFd::borrow_raw(fd) };
    held.try_clone_to_owned()
}

/// The read end of a compat output pipe, registered with the runtime.
pub(crate) type Receiver = tokio::net::unix::pipe::Receiver;

/// A pipe, both ends close-on-exec: the read end registered with the runtime
/// (non-blocking), the write end a blocking `File` for kennel's forwarding.
pub(crate) fn output_pipe() -> io::Result<(Receiver, File)> {
    let (read, write) = raw_pipe()?;
    Ok((Receiver::from_owned_fd(read)?, File::from(write)))
}

#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
fn raw_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?)
}

// No pipe2 here: a fork on another thread between the two calls could leak an end
// into that child (std has the same window on these systems).
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
fn raw_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (read, write) = rustix::pipe::pipe()?;
    for fd in [&read, &write] {
        rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::CLOEXEC)?;
    }
    Ok((read, write))
}

/// kennel's exit status as std's: `None` when the leader's end is unknown. The wait(2)
/// encoding: exit code in bits 8–15, terminating signal in bits 0–6.
pub(crate) fn std_status(status: crate::ExitStatus) -> Option<std::process::ExitStatus> {
    match (status.code, status.signal) {
        (Some(code), _) => Some(std::process::ExitStatus::from_raw((code & 0xff) << 8)),
        (None, Some(signal)) => Some(std::process::ExitStatus::from_raw(signal & 0x7f)),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_debug_shapes_of_std() {
        let shape = |stdout: &str| {
            shown(&format!(
                "Command {{ program: \"\", stdout: Some({stdout}), create_pidfd: false }}"
            ))
        };
        assert_eq!(shape("MakePipe"), Shown::Pipe);
        assert_eq!(shape("Null"), Shown::Null);
        assert_eq!(shape("Inherit"), Shown::Inherit);
        assert_eq!(shape("Fd(FileDesc(OwnedFd { fd: 3 }))"), Shown::Fd(3));
        assert_eq!(shape("Fd(OwnedFd { fd: 12 })"), Shown::Fd(12));
        assert_eq!(shape("StaticFd(BorrowedFd { fd: 1 })"), Shown::Fd(1));
        assert_eq!(shape("Fd(Handle(7))"), Shown::Unknown);
        assert_eq!(shape("Fd(OwnedFd { fd: -1 })"), Shown::Unknown);
        assert_eq!(shape("Fd(OwnedFd { fd: 99999999999 })"), Shown::Unknown);
        assert_eq!(shown("Command { program: \"\" }"), Shown::Unknown);
    }

    #[test]
    fn a_stdio_made_from_a_descriptor_goes_on_as_its_duplicate() {
        let path = std::env::temp_dir().join(format!("kennel-unit-probe-{}", std::process::id()));
        std::fs::write(&path, b"probed").unwrap();
        let file = File::open(&path).unwrap();
        let Kind::Given(stdio) = classify(Stdio::from(file)) else {
            panic!("a Stdio made from a file is handed on");
        };
        let _ = std::fs::remove_file(&path);
        let out = std::process::Command::new("cat")
            .stdin(stdio)
            .output()
            .unwrap();
        assert_eq!(out.stdout, b"probed");
        // The process's own stdout (a `StaticFd`) is duplicated too.
        assert!(matches!(
            classify(Stdio::from(std::io::stdout())),
            Kind::Given(_)
        ));
    }
}
