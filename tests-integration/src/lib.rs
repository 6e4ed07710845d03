//! Support code for kennel's integration tests, benchmarks and soak test.
//!
//! * [`pattern`]: the deterministic byte streams `kennel-fixture flood` and
//!   `kennel-fixture binary` write, and checks that report the first offset
//!   where a received stream deviates.
//! * [`seqdata`]: the sequence-numbered, checksummed records `kennel-fixture seq`
//!   writes, and a checker that verifies every prefix of such a stream.
//! * [`pidline`]: parsing the fixture's `pid <pid> <ppid> <role>` handshake
//!   lines.
//! * [`checks`]: test steps the Unix and Windows test binaries share (stdin round
//!   trip, environment and working directory).
//! * [`events`]: a library child's events gathered until a condition, with a
//!   deadline (the Unix and Windows test binaries).
//! * [`heap`]: a counting global allocator (live heap bytes and allocations),
//!   glibc's `mallinfo2`, and the soak's leak verdict on quiescent samples.
//! * [`procfs`] (Linux only): looking at processes through `/proc` —
//!   liveness, zombies, process groups, descendants, open fds — and killing
//!   leftovers during cleanup, the `/proc/*/environ` marker scan and the RSS probe.
//! * [`marks`] (Linux only): trees tagged with an environment marker and found again
//!   in `/proc`, and the notes (or failures) of tests the host cannot run.
//! * [`sidecar`]: the one driver of a `kennel serve` sidecar (typed events with
//!   deadlines, built requests), used by the serve tests, the bench and the soak.
//!
//! The fixture itself is the `kennel-fixture` binary of this package; tests
//! run it via `env!("CARGO_BIN_EXE_kennel-fixture")`. Its module docs
//! (`src/bin/kennel-fixture/main.rs`) are the output contract of every mode.
#![warn(missing_docs)]

pub mod checks;
#[cfg(target_os = "linux")]
pub mod delegated;
pub mod events;
pub mod heap;
#[cfg(target_os = "linux")]
pub mod marks;
pub mod pattern;
pub mod pidline;
#[cfg(target_os = "linux")]
pub mod procfs;
pub mod seqdata;
pub mod sidecar;

pub use pattern::{
    binary_pattern, pattern, text_pattern, verify_binary_prefix, verify_text_prefix,
    PatternChecker, PatternError, PatternGen, PatternKind, BINARY_RECORD_LEN, TEXT_RECORD_LEN,
};
pub use pidline::{has_line, parse_pid_lines, read_pid_lines, PidLine};
#[cfg(target_os = "linux")]
pub use procfs::{
    all_pids, children_of, cmdline_of, descendants_of, describe, environ_any, fd_count_at_rest,
    fd_count_of, fds_of, has_env_entry, is_alive, is_stopped, is_zombie, kill_pids,
    live_members_of_group, live_running, live_with_env_entry, open_fd_count, open_fds,
    own_image_children_of, pgid_of, ppid_of, proc_state, rss_kib, sid_of, wait_all_gone,
    wait_all_reaped, wchar, zombie_children_of,
};
pub use seqdata::{SeqChecker, SeqError};

use std::time::{Duration, Instant};

/// The lines of `reader` (a child's stdout, say), read on a thread of their own so a
/// test can wait for one with `recv_timeout`. The channel closes at EOF or on an error.
pub fn lines_of(reader: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead as _;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// All of `reader` (a pipe, a socket) up to EOF, which must come within `patience`;
/// panics otherwise, or on a read error.
pub async fn read_all(
    mut reader: impl tokio::io::AsyncRead + Unpin,
    patience: Duration,
) -> Vec<u8> {
    use tokio::io::AsyncReadExt as _;
    let mut bytes = Vec::new();
    tokio::time::timeout(patience, reader.read_to_end(&mut bytes))
        .await
        .unwrap_or_else(|_| panic!("no EOF within {patience:?}"))
        .expect("read to EOF");
    bytes
}

/// A shell script without the execute bit (`<temp>/kennel-<tag>-<pid>/script`), a
/// program `exec` refuses with `EACCES`; its directory is removed on drop.
#[cfg(unix)]
pub struct NotExecutable {
    dir: std::path::PathBuf,
}

#[cfg(unix)]
impl NotExecutable {
    /// Writes the script; `tag` keeps the directories of different tests apart.
    pub fn new(tag: &str) -> NotExecutable {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("kennel-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the script's directory");
        let script = NotExecutable { dir };
        std::fs::write(script.path(), "#!/bin/sh\necho hi\n").expect("write the script");
        std::fs::set_permissions(script.path(), std::fs::Permissions::from_mode(0o644))
            .expect("drop the execute bits");
        script
    }

    /// The script.
    pub fn path(&self) -> std::path::PathBuf {
        self.dir.join("script")
    }
}

#[cfg(unix)]
impl Drop for NotExecutable {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Polls `f` every ~5 ms until it returns `true` (→ `true`) or `deadline`
/// (a duration from now) passes (→ `false`). `f` is always called at least
/// once and once more after the deadline.
pub fn wait_until(deadline: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + deadline;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= end {
            return f();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
