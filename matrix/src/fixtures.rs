//! The fixtures (the matrix's rows): what each runs, when the driver acts, and the pass
//! criterion, evaluated on the [`Evidence`] the harness collected.

use std::time::Duration;

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::job::{Action, DriverResult, JobLimits, Trigger};
use crate::procs::{Ended, Proc};

/// The driver-independent part of a job.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The fixture's arguments after the `kennel-fixture` program; `{count}` is replaced
    /// by the cell's count file.
    pub args: Vec<&'static str>,
    /// Grace in ms.
    pub grace_ms: u64,
    /// Stdin bytes to write.
    pub stdin_bytes: Option<u64>,
    /// When to act.
    pub trigger: Option<Trigger>,
    /// What to do.
    pub action: Action,
    /// Slow consumer, ms per chunk.
    pub slow_ms_per_chunk: Option<u64>,
    /// Resource limits, for the implementations that have them.
    pub limits: Option<JobLimits>,
}

impl Spec {
    fn new(args: &[&'static str]) -> Spec {
        Spec {
            args: args.to_vec(),
            grace_ms: 2000,
            stdin_bytes: None,
            trigger: None,
            action: Action::Abort,
            slow_ms_per_chunk: None,
            limits: None,
        }
    }
    fn limits(mut self, limits: JobLimits) -> Spec {
        self.limits = Some(limits);
        self
    }
    fn grace(mut self, ms: u64) -> Spec {
        self.grace_ms = ms;
        self
    }
    fn on_lines(mut self, n: usize) -> Spec {
        self.trigger = Some(Trigger {
            lines: Some(n),
            ..Trigger::default()
        });
        self
    }
    fn action(mut self, a: Action) -> Spec {
        self.action = a;
        self
    }
}

/// What the harness saw of one cell.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// The driver's result, if it wrote one.
    pub result: Option<DriverResult>,
    /// No final status and the driver still running after this long: a hang.
    pub hang_after: Option<Duration>,
    /// The driver ended without a result (a supervisor-death fixture, or a crash).
    pub driver_ended: Option<Ended>,
    /// Tree processes still alive `settle` after the final status (or the supervisor's death).
    pub survivors: Vec<Proc>,
    /// How long the tree took to vanish after the final status / the driver's death.
    pub gone_after: Duration,
    /// Supervisor-side processes (driver, sidecar, keepers) left 5 s after the driver exited.
    pub lingering: Vec<Proc>,
    /// The counted flood's count file.
    pub count_file: Option<u64>,
    /// What a driver wrote just before an action that killed itself.
    pub fired: Option<Fired>,
    /// The last lines of the driver's own stderr/stdout.
    pub driver_log: String,
    /// Under Wine: this many bare Wine loaders of processes cut short at creation were
    /// still there after the settle, and gone this much later (see `cell.rs`).
    pub late_loaders: Option<(usize, Duration)>,
    /// Under Wine: bare loaders proven deadlocked before their program ran, with the
    /// proof (see `wine_loader.rs`); the cell's sweep kills them.
    pub wine_deadlocked: Vec<(Proc, String)>,
}

/// Proof that a driver reached its trigger before killing itself.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fired {
    /// ms from spawn.
    pub trigger_ms: u64,
    /// Stdout head (base64) at that moment.
    pub stdout_head: String,
}

/// A cell's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Passed the fixture's criterion.
    pub pass: bool,
    /// Why: measurements, survivors, bytes lost, "hang after N s".
    pub evidence: String,
}

/// How a fixture runs on Windows (under Wine).
#[derive(Debug, Clone, Copy)]
pub struct WinShape {
    /// The job there.
    pub spec: fn() -> Spec,
    /// The criterion there, when it differs from the Linux one.
    pub check: Option<fn(&Evidence) -> Verdict>,
    /// The Windows shape of the fixture, when it differs from the Linux one (the
    /// report's "On Windows" paragraph).
    pub about: &'static str,
}

