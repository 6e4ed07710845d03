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
