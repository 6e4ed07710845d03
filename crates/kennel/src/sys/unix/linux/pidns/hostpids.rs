//! Namespace pids → host pids: the keeper (the namespace's init) reports the pids it
//! sees; the supervisor finds each one's host pid as the last `NSpid` entry of the
//! outer keeper's descendants in the host's `/proc`.

use std::collections::HashMap;

/// The host's pid of the leader `ns_pid` under the outer keeper `outer`.
pub(crate) fn leader_on_host(outer: u32, ns_pid: u32) -> Option<u32> {
    host_pids(outer).get(&ns_pid).copied()
}

/// `pids` as the host sees them when they are namespace pids under the outer keeper
/// `outer` (those gone are dropped); as they are without a namespace.
pub(crate) fn to_host(outer: Option<u32>, pids: Vec<u32>) -> Vec<u32> {
    match outer {
        Some(outer) => translate(&host_pids(outer), &pids),
        None => pids,
    }
}

/// Namespace pid → host pid for every process under the host process `helper` (the
/// outer keeper), read from the host's `/proc` (`NSpid` of each descendant: its pid in
/// every namespace from the host's down to its own). Processes under `helper` that are
/// not in a child namespace of the host's map to themselves' last `NSpid` entry too, so
/// the caller only asks for pids the keeper reported.
pub(crate) fn host_pids(helper: u32) -> HashMap<u32, u32> {
    let mut map = HashMap::new();
    let mut stack = children(helper);
    let mut seen = 0usize;
    while let Some(host) = stack.pop() {
        seen += 1;
        if seen > 1_000_000 {
            break;
        }
        if let Some(ns) = std::fs::read_to_string(format!("/proc/{host}/status"))
            .ok()
            .as_deref()
            .and_then(innermost_pid)
        {
            map.insert(ns, host);
        }
        stack.extend(children(host));
    }
    map
}

/// Translate `pids` (namespace pids) with `map`, dropping those no longer there.
pub(crate) fn translate(map: &HashMap<u32, u32>, pids: &[u32]) -> Vec<u32> {
    pids.iter().filter_map(|p| map.get(p).copied()).collect()
}

/// Children of `pid` in the host's `/proc` (every thread's `children`).
fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|text| {
            text.split_whitespace()
                .filter_map(|w| w.parse::<u32>().ok())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The last (innermost namespace's) pid of a `/proc/<pid>/status` text's `NSpid` line.
fn innermost_pid(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))?
        .split_whitespace()
        .last()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_innermost_pid_is_the_last_nspid_entry() {
        let status = "Name:\tsleep\nTgid:\t4242\nNgid:\t0\nPid:\t4242\nPPid:\t4241\n\
                      NSpid:\t4242\t2\nNSpgid:\t4242\t2\n";
        assert_eq!(innermost_pid(status), Some(2));
        assert_eq!(innermost_pid("NSpid:\t17\n"), Some(17));
        assert_eq!(innermost_pid("Pid:\t17\n"), None);
    }
    #[test]
    fn translation_drops_pids_that_are_gone() {
        let map = HashMap::from([(1, 900), (2, 901)]);
        assert_eq!(translate(&map, &[2, 1, 7]), vec![901, 900]);
    }
    #[test]
    fn host_pids_finds_our_own_children_under_their_own_pids() {
        // Not in a new namespace: each child's innermost pid is its host pid.
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        let me = std::process::id();
        let map = host_pids(me);
        assert_eq!(map.get(&child.id()), Some(&child.id()));
        child.kill().expect("kill");
        child.wait().expect("reap");
    }
}
