//! Running external commands with their command line echoed first.

use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::process::{Command, Stdio};

/// A command to run, echoed as `$ program args…` before it starts.
pub struct Cmd {
    inner: Command,
    shown: String,
}

impl Cmd {
    pub fn new(program: impl AsRef<OsStr>) -> Cmd {
        let program = program.as_ref();
        Cmd {
            inner: Command::new(program),
            shown: display_program(program),
        }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Cmd {
        let arg = arg.as_ref();
        self.shown.push(' ');
        self.shown.push_str(&quote(arg));
        self.inner.arg(arg);
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for a in args {
            self = self.arg(a);
        }
        self
    }

    pub fn cwd(mut self, dir: &Path) -> Cmd {
        self.inner.current_dir(dir);
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, val: impl AsRef<OsStr>) -> Cmd {
        self.inner.env(key, val);
        self
    }

    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Cmd {
        self.inner.env_remove(key);
        self
    }

    /// Apply a list of environment changes: `Some(v)` sets, `None` removes.
    pub fn envs(mut self, vars: &[(OsString, Option<OsString>)]) -> Cmd {
        for (k, v) in vars {
            self = match v {
                Some(v) => self.env(k, v),
                None => self.env_remove(k),
            };
        }
        self
    }

    /// Run with inherited stdout/stderr and stdin from /dev/null; error unless it exits 0.
    pub fn run(mut self) -> Result<(), String> {
        println!("$ {}", self.shown);
        let status = self
            .inner
            .stdin(Stdio::null())
            .status()
            .map_err(|e| format!("could not start `{}`: {e}", self.shown))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("`{}` failed: {status}", self.shown))
        }
    }

    /// Run quietly (output discarded); true when it ran and exited 0.
    pub fn succeeds_quietly(mut self) -> bool {
        self.inner
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Run and capture stdout; stderr is shown only if it fails. Error unless it exits 0.
    pub fn read(mut self) -> Result<String, String> {
        let out = self
            .inner
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("could not start `{}`: {e}", self.shown))?;
        if !out.status.success() {
            return Err(format!(
                "`{}` failed: {}\n{}",
                self.shown,
                out.status,
                String::from_utf8_lossy(&out.stderr).trim_end()
            ));
        }
        String::from_utf8(out.stdout).map_err(|_| format!("`{}`: output not UTF-8", self.shown))
    }
}

/// Show `/home/u/.rustup/…/bin/cargo` as `cargo`: the full path is noise in logs.
fn display_program(program: &OsStr) -> String {
    let path = Path::new(program);
    let name = path
        .file_stem()
        .filter(|_| path.components().count() > 1)
        .unwrap_or(program);
    quote(name)
}

fn quote(s: &OsStr) -> String {
    let s = s.to_string_lossy();
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_=/.,:+@%".contains(c))
    {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Is `program` found on PATH (or is it an existing path)?
pub fn on_path(program: &str) -> bool {
    if program.contains(std::path::MAIN_SEPARATOR) {
        return Path::new(program).is_file();
    }
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| {
        let p = dir.join(program);
        p.is_file() || (cfg!(windows) && p.with_extension("exe").is_file())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_when_needed() {
        assert_eq!(quote(OsStr::new("--workspace")), "--workspace");
        assert_eq!(quote(OsStr::new("a b")), "'a b'");
        assert_eq!(quote(OsStr::new("it's")), r"'it'\''s'");
        assert_eq!(quote(OsStr::new("")), "''");
    }

    #[test]
    fn shows_short_program_name() {
        assert_eq!(
            display_program(OsStr::new("/x/toolchains/stable/bin/cargo")),
            "cargo"
        );
        assert_eq!(display_program(OsStr::new("npm")), "npm");
    }
}
