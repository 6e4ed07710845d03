//! A descendant cannot leave the job: `CREATE_BREAKAWAY_FROM_JOB` is refused because the
//! job has no `JOB_OBJECT_LIMIT_BREAKAWAY_OK`.

use crate::prelude::*;

#[tokio::test]
async fn create_breakaway_from_job_is_refused() {
    let (mut child, mut seen) = spawn_kill_only(&["breakaway"]);
    read_until(&mut child, &mut seen, |s| {
        String::from_utf8_lossy(&s.stdout).contains("breakaway ")
    })
    .await;
    let text = String::from_utf8_lossy(&seen.stdout).into_owned();
    if let Some(rest) = text.split("breakaway escaped ").nth(1) {
        // Clean up the escapee before failing.
        let pid: u32 = rest.trim().parse().unwrap();
        drop(Procs::open(&[pid]));
        panic!("a descendant broke away from the job: {text}");
    }
    assert!(
        text.contains("breakaway refused 5\n"),
        "expected ERROR_ACCESS_DENIED: {text}"
    );
    child.kill();
    let outcome = read_to_end(&mut child, &mut seen).await;
    assert_eq!(outcome.reason, EndReason::Killed);
}
