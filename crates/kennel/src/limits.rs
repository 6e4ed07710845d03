//! Resource limits a tree runs under, and the resources it used.
//!
//! [`Limits`] bounds a whole tree — every descendant, daemons included — not one
//! process: memory in bytes, the number of live processes, CPU time as a number of
//! CPUs. [`Usage`] is what the tier measured for the whole tree once it ended.
//!
//! # Platform-specific behavior
//!
//! * **Linux** (cgroup tier): each controller is used where this host has it —
//!   cgroup v2 controllers delegated to kennel's cgroup, otherwise the cgroup v1
//!   hierarchy of that controller (hybrid hosts), in a directory of the same name as
//!   the tree's v2 cgroup. Memory is limited without swap escape
//!   (`memory.swap.max 0`, `memory.memsw.limit_in_bytes`); an OOM kill in the tree
//!   kills the whole tree (`EndReason::MemoryLimit`). A fork beyond `pids_max` fails
//!   with `EAGAIN` inside the tree and is counted in [`Usage::forks_refused`].
//! * **Windows**: the tree's Job Object (job memory limit, active process limit, CPU
//!   rate control; accounting from the job).
//! * **Elsewhere** (macOS, the BSDs, Linux without a usable controller): a spawn that
//!   asks for a limit fails with `SpawnError::LimitUnsupported` unless
//!   [`Limits::best_effort`] is set, in which case the limits that cannot be enforced
//!   are skipped and the outcome says which.
//!
//! # What `processes` can honestly be
//!
//! No cgroup file counts forks: `pids.current` and `pids.peak` count live processes,
//! `pids.events` counts refused forks. So on Linux [`Usage::processes`] is the tree's
//! peak of simultaneously live processes (`pids.peak`), a lower bound of how many it
//! started, and [`Usage::processes_exact`] is false. A Windows Job Object counts every
//! process ever assigned (`TotalProcesses`): exact there.

use std::fmt;
use std::str::FromStr;

#[cfg(feature = "serde")]
use serde::{Deserialize, Serialize};

/// Resource limits for a whole process tree. Every limit is off by default.
///
/// # Examples
///
/// ```
/// let limits = kennel::Limits::new()
///     .memory_max_bytes(64 << 20)
///     .pids_max(64)
///     .cpus(0.5);
/// assert_eq!(limits.memory_max_bytes, Some(64 << 20));
/// assert!(!limits.is_empty());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(default))]
#[non_exhaustive]
pub struct Limits {
    /// The most memory the tree may use at once, in bytes (RAM; no swap on top).
    pub memory_max_bytes: Option<u64>,
    /// The most processes (Linux: tasks, threads included) alive in the tree at once.
    pub pids_max: Option<u32>,
    /// CPU time as a number of CPUs (0.5 = half of one CPU), averaged over 100 ms.
    pub cpus: Option<f64>,
    /// Run without the limits this tier cannot enforce instead of failing the spawn.
    pub best_effort: bool,
    /// Measure memory peak and processes even without a memory or pids limit. Free
    /// where cgroup v2 has the controllers; on hybrid hosts it costs two cgroup v1
    /// directories per tree (~0.1 ms per spawn), so it is asked for, not implied.
    pub full_accounting: bool,
}

impl Limits {
    /// No limits.
    pub fn new() -> Limits {
        Limits::default()
    }

    /// Limit the tree's memory to `bytes`.
    #[must_use]
    pub fn memory_max_bytes(mut self, bytes: u64) -> Limits {
        self.memory_max_bytes = Some(bytes);
        self
    }

    /// Limit the tree to `n` live processes.
    #[must_use]
    pub fn pids_max(mut self, n: u32) -> Limits {
        self.pids_max = Some(n);
        self
    }

    /// Limit the tree's CPU time to `cpus` CPUs.
    #[must_use]
    pub fn cpus(mut self, cpus: f64) -> Limits {
        self.cpus = Some(cpus);
        self
    }

    /// Skip limits the tier cannot enforce instead of failing the spawn.
    #[must_use]
    pub fn best_effort(mut self, yes: bool) -> Limits {
        self.best_effort = yes;
        self
    }

