//! Wine loaders that a tree kill cut short at creation (Linux side of the Wine cells).
//!
//! Under Wine a Windows process is a Linux process that starts as Wine's loader
//! (`/usr/lib/wine/wine64 Z:\…\kennel-fixture.exe …`) and becomes the Windows program
//! only after its first requests to wineserver; only then is its command line rewritten
//! to the Windows one. wineserver's `TerminateJobObject` terminates the job's processes
//! that have running threads and skips one that is still being created (`terminate_job`
//! in Wine's `server/process.c`). When the kill lands in that window, wineserver drops
//! the new process and closes its ends of the loader's pipes, but the loader is already
//! blocked reading the reply to its first request from a pipe whose write end it holds
//! itself (Wine's client keeps both ends of that pipe): no byte and no EOF can ever
//! come, so it sleeps forever (those caught here were still blocked 5 minutes later).
//! Seen in about one `fork-loop` run in 200 here.
//!
//! Real Windows has no such window (the job is assigned inside `NtCreateUserProcess`),
//! and no Windows API reaches the loader: nothing in kennel.exe can. So the harness
//! recognizes exactly this state from `/proc` — proof that the process can never run a
//! line of the tree's program — reports it in the cell's evidence, and the cell's sweep
//! kills it. A loader in any other state is still a survivor.

use std::fs;

/// The file names Wine's loader runs under before the Windows program takes over.
const LOADERS: [&str; 4] = ["wine64", "wine", "wine64-preloader", "wine-preloader"];

/// Whether `cmdline` is a bare Wine loader of the fixture (not yet the Windows program).
pub fn is_fixture_loader(cmdline: &str) -> bool {
    let first = cmdline.split(' ').next().unwrap_or_default();
    let name = first.rsplit('/').next().unwrap_or(first);
    LOADERS.contains(&name) && cmdline.contains("kennel-fixture")
}

/// Why `pid` can never run again, if it is a Wine client deadlocked in a request to
/// wineserver: one thread, started by Wine's `CreateProcess` (`WINESERVERSOCKET` in its
/// environment), blocked reading a pipe whose only other holder is itself, with a write
/// end of that pipe open. `None` for anything else (or a process that is gone).
pub fn deadlock(pid: u32) -> Option<String> {
    if !kennel_tests::environ_any(pid, |kv| kv.starts_with(b"WINESERVERSOCKET=")) {
        return None;
    }
    if fs::read_dir(format!("/proc/{pid}/task")).ok()?.count() != 1 {
        return None;
    }
    if !fs::read_to_string(format!("/proc/{pid}/wchan"))
        .ok()?
        .contains("pipe_read")
    {
        return None;
    }
    // `/proc/<pid>/syscall`: the number, then the arguments; a read's first is the fd.
    let syscall = fs::read_to_string(format!("/proc/{pid}/syscall")).ok()?;
    let fd_hex = syscall.split_whitespace().nth(1)?.trim_start_matches("0x");
    let fd = i32::from_str_radix(fd_hex, 16).ok()?;
    let pipe = fs::read_link(format!("/proc/{pid}/fd/{fd}")).ok()?;
    let pipe = pipe.to_str()?.to_owned();
    if !pipe.starts_with("pipe:[") {
        return None;
    }
    let writes_itself = kennel_tests::fds_of(pid)
        .into_iter()
        .any(|(n, target)| n != fd && target == pipe && opened_for_writing(pid, n));
    if !writes_itself {
        return None;
    }
    let others = kennel_tests::all_pids()
        .into_iter()
        .filter(|&p| p != pid)
        .any(|p| {
            kennel_tests::fds_of(p)
                .iter()
                .any(|(_, target)| *target == pipe)
        });
    if others {
        return None;
    }
    Some(format!(
        "blocked reading fd {fd} ({pipe}), a pipe only it holds, its write end included"
    ))
}

/// Whether fd `n` of `pid` was opened write-only (`flags:` in its fdinfo, octal).
fn opened_for_writing(pid: u32, n: i32) -> bool {
    let Ok(info) = fs::read_to_string(format!("/proc/{pid}/fdinfo/{n}")) else {
        return false;
    };
    info.lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
        .is_some_and(|flags| flags & 0o3 == 0o1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    /// `cat` reading stdin; `wineserver` sets `WINESERVERSOCKET` like Wine's CreateProcess.
    fn cat(stdin: Stdio, stdout: Stdio, wineserver: bool) -> Child {
        let mut cmd = Command::new("cat");
        cmd.stdin(stdin).stdout(stdout).stderr(Stdio::null());
        if wineserver {
            cmd.env("WINESERVERSOCKET", "9");
        }
        cmd.spawn().expect("spawn cat")
    }

    /// Waits until `pid` sleeps in a pipe read (the state every case is judged in).
    fn blocked_in_read(pid: u32) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !fs::read_to_string(format!("/proc/{pid}/wchan"))
            .unwrap_or_default()
            .contains("pipe_read")
        {
            assert!(Instant::now() < deadline, "cat never blocked in read");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn end(mut child: Child) {
        let _ = child.kill();
        let _ = child.wait();
    }

    /// The verdict on `cat` blocked reading a fresh pipe: `holds_write_end` gives it
    /// the pipe's write end as its stdout (else the test keeps it, so another process
    /// can write), `wineserver` sets `WINESERVERSOCKET`.
    fn verdict(holds_write_end: bool, wineserver: bool) -> Option<String> {
        let (r, w) = std::io::pipe().expect("pipe");
        let (stdout, kept) = if holds_write_end {
            (Stdio::from(w), None)
        } else {
            (Stdio::null(), Some(w))
        };
        let child = cat(r.into(), stdout, wineserver);
        blocked_in_read(child.id());
        let why = deadlock(child.id());
        drop(kept);
        end(child);
        why
    }

    #[test]
    fn a_reader_holding_the_only_write_end_of_its_pipe_is_deadlocked() {
        let why = verdict(true, true);
        assert!(why.is_some_and(|w| w.contains("blocked reading fd 0")));
    }

    #[test]
    fn a_reader_whose_pipe_another_process_can_write_is_not() {
        assert_eq!(verdict(false, true), None);
    }

    #[test]
    fn a_process_not_started_by_wine_is_not() {
        assert_eq!(verdict(true, false), None);
    }

    #[test]
    fn loaders_are_told_from_started_programs() {
        let loader = "/usr/lib/wine/wine64 Z:\\t\\kennel-fixture.exe fork-loop --count=200";
        assert!(is_fixture_loader(loader));
        assert!(is_fixture_loader(&loader["/usr/lib/wine/".len()..]));
        assert!(!is_fixture_loader(
            "Z:\\t\\kennel-fixture.exe fork-loop --count=200"
        ));
        assert!(!is_fixture_loader(
            "/usr/lib/wine/wine64 Z:\\t\\kennel.exe run"
        ));
    }
}
