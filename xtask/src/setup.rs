//! What a fresh machine lacks, installed on first use and said out loud.
//!
//! `cargo xtask test` is the one command a newcomer runs, so it must pass on a fresh
//! Debian machine that has only Rust (rustup) and Node 20. The stages that need more
//! install it the first time they run, each announcing what it installs and why:
//!
//! | needed by        | what                                   | how                    |
//! |------------------|----------------------------------------|------------------------|
//! | fmt, clippy      | the `rustfmt` / `clippy` components    | `rustup component add` |
//! | macos, windows   | the Apple / `x86_64-pc-windows-gnu` std | `rustup target add`    |
//! | matrix, windows  | `wine`, `wine64`, `gcc-mingw-w64-x86-64` | `apt-get install`     |
//! | node, matrix     | the npm packages of `clients/node`, `baseline/` | `npm ci`        |
//!
//! `apt-get` runs as root, or through `sudo -n` when that works without a password;
//! otherwise the stage fails with the exact command to run. `KENNEL_NO_INSTALL=1`
//! turns every install off (a stage that lacks a tool then fails and names it).
//! `apt-get update` runs only when an install fails without it (stale or missing
//! package lists on a fresh image), so a machine that has the packages pays nothing.

use crate::cmd::{on_path, Cmd};

/// The Debian packages that give `wine`, `wineserver` and the mingw C compiler.
pub const WINE_PACKAGES: [&str; 3] = ["wine", "wine64", "gcc-mingw-w64-x86-64"];

/// True unless `KENNEL_NO_INSTALL` is set to something true.
fn installs_allowed() -> bool {
    !crate::env_flag("KENNEL_NO_INSTALL")
}

/// Make sure each program in `programs` is on `PATH`, installing `packages` with
/// apt-get when one is missing. `why` names the stage, for the announcement.
pub fn ensure_programs(programs: &[&str], packages: &[&str], why: &str) -> Result<(), String> {
    let missing: Vec<&str> = programs.iter().copied().filter(|p| !on_path(p)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let command = format!("apt-get install -y {}", packages.join(" "));
    if !installs_allowed() {
        return Err(format!(
            "{} not found (needed by {why}); KENNEL_NO_INSTALL is set, so run `{command}` yourself",
            missing.join(", ")
        ));
    }
    if !on_path("apt-get") {
        return Err(format!(
            "{} not found (needed by {why}) and there is no apt-get here to install {}",
            missing.join(", "),
            packages.join(" ")
        ));
    }
    let sudo: &[&str] = if is_root() {
        &[]
    } else if on_path("sudo") && Cmd::new("sudo").args(["-n", "true"]).succeeds_quietly() {
        &["sudo", "-n", "-E"]
    } else {
        return Err(format!(
            "{} not found (needed by {why}); installing it needs root: run `sudo {command}`",
            missing.join(", ")
        ));
    };
    println!(
        "xtask: {} not found; installing {} for {why} ({command})",
        missing.join(", "),
        packages.join(" ")
    );
    let apt = |args: &[&str]| {
        let (program, pre) = match sudo.split_first() {
            Some((p, rest)) => (*p, rest),
            None => ("apt-get", &[][..]),
        };
        let mut cmd = Cmd::new(program)
            .args(pre)
            .env("DEBIAN_FRONTEND", "noninteractive");
        if !sudo.is_empty() {
            cmd = cmd.arg("apt-get");
        }
        cmd.args(args).run()
    };
    let install: Vec<&str> = ["install", "-y", "-q"]
        .into_iter()
        .chain(packages.iter().copied())
        .collect();
    if apt(&install).is_err() {
        println!("xtask: apt-get install failed; running apt-get update and trying again");
        apt(&["update", "-q"])?;
        apt(&install)?;
    }
    let still: Vec<&str> = programs.iter().copied().filter(|p| !on_path(p)).collect();
    if still.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} still not found after installing {}",
            still.join(", "),
            packages.join(" ")
        ))
    }
}

/// Make sure a rustup component (`rustfmt`, `clippy`) is installed.
pub fn ensure_component(
    cargo: &std::path::Path,
    subcommand: &str,
    component: &str,
) -> Result<(), String> {
    if Cmd::new(cargo)
        .args([subcommand, "--version"])
        .succeeds_quietly()
    {
        return Ok(());
    }
    if !installs_allowed() {
        return Err(format!(
            "`cargo {subcommand}` is missing; KENNEL_NO_INSTALL is set, so run `rustup component add {component}` yourself"
        ));
    }
    println!(
        "xtask: `cargo {subcommand}` not found; installing it (rustup component add {component})"
    );
    Cmd::new("rustup")
        .args(["component", "add", component])
        .run()
        .map_err(|e| format!("cannot install the {component} component: {e}"))
}

fn is_root() -> bool {
    // No libc dependency in xtask: the effective uid is in /proc/self/status.
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            == Some("0")
    })
}

// Unix only: under Wine (the Windows stage runs every workspace test) there is no `sh`.
#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn present_programs_need_no_install() {
        // `sh` is on every machine this runs on: nothing to install, no apt-get call.
        assert_eq!(
            ensure_programs(&["sh"], &["no-such-package"], "a test"),
            Ok(())
        );
    }

    #[test]
    fn a_missing_program_without_installs_names_the_command() {
        std::env::set_var("KENNEL_NO_INSTALL", "1");
        let err = ensure_programs(&["kennel-no-such-program"], &["pkg-a", "pkg-b"], "a test")
            .expect_err("a missing program must be an error when installs are off");
        std::env::remove_var("KENNEL_NO_INSTALL");
        assert!(err.contains("kennel-no-such-program"), "{err}");
        assert!(err.contains("apt-get install -y pkg-a pkg-b"), "{err}");
    }
}
