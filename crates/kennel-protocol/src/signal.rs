//! Signals as they appear in requests: a name (`"SIGTERM"`, `"TERM"`) or a number.
//!
//! The protocol's vocabulary is names, the same on every platform; it knows no
//! platform numbers. The sidecar turns a name into a signal of its platform with the
//! library's vocabulary (`kennel::Signal`), and answers `unsupported` for a name that
//! platform does not have (docs/DECISIONS.md, issue 15).

use std::borrow::Cow;
use std::fmt;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A signal named in a request.
///
/// On the wire it is either a name — with or without the `SIG` prefix, in any
/// ASCII case (`"SIGTERM"`, `"TERM"`, `"sigterm"`) — or a raw signal number in
/// `1..=64`. Names are portable: the sidecar maps them to the platform (on
/// Windows, `SIGINT` is `CTRL_C_EVENT` and `SIGTERM`/`SIGBREAK` are
/// `CTRL_BREAK_EVENT`). Numbers are passed to the OS unchanged and so mean
/// different signals on different platforms. Named signals serialize as their
/// canonical `SIG…` name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Signal {
    /// `SIGHUP`
    Hup,
    /// `SIGINT`
    Int,
    /// `SIGQUIT`
    Quit,
    /// `SIGILL`
    Ill,
    /// `SIGTRAP`
    Trap,
    /// `SIGABRT`
    Abrt,
    /// `SIGBUS`
    Bus,
    /// `SIGFPE`
    Fpe,
    /// `SIGKILL`
    Kill,
    /// `SIGUSR1`
    Usr1,
    /// `SIGSEGV`
    Segv,
    /// `SIGUSR2`
    Usr2,
    /// `SIGPIPE`
    Pipe,
    /// `SIGALRM`
    Alrm,
    /// `SIGTERM`
    Term,
    /// `SIGCHLD`
    Chld,
    /// `SIGCONT`
    Cont,
    /// `SIGSTOP`
    Stop,
    /// `SIGTSTP`
    Tstp,
    /// `SIGTTIN`
    Ttin,
    /// `SIGTTOU`
    Ttou,
    /// `SIGURG`
    Urg,
    /// `SIGXCPU`
    Xcpu,
    /// `SIGXFSZ`
    Xfsz,
    /// `SIGVTALRM`
    Vtalrm,
    /// `SIGPROF`
    Prof,
    /// `SIGWINCH`
    Winch,
    /// `SIGIO`
    Io,
    /// `SIGSYS`
    Sys,
    /// `SIGBREAK` (Windows: `CTRL_BREAK_EVENT`).
    Break,
    /// A raw, platform-specific signal number in `1..=64`.
    Number(i32),
}

const NAMES: [(Signal, &str); 30] = [
    (Signal::Hup, "SIGHUP"),
    (Signal::Int, "SIGINT"),
    (Signal::Quit, "SIGQUIT"),
    (Signal::Ill, "SIGILL"),
    (Signal::Trap, "SIGTRAP"),
    (Signal::Abrt, "SIGABRT"),
    (Signal::Bus, "SIGBUS"),
    (Signal::Fpe, "SIGFPE"),
    (Signal::Kill, "SIGKILL"),
    (Signal::Usr1, "SIGUSR1"),
    (Signal::Segv, "SIGSEGV"),
    (Signal::Usr2, "SIGUSR2"),
    (Signal::Pipe, "SIGPIPE"),
    (Signal::Alrm, "SIGALRM"),
    (Signal::Term, "SIGTERM"),
    (Signal::Chld, "SIGCHLD"),
    (Signal::Cont, "SIGCONT"),
    (Signal::Stop, "SIGSTOP"),
    (Signal::Tstp, "SIGTSTP"),
    (Signal::Ttin, "SIGTTIN"),
    (Signal::Ttou, "SIGTTOU"),
    (Signal::Urg, "SIGURG"),
    (Signal::Xcpu, "SIGXCPU"),
    (Signal::Xfsz, "SIGXFSZ"),
    (Signal::Vtalrm, "SIGVTALRM"),
    (Signal::Prof, "SIGPROF"),
    (Signal::Winch, "SIGWINCH"),
    (Signal::Io, "SIGIO"),
    (Signal::Sys, "SIGSYS"),
    (Signal::Break, "SIGBREAK"),
];

/// The range of raw signal numbers a request may carry.
pub(crate) const SIGNAL_NUMBERS: std::ops::RangeInclusive<i64> = 1..=64;

impl Signal {
    /// Looks a signal up by name: `SIG` prefix optional, ASCII case ignored.
    ///
    /// ```
    /// use kennel_protocol::Signal;
    /// assert_eq!(Signal::from_name("INT"), Some(Signal::Int));
    /// assert_eq!(Signal::from_name("sigterm"), Some(Signal::Term));
    /// assert_eq!(Signal::from_name("SIGFOO"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Signal> {
        let bare = match name.get(..3) {
            Some(p) if p.eq_ignore_ascii_case("SIG") => &name[3..],
            _ => name,
        };
        NAMES
            .iter()
            .find(|(_, n)| n[3..].eq_ignore_ascii_case(bare))
            .map(|(s, _)| *s)
    }

    /// The canonical name (`"SIGTERM"`), or `None` for [`Signal::Number`].
    pub fn name(self) -> Option<&'static str> {
        NAMES.iter().find(|(s, _)| *s == self).map(|(_, n)| *n)
    }

    /// Every named signal with its canonical name.
    pub fn named() -> impl Iterator<Item = (Signal, &'static str)> {
        NAMES.iter().copied()
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self, self.name()) {
            (_, Some(name)) => f.write_str(name),
            (Signal::Number(n), None) => write!(f, "signal {n}"),
            (_, None) => f.write_str("unknown signal"),
        }
    }
}

impl Serialize for Signal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match (self, self.name()) {
            (_, Some(name)) => s.serialize_str(name),
            (Signal::Number(n), None) => s.serialize_i32(*n),
            (_, None) => Err(serde::ser::Error::custom("signal without a name or number")),
        }
    }
}

struct SignalVisitor;

impl Visitor<'_> for SignalVisitor {
    type Value = Signal;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a signal name like \"SIGTERM\" or a signal number in 1..=64")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Signal, E> {
        Signal::from_name(v).ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Signal, E> {
        match i32::try_from(v) {
            Ok(n) if SIGNAL_NUMBERS.contains(&v) => Ok(Signal::Number(n)),
            _ => Err(E::invalid_value(de::Unexpected::Signed(v), &self)),
        }
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Signal, E> {
        match i64::try_from(v) {
            Ok(v) => self.visit_i64(v),
            Err(_) => Err(E::invalid_value(de::Unexpected::Unsigned(v), &self)),
        }
    }
}

impl<'de> Deserialize<'de> for Signal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Signal, D::Error> {
        d.deserialize_any(SignalVisitor)
    }
}

impl JsonSchema for Signal {
    fn schema_name() -> Cow<'static, str> {
        "Signal".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A signal: a name with or without the SIG prefix, ASCII case ignored (\"SIGTERM\", \"TERM\"), or a raw platform signal number.",
            "oneOf": [
                {
                    "type": "string",
                    "pattern": "^([Ss][Ii][Gg])?[A-Za-z0-9]+$",
                    "examples": ["SIGTERM", "INT"]
                },
                { "type": "integer", "minimum": 1, "maximum": 64 }
            ]
        })
    }
}
