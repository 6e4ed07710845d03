//! `kennel run` in a terminal, through a pseudo-terminal: kennel is started as a shell
//! starts a foreground job (session leader with the pty as controlling terminal, its
//! group in the foreground), and the test types into the master side.

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::os::fd::{FromRawFd as _, OwnedFd};
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;

use crate::prelude::*;

/// kennel running on a pty, and what it printed there so far.
struct OnPty {
    kennel: Child,
    master: File,
    output: mpsc::Receiver<Vec<u8>>,
    seen: Vec<u8>,
}

impl OnPty {
    fn start(args: &[&str]) -> OnPty {
        let (mut master_fd, mut slave_fd) = (0, 0);
        // SAFETY: openpty writes two fds into the given ints; no name, termios or size.
        let rc = unsafe {
            libc::openpty(
                &mut master_fd,
                &mut slave_fd,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both fds were just opened by openpty and are owned by nobody else.
        let (master, slave) =
            unsafe { (File::from_raw_fd(master_fd), OwnedFd::from_raw_fd(slave_fd)) };
        let mut cmd = Command::new(KENNEL);
        cmd.args(args)
            .env("LC_ALL", "C")
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        // SAFETY: setsid and ioctl are async-signal-safe; as a shell's job: a session
        // whose controlling terminal is the pty (stdin), kennel's group in the foreground.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let kennel = cmd.spawn().unwrap();
        drop(cmd); // the test's copies of the slave: EOF (EIO) on the master at the end
        let mut reader = master.try_clone().unwrap();
        let (tx, output) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        OnPty {
            kennel,
            master,
            output,
            seen: Vec::new(),
        }
    }

    fn type_in(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).unwrap();
    }

    /// Wait until the terminal showed `text`.
    fn expect(&mut self, text: &str) {
        let deadline = Instant::now() + PATIENCE;
        while !String::from_utf8_lossy(&self.seen).contains(text) {
            match self
                .output
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(chunk) => self.seen.extend_from_slice(&chunk),
                Err(_) => panic!(
                    "{text:?} not shown within {PATIENCE:?}; the terminal showed {:?}",
                    String::from_utf8_lossy(&self.seen)
                ),
            }
        }
    }

    fn pids(&mut self, n: usize) -> Vec<u32> {
        let deadline = Instant::now() + PATIENCE;
        while parse_pid_lines(&self.seen.replace_crlf()).len() < n {
            let chunk = self
                .output
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("pid lines on the terminal");
            self.seen.extend_from_slice(&chunk);
        }
        parse_pid_lines(&self.seen.replace_crlf())
            .iter()
            .map(|l| l.pid)
            .collect()
    }

    /// kennel's exit code, within the deadline.
    fn exit_code(&mut self) -> Option<i32> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.kennel.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "kennel did not exit; terminal: {:?}",
                String::from_utf8_lossy(&self.seen)
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// Wait until the terminal's foreground group is `pgid` (kennel hands it over right
    /// after the spawn: a key typed before that goes to kennel, as to a shell before
    /// it hands the terminal to a job).
    fn wait_foreground(&self, pgid: u32) {
        use std::os::fd::AsRawFd as _;
        // SAFETY: tcgetpgrp on our master fd (Linux answers for the slave side).
        let foreground = || unsafe { libc::tcgetpgrp(self.master.as_raw_fd()) };
        assert!(
            kennel_tests::wait_until(PATIENCE, || foreground() == pgid as i32),
            "the terminal's foreground group is {}, not the command's {pgid}",
            foreground()
        );
    }

    fn lflag(&self) -> libc::tcflag_t {
        use std::os::fd::AsRawFd as _;
        // SAFETY: a zeroed termios is a valid out-parameter for tcgetattr on our fd.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            assert_eq!(libc::tcgetattr(self.master.as_raw_fd(), &mut t), 0);
            t.c_lflag
        }
    }
}

impl Drop for OnPty {
    fn drop(&mut self) {
        let _ = self.kennel.kill();
        let _ = self.kennel.wait();
    }
}

trait Crlf {
    fn replace_crlf(&self) -> Vec<u8>;
}

impl Crlf for Vec<u8> {
    fn replace_crlf(&self) -> Vec<u8> {
        String::from_utf8_lossy(self)
            .replace("\r\n", "\n")
            .into_bytes()
    }
}

/// `kennel` with `args`, then `sh -c 'read x; echo got-$x'`, on a terminal: the line
/// typed (`word`) reaches the command, which ends with 0.
fn reads_a_line_from_the_terminal(args: &[&str], word: &str) {
    let mut pty = OnPty::start(&[args, &["sh", "-c", "read x; echo got-$x"]].concat());
    pty.type_in(format!("{word}\n").as_bytes());
    pty.expect(&format!("got-{word}"));
    assert_eq!(pty.exit_code(), Some(0));
}

#[test]
fn the_command_reads_from_the_terminal() {
    // Before: the command was in the background, stopped by SIGTTIN until the timeout.
    reads_a_line_from_the_terminal(&["run", "--timeout", "60", "--"], "hello");
}

#[test]
fn timeout_mode_reads_from_the_terminal_too() {
    reads_a_line_from_the_terminal(&["timeout", "60"], "there");
}

#[test]
fn the_command_sees_the_terminal_on_stdout_and_stderr() {
    let mut pty = OnPty::start(&[
        "run",
        "--",
        "sh",
        "-c",
        "test -t 0 && test -t 1 && test -t 2 && echo all-three-are-the-terminal",
    ]);
    pty.expect("all-three-are-the-terminal");
    assert_eq!(pty.exit_code(), Some(0));
}

