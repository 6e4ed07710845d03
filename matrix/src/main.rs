//! `kennel-matrix`: runs the fixture matrix and writes the report. Normally started by
//! `cargo xtask matrix` (which builds everything and passes the paths); see the library
//! docs for how a cell runs.

#[cfg(target_os = "linux")]
mod cli;

#[cfg(target_os = "linux")]
fn main() -> std::process::ExitCode {
    cli::main()
}

#[cfg(not(target_os = "linux"))]
fn main() -> std::process::ExitCode {
    eprintln!("kennel-matrix runs on Linux (Windows cells run under Wine from there)");
    std::process::ExitCode::FAILURE
}
