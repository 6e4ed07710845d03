//! Leak-proof containment on Linux, per tier: descendants that leave the process group
//! (setsid, double fork, nohup, own process group), fork loops, stopped trees, and a
//! `kill -9` of the supervisor (`kennel run`, `kennel serve`).
//!
//! Every assertion looks at `/proc`: each test marks its tree with a unique environment
//! variable and scans `/proc/*/environ` for survivors, so even processes that never got
//! to print their pid are found.
//!
//! A test binary of its own: it names `kennel-test-cli` as the keeper program for the
//! whole process.
#![cfg(target_os = "linux")]

/// One test per case, named for it: `cases! { f: name(args…); … }` makes
/// `#[test] fn name() { f(args…) }` for each (doc comments go on the case), and
/// `cases! { async f: … }` multi-threaded tokio tests awaiting `f(args…)`.
macro_rules! cases {
    ($f:ident: $($(#[$doc:meta])* $name:ident($($arg:expr),*);)*) => {$(
        $(#[$doc])*
        #[test]
        fn $name() {
            $f($($arg),*);
        }
    )*};
    (async $f:ident: $($(#[$doc:meta])* $name:ident($($arg:expr),*);)*) => {$(
        $(#[$doc])*
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            $f($($arg),*).await;
        }
    )*};
}

mod cgroup_escape;
mod early_signal;
mod escape_run;
mod escapes;
mod group_and_cgroup;
mod late_init;
mod limits;
mod noinit_host;
mod pid_namespace;
mod signals_from_inside;
mod subreaper_shape;
mod supervisor_attack;
mod supervisor_death;
mod unprivileged_escape;

use std::time::Duration;

use kennel::{Command, Containment, ContainmentOptions};
pub use kennel_tests::marks::{assert_no_survivors, cgroup_available, marked, marker, not_tested};

pub const FIXTURE: &str = env!("CARGO_BIN_EXE_kennel-fixture");
pub const KENNEL: &str = env!("CARGO_BIN_EXE_kennel-test-cli");
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A tier to test: its switches and the containment the outcome must report.
#[derive(Clone, Copy, Debug)]
pub struct Tier {
    pub name: &'static str,
    pub options: ContainmentOptions,
    pub expect: Containment,
}

/// Every tier this machine offers that closes the escape gaps. The cgroup tier needs a
/// writable cgroup v2 (CI runs as root, so it is there; `KENNEL_REQUIRE_CGROUP=1` makes
/// its absence a failure instead of a printed note).
pub fn tiers() -> Vec<Tier> {
    kennel::keeper::use_program(KENNEL);
    let mut tiers = vec![Tier {
        name: "keeper subreaper (cgroup off)",
        options: ContainmentOptions {
            cgroup: false,
            keeper: true,
        },
        expect: Containment::Subreaper,
    }];
    if cgroup_available("the cgroup tier") {
        tiers.push(Tier {
            name: "cgroup + keeper",
            options: ContainmentOptions::default(),
            expect: Containment::Cgroup,
        });
        tiers.push(Tier {
            name: "cgroup alone (keeper off)",
            options: ContainmentOptions {
                cgroup: true,
                keeper: false,
            },
            expect: Containment::Cgroup,
        });
    }
    tiers
}

/// A host program under test (a child of this test), its tree tagged with `mark`:
/// `sigkill()` on demand; dropped, it is killed and whatever still carries the mark is
/// cleaned up (trees left on purpose, and their cgroups).
pub struct MarkedHost {
    pub child: std::process::Child,
    pub mark: (String, String),
}

impl MarkedHost {
    pub fn sigkill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for MarkedHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !marked(&self.mark).is_empty() {
            late_init::clean_up(&self.mark);
        }
    }
}

/// The fixture command, marked.
pub fn fixture(mark: &(String, String), tier: &Tier, args: &[&str]) -> Command {
    Command::new(FIXTURE)
        .args(args)
        .env(&mark.0, &mark.1)
        .containment(tier.options)
}

/// `kennel serve` with `request` already sent: the sidecar, its stdin (drop it to end
/// the session) and its stdout's lines.
pub fn serve_with(
    request: &serde_json::Value,
) -> (
    std::process::Child,
    std::process::ChildStdin,
    std::sync::mpsc::Receiver<String>,
) {
    use std::io::Write as _;
    use std::process::Stdio;
    let mut sc = std::process::Command::new(KENNEL)
        .arg("serve")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("kennel serve");
    let mut input = sc.stdin.take().expect("stdin");
    input
        .write_all(format!("{request}\n").as_bytes())
        .expect("write the request");
    let events = kennel_tests::lines_of(sc.stdout.take().expect("stdout"));
    (sc, input, events)
}

/// `kennel <args>` marked with `mark`, in a process group of its own (so a `kill
/// -<group>` from its tree cannot reach the test), stdin null, stdout and stderr piped.
pub fn kennel_in_own_group(args: &[&str], mark: &(String, String)) -> std::process::Command {
    use std::os::unix::process::CommandExt as _;
    use std::process::Stdio;
    let mut cmd = std::process::Command::new(KENNEL);
    cmd.args(args)
        .env(&mark.0, &mark.1)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// `run` (a `kennel run` whose tree signalled it) still runs, and obeys its caller: a
/// SIGTERM from us ends it with its leader's death by SIGTERM (`context` goes in the
/// failure messages).
pub fn sigterm_is_obeyed(run: &mut std::process::Child, context: &dyn std::fmt::Debug) {
    assert!(
        run.try_wait().expect("try_wait").is_none(),
        "kennel run still runs: {context:?}"
    );
    // SAFETY: kill(2) on the process we started, not reaped yet.
    let rc = unsafe { libc::kill(run.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0, "kill({}, SIGTERM)", run.id());
    let status = run.wait().expect("wait");
    assert_eq!(
        status.code(),
        Some(128 + 15),
        "the leader died of SIGTERM: {context:?}"
    );
}
