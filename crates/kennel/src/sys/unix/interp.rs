//! Why `exec` said "not found" for a program that exists: a script whose `#!`
//! interpreter is missing (or a binary whose dynamic loader is) fails with the same
//! `ENOENT` as a missing program. After the spawn failed, the parent looks again: the
//! first of the paths `exec` tried that is a regular file is the one that could not
//! start, and its `#!` line names what was missing.

use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Linux reads this much of a file to find its `#!` line (`BINPRM_BUF_SIZE`).
const HEAD_BYTES: u64 = 256;

/// The file `exec` found for `program` (looked up along `path_var` as `execvp` does,
/// relative to `cwd`), and the interpreter its `#!` line names if that does not exist;
/// `None` if no candidate is a regular file (the program is really missing).
pub(crate) fn existing_program(
    program: &OsStr,
    cwd: &Path,
    path_var: Option<&OsStr>,
) -> Option<(PathBuf, Option<PathBuf>)> {
    let found = candidates(program, path_var)
        .into_iter()
        .find(|p| cwd.join(p).metadata().is_ok_and(|m| m.is_file()))?;
    let interpreter = shebang(&cwd.join(&found)).filter(|i| !cwd.join(i).exists());
    Some((found, interpreter))
}

/// The paths `execvp` tries for `program` with `path_var` as `PATH` (`/bin:/usr/bin`
/// when unset), in order; a program with a `/` is the only one, an empty one has none.
/// Also the spawn's own lookup (`linux/vfork/prep.rs`).
pub(crate) fn candidates(program: &OsStr, path_var: Option<&OsStr>) -> Vec<PathBuf> {
    let bytes = program.as_bytes();
    if bytes.is_empty() {
        return Vec::new();
    }
    if bytes.contains(&b'/') {
        return vec![PathBuf::from(program)];
    }
    let path_var = path_var.map_or(&b"/bin:/usr/bin"[..], OsStr::as_bytes);
    path_var
        .split(|&b| b == b':')
        .map(|dir| {
            let dir = if dir.is_empty() { &b"."[..] } else { dir };
            Path::new(OsStr::from_bytes(dir)).join(program)
        })
        .collect()
}

/// The interpreter named on the `#!` line of the file at `path`, as the kernel reads
/// it: after `#!` and blanks, up to a blank or the end of the line (a `\r` before the
/// `\n` is part of the name, as it is to the kernel).
fn shebang(path: &Path) -> Option<PathBuf> {
    let mut head = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(HEAD_BYTES)
        .read_to_end(&mut head)
        .ok()?;
    let line = head.strip_prefix(b"#!")?;
    let line = line.split(|&b| b == b'\n' || b == 0).next()?;
    let name = line
        .split(|&b| b == b' ' || b == b'\t')
        .find(|part| !part.is_empty())?;
    Some(PathBuf::from(OsStr::from_bytes(name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_with_a_slash_is_the_only_candidate() {
        assert_eq!(
            candidates(OsStr::new("./x/prog"), Some(OsStr::new("/a:/b"))),
            vec![PathBuf::from("./x/prog")]
        );
        assert_eq!(
            candidates(OsStr::new("prog"), Some(OsStr::new("/a::/b"))),
            vec![
                PathBuf::from("/a/prog"),
                PathBuf::from("./prog"),
                PathBuf::from("/b/prog")
            ]
        );
        assert!(candidates(OsStr::new(""), None).is_empty());
    }

    #[test]
    fn the_shebang_line_is_read_as_the_kernel_reads_it() {
        let dir = std::env::temp_dir().join(format!("kennel-interp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let cases: [(&[u8], Option<&str>); 5] = [
            (b"#!/bin/sh\necho\n", Some("/bin/sh")),
            (b"#! \t/usr/bin/env  bash -e\n", Some("/usr/bin/env")),
            (b"#!/bin/sh\r\necho\n", Some("/bin/sh\r")),
            (b"#!\n", None),
            (b"\x7fELF\x02\x01", None),
        ];
        for (i, (text, want)) in cases.into_iter().enumerate() {
            let file = dir.join(i.to_string());
            std::fs::write(&file, text).expect("write");
            assert_eq!(shebang(&file), want.map(PathBuf::from), "case {i}");
        }
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
