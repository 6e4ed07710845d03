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
//!   one, then prints `pid … leader` and sleeps forever.
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

use std::io;
use std::process::ExitCode;
use std::time::Duration;

use kennel_tests::{PatternGen, PatternKind};

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
         tests-integration/src/bin/kennel-fixture.rs\n"
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

fn run(mode: &str, rest: &[String]) -> Res<ExitCode> {
    match mode {
        "tree" => {
            let a = Args::parse(
                rest,
                &["--depth", "--width", "--x-level", "--x-ppid"],
                &["--ignore-term", "--stop", "--exit-leader"],
            )?;
            a.no_positional()?;
            let opts = TreeOpts {
                depth: a.num("--depth", None)?,
                width: a.num("--width", None)?,
                ignore_term: a.has("--ignore-term"),
                stop: a.has("--stop"),
                exit_leader: a.has("--exit-leader"),
            };
            if opts.depth == 0 {
                return Err(Fail::Usage("--depth must be at least 1".into()));
            }
            let total = tree_size(opts.depth, opts.width);
            if total > 4096 {
                return Err(Fail::Usage(format!("tree of {total} processes is too big")));
            }
            let level: u32 = a.num("--x-level", Some(0))?;
            let ppid: u32 = a.num("--x-ppid", Some(0))?;
            tree(opts, level, ppid)
        }
        "flood" | "binary" => {
            let a = Args::parse(rest, &["--bytes", "--chunk"], &["--stderr", "--pid-stderr"])?;
            a.no_positional()?;
            let kind = if mode == "flood" {
                PatternKind::Text
            } else {
                PatternKind::Binary
            };
            let chunk: usize = a.num("--chunk", Some(65536))?;
            if chunk == 0 {
                return Err(Fail::Usage("--chunk must be at least 1".into()));
            }
            flood(
                kind,
                a.num("--bytes", None)?,
                chunk,
                a.has("--stderr"),
                a.has("--pid-stderr"),
            )
        }
        "print" => {
            let a = Args::parse(rest, &["--stderr"], &["--no-newline"])?;
            let [text] = a.positional::<1>()?;
            let nl: &[u8] = if a.has("--no-newline") { b"" } else { b"\n" };
            write_out(out::Stream::Out, &[text.as_bytes(), nl].concat())?;
            if let Some(t2) = a.get("--stderr") {
                write_out(out::Stream::Err, &[t2.as_bytes(), nl].concat())?;
            }
            Ok(ExitCode::SUCCESS)
        }
        "partial-line" => {
            let a = Args::parse(rest, &["--delay-ms"], &[])?;
            a.no_positional()?;
            two_writes(b"abc", b"def", a.num("--delay-ms", Some(0))?)
        }
        "utf8-split" => {
            let a = Args::parse(rest, &["--delay-ms"], &[])?;
            a.no_positional()?;
            let text = "héllo 😀 wörld\n".as_bytes();
            let split = "héllo ".len() + 2;
            two_writes(
                &text[..split],
                &text[split..],
                a.num("--delay-ms", Some(0))?,
            )
        }
        "env" => {
            let a = Args::parse(rest, &[], &[])?;
            let mut buf = Vec::new();
            for name in &a.pos {
                buf.extend_from_slice(name.as_bytes());
                match std::env::var_os(name) {
                    Some(v) => {
                        buf.push(b'=');
                        buf.extend_from_slice(&os_bytes(&v));
                    }
                    None => buf.extend_from_slice(b" unset"),
                }
                buf.push(b'\n');
            }
            let cwd = std::env::current_dir().map_err(io_err("current_dir"))?;
            buf.extend_from_slice(b"cwd=");
            buf.extend_from_slice(&os_bytes(cwd.as_os_str()));
            buf.push(b'\n');
            write_out(out::Stream::Out, &buf)?;
            Ok(ExitCode::SUCCESS)
        }
        "echo-stdin" => {
            Args::parse(rest, &[], &[])?.no_positional()?;
            let mut buf = vec![0; 64 * 1024];
            loop {
                let n = out::read_stdin(&mut buf).map_err(io_err("read stdin"))?;
                if n == 0 {
                    return Ok(ExitCode::SUCCESS);
                }
                write_out(out::Stream::Out, &buf[..n])?;
            }
        }
        "read-stdin-slowly" => {
            let a = Args::parse(rest, &["--delay-ms", "--chunk"], &[])?;
            a.no_positional()?;
            let delay = Duration::from_millis(a.num("--delay-ms", Some(10))?);
            let chunk: usize = a.num("--chunk", Some(1024))?;
            if chunk == 0 {
                return Err(Fail::Usage("--chunk must be at least 1".into()));
            }
            pid_line("main")?;
            let mut buf = vec![0; chunk];
            let mut total: u64 = 0;
            loop {
                std::thread::sleep(delay);
                let n = out::read_stdin(&mut buf).map_err(io_err("read stdin"))?;
                if n == 0 {
                    break;
                }
                total += n as u64;
            }
            write_out(out::Stream::Out, format!("total {total}\n").as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        "never-read-stdin" => {
            Args::parse(rest, &[], &[])?.no_positional()?;
            pid_line("main")?;
            sleep_forever()
        }
        "exit" => {
            let a = Args::parse(rest, &[], &[])?;
            let [code] = a.positional::<1>()?;
            let code: i32 = parse_num("exit code", code)?;
            std::process::exit(code)
        }
        "sleep" => {
            let a = Args::parse(rest, &[], &[])?;
            let [ms] = a.positional::<1>()?;
            let ms: u64 = parse_num("milliseconds", ms)?;
            pid_line("main")?;
            std::thread::sleep(Duration::from_millis(ms));
            Ok(ExitCode::SUCCESS)
        }
        #[cfg(unix)]
        "daemon" => {
            let flags = [
                "--close-fds",
                "--leader-stays",
                "--subreaper",
                "--leave-cgroup",
            ];
            let a = Args::parse(rest, &[], &flags)?;
            a.no_positional()?;
            unix::daemon(unix::DaemonOpts {
                close_fds: a.has("--close-fds"),
                leader_stays: a.has("--leader-stays"),
                subreaper: a.has("--subreaper"),
                leave_cgroup: a.has("--leave-cgroup"),
            })
        }
        #[cfg(target_os = "linux")]
        "signal-parent" => {
            Args::parse(rest, &[], &[])?.no_positional()?;
            unix::signal_parent()
        }
        #[cfg(unix)]
        "hold-pipe" => {
            let a = Args::parse(rest, &[], &["--setsid"])?;
            a.no_positional()?;
            unix::hold_pipe(a.has("--setsid"))
        }
        #[cfg(unix)]
        "background" => {
            Args::parse(rest, &[], &[])?.no_positional()?;
            unix::background()
        }
        #[cfg(unix)]
        "nohup" => {
            Args::parse(rest, &[], &[])?.no_positional()?;
            unix::nohup()
        }
        #[cfg(unix)]
        "fork-loop" => {
            let a = Args::parse(rest, &["--count"], &[])?;
            a.no_positional()?;
            let n: u32 = a.num("--count", None)?;
            if n == 0 {
                return Err(Fail::Usage("--count must be at least 1".into()));
            }
            unix::fork_loop(n)
        }
        #[cfg(unix)]
        "ignore-signals" => {
            Args::parse(rest, &[], &[])?.no_positional()?;
            unix::ignore_term_signals();
            pid_line("main")?;
            sleep_forever()
        }
        #[cfg(unix)]
        "kill-self" => {
            let a = Args::parse(rest, &[], &[])?;
            let [sig] = a.positional::<1>()?;
            let sig = unix::parse_signal(sig)
                .ok_or_else(|| Fail::Usage(format!("unknown signal {sig:?}")))?;
            pid_line("main")?;
            unix::kill_self(sig);
            sleep_forever()
        }
        #[cfg(unix)]
        "trap-term" => {
            let a = Args::parse(rest, &["--exit-code"], &[])?;
            a.no_positional()?;
            unix::trap_term(a.num("--exit-code", Some(0))?);
            pid_line("main")?;
            sleep_forever()
        }
        #[cfg(unix)]
        "close-stdout" => {
            Args::parse(rest, &[], &[])?.no_positional()?;
            pid_line("main")?;
            unix::close_fd(1);
            write_out(out::Stream::Err, b"stdout closed\n")?;
            sleep_forever()
        }
        #[cfg(unix)]
        "drop-stdin" => {
            let a = Args::parse(rest, &["--after-bytes"], &[])?;
            a.no_positional()?;
            let want: usize = a.num("--after-bytes", Some(0))?;
            pid_line("main")?;
            let mut got = 0;
            let mut buf = [0u8; 4096];
            while got < want {
                let k = (want - got).min(buf.len());
                match out::read_stdin(&mut buf[..k]) {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(Fail::Io("read stdin", e)),
                }
            }
            unix::close_fd(0);
            write_out(out::Stream::Err, format!("stdin closed {got}\n").as_bytes())?;
            sleep_forever()
        }
        #[cfg(unix)]
        "seq" => {
            let a = Args::parse(
                rest,
                &["--records", "--procs", "--chunk", "--delay-us", "--seed"],
                &["--stderr", "--ignore-term", "--setsid"],
            )?;
            a.no_positional()?;
            let opts = SeqOpts {
                records: a.num("--records", Some(0))?,
                procs: a.num("--procs", Some(1))?,
                chunk: a.num("--chunk", Some(0))?,
                delay: Duration::from_micros(a.num("--delay-us", Some(0))?),
                seed: a.num("--seed", Some(0))?,
                stderr: a.has("--stderr"),
                ignore_term: a.has("--ignore-term"),
                setsid: a.has("--setsid"),
            };
            if opts.procs == 0 || opts.procs > 64 {
                return Err(Fail::Usage("--procs must be 1..=64".into()));
            }
            if opts.chunk > 0 && opts.procs > 1 {
                return Err(Fail::Usage("--chunk needs --procs 1".into()));
            }
            unix::seq(opts)
        }
        #[cfg(windows)]
        "daemon" => {
            let a = Args::parse(rest, &["--x-ppid"], &["--leader-stays", "--x-daemon"])?;
            a.no_positional()?;
            win::daemon(
                a.has("--leader-stays"),
                a.has("--x-daemon"),
                a.num("--x-ppid", Some(0))?,
            )
        }
        #[cfg(windows)]
        "nohup" => {
            let a = Args::parse(rest, &["--x-ppid"], &["--x-child"])?;
            a.no_positional()?;
            win::nohup(a.has("--x-child"), a.num("--x-ppid", Some(0))?)
        }
        #[cfg(windows)]
        "hold-pipe" => {
            let a = Args::parse(rest, &["--x-level", "--x-ppid"], &[])?;
            a.no_positional()?;
            win::hold_pipe(a.num("--x-level", Some(0))?, a.num("--x-ppid", Some(0))?)
        }
        #[cfg(windows)]
        "fork-loop" => {
            let a = Args::parse(rest, &["--count", "--x-index", "--x-ppid"], &[])?;
            a.no_positional()?;
            let n: u32 = a.num("--count", None)?;
            if n == 0 {
                return Err(Fail::Usage("--count must be at least 1".into()));
            }
            win::fork_loop(n, a.num("--x-index", Some(1))?, a.num("--x-ppid", Some(0))?)
        }
        #[cfg(windows)]
        "crash" => {
            let a = Args::parse(rest, &[], &[])?;
            let [how] = a.positional::<1>()?;
            let how = match how {
                "access-violation" => win::Crash::AccessViolation,
                "abort" => win::Crash::Abort,
                other => return Err(Fail::Usage(format!("unknown crash {other:?}"))),
            };
            pid_line("main")?;
            win::crash(how)
        }
        #[cfg(not(windows))]
        "crash" => Err(Fail::Usage("mode crash is Windows-only".into())),
        #[cfg(windows)]
        "breakaway" => {
            Args::parse(rest, &[], &[])?.no_positional()?;
            breakaway()
        }
        #[cfg(not(windows))]
        "breakaway" => Err(Fail::Usage("mode breakaway is Windows-only".into())),
        "counted-flood" => {
            let a = Args::parse(rest, &["--bytes", "--chunk", "--count-file"], &[])?;
            a.no_positional()?;
            let chunk: usize = a.num("--chunk", Some(4096))?;
            if chunk == 0 {
                return Err(Fail::Usage("--chunk must be at least 1".into()));
            }
            let Some(path) = a.get("--count-file") else {
                return Err(Fail::Usage("--count-file is required".into()));
            };
            counted_flood(a.num("--bytes", None)?, chunk, path)
        }
        #[cfg(target_os = "linux")]
        "attack-ancestors" => {
            let a = Args::parse(rest, &[], &["--include-init"])?;
            a.no_positional()?;
            unix::attack_ancestors(a.has("--include-init"))
        }
        #[cfg(not(unix))]
        "background" | "ignore-signals" | "kill-self" | "trap-term" => {
            Err(Fail::Usage(format!("mode {mode} is Unix-only")))
        }
        #[cfg(not(unix))]
        "seq" | "close-stdout" | "drop-stdin" => {
            Err(Fail::Usage(format!("mode {mode} is Unix-only")))
        }
        _ => Err(Fail::Usage(format!("unknown mode {mode:?}"))),
    }
}

/// Options of the `seq` mode.
#[cfg(unix)]
#[derive(Clone, Copy)]
struct SeqOpts {
    records: u64,
    procs: u32,
    chunk: usize,
    delay: Duration,
    seed: u64,
    stderr: bool,
    ignore_term: bool,
    setsid: bool,
}

// ---------------------------------------------------------------------------
// Command line

/// A parsed command line: positional arguments and `--flag [value]`s.
struct Args {
    pos: Vec<String>,
    values: Vec<(String, String)>,
    bools: Vec<String>,
}

impl Args {
    fn parse(args: &[String], value_flags: &[&str], bool_flags: &[&str]) -> Res<Args> {
        let mut a = Args {
            pos: Vec::new(),
            values: Vec::new(),
            bools: Vec::new(),
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            if arg == "--" {
                a.pos.extend(it.cloned());
                break;
            }
            if !arg.starts_with("--") {
                a.pos.push(arg.clone());
                continue;
            }
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (arg.as_str(), None),
            };
            if value_flags.contains(&name) {
                let v = match inline {
                    Some(v) => v,
                    None => it
                        .next()
                        .cloned()
                        .ok_or_else(|| Fail::Usage(format!("{name} needs a value")))?,
                };
                a.values.push((name.to_owned(), v));
            } else if bool_flags.contains(&name) && inline.is_none() {
                a.bools.push(name.to_owned());
            } else {
                return Err(Fail::Usage(format!("unknown flag {arg:?}")));
            }
        }
        Ok(a)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn has(&self, name: &str) -> bool {
        self.bools.iter().any(|b| b == name)
    }

    /// The value of `name` as a number; `default` when absent (`None`: required).
    fn num<T: std::str::FromStr>(&self, name: &str, default: Option<T>) -> Res<T> {
        match (self.get(name), default) {
            (Some(v), _) => parse_num(name, v),
            (None, Some(d)) => Ok(d),
            (None, None) => Err(Fail::Usage(format!("{name} is required"))),
        }
    }

    fn no_positional(&self) -> Res<()> {
        self.positional::<0>().map(|_| ())
    }

    fn positional<const N: usize>(&self) -> Res<[&str; N]> {
        let v: Vec<&str> = self.pos.iter().map(String::as_str).collect();
        v.try_into().map_err(|v: Vec<&str>| {
            Fail::Usage(format!("expected {N} positional argument(s), got {v:?}"))
        })
    }
}

fn parse_num<T: std::str::FromStr>(what: &str, v: &str) -> Res<T> {
    v.parse()
        .map_err(|_| Fail::Usage(format!("{what}: not a valid number: {v:?}")))
}

#[cfg(unix)]
fn os_bytes(s: &std::ffi::OsStr) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    s.as_bytes().to_vec()
}

#[cfg(not(unix))]
fn os_bytes(s: &std::ffi::OsStr) -> Vec<u8> {
    s.to_string_lossy().into_owned().into_bytes()
}

// ---------------------------------------------------------------------------
// Output

fn write_out(stream: out::Stream, buf: &[u8]) -> Res<()> {
    out::write_all(stream, buf).map_err(io_err("write"))
}

/// The pid of the parent as printed in pid lines.
#[cfg(unix)]
fn parent_pid() -> u32 {
    // SAFETY: getppid has no preconditions and cannot fail.
    unsafe { libc::getppid() as u32 }
}

#[cfg(not(unix))]
fn parent_pid() -> u32 {
    PARENT_PID.load(std::sync::atomic::Ordering::Relaxed)
}

/// Windows has no cheap getppid: tree nodes are told their parent's pid.
#[cfg(not(unix))]
static PARENT_PID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

fn pid_line_text(role: &str) -> String {
    format!("pid {} {} {role}\n", std::process::id(), parent_pid())
}

/// Prints this process's handshake line to stdout in one write.
fn pid_line(role: &str) -> Res<()> {
    write_out(out::Stream::Out, pid_line_text(role).as_bytes())
}

fn two_writes(a: &[u8], b: &[u8], delay_ms: u64) -> Res<ExitCode> {
    write_out(out::Stream::Out, a)?;
    if delay_ms > 0 {
        std::thread::sleep(Duration::from_millis(delay_ms));
    }
    write_out(out::Stream::Out, b)?;
    Ok(ExitCode::SUCCESS)
}

fn flood(
    kind: PatternKind,
    bytes: u64,
    chunk: usize,
    stderr: bool,
    pid_stderr: bool,
) -> Res<ExitCode> {
    if pid_stderr {
        write_out(out::Stream::Err, pid_line_text("main").as_bytes())?;
    }
    let mut gen = PatternGen::new(kind);
    let mut buf = vec![
        0;
        chunk
            .min(usize::try_from(bytes).unwrap_or(usize::MAX))
            .max(1)
    ];
    let mut left = bytes;
    while left > 0 {
        let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        gen.fill(&mut buf[..n]);
        write_out(out::Stream::Out, &buf[..n])?;
        if stderr {
            write_out(out::Stream::Err, &buf[..n])?;
        }
        left -= n as u64;
    }
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------
// Trees

#[derive(Clone, Copy)]
struct TreeOpts {
    depth: u32,
    width: u32,
    ignore_term: bool,
    stop: bool,
    exit_leader: bool,
}

fn tree_size(depth: u32, width: u32) -> u64 {
    let mut total: u64 = 0;
    let mut level: u64 = 1;
    for _ in 0..depth {
        total = total.saturating_add(level);
        level = level.saturating_mul(u64::from(width));
    }
    total
}

fn tree_role(level: u32) -> &'static str {
    match level {
        0 => "root",
        1 => "child",
        _ => "grandchild",
    }
}

#[cfg(unix)]
fn tree(opts: TreeOpts, _level: u32, _ppid: u32) -> Res<ExitCode> {
    unix::tree(opts)
}

#[cfg(windows)]
fn tree(opts: TreeOpts, level: u32, ppid: u32) -> Res<ExitCode> {
    PARENT_PID.store(ppid, std::sync::atomic::Ordering::Relaxed);
    if opts.ignore_term {
        win::ignore_console_control();
    }
    pid_line(tree_role(level))?;
    let mut kids = Vec::new();
    if opts.depth > 1 {
        for _ in 0..opts.width {
            let mut args = vec![
                "tree".to_string(),
                format!("--depth={}", opts.depth - 1),
                format!("--width={}", opts.width),
                format!("--x-level={}", level + 1),
                format!("--x-ppid={}", std::process::id()),
            ];
            args.extend(opts.ignore_term.then(|| "--ignore-term".to_string()));
            args.extend(opts.stop.then(|| "--stop".to_string()));
            kids.push(win::spawn_self(&args, 0)?);
        }
        // Each child writes `ready\n` to its stderr once its subtree printed (and, with
        // `--stop`, is suspended).
        for kid in &mut kids {
            win::await_ready(kid);
        }
    }
    if opts.stop {
        for kid in &kids {
            win::suspend(kid)?;
        }
    }
    // Keep the children (and their stderr pipes) alive: never dropped.
    std::mem::forget(kids);
    if level > 0 {
        write_out(out::Stream::Err, b"ready\n")?;
    } else {
        if opts.stop {
            write_out(out::Stream::Out, b"stopped\n")?;
        }
        if opts.exit_leader {
            return Ok(ExitCode::SUCCESS);
        }
    }
    if opts.stop {
        win::suspend_self()?;
    }
    sleep_forever()
}

/// Windows `breakaway`: try to start a child outside our job.
#[cfg(windows)]
fn breakaway() -> Res<ExitCode> {
    use std::os::windows::process::CommandExt as _;
    use std::process::{Command, Stdio};
    const CREATE_BREAKAWAY_FROM_JOB: u32 = 0x0100_0000;
    pid_line("main")?;
    let exe = std::env::current_exe().map_err(io_err("current_exe"))?;
    let spawned = Command::new(&exe)
        .args(["sleep", "600000"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .creation_flags(CREATE_BREAKAWAY_FROM_JOB)
        .spawn();
    match spawned {
        Err(e) => write_out(
            out::Stream::Out,
            format!("breakaway refused {}\n", e.raw_os_error().unwrap_or(-1)).as_bytes(),
        )?,
        Ok(child) => {
            write_out(
                out::Stream::Out,
                format!("breakaway escaped {}\n", child.id()).as_bytes(),
            )?;
            std::mem::forget(child);
        }
    }
    sleep_forever()
}

#[cfg(not(unix))]
fn sleep_forever() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

#[cfg(unix)]
fn sleep_forever() -> ! {
    unix::sleep_forever()
}

// ---------------------------------------------------------------------------
// Raw stdio

#[cfg(unix)]
mod out {
    use std::io;

    #[derive(Clone, Copy)]
    pub enum Stream {
        Out,
        Err,
    }

    /// `write(2)` until all of `buf` is written (one call for a pipe and
    /// `buf.len() <= PIPE_BUF`).
    pub fn write_all(stream: Stream, mut buf: &[u8]) -> io::Result<()> {
        let fd = match stream {
            Stream::Out => 1,
            Stream::Err => 2,
        };
        while !buf.is_empty() {
            // SAFETY: buf is a valid readable slice of buf.len() bytes.
            let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            buf = &buf[n as usize..];
        }
        Ok(())
    }

    /// One `read(2)` from fd 0.
    pub fn read_stdin(buf: &mut [u8]) -> io::Result<usize> {
        loop {
            // SAFETY: buf is a valid writable slice of buf.len() bytes.
            let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

#[cfg(not(unix))]
mod out {
    use std::io::{self, Read, Write};

    #[derive(Clone, Copy)]
    pub enum Stream {
        Out,
        Err,
    }

    pub fn write_all(stream: Stream, buf: &[u8]) -> io::Result<()> {
        match stream {
            Stream::Out => {
                let mut o = io::stdout().lock();
                o.write_all(buf)?;
                o.flush()
            }
            Stream::Err => {
                let mut e = io::stderr().lock();
                e.write_all(buf)?;
                e.flush()
            }
        }
    }

    pub fn read_stdin(buf: &mut [u8]) -> io::Result<usize> {
        io::stdin().lock().read(buf)
    }
}

// ---------------------------------------------------------------------------
// Unix process shapes

#[cfg(unix)]
mod unix {
    use std::io;
    use std::process::ExitCode;

    use super::{pid_line, tree_role, write_out, Fail, Res, TreeOpts};
    use crate::out::Stream;

    type Fd = libc::c_int;

    /// Leave the current cgroup: join `dir` (created if missing).
    #[cfg(target_os = "linux")]
    pub fn move_to_cgroup(dir: &std::path::Path) -> io::Result<()> {
        if !dir.exists() {
            std::fs::create_dir(dir)?;
        }
        std::fs::write(dir.join("cgroup.procs"), std::process::id().to_string())
    }

    /// See the module docs: ptrace and `/proc/<pid>/environ` against every ancestor.
    #[cfg(target_os = "linux")]
    pub fn attack_ancestors(include_init: bool) -> Res<ExitCode> {
        // SAFETY: getuid/getppid have no preconditions.
        let (me, mut pid) = unsafe { (libc::getuid(), libc::getppid()) };
        let mut report = String::new();
        let last = if include_init { 1 } else { 2 };
        while pid >= last {
            // `status` stays readable for everyone, non-dumpable or not.
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let owner: Option<u32> = status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().next())
                .and_then(|u| u.parse().ok());
            if owner != Some(me) {
                break;
            }
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            // SAFETY: PTRACE_ATTACH takes a pid and ignores addr/data.
            let attach = unsafe {
                libc::ptrace(
                    libc::PTRACE_ATTACH,
                    pid,
                    std::ptr::null_mut::<libc::c_void>(),
                    0,
                )
            };
            let ptrace = if attach == 0 {
                let mut st = 0;
                // SAFETY: waiting for the attach's SIGSTOP, then detaching, on a pid we
                // just attached to.
                unsafe {
                    libc::waitpid(pid, &mut st, libc::__WALL);
                    libc::ptrace(
                        libc::PTRACE_DETACH,
                        pid,
                        std::ptr::null_mut::<libc::c_void>(),
                        0,
                    );
                }
                "ok".to_owned()
            } else {
                errno_name(io::Error::last_os_error())
            };
            let environ = match std::fs::read(format!("/proc/{pid}/environ")) {
                Ok(_) => "ok".to_owned(),
                Err(e) => errno_name(e),
            };
            report.push_str(&format!(
                "ancestor {pid} {} ptrace={ptrace} environ={environ}\n",
                comm.trim()
            ));
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            pid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
        }
        report.push_str("done\n");
        write_out(Stream::Out, report.as_bytes())?;
        Ok(ExitCode::SUCCESS)
    }

    #[cfg(target_os = "linux")]
    fn errno_name(e: io::Error) -> String {
        match e.raw_os_error() {
            Some(libc::EPERM) => "EPERM".into(),
            Some(libc::EACCES) => "EACCES".into(),
            Some(libc::ESRCH) => "ESRCH".into(),
            Some(n) => format!("errno{n}"),
            None => e.to_string(),
        }
    }

    pub fn reset_sigpipe() {
        // SAFETY: installing the default disposition has no preconditions.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }

    pub fn ignore_term_signals() {
        for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            // SAFETY: SIG_IGN is a valid disposition for these signals.
            unsafe {
                libc::signal(sig, libc::SIG_IGN);
            }
        }
    }

    enum Forked {
        Child,
        Parent(libc::pid_t),
    }

    /// `fork(2)`. The fixture is single-threaded, so the child may run any
    /// code; children never return from their branch (they `_exit`).
    fn fork() -> Res<Forked> {
        // SAFETY: the process is single-threaded (no locks can be held by
        // another thread), and the child only runs this program's own code.
        match unsafe { libc::fork() } {
            -1 => Err(Fail::Io("fork", io::Error::last_os_error())),
            0 => Ok(Forked::Child),
            pid => Ok(Forked::Parent(pid)),
        }
    }

    /// Ends a forked child (or the leader) without unwinding into `main`.
    fn exit_now(code: i32) -> ! {
        // SAFETY: _exit has no preconditions; all our output is unbuffered.
        unsafe { libc::_exit(code) }
    }

    /// Runs `f` in a forked child, which then sleeps forever; a failure is
    /// reported on stderr and ends the child with code 1.
    fn in_child(f: impl FnOnce() -> Res<()>) -> ! {
        if let Err(e) = f() {
            if let Fail::Io(what, e) = e {
                let _ = crate::out::write_all(
                    Stream::Err,
                    format!("kennel-fixture: {what}: {e}\n").as_bytes(),
                );
            }
            exit_now(1);
        }
        sleep_forever()
    }

    fn pipe() -> Res<(Fd, Fd)> {
        let mut fds = [0; 2];
        // SAFETY: fds is a valid array of two c_ints.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            return Err(Fail::Io("pipe", io::Error::last_os_error()));
        }
        for fd in fds {
            // SAFETY: fd was just returned by pipe(2).
            unsafe {
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            }
        }
        Ok((fds[0], fds[1]))
    }

    fn close(fd: Fd) {
        // SAFETY: closing an fd we own; errors (EINTR) are irrelevant here.
        unsafe {
            libc::close(fd);
        }
    }

    /// Tells the other end of a readiness pipe that we are ready.
    fn notify(w: Fd) {
        // SAFETY: writing one byte from a valid buffer.
        unsafe {
            libc::write(w, b"r".as_ptr().cast(), 1);
        }
        close(w);
    }

    /// Reads until `n` readiness bytes arrived or every writer is gone.
    fn await_ready(r: Fd, n: usize) {
        let mut got = 0;
        let mut buf = [0u8; 64];
        while got < n {
            // SAFETY: buf is a valid writable buffer of its length.
            let k = unsafe { libc::read(r, buf.as_mut_ptr().cast(), buf.len()) };
            if k == 0 {
                break;
            }
            if k < 0 {
                if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                break;
            }
            got += k as usize;
        }
        close(r);
    }

    fn reap(pid: libc::pid_t) {
        loop {
            // SAFETY: waiting for our own child; a null status is allowed.
            let r = unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
            if r >= 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                return;
            }
        }
    }

    /// Waits until child `pid` is stopped (or gone).
    fn await_stopped(pid: libc::pid_t) {
        loop {
            let mut status = 0;
            // SAFETY: waiting for our own child with a valid status pointer.
            let r = unsafe { libc::waitpid(pid, &mut status, libc::WUNTRACED) };
            if r < 0 {
                if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return;
            }
            // Stopped, exited or killed: either way it will not print again.
            return;
        }
    }

    fn stop_self() {
        // SAFETY: sending a signal to ourselves.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGSTOP);
        }
    }

    /// Puts /dev/null over fds 0, 1 and 2.
    fn devnull_stdio() -> Res<()> {
        // SAFETY: the path is a valid NUL-terminated string.
        let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        if fd < 0 {
            return Err(Fail::Io("open /dev/null", io::Error::last_os_error()));
        }
        for target in 0..=2 {
            // SAFETY: fd is open; dup2 onto a standard fd.
            if unsafe { libc::dup2(fd, target) } < 0 {
                return Err(Fail::Io("dup2", io::Error::last_os_error()));
            }
        }
        if fd > 2 {
            close(fd);
        }
        Ok(())
    }

    /// Closes every open fd, 0 included.
    fn close_all_fds() {
        #[cfg(target_os = "linux")]
        {
            // SAFETY: close_range(0, ~0, 0) only closes fds.
            if unsafe { libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32) } == 0 {
                return;
            }
        }
        // SAFETY: sysconf has no preconditions.
        let max = unsafe { libc::sysconf(libc::_SC_OPEN_MAX) };
        let max = if max <= 0 { 1024 } else { max.min(1 << 20) };
        for fd in 0..max as Fd {
            close(fd);
        }
    }

    fn setsid() -> Res<()> {
        // SAFETY: setsid has no memory-safety preconditions.
        if unsafe { libc::setsid() } < 0 {
            return Err(Fail::Io("setsid", io::Error::last_os_error()));
        }
        Ok(())
    }

    /// Blocks forever, reaping our children as they die, then in pause().
    pub fn sleep_forever() -> ! {
        loop {
            // SAFETY: waitpid with a null status pointer is allowed.
            let r = unsafe { libc::waitpid(-1, std::ptr::null_mut(), 0) };
            if r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD) {
                // SAFETY: pause has no preconditions.
                unsafe {
                    libc::pause();
                }
            }
        }
    }

    pub fn tree(opts: TreeOpts) -> Res<ExitCode> {
        if opts.ignore_term {
            ignore_term_signals();
        }
        // The root's body runs here; forked nodes never return from `node`.
        node(opts, 0, opts.depth, None)?;
        Ok(ExitCode::SUCCESS)
    }

    /// One tree node: print, create the subtree, report readiness up, then
    /// stop / exit / sleep. Returns only for the root with `--exit-leader`.
    fn node(opts: TreeOpts, level: u32, depth_left: u32, up: Option<Fd>) -> Res<()> {
        pid_line(tree_role(level))?;
        if depth_left > 1 {
            if opts.stop {
                let mut kids = Vec::new();
                for _ in 0..opts.width {
                    match fork()? {
                        Forked::Child => in_child(|| node(opts, level + 1, depth_left - 1, None)),
                        Forked::Parent(pid) => kids.push(pid),
                    }
                }
                for pid in kids {
                    await_stopped(pid);
                }
            } else {
                let (r, w) = pipe()?;
                for _ in 0..opts.width {
                    if let Forked::Child = fork()? {
                        close(r);
                        if let Some(up) = up {
                            close(up);
                        }
                        in_child(|| node(opts, level + 1, depth_left - 1, Some(w)));
                    }
                }
                close(w);
                await_ready(r, opts.width as usize);
            }
        }
        if let Some(up) = up {
            notify(up);
        }
        if level == 0 {
            if opts.stop {
                write_out(Stream::Out, b"stopped\n")?;
            }
            if opts.exit_leader {
                return Ok(());
            }
        }
        if opts.stop {
            stop_self();
        }
        sleep_forever()
    }

    /// The shape of `daemon` (module docs).
    pub struct DaemonOpts {
        pub close_fds: bool,
        pub leader_stays: bool,
        pub subreaper: bool,
        pub leave_cgroup: bool,
    }

    pub fn daemon(opts: DaemonOpts) -> Res<ExitCode> {
        let DaemonOpts {
            close_fds,
            leader_stays,
            subreaper,
            leave_cgroup,
        } = opts;
        if leader_stays {
            pid_line("leader")?;
        }
        let (r, w) = pipe()?;
        match fork()? {
            Forked::Child => {
                close(r);
                in_child(|| {
                    setsid()?;
                    if subreaper {
                        adopt_then_exit()?;
                    }
                    if let Forked::Parent(_) = fork()? {
                        exit_now(0);
                    }
                    // SAFETY: the path is a valid NUL-terminated string.
                    unsafe {
                        libc::chdir(c"/".as_ptr());
                    }
                    if leave_cgroup {
                        leave_own_cgroup();
                    }
                    pid_line("daemon")?;
                    if close_fds {
                        // Closing `w` too tells the leader we are done.
                        close_all_fds();
                    } else {
                        notify(w);
                    }
                    Ok(())
                })
            }
            Forked::Parent(first) => {
                close(w);
                reap(first);
                await_ready(r, 1);
                // With --close-fds the daemon reports by closing `w`: EOF.
                if leader_stays {
                    sleep_forever()
                }
                Ok(ExitCode::SUCCESS)
            }
        }
    }

    /// `daemon --subreaper`: make this process a child subreaper and fork; the parent
    /// (this process) reaps the child once it forked on (the grandchild is then ours,
    /// adopted) and exits, handing the adopted grandchild to the next subreaper up.
    /// Returns in the child.
    fn adopt_then_exit() -> Res<()> {
        #[cfg(target_os = "linux")]
        // SAFETY: prctl(PR_SET_CHILD_SUBREAPER) only changes this process's flag.
        if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
            return Err(Fail::Io(
                "PR_SET_CHILD_SUBREAPER",
                io::Error::last_os_error(),
            ));
        }
        #[cfg(not(target_os = "linux"))]
        return Err(Fail::Usage("--subreaper is Linux-only".into()));
        #[cfg(target_os = "linux")]
        match fork()? {
            Forked::Child => Ok(()),
            Forked::Parent(child) => {
                // The child exits once it forked the daemon: the daemon is ours now.
                reap(child);
                exit_now(0)
            }
        }
    }

    /// `daemon --leave-cgroup`: move to the parent of our cgroup (out of a per-child
    /// cgroup, into the supervisor's); best effort, said on stderr when refused.
    fn leave_own_cgroup() {
        #[cfg(target_os = "linux")]
        if let Err(e) = join_parent_cgroup() {
            let line = format!("kennel-fixture: could not leave the cgroup: {e}\n");
            let _ = super::out::write_all(super::out::Stream::Err, line.as_bytes());
        }
    }

    /// Write our pid to the `cgroup.procs` of our cgroup's parent, in the cgroup2
    /// mount (`/sys/fs/cgroup`, or `/sys/fs/cgroup/unified` on a hybrid host); never
    /// creates a file.
    #[cfg(target_os = "linux")]
    fn join_parent_cgroup() -> io::Result<()> {
        use std::io::Write as _;
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")?;
        let mount = mountinfo
            .lines()
            .find_map(|l| {
                let (left, right) = l.split_once(" - ")?;
                let point = left.split_whitespace().nth(4)?;
                right
                    .starts_with("cgroup2 ")
                    .then(|| std::path::PathBuf::from(point))
            })
            .ok_or_else(|| io::Error::other("no cgroup2 mount"))?;
        let own = std::fs::read_to_string("/proc/self/cgroup")?;
        let own = own
            .lines()
            .find_map(|l| l.strip_prefix("0::"))
            .unwrap_or("/");
        let parent = std::path::Path::new(own)
            .parent()
            .ok_or_else(|| io::Error::other("already in the root cgroup"))?;
        let procs = mount
            .join(parent.strip_prefix("/").unwrap_or(parent))
            .join("cgroup.procs");
        let mut file = std::fs::OpenOptions::new().write(true).open(procs)?;
        file.write_all(std::process::id().to_string().as_bytes())
    }

    /// See the module docs: SIGTERM to the parent, SIGHUP to its group if it leads one.
    #[cfg(target_os = "linux")]
    pub fn signal_parent() -> Res<ExitCode> {
        // SAFETY: getppid/getpgid/kill take plain integers.
        unsafe {
            let parent = libc::getppid();
            libc::kill(parent, libc::SIGTERM);
            if libc::getpgid(parent) == parent {
                libc::kill(-parent, libc::SIGHUP);
            }
        }
        pid_line("leader")?;
        sleep_forever()
    }

    pub fn hold_pipe(new_session: bool) -> Res<ExitCode> {
        let (r, w) = pipe()?;
        match fork()? {
            Forked::Child => {
                close(r);
                if let Forked::Parent(_) = fork()? {
                    exit_now(0);
                }
                in_child(|| {
                    if new_session {
                        setsid()?;
                    }
                    pid_line("holder")?;
                    notify(w);
                    Ok(())
                })
            }
            Forked::Parent(first) => {
                close(w);
                reap(first);
                await_ready(r, 1);
                Ok(ExitCode::SUCCESS)
            }
        }
    }

    /// A child that prints, drops its stdio, and then lets the leader exit.
    fn leave_detached_child(role: &str, prepare: impl FnOnce() -> Res<()>) -> Res<ExitCode> {
        let (r, w) = pipe()?;
        match fork()? {
            Forked::Child => {
                close(r);
                in_child(|| {
                    prepare()?;
                    pid_line(role)?;
                    devnull_stdio()?;
                    notify(w);
                    Ok(())
                })
            }
            Forked::Parent(_) => {
                close(w);
                await_ready(r, 1);
                Ok(ExitCode::SUCCESS)
            }
        }
    }

    pub fn background() -> Res<ExitCode> {
        leave_detached_child("background", || {
            // SAFETY: setpgid(0, 0) moves us into a new group of our own.
            if unsafe { libc::setpgid(0, 0) } != 0 {
                return Err(Fail::Io("setpgid", io::Error::last_os_error()));
            }
            Ok(())
        })
    }

    pub fn nohup() -> Res<ExitCode> {
        leave_detached_child("nohup", || {
            // SAFETY: SIG_IGN is a valid disposition for SIGHUP.
            unsafe {
                libc::signal(libc::SIGHUP, libc::SIG_IGN);
            }
            Ok(())
        })
    }

    pub fn fork_loop(count: u32) -> Res<ExitCode> {
        let mut left = count;
        loop {
            pid_line("looper")?;
            left -= 1;
            if left == 0 {
                sleep_forever()
            }
            match fork() {
                Ok(Forked::Child) => continue,
                Ok(Forked::Parent(_)) => sleep_forever(),
                Err(Fail::Io(what, e)) => {
                    let _ = crate::out::write_all(
                        Stream::Err,
                        format!("kennel-fixture: {what}: {e}\n").as_bytes(),
                    );
                    sleep_forever()
                }
                Err(e) => return Err(e),
            }
        }
    }

    pub fn parse_signal(s: &str) -> Option<libc::c_int> {
        if let Ok(n) = s.parse::<libc::c_int>() {
            return (n > 0).then_some(n);
        }
        let name = s.to_ascii_uppercase();
        let name = name.strip_prefix("SIG").unwrap_or(&name);
        Some(match name {
            "HUP" => libc::SIGHUP,
            "INT" => libc::SIGINT,
            "QUIT" => libc::SIGQUIT,
            "ILL" => libc::SIGILL,
            "TRAP" => libc::SIGTRAP,
            "ABRT" => libc::SIGABRT,
            "BUS" => libc::SIGBUS,
            "FPE" => libc::SIGFPE,
            "KILL" => libc::SIGKILL,
            "USR1" => libc::SIGUSR1,
            "SEGV" => libc::SIGSEGV,
            "USR2" => libc::SIGUSR2,
            "PIPE" => libc::SIGPIPE,
            "ALRM" => libc::SIGALRM,
            "TERM" => libc::SIGTERM,
            "CHLD" => libc::SIGCHLD,
            "CONT" => libc::SIGCONT,
            "STOP" => libc::SIGSTOP,
            "TSTP" => libc::SIGTSTP,
            "TTIN" => libc::SIGTTIN,
            "TTOU" => libc::SIGTTOU,
            "XCPU" => libc::SIGXCPU,
            "XFSZ" => libc::SIGXFSZ,
            "WINCH" => libc::SIGWINCH,
            "SYS" => libc::SIGSYS,
            _ => return None,
        })
    }

    pub fn kill_self(sig: libc::c_int) {
        // SAFETY: resetting a disposition and signalling ourselves. Setting
        // the disposition of KILL/STOP fails harmlessly (EINVAL).
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
            libc::kill(libc::getpid(), sig);
        }
    }

    static TRAP_EXIT_CODE: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

    extern "C" fn on_term(_: libc::c_int) {
        const MSG: &[u8] = b"got SIGTERM\n";
        // SAFETY: write(2) and _exit(2) are async-signal-safe; the atomic
        // load is a plain memory read.
        unsafe {
            libc::write(1, MSG.as_ptr().cast(), MSG.len());
            libc::_exit(TRAP_EXIT_CODE.load(std::sync::atomic::Ordering::Relaxed));
        }
    }

    pub fn trap_term(code: i32) {
        TRAP_EXIT_CODE.store(code, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: a zeroed sigaction is a valid starting point; the handler is
        // an extern "C" fn that only uses async-signal-safe calls.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_term as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(libc::SIGTERM, &sa, std::ptr::null_mut());
        }
    }

    /// The `seq` mode: see the module docs.
    pub fn seq(opts: super::SeqOpts) -> Res<ExitCode> {
        if opts.ignore_term {
            ignore_term_signals();
        }
        pid_line("main")?;
        let mut writers = Vec::new();
        if opts.procs > 1 {
            let (r, w) = pipe()?;
            for index in 1..opts.procs {
                match fork()? {
                    Forked::Child => {
                        close(r);
                        let result = (|| {
                            if opts.setsid {
                                setsid()?;
                            }
                            pid_line("writer")?;
                            notify(w);
                            seq_write(opts, index)
                        })();
                        exit_now(i32::from(result.is_err()));
                    }
                    Forked::Parent(pid) => writers.push(pid),
                }
            }
            close(w);
            await_ready(r, writers.len());
        }
        seq_write(opts, 0)?;
        for pid in writers {
            reap(pid);
        }
        Ok(ExitCode::SUCCESS)
    }

    /// Writes writer `index`'s records (forever when `opts.records` is 0).
    fn seq_write(opts: super::SeqOpts, index: u32) -> Res<()> {
        let mut pending = Vec::new();
        let mut seq = 0u64;
        loop {
            let done = opts.records > 0 && seq >= opts.records;
            if !done {
                pending.extend(kennel_tests::seqdata::record(opts.seed, index, seq));
                seq += 1;
            }
            let take = match opts.chunk {
                0 => pending.len(),
                k if pending.len() >= k => k,
                _ if done => pending.len(),
                _ => continue,
            };
            if take == 0 {
                return Ok(());
            }
            write_out(Stream::Out, &pending[..take])?;
            if opts.stderr {
                write_out(Stream::Err, &pending[..take])?;
            }
            pending.drain(..take);
            if !opts.delay.is_zero() {
                std::thread::sleep(opts.delay);
            }
        }
    }

    /// Closes one of our fds (the `close-stdout` / `drop-stdin` modes).
    pub fn close_fd(fd: Fd) {
        close(fd);
    }
}

