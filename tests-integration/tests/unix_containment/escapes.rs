//! Descendants that leave the process group still die, in every tier.

use std::time::Duration;

use kennel::{Drain, EndReason, Event};

use crate::*;

async fn leader_exits_and_nothing_survives(args: &[&str], expect_drain: Drain) {
    for tier in tiers() {
        let mark = marker();
        let mut child = fixture(&mark, &tier, args)
            .drain_timeout(Duration::from_millis(300))
            .spawn()
            .unwrap();
        assert_eq!(child.containment(), tier.expect, "{}", tier.name);
        let outcome = tokio::time::timeout(PATIENCE, child.wait()).await.unwrap();
        assert_eq!(
            outcome.reason,
            EndReason::Exited,
            "{}: {outcome:?}",
            tier.name
        );
        assert_eq!(outcome.status.code, Some(0), "{}", tier.name);
        assert_eq!(outcome.containment, tier.expect, "{}", tier.name);
        assert_eq!(outcome.drain, expect_drain, "{}: {outcome:?}", tier.name);
        assert!(
            !outcome.leftovers_killed.is_empty(),
            "{}: the escapee was found: {outcome:?}",
            tier.name
        );
        // Right after the outcome, nothing of the tree runs.
        assert_no_survivors(&mark, Duration::ZERO, &format!("{} {args:?}", tier.name));
    }
}

cases! { async leader_exits_and_nothing_survives:
    setsid_double_fork_daemon_holding_stdout(&["daemon"], Drain::Timeout);
    double_fork_daemon_that_closes_every_fd(&["daemon", "--close-fds"], Drain::Complete);
    setsid_grandchild_holding_the_pipe(&["hold-pipe", "--setsid"], Drain::Timeout);
    background_job_in_its_own_process_group(&["background"], Drain::Complete);
    nohup_child(&["nohup"], Drain::Complete);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fork_loop_during_the_kill_converges() {
    for tier in tiers() {
        let mark = marker();
        let mut child = fixture(&mark, &tier, &["fork-loop", "--count", "400"])
            .spawn()
            .unwrap();
        // Cancel as soon as the chain is growing.
        match tokio::time::timeout(PATIENCE, child.next_event())
            .await
            .unwrap()
        {
            Some(Event::Stdout(_)) => {}
            other => panic!("{}: {other:?}", tier.name),
        }
        child.kill();
        let outcome = tokio::time::timeout(PATIENCE, child.wait()).await.unwrap();
        assert_eq!(outcome.reason, EndReason::Killed);
        assert_no_survivors(&mark, Duration::ZERO, tier.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_tree_with_an_escaped_daemon_is_cancelled() {
    for tier in tiers() {
        let mark = marker();
        let mut child = fixture(
            &mark,
            &tier,
            &["tree", "--depth", "3", "--width", "2", "--stop"],
        )
        .spawn()
        .unwrap();
        let mut out = Vec::new();
        while !kennel_tests::has_line(&out, "stopped") {
            match tokio::time::timeout(PATIENCE, child.next_event())
                .await
                .unwrap()
            {
                Some(Event::Stdout(b)) => out.extend_from_slice(&b),
                other => panic!("{}: {other:?}", tier.name),
            }
        }
        let pids: Vec<u32> = kennel_tests::parse_pid_lines(&out)
            .iter()
            .map(|l| l.pid)
            .collect();
        assert!(kennel_tests::wait_until(PATIENCE, || pids
            .iter()
            .all(|&p| kennel_tests::is_stopped(p))));
        child.cancel();
        let outcome = tokio::time::timeout(PATIENCE, child.wait()).await.unwrap();
        assert_eq!(outcome.ladder_step, Some(0), "{}: {outcome:?}", tier.name);
        assert!(!outcome.forced, "{}", tier.name);
        assert_no_survivors(&mark, Duration::ZERO, tier.name);
    }
}
