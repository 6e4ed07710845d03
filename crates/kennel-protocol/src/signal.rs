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

/// Declares [`Signal`] from one list of named signals, each with its canonical name: the
/// enum (each variant documented by its name, then `Number(i32)` for a raw number) and
/// `NAMES`, which every lookup by name or by signal reads. A signal is named once.
macro_rules! signals {
    (
        $(#[$meta:meta])*
        pub enum Signal { $($(#[doc = $doc:literal])* $signal:ident as $name:literal,)+ }
    ) => {
        $(#[$meta])*
        pub enum Signal {
            $(#[doc = concat!("`", $name, "`")] $(#[doc = $doc])* $signal,)+
            /// A raw, platform-specific signal number in `1..=64`.
            Number(i32),
        }

        const NAMES: [(Signal, &str); [$($name),+].len()] = [$((Signal::$signal, $name)),+];
    };
}

signals! {
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
        Hup as "SIGHUP",
        Int as "SIGINT",
        Quit as "SIGQUIT",
        Ill as "SIGILL",
        Trap as "SIGTRAP",
        Abrt as "SIGABRT",
        Bus as "SIGBUS",
        Fpe as "SIGFPE",
        Kill as "SIGKILL",
        Usr1 as "SIGUSR1",
        Segv as "SIGSEGV",
        Usr2 as "SIGUSR2",
        Pipe as "SIGPIPE",
        Alrm as "SIGALRM",
        Term as "SIGTERM",
        Chld as "SIGCHLD",
        Cont as "SIGCONT",
        Stop as "SIGSTOP",
        Tstp as "SIGTSTP",
        Ttin as "SIGTTIN",
        Ttou as "SIGTTOU",
        Urg as "SIGURG",
        Xcpu as "SIGXCPU",
        Xfsz as "SIGXFSZ",
        Vtalrm as "SIGVTALRM",
        Prof as "SIGPROF",
        Winch as "SIGWINCH",
        Io as "SIGIO",
        Sys as "SIGSYS",
        /// Windows: `CTRL_BREAK_EVENT`.
        Break as "SIGBREAK",
    }
}

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
