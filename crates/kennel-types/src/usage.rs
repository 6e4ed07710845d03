//! What a whole tree used: the library's `kennel::Usage` and the `exit` event's `usage`.

/// What the whole tree used. A field is absent where the host cannot measure it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default))]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct Usage {
    /// CPU time in user mode of every process of the tree, in milliseconds.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub cpu_user_ms: Option<u64>,
    /// CPU time in the kernel on behalf of the tree, in milliseconds.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub cpu_system_ms: Option<u64>,
    /// The tree's peak memory use in bytes (Linux: the cgroup's, page cache included;
    /// Windows: the job's peak committed memory).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub memory_peak_bytes: Option<u64>,
    /// How many processes the tree started: exact when `processes_exact` (Windows),
    /// else a lower bound (Linux: the peak of live tasks).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub processes: Option<u64>,
    /// Whether `processes` counts every process started.
    pub processes_exact: bool,
    /// Process creations refused because the tree was at `pids_max`.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub forks_refused: Option<u64>,
    /// Processes of the tree the kernel's OOM killer killed (0 when the sidecar killed
    /// the whole tree first, on the OOM notification; `reason` is `memory_limit` either
    /// way).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub oom_kills: Option<u64>,
}

impl Usage {
    /// Whether nothing was measured.
    pub fn is_empty(&self) -> bool {
        *self == Usage::default()
    }
}
