//! Modes about stdin (echo, slow and absent readers, dropped pipes) and a closed
//! stdout.

#[cfg(unix)]
use std::io;
use std::process::ExitCode;
use std::time::Duration;

use super::Mode;
use crate::args::Args;
use crate::out::{pid_line, read_stdin, sleep_forever, write_out, Stream};
#[cfg(unix)]
use crate::Fail;
use crate::{io_err, Res};

/// The stdin modes.
pub(crate) const MODES: &[Mode] = &[
    Mode {
        name: "echo-stdin",
        run: echo_stdin,
    },
    Mode {
        name: "read-stdin-slowly",
        run: read_stdin_slowly,
    },
    Mode {
        name: "never-read-stdin",
        run: never_read_stdin,
    },
    #[cfg(unix)]
    Mode {
        name: "close-stdout",
        run: close_stdout,
    },
    #[cfg(unix)]
    Mode {
        name: "drop-stdin",
        run: drop_stdin,
    },
];

fn echo_stdin(rest: &[String]) -> Res<ExitCode> {
    Args::only::<0>(rest)?;
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = read_stdin(&mut buf).map_err(io_err("read stdin"))?;
        if n == 0 {
            return Ok(ExitCode::SUCCESS);
        }
        write_out(Stream::Out, &buf[..n])?;
    }
}

fn read_stdin_slowly(rest: &[String]) -> Res<ExitCode> {
    let a = Args::parse(rest, &["--delay-ms", "--chunk"], &[])?;
    a.no_positional()?;
    let delay = Duration::from_millis(a.num("--delay-ms", Some(10))?);
    let chunk: usize = a.at_least_one("--chunk", Some(1024))?;
    pid_line("main")?;
    let mut buf = vec![0; chunk];
    let mut total: u64 = 0;
    loop {
        std::thread::sleep(delay);
        let n = read_stdin(&mut buf).map_err(io_err("read stdin"))?;
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    write_out(Stream::Out, format!("total {total}\n").as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

fn never_read_stdin(rest: &[String]) -> Res<ExitCode> {
    Args::only::<0>(rest)?;
    pid_line("main")?;
    sleep_forever()
}

#[cfg(unix)]
fn close_stdout(rest: &[String]) -> Res<ExitCode> {
    Args::only::<0>(rest)?;
    pid_line("main")?;
    crate::unix::close_fd(1);
    write_out(Stream::Err, b"stdout closed\n")?;
    sleep_forever()
}

#[cfg(unix)]
fn drop_stdin(rest: &[String]) -> Res<ExitCode> {
    let a = Args::parse(rest, &["--after-bytes"], &[])?;
    a.no_positional()?;
    let want: usize = a.num("--after-bytes", Some(0))?;
    pid_line("main")?;
    let mut got = 0;
    let mut buf = [0u8; 4096];
    while got < want {
        let k = (want - got).min(buf.len());
        match read_stdin(&mut buf[..k]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Fail::Io("read stdin", e)),
        }
    }
    crate::unix::close_fd(0);
    write_out(Stream::Err, format!("stdin closed {got}\n").as_bytes())?;
    sleep_forever()
}
