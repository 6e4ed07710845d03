//! Pure parts, and the Job Object limits against the system the tests run on (Windows,
//! or Wine: there the tests assert what Wine does, see the module docs).
//!
//! The program in the job is this test binary again (`KENNEL_LIMITS_HELPER=<mode>`,
//! see [`helper`]); it waits for a `go` line so that it is in the job before it acts.

use std::io::Write as _;
use std::os::windows::io::AsRawHandle as _;
use std::process::{Child, Stdio};

use windows_sys::Win32::Foundation::FILETIME;
use windows_sys::Win32::System::JobObjects::{
    AssignProcessToJobObject, CreateJobObjectW, TerminateJobObject,
};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, GetProcessTimes};

use super::*;

#[test]
fn limit_flags_and_values() {
    let limits = Limits::new().memory_max_bytes(64 << 20).pids_max(4);
    let info = extended_info(&limits, true);
    let basic = info.BasicLimitInformation;
    assert_eq!(
        basic.LimitFlags,
        JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
            | JOB_OBJECT_LIMIT_ACTIVE_PROCESS
            | JOB_OBJECT_LIMIT_JOB_MEMORY
    );
    assert_eq!(basic.ActiveProcessLimit, 4);
    assert_eq!(info.JobMemoryLimit, 64 << 20);
    let none = extended_info(&Limits::new(), false);
    assert_eq!(none.BasicLimitInformation.LimitFlags, 0);
}

#[test]
fn cpu_rate_is_a_share_of_the_machine() {
    assert_eq!(cpu_rate(0.5, 2), 2_500);
    assert_eq!(cpu_rate(1.0, 1), 10_000);
    assert_eq!(cpu_rate(8.0, 2), 10_000);
    assert_eq!(cpu_rate(0.00001, 64), 1);
}

/// A job holding this test binary run as `mode`.
struct Job {
    job: OwnedHandle,
    child: Child,
}

impl Job {
    fn start(limits: &Limits, mode: &str) -> (Job, Port) {
        // SAFETY: null attributes and no name are allowed.
        let raw = unsafe { CreateJobObjectW(std::ptr::null(), std::ptr::null()) };
        assert!(!raw.is_null(), "{}", io::Error::last_os_error());
        // SAFETY: a fresh handle nothing else owns.
        let job = unsafe { OwnedHandle::from_raw_handle(raw) };
        set(job.as_raw_handle(), limits, true).expect("limits set");
        let port = Port::attach(job.as_raw_handle()).expect("a completion port");
        let mut child = std::process::Command::new(std::env::current_exe().expect("exe"))
            .args([
                "--exact",
                "sys::windows::limits::tests::helper",
                "--nocapture",
            ])
            .args(["--test-threads", "1"])
            .env("KENNEL_LIMITS_HELPER", mode)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the helper");
        // SAFETY: both handles are valid.
        let ok = unsafe { AssignProcessToJobObject(job.as_raw_handle(), child.as_raw_handle()) };
        assert!(ok != 0, "{}", io::Error::last_os_error());
        let stdin = child.stdin.as_mut().expect("piped");
        stdin.write_all(b"go\n").expect("go");
        (Job { job, child }, port)
    }

    /// What follows `prefix` on the helper's first line that has it.
    fn line(&mut self, prefix: &str) -> String {
        crate::limits::after_marker(self.child.stdout.as_mut().expect("piped"), prefix)
    }

    fn usage(&self, port: &mut Port) -> Usage {
        usage(self.job.as_raw_handle(), Some(port.poll())).expect("accounting")
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        // SAFETY: a valid job handle.
        unsafe { TerminateJobObject(self.job.as_raw_handle(), 1) };
        let _ = self.child.wait();
    }
}

#[test]
fn job_memory_limit() {
    let (mut job, mut port) = Job::start(&Limits::new().memory_max_bytes(64 << 20), "alloc 1024");
    let got: u64 = job.line("@alloc ").parse().expect("a count");
    let _ = job.child.wait();
    let usage = job.usage(&mut port);
    eprintln!(
        "job memory limit 64 MiB: allocated {got} MiB, {:?}, {usage:?}",
        port.seen
    );
    if under_wine() {
        assert_eq!(
            got, 1024,
            "Wine started enforcing the job memory limit: update the module docs"
        );
        assert_eq!(port.seen.memory_limit, 0);
        assert_eq!(usage.memory_peak_bytes, None, "not measured under Wine");
        assert!(!enforceable());
    } else {
        assert!(got < 64, "{got} MiB allocated under a 64 MiB job limit");
        assert!(port.seen.memory_limit >= 1, "{:?}", port.seen);
        let peak = usage.memory_peak_bytes.expect("a peak");
        assert!(peak <= 64 << 20, "peak {peak}");
    }
}

