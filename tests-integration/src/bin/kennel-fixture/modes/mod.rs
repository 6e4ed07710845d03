//! The modes, a table per family: each mode is a small function from its arguments
//! (after the mode name) to an exit code. The module docs of the fixture are the
//! contract of every mode.

use std::process::ExitCode;

use crate::Res;

pub(crate) mod output;
pub(crate) mod signals;
pub(crate) mod stdin;
pub(crate) mod trees;

/// One mode: its name on the command line and what it runs.
pub(crate) struct Mode {
    /// The name, e.g. `flood`.
    pub(crate) name: &'static str,
    /// Runs the mode with the arguments after its name.
    pub(crate) run: fn(&[String]) -> Res<ExitCode>,
}

/// Every family's table.
const FAMILIES: [&[Mode]; 4] = [output::MODES, stdin::MODES, trees::MODES, signals::MODES];

/// The mode called `name` on this platform.
pub(crate) fn find(name: &str) -> Option<&'static Mode> {
    FAMILIES
        .iter()
        .flat_map(|f| f.iter())
        .find(|m| m.name == name)
}

/// Modes this platform lacks, with the platform that has them (a usage error names it).
pub(crate) const ELSEWHERE: &[(&str, &str)] = &[
    #[cfg(not(windows))]
    ("crash", "Windows"),
    #[cfg(not(windows))]
    ("breakaway", "Windows"),
    #[cfg(not(unix))]
    ("background", "Unix"),
    #[cfg(not(unix))]
    ("ignore-signals", "Unix"),
    #[cfg(not(unix))]
    ("kill-self", "Unix"),
    #[cfg(not(unix))]
    ("trap-term", "Unix"),
    #[cfg(not(unix))]
    ("seq", "Unix"),
    #[cfg(not(unix))]
    ("close-stdout", "Unix"),
    #[cfg(not(unix))]
    ("drop-stdin", "Unix"),
];
