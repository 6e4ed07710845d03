//! The driver of the matrix's process-wrap column: `kennel-matrix-process-wrap-driver
//! JOB.json`. The Rust peer a tokio user would pick instead of kennel: process-wrap's
//! tokio frontend with `ProcessGroup::leader()` and `KillOnDrop` (the whole group is
//! reaped on wait). This driver *is* the supervisor, as a Rust program using the crate
//! would be: an abort sends SIGTERM to the group, waits the grace, then kills the group
//! (`start_kill`), as process-wrap's docs suggest; the `*-self` actions signal this
//! process.
//!
//! Same interface as the Node drivers (`baseline/drivers/common.js`) and the `kennel
//! run` driver: it writes the result, then waits for the harness's `<result>.release`.

#[cfg(not(unix))]
fn main() -> std::process::ExitCode {
    eprintln!("kennel-matrix-process-wrap-driver runs on Unix only");
    std::process::ExitCode::FAILURE
}

#[cfg(unix)]
fn main() -> std::process::ExitCode {
    driver::main()
}

#[cfg(unix)]
mod driver {
    use std::os::unix::process::ExitStatusExt as _;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use base64::Engine;
    use kennel_matrix::job::{
        extend_head, wait_for_release, write_result, Action, Clock, DriverResult, Job, TriggerWatch,
    };
    use process_wrap::tokio::{CommandWrap, KillOnDrop, ProcessGroup};
    use sha2::{Digest, Sha256};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::sync::Notify;

    const NAME: &str = "process-wrap";

