//! What the PID-namespace tier costs and what a child sees in it (Linux).
//!
//! ```text
//! cargo run --release -p kennel --example pidns_cost -- [runs]     # spawn cost
//! cargo run --release -p kennel --example pidns_cost -- effects    # pids, /proc, kill -9
//! ```
//!
//! The cost is measured three ways, `runs` sequential spawns of `/bin/true` each
//! (median / p90): plain `std::process`; a stand-in keeper (this binary re-run, single-
//! threaded, spawning and waiting for the program) without and with
//! `sys::unix::pidns::enter` — the difference is what the namespace adds to the keeper
//! tier; and the library's cgroup and keeper tiers, for reference.

#[cfg(target_os = "linux")]
#[allow(dead_code, unused_imports)]
#[path = "../src/sys/unix/linux/pidns/mod.rs"]
mod pidns;

#[cfg(target_os = "linux")]
#[allow(dead_code)]
#[path = "../src/sys/unix/linux/fdio.rs"]
mod fdio;
#[cfg(target_os = "linux")]
use fdio::closed_now;

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("the PID-namespace tier is Linux-only");
}

/// A named way of spawning `/bin/true` and waiting for it.
#[cfg(target_os = "linux")]
type Variant<'a> = (&'static str, Box<dyn FnMut() + 'a>);

#[cfg(target_os = "linux")]
fn main() {
    use std::time::Instant;
    kennel::keeper::init();
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("__helper") {
        helper(&args[2], &args[3..]);
    }
    if args.get(1).map(String::as_str) == Some("effects") {
        effects();
        return;
    }
    let runs: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(200);
    let t = Instant::now();
    println!("probe: {:?} in {:?}", pidns::probe(), t.elapsed());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let helper_run = |mode: &'static str| {
        move || {
            let status = std::process::Command::new("/proc/self/exe")
                .args(["__helper", mode, "/bin/true"])
                .status()
                .expect("spawn helper");
            assert!(status.success(), "{mode}: {status}");
        }
    };
    let library_run = |cgroup: bool, keeper: bool, pid_namespace: bool| {
        let rt = &rt;
        move || {
            rt.block_on(async {
                let opts = kennel::ContainmentOptions { cgroup, keeper };
                let mut child = kennel::Command::new("/bin/true")
                    .containment(opts)
                    .pid_namespace(pid_namespace)
                    .spawn()
                    .expect("spawn");
                assert!(child.wait().await.success());
            })
        }
    };
    let plain = || {
        std::process::Command::new("/bin/true")
            .status()
            .expect("spawn");
    };
    let mut variants: Vec<Variant<'_>> = vec![
        ("std::process /bin/true", Box::new(plain)),
        (
            "stand-in keeper, no namespace",
            Box::new(helper_run("none")),
        ),
        (
            "stand-in keeper, pidns+userns",
            Box::new(helper_run("pidns+userns")),
        ),
        (
            "library: cgroup + guard (default)",
            Box::new(library_run(true, true, false)),
        ),
        ("library: keeper", Box::new(library_run(false, true, false))),
        (
            "library: pid namespace + cgroup",
            Box::new(library_run(true, true, true)),
        ),
        (
            "library: pid namespace",
            Box::new(library_run(false, true, true)),
        ),
    ];
    if pidns::probe() == Some(pidns::NsMode::Privileged) {
        variants.insert(2, ("stand-in keeper, pidns", Box::new(helper_run("pidns"))));
    }
    // Round-robin, so load changes on this shared machine hit every variant alike.
    let mut times = vec![Vec::with_capacity(runs); variants.len()];
    for _ in 0..runs {
        for (i, (_, f)) in variants.iter_mut().enumerate() {
            let t = Instant::now();
            f();
            times[i].push(t.elapsed());
        }
    }
    for ((name, _), times) in variants.iter().zip(&mut times) {
        report(name, times);
    }
}

/// The stand-in keeper: optionally become pid 1 of a new namespace, run the program,
/// exit with its status.
#[cfg(target_os = "linux")]
fn helper(mode: &str, program: &[String]) -> ! {
    if let Some(mode) = pidns::NsMode::from_arg(mode) {
        if let Err(e) = pidns::enter(mode) {
            eprintln!("enter: {e}: {:?}", std::error::Error::source(&e));
            std::process::exit(90);
        }
    }
    let status = std::process::Command::new(&program[0])
        .args(&program[1..])
        .status()
        .expect("spawn program");
    std::process::exit(status.code().unwrap_or(1));
}

#[cfg(target_os = "linux")]
fn report(name: &str, times: &mut [std::time::Duration]) {
    times.sort_unstable();
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    println!(
        "{name:<40} median {:.2} ms  p90 {:.2} ms",
        ms(times[times.len() / 2]),
        ms(times[times.len() * 9 / 10])
    );
}

/// What the child sees, and what a `kill -9` of the keeper leaves.
#[cfg(target_os = "linux")]
fn effects() {
    use std::io::BufRead as _;
    let script = "echo pid=$$ ppid=$PPID; echo proc_entries=$(ls -d /proc/[0-9]* | wc -l); \
                  grep NSpid /proc/self/status; id; \
                  setsid sh -c 'echo escapee=$$; exec sleep 300' & wait";
    for mode in ["pidns", "pidns+userns"] {
        let mut outer = std::process::Command::new("/proc/self/exe")
            .args(["__helper", mode, "sh", "-c", script])
            .env("KENNEL_PIDNS_EFFECTS", "1")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn helper");
        let mut lines = std::io::BufReader::new(outer.stdout.take().expect("stdout")).lines();
        println!("{mode}: outer keeper (host) pid {}", outer.id());
        for line in lines.by_ref() {
            let line = line.expect("line");
            println!("  {line}");
            if line.starts_with("escapee=") {
                break;
            }
        }
        let members = marked();
        println!("  host pids of the tree before kill -9 of the outer: {members:?}");
        outer.kill().expect("kill -9 outer");
        outer.wait().expect("reap");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let left = loop {
            let left = marked();
            if left.is_empty() || std::time::Instant::now() > deadline {
                break left;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        };
        println!("  alive after kill -9 of the outer: {left:?}");
    }
}

/// Live (non-zombie) processes carrying the example's env marker.
#[cfg(target_os = "linux")]
fn marked() -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let zombie = stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
        if !zombie
            && environ
                .split(|&b| b == 0)
                .any(|v| v == b"KENNEL_PIDNS_EFFECTS=1")
        {
            out.push(pid);
        }
    }
    out
}
