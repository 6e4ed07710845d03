//! The program the host tests run in a tree: this test binary, re-run with
//! `KENNEL_LIMITS_HELPER=<mode> <n>`.

use std::io::Read as _;

/// Not a test: the program the host tests run in a tree (does nothing without
/// `KENNEL_LIMITS_HELPER`).
#[test]
fn helper() {
    let Ok(mode) = std::env::var("KENNEL_LIMITS_HELPER") else {
        return;
    };
    let (mode, n) = mode.split_once(' ').expect("mode and count");
    let n: u64 = n.parse().expect("a count");
    match mode {
        "forks" => forks(n),
        "alloc" => alloc(n),
        "spin" => spin(n),
        other => panic!("unknown helper mode {other}"),
    }
}

/// Start `n` children; report how many started and how many forks were refused; end
/// them when our stdin closes (reaping our own: orphans would go to a pid 1 that may
/// not reap).
fn forks(n: u64) {
    let (mut started, mut refused) = (0, 0);
    let mut children = Vec::new();
    for _ in 0..n {
        match std::process::Command::new("/bin/sleep").arg("60").spawn() {
            Ok(c) => {
                started += 1;
                children.push(c);
            }
            Err(_) => refused += 1,
        }
    }
    println!("@forks {started} {refused}");
    let _ = std::io::stdin().read(&mut [0u8; 1]);
    for mut c in children {
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// Allocate and touch `n` MiB.
fn alloc(n: u64) {
    let mut held = Vec::new();
    for _ in 0..n {
        held.push(vec![1u8; 1 << 20]);
    }
    println!("allocated {}", held.len());
}

/// Spin until this process used `n` ms of CPU time; report it.
fn spin(n: u64) {
    let target = n * 1_000_000;
    let mut x = 0u64;
    loop {
        let mut t = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `t` is a valid, writable timespec.
        unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
        let ns = t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64;
        if ns >= target {
            println!("@cpu_ns {ns}");
            return;
        }
        for i in 0..10_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
    }
}