    pub(crate) fn main() -> std::process::ExitCode {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("kennel-matrix-process-wrap-driver: no runtime: {e}");
                return std::process::ExitCode::FAILURE;
            }
        };
        match rt.block_on(run()) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("kennel-matrix-process-wrap-driver: {e}");
                std::process::ExitCode::FAILURE
            }
        }
    }

    /// What the reader, the trigger and the supervisor share.
    struct Shared {
        clock: Clock,
        job: Job,
        abort: Notify,
        aborted: AtomicBool,
        head: Mutex<Vec<u8>>,
        /// Stdout bytes before the final status, after it, and their hash.
        counts: Mutex<(u64, u64, Sha256)>,
    }

    impl Shared {
        /// Act (once).
        fn fire(&self) {
            if !self.clock.fire() {
                return;
            }
            let sig = match self.job.action {
                Action::Abort => {
                    self.aborted.store(true, Ordering::SeqCst);
                    self.abort.notify_one();
                    return;
                }
                Action::SigkillSelf => rustix::process::Signal::KILL,
                Action::SigtermSelf => rustix::process::Signal::TERM,
                Action::SigintSelf => rustix::process::Signal::INT,
            };
            // This process is about to die: leave proof that it got this far.
            let head = self.head.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let fired = serde_json::json!({
                "triggerMs": self.clock.ms(),
                "stdoutHead": base64::engine::general_purpose::STANDARD.encode(&head),
            });
            let _ = std::fs::write(format!("{}.fired", self.job.result_file), fired.to_string());
            let _ = rustix::process::kill_process(rustix::process::getpid(), sig);
        }
    }

    async fn run() -> Result<(), String> {
        let job = Job::from_args("usage: kennel-matrix-process-wrap-driver JOB.json")?;
        let (program, args) = job.argv.split_first().ok_or("an empty argv")?;
        let t0 = Instant::now();
        let mut child = CommandWrap::with_new(program, |c| {
            c.args(args)
                .stdin(if job.stdin_bytes.is_some() {
                    std::process::Stdio::piped()
                } else {
                    std::process::Stdio::null()
                })
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
        })
        .wrap(ProcessGroup::leader())
        .wrap(KillOnDrop)
        .spawn()
        .map_err(|e| format!("cannot start {program}: {e}"))?;
        let shared = Arc::new(Shared {
            clock: Clock::new(t0, None),
            job: job.clone(),
            abort: Notify::new(),
            aborted: AtomicBool::new(false),
            head: Mutex::new(Vec::new()),
            counts: Mutex::new((0, 0, Sha256::new())),
        });

        if let (Some(n), Some(mut stdin)) = (job.stdin_bytes, child.stdin().take()) {
            tokio::spawn(async move {
                // EPIPE when the tree dies first: an error the caller handles.
                if let Err(e) = stdin.write_all(&vec![b'x'; n as usize]).await {
                    eprintln!("stdin write: {e}");
                }
            });
        }
        let stderr_bytes = Arc::new(Mutex::new(0u64));
        if let Some(mut err) = child.stderr().take() {
            let count = stderr_bytes.clone();
            tokio::spawn(async move {
                let mut buf = vec![0; 65536];
                while let Ok(n) = err.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    *count.lock().unwrap_or_else(|e| e.into_inner()) += n as u64;
                }
            });
        }
        let trigger = job.trigger.clone().unwrap_or_default();
        if let Some(ms) = trigger.after_ms {
            let s = shared.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                s.fire();
            });
        }
        let out = child.stdout().take().ok_or("no stdout pipe")?;
        let final_seen = Arc::new(AtomicBool::new(false));
        let reader = tokio::spawn(read_stdout(out, shared.clone(), final_seen.clone()));

        // What a caller of process-wrap writes: wait, or on abort SIGTERM the group, give
        // it the grace, then kill the group; `wait` reaps the group.
        let status = tokio::select! {
            status = child.wait() => status,
            () = shared.abort.notified() => {
                let _ = child.signal(rustix::process::Signal::TERM.as_raw());
                match tokio::time::timeout(Duration::from_millis(job.grace_ms), child.wait()).await {
                    Ok(status) => status,
                    Err(_) => {
                        let _ = child.start_kill();
                        child.wait().await
                    }
                }
            }
        }
        .map_err(|e| format!("waiting for the child: {e}"))?;
        let final_ms = shared.clock.ms();
        final_seen.store(true, Ordering::SeqCst);
        // Bytes that still arrive after the final status: counted for 300 ms.
        tokio::time::sleep(Duration::from_millis(300)).await;
        // A holder that escaped may keep the pipe open forever: stop reading.
        reader.abort();
        let (total, late, hash) = {
            let counts = shared.counts.lock().unwrap_or_else(|e| e.into_inner());
            (
                counts.0,
                counts.1,
                format!("{:x}", counts.2.clone().finalize()),
            )
        };
        let head = shared
            .head
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let (code, signal, status_text) = match (status.code(), status.signal()) {
            (Some(c), _) => (Some(i64::from(c)), None, format!("exit {c}")),
            (None, Some(s)) => {
                let name = signal_name(s);
                (None, Some(name.clone()), format!("signal {name}"))
            }
            (None, None) => (None, None, format!("{status}")),
        };
        let result = DriverResult {
            r#impl: NAME.into(),
            code,
            signal,
            status: status_text,
            stdout_bytes: total,
            stdout_sha256: hash,
            stdout_head: base64::engine::general_purpose::STANDARD.encode(&head),
            stdout_bytes_late: late,
            stderr_bytes: *stderr_bytes.lock().unwrap_or_else(|e| e.into_inner()),
            stderr_head: String::new(),
            trigger_ms: shared.clock.fired(),
            final_ms,
            uncaught: Vec::new(),
            extra: serde_json::json!({ "aborted": shared.aborted.load(Ordering::SeqCst) }),
        };
        write_result(&job.result_file, &result)
            .map_err(|e| format!("cannot write {}: {e}", job.result_file))?;
        // Stay alive (the supervisor) until the harness looked for survivors.
        wait_for_release(&job.result_file);
        Ok(())
    }

    /// Read stdout to EOF: count, hash and keep the head; check the trigger; count what
    /// arrives after the final status apart (in `shared.counts`).
    async fn read_stdout(
        mut out: tokio::process::ChildStdout,
        shared: Arc<Shared>,
        final_seen: Arc<AtomicBool>,
    ) {
        let mut watch = TriggerWatch::new(shared.job.trigger.clone().unwrap_or_default());
        let mut buf = vec![0; 65536];
        loop {
            let n = match out.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            {
                let mut counts = shared.counts.lock().unwrap_or_else(|e| e.into_inner());
                if final_seen.load(Ordering::SeqCst) {
                    counts.1 += n as u64;
                    continue;
                }
                counts.0 += n as u64;
                counts.2.update(&buf[..n]);
            }
            let head = {
                let mut head = shared.head.lock().unwrap_or_else(|e| e.into_inner());
                extend_head(&mut head, &buf[..n]);
                head.clone()
            };
            let s = shared.clone();
            watch.check(&head, move || s.fire());
            if let Some(ms) = shared.job.slow_ms_per_chunk {
                // A consumer busy with each chunk.
                std::thread::sleep(Duration::from_millis(ms));
            }
        }
    }

    /// The name of signal `sig` as the report shows it.
    fn signal_name(sig: i32) -> String {
        use rustix::process::Signal;
        [
            (Signal::TERM, "SIGTERM"),
            (Signal::KILL, "SIGKILL"),
            (Signal::INT, "SIGINT"),
            (Signal::HUP, "SIGHUP"),
            (Signal::PIPE, "SIGPIPE"),
            (Signal::SEGV, "SIGSEGV"),
            (Signal::ABORT, "SIGABRT"),
        ]
        .into_iter()
        .find(|(s, _)| s.as_raw() == sig)
        .map_or_else(|| format!("signal {sig}"), |(_, name)| name.to_owned())
    }
}
