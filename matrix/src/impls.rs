//! The implementations (the matrix's columns) and how their drivers are started.

use std::path::{Path, PathBuf};
use std::process::Command;

/// One column of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Impl {
    /// kennel through its Node client's drop-in module `kennel/process`.
    KennelNode,
    /// `kennel run`, the CLI.
    KennelCli,
    /// The Node baseline (`baseline/process.js`).
    Baseline,
    /// The baseline's shell-tool variant (`baseline/shell-tool.js`).
    ShellTool,
    /// execa with cancelSignal + forceKillAfterDelay.
    Execa,
    /// tree-kill on a plain `child_process.spawn`.
    TreeKill,
    /// process-wrap (Rust, tokio): process group + kill-on-drop.
    ProcessWrap,
}

impl Impl {
    /// Every column, kennel's first.
    pub const ALL: [Impl; 7] = [
        Impl::KennelNode,
        Impl::KennelCli,
        Impl::Baseline,
        Impl::ShellTool,
        Impl::Execa,
        Impl::TreeKill,
        Impl::ProcessWrap,
    ];

    /// The name used on the command line and in file names.
    pub fn name(self) -> &'static str {
        match self {
            Impl::KennelNode => "kennel-node",
            Impl::KennelCli => "kennel-cli",
            Impl::Baseline => "baseline",
            Impl::ShellTool => "shell-tool",
            Impl::Execa => "execa",
            Impl::TreeKill => "tree-kill",
            Impl::ProcessWrap => "process-wrap",
        }
    }

    /// The column header of the report.
    pub fn title(self) -> &'static str {
        match self {
            Impl::KennelNode => "kennel (Node client)",
            Impl::KennelCli => "kennel run (CLI)",
            Impl::Baseline => "Node baseline",
            Impl::ShellTool => "baseline shell tool",
            Impl::Execa => "execa",
            Impl::TreeKill => "tree-kill",
            Impl::ProcessWrap => "process-wrap (Rust)",
        }
    }

    /// Parses [`Impl::name`].
    pub fn parse(s: &str) -> Option<Impl> {
        Impl::ALL.into_iter().find(|i| i.name() == s)
    }

    /// kennel's own columns: the harness asserts these pass.
    pub fn is_kennel(self) -> bool {
        matches!(self, Impl::KennelNode | Impl::KennelCli)
    }

    /// Runs under Node (needs `node` and the npm packages of `baseline/`).
    pub fn is_node(self) -> bool {
        !matches!(self, Impl::KennelCli | Impl::ProcessWrap)
    }

    /// The driver command for `job` (stdio and the cell tag are the caller's).
    pub fn driver(self, tools: &Tools, job: &Path) -> Command {
        match self {
            Impl::KennelCli => {
                let mut c = Command::new(&tools.cli_driver);
                c.arg(job).env("KENNEL_BIN", &tools.kennel);
                c
            }
            Impl::ProcessWrap => {
                // Built beside the CLI driver (same package).
                let mut c = Command::new(
                    tools
                        .cli_driver
                        .with_file_name("kennel-matrix-process-wrap-driver"),
                );
                c.arg(job);
                c
            }
            _ => {
                let mut c = Command::new(&tools.node);
                c.arg(
                    tools
                        .baseline
                        .join("drivers")
                        .join(format!("{}.js", self.name())),
                )
                .arg(job)
                .env("KENNEL_BIN", &tools.kennel);
                c
            }
        }
    }
}

/// Where the programs are.
#[derive(Debug, Clone)]
pub struct Tools {
    /// `node`.
    pub node: PathBuf,
    /// The `baseline/` directory (drivers, npm packages).
    pub baseline: PathBuf,
    /// The kennel binary.
    pub kennel: PathBuf,
    /// `kennel-fixture`.
    pub fixture: PathBuf,
    /// `kennel-matrix-cli-driver`.
    pub cli_driver: PathBuf,
}

/// Executables that belong to the supervisor side of a cell, not to the tree under test
/// (the driver, kennel's sidecar and keepers, the helpers the baselines run).
pub fn is_supervisor_exe(exe: &str) -> bool {
    matches!(
        exe,
        "node"
            | "kennel"
            | "kennel-matrix-cli-driver"
            | "kennel-matrix-process-wrap-driver"
            | "pgrep"
            | "ps"
    )
}