#[test]
fn active_process_limit() {
    let (mut job, mut port) = Job::start(&Limits::new().pids_max(4), "spawn 10");
    let report = job.line("@spawn ");
    let (ok, failed): (u64, u64) = report
        .split_once(' ')
        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
        .unwrap_or_else(|| panic!("no spawn report: {report:?}"));
    let _ = job.child.wait();
    let usage = job.usage(&mut port);
    eprintln!("active process limit 4: {ok} started, {failed} failed, {usage:?}");
    assert!(usage.processes_exact);
    if under_wine() {
        assert_eq!(
            ok, 10,
            "Wine started enforcing the process limit: update the module docs"
        );
        assert_eq!(
            usage.processes,
            Some(11),
            "TotalProcesses: the helper and its 10"
        );
    } else {
        assert_eq!((ok, failed), (3, 7));
        assert_eq!(usage.forks_refused, Some(7));
    }
}

#[test]
fn cpu_time_is_accounted() {
    let (mut job, mut port) = Job::start(&Limits::new(), "spin 300");
    let own_ms: u64 = job.line("@cpu_ms ").parse().expect("a CPU time");
    let _ = job.child.wait();
    let usage = job.usage(&mut port);
    eprintln!("busy loop of {own_ms} ms: {usage:?}");
    if under_wine() {
        assert_eq!((usage.cpu_user_ms, usage.cpu_system_ms), (None, None));
        assert_eq!(usage.processes, Some(1));
    } else {
        let total = usage.cpu_user_ms.expect("user") + usage.cpu_system_ms.expect("kernel");
        assert!(
            total.abs_diff(own_ms) * 10 <= own_ms,
            "{total} ms vs {own_ms} ms"
        );
    }
}

fn own_cpu_ms() -> u64 {
    let zero = FILETIME {
        dwLowDateTime: 0,
        dwHighDateTime: 0,
    };
    let (mut c, mut e, mut k, mut u) = (zero, zero, zero, zero);
    // SAFETY: the pseudo handle of this process; writable FILETIMEs.
    unsafe { GetProcessTimes(GetCurrentProcess(), &mut c, &mut e, &mut k, &mut u) };
    let t = |f: FILETIME| u64::from(f.dwHighDateTime) << 32 | u64::from(f.dwLowDateTime);
    (t(k) + t(u)) / 10_000
}

/// Not a test: the program in the job (does nothing without `KENNEL_LIMITS_HELPER`).
#[test]
fn helper() {
    let Ok(mode) = std::env::var("KENNEL_LIMITS_HELPER") else {
        return;
    };
    let mut go = String::new();
    let _ = std::io::stdin().read_line(&mut go);
    let (mode, n) = mode.split_once(' ').expect("mode and count");
    let n: u64 = n.parse().expect("a count");
    match mode {
        "alloc" => {
            let layout = std::alloc::Layout::from_size_align(1 << 20, 4096).expect("layout");
            let mut got = 0;
            for _ in 0..n {
                // SAFETY: a non-zero layout; the block is leaked on purpose (held).
                let p = unsafe { std::alloc::alloc(layout) };
                if p.is_null() {
                    break;
                }
                // SAFETY: `p` points to 1 MiB we own.
                unsafe { p.write_bytes(1, 1 << 20) };
                got += 1;
            }
            println!("@alloc {got}");
        }
        "spawn" => {
            let (mut ok, mut failed, mut children) = (0, 0, Vec::new());
            for _ in 0..n {
                let c = std::process::Command::new(std::env::current_exe().expect("exe"))
                    .args(["--exact", "sys::windows::limits::tests::helper"])
                    .env("KENNEL_LIMITS_HELPER", "wait 0")
                    .stdin(Stdio::piped())
                    .stdout(Stdio::null())
                    .spawn();
                match c {
                    Ok(c) => {
                        ok += 1;
                        children.push(c);
                    }
                    Err(_) => failed += 1,
                }
            }
            println!("@spawn {ok} {failed}");
            for mut c in children {
                drop(c.stdin.take());
                let _ = c.wait();
            }
        }
        "spin" => {
            let mut x = 0u64;
            while own_cpu_ms() < n {
                for i in 0..100_000u64 {
                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
                }
            }
            println!("@cpu_ms {}", own_cpu_ms());
        }
        "wait" => {}
        other => panic!("unknown helper mode {other}"),
    }
}
