//! The driver of the matrix's `kennel run` column: `kennel-matrix-cli-driver JOB.json`
//! with `KENNEL_BIN` naming the kennel binary (on Linux; under Wine, `KENNEL_BIN` is the
//! `.exe` and `KENNEL_MATRIX_WINE` the `wine` program that runs it).
//!
//! Same interface as the Node drivers (`baseline/drivers/common.js`, see
//! `kennel_matrix::job`): it runs `kennel run --grace G [--timeout T] --report FILE -- argv`
//! as a caller in a terminal would, consumes its stdout (slowly if asked), acts on the
//! trigger (abort = SIGTERM to `kennel run`, which runs the ladder; a timeout trigger is
//! `--timeout`; the `*-self` actions signal `kennel run`, the supervisor), writes the result
//! and waits for the harness's `<result>.release` file before exiting.

use std::io::{Read, Write};
use std::process::{Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use kennel_matrix::job::{
    extend_head, wait_for_release, write_result, Action, Clock, DriverResult, Job, TriggerWatch,
};
use sha2::{Digest, Sha256};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kennel-matrix-cli-driver: {e}");
            ExitCode::FAILURE
        }
    }
}

struct Shared {
    clock: Clock,
    /// Set before the supervisor is SIGKILLed: its result is written by `fire`.
    supervisor_killed: std::sync::atomic::AtomicBool,
    pid: u32,
    job: Job,
}

impl Shared {
    fn ms(&self) -> u64 {
        self.clock.ms()
    }

