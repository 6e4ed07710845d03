//! `kennel-fixture`: the helper program kennel's integration tests spawn.
//!
//! Run as `kennel-fixture <mode> [args] [flags]`. Flags take their value as the
//! next argument or as `--flag=value`; `--` ends flag parsing. A bad command
//! line prints a message to stderr and exits with code 2.
//!
//! # The handshake rule
//!
//! Every process the fixture creates that *stays alive* prints exactly one
//! line
//!
//! ```text
//! pid <pid> <ppid> <role>\n
//! ```
//!
//! to its stdout with a single `write(2)` (well under `PIPE_BUF`, so lines of
//! processes sharing one pipe never interleave), *before* its main behaviour.
//! `<ppid>` is `getppid()` at the time of printing. Parse with
//! [`kennel_tests::parse_pid_lines`]. A test knows how many lines each mode
//! prints and waits for them instead of sleeping. Whenever a leader exits
//! after creating descendants, it first waits (on a private pipe, never a
//! sleep) until every descendant printed — and, where the descendant drops
//! its stdio, until it has dropped it — so once the leader has exited the
//! test has every line and the stdio state is final.
//!
//! Single-process modes use the role `main`. Nothing else is written to
//! stdout/stderr except what a mode lists (or a fatal error such as a failed
//! `fork`, reported on stderr with exit code 1). All output is written with
//! raw, unbuffered writes, so nothing is lost at exit.
//!
//! Unix: `SIGPIPE` is reset to its default action at start (Rust ignores it),
//! so writing to a pipe nobody reads kills the fixture like a C program.
//! Processes that "sleep forever" block in `waitpid(-1)` reaping their own
//! children, then in `pause()`; only a signal ends them.
//!
//! # Modes
//!
//! ## Process trees (Unix unless noted)
//!
//! * `tree --depth D --width W [--ignore-term] [--stop] [--exit-leader]`
//!   (also Windows; see "Windows shapes" for its `--ignore-term`/`--stop`): a
//!   full tree of `(W^D - 1) / (W - 1)` processes (`D = 1` is the root
//!   alone; `D = 3, W = 2` is 7). Roles: `root` (level 0), `child` (level 1), `grandchild` (level 2
//!   and deeper). Each node prints its line, then creates its `W` children
//!   (Unix: `fork`, all in the root's process group; Windows: re-runs itself),
//!   waits until its whole subtree printed, and sleeps forever. Output: exactly
//!   one pid line per node, parents before their children, nothing else.
//!   * `--ignore-term`: every node ignores SIGTERM, SIGINT and SIGHUP (set
//!     before its line; only SIGKILL ends it).
//!   * `--stop`: once its subtree is stopped, every node raises SIGSTOP on
//!     itself (leaves first, via `waitpid(WUNTRACED)` in the parent). When all
//!     descendants are stopped the root prints `stopped\n` and then stops
//!     itself. So after reading `stopped` every non-root node is already `T`;
//!     wait for the root with `proc_state(root) == Some('T')`. On `SIGCONT` a
//!     node goes back to sleeping forever.
//!   * `--exit-leader`: once the whole tree printed (with `--stop`: once all
//!     descendants are stopped and `stopped` is printed) the root exits 0
//!     instead of sleeping; the rest stay alive, still holding stdout/stderr.
//!     Caveat with `--stop`: if the root's parent is in the same session but
//!     another process group (`setpgid` without `setsid`), the root's exit
//!     orphans a process group with stopped members and the kernel sends it
//!     SIGHUP + SIGCONT (POSIX job control), killing the tree.
//!   * Windows: non-root nodes' stderr is a private pipe to their parent
//!     (the readiness channel), and `<ppid>` is the parent node's pid, or 0 for
//!     the root.
//!
//! * `daemon [--close-fds] [--leader-stays] [--subreaper] [--leave-cgroup]`
//!   (Windows: see "Windows shapes"):
//!   classic daemonisation: the
//!   leader forks; that child calls `setsid` and forks the daemon, then exits
//!   (the leader reaps it). The daemon (new session, reparented to pid 1 or a
//!   subreaper, cwd `/`) prints `pid … daemon` and sleeps forever keeping
//!   stdin/stdout/stderr; with `--close-fds` it closes *every* fd right after
//!   printing (`close_range`, or a loop). The leader waits until the daemon
//!   printed (and closed its fds, with `--close-fds`), then exits 0; with
//!   `--leader-stays` it prints `pid … leader` *first* (before forking) and
//!   sleeps forever instead. Output: `[pid … leader]` then `pid … daemon`.
//!   The daemon's `<ppid>` is the exiting intermediate's pid or already its
//!   new parent (1 or a subreaper): racy, use `ppid_of` if it matters.
//!   `--subreaper` (Linux): the session leader makes itself a child subreaper and
//!   forks once more before the daemon's fork, adopts the daemon when that
//!   middle process exits, and then exits itself: the daemon passes through a
//!   subreaper of the tree's own making. `--leave-cgroup` (Linux): the daemon
//!   moves itself to the parent of its cgroup (out of a per-child cgroup, into
//!   the supervisor's) before printing; when refused it says so on stderr
//!   (`kennel-fixture: could not leave the cgroup: …`) and goes on.
//! * `signal-parent` (Linux): sends SIGTERM to its parent (the supervisor, or
//!   its keeper) and SIGHUP to the parent's process group if the parent leads
//!   one, says `leader: signalled pid P; waiting until it takes the signals` on
//!   stderr, waits (polling `/proc/P/status`, up to 5 s) until neither signal is
//!   pending in the parent any more (or the parent is gone), then prints
//!   `pid … leader` and sleeps forever. A SIGTERM sent to the parent after the
//!   pid line is thus never merged into the leader's (standard signals do not
//!   queue: a second one sent while the first is pending is dropped).
//!
//! * `hold-pipe [--setsid]` (Windows: see "Windows shapes"): the leader
//!   forks an intermediate child that forks the *holder* and exits at once (so the holder is reparented, like an
//!   escaped grandchild). The holder (same process group, or its own session
//!   with `--setsid`) prints `pid … holder` and sleeps forever, keeping
//!   stdout and stderr open. The leader waits for that line, reaps the
//!   intermediate and exits 0. The holder's `<ppid>` is the intermediate's pid
//!   or already its new parent: racy, use `ppid_of` if it matters.
//!
//! * `background`: like `cmd &` in an interactive shell: the leader forks a
//!   child that moves to its own process group (`setpgid(0, 0)`), prints
//!   `pid … background`, puts `/dev/null` over fds 0, 1, 2 and sleeps forever.
//!   The leader waits until the child dropped its stdio, then exits 0. So the
//!   pipes reach EOF when the leader exits, with a process left that `killpg`
//!   of the leader's group misses.
//!
//! * `nohup` (Windows: see "Windows shapes"): like `nohup cmd &`: the
//!   leader forks a child (same process group) that ignores SIGHUP, prints `pid … nohup`, puts `/dev/null` over
//!   fds 0, 1, 2 and sleeps forever; the leader waits until then and exits 0.
//!
//! * `fork-loop --count N` (also Windows): a chain of `N` processes, each the child of the
//!   previous: each prints `pid … looper`, forks the next as fast as it can
//!   (unless it is the `N`th), and sleeps forever. Nobody waits for anybody:
//!   the first line means the chain is growing; `N` lines mean it is complete.
//!
//! ## Resources (limits tests, the matrix's "fork bomb" and "memory hog")
//!
//! * `fork-bomb --count N [--exit]` (Unix): prints `pid … leader`, then tries `N`
//!   forks; each child prints `pid … bomb` and sleeps forever; a fork refused with
//!   `EAGAIN` (a pids limit) is counted. Once every started child printed, the leader
//!   prints `forks <started> <refused>`, then exits 0 with `--exit`, else sleeps forever.
//! * `alloc --mib N [--hold]` (also Windows): prints `pid … main`, allocates and
//!   touches `N` MiB, 1 MiB at a time, prints `allocated N` and exits 0 (with `--hold`:
//!   sleeps holding it until killed).
//! * `spin --cpu-ms N` (Unix): prints `pid … main`, spins until the process used `N`
//!   ms of CPU time, prints `cpu_ms <its CPU time in ms>` and exits 0.
//!
//! ## Output
//!
//! * `flood --bytes N [--chunk K] [--stderr] [--pid-stderr]` (also Windows):
//!   writes exactly `N` bytes of the text pattern
//!   ([`kennel_tests::text_pattern`]) to stdout in writes of `K` bytes
//!   (default 65536; the last may be shorter), then exits 0. No pid line on
//!   stdout. `--stderr`: stderr gets the same `N` bytes too, each stdout
//!   chunk followed by the same chunk on stderr. `--pid-stderr`: first prints
//!   `pid … main` to **stderr** (before any pattern bytes on stderr).
//! * `binary --bytes N [--chunk K] [--stderr] [--pid-stderr]` (also
//!   Windows): the same with the binary pattern
//!   ([`kennel_tests::binary_pattern`]: NUL, 0xFF, invalid UTF-8, and a `€`
//!   split across every 32-byte record boundary, hence across writes when `K`
//!   is a multiple of 32).
//! * `print TEXT [--stderr TEXT2] [--no-newline]` (also Windows): writes
//!   `TEXT\n` to stdout, then `TEXT2\n` to stderr if given; `--no-newline`
//!   drops both newlines. Exits 0. Use `print -- TEXT` if TEXT starts with `--`.
//! * `partial-line [--delay-ms M]` (also Windows): writes `abc` and then `def`
//!   in two writes (sleeping `M` ms between, default 0), no newline; exits 0.
//! * `utf8-split [--delay-ms M]` (also Windows): writes `héllo 😀 wörld\n`
//!   (UTF-8) in two writes split inside the 4-byte `😀`: first
//!   `68 C3 A9 6C 6C 6F 20 F0 9F`, then `98 80 20 77 C3 B6 72 6C 64 0A`
//!   (sleeping `M` ms between, default 0); exits 0.
//! * `env VAR…` (also Windows): for each name a line `VAR=value` or
//!   `VAR unset`, then `cwd=<current dir>`; all in one write; exits 0.
//!   Values are written as raw bytes on Unix (lossy UTF-8 on Windows).
//!
//! ## Stdin
//!
//! * `echo-stdin` (also Windows): copies stdin to stdout until EOF, then
//!   exits 0. No pid line.
//! * `read-stdin-slowly [--delay-ms M] [--chunk K]` (also Windows): prints
//!   `pid … main`, then repeatedly sleeps `M` ms (default 10) and does one read
//!   of up to `K` bytes (default 1024) until EOF; then prints `total <n>\n`
//!   (bytes read) and exits 0.
//! * `never-read-stdin` (also Windows): prints `pid … main`, sleeps forever
//!   without touching stdin.
//!
//! ## Windows shapes (the fixture matrix's rows; `win` module)
//!
//! On Windows the modes below re-run this program (hidden `--x-…` flags) instead of
//! forking; a child reports readiness with `ready\n` on its stderr, a private pipe to
//! its parent, so `<ppid>` is the parent's pid as passed down. `CreateProcess` hands a
//! child every inheritable handle of its parent, so a descendant may hold copies of
//! the tree's stdout/stderr beyond its own standard handles.
//!
//! * `daemon [--leader-stays]`: the leader (`pid … leader` first with
//!   `--leader-stays`) starts the daemon with `DETACHED_PROCESS |
//!   CREATE_NEW_PROCESS_GROUP | CREATE_BREAKAWAY_FROM_JOB`; when that fails it writes
//!   `breakaway refused <os error>\n` to stderr and starts it without breakaway
//!   (`breakaway escaped <pid>\n` if it succeeded). The daemon prints `pid … daemon`
//!   and sleeps forever; the leader waits for that line, then sleeps forever (with
//!   `--leader-stays`) or exits 0.
//! * `nohup`: the leader starts a child with `DETACHED_PROCESS |
//!   CREATE_NEW_PROCESS_GROUP` (no console: no console control event reaches it) that
//!   prints `pid … nohup`, points its stdout and stderr at `NUL` and sleeps forever; the
//!   leader waits until then and exits 0.
//! * `tree … --ignore-term`: every node installs a console control handler that returns
//!   TRUE (swallows Ctrl-C, Ctrl-Break, close) before its line.
//! * `tree … --stop`: every node suspends its children (`NtSuspendProcess`) once their
//!   subtrees are suspended; the root then prints `stopped\n` and suspends itself
//!   (with `--exit-leader` it exits 0 instead).
//! * `hold-pipe`: leader → intermediate → holder. The holder inherits stdout (its
//!   stderr is the readiness pipe), prints `pid … holder` and sleeps forever; the
//!   intermediate exits once the holder printed, the leader (exit 0) once the
//!   intermediate exited.
//! * `fork-loop --count N`: as on Unix, each member starting the next with
//!   `CreateProcess` (stdio inherited).
//! * `crash access-violation|abort` (Windows only): prints `pid … main`, then dies of
//!   an unhandled exception with no error box and no just-in-time debugger: a write to
//!   an unmapped address (exit code `STATUS_ACCESS_VIOLATION`, 0xC0000005), or
//!   `std::process::abort()` (`__fastfail`: `STATUS_STACK_BUFFER_OVERRUN`, 0xC0000409).
//!
//! ## Containment (Windows)
//!
//! * `breakaway` (Windows): prints `pid … main`, then tries to start
//!   `kennel-fixture sleep 600000` (stdio null) with
//!   `CREATE_BREAKAWAY_FROM_JOB`; prints `breakaway refused <os error code>`
//!   when `CreateProcess` fails (5, `ERROR_ACCESS_DENIED`, in a job without
//!   `JOB_OBJECT_LIMIT_BREAKAWAY_OK`) or `breakaway escaped <pid>` when it
//!   succeeds; then sleeps forever.
//!
//! ## Exit and signals
//!
//! * `exit N` (also Windows): exits with code `N` at once; no output.
//! * `sleep MS` (also Windows): prints `pid … main`, sleeps `MS` ms, exits 0.
//! * `ignore-signals` (Unix): ignores SIGTERM, SIGINT and SIGHUP, prints
//!   `pid … main`, sleeps forever.
//! * `kill-self SIG` (Unix): prints `pid … main`, resets `SIG` to its default
//!   action and sends it to itself. `SIG` is a number or a name with or
//!   without `SIG` (`TERM`, `SIGKILL`, `9`, …). If the process survives (a
//!   stop signal followed by SIGCONT, or a signal whose default is to ignore)
//!   it sleeps forever.
//! * `trap-term [--exit-code N]` (Unix): installs a SIGTERM handler that
//!   writes `got SIGTERM\n` to stdout and exits with `N` (default 0); prints
//!   `pid … main`; sleeps forever.
//!
//! ## Attacks on the supervisor (Linux)
//!
//! * `attack-ancestors [--include-init]` (Linux): for each ancestor, from the
//!   parent up to (not including) pid 1 — including it with `--include-init`, for
//!   a fixture in a PID namespace whose init is kennel's — or the first process
//!   of another user, tries
//!   `PTRACE_ATTACH` (detaching at once if it worked) and reading
//!   `/proc/<pid>/environ`, and prints `ancestor <pid> <comm> ptrace=<r>
//!   environ=<r>` per ancestor, `<r>` being `ok` or the errno (`EPERM`,
//!   `EACCES`, …); then `done` and exits 0.
//! * Any mode, with `KENNEL_FIXTURE_CGROUP=<dir>` in the environment (Linux):
//!   before anything else the fixture creates `<dir>` if it does not exist
//!   and writes its pid to `<dir>/cgroup.procs` — it leaves its containment's
//!   cgroup. Failing to is fatal (exit 1). Forked descendants inherit the new
//!   cgroup without re-running this.
//!
//! ## Soak data
//!
//! * `seq [--records N] [--procs P] [--chunk K] [--delay-us U] [--seed S]
//!   [--stderr] [--ignore-term] [--setsid]` (Unix): sequence-numbered,
//!   checksummed records ([`kennel_tests::seqdata`]: `s <writer> <seq>
//!   <payload> <crc32>\n`, payload a function of seed, writer and seq; verify
//!   with [`kennel_tests::SeqChecker`]). The leader is writer 0 and prints
//!   `pid … main`; it forks `P - 1` more writers (default `P = 1`; writers
//!   `1..P`, same process group, or each in its own session with `--setsid`,
//!   like a daemon) that print `pid … writer` and start writing at once; the
//!   leader starts once all printed. Each writer writes its records `0..N`
//!   (`N = 0`, the default: forever), sleeping `U` µs between writes
//!   (default 0). Each record is one `write(2)` (so writers
//!   sharing the pipe never interleave inside a record) unless `--chunk K`
//!   (only with `P = 1`): then the stream is cut into writes of exactly `K`
//!   bytes regardless of record boundaries (the last may be shorter).
//!   `--stderr`: every write goes to stderr too (same bytes). `--ignore-term`:
//!   all writers ignore SIGTERM, SIGINT and SIGHUP. With a finite `N` the
//!   leader, after its own records, waits for every other writer to exit and
//!   exits 0; so after a natural exit each writer wrote exactly `N` records.
//!
//! ## Faults
//!
//! * `close-stdout` (Unix): prints `pid … main`, closes its stdout (fd 1),
//!   writes `stdout closed\n` to stderr, sleeps forever: the pipe reaches EOF
//!   while the process runs on.
//! * `drop-stdin [--after-bytes N]` (Unix): prints `pid … main`, reads exactly
//!   `N` bytes of stdin (default 0; fewer at EOF), closes stdin (fd 0), writes
//!   `stdin closed <n>\n` to stderr (`n`: bytes read), sleeps forever: a writer
//!   blocked on the full pipe then gets EPIPE.
//!
//! ## Output, counted (the fixture matrix)
//!
//! * `counted-flood --bytes N --count-file PATH [--chunk K]` (also Windows):
//!   like `flood` (text pattern, default chunk 4096 = `PIPE_BUF`, so a pipe
//!   write is all or nothing), and after every completed write stores the
//!   total written so far in `PATH` (decimal, space-padded to 20 bytes,
//!   rewritten in place). A run killed mid-stream leaves in `PATH` a lower
//!   bound of what reached the pipe that is at most one chunk short.

