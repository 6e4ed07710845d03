//! Signals as a kennel type, so no `nix`/`rustix`/`windows-sys` type leaks into the API.
//!
//! Numbers follow Linux. On other Unixes the *named* variants are mapped to the local
//! numbers by the `sys` layer; [`Signal::Other`] is passed through as is.

use std::fmt;
use std::str::FromStr;

/// A signal that kennel can deliver to a process tree.
///
/// On Windows only [`Signal::Kill`] (TerminateJobObject) and the console-control events
/// that [`Signal::Int`] and [`Signal::Break`] map to have a meaning; the others are
/// rejected with a typed error rather than ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Signal {
    /// `SIGHUP`: the controlling terminal went away.
    Hup,
    /// `SIGINT`: interrupt (Ctrl-C).
    Int,
    /// `SIGQUIT`: quit with a core dump.
    Quit,
    /// `SIGKILL`: cannot be caught; the forceful rung.
    Kill,
    /// `SIGUSR1`.
    Usr1,
    /// `SIGUSR2`.
    Usr2,
    /// `SIGTERM`: polite termination request; the default first rung.
    Term,
    /// `SIGCONT`: continue a stopped process.
    Cont,
    /// `SIGSTOP`: stop (cannot be caught).
    Stop,
    /// `SIGTSTP`: terminal stop.
    Tstp,
    /// `SIGWINCH`: window size changed.
    Winch,
    /// Windows `CTRL_BREAK_EVENT`; on Unix it is delivered as `SIGTERM`.
    Break,
    /// Any other signal, by its raw number on the current platform.
    Other(i32),
}

impl Signal {
    /// The Linux number of this signal (raw number for [`Signal::Other`]).
    pub fn number(self) -> i32 {
        match self {
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

    /// The conventional name, e.g. `"SIGTERM"`; `None` for unnamed [`Signal::Other`].
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Signal::Hup => "SIGHUP",
            Signal::Int => "SIGINT",
            Signal::Quit => "SIGQUIT",
            Signal::Kill => "SIGKILL",
            Signal::Usr1 => "SIGUSR1",
            Signal::Usr2 => "SIGUSR2",
            Signal::Term => "SIGTERM",
            Signal::Cont => "SIGCONT",
            Signal::Stop => "SIGSTOP",
            Signal::Tstp => "SIGTSTP",
            Signal::Winch => "SIGWINCH",
            Signal::Break => "CTRL_BREAK",
            Signal::Other(n) => return name_of_number(n),
        })
    }

    /// Turn a platform signal number into a [`Signal`], using the named variant when
    /// there is one.
    pub fn from_number(n: i32) -> Signal {
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
}

/// Names of the remaining common Linux signals, for reports (`signal_name`).
pub(crate) fn name_of_number(n: i32) -> Option<&'static str> {
    Some(match n {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        5 => "SIGTRAP",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        10 => "SIGUSR1",
        11 => "SIGSEGV",
        12 => "SIGUSR2",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        17 => "SIGCHLD",
        18 => "SIGCONT",
        19 => "SIGSTOP",
        20 => "SIGTSTP",
        21 => "SIGTTIN",
        22 => "SIGTTOU",
        24 => "SIGXCPU",
        25 => "SIGXFSZ",
        26 => "SIGVTALRM",
        27 => "SIGPROF",
        28 => "SIGWINCH",
        31 => "SIGSYS",
        _ => return None,
    })
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "signal {}", self.number()),
        }
    }
}

/// The error of parsing a [`Signal`] from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a signal name or number (try TERM, SIGINT, KILL or 15)")]
pub struct ParseSignalError(pub String);

impl FromStr for Signal {
    type Err = ParseSignalError;

    /// Accepts `SIGTERM`, `TERM`, `term`, or a number such as `15`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        if let Ok(n) = trimmed.parse::<i32>() {
            if (1..=64).contains(&n) {
                return Ok(Signal::from_number(n));
            }
            return Err(ParseSignalError(s.to_string()));
        }
        let upper = trimmed.to_ascii_uppercase();
        let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
        if bare == "CTRL_BREAK" || bare == "BREAK" {
            return Ok(Signal::Break);
        }
        (1..=31)
            .find(|&n| name_of_number(n).map(|name| &name[3..]) == Some(bare))
            .map(Signal::from_number)
            .ok_or_else(|| ParseSignalError(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_numbers() {
        assert_eq!("SIGTERM".parse::<Signal>(), Ok(Signal::Term));
        assert_eq!("term".parse::<Signal>(), Ok(Signal::Term));
        assert_eq!("9".parse::<Signal>(), Ok(Signal::Kill));
        assert_eq!("SIGSEGV".parse::<Signal>(), Ok(Signal::Other(11)));
        assert!("SIGNOPE".parse::<Signal>().is_err());
        assert!("0".parse::<Signal>().is_err());
    }

    #[test]
    fn names_round_trip() {
        for n in 1..=31 {
            let sig = Signal::from_number(n);
            assert_eq!(sig.number(), n);
            if let Some(name) = sig.name() {
                assert_eq!(name.parse::<Signal>(), Ok(sig));
            }
        }
    }
}
