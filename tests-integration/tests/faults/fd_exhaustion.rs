//! fd exhaustion: with `RLIMIT_NOFILE` lowered to what the sidecar already has open,
//! `spawn` gets a typed `spawn_failed` error, every other request is still served and
//! the running child is undisturbed; with the limit back, spawning works again.

use crate::prelude::*;

fn set_nofile(pid: u32, soft: u64) -> u64 {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: prlimit with a null new limit only reads into `old`.
    let rc = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_NOFILE,
            std::ptr::null(),
            &mut old,
        )
    };
    assert_eq!(rc, 0, "read the sidecar's RLIMIT_NOFILE");
    let new = libc::rlimit {
        rlim_cur: soft,
        rlim_max: old.rlim_max,
    };
    // SAFETY: both pointers are valid rlimit structs; we only change the soft limit of
    // a process we started.
    let rc = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_NOFILE,
            &new,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(rc, 0, "set the sidecar's RLIMIT_NOFILE");
    old.rlim_cur
}

fn open_fds(pid: u32) -> u64 {
    kennel_tests::fd_count_of(pid) as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_fails_typed_and_the_sidecar_keeps_serving() {
    let mut sc = Sidecar::start().await;
    let mut by = Bystander::start(&mut sc, "by").await;
    // No fd left: the next pipe/socket/pidfd the sidecar opens fails with EMFILE.
    let old = set_nofile(sc.pid, open_fds(sc.pid));
    for i in 0..5 {
        let id = format!("starved{i}");
        sc.send(spawn_request(&id, &["exit", "0"], json!({}))).await;
        let reply = sc
            .wait_for("a reply to the starved spawn", |e| e["id"] == id.as_str())
            .await;
        assert_eq!(reply["event"], "error", "{reply}");
        assert_eq!(reply["code"], "spawn_failed", "{reply}");
        assert_eq!(reply["op"], "spawn", "{reply}");
        let message = reply["message"].as_str().unwrap_or_default();
        assert!(message.contains(FIXTURE), "names the program: {message}");
    }
    // Still serving: list answers, the bystander still echoes.
    sc.send(request::list("q")).await;
    let list = sc.wait_event("list", "q").await;
    assert_eq!(list["children"].as_array().map(Vec::len), Some(1), "{list}");
    by.ping(&mut sc).await;
    // Limit back: spawning works again.
    set_nofile(sc.pid, old);
    sc.spawn("fine", &["exit", "7"], json!({})).await;
    let exit = sc.wait_event("exit", "fine").await;
    assert_eq!(exit["code"], 7, "{exit}");
    by.finish(&mut sc).await;
    sc.finish().await;
    assert_eq!(sc.wait_exit().await, Some(0));
}
