//! The run loop's phases, decided against a scripted fake tree ([`fake`]) under paused
//! time: no process is started, and every instant asserted is exact (the clock only
//! moves when every task waits).

use std::time::Duration;

use tokio::time::sleep;

use super::run::{POLL_MAX, POLL_MIN, SETTLE};
use crate::{
    Drain, EndReason, ExitStatus, Ladder, RunError, Signal, SignalErrorKind, DEFAULT_GRACE,
};

// The parent's end of a pipe is a tokio Unix pipe here, a named pipe on Windows: the
// tests that need one make a Unix pipe.
#[cfg(unix)]
mod drain;
mod exit;
mod fake;
mod ladder;
