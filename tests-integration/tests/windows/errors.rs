//! Spawn errors are typed and name the program and the working directory.

use crate::prelude::*;

#[tokio::test]
async fn a_missing_program_is_not_found() {
    let err = Command::new("kennel-no-such-program-4d2f")
        .spawn()
        .unwrap_err();
    assert!(matches!(err, SpawnError::NotFound { .. }), "{err:?}");
    assert_eq!(err.program(), "kennel-no-such-program-4d2f");
    assert!(err.to_string().contains("not found"), "{err}");
}

#[tokio::test]
async fn a_missing_absolute_path_is_not_found() {
    let dir = std::env::temp_dir().join("kennel-no-such-dir-9a1c");
    let err = Command::new(dir.join("prog.exe")).spawn().unwrap_err();
    assert!(matches!(err, SpawnError::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn a_bad_working_directory_is_reported_before_spawning() {
    let cwd = std::env::temp_dir().join("kennel-no-such-dir-9a1c");
    let err = fixture(&["exit", "0"])
        .current_dir(&cwd)
        .spawn()
        .unwrap_err();
    match err {
        SpawnError::BadCwd { program, cwd: got } => {
            assert_eq!(program, FIXTURE);
            assert_eq!(got, cwd);
        }
        other => panic!("expected BadCwd, got {other:?}"),
    }
}

#[tokio::test]
async fn a_file_that_is_not_a_program_is_an_os_or_permission_error() {
    // A text file named .exe: CreateProcess says ERROR_BAD_EXE_FORMAT (an Os error
    // with its stage); some systems say access denied.
    let dir = std::env::temp_dir().join(format!("kennel-bad-exe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("not-a-program.exe");
    std::fs::write(&path, b"hello").unwrap();
    let err = Command::new(&path).spawn().unwrap_err();
    let _ = std::fs::remove_dir_all(&dir);
    match &err {
        SpawnError::Os { stage, .. } => assert_eq!(*stage, "CreateProcessW"),
        SpawnError::PermissionDenied { .. } => {}
        other => panic!("expected Os or PermissionDenied, got {other:?}"),
    }
}
