//! The final report of a run, produced once the tree is gone and output has drained.

use std::time::Duration;

pub use kennel_types::{Drain, EndReason, EscapeFound};

#[cfg(feature = "serde")]
use serde::{Deserialize, Serialize};

/// How the leader process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct ExitStatus {
    /// The exit code, when the leader exited normally.
    pub code: Option<i32>,
    /// The signal number that terminated the leader (Unix).
    pub signal: Option<i32>,
}

impl ExitStatus {
    /// Exited with code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// The name of the terminating signal, e.g. `"SIGKILL"`.
    pub fn signal_name(&self) -> Option<&'static str> {
        self.signal.and_then(crate::signal::name_of_number)
    }

    /// The name of the NTSTATUS a Windows process died of, e.g.
    /// `"STATUS_ACCESS_VIOLATION"` for the exit code 0xC0000005 (`-1073741819` as an
    /// `i32`): an unhandled exception makes its NTSTATUS the exit code. `None` for
    /// ordinary exit codes and for NTSTATUS values not in kennel's short list of crash
    /// and termination codes.
    ///
    /// # Platform-specific behavior
    ///
    /// Only the code's bits are read, so this is available everywhere; Unix exit codes
    /// (0–255) never match.
    pub fn ntstatus_name(&self) -> Option<&'static str> {
        // The bits of the NTSTATUS, whatever the sign of the i32.
        Some(match self.code? as u32 {
            0x8000_0003 => "STATUS_BREAKPOINT",
            0xC000_0005 => "STATUS_ACCESS_VIOLATION",
            0xC000_001D => "STATUS_ILLEGAL_INSTRUCTION",
            0xC000_0025 => "STATUS_NONCONTINUABLE_EXCEPTION",
            0xC000_008C => "STATUS_ARRAY_BOUNDS_EXCEEDED",
            0xC000_008E => "STATUS_FLOAT_DIVIDE_BY_ZERO",
            0xC000_0094 => "STATUS_INTEGER_DIVIDE_BY_ZERO",
            0xC000_0095 => "STATUS_INTEGER_OVERFLOW",
            0xC000_0096 => "STATUS_PRIVILEGED_INSTRUCTION",
            0xC000_00FD => "STATUS_STACK_OVERFLOW",
            0xC000_0135 => "STATUS_DLL_NOT_FOUND",
            0xC000_0139 => "STATUS_ENTRYPOINT_NOT_FOUND",
            0xC000_013A => "STATUS_CONTROL_C_EXIT",
            0xC000_0142 => "STATUS_DLL_INIT_FAILED",
            0xC000_0374 => "STATUS_HEAP_CORRUPTION",
            0xC000_0409 => "STATUS_STACK_BUFFER_OVERRUN",
            0xC000_0417 => "STATUS_INVALID_CRUNTIME_PARAMETER",
            _ => return None,
        })
    }

    /// The code a shell would report: the exit code, or 128 + the signal number.
    pub fn shell_code(&self) -> i32 {
        match (self.code, self.signal) {
            (Some(code), _) => code,
            (None, Some(sig)) => 128 + sig,
            (None, None) => 1,
        }
    }
}

/// The containment that was actually used for the tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Containment {
    /// A process group per child (`setpgid` at spawn), signalled with `killpg`.
    Group,
    /// A process group plus a child-subreaper sweep that finds descendants which left
    /// the group (Linux).
    Subreaper,
    /// A cgroup v2 per child, killed with `cgroup.kill` (Linux).
    Cgroup,
    /// A Job Object per child (Windows).
    JobObject,
    /// A PID namespace per child whose init is kennel's keeper (Linux; opt-in:
    /// [`Command::pid_namespace`](crate::Command::pid_namespace)). Nothing can leave
    /// it, and the kernel kills all of it when the init dies.
    PidNamespace,
}

impl Containment {
    /// The wire name: `group`, `subreaper`, `cgroup`, `job_object`, `pid_namespace`.
    pub fn as_str(self) -> &'static str {
        match self {
            Containment::Group => "group",
            Containment::Subreaper => "subreaper",
            Containment::Cgroup => "cgroup",
            Containment::JobObject => "job_object",
            Containment::PidNamespace => "pid_namespace",
        }
    }
}

/// What one output stream delivered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct StreamReport {
    /// Bytes delivered as events.
    pub bytes: u64,
    /// Bytes read past the cap and dropped.
    pub dropped: u64,
    /// Whether the cap was reached.
    pub cap_hit: bool,
}

