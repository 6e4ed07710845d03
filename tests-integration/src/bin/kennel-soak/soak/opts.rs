//! The command line of `kennel-soak`, and the timing every cycle shares.

use std::path::PathBuf;
use std::time::Duration;

pub(crate) const USAGE: &str = "usage: kennel-soak [--cycles N | --duration D] [--seed S] \
    [--parallel P] [--fixture PATH] [--kennel PATH] [--inject-leak BYTES]  (D: 90s, 10m, 1h; \
    --inject-leak only tests the leak check)";

/// Generous bound for anything that takes milliseconds on an idle machine.
pub(crate) const PATIENCE: Duration = Duration::from_secs(60);
/// The ladder every cycle uses: SIGTERM, this long, then SIGKILL.
pub(crate) const GRACE: Duration = Duration::from_millis(200);
pub(crate) const DRAIN_TIMEOUT: Duration = Duration::from_millis(300);

/// Command-line options.
pub(crate) struct Opts {
    pub(crate) cycles: Option<u64>,
    pub(crate) duration: Option<Duration>,
    pub(crate) seed: u64,
    pub(crate) parallel: usize,
    pub(crate) fixture: PathBuf,
    pub(crate) kennel: PathBuf,
    /// Test-only: bytes leaked per cycle, to show the live-heap check catches a leak.
    pub(crate) leak_bytes: usize,
}

impl Opts {
    pub(crate) fn parse(mut args: impl Iterator<Item = String>) -> Result<Opts, String> {
        let here = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(PathBuf::from))
            .unwrap_or_default();
        let mut o = Opts {
            cycles: None,
            duration: None,
            seed: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(1),
            parallel: 4,
            fixture: here.join("kennel-fixture"),
            kennel: here.join("kennel-test-cli"),
            leak_bytes: 0,
        };
        while let Some(flag) = args.next() {
            let mut value = || args.next().ok_or(format!("{flag} needs a value"));
            match flag.as_str() {
                "--cycles" => o.cycles = Some(num(&flag, &value()?)?),
                "--duration" => o.duration = Some(duration(&value()?)?),
                "--seed" => o.seed = num(&flag, &value()?)?,
                "--parallel" => o.parallel = num(&flag, &value()?)?,
                "--fixture" => o.fixture = value()?.into(),
                "--kennel" => o.kennel = value()?.into(),
                "--inject-leak" => o.leak_bytes = num(&flag, &value()?)?,
                _ => return Err(format!("unknown argument {flag:?}")),
            }
        }
        if o.cycles.is_some() && o.duration.is_some() {
            return Err("give --cycles or --duration, not both".into());
        }
        if o.cycles.is_none() && o.duration.is_none() {
            o.cycles = Some(400);
        }
        if o.parallel == 0 {
            return Err("--parallel must be at least 1".into());
        }
        for p in [&o.fixture, &o.kennel] {
            if !p.is_file() {
                return Err(format!(
                    "{} does not exist (build the kennel-tests bins)",
                    p.display()
                ));
            }
        }
        Ok(o)
    }
}

pub(crate) fn num<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| format!("{flag}: {v:?} is not a number"))
}

pub(crate) fn duration(v: &str) -> Result<Duration, String> {
    let (n, unit) = v.split_at(v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len()));
    let n: u64 = n.parse().map_err(|_| format!("bad duration {v:?}"))?;
    Ok(Duration::from_secs(match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("bad duration unit in {v:?} (s, m, h)")),
    }))
}
