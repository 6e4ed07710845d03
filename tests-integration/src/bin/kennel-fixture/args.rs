//! The fixture's command line: positional arguments and `--flag [value]`s.

use crate::{Fail, Res};

/// A parsed command line: positional arguments and `--flag [value]`s.
pub(crate) struct Args {
    pub(crate) pos: Vec<String>,
    values: Vec<(String, String)>,
    bools: Vec<String>,
}

impl Args {
    pub(crate) fn parse(args: &[String], value_flags: &[&str], bool_flags: &[&str]) -> Res<Args> {
        let mut a = Args {
            pos: Vec::new(),
            values: Vec::new(),
            bools: Vec::new(),
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            if arg == "--" {
                a.pos.extend(it.cloned());
                break;
            }
            if !arg.starts_with("--") {
                a.pos.push(arg.clone());
                continue;
            }
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (arg.as_str(), None),
            };
            if value_flags.contains(&name) {
                let v = match inline {
                    Some(v) => v,
                    None => it
                        .next()
                        .cloned()
                        .ok_or_else(|| Fail::Usage(format!("{name} needs a value")))?,
                };
                a.values.push((name.to_owned(), v));
            } else if bool_flags.contains(&name) && inline.is_none() {
                a.bools.push(name.to_owned());
            } else {
                return Err(Fail::Usage(format!("unknown flag {arg:?}")));
            }
        }
        Ok(a)
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.bools.iter().any(|b| b == name)
    }

    /// The value of `name` as a number; `default` when absent (`None`: required).
    pub(crate) fn num<T: std::str::FromStr>(&self, name: &str, default: Option<T>) -> Res<T> {
        match (self.get(name), default) {
            (Some(v), _) => parse_num(name, v),
            (None, Some(d)) => Ok(d),
            (None, None) => Err(Fail::Usage(format!("{name} is required"))),
        }
    }

    /// The value of `name` as a number that must not be 0; `default` when absent.
    pub(crate) fn at_least_one<T: std::str::FromStr + PartialEq + From<u8>>(
        &self,
        name: &str,
        default: Option<T>,
    ) -> Res<T> {
        let v = self.num(name, default)?;
        if v == T::from(0) {
            return Err(Fail::Usage(format!("{name} must be at least 1")));
        }
        Ok(v)
    }

    /// The command line of a mode that takes no flags and exactly `N` positional
    /// arguments: those.
    pub(crate) fn only<const N: usize>(args: &[String]) -> Res<[String; N]> {
        exactly(Args::parse(args, &[], &[])?.pos)
    }

    pub(crate) fn no_positional(&self) -> Res<()> {
        self.positional::<0>().map(|_| ())
    }

    pub(crate) fn positional<const N: usize>(&self) -> Res<[&str; N]> {
        exactly(self.pos.iter().map(String::as_str).collect())
    }
}

/// `v` as an array of `N` positional arguments.
fn exactly<T: std::fmt::Debug, const N: usize>(v: Vec<T>) -> Res<[T; N]> {
    v.try_into()
        .map_err(|v: Vec<T>| Fail::Usage(format!("expected {N} positional argument(s), got {v:?}")))
}

pub(crate) fn parse_num<T: std::str::FromStr>(what: &str, v: &str) -> Res<T> {
    v.parse()
        .map_err(|_| Fail::Usage(format!("{what}: not a valid number: {v:?}")))
}
