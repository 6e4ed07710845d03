//! `timeout`'s command line, read as GNU's `getopt_long("+k:s:v")` reads it (see the
//! parent module's docs), and its durations and signals as GNU reads them.

use std::ffi::OsString;
use std::time::Duration;

use kennel::Signal;

/// The options of one `timeout` invocation.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeoutArgs {
    /// When to send the signal; `None` when the duration was 0 (or too large to matter).
    pub duration: Option<Duration>,
    /// `-k`: when to kill after the first signal; `None` when not given or 0.
    pub kill_after: Option<Duration>,
    /// `-s`: the signal sent at the timeout.
    pub signal: Signal,
    /// `--preserve-status`.
    pub preserve_status: bool,
    /// `--foreground` (accepted; see the module docs).
    pub foreground: bool,
    /// `-v`.
    pub verbose: bool,
    /// The command and its arguments.
    pub command: Vec<OsString>,
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// Run a command.
    Run(TimeoutArgs),
    /// `--help`.
    Help,
    /// `--version`.
    Version,
    /// A usage error: the message (none for a missing operand, as GNU), exit 125.
    Usage(Option<String>),
}

const LONG: [(&str, bool); 7] = [
    ("foreground", false),
    ("help", false),
    ("kill-after", true),
    ("preserve-status", false),
    ("signal", true),
    ("verbose", false),
    ("version", false),
];

/// Read `timeout`'s arguments (without `argv[0]`) as GNU coreutils does.
pub fn parse(args: &[OsString]) -> Parsed {
    let mut getopt = Getopt {
        args,
        next: 0,
        out: TimeoutArgs {
            duration: None,
            kill_after: None,
            signal: Signal::Term,
            preserve_status: false,
            foreground: false,
            verbose: false,
            command: Vec::new(),
        },
    };
    match getopt.options() {
        Ok(()) => getopt.operands(),
        Err(parsed) => parsed,
    }
}

/// GNU `getopt_long("+k:s:v")` over timeout's arguments: where it is and what it read.
struct Getopt<'a> {
    args: &'a [OsString],
    /// The index of the next argument.
    next: usize,
    out: TimeoutArgs,
}

impl Getopt<'_> {
    /// The next argument, consumed.
    fn take(&mut self) -> Option<String> {
        let arg = self.args.get(self.next)?;
        self.next += 1;
        Some(arg.to_string_lossy().into_owned())
    }

    /// Reads the options up to the first operand (or `--`). `Err` ends the parse early:
    /// `--help`, `--version` or a usage error.
    fn options(&mut self) -> Result<(), Parsed> {
        while let Some(arg) = self.args.get(self.next) {
            let arg = arg.to_string_lossy().into_owned();
            if arg == "--" {
                self.next += 1;
                return Ok(());
            }
            if let Some(long) = arg.strip_prefix("--") {
                self.next += 1;
                self.long(&arg, long)?;
                continue;
            }
            let Some(cluster) = arg.strip_prefix('-').filter(|c| !c.is_empty()) else {
                return Ok(()); // the first non-option: DURATION
            };
            self.next += 1;
            self.cluster(cluster)?;
        }
        Ok(())
    }

    /// One long option, `--name`, `--name=value` or `--name value`, maybe abbreviated.
    fn long(&mut self, arg: &str, long: &str) -> Result<(), Parsed> {
        let (name, inline) = match long.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (long, None),
        };
        let (full, takes_value) = long_option(name, arg)?;
        let value = match (takes_value, inline) {
            (true, Some(v)) => Some(v),
            (true, None) => Some(
                self.take()
                    .ok_or_else(|| usage(format!("option '--{full}' requires an argument")))?,
            ),
            (false, Some(_)) => {
                return Err(usage(format!(
                    "option '--{full}' doesn't allow an argument"
                )))
            }
            (false, None) => None,
        };
        match (full, value) {
            ("help", _) => return Err(Parsed::Help),
            ("version", _) => return Err(Parsed::Version),
            ("foreground", _) => self.out.foreground = true,
            ("preserve-status", _) => self.out.preserve_status = true,
            ("verbose", _) => self.out.verbose = true,
            (opt, Some(value)) => set_valued(&mut self.out, opt, &value)?,
            _ => return Err(usage(format!("unrecognized option '{arg}'"))),
        }
        Ok(())
    }

    /// Clustered short options (`-vs KILL`, `-k5`): the value of `-k`/`-s` is the
    /// rest of the cluster or the next argument.
    fn cluster(&mut self, cluster: &str) -> Result<(), Parsed> {
        for (at, c) in cluster.char_indices() {
            match c {
                'v' => self.out.verbose = true,
                'k' | 's' => {
                    let rest = &cluster[at + c.len_utf8()..];
                    let value = match rest {
                        "" => self.take().ok_or_else(|| {
                            usage(format!("option requires an argument -- '{c}'"))
                        })?,
                        rest => rest.to_string(),
                    };
                    let opt = if c == 'k' { "kill-after" } else { "signal" };
                    return set_valued(&mut self.out, opt, &value);
                }
                other => return Err(usage(format!("invalid option -- '{other}'"))),
            }
        }
        Ok(())
    }

    /// DURATION and the command.
    fn operands(mut self) -> Parsed {
        let i = self.next;
        if self.args.len() < i + 2 {
            return Parsed::Usage(None);
        }
        let interval = self.args[i].to_string_lossy().into_owned();
        match parse_gnu_duration(&interval) {
            Some(d) => self.out.duration = d,
            None => return usage(format!("invalid time interval {}", quote(&interval))),
        }
        self.out.command = self.args[i + 1..].to_vec();
        Parsed::Run(self.out)
    }
}

