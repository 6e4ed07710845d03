//! A bare name that only a `PATHEXT` lookup finds — `npx`, `npm`, `codex`: `.cmd` shims —
//! starts that file through `cmd.exe` (`sys/windows/pathext.rs`). Node's
//! `spawn("npx")` fails with `ENOENT` on Windows, the most reported spawn failure of Node
//! tools there (docs/USER-REPORTS.md); so did kennel's.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::prelude::*;

/// A directory of its own for one test, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(test: &str) -> Dir {
        let dir = std::env::temp_dir().join(format!("kennel-shims-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text.replace('\n', "\r\n")).unwrap();
        path
    }

    /// `PATH` with this directory first.
    fn path_first(&self) -> OsString {
        let ours = std::env::var_os("PATH").unwrap_or_default();
        let dirs = std::iter::once(self.0.clone()).chain(std::env::split_paths(&ours));
        std::env::join_paths(dirs).unwrap()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A unique bare name for this test's shim.
fn name(test: &str) -> String {
    format!("kshim{test}{}", std::process::id())
}

async fn run(command: Command) -> (Outcome, String) {
    let mut child = command.spawn().unwrap();
    let mut seen = Seen::default();
    let outcome = read_to_end(&mut child, &mut seen).await;
    (outcome, String::from_utf8_lossy(&seen.stdout).into_owned())
}

#[tokio::test]
async fn a_bare_name_runs_the_cmd_shim_on_path_with_its_arguments() {
    let dir = Dir::new("args");
    let shim = name("args");
    dir.write(
        &format!("{shim}.cmd"),
        "@echo off\necho shim [%~1] [%~2] [%~3]\nexit /b 7\n",
    );
    // std quotes each argument for cmd.exe. Wine 8's cmd.exe still splits a quoted
    // `a&b` at the `&` (Windows' does not), so the metacharacters are checked on
    // Windows only.
    let args: &[&str] = match under_wine() {
        true => &["two words", "plain", "50"],
        false => &["two words", "a&b", "x\"y"],
    };
    let (outcome, out) = run(Command::new(&shim).args(args).env("PATH", dir.path_first())).await;
    let expected = format!(
        "shim [{}] [{}] [{}]",
        args[0],
        args[1],
        args[2].replace('"', "\"\"")
    );
    assert_eq!(out.trim_end(), expected, "{outcome:?}");
    assert_eq!(outcome.status.code, Some(7), "{outcome:?}");
    assert_eq!(outcome.reason, EndReason::Exited);
}

#[tokio::test]
async fn a_program_of_the_same_name_wins_over_the_shim() {
    // What std found before the lookup existed is started as before.
    let dir = Dir::new("both");
    let both = name("both");
    std::fs::copy(FIXTURE, dir.0.join(format!("{both}.exe"))).unwrap();
    dir.write(
        &format!("{both}.cmd"),
        "@echo off\necho the shim ran\nexit /b 9\n",
    );
    let (outcome, out) = run(Command::new(&both)
        .args(["exit", "3"])
        .env("PATH", dir.path_first()))
    .await;
    assert!(!out.contains("the shim ran"), "{out}");
    assert_eq!(outcome.status.code, Some(3), "{outcome:?}");
}

#[tokio::test]
async fn the_childs_pathext_orders_the_extensions() {
    let dir = Dir::new("ext");
    let shim = name("ext");
    dir.write(&format!("{shim}.cmd"), "@echo off\necho cmd\n");
    dir.write(&format!("{shim}.bat"), "@echo off\necho bat\n");
    let (_, out) = run(Command::new(&shim).env("PATH", dir.path_first())).await;
    assert_eq!(
        out.trim_end(),
        "bat",
        "Windows' PATHEXT lists .BAT before .CMD"
    );
    // The child's own PATHEXT decides, whatever the case of its name.
    let (_, out) = run(Command::new(&shim)
        .env("PATH", dir.path_first())
        .env("PathExt", ".EXE;.CMD;.BAT"))
    .await;
    assert_eq!(out.trim_end(), "cmd");
    let err = Command::new(&shim)
        .env("PATH", dir.path_first())
        .env("PATHEXT", ".EXE")
        .spawn()
        .unwrap_err();
    assert!(matches!(err, SpawnError::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn a_shim_only_in_the_working_directory_is_not_found() {
    // cmd.exe would look in the working directory first; kennel, like std, does not.
    let dir = Dir::new("cwd");
    let shim = name("cwd");
    dir.write(&format!("{shim}.cmd"), "@echo off\necho ran\n");
    let err = Command::new(&shim).current_dir(&dir.0).spawn().unwrap_err();
    assert!(matches!(err, SpawnError::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn a_line_break_in_an_argument_of_a_batch_file_is_refused_by_name() {
    // Agents pass prompts as arguments; cmd.exe would end the command at the line break.
    let dir = Dir::new("newline");
    let shim = name("newline");
    let file = dir.write(&format!("{shim}.cmd"), "@echo off\necho ran\n");
    let err = Command::new(&shim)
        .args(["--prompt", "first line\nsecond line"])
        .env("PATH", dir.path_first())
        .spawn()
        .unwrap_err();
    match &err {
        SpawnError::BatchArgument {
            program,
            path,
            index,
            ..
        } => {
            assert_eq!(program, &shim);
            assert!(same_file(path, &file), "{path:?}");
            assert_eq!(*index, 2);
        }
        other => panic!("expected BatchArgument, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("batch file") && message.contains("stdin"),
        "{message}"
    );
    // The same file given by its path is refused the same way.
    let err = Command::new(&file).arg("a\r\nb").spawn().unwrap_err();
    assert!(
        matches!(err, SpawnError::BatchArgument { index: 1, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_tree_a_shim_starts_ends_with_the_run() {
    // The shim is cmd.exe running the fixture, which starts children of its own: all
    // of them are in the job.
    let dir = Dir::new("tree");
    let shim = name("tree");
    let fixture = std::path::absolute(FIXTURE).unwrap();
    dir.write(
        &format!("{shim}.cmd"),
        &format!("@\"{}\" %*\n", fixture.display()),
    );
    let command = Command::new(&shim)
        .args(["tree", "--depth", "2", "--width", "2"])
        .env("PATH", dir.path_first())
        .ladder(kill_only());
    let (mut child, mut seen, pids, procs) = spawn_ready(command, 3).await;
    assert!(
        !pids.contains(&child.id()),
        "the leader is cmd.exe, not the fixture"
    );
    child.cancel();
    let outcome = read_to_end(&mut child, &mut seen).await;
    procs.assert_gone();
    assert_eq!(outcome.reason, EndReason::Cancelled);
}

fn same_file(a: &Path, b: &Path) -> bool {
    a.to_string_lossy()
        .eq_ignore_ascii_case(&b.to_string_lossy())
}

#[test]
fn kennel_run_starts_a_shim_and_says_why_it_cannot_take_a_line_break() {
    let dir = Dir::new("cli");
    let shim = name("cli");
    dir.write(
        &format!("{shim}.cmd"),
        "@echo off\necho via shim %*\nexit /b 4\n",
    );
    let cli = |arg: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_kennel-test-cli"))
            .args(["run", "--", &shim, arg])
            .env("PATH", dir.path_first())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    let out = cli("hello");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim_end(),
        "via shim hello"
    );
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let out = cli("first\nsecond");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // 126, as for a program found that cannot be run this way.
    assert_eq!(out.status.code(), Some(126), "{stderr}");
    assert!(
        stderr.contains("batch file") && stderr.contains(".cmd"),
        "{stderr}"
    );
}