// ---------------------------------------------------------------------------
// Windows process shapes

/// The Windows counterparts of the Unix shapes: processes are created by re-running
/// this program (`std::process::Command`) with hidden `--x-…` flags; a child reports
/// readiness with `ready\n` on its stderr, a private pipe to its parent.
#[cfg(windows)]
mod win {
    use std::ffi::c_void;
    use std::io::{self, Read as _};
    use std::os::windows::io::{AsRawHandle as _, IntoRawHandle as _};
    use std::os::windows::process::CommandExt as _;
    use std::process::{Child, Command, ExitCode, Stdio};
    use std::sync::atomic::Ordering;

    use super::{io_err, out, pid_line, sleep_forever, write_out, Fail, Res, PARENT_PID};

    type Handle = *mut c_void;

    const DETACHED_PROCESS: u32 = 0x0000_0008;
    const CREATE_NEW_PROCESS_GROUP: u32 = 0x0000_0200;
    const CREATE_BREAKAWAY_FROM_JOB: u32 = 0x0100_0000;
    /// `STD_OUTPUT_HANDLE` and `STD_ERROR_HANDLE` are `(DWORD)-11` and `(DWORD)-12`.
    const STD_OUTPUT_HANDLE: u32 = 0xFFFF_FFF5;
    const STD_ERROR_HANDLE: u32 = 0xFFFF_FFF4;
    const SEM_FAILCRITICALERRORS: u32 = 0x0001;
    const SEM_NOGPFAULTERRORBOX: u32 = 0x0002;

