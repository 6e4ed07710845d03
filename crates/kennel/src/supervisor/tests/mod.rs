//! The run loop's phases, decided against a scripted fake tree ([`fake`]) under paused
//! time: no process is started, and every instant asserted is exact (the clock only
//! moves when every task waits).

use std::time::Duration;

use tokio::time::sleep;

use super::run::{POLL_MAX, POLL_MIN, POST_KILL_EOF_WINDOW, SETTLE};
use super::Event;
use crate::{
    Drain, EndReason, ExitStatus, Ladder, OutputCap, RunError, Signal, SignalErrorKind,
    DEFAULT_GRACE,
};

mod exit;
mod fake;
mod ladder;
