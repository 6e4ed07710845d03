//! The sidecar opens no network socket: while it runs children (keepers and all),
//! every socket among its fds is a Unix socket (listed in its `/proc/<pid>/net/unix`)
//! and none is in its TCP/UDP/raw tables; the same holds for its guard and keepers.

use crate::*;

fn socket_inodes(pid: u32) -> Vec<String> {
    kennel_tests::fds_of(pid)
        .into_iter()
        .filter_map(|(_, target)| {
            target
                .strip_prefix("socket:[")
                .and_then(|s| s.strip_suffix(']'))
                .map(String::from)
        })
        .collect()
}

/// Inode column of a `/proc/<pid>/net/*` table (column 9 for tcp/udp/raw, 7 for unix).
fn table_inodes(pid: u32, table: &str) -> Vec<String> {
    let column = if table == "unix" { 6 } else { 9 };
    std::fs::read_to_string(format!("/proc/{pid}/net/{table}"))
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(column).map(String::from))
        .collect()
}

fn assert_only_unix_sockets(pid: u32, who: &str) {
    let sockets = socket_inodes(pid);
    let unix = table_inodes(pid, "unix");
    for table in [
        "tcp", "tcp6", "udp", "udp6", "raw", "raw6", "udplite", "udplite6",
    ] {
        let inet = table_inodes(pid, table);
        let found: Vec<&String> = sockets.iter().filter(|s| inet.contains(s)).collect();
        assert!(
            found.is_empty(),
            "{who} {pid} has {table} sockets {found:?}"
        );
    }
    for s in &sockets {
        assert!(
            unix.contains(s),
            "{who} {pid}: socket {s} is not a Unix socket"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sidecar_and_its_keepers_have_only_unix_sockets() {
    let mut sc = Sidecar::start().await;
    let mut by = Bystander::start(&mut sc, "by").await;
    sc.spawn("tree", &["tree", "--depth", "2", "--width", "2"], json!({}))
        .await;
    // A keeper-tier child too (without a cgroup each child gets a keeper).
    sc.spawn(
        "kept",
        &["tree", "--depth", "2", "--width", "2"],
        json!({"containment": {"cgroup": false}}),
    )
    .await;
    sc.wait_pids("tree", 3).await;
    sc.wait_pids("kept", 3).await;
    assert_only_unix_sockets(sc.pid, "the sidecar");
    // Its children: the shared cgroup guard, keepers, leaders.
    let children = kennel_tests::children_of(sc.pid);
    assert!(children.len() >= 3, "{children:?}");
    for k in children {
        assert_only_unix_sockets(k, "a child of the sidecar");
    }
    by.ping(&mut sc).await;
    by.finish(&mut sc).await;
    sc.finish().await;
}