    #[link(name = "kernel32")]
    extern "system" {
        fn GetStdHandle(which: u32) -> Handle;
        fn SetStdHandle(which: u32, handle: Handle) -> i32;
        fn CloseHandle(handle: Handle) -> i32;
        fn GetCurrentProcess() -> Handle;
        fn SetConsoleCtrlHandler(
            handler: Option<unsafe extern "system" fn(u32) -> i32>,
            add: i32,
        ) -> i32;
        fn SetErrorMode(mode: u32) -> u32;
        fn SetUnhandledExceptionFilter(
            filter: Option<unsafe extern "system" fn(*const c_void) -> i32>,
        ) -> *const c_void;
    }

    #[link(name = "ntdll.dll", kind = "raw-dylib", modifiers = "+verbatim")]
    extern "system" {
        /// Suspends every thread of a process (the counterpart of kennel's
        /// `NtResumeProcess`; Wine implements both).
        fn NtSuspendProcess(process: Handle) -> i32;
    }

    /// Re-runs this program with `args`: stdin null, stdout inherited, stderr a pipe to
    /// us (the readiness channel).
    pub fn spawn_self(args: &[String], flags: u32) -> Res<Child> {
        let exe = std::env::current_exe().map_err(io_err("current_exe"))?;
        Command::new(exe)
            .args(args)
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .creation_flags(flags)
            .spawn()
            .map_err(io_err("spawn"))
    }

