//! Reading `/proc` (Linux): process state, parentage and groups.

use std::fs;

/// The fields of `/proc/<pid>/stat` kennel uses.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stat {
    pub(crate) state: char,
    #[allow(dead_code)]
    pub(crate) ppid: u32,
    pub(crate) pgrp: u32,
    #[allow(dead_code)]
    pub(crate) start_time: u64,
}

pub(crate) fn read_stat(pid: u32) -> Option<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// Parse `/proc/<pid>/stat`: the command name may contain spaces and parentheses, so
/// split after the *last* `)`.
pub(crate) fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgrp = fields.next()?.parse().ok()?;
    // Fields after pgrp: session(6) tty_nr tpgid flags minflt cminflt majflt cmajflt
    // utime stime cutime cstime priority nice num_threads itrealvalue starttime(22).
    let start_time = fields.nth(16)?.parse().ok()?;
    Some(Stat {
        state,
        ppid,
        pgrp,
        start_time,
    })
}

/// Children of `pid` (all threads' `children` files), zombies included.
pub(crate) fn children_of(pid: u32) -> Vec<u32> {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for task in tasks.flatten() {
        if let Ok(text) = fs::read_to_string(task.path().join("children")) {
            out.extend(
                text.split_whitespace()
                    .filter_map(|w| w.parse::<u32>().ok()),
            );
        }
    }
    out
}

/// Every descendant of `pid` (depth first), as far as `/proc` shows them now.
pub(crate) fn descendants_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut stack = children_of(pid);
    while let Some(p) = stack.pop() {
        if out.len() > 1_000_000 {
            break;
        }
        out.push(p);
        stack.extend(children_of(p));
    }
    out
}

/// Pids of live (non-zombie) processes whose process group is `pgid`.
pub(crate) fn group_members(pgid: u32) -> Vec<u32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(stat) = read_stat(pid) {
            if stat.pgrp == pgid && stat.state != 'Z' && stat.state != 'X' {
                out.push(pid);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_command_names() {
        let line = "1234 (a) b (c)) S 1 1234 1234 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 98765 1000 10 18446744073709551615";
        let stat = parse_stat(line).unwrap();
        assert_eq!(stat.state, 'S');
        assert_eq!(stat.ppid, 1);
        assert_eq!(stat.pgrp, 1234);
        assert_eq!(stat.start_time, 98765);
    }

    #[test]
    fn reads_own_stat() {
        let me = std::process::id();
        let stat = read_stat(me).unwrap();
        assert_ne!(stat.state, 'Z');
        assert_eq!(
            stat.pgrp,
            rustix::process::getpgrp().as_raw_nonzero().get() as u32
        );
        assert!(stat.start_time > 0);
    }
}
