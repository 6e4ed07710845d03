//! `kennel::compat` in a program that never calls `keeper::init()` but names a helper
//! in `KENNEL_HELPER`: its trees get the supervisor-death guarantee (Linux). A test
//! binary of its own, because the helper is adopted once per process.
#![cfg(target_os = "linux")]

use std::process::Stdio;

use tokio::io::AsyncReadExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_helper_named_in_the_environment_guards_the_tree() {
    // The only test of this binary: nothing else reads the environment concurrently.
    std::env::set_var(
        kennel::compat::HELPER_ENV,
        env!("CARGO_BIN_EXE_kennel-test-cli"),
    );
    let mut child = kennel::compat::Command::new("sh")
        .args(["-c", "echo guarded"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(child.dies_with_supervisor(), "{:?}", child.containment());
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .await
        .unwrap();
    assert_eq!(out, "guarded\n");
    assert!(child.wait().await.unwrap().success());
    assert!(child.outcome().unwrap().dies_with_supervisor);
}