mod args;
mod modes;
mod out;
#[cfg(unix)]
mod unix;
#[cfg(windows)]
mod win;

use std::io;
use std::process::ExitCode;

fn main() -> ExitCode {
    #[cfg(unix)]
    unix::reset_sigpipe();
    let args: Vec<String> = match std::env::args_os()
        .skip(1)
        .map(|a| a.into_string())
        .collect::<Result<_, _>>()
    {
        Ok(a) => a,
        Err(a) => return usage(&format!("argument is not UTF-8: {a:?}")),
    };
    let Some((mode, rest)) = args.split_first() else {
        return usage("missing mode");
    };
    #[cfg(target_os = "linux")]
    if let Some(dir) = std::env::var_os("KENNEL_FIXTURE_CGROUP") {
        if let Err(e) = unix::move_to_cgroup(std::path::Path::new(&dir)) {
            let _ = out::write_all(
                out::Stream::Err,
                format!("kennel-fixture: moving to cgroup {dir:?}: {e}\n").as_bytes(),
            );
            return ExitCode::from(1);
        }
    }
    match run(mode, rest) {
        Ok(code) => code,
        Err(Fail::Usage(msg)) => usage(&msg),
        Err(Fail::Io(what, e)) => {
            let _ = out::write_all(
                out::Stream::Err,
                format!("kennel-fixture: {what}: {e}\n").as_bytes(),
            );
            ExitCode::from(1)
        }
    }
}

fn usage(msg: &str) -> ExitCode {
    let text = format!(
        "kennel-fixture: {msg}\nusage: kennel-fixture <mode> [args] [flags]; see the module docs of \
         tests-integration/src/bin/kennel-fixture/main.rs\n"
    );
    let _ = out::write_all(out::Stream::Err, text.as_bytes());
    ExitCode::from(2)
}

enum Fail {
    Usage(String),
    Io(&'static str, io::Error),
}

type Res<T> = Result<T, Fail>;

fn io_err(what: &'static str) -> impl FnOnce(io::Error) -> Fail {
    move |e| Fail::Io(what, e)
}

/// Runs the mode called `mode` (the table in [`modes`]).
fn run(mode: &str, rest: &[String]) -> Res<ExitCode> {
    if let Some(m) = modes::find(mode) {
        return (m.run)(rest);
    }
    match modes::ELSEWHERE.iter().find(|(name, _)| *name == mode) {
        Some((_, platform)) => Err(Fail::Usage(format!("mode {mode} is {platform}-only"))),
        None => Err(Fail::Usage(format!("unknown mode {mode:?}"))),
    }
}
