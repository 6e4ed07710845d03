//! Modes that write: exact text, split lines, patterns, counted floods and the soak's
//! sequence records.

use std::process::ExitCode;
#[cfg(unix)]
use std::time::Duration;

use kennel_tests::{PatternGen, PatternKind};

use super::Mode;
use crate::args::Args;
use crate::out::{os_bytes, pid_line_text, two_writes, write_out, Stream};
use crate::{io_err, Fail, Res};

/// The output modes.
pub(crate) const MODES: &[Mode] = &[
    Mode {
        name: "flood",
        run: flood_text,
    },
    Mode {
        name: "binary",
        run: flood_binary,
    },
    Mode {
        name: "print",
        run: print,
    },
    Mode {
        name: "partial-line",
        run: partial_line,
    },
    Mode {
        name: "utf8-split",
        run: utf8_split,
    },
    Mode {
        name: "env",
        run: env,
    },
    Mode {
        name: "counted-flood",
        run: counted_flood_mode,
    },
    #[cfg(unix)]
    Mode {
        name: "seq",
        run: seq,
    },
];

fn flood_text(rest: &[String]) -> Res<ExitCode> {
    flood_mode(PatternKind::Text, rest)
}

fn flood_binary(rest: &[String]) -> Res<ExitCode> {
    flood_mode(PatternKind::Binary, rest)
}

fn flood_mode(kind: PatternKind, rest: &[String]) -> Res<ExitCode> {
    let a = Args::parse(rest, &["--bytes", "--chunk"], &["--stderr", "--pid-stderr"])?;
    a.no_positional()?;
    let chunk: usize = a.at_least_one("--chunk", Some(65536))?;
    flood(
        kind,
        a.num("--bytes", None)?,
        chunk,
        a.has("--stderr"),
        a.has("--pid-stderr"),
    )
}

fn print(rest: &[String]) -> Res<ExitCode> {
    let a = Args::parse(rest, &["--stderr"], &["--no-newline"])?;
    let [text] = a.positional::<1>()?;
    let nl: &[u8] = if a.has("--no-newline") { b"" } else { b"\n" };
    write_out(Stream::Out, &[text.as_bytes(), nl].concat())?;
    if let Some(t2) = a.get("--stderr") {
        write_out(Stream::Err, &[t2.as_bytes(), nl].concat())?;
    }
    Ok(ExitCode::SUCCESS)
}

fn partial_line(rest: &[String]) -> Res<ExitCode> {
    let a = Args::parse(rest, &["--delay-ms"], &[])?;
    a.no_positional()?;
    two_writes(b"abc", b"def", a.num("--delay-ms", Some(0))?)
}

fn utf8_split(rest: &[String]) -> Res<ExitCode> {
    let a = Args::parse(rest, &["--delay-ms"], &[])?;
    a.no_positional()?;
    let text = "héllo 😀 wörld\n".as_bytes();
    let split = "héllo ".len() + 2;
    two_writes(
        &text[..split],
        &text[split..],
        a.num("--delay-ms", Some(0))?,
    )
}

fn env(rest: &[String]) -> Res<ExitCode> {
    let a = Args::parse(rest, &[], &[])?;
    let mut buf = Vec::new();
    for name in &a.pos {
        buf.extend_from_slice(name.as_bytes());
        match std::env::var_os(name) {
            Some(v) => {
                buf.push(b'=');
                buf.extend_from_slice(&os_bytes(&v));
            }
            None => buf.extend_from_slice(b" unset"),
        }
        buf.push(b'\n');
    }
    let cwd = std::env::current_dir().map_err(io_err("current_dir"))?;
    buf.extend_from_slice(b"cwd=");
    buf.extend_from_slice(&os_bytes(cwd.as_os_str()));
    buf.push(b'\n');
    write_out(Stream::Out, &buf)?;
    Ok(ExitCode::SUCCESS)
}

fn counted_flood_mode(rest: &[String]) -> Res<ExitCode> {
    let a = Args::parse(rest, &["--bytes", "--chunk", "--count-file"], &[])?;
    a.no_positional()?;
    let chunk: usize = a.at_least_one("--chunk", Some(4096))?;
    let Some(path) = a.get("--count-file") else {
        return Err(Fail::Usage("--count-file is required".into()));
    };
    counted_flood(a.num("--bytes", None)?, chunk, path)
}

#[cfg(unix)]
fn seq(rest: &[String]) -> Res<ExitCode> {
    let a = Args::parse(
        rest,
        &["--records", "--procs", "--chunk", "--delay-us", "--seed"],
        &["--stderr", "--ignore-term", "--setsid"],
    )?;
    a.no_positional()?;
    let opts = SeqOpts {
        records: a.num("--records", Some(0))?,
        procs: a.num("--procs", Some(1))?,
        chunk: a.num("--chunk", Some(0))?,
        delay: Duration::from_micros(a.num("--delay-us", Some(0))?),
        seed: a.num("--seed", Some(0))?,
        stderr: a.has("--stderr"),
        ignore_term: a.has("--ignore-term"),
        setsid: a.has("--setsid"),
    };
    if opts.procs == 0 || opts.procs > 64 {
        return Err(Fail::Usage("--procs must be 1..=64".into()));
    }
    if opts.chunk > 0 && opts.procs > 1 {
        return Err(Fail::Usage("--chunk needs --procs 1".into()));
    }
    crate::unix::seq(opts)
}

/// Options of the `seq` mode.
#[cfg(unix)]
#[derive(Clone, Copy)]
pub(crate) struct SeqOpts {
    pub(crate) records: u64,
    pub(crate) procs: u32,
    pub(crate) chunk: usize,
    pub(crate) delay: Duration,
    pub(crate) seed: u64,
    pub(crate) stderr: bool,
    pub(crate) ignore_term: bool,
    pub(crate) setsid: bool,
}

// ---------------------------------------------------------------------------

fn flood(
    kind: PatternKind,
    bytes: u64,
    chunk: usize,
    stderr: bool,
    pid_stderr: bool,
) -> Res<ExitCode> {
    if pid_stderr {
        write_out(Stream::Err, pid_line_text("main").as_bytes())?;
    }
    let mut gen = PatternGen::new(kind);
    let mut buf = vec![
        0;
        chunk
            .min(usize::try_from(bytes).unwrap_or(usize::MAX))
            .max(1)
    ];
    let mut left = bytes;
    while left > 0 {
        let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        gen.fill(&mut buf[..n]);
        write_out(Stream::Out, &buf[..n])?;
        if stderr {
            write_out(Stream::Err, &buf[..n])?;
        }
        left -= n as u64;
    }
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------
// Trees

fn counted_flood(bytes: u64, chunk: usize, count_file: &str) -> Res<ExitCode> {
    use std::io::{Seek, SeekFrom, Write};
    let mut file = std::fs::File::create(count_file).map_err(io_err("create the count file"))?;
    let mut record = |total: u64| -> Res<()> {
        file.seek(SeekFrom::Start(0))
            .and_then(|_| file.write_all(format!("{total:<20}").as_bytes()))
            .map_err(io_err("write the count file"))
    };
    record(0)?;
    let mut gen = PatternGen::new(PatternKind::Text);
    let mut buf = vec![0; chunk];
    let mut total = 0u64;
    while total < bytes {
        let n = buf
            .len()
            .min(usize::try_from(bytes - total).unwrap_or(usize::MAX));
        gen.fill(&mut buf[..n]);
        write_out(Stream::Out, &buf[..n])?;
        total += n as u64;
        record(total)?;
    }
    Ok(ExitCode::SUCCESS)
}
