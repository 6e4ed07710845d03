//! `kennel run --memory-max SIZE --pids-max N --cpu-max CPUS`: resource limits of the
//! whole tree, and the `usage` field of `--report`.

use kennel::{Limits, Usage};
use serde_json::{json, Value};

/// The limit options of `kennel run`.
#[derive(Debug, Clone, clap::Args)]
pub struct LimitArgs {
    /// Limit the tree's memory (RAM, no swap on top), e.g. 64M, 1G, 1.5G; a tree that
    /// runs out is killed whole (report `reason` `memory_limit`, exit 137).
    #[arg(long, value_name = "SIZE", value_parser = kennel::parse_size)]
    pub memory_max: Option<u64>,
    /// Limit the number of processes alive in the tree at once (Linux: tasks, threads
    /// included); process creations beyond it fail inside the tree.
    #[arg(long, value_name = "N", value_parser = kennel::parse_pids)]
    pub pids_max: Option<u32>,
    /// Limit the tree's CPU time to this many CPUs, e.g. 0.5 or 2.
    #[arg(long, value_name = "CPUS", value_parser = kennel::parse_cpus)]
    pub cpu_max: Option<f64>,
    /// Run without the limits this host cannot enforce instead of failing (exit 125).
    #[arg(long)]
    pub limits_best_effort: bool,
}

impl LimitArgs {
    /// The limits asked for; with `report`, memory peak and processes are measured
    /// even without their limits.
    pub fn limits(&self, report: bool) -> Limits {
        let mut limits = Limits::new()
            .best_effort(self.limits_best_effort)
            .full_accounting(report);
        if let Some(bytes) = self.memory_max {
            limits = limits.memory_max_bytes(bytes);
        }
        if let Some(n) = self.pids_max {
            limits = limits.pids_max(n);
        }
        if let Some(cpus) = self.cpu_max {
            limits = limits.cpus(cpus);
        }
        limits
    }
}

/// The report's `usage` object: the measured fields only (absent = not measured).
pub fn usage_json(u: &Usage) -> Value {
    let mut map = serde_json::Map::new();
    for (key, value) in [
        ("cpu_user_ms", u.cpu_user_ms),
        ("cpu_system_ms", u.cpu_system_ms),
        ("memory_peak_bytes", u.memory_peak_bytes),
        ("processes", u.processes),
        ("forks_refused", u.forks_refused),
        ("oom_kills", u.oom_kills),
    ] {
        if let Some(v) = value {
            map.insert(key.to_owned(), json!(v));
        }
    }
    map.insert("processes_exact".to_owned(), json!(u.processes_exact));
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        limits: LimitArgs,
    }

    #[test]
    fn options_become_limits() {
        let cli = Cli::parse_from([
            "x",
            "--memory-max",
            "64M",
            "--pids-max",
            "64",
            "--cpu-max",
            "0.5",
        ]);
        let limits = cli.limits.limits(false);
        assert_eq!(limits.memory_max_bytes, Some(64 << 20));
        assert_eq!(limits.pids_max, Some(64));
        assert_eq!(limits.cpus, Some(0.5));
        assert!(!limits.best_effort && !limits.full_accounting);
        assert!(Cli::try_parse_from(["x", "--memory-max", "lots"]).is_err());
        assert!(Cli::try_parse_from(["x", "--pids-max", "0"]).is_err());
        assert!(Cli::parse_from(["x"]).limits.limits(true).full_accounting);
    }

    #[test]
    fn usage_lists_what_was_measured() {
        let mut u = Usage::default();
        u.cpu_user_ms = Some(5);
        let v = usage_json(&u);
        assert_eq!(v["cpu_user_ms"], 5);
        assert!(v.get("memory_peak_bytes").is_none());
        assert_eq!(v["processes_exact"], false);
    }
}