#[test]
fn ctrl_c_and_ctrl_backslash_reach_the_tree_as_sigint_and_sigquit() {
    for (key, code, what) in [(b"\x03", 130, "SIGINT"), (b"\x1c", 131, "SIGQUIT")] {
        let mut pty = OnPty::start(&["run", "--", FIXTURE, "sleep", "60000"]);
        let pids = pty.pids(1);
        let _cleanup = Cleanup(pids.clone());
        pty.wait_foreground(pids[0]);
        pty.type_in(key);
        assert_eq!(
            pty.exit_code(),
            Some(code),
            "the command died of {what}, not SIGTERM"
        );
        assert_all_gone(&pids);
    }
}

#[test]
fn the_terminal_modes_are_restored_when_kennel_ends() {
    // The command waits for a line before it turns echo off, so the first check cannot
    // race it (under load, `stty -echo` could run before the test looked).
    let mut pty = OnPty::start(&[
        "run",
        "--",
        "sh",
        "-c",
        "read go && stty -echo && echo echo-is-off",
    ]);
    assert_ne!(pty.lflag() & libc::ECHO, 0, "echo on to begin with");
    pty.type_in(b"go\n");
    pty.expect("echo-is-off");
    assert_eq!(pty.exit_code(), Some(0));
    assert_ne!(pty.lflag() & libc::ECHO, 0, "kennel put the modes back");
}

#[test]
fn ctrl_z_stops_the_whole_job_and_sigcont_resumes_it() {
    let mut pty = OnPty::start(&["run", "--", FIXTURE, "sleep", "60000"]);
    let pids = pty.pids(1);
    let _cleanup = Cleanup(pids.clone());
    let kennel = pty.kennel.id();
    pty.wait_foreground(pids[0]);
    pty.type_in(b"\x1a");
    assert!(
        kennel_tests::wait_until(PATIENCE, || kennel_tests::is_stopped(pids[0])
            && kennel_tests::is_stopped(kennel)),
        "the command and kennel stop (a stopped job for the shell)"
    );
    // The shell's `fg`: continue kennel's group; kennel continues the tree.
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(kennel as i32, libc::SIGCONT) }, 0);
    assert!(
        kennel_tests::wait_until(PATIENCE, || !kennel_tests::is_stopped(pids[0])),
        "the tree runs again"
    );
    pty.wait_foreground(pids[0]);
    pty.type_in(b"\x03");
    assert_eq!(
        pty.exit_code(),
        Some(130),
        "the terminal is the command's again"
    );
    assert_all_gone(&pids);
}

#[test]
fn under_a_keeper_the_command_gets_the_terminal_too() {
    // Without a cgroup the program is started by a keeper process, which claims the
    // terminal for it (sys/unix/terminal.rs).
    reads_a_line_from_the_terminal(&["run", "--no-cgroup", "--"], "kept");
    let mut pty = OnPty::start(&["run", "--no-cgroup", "--", FIXTURE, "sleep", "60000"]);
    let pids = pty.pids(1);
    let _cleanup = Cleanup(pids.clone());
    pty.wait_foreground(pids[0]);
    pty.type_in(b"\x03");
    assert_eq!(pty.exit_code(), Some(130));
    assert_all_gone(&pids);
}

// Shapes from users' bug reports against other tools (docs/USER-REPORTS.md).

#[test]
fn each_ctrl_c_reaches_the_command_once_so_a_second_one_can_quit_it() {
    // oven-sh/bun#39729: a wrapper that forwards SIGINT on top of the terminal's own
    // delivery makes "press Ctrl-C again to quit" (vite, next, npm) see two per key.
    // The command counts its SIGINTs, says so, and quits on the second.
    let script = r#"n=0
trap 'n=$((n+1)); echo "int-$n"; [ "$n" -ge 2 ] && exit 7' INT
echo armed
while :; do read x || true; echo "line-$x"; done"#;
    let mut pty = OnPty::start(&["run", "--", "sh", "-c", script]);
    pty.expect("armed");
    pty.type_in(b"\x03");
    pty.expect("int-1");
    // A round trip through the command: a second SIGINT sent along with the first
    // would have run the trap again before the line is echoed.
    pty.type_in(b"probe\n");
    pty.expect("line-probe");
    let shown = String::from_utf8_lossy(&pty.seen).into_owned();
    assert!(
        !shown.contains("int-2"),
        "one Ctrl-C, two SIGINTs: {shown:?}"
    );
    pty.type_in(b"\x03");
    assert_eq!(
        pty.exit_code(),
        Some(7),
        "the second Ctrl-C quit the command"
    );
}

#[test]
fn ctrl_c_ends_a_descendant_in_a_session_of_its_own_before_kennel_returns() {
    // vercel-labs/portless#385, openai/codex#26734: the wrapper forwards Ctrl-C and
    // returns at once, and a descendant in another process group or session (which
    // the terminal's SIGINT never reaches) keeps running. kennel returns only once the
    // whole tree is gone.
    let mut pty = OnPty::start(&["run", "--", FIXTURE, "daemon", "--leader-stays"]);
    let pids = pty.pids(2);
    let _cleanup = Cleanup(pids.clone());
    pty.wait_foreground(pids[0]);
    pty.type_in(b"\x03");
    assert_eq!(pty.exit_code(), Some(130), "the leader died of SIGINT");
    for &pid in &pids {
        assert!(
            !kennel_tests::is_alive(pid),
            "{pid} outlived kennel ({})",
            kennel_tests::describe(pid)
        );
    }
}