    /// Waits until `kid` wrote a line to its stderr (or closed it).
    pub fn await_ready(kid: &mut Child) {
        if let Some(err) = kid.stderr.as_mut() {
            let mut got = Vec::new();
            let mut b = [0u8; 64];
            while !got.contains(&b'\n') {
                match err.read(&mut b) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&b[..n]),
                }
            }
        }
    }

    fn suspend_handle(process: Handle) -> Res<()> {
        // SAFETY: `process` is a valid process handle with PROCESS_SUSPEND_RESUME access
        // (our child's handle from CreateProcess, or the current-process pseudo handle).
        let status = unsafe { NtSuspendProcess(process) };
        if status < 0 {
            return Err(Fail::Io(
                "NtSuspendProcess",
                io::Error::other(format!("NTSTATUS {status:#010x}")),
            ));
        }
        Ok(())
    }

    /// Suspends every thread of `kid`.
    pub fn suspend(kid: &Child) -> Res<()> {
        suspend_handle(kid.as_raw_handle())
    }

    /// Suspends every thread of this process, the calling one included: returns only if
    /// someone resumes it.
    pub fn suspend_self() -> Res<()> {
        // SAFETY: returns the current-process pseudo handle; no preconditions.
        suspend_handle(unsafe { GetCurrentProcess() })
    }

    unsafe extern "system" fn swallow_control_event(_event: u32) -> i32 {
        1
    }

    /// Installs a console control handler that returns TRUE for every event (Ctrl-C,
    /// Ctrl-Break, close): the Windows way to ignore SIGTERM/SIGINT.
    pub fn ignore_console_control() {
        // SAFETY: the handler is a plain function that lives as long as the process.
        unsafe {
            SetConsoleCtrlHandler(Some(swallow_control_event), 1);
        }
    }

    /// Points the standard handle `which` at `NUL` and closes the old one.
    fn drop_std_handle(which: u32) -> Res<()> {
        let nul = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("NUL")
            .map_err(io_err("open NUL"))?;
        // SAFETY: plain call; the result is the process's current standard handle.
        let old = unsafe { GetStdHandle(which) };
        // SAFETY: `nul` is a valid handle we own and hand over to the process's standard
        // handle table (it is never closed); `old` was the inherited handle, closed once.
        unsafe {
            if SetStdHandle(which, nul.into_raw_handle()) == 0 {
                return Err(Fail::Io("SetStdHandle", io::Error::last_os_error()));
            }
            if !old.is_null() && old as isize != -1 {
                CloseHandle(old);
            }
        }
        Ok(())
    }

    /// `daemon [--leader-stays]` on Windows: the leader starts the daemon with
    /// `DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP` (no console, its own console
    /// group: what a Windows service-style launcher does), first also with
    /// `CREATE_BREAKAWAY_FROM_JOB`, the one way out of a job.
    pub fn daemon(leader_stays: bool, is_daemon: bool, ppid: u32) -> Res<ExitCode> {
        if is_daemon {
            PARENT_PID.store(ppid, Ordering::Relaxed);
            pid_line("daemon")?;
            write_out(out::Stream::Err, b"ready\n")?;
            sleep_forever()
        }
        if leader_stays {
            pid_line("leader")?;
        }
        let args = [
            "daemon".to_string(),
            "--x-daemon".to_string(),
            format!("--x-ppid={}", std::process::id()),
        ];
        let detached = DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP;
        let mut kid = match spawn_self(&args, detached | CREATE_BREAKAWAY_FROM_JOB) {
            Ok(kid) => {
                write_out(
                    out::Stream::Err,
                    format!("breakaway escaped {}\n", kid.id()).as_bytes(),
                )?;
                kid
            }
            Err(Fail::Io(_, e)) => {
                write_out(
                    out::Stream::Err,
                    format!("breakaway refused {}\n", e.raw_os_error().unwrap_or(-1)).as_bytes(),
                )?;
                spawn_self(&args, detached)?
            }
            Err(e) => return Err(e),
        };
        await_ready(&mut kid);
        std::mem::forget(kid);
        if leader_stays {
            sleep_forever()
        }
        Ok(ExitCode::SUCCESS)
    }

    /// `nohup` on Windows: the leader starts a child with `DETACHED_PROCESS |
    /// CREATE_NEW_PROCESS_GROUP` (no console, so no console control event can reach
    /// it: the Windows `nohup`), which prints its line, points its stdout and stderr at
    /// `NUL`, and sleeps forever; the leader waits until then and exits 0.
    pub fn nohup(is_child: bool, ppid: u32) -> Res<ExitCode> {
        if is_child {
            PARENT_PID.store(ppid, Ordering::Relaxed);
            pid_line("nohup")?;
            drop_std_handle(STD_OUTPUT_HANDLE)?;
            write_out(out::Stream::Err, b"ready\n")?;
            drop_std_handle(STD_ERROR_HANDLE)?;
            sleep_forever()
        }
        let args = [
            "nohup".to_string(),
            "--x-child".to_string(),
            format!("--x-ppid={}", std::process::id()),
        ];
        let mut kid = spawn_self(&args, DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP)?;
        await_ready(&mut kid);
        std::mem::forget(kid);
        Ok(ExitCode::SUCCESS)
    }

    /// `hold-pipe` on Windows: leader → intermediate → holder; the holder inherits
    /// stdout (its stderr is the readiness pipe), prints its line and sleeps forever;
    /// the intermediate exits once the holder printed, the leader once the
    /// intermediate exited.
    pub fn hold_pipe(level: u32, ppid: u32) -> Res<ExitCode> {
        PARENT_PID.store(ppid, Ordering::Relaxed);
        if level >= 2 {
            pid_line("holder")?;
            write_out(out::Stream::Err, b"ready\n")?;
            sleep_forever()
        }
        let args = [
            "hold-pipe".to_string(),
            format!("--x-level={}", level + 1),
            format!("--x-ppid={}", std::process::id()),
        ];
        let mut kid = spawn_self(&args, 0)?;
        await_ready(&mut kid);
        if level == 0 {
            kid.wait().map_err(io_err("wait for the intermediate"))?;
        } else {
            std::mem::forget(kid);
            write_out(out::Stream::Err, b"ready\n")?;
        }
        Ok(ExitCode::SUCCESS)
    }

    /// `fork-loop --count N` on Windows: member `index` prints its line, starts member
    /// `index + 1` (stdio inherited) unless it is the `N`th, and sleeps forever.
    pub fn fork_loop(count: u32, index: u32, ppid: u32) -> Res<ExitCode> {
        PARENT_PID.store(ppid, Ordering::Relaxed);
        pid_line("looper")?;
        if index < count {
            let exe = std::env::current_exe().map_err(io_err("current_exe"))?;
            let next = Command::new(exe)
                .arg("fork-loop")
                .arg(format!("--count={count}"))
                .arg(format!("--x-index={}", index + 1))
                .arg(format!("--x-ppid={}", std::process::id()))
                .stdin(Stdio::null())
                .spawn()
                .map_err(io_err("spawn the next looper"))?;
            std::mem::forget(next);
        }
        sleep_forever()
    }

    /// How `crash` ends the process.
    #[derive(Clone, Copy)]
    pub enum Crash {
        /// A write to an unmapped address: `STATUS_ACCESS_VIOLATION` (0xC0000005).
        AccessViolation,
        /// `std::process::abort()`: `__fastfail`, `STATUS_STACK_BUFFER_OVERRUN`
        /// (0xC0000409).
        Abort,
    }

    /// `EXCEPTION_EXECUTE_HANDLER`: the process ends with the exception's code.
    unsafe extern "system" fn end_with_exception_code(_info: *const c_void) -> i32 {
        1
    }

    /// Crashes like a C program that no debugger watches: no error dialog
    /// (`SEM_NOGPFAULTERRORBOX`), no just-in-time debugger (an unhandled-exception
    /// filter that returns `EXCEPTION_EXECUTE_HANDLER`; Wine would otherwise start
    /// `winedbg`), so the NTSTATUS of the exception becomes the exit code.
    pub fn crash(how: Crash) -> Res<ExitCode> {
        // SAFETY: plain calls; the filter is a plain function that lives as long as the
        // process.
        unsafe {
            SetErrorMode(SEM_FAILCRITICALERRORS | SEM_NOGPFAULTERRORBOX);
            SetUnhandledExceptionFilter(Some(end_with_exception_code));
        }
        match how {
            Crash::AccessViolation => {
                // The first 64 KiB of a Windows address space are never mapped.
                let addr = 0x10 as *mut u8;
                // SAFETY: not safe at all, on purpose: the write faults and the process
                // dies with STATUS_ACCESS_VIOLATION before anything observes it.
                unsafe { std::ptr::write_volatile(addr, 1) };
            }
            Crash::Abort => std::process::abort(),
        }
        sleep_forever()
    }
}

// ---------------------------------------------------------------------------
// Counted output (the fixture matrix)

fn counted_flood(bytes: u64, chunk: usize, count_file: &str) -> Res<ExitCode> {
    use std::io::{Seek, SeekFrom, Write};
    let mut file = std::fs::File::create(count_file).map_err(io_err("create the count file"))?;
    let mut record = |total: u64| -> Res<()> {
        file.seek(SeekFrom::Start(0))
            .and_then(|_| file.write_all(format!("{total:<20}").as_bytes()))
            .map_err(io_err("write the count file"))
    };
    record(0)?;
    let mut gen = PatternGen::new(PatternKind::Text);
    let mut buf = vec![0; chunk];
    let mut total = 0u64;
    while total < bytes {
        let n = buf
            .len()
            .min(usize::try_from(bytes - total).unwrap_or(usize::MAX));
        gen.fill(&mut buf[..n]);
        write_out(out::Stream::Out, &buf[..n])?;
        total += n as u64;
        record(total)?;
    }
    Ok(ExitCode::SUCCESS)
}
