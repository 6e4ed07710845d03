//! A bare program name that is a batch file or a `.com` program on `PATH`.
//!
//! `npm`, `npx`, `pnpm`, `yarn`, `tsc`, `codex`, `code` are `.cmd` shims on Windows.
//! std's `Command`, like `CreateProcessW`, looks only for `<name>.exe`, so
//! `Command::new("npx")` fails with "not found" — the most reported spawn failure of
//! Node tools on Windows ("spawn npx ENOENT"). The usual fixes are `shell: true`, which
//! hands the whole command line to `cmd.exe` to parse (quoting bugs, injection), or a
//! lookup library (`cross-spawn`). kennel does the lookup a shell does, for that case
//! only:
//!
//! * **Which names.** A file name with no directory and no `.` (std appends `.exe`
//!   only to such a name, and searches for any other as given), for which std would
//!   find no `<name>.exe` in any place it looks (the child's `PATH` when the command
//!   sets one, this program's directory, the system and Windows directories, our
//!   `PATH`). Everything std starts today is started as before.
//! * **Where.** The directories of the child's `PATH` (the command's, else ours), in
//!   order; in each, the extensions of `PATHEXT` (the command's, else ours, else
//!   `.COM;.EXE;.BAT;.CMD`) in order, keeping those `CreateProcessW` can start
//!   through std: `.com`, `.bat`, `.cmd`. The first file found is started by its
//!   full path. Not searched, unlike `cmd.exe`: the working directory, and relative
//!   `PATH` entries (a file dropped into a working directory must not win over `PATH`;
//!   std stopped searching it for the same reason).
//! * **Running a batch file.** std runs `.bat`/`.cmd` as `cmd.exe /e:ON /v:OFF /d /c`
//!   with each argument escaped for `cmd.exe` (`%` and `"` included), and refuses an
//!   argument with a line break, which `cmd.exe` would treat as the end of the command
//!   (CVE-2024-24576, "BatBadBut"); kennel reports that refusal as
//!   [`SpawnError::BatchArgument`](crate::SpawnError::BatchArgument), naming the file
//!   and the argument. The tree is `cmd.exe` and what it starts, all in the job.
//!
//! The search runs only for such a name, before the spawn: a few file-attribute
//! lookups, small next to a `CreateProcessW`.

use std::ffi::{OsStr, OsString};
use std::os::windows::ffi::OsStringExt as _;
use std::path::{Path, PathBuf};

use windows_sys::Win32::System::SystemInformation::{GetSystemDirectoryW, GetWindowsDirectoryW};

use crate::sys::{child_var, Launch, SpawnCtx};
use crate::SpawnError;

/// The extensions searched when neither the command nor this process sets `PATHEXT`
/// (the Windows default, less the script hosts' ones).
const DEFAULT_PATHEXT: &str = ".COM;.EXE;.BAT;.CMD";

/// The extensions of `PATHEXT` that std can start: a program (`.com`; `.exe` is std's
/// own search) or a batch file.
const STARTABLE: [&str; 3] = [".com", ".bat", ".cmd"];

/// The file to start for `launch.program` instead of the name, when it is a bare name
/// that only a `PATHEXT` lookup finds (see the module docs); `None` to start it as
/// given.
pub(crate) fn resolve(launch: &Launch<'_>) -> Option<PathBuf> {
    let name = launch.program;
    if !is_bare_name(name) {
        return None;
    }
    let child_path = child_var(launch, "PATH");
    let ours = std::env::var_os("PATH");
    if std_finds_exe(name, child_path.as_ref(), ours.as_deref()) {
        return None;
    }
    let path = match child_path {
        Some(set) => set?,
        None => ours?,
    };
    let pathext = match child_var(launch, "PATHEXT") {
        Some(set) => set,
        None => std::env::var_os("PATHEXT"),
    };
    let extensions = startable(pathext.as_deref());
    std::env::split_paths(&path)
        .filter(|dir| dir.is_absolute())
        .find_map(|dir| {
            extensions.iter().find_map(|ext| {
                let mut file = name.to_os_string();
                file.push(ext);
                let candidate = dir.join(file);
                candidate.is_file().then_some(candidate)
            })
        })
}