    /// Measure memory peak and processes even without their limits.
    #[must_use]
    pub fn full_accounting(mut self, yes: bool) -> Limits {
        self.full_accounting = yes;
        self
    }

    /// Whether no limit is set.
    pub fn is_empty(&self) -> bool {
        self.memory_max_bytes.is_none() && self.pids_max.is_none() && self.cpus.is_none()
    }

    /// The limits that are set.
    pub fn requested(&self) -> Vec<LimitKind> {
        [
            (self.memory_max_bytes.is_some(), LimitKind::Memory),
            (self.pids_max.is_some(), LimitKind::Pids),
            (self.cpus.is_some(), LimitKind::Cpu),
        ]
        .into_iter()
        .filter_map(|(set, kind)| set.then_some(kind))
        .collect()
    }

    /// Check the values: a memory limit of at least one page, at least one process,
    /// a finite CPU count of at least 0.01.
    ///
    /// # Errors
    ///
    /// [`LimitValueError`] naming the first value out of range.
    pub fn validate(&self) -> Result<(), LimitValueError> {
        if self.memory_max_bytes.is_some_and(|b| b < MIN_MEMORY) {
            return Err(LimitValueError(LimitKind::Memory));
        }
        if self.pids_max == Some(0) {
            return Err(LimitValueError(LimitKind::Pids));
        }
        if self.cpus.is_some_and(|c| !c.is_finite() || c < MIN_CPUS) {
            return Err(LimitValueError(LimitKind::Cpu));
        }
        Ok(())
    }
}

/// The smallest memory limit accepted (one page).
const MIN_MEMORY: u64 = 4096;
/// The smallest CPU limit accepted (1 ms per 100 ms period, the kernel's minimum quota).
const MIN_CPUS: f64 = 0.01;

/// One kind of limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum LimitKind {
    /// [`Limits::memory_max_bytes`].
    Memory,
    /// [`Limits::pids_max`].
    Pids,
    /// [`Limits::cpus`].
    Cpu,
}

impl LimitKind {
    /// The name used in messages and on the wire: `memory`, `pids`, `cpu`.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::Memory => "memory",
            LimitKind::Pids => "pids",
            LimitKind::Cpu => "cpu",
        }
    }
}

impl fmt::Display for LimitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A limit value out of range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the {0} limit is out of range (memory ≥ 4096 bytes, pids ≥ 1, cpus ≥ 0.01)")]
pub struct LimitValueError(pub LimitKind);

/// One type with the `exit` event's `usage` (`kennel-types`), so its field docs speak
/// of the sidecar: in the library, `oom_kills` is 0 when kennel killed the whole tree on
/// the OOM notification before the kernel picked a victim (cgroup v1), the reason still
/// [`EndReason::MemoryLimit`](crate::EndReason::MemoryLimit).
pub use kennel_types::Usage;

/// A `--memory-max`/`--pids-max`/`--cpu-max` value that could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseLimitError {
    /// Not a number with an optional unit.
    #[error("{0:?} is not a size (a number with an optional unit K, M, G or T: 64M, 1G, 1.5G)")]
    Size(String),
    /// Not a whole number of processes.
    #[error("{0:?} is not a number of processes (a whole number ≥ 1)")]
    Pids(String),
    /// Not a number of CPUs.
    #[error("{0:?} is not a number of CPUs (e.g. 0.5, 2)")]
    Cpus(String),
}

/// Read a size such as `64M`, `1G`, `1.5g`, `512KiB`, `4096`: a number with an optional
/// binary unit (K, M, G, T = 1024¹…⁴; case-insensitive; `i` and `B` optional).
///
/// # Errors
///
/// [`ParseLimitError::Size`] for anything else, a negative or an overflowing size.
///
/// # Examples
///
/// ```
/// assert_eq!(kennel::parse_size("64M"), Ok(64 << 20));
/// assert_eq!(kennel::parse_size("1.5G"), Ok(3 << 29));
/// ```
pub fn parse_size(text: &str) -> Result<u64, ParseLimitError> {
    let err = || ParseLimitError::Size(text.to_owned());
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let unit = unit.trim().to_ascii_uppercase();
    let unit = unit.strip_suffix('B').unwrap_or(&unit);
    let unit = unit.strip_suffix('I').unwrap_or(unit);
    let shift = match unit {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return Err(err()),
    };
    if number.is_empty() {
        return Err(err());
    }
    if let Ok(whole) = number.parse::<u64>() {
        return whole.checked_mul(1 << shift).ok_or_else(err);
    }
    let value = number.parse::<f64>().map_err(|_| err())? * (1u64 << shift) as f64;
    if !value.is_finite() || value >= u64::MAX as f64 {
        return Err(err());
    }
    Ok(value.round() as u64)
}

