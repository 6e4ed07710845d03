//! Signal numbers of this Unix. They differ between Unixes (`SIGUSR1` is 10 on Linux and
//! 30 on macOS, `SIGCHLD` 17 and 20), so they come from the C library's headers, never
//! from a table written for one of them.

use rustix::process::Signal as Sig;

use crate::tree::TreeSignalError;
use crate::Signal;

/// The named signals kennel reports, with their number here.
pub(crate) const NAMES: &[(i32, &str)] = &[
    (libc::SIGHUP, "SIGHUP"),
    (libc::SIGINT, "SIGINT"),
    (libc::SIGQUIT, "SIGQUIT"),
    (libc::SIGILL, "SIGILL"),
    (libc::SIGTRAP, "SIGTRAP"),
    (libc::SIGABRT, "SIGABRT"),
    (libc::SIGBUS, "SIGBUS"),
    (libc::SIGFPE, "SIGFPE"),
    (libc::SIGKILL, "SIGKILL"),
    (libc::SIGUSR1, "SIGUSR1"),
    (libc::SIGSEGV, "SIGSEGV"),
    (libc::SIGUSR2, "SIGUSR2"),
    (libc::SIGPIPE, "SIGPIPE"),
    (libc::SIGALRM, "SIGALRM"),
    (libc::SIGTERM, "SIGTERM"),
    (libc::SIGCHLD, "SIGCHLD"),
    (libc::SIGCONT, "SIGCONT"),
    (libc::SIGSTOP, "SIGSTOP"),
    (libc::SIGTSTP, "SIGTSTP"),
    (libc::SIGTTIN, "SIGTTIN"),
    (libc::SIGTTOU, "SIGTTOU"),
    (libc::SIGURG, "SIGURG"),
    (libc::SIGXCPU, "SIGXCPU"),
    (libc::SIGXFSZ, "SIGXFSZ"),
    (libc::SIGVTALRM, "SIGVTALRM"),
    (libc::SIGPROF, "SIGPROF"),
    (libc::SIGWINCH, "SIGWINCH"),
    (libc::SIGIO, "SIGIO"),
    (libc::SIGSYS, "SIGSYS"),
];

/// The number of `signal` here (`Break` is delivered as `SIGTERM`).
pub(crate) fn number(signal: Signal) -> i32 {
    match signal {
        Signal::Hup => libc::SIGHUP,
        Signal::Int => libc::SIGINT,
        Signal::Quit => libc::SIGQUIT,
        Signal::Kill => libc::SIGKILL,
        Signal::Usr1 => libc::SIGUSR1,
        Signal::Usr2 => libc::SIGUSR2,
        Signal::Term | Signal::Break => libc::SIGTERM,
        Signal::Cont => libc::SIGCONT,
        Signal::Stop => libc::SIGSTOP,
        Signal::Tstp => libc::SIGTSTP,
        Signal::Winch => libc::SIGWINCH,
        Signal::Other(n) => n,
    }
}

/// The signal numbered `n` here, as its named variant when there is one.
pub(crate) fn from_number(n: i32) -> Signal {
    [
        Signal::Hup,
        Signal::Int,
        Signal::Quit,
        Signal::Kill,
        Signal::Usr1,
        Signal::Usr2,
        Signal::Term,
        Signal::Cont,
        Signal::Stop,
        Signal::Tstp,
        Signal::Winch,
    ]
    .into_iter()
    .find(|&named| number(named) == n)
    .unwrap_or(Signal::Other(n))
}

/// The signal to hand to the kernel; `Unsupported` for a number outside its range.
pub(crate) fn to_platform(signal: Signal) -> Result<Sig, TreeSignalError> {
    let n = number(signal);
    if !(1..=64).contains(&n) {
        return Err(TreeSignalError::Unsupported);
    }
    // SAFETY: the number is in the kernel's signal range. rustix marks this unchecked
    // because libc reserves some real-time signals for its own use in *this* process;
    // we only ever send it to other processes.
    Ok(unsafe { Sig::from_raw_unchecked(n) })
}
