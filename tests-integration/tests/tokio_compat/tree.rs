//! What only kennel does: the whole tree ends with a kill, a drop, or the leader's
//! exit. Each check runs on both APIs and asserts tokio's behaviour too (the
//! grandchild survives), then cleans up after tokio.

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use super::{
    both, eventually, is_alive, kill_pids, marked, new_marker, read_pids, FIXTURE, PATIENCE,
};

/// The number on the next line of `lines` (a pid a shell printed with `echo $!`).
async fn read_number<R>(lines: &mut tokio::io::Lines<R>) -> u32
where
    R: tokio::io::AsyncBufRead + Unpin,
{
    let line = tokio::time::timeout(PATIENCE, lines.next_line())
        .await
        .expect("a line in time")
        .unwrap()
        .expect("a line before EOF");
    line.trim().parse().expect("a pid")
}

/// After the leader is gone: with kennel nothing of the tree may be left; with tokio
/// the grandchild must be (then it is killed here).
async fn check_grandchild(is_kennel: bool, marker: &str, grandchild: u32) {
    if is_kennel {
        assert!(
            !is_alive(grandchild),
            "kennel left {}",
            kennel_tests::describe(grandchild)
        );
        assert_eq!(
            marked(marker),
            Vec::<u32>::new(),
            "kennel left the tree running"
        );
    } else {
        // Waited for, not read once: a job still inside `execve` has no readable
        // environment for a moment.
        assert!(
            eventually(|| marked(marker) == vec![grandchild]).await,
            "tokio is expected to leave it: {:?}, {}",
            marked(marker),
            kennel_tests::describe(grandchild)
        );
        kill_pids(&[grandchild]);
        assert!(eventually(|| marked(marker).is_empty()).await);
    }
}

/// `sh -c 'sleep 300 & echo $!; wait'`: a leader that waits on a background job.
/// (Not the fixture's `tree`: a node notifies its parent after printing its pid line,
/// and a kill in between ends it by `SIGPIPE` under tokio too.)
const WAITS_ON_A_JOB: &str = "sleep 300 & echo $!; wait";

both! {
    /// `kill()`, and dropping a `kill_on_drop(true)` child, end the grandchild too.
    async fn kill_and_drop_take_the_grandchild() {
        let marker = new_marker(&format!("kill{}", u8::from(IS_KENNEL)));
        let mut cmd = p::Command::new("sh");
        cmd.args(["-c", WAITS_ON_A_JOB])
            .env(&marker, "1")
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        for by_drop in [false, true] {
            let mut child = cmd.spawn().unwrap();
            let leader = child.id().unwrap();
            let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
            let grandchild = read_number(&mut lines).await;
            if by_drop {
                drop(child);
                assert!(eventually(|| !kennel_tests::is_alive(leader)).await, "leader killed");
                if IS_KENNEL {
                    // The drop's kill runs in the background: wait for it.
                    assert!(
                        eventually(|| !is_alive(grandchild) && marked(&marker).is_empty())
                            .await
                    );
                }
            } else {
                child.kill().await.unwrap();
            }
            check_grandchild(IS_KENNEL, &marker, grandchild).await;
        }
    }
}

both! {
    /// `sh -c 'sleep 300 &'`: the leader exits at once; kennel's `wait` returns once the
    /// background `sleep` is torn down, tokio's leaves it running.
    async fn leader_exit_takes_the_background_job() {
        let marker = new_marker(&format!("bg{}", u8::from(IS_KENNEL)));
        let mut child = p::Command::new("sh")
            .args(["-c", "sleep 300 >/dev/null 2>&1 & echo $!"])
            .env(&marker, "1")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let sleep = read_number(&mut BufReader::new(child.stdout.take().unwrap()).lines()).await;
        assert!(child.wait().await.unwrap().success());
        check_grandchild(IS_KENNEL, &marker, sleep).await;
    }
}

both! {
    /// Dropping a child without saying `kill_on_drop`: kennel kills the tree, tokio
    /// lets the process run.
    async fn default_drop() {
        let marker = new_marker(&format!("default{}", u8::from(IS_KENNEL)));
        let mut child = p::Command::new(FIXTURE)
            .args(["tree", "--depth", "1", "--width", "1"])
            .env(&marker, "1")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let pid = read_pids(&mut lines, 1).await[0];
        drop(child);
        if IS_KENNEL {
            assert!(eventually(|| marked(&marker).is_empty()).await);
            // The pipe's EOF comes with the end of the tree.
            assert_eq!(lines.next_line().await.unwrap(), None);
        } else {
            // tokio's drop does nothing to the process: it still answers to a signal
            // sent by pid after the drop.
            assert_eq!(marked(&marker), vec![pid]);
            kill_pids(&[pid]);
            assert!(eventually(|| marked(&marker).is_empty()).await);
        }
    }
}

/// kennel's own view of a compat child: the outcome after `kill`, the leftovers of a
/// background job, and the containment a program without `keeper::init()` gets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kennel_view_of_a_compat_child() {
    let mut child = sh_with_piped_stdout("sleep 300 >/dev/null 2>&1 & echo $!");
    // Never called `keeper::init()`: the strongest tier without a helper binary, and
    // the supervisor-death guarantee where the in-process guard holds it (a cgroup
    // tree; without a cgroup it needs a keeper, a helper binary).
    let tier = kennel::available_containment().first().copied();
    assert_eq!(child.containment(), tier);
    let guarded = tier == Some(kennel::Containment::Cgroup);
    assert_eq!(child.dies_with_supervisor(), guarded);
    assert!(child.outcome().is_none());
    let sleep = read_number(&mut BufReader::new(child.stdout.take().unwrap()).lines()).await;
    child.wait().await.unwrap();
    let outcome = child.outcome().expect("an outcome after wait");
    assert_eq!(outcome.reason, kennel::EndReason::Exited);
    assert_eq!(outcome.leftovers_killed, vec![sleep]);
    assert_eq!(outcome.dies_with_supervisor, guarded);

    let mut cmd = kennel::compat::Command::new("sleep");
    cmd.arg("300");
    let mut child = cmd.spawn().unwrap();
    child.controller().cancel();
    let status = child.wait().await.unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(15)
    );
    assert_eq!(
        child.outcome().unwrap().reason,
        kennel::EndReason::Cancelled
    );
}

/// A background job that keeps stdout open does not hang a reader: kennel ends the
/// stream after its drain timeout (tokio's reader would wait for the job to exit), with
/// every byte written before, and tears the job down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_holding_stdout_does_not_hang_the_reader() {
    let mut child = sh_with_piped_stdout("sleep 300 & echo $!");
    let mut out = String::new();
    tokio::time::timeout(
        PATIENCE,
        child.stdout.take().unwrap().read_to_string(&mut out),
    )
    .await
    .expect("EOF after the drain timeout")
    .unwrap();
    let sleep: u32 = out.trim().parse().unwrap();
    assert!(child.wait().await.unwrap().success());
    let outcome = child.outcome().unwrap();
    assert_eq!(outcome.drain, kennel::Drain::Timeout);
    assert!(!kennel_tests::is_alive(sleep));
}

/// `sh -c script` on kennel, stdout piped.
fn sh_with_piped_stdout(script: &str) -> kennel::compat::Child {
    kennel::compat::Command::new("sh")
        .args(["-c", script])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}
