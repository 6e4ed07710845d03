//! The fixture's command line: every mode the tests, the matrix, the bench and the
//! Node client call by name is still there (its table in `kennel-fixture/modes`).

use std::process::Command;

use crate::prelude::FIXTURE;

/// Runs `kennel-fixture <args>`; returns its exit code and stderr.
fn fixture(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(FIXTURE)
        .args(args)
        .output()
        .expect("run kennel-fixture");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_mode_is_found_by_name() {
    let modes = [
        "tree",
        "flood",
        "binary",
        "print",
        "partial-line",
        "utf8-split",
        "env",
        "echo-stdin",
        "read-stdin-slowly",
        "never-read-stdin",
        "exit",
        "sleep",
        "daemon",
        "hold-pipe",
        "background",
        "nohup",
        "fork-loop",
        "ignore-signals",
        "kill-self",
        "trap-term",
        "close-stdout",
        "drop-stdin",
        "seq",
        "counted-flood",
        #[cfg(target_os = "linux")]
        "attack-ancestors",
    ];
    for mode in modes {
        // A flag no mode knows: the mode is found, and rejects it before doing anything.
        let (code, stderr) = fixture(&[mode, "--no-such-flag"]);
        assert_eq!(code, Some(2), "{mode}: {stderr}");
        assert!(
            stderr.contains("unknown flag \"--no-such-flag\""),
            "{mode}: {stderr}"
        );
    }
}

#[test]
fn windows_modes_say_so_and_unknown_modes_are_usage_errors() {
    for mode in ["crash", "breakaway"] {
        let (code, stderr) = fixture(&[mode]);
        assert_eq!(code, Some(2), "{mode}: {stderr}");
        assert!(
            stderr.contains(&format!("mode {mode} is Windows-only")),
            "{mode}: {stderr}"
        );
    }
    let (code, stderr) = fixture(&["no-such-mode"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("unknown mode \"no-such-mode\""), "{stderr}");
    let (code, stderr) = fixture(&[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("missing mode"), "{stderr}");
}
