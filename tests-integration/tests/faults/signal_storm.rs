//! Signals arriving while `spawn` waits for the keeper's handshake must not fail the
//! spawn. The handshake reads a socket with a timeout, and such reads are never
//! restarted after a signal handler (signal(7)), so every EINTR has to be retried
//! (found by the fault tests: a spawn failed with "keeper handshake failed:
//! Interrupted system call" while other tests' children exited around it).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use kennel::{Command, ContainmentOptions, EndReason};
use tokio::signal::unix::{signal, SignalKind};

use crate::prelude::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawns_survive_a_storm_of_handled_signals() {
    kennel::keeper::use_program(KENNEL);
    // A handler (without which the signal would kill us), then a thread sending it to
    // this process as fast as it can while we spawn.
    let mut usr1 = signal(SignalKind::user_defined1()).expect("handle SIGUSR1");
    let stop = Arc::new(AtomicBool::new(false));
    let storm = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut sent = 0u64;
            while !stop.load(Ordering::Relaxed) {
                // SAFETY: kill(2) to our own pid with a handled signal.
                unsafe { libc::kill(libc::getpid(), libc::SIGUSR1) };
                sent += 1;
                std::thread::yield_now();
            }
            sent
        })
    };
    let drain = tokio::spawn(async move { while usr1.recv().await.is_some() {} });
    let mut failures = Vec::new();
    for round in 0..100 {
        // The keeper tier (the cgroup tier uses a shared guard without a handshake).
        let keeper = ContainmentOptions {
            cgroup: false,
            keeper: true,
        };
        match Command::new(FIXTURE)
            .args(["exit", "0"])
            .containment(keeper)
            .spawn()
        {
            Ok(mut child) => {
                let outcome = tokio::time::timeout(PATIENCE, child.wait()).await.unwrap();
                assert_eq!(outcome.reason, EndReason::Exited, "round {round}");
            }
            Err(e) => failures.push(format!("round {round}: {e} ({:?})", e)),
        }
    }
    stop.store(true, Ordering::Relaxed);
    let sent = storm.join().unwrap();
    drain.abort();
    assert!(sent > 100, "the storm sent only {sent} signals");
    assert!(
        failures.is_empty(),
        "{} spawns failed: {failures:?}",
        failures.len()
    );
}
