//! A signal or kill sent the moment `spawn` returns reaches the child, in every tier.
//! (Session 2 found the keeper tiers dropping it: the control socket reported
//! `WouldBlock` until tokio's reactor had polled it once.)

use std::time::Duration;

use kennel::{Containment, ContainmentOptions, Signal};

use crate::*;

/// Every tier, including the plain process group.
fn all_tiers() -> Vec<Tier> {
    let mut all = tiers();
    all.push(Tier {
        name: "process group alone",
        options: ContainmentOptions {
            cgroup: false,
            keeper: false,
        },
        expect: Containment::Group,
    });
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_right_after_spawn_is_not_lost() {
    for tier in all_tiers() {
        for round in 0..40 {
            let mark = marker();
            let mut child = fixture(&mark, &tier, &["sleep", "600000"]).spawn().unwrap();
            child.signal(Signal::Term).await.unwrap();
            let outcome = tokio::time::timeout(PATIENCE, child.wait())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "{} round {round}: SIGTERM sent right after spawn was lost \
                         (the child still runs after {PATIENCE:?})",
                        tier.name
                    )
                });
            assert_eq!(
                outcome.status.signal,
                Some(15),
                "{} round {round}: {outcome:?}",
                tier.name
            );
            assert_no_survivors(&mark, Duration::from_secs(5), tier.name);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_right_after_spawn_is_not_lost() {
    for tier in all_tiers() {
        for round in 0..40 {
            let mark = marker();
            let mut child = fixture(&mark, &tier, &["ignore-signals"]).spawn().unwrap();
            child.kill();
            let outcome = tokio::time::timeout(PATIENCE, child.wait())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "{} round {round}: kill right after spawn was lost \
                         (the child still runs after {PATIENCE:?})",
                        tier.name
                    )
                });
            assert_eq!(
                outcome.status.signal,
                Some(9),
                "{} round {round}: {outcome:?}",
                tier.name
            );
            assert_no_survivors(&mark, Duration::from_secs(5), tier.name);
        }
    }
}