    /// Act (once).
    fn fire(&self) {
        if !self.clock.fire() {
            return;
        }
        if self.job.action == Action::SigkillSelf {
            self.supervisor_killed
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
        let sig = match self.job.action {
            Action::Abort | Action::SigtermSelf => Sig::Term,
            Action::SigkillSelf => Sig::Kill,
            Action::SigintSelf => Sig::Int,
        };
        signal(self.pid, sig);
        if self.job.action == Action::SigkillSelf {
            // The supervisor is gone: nobody reports a final status. Say so, then wait
            // for the harness (the tree may hold our stdout pipe forever).
            let result = DriverResult {
                r#impl: "kennel-cli".into(),
                status: "supervisor killed (SIGKILL)".into(),
                trigger_ms: self.clock.fired(),
                final_ms: self.ms(),
                ..Default::default()
            };
            let _ = write_result(&self.job.result_file, &result);
            wait_for_release(&self.job.result_file);
            std::process::exit(0);
        }
    }
}

#[derive(Clone, Copy)]
enum Sig {
    Term,
    Kill,
    Int,
}

#[cfg(unix)]
fn signal(pid: u32, sig: Sig) {
    use rustix::process::{kill_process, Pid, Signal};
    let s = match sig {
        Sig::Term => Signal::TERM,
        Sig::Kill => Signal::KILL,
        Sig::Int => Signal::INT,
    };
    if let Some(pid) = Pid::from_raw(pid as i32) {
        let _ = kill_process(pid, s);
    }
}

#[cfg(not(unix))]
fn signal(_pid: u32, _sig: Sig) {}

/// How much of kennel's stderr a result keeps.
const STDERR_HEAD: usize = 4096;

fn run() -> Result<(), String> {
    let job = Job::from_args("usage: kennel-matrix-cli-driver JOB.json")?;
    let kennel = std::env::var_os("KENNEL_BIN").ok_or("KENNEL_BIN is not set")?;
    let report_path = format!("{}.kennel-report.json", job.result_file);
    let _ = std::fs::remove_file(&report_path);

    let trigger = job.trigger.clone().unwrap_or_default();
    let timeout_flag = (job.action == Action::Abort)
        .then_some(trigger.after_ms)
        .flatten();
    let mut cmd = match std::env::var_os("KENNEL_MATRIX_WINE") {
        Some(wine) => {
            let mut c = Command::new(wine);
            c.arg(&kennel);
            c
        }
        None => Command::new(&kennel),
    };
    cmd.arg("run")
        .arg("--grace")
        .arg(format!("{}ms", job.grace_ms))
        .arg("--report")
        .arg(&report_path);
    if let Some(ms) = timeout_flag {
        cmd.arg("--timeout").arg(format!("{ms}ms"));
    }
    if let Some(limits) = job.limits {
        if let Some(bytes) = limits.memory_max_bytes {
            cmd.arg("--memory-max").arg(bytes.to_string());
        }
        if let Some(n) = limits.pids_max {
            cmd.arg("--pids-max").arg(n.to_string());
        }
    }
    cmd.arg("--")
        .args(&job.argv)
        .stdin(if job.stdin_bytes.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let t0 = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {kennel:?}: {e}"))?;
    let shared = Arc::new(Shared {
        // `--timeout` is kennel's own timer, started with it: the trigger time is known.
        clock: Clock::new(t0, timeout_flag),
        supervisor_killed: std::sync::atomic::AtomicBool::new(false),
        pid: child.id(),
        job: job.clone(),
    });

    if let (Some(n), Some(mut stdin)) = (job.stdin_bytes, child.stdin.take()) {
        std::thread::spawn(move || {
            // EPIPE when the tree dies first: an error the caller handles, not a crash.
            if let Err(e) = stdin.write_all(&vec![b'x'; n as usize]) {
                eprintln!("stdin write: {e}");
            }
        });
    }
    // Bytes seen, and the first `STDERR_HEAD` of them (kennel's own error, if any).
    let stderr = Arc::new(Mutex::new((0u64, Vec::new())));
    if let Some(mut err) = child.stderr.take() {
        let seen = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0; 65536];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
                seen.0 += n as u64;
                let room = STDERR_HEAD.saturating_sub(seen.1.len()).min(n);
                seen.1.extend_from_slice(&buf[..room]);
            }
        });
    }
    if let (Some(ms), None) = (trigger.after_ms, timeout_flag) {
        let s = shared.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(ms));
            s.fire();
        });
    }

    let mut out = child.stdout.take().ok_or("no stdout pipe")?;
    let mut hash = Sha256::new();
    let mut head = Vec::new();
    let mut total = 0u64;
    let mut buf = vec![0; 65536];
    let mut watch = TriggerWatch::new(trigger.clone());
    loop {
        let n = match out.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("reading kennel's stdout: {e}")),
        };
        total += n as u64;
        hash.update(&buf[..n]);
        if extend_head(&mut head, &buf[..n]) {
            let s = shared.clone();
            watch.check(&head, move || s.fire());
        }
        if let Some(ms) = job.slow_ms_per_chunk {
            std::thread::sleep(Duration::from_millis(ms));
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("waiting for kennel: {e}"))?;
    if shared
        .supervisor_killed
        .load(std::sync::atomic::Ordering::SeqCst)
    {
        // `fire` reports this run (and exits once released).
        wait_for_release(&job.result_file);
        return Ok(());
    }
    let final_ms = shared.ms();
    let report: serde_json::Value = std::fs::read(&report_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(serde_json::Value::Null);
    let signal_name = report
        .get("signal_name")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    // Under Wine the exit code of `wine` is only the low byte of the Windows code (an
    // NTSTATUS such as 0xC0000005 arrives as 5). When kennel.exe passed the child's code
    // through, its report has all of it.
    let code = status.code().map(i64::from);
    let child_code = report.get("code").and_then(|c| c.as_i64());
    let code = match (std::env::var_os("KENNEL_MATRIX_WINE"), code, child_code) {
        (Some(_), Some(low), Some(full)) if low != full && full & 0xff == low => Some(full),
        _ => code,
    };
    // Under Wine the `wine` process of kennel.exe was seen to end by SIGKILL (from
    // wineserver) after kennel had finished and written its report (docs/NOTES.md): no
    // Windows caller can see that. When the child exited on its own, kennel run's exit
    // status is the child's code, which the report has; say where it came from.
    let reason = report.get("reason").and_then(|r| r.as_str());
    let wine_killed = std::env::var_os("KENNEL_MATRIX_WINE").is_some() && code.is_none();
    let (code, note) = match (wine_killed, reason, child_code) {
        (true, Some("exited"), Some(full)) => (
            Some(full),
            format!(" from --report; Wine then ended the kennel.exe process by {status}"),
        ),
        _ => (code, String::new()),
    };
    let status_text = match (&signal_name, code) {
        (Some(name), Some(c)) => format!("exit {c} (child: {name}){note}"),
        (_, Some(c)) => format!("exit {c}{note}"),
        (_, None) => format!("kennel itself ended by {status}"),
    };
    let mut extra = serde_json::Map::new();
    for key in [
        "reason",
        "drain",
        "leftovers_killed",
        "containment",
        "forced",
        "errors",
    ] {
        if let Some(v) = report.get(key) {
            extra.insert(key.into(), v.clone());
        }
    }
    let (stderr_bytes, stderr_head) = {
        let seen = stderr.lock().unwrap_or_else(|e| e.into_inner());
        (seen.0, String::from_utf8_lossy(&seen.1).into_owned())
    };
    let result = DriverResult {
        r#impl: "kennel-cli".into(),
        code,
        signal: signal_name,
        status: status_text,
        stdout_bytes: total,
        stdout_sha256: format!("{:x}", hash.finalize()),
        stdout_head: base64::engine::general_purpose::STANDARD.encode(&head),
        stdout_bytes_late: 0,
        stderr_bytes,
        stderr_head,
        trigger_ms: shared.clock.fired(),
        final_ms,
        uncaught: Vec::new(),
        extra: serde_json::Value::Object(extra),
    };
    write_result(&job.result_file, &result)
        .map_err(|e| format!("cannot write {}: {e}", job.result_file))?;
    wait_for_release(&job.result_file);
    Ok(())
}