/// The long option `name` stands for (exactly, or as a unique prefix) and whether it
/// takes a value.
fn long_option(name: &str, arg: &str) -> Result<(&'static str, bool), Parsed> {
    if let Some(&exact) = LONG.iter().find(|(n, _)| *n == name) {
        return Ok(exact);
    }
    let matches: Vec<_> = LONG.iter().filter(|(n, _)| n.starts_with(name)).collect();
    match matches.as_slice() {
        [] => Err(usage(format!("unrecognized option '{arg}'"))),
        [one] => Ok(**one),
        many => {
            let list: Vec<String> = many.iter().map(|(n, _)| format!("'--{n}'")).collect();
            Err(usage(format!(
                "option '--{name}' is ambiguous; possibilities: {}",
                list.join(" ")
            )))
        }
    }
}

pub(crate) fn usage(message: String) -> Parsed {
    Parsed::Usage(Some(message))
}

fn set_valued(out: &mut TimeoutArgs, opt: &str, value: &str) -> Result<(), Parsed> {
    if opt == "kill-after" {
        match parse_gnu_duration(value) {
            Some(d) => out.kill_after = d,
            None => return Err(usage(format!("invalid time interval {}", quote(value)))),
        }
    } else {
        match parse_gnu_signal(value) {
            Some(s) => out.signal = s,
            None => return Err(usage(format!("{}: invalid signal", quote(value)))),
        }
    }
    Ok(())
}

/// A duration as GNU `timeout` reads it: a floating-point number (leading blanks,
/// exponents, `inf` and hexadecimal integers allowed) and at most one suffix `s`, `m`,
/// `h` or `d`. `Some(None)` for a duration that disables the timeout (0, or one too
/// large to ever fire); `None` when the text is not a duration.
pub fn parse_gnu_duration(text: &str) -> Option<Option<Duration>> {
    let t = text.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (number, multiplier) = match t.char_indices().last() {
        Some((at, 's')) => (&t[..at], 1.0),
        Some((at, 'm')) => (&t[..at], 60.0),
        Some((at, 'h')) => (&t[..at], 3600.0),
        Some((at, 'd')) => (&t[..at], 86400.0),
        _ => (t, 1.0),
    };
    let value: f64 = match number
        .strip_prefix("0x")
        .or_else(|| number.strip_prefix("0X"))
    {
        Some(hex) if !hex.is_empty() => u64::from_str_radix(hex, 16).ok()? as f64,
        _ => {
            // Rust's float grammar is C's minus hex floats; refuse what C refuses.
            if number.is_empty() || number.eq_ignore_ascii_case("nan") {
                return None;
            }
            number.parse().ok()?
        }
    };
    let seconds = value * multiplier;
    if seconds.is_nan() || seconds < 0.0 {
        return None;
    }
    if seconds == 0.0 {
        return Some(None);
    }
    // Past what a Duration holds: a timeout that never fires.
    Some(Duration::try_from_secs_f64(seconds).ok())
}

/// A signal as GNU's `operand2sig` reads it: a number from 0 to 64, or a name with or
/// without `SIG`, in any case.
pub fn parse_gnu_signal(text: &str) -> Option<Signal> {
    if text.trim() != text || text.is_empty() {
        return None;
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        let n: i32 = text.parse().ok()?;
        return (0..=64).contains(&n).then(|| Signal::from_number(n));
    }
    text.parse().ok()
}

/// `quote()` of gnulib in the C locale: `'text'`, with `'` and `\` escaped.
pub(crate) fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        match c {
            '\'' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push_str(&format!("\\{:03o}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}
