//! The soak's leak check catches a real leak (issue 12): `kennel-soak --inject-leak`
//! leaks one small allocation per cycle, and the run must fail on its live-heap check
//! — and on nothing else, so it is that check that caught it. (The other direction, a
//! clean run passing, is the `soak` stage of `cargo xtask test`.)
#![cfg(target_os = "linux")]

use std::process::Command;

#[test]
fn the_soak_fails_on_one_leaked_allocation_per_cycle() {
    // 320 cycles: 160 in the second half, so 160 leaked allocations against a bound of
    // 64 (kennel_tests::heap::SETTLE_ALLOCS); 32 bytes each stay under the byte bound.
    let out = Command::new(env!("CARGO_BIN_EXE_kennel-soak"))
        .args(["--cycles", "320", "--seed", "12", "--inject-leak", "32"])
        .args(["--fixture", env!("CARGO_BIN_EXE_kennel-fixture")])
        .args(["--kennel", env!("CARGO_BIN_EXE_kennel-test-cli")])
        .output()
        .expect("run kennel-soak");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = stdout
        .split("== kennel-soak report ==")
        .nth(1)
        .unwrap_or_else(|| panic!("no report:\n{stdout}"));
    assert!(!out.status.success(), "a leaking run passed:\n{report}");
    let failures: Vec<&str> = report
        .lines()
        .skip_while(|l| !l.starts_with("failures:"))
        .skip(1)
        .collect();
    assert_eq!(failures.len(), 1, "{report}");
    assert!(
        failures[0].contains("soak process: live allocations grew by"),
        "{report}"
    );
    assert!(!failures[0].contains("live heap grew"), "{report}");
}