/// Whether and how a fixture runs on Windows (under Wine).
#[derive(Debug, Clone, Copy)]
pub enum OnWindows {
    /// Runs with this shape there.
    Runs(WinShape),
    /// Does not apply or cannot run; the cell says why.
    Not(&'static str),
}

/// One row of the matrix.
pub struct Fixture {
    /// Short id (file names, `--fixture`).
    pub id: &'static str,
    /// The row title.
    pub title: &'static str,
    /// What it exercises and why implementations fail it (the report's paragraph).
    pub about: &'static str,
    /// Why implementations fail it: the mechanism behind each failure (the report's
    /// second paragraph; the cells carry the evidence).
    pub why: &'static str,
    /// The pass criterion, as the report states it.
    pub criterion: &'static str,
    /// The job on Linux.
    pub spec: fn() -> Spec,
    /// How long the tree may take to vanish after the final status / supervisor death.
    pub settle: Duration,
    /// A cell without a final status after this long is a hang.
    pub bound: Duration,
    /// The criterion.
    pub check: fn(&Evidence) -> Verdict,
    /// Windows.
    pub windows: OnWindows,
}

const S: fn(u64) -> Duration = Duration::from_secs;
const MS: fn(u64) -> Duration = Duration::from_millis;

/// 50 MiB.
pub const BINARY_BYTES: u64 = 50 << 20;

/// Every fixture, in report order.
pub fn all() -> Vec<Fixture> {
    vec![
        Fixture {
            id: "tree",
            title: "grandchild tree kill",
            about: "A 7-process tree (root, 2 children, 4 grandchildren; all in the root's process group, all exit on SIGTERM) is aborted once every process printed its pid line. It exercises the plain tree kill every implementation claims.",
            why: "execa's cancel reaches the direct child only (SIGTERM, then `forceKillAfterDelay`'s SIGKILL): the other six keep running and hold stdout/stderr, and execa waits for the streams' end with no bound, so the call hangs. The baseline finds the grandchildren with its `pgrep -P` snapshot (the tree is still linked to the root), the shell tool reaches them as a process group (`detached: true`), tree-kill walks `ps`; kennel kills the cgroup (or the group plus the keeper's sweep).",
            criterion: "final status within G + 2 s of the abort (G = 2 s), and no process of the tree alive 0.5 s after it",
            spec: || Spec::new(&["tree", "--depth", "3", "--width", "2"]).on_lines(7),
            settle: MS(500),
            bound: S(12),
            check: |ev| ended_tree(ev, 2000 + 2000),
            windows: OnWindows::Runs(WinShape { spec: || Spec::new(&["tree", "--depth", "3", "--width", "2"]).timeout(6000), check: None, about: "" }),
        },
        Fixture {
            id: "daemon",
            title: "setsid / double-fork daemon",
            about: "The leader stays; it double-forks a daemon that calls `setsid` (new session and process group, reparented away from the leader). The run is aborted after both printed. A group kill misses the daemon; a descendant snapshot finds it only if taken while the intermediate still linked it to the leader.",
            why: "By the time of the abort the daemon has been reparented (to pid 1 or the nearest subreaper), so a `pgrep -P`/`ps --ppid` walk from the leader cannot see it and a group kill misses its new session. The leader dies; the daemon keeps the pipes, so an API that waits for EOF (baseline `run()`, execa, tree-kill's 'close') hangs, and the shell tool returns after its 1 s cap with the daemon still running. kennel's cgroup (or, without one, the keeper, the tree's subreaper) holds the daemon however it detached.",
            criterion: "final status within G + 2 s of the abort, and neither the leader nor the daemon alive 0.5 s after it",
            spec: || Spec::new(&["daemon", "--leader-stays"]).on_lines(2),
            settle: MS(500),
            bound: S(12),
            check: |ev| ended_tree(ev, 2000 + 2000),
            windows: OnWindows::Runs(WinShape {
                spec: || Spec::new(&["daemon", "--leader-stays"]).timeout(2500),
                check: None,
                about: "The leader stays; it starts the daemon with `DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP` (no console, its own console group), first also with `CREATE_BREAKAWAY_FROM_JOB`, the one way out of a Job Object (refused inside kennel's job, which has no `JOB_OBJECT_LIMIT_BREAKAWAY_OK`; the fixture then starts it without). A console control event to the leader's group misses the daemon (its own group, no console); only the job holds it.",
            }),
        },
        Fixture {
            id: "cgroup-escape",
            title: "cgroup escape, then a `setsid` daemon",
            about: "As the daemon row, but the daemon first moves itself out of its cgroup into the one above it (writes its pid to the parent cgroup's `cgroup.procs`, as a root child can): under kennel's cgroup tier that is kennel's own cgroup. A containment that trusts the cgroup alone loses the daemon. The run is aborted after both printed.",
            why: "The Node implementations use no cgroups, so the move changes nothing for them and they fail as in the daemon row: the daemon has been reparented away from the leader, out of the group, and holds the pipes. kennel's cgroup no longer holds the daemon, but the final sweep of every way a run ends finds it — an orphan adopted by kennel (the sidecar and `kennel run` are child subreapers) in no live tree's cgroup — kills it, and names it in the outcome's `escapees_killed`.",
            criterion: "final status within G + 2 s of the abort, and neither the leader nor the daemon alive 0.5 s after it",
            spec: || Spec::new(&["daemon", "--leader-stays", "--leave-cgroup"]).on_lines(2),
            settle: MS(500),
            bound: S(12),
            check: |ev| ended_tree(ev, 2000 + 2000),
            windows: OnWindows::Not("cgroups are Linux's; the Windows way out of a Job Object, breakaway, is tried in the daemon row"),
        },
        Fixture {
            id: "nohup",
            title: "`nohup … &` left behind by a leader that exits 0",
            about: "The leader starts a `nohup`-style child (ignores SIGHUP, stdio on /dev/null) and exits 0 without being aborted. The pipes reach EOF at once, so every implementation reports success; the question is whether the child is still running afterwards.",
            why: "Nothing goes wrong from the caller's point of view — the leader exited 0 and the pipes reached EOF — so every Node implementation reports success and never looks for what the leader left behind. kennel checks its containment after a natural exit and runs the ladder on leftovers (`leftoversKilled` in the outcome).",
            criterion: "final status reports exit 0, and no process of the tree alive 0.5 s after the final status",
            spec: || Spec::new(&["nohup"]),
            settle: MS(500),
            bound: S(12),
            check: |ev| check_all(ev, vec![need_code(0), Box::new(survivors_none)]),
            windows: OnWindows::Runs(WinShape {
                spec: || Spec::new(&["nohup"]),
                check: None,
                about: "The leader starts a child with `DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP` (no console, so no console control event can reach it: the Windows `nohup`), which prints its line, points its stdout and stderr at `NUL` and sleeps; the leader exits 0. `CreateProcess` with inheritance on hands the child every inheritable handle of the leader, so the child still holds copies of the pipes and they reach EOF only after kennel's drain timeout.",
            }),
        },
        Fixture {
            id: "ignore-term",
            title: "SIGTERM-ignoring tree (escalation)",
            about: "The 7-process tree ignores SIGTERM, SIGINT and SIGHUP; only SIGKILL ends it. The abort must escalate after the grace (G = 1 s) and reach every process, not only the root.",
            why: "The baseline, the shell tool and tree-kill escalate to SIGKILL for every process they know of, and their snapshot is complete here, so they pass: after the grace, or sooner for the shell tool, whose root (`/bin/sh`) dies on SIGTERM, which sends its ladder straight to SIGKILL of the snapshot. execa's `forceKillAfterDelay` SIGKILLs the direct child only; the six SIGTERM-ignoring descendants survive and hold the pipes, so execa hangs.",
            criterion: "final status within G + 3 s of the abort, and no process of the tree alive 0.5 s after it",
            spec: || {
                Spec::new(&["tree", "--depth", "3", "--width", "2", "--ignore-term"])
                    .grace(1000)
                    .on_lines(7)
            },
            settle: MS(500),
            bound: S(12),
            check: |ev| ended_tree(ev, 1000 + 3000),
            windows: OnWindows::Runs(WinShape {
                spec: || {
                    Spec::new(&["tree", "--depth", "3", "--width", "2", "--ignore-term"])
                        .grace(1000)
                        .timeout(4000)
                },
                check: None,
                about: "Every node installs a console control handler that returns TRUE (it swallows Ctrl-C, Ctrl-Break and close). Under Wine kennel's graceful rung (`GenerateConsoleCtrlEvent`) cannot be delivered at all, so kennel goes straight to `TerminateJobObject` and records the failure in the outcome's `errors`; the escalation after the grace with the event delivered and swallowed is the real-Windows test `signals::a_tree_that_swallows_ctrl_break_is_killed_after_the_grace`.",
            }),
        },
        Fixture {
            id: "stopped",
            title: "SIGSTOP-ed tree",
            about: "A 4-process tree in which every process stopped itself (state T) is aborted with G = 3 s. A stopped process does not act on SIGTERM until it is continued, so a ladder that does not send SIGCONT waits out the whole grace and ends the tree with SIGKILL, skipping its cleanup.",
            why: "SIGTERM to a stopped process stays pending until SIGCONT. The baseline and tree-kill send SIGTERM, wait the full grace for an exit that cannot come, and only then SIGKILL: the tree dies without its graceful shutdown, G late. The shell tool passes by accident: its root is `/bin/sh`, which is not stopped and dies on SIGTERM at once, so the ladder goes straight to SIGKILL of the snapshot. execa SIGKILLs only the root; the stopped descendants keep the pipes and execa hangs. kennel sends SIGCONT with the first signal.",
            criterion: "the tree is gone and the final status arrives before the grace expires (< G after the abort), i.e. the graceful signal worked on the stopped tree",
            spec: || {
                let mut s = Spec::new(&["tree", "--depth", "2", "--width", "3", "--stop"]).grace(3000);
                s.trigger = Some(Trigger {
                    text: Some("stopped\n".into()),
                    root_stopped: true,
                    ..Trigger::default()
                });
                s
            },
            settle: MS(500),
            bound: S(12),
            check: |ev| check_all(ev, vec![final_after_trigger_below(3000), Box::new(survivors_none)]),
            windows: OnWindows::Runs(WinShape {
                spec: || {
                    Spec::new(&["tree", "--depth", "2", "--width", "3", "--stop"])
                        .grace(3000)
                        .timeout(4000)
                },
                check: Some(|ev| {
                    check_all(
                        ev,
                        vec![Box::new(printed("stopped\n")), final_after_trigger_below(3000), Box::new(survivors_none)],
                    )
                }),
                about: "Windows has no SIGSTOP; its counterpart is a process whose threads are all suspended (`NtSuspendProcess`, what a debugger or Process Explorer's \"Suspend\" does). Every node suspends its children once their subtrees are suspended; the root prints `stopped` and suspends itself; the abort is a 4 s timeout, and the cell fails unless `stopped` was printed before it. A suspended process runs no console control handler, so only a kill ends it.",
            }),
        },
        Fixture {
            id: "hold-pipe",
            title: "background process holding stdout (`cmd &`)",
            about: "The leader exits 0 after a reparented grandchild (the holder) started; the holder keeps stdout and stderr open and sleeps forever. Nothing is aborted: a call that waits for EOF on the pipes never returns unless something bounds the drain and deals with the holder.",
            why: "Every Node implementation treats 'the pipes reached EOF' as part of 'the process finished' with no bound (the baseline's `run()` by design, execa, 'close'); the shell tool's 1 s cap only starts after a kill, and nobody asked for one. kennel bounds the drain (1 s after the leader's exit by default), kills the holder with the tree's leftovers and reports `drain: timeout`.",
            criterion: "final status within 5 s of the start (kennel's drain timeout is 1 s), and the holder not alive 0.5 s after it; no final status within 15 s is a hang",
            spec: || Spec::new(&["hold-pipe"]),
            settle: MS(500),
            bound: S(15),
            check: |ev| check_all(ev, vec![final_from_start_below(5000), Box::new(survivors_none)]),
            windows: OnWindows::Runs(WinShape {
                spec: || Spec::new(&["hold-pipe"]),
                check: None,
                about: "Leader → intermediate → holder: the holder inherits the stdout handle, prints its line and sleeps; the intermediate exits once it printed, the leader (exit 0) once the intermediate exited — the Windows hang users report when a build tool leaves a server running.",
            }),
        },
        Fixture {
            id: "drain-race",
            title: "timeout + slow output drain race",
            about: "A fast producer writes the text pattern in 4 KiB writes (atomic on a pipe) and records after each completed write how much it wrote; the consumer blocks 10 ms on every chunk; a 1 s timeout aborts mid-stream. Whatever the producer's writes put in the pipe before it died must be delivered, in order and unaltered, before the final status — not cut by a drain timer that counts the consumer's slowness, not dropped after a fixed join.",
            why: "Every implementation passes here: a Node consumer reads a pipe only when its event loop is free, so at most about one pipe's worth (64 KiB) is in flight when the producer dies, and it arrives within the shell tool's 1 s cap. The cap would cut output that the tree still writes more than 1 s after the kill (a slow graceful shutdown), which this fixture does not produce. kennel holds more in flight (its bounded queues, the sidecar's events) and still delivers all of it before the exit: its drain timer does not count time spent waiting for a slow consumer.",
            criterion: "stdout delivered before the final status is an exact prefix of the pattern and at least as long as the producer's count file; no process alive 0.5 s after the final status",
            spec: || {
                let mut s = Spec::new(&["counted-flood", "--bytes", "1073741824", "--count-file", "{count}"]);
                s.trigger = Some(Trigger {
                    after_ms: Some(1000),
                    ..Trigger::default()
                });
                s.slow_ms_per_chunk = Some(10);
                s
            },
            settle: MS(500),
            bound: S(60),
            check: |ev| check_all(ev, vec![Box::new(drain_complete), Box::new(survivors_none)]),
            windows: OnWindows::Runs(WinShape { spec: || {
                let mut s = Spec::new(&["counted-flood", "--bytes", "1073741824", "--count-file", "{count}"]).timeout(3000);
                s.slow_ms_per_chunk = Some(10);
                s
            }, check: None, about: "" }),
        },
        Fixture {
            id: "stdin-abort",
            title: "abort during an in-flight stdin write",
            about: "The child never reads stdin; the caller writes 4 MiB in one call (the pipe takes 64 KiB, the rest stays in flight) and aborts right after the child printed its pid. The pending write fails with EPIPE when the child dies; an implementation that surfaces that as an unhandled 'error' event crashes the caller.",
            why: "Node reports EPIPE on `child.stdin` as an 'error' event; code that writes without a listener (the baseline's and the shell tool's callers, plain `spawn` under tree-kill) crashes on an uncaught exception when the reader dies first. Whether it surfaces is a race with Node handling the child's exit, which destroys stdin, so these cells can flip between runs; the crash is possible whenever they fail once. execa attaches its own handlers and reports the error in its result; kennel's client discards writes to a child that is gone, and `kennel run` passes its stdin to the child directly.",
            criterion: "no uncaught exception/unhandled rejection in the caller, final status within G + 2 s of the abort, no survivors",
            spec: || {
                let mut s = Spec::new(&["never-read-stdin"]).on_lines(1);
                s.stdin_bytes = Some(4 << 20);
                s
            },
            settle: MS(500),
            bound: S(12),
            check: |ev| check_all(ev, vec![Box::new(no_uncaught), final_after_trigger_below(4000), Box::new(survivors_none)]),
            windows: OnWindows::Runs(WinShape { spec: || {
                let mut s = Spec::new(&["never-read-stdin"]).timeout(4000);
                s.stdin_bytes = Some(4 << 20);
                s
            }, check: None, about: "" }),
        },
        Fixture {
            id: "supervisor-sigterm",
            title: "signal forwarding: SIGTERM to the supervisor",
            about: "A 3-process tree runs; the supervising process itself gets SIGTERM (for the Node columns: the Node process, with Node's default disposition; for `kennel run`: kennel). The tree must end with it instead of being orphaned.",
            why: "With Node's default disposition a SIGTERM ends the Node process at once and nothing tells its children: they are reparented and run on. execa's `cleanup` (signal-exit) catches the signal and kills the direct child only, so its grandchildren survive. kennel's sidecar sees EOF on its stdin when the Node process dies and runs the ladder on every child; `kennel run` catches the signal and runs the ladder itself.",
            criterion: "no process of the tree alive 5 s after the signal",
            spec: || Spec::new(&["tree", "--depth", "2", "--width", "2"]).on_lines(3).action(Action::SigtermSelf),
            settle: S(5),
            bound: S(12),
            check: |ev| check_all(ev, vec![Box::new(survivors_none)]),
            windows: OnWindows::Not("POSIX signals to the supervisor; the Windows equivalent is a console control event (needs real Windows)"),
        },
        Fixture {
            id: "supervisor-sigint",
            title: "signal forwarding: SIGINT to the supervisor",
            about: "As above with SIGINT, as `kill -INT` sends it (to the supervisor's pid only, not to a terminal's whole foreground group).",
            why: "As for SIGTERM: Node's default SIGINT disposition exits without touching the children, execa's `cleanup` reaches the direct child only.",
            criterion: "no process of the tree alive 5 s after the signal",
            spec: || Spec::new(&["tree", "--depth", "2", "--width", "2"]).on_lines(3).action(Action::SigintSelf),
            settle: S(5),
            bound: S(12),
            check: |ev| check_all(ev, vec![Box::new(survivors_none)]),
            windows: OnWindows::Not("POSIX signals to the supervisor; the Windows equivalent is a console control event (needs real Windows)"),
        },
        Fixture {
            id: "supervisor-sigkill",
            title: "supervisor killed with SIGKILL",
            about: "A 7-process tree runs; the supervising process is killed with SIGKILL, so no handler of it runs. Only something outside the supervisor's own code (a keeper process, a cgroup, a Job Object, parent-death signals) can end the tree.",
            why: "No code of the supervisor runs, so every Node implementation leaves the whole tree behind (execa's `cleanup` cannot run either). kennel's guard process (one per supervisor for cgroup trees; a keeper per tree without a cgroup) holds the containment and kills the tree when its socket to kennel closes, which the kernel guarantees on any death; on Windows the Job Object's `KILL_ON_JOB_CLOSE` does the same.",
            criterion: "no process of the tree alive 5 s after the SIGKILL",
            spec: || Spec::new(&["tree", "--depth", "3", "--width", "2"]).on_lines(7).action(Action::SigkillSelf),
            settle: S(5),
            bound: S(12),
            check: |ev| check_all(ev, vec![Box::new(survivors_none)]),
            windows: OnWindows::Runs(WinShape { spec: || {
                let mut s = Spec::new(&["tree", "--depth", "3", "--width", "2"]).action(Action::SigkillSelf);
                s.trigger = Some(Trigger { after_ms: Some(5000), ..Trigger::default() });
                s
            }, check: None, about: "" }),
        },
        Fixture {
            id: "child-signals-supervisor",
            title: "a child signals its supervisor",
            about: "The leader sends SIGTERM to its parent — the supervising process: the Node process for the Node columns, the sidecar or `kennel run` for kennel — and SIGHUP to the parent's process group if the parent leads one, waits until the parent has taken them (no longer pending in `/proc/<parent>/status`: standard signals do not queue, and an abort sent while the child's SIGTERM is pending would be merged into it and lost), then prints its pid line and sleeps; the run is aborted after that line. A supervisor that obeys its children can be shut down by any command it runs, and every other child with it.",
            why: "Node's default SIGTERM disposition ends the Node process at once: the call never returns and the tree is orphaned (execa's `cleanup` kills the direct child only, the shell tool's and the baseline's callers die with Node). kennel reads the sender's pid of SIGINT/TERM/HUP (`SA_SIGINFO`): a signal from a process of a supervised tree is logged and ignored, and the abort then ends the tree as usual.",
            criterion: "final status within G + 2 s of the abort (the supervisor survived its child's signals), and no process of the tree alive 0.5 s after it",
            spec: || Spec::new(&["signal-parent"]).on_lines(1),
            settle: MS(500),
            bound: S(12),
            check: |ev| ended_tree(ev, 2000 + 2000),
            windows: OnWindows::Not("POSIX signals; a Windows child can end its supervisor only with `TerminateProcess`, which no process can refuse"),
        },
        Fixture {
            id: "fork-loop",
            title: "fork loop during the kill",
            about: "A chain of up to 1000 processes, each forking the next as fast as it can, is aborted as soon as the first printed (G = 1 s). Processes forked after a one-time descendant snapshot, or between the reads of a /proc walk, escape a snapshot-based kill.",
            why: "A one-time `pgrep -P`/`ps` snapshot lists the processes that existed when it ran; the chain keeps forking, so newer members are never signalled, keep the pipes open, and the call hangs with hundreds of processes left. execa does not try. kennel's cgroup `cgroup.kill` is atomic against forks; without a cgroup the keeper sweeps its orphans until none are left.",
            criterion: "final status within G + 5 s of the abort, and no process of the chain alive 0.5 s after it",
            spec: || Spec::new(&["fork-loop", "--count", "1000"]).grace(1000).on_lines(1),
            settle: MS(500),
            bound: S(15),
            check: |ev| ended_tree(ev, 1000 + 5000),
            windows: OnWindows::Runs(WinShape {
                spec: || Spec::new(&["fork-loop", "--count", "200"]).grace(1000).timeout(2500),
                check: None,
                about: "A chain of up to 200 processes, each starting the next with `CreateProcess` as fast as it can (a Windows process starts in tens of ms, a Wine one in hundreds, so the chain is still growing); the abort is a 2.5 s timeout.",
            }),
        },
        Fixture {
            id: "fork-bomb",
            title: "fork bomb under a process limit",
            about: "The child tries 300 forks; each child sleeps forever. The caller asks for at most 64 live processes in the tree (kennel: `--pids-max 64` / `limits: { pidsMax: 64 }`); the leader prints how many forks started and how many were refused, and exits 0.",
            why: "None of the Node helpers bounds a tree: all 300 forks succeed (and, with nothing to tear the tree down, the 300 sleepers outlive the call). kennel puts the tree in a pids cgroup: fork 64 fails with EAGAIN inside the tree, never in the supervisor, and the refused forks are counted in the outcome's `usage.forks_refused`; the leftovers are killed when the leader exits.",
            criterion: "fewer than 64 forks started (the leader's `forks` line), a final status, and no process of the tree alive 0.5 s after it",
            spec: || Spec::new(&["fork-bomb", "--count", "300", "--exit"]).limits(JobLimits { pids_max: Some(64), ..JobLimits::default() }),
            settle: MS(500),
            bound: S(15),
            check: |ev| check_all(ev, vec![Box::new(forks_bounded), Box::new(survivors_none)]),
            windows: OnWindows::Not("Wine 8 enforces no Job Object limit, so kennel refuses limits there (unsupported); see DECISIONS, issue 18"),
        },
        Fixture {
            id: "memory-hog",
            title: "memory hog under a memory limit",
            about: "The child allocates and touches 1 GiB, 1 MiB at a time, then prints `allocated 1024`. The caller asks for at most 64 MiB for the tree (kennel: `--memory-max 64M` / `limits: { memoryMaxBytes }`).",
            why: "None of the Node helpers bounds memory: the allocation succeeds. kennel puts the tree in a memory cgroup without swap escape: at 64 MiB the kernel's OOM notification arrives and kennel kills the whole tree (`reason: \"memory_limit\"`, SIGKILL).",
            criterion: "the child is killed (SIGKILL or 137) before it printed `allocated`, and nothing of the tree is left",
            spec: || Spec::new(&["alloc", "--mib", "1024"]).limits(JobLimits { memory_max_bytes: Some(64 << 20), ..JobLimits::default() }),
            settle: MS(500),
            bound: S(60),
            check: |ev| check_all(ev, vec![Box::new(memory_bounded), Box::new(survivors_none)]),
            windows: OnWindows::Not("Wine 8 enforces no Job Object limit, so kennel refuses limits there (unsupported); see DECISIONS, issue 18"),
        },
        Fixture {
            id: "binary-50m",
            title: "50 MiB of binary, invalid-UTF-8 output",
            about: "The child writes 50 MiB of the binary pattern (NUL, 0xFF, invalid UTF-8, a `€` split across writes) and exits 0. Every byte must arrive unaltered — no decoding, no cap, no truncation.",
            why: "Every implementation passes: all of them keep bytes as Buffers and none caps the output. (Node's `run()`-style helpers that call `toString()` on the output would not; the baseline does not.)",
            criterion: "exit 0 reported, stdout exactly 52428800 bytes with the pattern's SHA-256, delivered before the final status",
            spec: || Spec::new(&["binary", "--bytes", "52428800"]),
            settle: MS(500),
            bound: S(120),
            check: |ev| check_all(ev, vec![need_code(0), Box::new(binary_exact), Box::new(survivors_none)]),
            windows: OnWindows::Runs(WinShape { spec: || Spec::new(&["binary", "--bytes", "52428800"]), check: None, about: "" }),
        },
        Fixture {
            id: "signal-exit",
            title: "exit by signal reported as such",
            about: "The child kills itself with SIGSEGV. The caller must be able to tell a crash from an ordinary failure: the status must name the signal (or use the shell's 128 + N), not collapse into exit code 1.",
            why: "The baseline's `code ?? (signal ? 1 : 0)` turns every death by signal into exit code 1, the same as an ordinary failure. The shell tool gets 139 from `/bin/sh`, which encodes the signal as 128 + 11 (a number, not a name). execa and plain `spawn` ('close') report the signal; kennel reports both (`signal SIGSEGV`, status 139).",
            criterion: "the reported status names SIGSEGV, or is 139 (the shell's 128 + 11)",
            spec: || Spec::new(&["kill-self", "SEGV"]),
            settle: MS(500),
            bound: S(12),
            check: |ev| check_all(ev, vec![Box::new(reports_sigsegv)]),
            windows: OnWindows::Runs(WinShape {
                spec: || Spec::new(&["crash", "access-violation"]),
                check: Some(|ev| check_all(ev, vec![Box::new(reports_access_violation)])),
                about: "Windows has no signals: the child writes to an unmapped address and dies of the unhandled exception, whose NTSTATUS (`STATUS_ACCESS_VIOLATION`, 0xC0000005) becomes its exit code. *Pass criterion there:* the reported status carries 0xC0000005 (as the code or by name), not 1 or a truncated byte.",
            }),
        },
    ]
}

impl Spec {
    fn timeout(mut self, ms: u64) -> Spec {
        self.trigger = Some(Trigger {
            after_ms: Some(ms),
            ..Trigger::default()
        });
        self
    }
}

type Check = Box<dyn Fn(&Evidence) -> Result<String, String>>;

/// Runs `checks` in order: PASS when all pass; the evidence joins what each measured.
fn check_all(ev: &Evidence, checks: Vec<Check>) -> Verdict {
    let mut notes = Vec::new();
    let mut fails = Vec::new();
    // A hang or a missing final status is reported first, whatever the checks are.
    if let Some(after) = ev.hang_after {
        fails.push(format!("hang: no final status after {} s", after.as_secs()));
    }
    for c in &checks {
        match c(ev) {
            Ok(n) if !n.is_empty() => notes.push(n),
            Ok(_) => {}
            Err(f) => fails.push(f),
        }
    }
    if !ev.lingering.is_empty() {
        fails.push(format!(
            "supervisor processes left 5 s after the driver exited: {}",
            list(&ev.lingering)
        ));
    }
    fails.dedup();
    if let Some(r) = &ev.result {
        notes.push(format!("status `{}`", r.status));
    }
    let pass = fails.is_empty();
    let mut evidence = fails;
    evidence.extend(notes);
    Verdict {
        pass,
        evidence: evidence.join("; "),
    }
}

fn ended_tree(ev: &Evidence, limit_ms: u64) -> Verdict {
    check_all(
        ev,
        vec![
            final_after_trigger_below(limit_ms),
            Box::new(survivors_none),
        ],
    )
}

/// Up to 4 processes, then a count.
pub fn list(ps: &[Proc]) -> String {
    let mut s: Vec<String> = ps.iter().take(4).map(|p| p.to_string()).collect();
    if ps.len() > 4 {
        s.push(format!("and {} more", ps.len() - 4));
    }
    s.join(", ")
}

fn result(ev: &Evidence) -> Result<&DriverResult, String> {
    match (&ev.result, ev.hang_after, ev.driver_ended) {
        (Some(r), _, _) => Ok(r),
        (None, Some(after), _) => Err(format!("hang: no final status after {} s", after.as_secs())),
        (None, None, Some(e)) => Err(format!(
            "the caller died ({e}) before a final status{}",
            if ev.driver_log.is_empty() {
                String::new()
            } else {
                format!(": {}", ev.driver_log)
            }
        )),
        (None, None, None) => Err("no final status".into()),
    }
}

fn survivors_none(ev: &Evidence) -> Result<String, String> {
    let tree = tree_size(ev);
    if ev.result.is_none() && ev.hang_after.is_none() && ev.fired.is_none() {
        // The driver died without acting: nothing was tested.
        return Err(result(ev).err().unwrap_or_default());
    }
    if ev.survivors.is_empty() {
        if !ev.wine_deadlocked.is_empty() {
            let (p, why) = &ev.wine_deadlocked[0];
            return Ok(format!(
                "tree{tree} gone but for {} bare Wine loader(s) that a kill cut short at creation, deadlocked before the program ran (Wine skips them in TerminateJobObject; {p}: {why}), removed by the harness",
                ev.wine_deadlocked.len()
            ));
        }
        if let Some((n, after)) = ev.late_loaders {
            return Ok(format!(
                "tree{tree} gone ({n} Wine loader(s) of processes cut short at creation exited {} ms after the settle)",
                after.as_millis()
            ));
        }
        if ev.result.is_none() && ev.hang_after.is_none() {
            Ok(format!(
                "tree{tree} gone {} ms after the supervisor died",
                ev.gone_after.as_millis()
            ))
        } else {
            Ok(format!("tree{tree} gone"))
        }
    } else {
        Err(format!(
            "{} of the tree{tree} alive: {}",
            ev.survivors.len(),
            list(&ev.survivors)
        ))
    }
}

fn tree_size(ev: &Evidence) -> String {
    let head = match (&ev.result, &ev.fired) {
        (Some(r), _) => &r.stdout_head,
        (None, Some(f)) => &f.stdout_head,
        (None, None) => return String::new(),
    };
    let head = base64::engine::general_purpose::STANDARD
        .decode(head)
        .unwrap_or_default();
    match kennel_tests::parse_pid_lines(&head).len() {
        0 => String::new(),
        n => format!(" ({n} pid lines)"),
    }
}

fn final_after_trigger_below(limit_ms: u64) -> Check {
    Box::new(move |ev| after_trigger(ev, limit_ms))
}

fn after_trigger(ev: &Evidence, limit_ms: u64) -> Result<String, String> {
    let r = result(ev)?;
    let Some(t) = r.trigger_ms else {
        return Err(format!(
            "ended before the abort fired (status `{}` at {} ms)",
            r.status, r.final_ms
        ));
    };
    let took = r.final_ms.saturating_sub(t);
    if took < limit_ms {
        Ok(format!("final status {took} ms after the abort"))
    } else {
        Err(format!(
            "final status {took} ms after the abort (limit {limit_ms} ms)"
        ))
    }
}

fn final_from_start_below(limit_ms: u64) -> Check {
    Box::new(move |ev| from_start(ev, limit_ms))
}

fn from_start(ev: &Evidence, limit_ms: u64) -> Result<String, String> {
    let r = result(ev)?;
    if r.final_ms < limit_ms {
        Ok(format!("final status after {} ms", r.final_ms))
    } else {
        Err(format!(
            "final status after {} ms (limit {limit_ms} ms)",
            r.final_ms
        ))
    }
}

/// The fixture's stdout as far as the driver kept it (the first 256 KiB).
fn stdout_head(ev: &Evidence) -> String {
    let head = ev
        .result
        .as_ref()
        .map(|r| r.stdout_head.as_str())
        .unwrap_or("");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(head)
        .unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// `fork-bomb`: the leader's `forks <started> <refused>` shows fewer than 64 started.
fn forks_bounded(ev: &Evidence) -> Result<String, String> {
    result(ev)?;
    let text = stdout_head(ev);
    let counts = text
        .lines()
        .find_map(|l| l.strip_prefix("forks "))
        .and_then(|r| r.split_once(' '))
        .and_then(|(s, r)| Some((s.parse::<u32>().ok()?, r.parse::<u32>().ok()?)));
    match counts {
        Some((started, refused)) if started < 64 => {
            Ok(format!("{started} forks started, {refused} refused"))
        }
        Some((started, _)) => Err(format!("{started} forks started: the tree was not bounded")),
        None => Err("no `forks` line from the leader".into()),
    }
}

/// `memory-hog`: killed before the allocation finished.
fn memory_bounded(ev: &Evidence) -> Result<String, String> {
    let r = result(ev)?;
    if stdout_head(ev).contains("allocated") {
        return Err(format!("1 GiB allocated unbounded (status `{}`)", r.status));
    }
    if r.signal.as_deref() == Some("SIGKILL") || r.code == Some(137) {
        Ok("killed at the limit".into())
    } else {
        Err(format!(
            "status `{}`, expected a kill at the limit",
            r.status
        ))
    }
}

fn need_code(code: i64) -> Check {
    Box::new(move |ev| {
        let r = result(ev)?;
        if r.code == Some(code) {
            Ok(String::new())
        } else {
            Err(format!("status `{}`, expected exit {code}", r.status))
        }
    })
}

fn no_uncaught(ev: &Evidence) -> Result<String, String> {
    let r = result(ev)?;
    if r.uncaught.is_empty() {
        Ok(String::new())
    } else {
        Err(format!(
            "the caller would have crashed: uncaught {}",
            r.uncaught.join(" | ")
        ))
    }
}

fn reports_sigsegv(ev: &Evidence) -> Result<String, String> {
    let r = result(ev)?;
    if r.signal.as_deref() == Some("SIGSEGV") {
        Ok(String::new())
    } else if r.code == Some(139) {
        Ok("139 = 128 + SIGSEGV, the signal itself is not named".into())
    } else {
        Err(format!(
            "status `{}`: the crash is indistinguishable from `exit(1)`",
            r.status
        ))
    }
}

/// The tree printed `text` before the final status (the fixture reached its shape).
fn printed(text: &'static str) -> impl Fn(&Evidence) -> Result<String, String> {
    move |ev| {
        let r = result(ev)?;
        let head = base64::engine::general_purpose::STANDARD
            .decode(&r.stdout_head)
            .unwrap_or_default();
        if head.windows(text.len()).any(|w| w == text.as_bytes()) {
            Ok(String::new())
        } else {
            Err(format!(
                "{:?} was not printed before the final status",
                text.trim()
            ))
        }
    }
}

/// `STATUS_ACCESS_VIOLATION`.
const ACCESS_VIOLATION: u32 = 0xC000_0005;

fn reports_access_violation(ev: &Evidence) -> Result<String, String> {
    let r = result(ev)?;
    let code = r.code.map(|c| c as u32);
    if r.status.contains("STATUS_ACCESS_VIOLATION") {
        Ok(String::new())
    } else if code == Some(ACCESS_VIOLATION) {
        Ok(format!(
            "{} = 0xC0000005 STATUS_ACCESS_VIOLATION, the NTSTATUS as the exit code (this interface does not name it)",
            r.code.unwrap_or_default()
        ))
    } else {
        Err(format!(
            "status `{}`: the crash is not reported as STATUS_ACCESS_VIOLATION",
            r.status
        ))
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

fn binary_exact(ev: &Evidence) -> Result<String, String> {
    let r = result(ev)?;
    let want = kennel_tests::binary_pattern(BINARY_BYTES as usize);
    if r.stdout_bytes == BINARY_BYTES && r.stdout_sha256 == sha256_hex(&want) {
        return Ok(format!("52428800 bytes exact in {} ms", r.final_ms));
    }
    let lost = BINARY_BYTES as i64 - r.stdout_bytes as i64;
    Err(format!(
        "{} bytes before the final status ({} lost{}), {}",
        r.stdout_bytes,
        lost,
        if r.stdout_bytes_late > 0 {
            format!(", {} arrived after it", r.stdout_bytes_late)
        } else {
            String::new()
        },
        if r.stdout_bytes == BINARY_BYTES {
            "content differs"
        } else {
            "length differs"
        }
    ))
}

fn drain_complete(ev: &Evidence) -> Result<String, String> {
    let r = result(ev)?;
    let written = ev
        .count_file
        .ok_or("the producer's count file is missing")?;
    let got = r.stdout_bytes;
    let prefix_ok = r.stdout_sha256 == sha256_hex(&kennel_tests::text_pattern(got as usize));
    let mut problems = Vec::new();
    if !prefix_ok {
        problems.push(
            "the delivered bytes are not the pattern's prefix (reordered or altered)".to_string(),
        );
    }
    if got < written {
        problems.push(format!(
            "{} of the {written} bytes written were not delivered before the final status{}",
            written - got,
            if r.stdout_bytes_late > 0 {
                format!(" ({} arrived after it)", r.stdout_bytes_late)
            } else {
                String::new()
            }
        ));
    }
    if problems.is_empty() {
        Ok(format!(
            "{got} bytes delivered ≥ {written} written, in order; final status {} ms after the timeout",
            r.final_ms.saturating_sub(r.trigger_ms.unwrap_or(0))
        ))
    } else {
        Err(problems.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(status: &str, code: Option<i64>, signal: Option<&str>) -> DriverResult {
        DriverResult {
            status: status.into(),
            code,
            signal: signal.map(Into::into),
            trigger_ms: Some(100),
            final_ms: 200,
            ..Default::default()
        }
    }

    #[test]
    fn fixture_ids_are_unique() {
        let f = all();
        let mut ids: Vec<_> = f.iter().map(|f| f.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), f.len());
    }

    #[test]
    fn at_least_12_fixtures_run_on_windows() {
        // Issue 19: only the two POSIX-signal-to-the-supervisor rows are Unix-only;
        // issue 18: the limits rows too, as Wine enforces no Job Object limit; issue 20:
        // the cgroup escape and a child's POSIX signals to its supervisor.
        let not: Vec<&str> = all()
            .iter()
            .filter(|f| matches!(f.windows, OnWindows::Not(_)))
            .map(|f| f.id)
            .collect();
        assert_eq!(
            not,
            [
                "cgroup-escape",
                "supervisor-sigterm",
                "supervisor-sigint",
                "child-signals-supervisor",
                "fork-bomb",
                "memory-hog"
            ]
        );
        assert!(all().len() - not.len() >= 12);
    }

    #[test]
    fn a_crash_must_carry_its_ntstatus() {
        let av = |r| {
            reports_access_violation(&Evidence {
                result: Some(r),
                ..Default::default()
            })
        };
        assert!(av(res("code -1073741819", Some(-1073741819), None)).is_ok());
        assert!(av(res("exit 3221225477", Some(3221225477), None)).is_ok());
        assert!(av(res("exit 5", Some(5), None)).is_err());
        assert!(av(res("code 1", Some(1), None)).is_err());
    }

    #[test]
    fn survivors_fail_a_cell_and_are_listed() {
        let ev = Evidence {
            result: Some(res("code 1", Some(1), None)),
            survivors: vec![Proc {
                pid: 42,
                cmdline: "kennel-fixture daemon".into(),
                exe: "kennel-fixture".into(),
                state: 'S',
            }],
            ..Default::default()
        };
        let v = ended_tree(&ev, 4000);
        assert!(!v.pass);
        assert!(
            v.evidence.contains("42 `kennel-fixture daemon`"),
            "{}",
            v.evidence
        );
    }

    #[test]
    fn late_wine_loaders_are_named_and_live_survivors_still_fail() {
        let mut ev = Evidence {
            result: Some(res("code 137", Some(137), None)),
            late_loaders: Some((1, MS(120))),
            ..Default::default()
        };
        let ok = survivors_none(&ev).unwrap();
        assert!(ok.contains("1 Wine loader(s)"), "{ok}");
        ev.survivors = vec![Proc {
            pid: 7,
            cmdline: "wine64 Z:\\kennel-fixture.exe".into(),
            exe: "wine64-preloader".into(),
            state: 'S',
        }];
        assert!(survivors_none(&ev).is_err());
    }

    #[test]
    fn deadlocked_wine_loaders_are_named_with_their_proof_and_survivors_still_fail() {
        let loader = Proc {
            pid: 7,
            cmdline: "/usr/lib/wine/wine64 Z:\\kennel-fixture.exe".into(),
            exe: "wine64-preloader".into(),
            state: 'S',
        };
        let mut ev = Evidence {
            result: Some(res("code 137", Some(137), None)),
            wine_deadlocked: vec![(loader.clone(), "blocked reading fd 4".into())],
            ..Default::default()
        };
        let ok = survivors_none(&ev).unwrap();
        assert!(
            ok.contains("1 bare Wine loader(s)") && ok.contains("blocked reading fd 4"),
            "{ok}"
        );
        ev.survivors = vec![loader];
        assert!(survivors_none(&ev).is_err());
    }

    #[test]
    fn a_hang_fails_whatever_else_was_seen() {
        let ev = Evidence {
            hang_after: Some(S(15)),
            ..Default::default()
        };
        let v = check_all(&ev, vec![Box::new(survivors_none)]);
        assert!(!v.pass);
        assert!(v.evidence.starts_with("hang: no final status after 15 s"));
    }

    #[test]
    fn signal_deaths_must_be_named() {
        let seg = |r| {
            check_all(
                &Evidence {
                    result: Some(r),
                    ..Default::default()
                },
                vec![Box::new(reports_sigsegv)],
            )
            .pass
        };
        assert!(!seg(res("code 1", Some(1), None)));
        assert!(seg(res("signal SIGSEGV (139)", Some(139), Some("SIGSEGV"))));
    }

    #[test]
    fn drain_needs_every_written_byte_in_order() {
        let body = kennel_tests::text_pattern(10_000);
        let mut r = res("x", Some(143), None);
        r.stdout_bytes = 10_000;
        r.stdout_sha256 = sha256_hex(&body);
        let ev = |r: DriverResult, written| Evidence {
            result: Some(r),
            count_file: Some(written),
            ..Default::default()
        };
        assert!(drain_complete(&ev(r.clone(), 9_000)).is_ok());
        assert!(drain_complete(&ev(r.clone(), 12_000)).is_err());
        r.stdout_sha256 = sha256_hex(&body[1..]);
        assert!(drain_complete(&ev(r, 9_000)).is_err());
    }
}
