//! A `signal` racing the end of a run is answered. The sidecar's `signal` answers come
//! from [`kennel::Controller::signal`], and a child's `exit` waits for them; a client
//! that sends a signal on every turn of its event loop until the `exit` (the Node
//! client's test "a request racing the exit of a child with a direct stream") once
//! waited forever: a request sent while the run's control channel was being dropped
//! stayed in the channel, its reply never sent and never dropped, so the answer — and
//! the child's `exit` after it — never came, and the sidecar outlived its client.
//!
//! Each child here exits at once while two tasks call `signal` back to back until the
//! run is over; every call must return (an acknowledgement or `Finished`) within
//! [`PATIENCE`].

use std::time::Duration;

use kennel::{Controller, SignalErrorKind};

use crate::prelude::*;

/// Children per test: the race is narrow (a send between the channel's close and its
/// drain), so many runs end under fire.
const RUNS: usize = 1000;

/// Calls `signal(SIGCONT)` until the run is over; returns how many calls were made.
async fn hammer(controller: Controller) -> usize {
    let mut calls = 0;
    loop {
        calls += 1;
        let answer = tokio::time::timeout(PATIENCE, controller.signal(Signal::Cont)).await;
        match answer {
            Err(_) => panic!(
                "signal call {calls} on pid {} got no answer in {PATIENCE:?} (finished: {})",
                controller.id(),
                controller.is_finished()
            ),
            Ok(Err(e)) if e.kind == SignalErrorKind::Finished => return calls,
            Ok(Err(e)) => panic!("signal call {calls} failed: {e}"),
            Ok(Ok(())) => {}
        }
        // Past the end, only `Finished` may come; keep going until it does.
        if calls > 1_000_000 {
            panic!("the run of pid {} never finished", controller.id());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_racing_the_end_of_the_run_is_answered() {
    for _ in 0..RUNS {
        let mut child = fixture(&["exit", "0"]).spawn().unwrap();
        let hammers: Vec<_> = (0..2)
            .map(|_| tokio::spawn(hammer(child.controller())))
            .collect();
        let outcome = tokio::time::timeout(PATIENCE, child.wait())
            .await
            .expect("the outcome");
        assert_eq!(outcome.status.code, Some(0), "{outcome:?}");
        for h in hammers {
            tokio::time::timeout(PATIENCE + Duration::from_secs(1), h)
                .await
                .expect("a hammer ended")
                .expect("a hammer did not panic");
        }
    }
}
