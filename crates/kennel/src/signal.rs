//! Signals as a kennel type, so no `nix`/`rustix`/`windows-sys` type leaks into the API.
//!
//! Names are the library's; numbers are the platform's and come only from `sys`
//! ([`Signal::number`]). [`Signal::Other`] is passed through as is.

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
    /// The number of this signal on the platform kennel runs on (the raw number for
    /// [`Signal::Other`]): `SIGUSR1` is 10 on Linux and 30 on macOS. Windows has no
    /// signal numbers; there kennel numbers them as Linux does (the wire protocol's
    /// convention). [`Signal::Break`] is numbered as `SIGTERM`, which it is delivered as
    /// on Unix.
    pub fn number(self) -> i32 {
        crate::sys::imp::signal::number(self)
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

    /// Turn a signal number of the platform kennel runs on (see [`Signal::number`])
    /// into a [`Signal`], using the named variant when there is one.
    pub fn from_number(n: i32) -> Signal {
        crate::sys::imp::signal::from_number(n)
    }
}

/// The name of the common signal numbered `n` on this platform, for reports
/// (`signal_name`).
pub(crate) fn name_of_number(n: i32) -> Option<&'static str> {
    crate::sys::imp::signal::NAMES
        .iter()
        .find(|&&(number, _)| number == n)
        .map(|&(_, name)| name)
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
        crate::sys::imp::signal::NAMES
            .iter()
            .find(|&&(_, name)| &name[3..] == bare)
            .map(|&(n, _)| Signal::from_number(n))
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
        assert_eq!("SIGUSR1".parse::<Signal>(), Ok(Signal::Usr1));
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

    #[test]
    fn named_variants_agree_with_the_platform_table() {
        use Signal::*;
        for sig in [
            Hup, Int, Quit, Kill, Usr1, Usr2, Term, Cont, Stop, Tstp, Winch,
        ] {
            assert_eq!(name_of_number(sig.number()), sig.name(), "{sig:?}");
            assert_eq!(Signal::from_number(sig.number()), sig);
        }
        assert_eq!(Break.number(), Term.number());
    }
}
