//! The end-of-run vocabulary that the `kennel` library and its sidecar protocol
//! (`kennel-protocol`) share, so that a run's outcome and the wire's `exit` event name
//! its reason, its drain, its escapees and what the tree used with one type each instead
//! of two kept in step.
//!
//! Both crates re-export these types (`kennel::EndReason`, `kennel_protocol::ExitReason`,
//! `kennel::Usage`, …); nothing here depends on either of them, on tokio or on the OS.
//! With the `serde` feature the types serialize as the wire does (`snake_case` names,
//! unmeasured usage omitted); with `schemars`, they have a JSON Schema under the
//! protocol's names.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod usage;

pub use usage::Usage;

/// Declares the types of the vocabulary with what every one of them takes: the derives, the
/// `snake_case` serde names (feature `serde`) and a JSON Schema under its wire name
/// (feature `schemars`; `as "ExitReason"`).
macro_rules! vocabulary {
    ($($(#[$meta:meta])* pub enum $name:ident as $wire:literal { $($body:tt)* })*) => {$(
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        #[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
        #[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
        #[cfg_attr(feature = "schemars", schemars(rename = $wire))]
        pub enum $name { $($body)* }
    )*};
}

vocabulary! {
    /// Why the run ended (the `exit` event's `reason`).
    #[non_exhaustive]
    pub enum EndReason as "ExitReason" {
        /// The leader exited (or died of a signal) on its own; leftovers, if any, were torn
        /// down after.
        Exited,
        /// The timeout (`timeout_ms` on the wire) expired and ran the ladder.
        TimedOut,
        /// A cancel (`Child::cancel`, the `cancel` request) ran the ladder.
        Cancelled,
        /// A kill (`Child::kill`, the `kill` request) went straight to the forceful rung.
        Killed,
        /// An output cap with the `kill` policy was reached.
        OutputCap,
        /// The supervisor shut down (the sidecar's EOF, `shutdown` or a signal), or the
        /// handle was dropped, and ran the ladder.
        SupervisorShutdown,
        /// The tree ran out of memory under its memory limit (`memory_max_bytes`): the kernel
        /// killed a process of it, and the whole tree was killed.
        MemoryLimit,
    }

    /// Whether both output streams reached EOF (the `exit` event's `drain`).
    pub enum Drain as "DrainStatus" {
        /// Every piped stream reached EOF: all output was delivered.
        Complete,
        /// A descendant still held a stream when the drain timeout expired; the holders were
        /// torn down (unless leftovers were kept) and what they wrote before was delivered.
        Timeout,
    }

    /// How a process that had left its tree's containment was found (an outcome's
    /// `escapees_killed`).
    #[non_exhaustive]
    pub enum EscapeFound as "EscapeFound" {
        /// A descendant of the leader (by `/proc` parentage) outside the tree's cgroup.
        Descendant,
        /// An orphan reparented to the supervisor (a child subreaper), in no live tree's
        /// cgroup and not released by a keep-leftovers run.
        Subreaper,
    }
}