/// Read a number of processes (a whole number ≥ 1).
///
/// # Errors
///
/// [`ParseLimitError::Pids`] otherwise.
pub fn parse_pids(text: &str) -> Result<u32, ParseLimitError> {
    match text.trim().parse::<u32>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(ParseLimitError::Pids(text.to_owned())),
    }
}

/// Read a number of CPUs such as `0.5` or `2` (finite, ≥ 0.01).
///
/// # Errors
///
/// [`ParseLimitError::Cpus`] otherwise.
pub fn parse_cpus(text: &str) -> Result<f64, ParseLimitError> {
    match f64::from_str(text.trim()) {
        Ok(c) if c.is_finite() && c >= MIN_CPUS => Ok(c),
        _ => Err(ParseLimitError::Cpus(text.to_owned())),
    }
}

/// For the mechanisms' tests: what follows `prefix` on the first line of `out` that has
/// it (a helper program may print other text on that line first), or "" at EOF.
#[cfg(test)]
#[allow(
    dead_code,
    reason = "used by the Linux and Windows mechanisms' tests only"
)]
pub(crate) fn after_marker(out: impl std::io::Read, prefix: &str) -> String {
    use std::io::BufRead as _;
    let mut reader = std::io::BufReader::new(out);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).expect("helper output") == 0 {
            return String::new();
        }
        if let Some(at) = line.find(prefix) {
            return line[at + prefix.len()..].trim().to_owned();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_with_binary_units() {
        for (text, bytes) in [
            ("4096", 4096),
            ("64M", 64 << 20),
            ("64m", 64 << 20),
            ("64MiB", 64 << 20),
            ("64MB", 64 << 20),
            ("1G", 1 << 30),
            ("1.5G", 3 << 29),
            ("512K", 512 << 10),
            ("2T", 2 << 40),
            (" 8 M ", 8 << 20),
        ] {
            assert_eq!(parse_size(text), Ok(bytes), "{text}");
        }
    }

    #[test]
    fn sizes_rejected() {
        for text in [
            "",
            "M",
            "-1M",
            "1.2.3G",
            "64X",
            "1P",
            "99999999999T",
            "1e9",
            "nan",
        ] {
            assert!(parse_size(text).is_err(), "{text:?} accepted");
        }
    }

    #[test]
    fn pids_and_cpus() {
        assert_eq!(parse_pids("64"), Ok(64));
        assert!(parse_pids("0").is_err());
        assert!(parse_pids("-3").is_err());
        assert!(parse_pids("1.5").is_err());
        assert_eq!(parse_cpus("0.5"), Ok(0.5));
        assert_eq!(parse_cpus("2"), Ok(2.0));
        for text in ["0", "0.001", "-1", "inf", "NaN", "half"] {
            assert!(parse_cpus(text).is_err(), "{text:?} accepted");
        }
    }

    #[test]
    fn validation_and_requested() {
        assert!(Limits::new().is_empty());
        assert_eq!(Limits::new().validate(), Ok(()));
        let l = Limits::new().pids_max(64).cpus(0.5);
        assert_eq!(l.requested(), vec![LimitKind::Pids, LimitKind::Cpu]);
        assert_eq!(
            Limits::new().memory_max_bytes(100).validate(),
            Err(LimitValueError(LimitKind::Memory))
        );
        assert_eq!(
            Limits::new().cpus(f64::NAN).validate(),
            Err(LimitValueError(LimitKind::Cpu))
        );
        assert_eq!(
            Limits::new().pids_max(0).validate(),
            Err(LimitValueError(LimitKind::Pids))
        );
    }
}
