//! Windows has no signal numbers. kennel numbers its signals as Linux does there (the
//! wire protocol's convention); only [`Signal::Kill`], [`Signal::Term`],
//! [`Signal::Break`], [`Signal::Int`] and [`Signal::Cont`] mean anything to a tree
//! (see `tree.rs`).

use crate::Signal;

/// The named signals kennel reports, with their (Linux) number.
pub(crate) const NAMES: &[(i32, &str)] = &[
    (1, "SIGHUP"),
    (2, "SIGINT"),
    (3, "SIGQUIT"),
    (4, "SIGILL"),
    (5, "SIGTRAP"),
    (6, "SIGABRT"),
    (7, "SIGBUS"),
    (8, "SIGFPE"),
    (9, "SIGKILL"),
    (10, "SIGUSR1"),
    (11, "SIGSEGV"),
    (12, "SIGUSR2"),
    (13, "SIGPIPE"),
    (14, "SIGALRM"),
    (15, "SIGTERM"),
    (17, "SIGCHLD"),
    (18, "SIGCONT"),
    (19, "SIGSTOP"),
    (20, "SIGTSTP"),
    (21, "SIGTTIN"),
    (22, "SIGTTOU"),
    (23, "SIGURG"),
    (24, "SIGXCPU"),
    (25, "SIGXFSZ"),
    (26, "SIGVTALRM"),
    (27, "SIGPROF"),
    (28, "SIGWINCH"),
    (29, "SIGIO"),
    (31, "SIGSYS"),
];

/// The (Linux) number of `signal` (`Break` is numbered as `SIGTERM`).
pub(crate) fn number(signal: Signal) -> i32 {
    match signal {
        Signal::Hup => 1,
        Signal::Int => 2,
        Signal::Quit => 3,
        Signal::Kill => 9,
        Signal::Usr1 => 10,
        Signal::Usr2 => 12,
        Signal::Term | Signal::Break => 15,
        Signal::Cont => 18,
        Signal::Stop => 19,
        Signal::Tstp => 20,
        Signal::Winch => 28,
        Signal::Other(n) => n,
    }
}

/// The signal numbered `n`, as its named variant when there is one.
pub(crate) fn from_number(n: i32) -> Signal {
    match n {
        1 => Signal::Hup,
        2 => Signal::Int,
        3 => Signal::Quit,
        9 => Signal::Kill,
        10 => Signal::Usr1,
        12 => Signal::Usr2,
        15 => Signal::Term,
        18 => Signal::Cont,
        19 => Signal::Stop,
        20 => Signal::Tstp,
        28 => Signal::Winch,
        n => Signal::Other(n),
    }
}
