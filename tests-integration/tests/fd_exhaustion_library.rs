//! fd exhaustion through the library: with this process's `RLIMIT_NOFILE` lowered to
//! the fds already open, `spawn` returns a typed `SpawnError::Os` naming the stage and
//! carrying `EMFILE`; a running child is undisturbed, and with the limit back spawning
//! works again.
//!
//! A test binary of its own: the limit is per process, and other tests must not run
//! out of fds beside it.
#![cfg(target_os = "linux")]

use std::time::Duration;

use kennel::{Command, EndReason, SpawnError, StdinMode};

const FIXTURE: &str = env!("CARGO_BIN_EXE_kennel-fixture");
const PATIENCE: Duration = Duration::from_secs(30);

fn set_soft_nofile(soft: u64) -> u64 {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with valid pointers to local structs.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut old), 0);
        let new = libc::rlimit {
            rlim_cur: soft,
            rlim_max: old.rlim_max,
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &new), 0);
    }
    old.rlim_cur
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_returns_a_typed_error_when_fds_run_out() {
    kennel::keeper::use_program(env!("CARGO_BIN_EXE_kennel-test-cli"));
    // A child that runs across the starvation, and warms up lazily created fds.
    let echo = Command::new(FIXTURE)
        .arg("echo-stdin")
        .stdin(StdinMode::Piped)
        .spawn()
        .expect("spawn");
    let old = set_soft_nofile(kennel_tests::open_fd_count() as u64);
    let result = Command::new(FIXTURE).args(["exit", "0"]).spawn();
    set_soft_nofile(old);
    match result {
        Err(SpawnError::Os { stage, source, .. }) => {
            assert_eq!(source.raw_os_error(), Some(libc::EMFILE), "stage {stage}");
        }
        other => panic!("expected SpawnError::Os with EMFILE, got {other:?}"),
    }
    // The running child is fine; spawning works again.
    echo.write_stdin(b"still here\n").await.expect("write");
    echo.close_stdin().await.expect("close");
    let out = tokio::time::timeout(PATIENCE, echo.output()).await.unwrap();
    assert_eq!(out.stdout, b"still here\n");
    let again = Command::new(FIXTURE).args(["exit", "3"]).output().await;
    let again = again.expect("spawn after the limit is back");
    assert_eq!(again.outcome.reason, EndReason::Exited);
    assert_eq!(again.outcome.status.code, Some(3));
}
