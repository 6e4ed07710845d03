//! Modes about exits and signals: exit codes, sleeps, ignored and trapped signals,
//! suicide by signal, Windows crashes.

use std::process::ExitCode;
use std::time::Duration;

use super::Mode;
use crate::args::{parse_num, Args};
use crate::out::pid_line;
#[cfg(unix)]
use crate::out::sleep_forever;
#[cfg(any(unix, windows))]
use crate::Fail;
use crate::Res;

/// The exit and signal modes.
pub(crate) const MODES: &[Mode] = &[
    Mode {
        name: "exit",
        run: exit,
    },
    Mode {
        name: "sleep",
        run: sleep,
    },
    #[cfg(unix)]
    Mode {
        name: "ignore-signals",
        run: ignore_signals,
    },
    #[cfg(unix)]
    Mode {
        name: "kill-self",
        run: kill_self,
    },
    #[cfg(unix)]
    Mode {
        name: "trap-term",
        run: trap_term,
    },
    #[cfg(windows)]
    Mode {
        name: "crash",
        run: crash,
    },
];

fn exit(rest: &[String]) -> Res<ExitCode> {
    let [code] = Args::only::<1>(rest)?;
    let code: i32 = parse_num("exit code", &code)?;
    std::process::exit(code)
}

fn sleep(rest: &[String]) -> Res<ExitCode> {
    let [ms] = Args::only::<1>(rest)?;
    let ms: u64 = parse_num("milliseconds", &ms)?;
    pid_line("main")?;
    std::thread::sleep(Duration::from_millis(ms));
    Ok(ExitCode::SUCCESS)
}

#[cfg(unix)]
fn ignore_signals(rest: &[String]) -> Res<ExitCode> {
    Args::only::<0>(rest)?;
    crate::unix::ignore_term_signals();
    pid_line("main")?;
    sleep_forever()
}

#[cfg(unix)]
fn kill_self(rest: &[String]) -> Res<ExitCode> {
    let [sig] = Args::only::<1>(rest)?;
    let sig = crate::unix::parse_signal(&sig)
        .ok_or_else(|| Fail::Usage(format!("unknown signal {sig:?}")))?;
    pid_line("main")?;
    crate::unix::kill_self(sig);
    sleep_forever()
}

#[cfg(unix)]
fn trap_term(rest: &[String]) -> Res<ExitCode> {
    let a = Args::parse(rest, &["--exit-code"], &[])?;
    a.no_positional()?;
    crate::unix::trap_term(a.num("--exit-code", Some(0))?);
    pid_line("main")?;
    sleep_forever()
}

#[cfg(windows)]
fn crash(rest: &[String]) -> Res<ExitCode> {
    use crate::win;
    let [how] = Args::only::<1>(rest)?;
    let how = match how.as_str() {
        "access-violation" => win::Crash::AccessViolation,
        "abort" => win::Crash::Abort,
        other => return Err(Fail::Usage(format!("unknown crash {other:?}"))),
    };
    pid_line("main")?;
    win::crash(how)
}
