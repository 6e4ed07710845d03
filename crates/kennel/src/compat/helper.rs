//! The supervisor-death guarantee without `keeper::init()`: a helper program named by
//! the environment.
//!
//! kennel's keepers (and its guard, where a binary can host it) are a binary re-run with
//! a `__kennel-…` argument, whose `main` must call [`keeper::init`](crate::keeper::init)
//! first. A tokio user's `main` does not, so re-running it would run the user's program
//! instead; without a helper such a program's cgroup trees get the in-process guard
//! (no binary, but it shares the program's memory and dies with it in an OOM kill) and
//! its trees without a cgroup no guarantee. Any other binary
//! that does call it — the `kennel` CLI, built from the same kennel version — can host
//! them: naming it in [`HELPER_ENV`] before the first spawn makes every
//! [`compat`](super) spawn ask for the guarantee through it
//! ([`keeper::use_program`](crate::keeper::use_program)), so no line of the host's
//! code changes. A helper that does not answer kennel's handshake (another program, an
//! older kennel) fails the spawn with `SpawnError::GuardNotStarted`, never silently.

/// The environment variable naming a binary that calls
/// [`keeper::init`](crate::keeper::init) first in its `main` (e.g. the `kennel` CLI
/// of the same version), read once, at the first [`compat`](super) spawn. It takes
/// precedence over the host's own binary even when the host did call `init()`.
pub const HELPER_ENV: &str = "KENNEL_HELPER";

/// Adopt the helper named in [`HELPER_ENV`], once per process.
pub(super) fn adopt_from_env() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Some(path) = std::env::var_os(HELPER_ENV).filter(|p| !p.is_empty()) {
            crate::keeper::use_program(path);
        }
    });
}
