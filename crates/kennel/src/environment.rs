//! An environment prepared once and handed to many spawns ([`Environment`]).
//!
//! Every spawn that inherits the supervisor's environment copies it: `std::env::vars_os`
//! allocates each key and value under std's lock, and the child's `key=value` strings
//! are built again. For a process that spawns often from an environment it never
//! changes (the sidecar: ~35–50 variables, a few hundred allocator calls and ~8% of its
//! CPU per spawn, issue 16 session 17), [`Environment::capture`] takes that copy once
//! and [`crate::Command::environment`] starts each child from it. Reading `environ`
//! directly instead (what `std::process::Command` does for an unchanged environment)
//! would race a caller's `set_var`, which std only makes safe against readers that take
//! its lock; a captured copy is read through std, once.

use std::ffi::{OsStr, OsString};
use std::sync::Arc;

/// A snapshot of environment variables, cheap to clone and shared by every command
/// that starts from it ([`crate::Command::environment`]).
///
/// Variables are kept sorted by name, one value per name (the last one given wins),
/// which is the order a child sees them in.
///
/// ```
/// let env = kennel::Environment::capture();
/// let cmd = kennel::Command::new("env").environment(&env).env("EXTRA", "1");
/// # let _ = cmd;
/// ```
#[derive(Clone, Debug)]
pub struct Environment(Arc<Prepared>);

#[derive(Debug)]
struct Prepared {
    vars: Vec<(OsString, OsString)>,
    /// `key=value` as the child's `execve` takes it (Linux; built once).
    #[cfg(target_os = "linux")]
    entries: Vec<std::ffi::CString>,
}

impl Environment {
    /// This process's environment, as it is now (read through `std::env`). Later
    /// changes to the process's environment are not seen by commands started from it.
    pub fn capture() -> Environment {
        Environment::from_vars(std::env::vars_os())
    }

    /// An environment of exactly `vars`. A name or value holding a nul byte cannot be
    /// passed to a program: such a variable is left out.
    pub fn from_vars<I, K, V>(vars: I) -> Environment
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        let map: std::collections::BTreeMap<OsString, OsString> = vars
            .into_iter()
            .map(|(k, v)| (k.as_ref().to_os_string(), v.as_ref().to_os_string()))
            .filter(|(k, v)| !has_nul(k) && !has_nul(v))
            .collect();
        let vars: Vec<(OsString, OsString)> = map.into_iter().collect();
        #[cfg(target_os = "linux")]
        let entries = vars
            .iter()
            .filter_map(|(k, v)| env_entry(k, v).ok())
            .collect();
        Environment(Arc::new(Prepared {
            vars,
            #[cfg(target_os = "linux")]
            entries,
        }))
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: impl AsRef<OsStr>) -> Option<&OsStr> {
        let key = key.as_ref();
        self.0
            .vars
            .binary_search_by(|(k, _)| k.as_os_str().cmp(key))
            .ok()
            .map(|i| self.0.vars[i].1.as_os_str())
    }

    /// Every variable, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&OsStr, &OsStr)> {
        self.0
            .vars
            .iter()
            .map(|(k, v)| (k.as_os_str(), v.as_os_str()))
    }

    /// The number of variables.
    pub fn len(&self) -> usize {
        self.0.vars.len()
    }

    /// Whether there is no variable at all.
    pub fn is_empty(&self) -> bool {
        self.0.vars.is_empty()
    }

    /// `key=value` for each variable, built once (Linux's spawn hands them to `execve`).
    #[cfg(target_os = "linux")]
    pub(crate) fn entries(&self) -> &[std::ffi::CString] {
        &self.0.entries
    }
}

impl<K: AsRef<OsStr>, V: AsRef<OsStr>> FromIterator<(K, V)> for Environment {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(vars: I) -> Environment {
        Environment::from_vars(vars)
    }
}

/// `key=value` in one allocation of its final size (with room for the nul, so that
/// `CString::new` does not grow it): growing the key into the entry cost two
/// reallocations per variable (issue 16's churn profile).
#[cfg(target_os = "linux")]
pub(crate) fn env_entry(key: &OsStr, value: &OsStr) -> std::io::Result<std::ffi::CString> {
    let mut kv = Vec::with_capacity(key.len() + value.len() + 2);
    kv.extend_from_slice(key.as_encoded_bytes());
    kv.push(b'=');
    kv.extend_from_slice(value.as_encoded_bytes());
    std::ffi::CString::new(kv).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "nul byte found in provided data",
        )
    })
}

fn has_nul(s: &OsStr) -> bool {
    s.as_encoded_bytes().contains(&0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_are_sorted_the_last_value_wins_and_nul_bytes_are_left_out() {
        let env = Environment::from_vars([
            ("B", "2"),
            ("A", "1"),
            ("B", "3"),
            ("BAD\0KEY", "x"),
            ("C", "bad\0value"),
        ]);
        let vars: Vec<_> = env.iter().collect();
        assert_eq!(
            vars,
            [
                (OsStr::new("A"), OsStr::new("1")),
                (OsStr::new("B"), OsStr::new("3"))
            ]
        );
        assert_eq!(env.get("B"), Some(OsStr::new("3")));
        assert_eq!(env.get("C"), None);
        assert_eq!(env.len(), 2);
        #[cfg(target_os = "linux")]
        assert_eq!(
            env.entries(),
            [c"A=1".to_owned(), c"B=3".to_owned()].as_slice()
        );
    }

    #[test]
    fn a_capture_holds_this_process_environment() {
        let env = Environment::capture();
        let now: std::collections::BTreeMap<OsString, OsString> = std::env::vars_os().collect();
        assert_eq!(env.len(), now.len());
        for (k, v) in &now {
            assert_eq!(env.get(k), Some(v.as_os_str()), "{k:?}");
        }
    }
}
