//! The supervisor dying — even by `TerminateProcess`, which runs no destructor — takes
//! every tree with it: the kernel closes its job handles and KILL_ON_JOB_CLOSE ends the
//! jobs' processes.
//!
//! The supervisor is this test binary itself, re-run with `SUPERVISOR_ROLE` set so that
//! [`supervisor_role`] spawns a tree with kennel, prints its pids on stderr and waits forever.

use std::io::{BufRead as _, BufReader};
use std::process::Stdio;
use std::sync::mpsc;

use crate::prelude::*;

const SUPERVISOR_ROLE: &str = "KENNEL_TEST_SUPERVISOR_ROLE";

/// Not a test on its own: the body of the supervisor process (a no-op unless the
/// environment variable is set).
#[test]
fn supervisor_role() {
    if std::env::var_os(SUPERVISOR_ROLE).is_none() {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        // The child handle is kept (not dropped) until the process is terminated.
        let (_child, _seen, pids) =
            spawn_printed(fixture(&["tree", "--depth", "3", "--width", "2"]), 7).await;
        let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
        // On stderr: unbuffered, and libtest writes nothing else there.
        eprintln!("tree {}", pids.join(" "));
        std::future::pending::<()>().await;
    });
}

#[test]
fn terminating_the_supervisor_ends_every_tree() {
    let exe = std::env::current_exe().unwrap();
    let mut supervisor = std::process::Command::new(exe)
        .args([
            "--exact",
            "supervisor_death::supervisor_role",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(SUPERVISOR_ROLE, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let supervisor_proc = Procs::open(&[supervisor.id()]);
    let stderr = supervisor.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.strip_prefix("tree ") {
                let pids: Vec<u32> = rest.split(' ').map(|p| p.parse().unwrap()).collect();
                let _ = tx.send(pids);
                break;
            }
        }
    });
    let pids = rx
        .recv_timeout(PATIENCE)
        .expect("the supervisor reported its tree");
    assert_eq!(pids.len(), 7);
    let procs = Procs::open(&pids);
    // TerminateProcess: no destructor, no Drop of the Child, no ladder.
    supervisor.kill().unwrap();
    supervisor.wait().unwrap();
    supervisor_proc.wait_gone(PATIENCE).unwrap();
    if let Err(left) = procs.wait_gone(PATIENCE) {
        panic!("the tree outlived its supervisor: {left:?}");
    }
}