/// std's refusal of a batch file's argument (`InvalidInput` for a line break), as
/// [`SpawnError::BatchArgument`]; any other error is given back. `started` is the file
/// std was asked to start.
pub(crate) fn batch_refusal(
    ctx: &SpawnCtx,
    launch: &Launch<'_>,
    started: &Path,
    source: std::io::Error,
) -> Result<SpawnError, std::io::Error> {
    if source.kind() != std::io::ErrorKind::InvalidInput || !is_batch_file(started) {
        return Err(source);
    }
    let line_break = |a: &OsStr| {
        a.as_encoded_bytes()
            .iter()
            .any(|b| matches!(b, b'\r' | b'\n'))
    };
    match launch.args.iter().position(|a| line_break(a)) {
        Some(i) => Ok(SpawnError::BatchArgument {
            program: ctx.program.clone(),
            cwd: ctx.cwd.clone(),
            path: started.to_path_buf(),
            index: i + 1,
            source,
        }),
        None => Err(source),
    }
}

/// Whether std would run `path` as a batch file (through `cmd.exe`).
pub(crate) fn is_batch_file(path: &Path) -> bool {
    path.extension()
        .and_then(OsStr::to_str)
        .is_some_and(|e| e.eq_ignore_ascii_case("bat") || e.eq_ignore_ascii_case("cmd"))
}

/// A file name with no directory, no drive and no `.`: the names std looks up as
/// `<name>.exe`.
fn is_bare_name(name: &OsStr) -> bool {
    let bytes = name.as_encoded_bytes();
    !bytes.is_empty()
        && !bytes
            .iter()
            .any(|b| matches!(b, b'\\' | b'/' | b':' | b'.'))
}

/// The extensions of `pathext` (or the default) that std can start, in its order,
/// lowercase, each once.
fn startable(pathext: Option<&OsStr>) -> Vec<&'static str> {
    let list = pathext
        .and_then(OsStr::to_str)
        .filter(|v| !v.trim().is_empty())
        .unwrap_or(DEFAULT_PATHEXT);
    let mut found = Vec::new();
    for ext in list.split(';').map(str::trim) {
        if let Some(&known) = STARTABLE.iter().find(|k| k.eq_ignore_ascii_case(ext)) {
            if !found.contains(&known) {
                found.push(known);
            }
        }
    }
    found
}

/// Whether std's own search finds `<name>.exe`: in the child's `PATH` when the command
/// sets it, this program's directory, the system and Windows directories, our `PATH`.
fn std_finds_exe(
    name: &OsStr,
    child_path: Option<&Option<OsString>>,
    ours: Option<&OsStr>,
) -> bool {
    let mut file = name.to_os_string();
    file.push(".exe");
    let has = |dir: &Path| dir.join(&file).symlink_metadata().is_ok();
    let on = |paths: Option<&OsStr>| {
        paths.is_some_and(|p| {
            std::env::split_paths(p)
                .filter(|d| !d.as_os_str().is_empty())
                .any(|d| has(&d))
        })
    };
    on(child_path.and_then(Option::as_deref))
        || std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(has))
            .unwrap_or(false)
        || system_dirs().iter().any(|d| has(d))
        || on(ours)
}

/// The system directory and the Windows directory.
fn system_dirs() -> Vec<PathBuf> {
    type Getter = unsafe extern "system" fn(*mut u16, u32) -> u32;
    let getters: [Getter; 2] = [GetSystemDirectoryW, GetWindowsDirectoryW];
    let mut dirs = Vec::with_capacity(2);
    for get in getters {
        let mut buf = [0u16; 520];
        // SAFETY: `buf` is writable for `buf.len()` u16s, the size passed; the call
        // writes at most that many and returns the length written (without the nul),
        // or the size needed when it does not fit, or 0 on failure.
        let n = unsafe { get(buf.as_mut_ptr(), buf.len() as u32) } as usize;
        if n > 0 && n < buf.len() {
            dirs.push(PathBuf::from(OsString::from_wide(&buf[..n])));
        }
    }
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_bare_name_without_a_dot_is_looked_up() {
        assert!(is_bare_name(OsStr::new("npx")));
        for given in ["npx.cmd", "node.v20", r"bin\npx", "./npx", "C:npx", ""] {
            assert!(!is_bare_name(OsStr::new(given)), "{given}");
        }
    }

    #[test]
    fn pathext_keeps_what_std_can_start_in_its_order() {
        assert_eq!(startable(None), [".com", ".bat", ".cmd"]);
        assert_eq!(
            startable(Some(OsStr::new(".CMD;.JS;.EXE;.bat;.cmd; .COM"))),
            [".cmd", ".bat", ".com"]
        );
        assert_eq!(startable(Some(OsStr::new(" "))), [".com", ".bat", ".cmd"]);
    }

    #[test]
    fn batch_files_are_told_by_their_extension() {
        assert!(is_batch_file(Path::new(r"C:\npm\npx.CMD")));
        assert!(is_batch_file(Path::new("x.bat")));
        assert!(!is_batch_file(Path::new("x.exe")));
        assert!(!is_batch_file(Path::new("cmd")));
    }
}