/// A process that left its tree's containment (e.g. wrote its pid to another
/// cgroup's `cgroup.procs`) and was killed by the final sweep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[non_exhaustive]
pub struct Escapee {
    /// Its pid.
    pub pid: u32,
    /// How the sweep found it.
    pub found: EscapeFound,
}

/// The final report of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[non_exhaustive]
pub struct Outcome {
    /// The leader's process id.
    pub pid: u32,
    /// How the leader ended.
    pub status: ExitStatus,
    /// Why the run ended.
    pub reason: EndReason,
    /// Index of the ladder rung in effect when the tree ended (`None` when the tree was
    /// never signalled). The forceful rung's index is the number of graceful rungs.
    pub ladder_step: Option<usize>,
    /// Whether the forceful rung was needed.
    pub forced: bool,
    /// From spawn to the outcome.
    #[cfg_attr(feature = "serde", serde(with = "duration_ms"))]
    pub wall_time: Duration,
    /// What stdout delivered.
    pub stdout: StreamReport,
    /// What stderr delivered.
    pub stderr: StreamReport,
    /// Whether output drained completely.
    pub drain: Drain,
    /// Descendants found alive and torn down after the leader exited.
    pub leftovers_killed: Vec<u32>,
    /// The containment used.
    pub containment: Containment,
    /// Whether a death of the supervisor — even `kill -9` — at any moment of the run
    /// would have killed the tree too: a guard or keeper watched it, without a gap,
    /// from spawn to the end (Linux: a cgroup tree, or any tree in a binary that calls
    /// [`keeper::init`](crate::keeper::init) first; always on Windows; never on macOS
    /// and the BSDs). See [`Child::dies_with_supervisor`](crate::Child::dies_with_supervisor).
    #[cfg_attr(feature = "serde", serde(default))]
    pub dies_with_supervisor: bool,
    /// Non-fatal problems met on the way (a read error, a failed signal); each
    /// serializes as its [`RunError::report`](crate::RunError::report) sentence.
    pub errors: Vec<crate::RunError>,
    /// Every containment layer that was active for the tree, strongest first (Linux:
    /// e.g. `[cgroup, subreaper, group]` for a cgroup tree in a supervisor that is a
    /// child subreaper). [`Outcome::containment`] is the first.
    #[cfg_attr(feature = "serde", serde(default))]
    pub layers: Vec<Containment>,
    /// Processes that had left the tree's containment and were killed by the final
    /// sweep, with how each was found (Linux, cgroup tier).
    #[cfg_attr(feature = "serde", serde(default))]
    pub escapees_killed: Vec<Escapee>,
    /// What the whole tree used, where the tier measures it (see [`Usage`](crate::Usage)).
    #[cfg_attr(feature = "serde", serde(default))]
    pub usage: crate::Usage,
    /// Limits asked for with [`Limits::best_effort`](crate::Limits) that this tier could
    /// not enforce: the tree ran without them.
    #[cfg_attr(feature = "serde", serde(default))]
    pub limits_skipped: Vec<crate::LimitKind>,
}

impl Outcome {
    /// The leader exited with code 0 on its own.
    pub fn success(&self) -> bool {
        self.reason == EndReason::Exited && self.status.success()
    }
}

#[cfg(feature = "serde")]
mod duration_ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64() * 1000.0)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let ms = f64::deserialize(d)?;
        Duration::try_from_secs_f64(ms / 1000.0).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::ExitStatus;

    fn code(c: i32) -> ExitStatus {
        ExitStatus {
            code: Some(c),
            signal: None,
        }
    }

    #[test]
    fn ntstatus_names_read_the_bits_of_the_code() {
        assert_eq!(
            code(0xC000_0005u32 as i32).ntstatus_name(),
            Some("STATUS_ACCESS_VIOLATION")
        );
        assert_eq!(
            code(-1073740791).ntstatus_name(),
            Some("STATUS_STACK_BUFFER_OVERRUN")
        );
        for ordinary in [0, 1, 5, 137, 255] {
            assert_eq!(code(ordinary).ntstatus_name(), None, "{ordinary}");
        }
        let by_signal = ExitStatus {
            code: None,
            signal: Some(11),
        };
        assert_eq!(by_signal.ntstatus_name(), None);
    }
}
