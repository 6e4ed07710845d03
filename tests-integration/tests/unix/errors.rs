//! Spawn errors are typed and name the program (and the directory).

use crate::prelude::*;

#[tokio::test]
async fn missing_program() {
    let err = Command::new("kennel-no-such-program").spawn().unwrap_err();
    assert!(
        matches!(err, kennel::SpawnError::NotFound { .. }),
        "{err:?}"
    );
    assert_eq!(err.program(), "kennel-no-such-program");
    let text = err.to_string();
    assert!(
        text.contains("`kennel-no-such-program`") && text.contains("not found"),
        "{text}"
    );
    assert!(std::error::Error::source(&err).is_some());
}

#[tokio::test]
async fn program_that_is_not_executable() {
    let script = kennel_tests::NotExecutable::new("noexec");
    let err = Command::new(script.path()).spawn().unwrap_err();
    assert!(
        matches!(err, kennel::SpawnError::PermissionDenied { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("permission denied"), "{err}");
    assert!(err.to_string().contains("script"), "{err}");
}

#[tokio::test]
async fn bad_working_directory_is_not_mistaken_for_a_missing_program() {
    let err = fixture(&["exit", "0"])
        .current_dir("/kennel/does/not/exist")
        .spawn()
        .unwrap_err();
    assert!(matches!(err, kennel::SpawnError::BadCwd { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("/kennel/does/not/exist"), "{text}");
    assert!(text.contains("kennel-fixture"), "{text}");
}

#[test]
fn spawn_outside_a_runtime_is_an_error_not_a_panic() {
    let err = fixture(&["exit", "0"]).spawn().unwrap_err();
    assert!(
        matches!(err, kennel::SpawnError::NoRuntime { .. }),
        "{err:?}"
    );
}

/// systemd/systemd#3038, Originate/scriptkeeper#69, arsv/minibase#9:
/// a script whose `#!` interpreter is missing (or ends in a `\r` from Windows line
/// endings) fails `exec` with `ENOENT`, and was reported as "the program was not found"
/// although the script is right there. The error names the script and the interpreter.
#[tokio::test]
async fn a_script_whose_interpreter_is_missing_is_not_reported_as_a_missing_program() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = std::env::temp_dir().join(format!("kennel-bad-interp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create the scripts' directory");
    // (file name, contents, the interpreter, as the message shows it)
    let cases = [
        (
            "missing",
            "#!/kennel/no/such/interpreter -e\necho hi\n",
            "/kennel/no/such/interpreter",
            "\"/kennel/no/such/interpreter\"",
        ),
        (
            "crlf",
            "#!/bin/sh\r\necho hi\r\n",
            "/bin/sh\r",
            "\"/bin/sh\\r\"",
        ),
    ];
    for (name, text, interp, shown) in cases {
        let script = dir.join(name);
        std::fs::write(&script, text).expect("write the script");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
            .expect("make it executable");
        // By path, and by name along `PATH` (the lookup finds the same file).
        for cmd in [Command::new(&script), Command::new(name).env("PATH", &dir)] {
            let err = cmd.spawn().unwrap_err();
            let text = err.to_string();
            let kennel::SpawnError::InterpreterNotFound {
                path, interpreter, ..
            } = &err
            else {
                panic!("{name}: {err:?}");
            };
            assert_eq!(path, &script, "{text}");
            assert_eq!(
                interpreter.as_deref(),
                Some(std::path::Path::new(interp)),
                "{text}"
            );
            assert!(
                text.contains(&format!("{} exists", script.display()))
                    && text.contains(shown)
                    && !text.contains("the program was not found"),
                "{text}"
            );
            let source = std::error::Error::source(&err)
                .and_then(|s| s.downcast_ref::<std::io::Error>())
                .expect("the OS error is the source");
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound, "{text}");
        }
        // `kennel run` says so too, and exits 127 as for a missing program.
        let (code, stderr) = kennel_cli(&["run"], &script);
        assert_eq!(code, Some(127), "{stderr}");
        assert!(
            stderr.contains(shown) && stderr.contains("exists"),
            "{stderr}"
        );
    }
    // A program that is really missing is still "not found".
    let err = Command::new(dir.join("absent")).spawn().unwrap_err();
    assert!(
        matches!(err, kennel::SpawnError::NotFound { .. }),
        "{err:?}"
    );
    std::fs::remove_dir_all(&dir).expect("remove the scripts");
}

/// Users' reports (vsajip/sarge#24, yarnpkg/berry#5196, MikeWang000000/Natter#108): a
/// script with no `#!` line, or a binary for another system, fails `exec` with
/// `ENOEXEC`, which `kennel run` reported as "fork/exec failed" with no reason and
/// exit 125. The error now says what the file lacks and how to run it, carries the OS
/// error, and `kennel run` / `kennel timeout` exit 126, as a shell does for a file it
/// found but cannot execute.
#[tokio::test]
async fn a_file_the_kernel_cannot_run_is_named_with_the_fix() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = std::env::temp_dir().join(format!("kennel-enoexec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create the files' directory");
    let cases: [(&str, &[u8]); 2] = [
        ("no-shebang", b"echo hi\n"),
        (
            "foreign-binary",
            b"\x7fELF\x02\x01\x01\x00not a real program",
        ),
    ];
    for (name, bytes) in cases {
        let file = dir.join(name);
        std::fs::write(&file, bytes).expect("write the file");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755))
            .expect("make it executable");
        for cmd in [Command::new(&file), Command::new(name).env("PATH", &dir)] {
            let err = cmd.spawn().unwrap_err();
            assert!(
                matches!(err, kennel::SpawnError::NotAProgram { .. }),
                "{name}: {err:?}"
            );
            let source = std::error::Error::source(&err)
                .and_then(|s| s.downcast_ref::<std::io::Error>())
                .expect("the OS error is the source");
            assert_eq!(source.raw_os_error(), Some(libc::ENOEXEC), "{err}");
            let report = err.report();
            assert!(
                report.contains("#!") && report.ends_with("(os error 8)"),
                "{report}"
            );
        }
        for args in [&["run", "--"][..], &["timeout", "5"][..]] {
            let (code, stderr) = kennel_cli(args, &file);
            assert_eq!(code, Some(126), "{args:?}: {stderr}");
            assert!(
                stderr.contains("#!") && stderr.contains("Exec format error"),
                "{args:?}: {stderr}"
            );
        }
    }
    std::fs::remove_dir_all(&dir).expect("remove the files");
}

/// `kennel ARGS PROGRAM` with stdin closed: its exit code and stderr.
fn kennel_cli(args: &[&str], program: &std::path::Path) -> (Option<i32>, String) {
    let out = std::process::Command::new(KENNEL)
        .args(args)
        .arg(program)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run kennel");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
