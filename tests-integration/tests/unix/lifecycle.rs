//! Exit codes, fused wait, environment and working directory.

use crate::prelude::*;
use kennel_tests::checks;

#[tokio::test]
async fn exit_code_is_reported_and_wait_is_fused() {
    let mut child = fixture(&["exit", "42"]).spawn().unwrap();
    let first = checks::exits_with_and_wait_is_fused(&mut child, 42).await;
    assert_eq!(first.reason, EndReason::Exited);
    assert_eq!(first.ladder_step, None);
    assert_eq!(first.drain, Drain::Complete);
    assert_eq!(first.containment, child.containment());
    // Without the keeper (this test binary does not host it), the strongest tier here is
    // the cgroup when one is writable, else the process group.
    let expected = if kennel::available_containment().contains(&kennel::Containment::Cgroup) {
        kennel::Containment::Cgroup
    } else {
        kennel::Containment::Group
    };
    assert_eq!(first.containment, expected);
    assert!(child.next_event().await.is_none());
    assert_eq!(child.outcome(), Some(&first));
}

#[tokio::test]
async fn environment_set_remove_clear_and_cwd() {
    checks::env_set_remove_and_cwd(
        fixture(&["env", "KENNEL_A", "KENNEL_B", "HOME"]),
        &std::env::temp_dir(),
    )
    .await;

    let cleared = fixture(&["env", "HOME", "KENNEL_C"])
        .env_clear()
        .env("KENNEL_C", "kept");
    let text = checks::stdout_text(cleared).await;
    assert!(text.contains("HOME unset\n"), "{text}");
    assert!(text.contains("KENNEL_C=kept\n"), "{text}");
}

/// A command started from a prepared [`kennel::Environment`] sees exactly its variables
/// (not ours), with the command's own changes on top; the program is looked up along
/// the prepared `PATH`; `env_clear` afterwards starts from nothing again.
#[tokio::test]
async fn a_prepared_environment_is_the_childs_with_changes_on_top() {
    let dir = std::env::temp_dir().join(format!("kennel-prepared-env-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).unwrap();
    let script = dir.join("kennel-prepared-only");
    std::fs::write(
        &script,
        "#!/bin/sh\necho \"P=${KENNEL_P-unset} HOME=${HOME-unset} S=${KENNEL_S-unset} PATH=${PATH-unset}\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = dir.to_str().unwrap();
    let env = kennel::Environment::from_vars([
        ("KENNEL_P", "prepared"),
        ("HOME", "/prepared-home"),
        ("PATH", path),
    ]);
    // Found only along the prepared PATH: ours does not hold `dir`.
    let plain = Command::new("kennel-prepared-only").environment(&env);
    assert_eq!(
        checks::stdout_text(plain).await,
        format!("P=prepared HOME=/prepared-home S=unset PATH={path}\n")
    );
    let changed = Command::new("kennel-prepared-only")
        .env("KENNEL_S", "set")
        .environment(&env)
        .env_remove("HOME");
    assert_eq!(
        checks::stdout_text(changed).await,
        format!("P=prepared HOME=unset S=set PATH={path}\n")
    );
    // (`sh` gives itself a default PATH when it has none.)
    let cleared = Command::new(&script).environment(&env).env_clear();
    let text = checks::stdout_text(cleared).await;
    assert!(
        text.starts_with("P=unset HOME=unset S=unset PATH="),
        "{text}"
    );
    assert!(!text.contains(path), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn arguments_with_shell_metacharacters_are_passed_verbatim() {
    let weird = "$(echo pwned); `id` && | > ' \" *";
    let out = fixture(&["print", "--", weird]).output().await.unwrap();
    assert_eq!(out.stdout, format!("{weird}\n").as_bytes());
}

#[tokio::test]
async fn shell_is_used_only_when_asked() {
    let out = Command::shell("echo $((6 * 7))").output().await.unwrap();
    assert_eq!(out.stdout, b"42\n");
    assert!(out.outcome.success());
}

#[tokio::test]
async fn output_is_delivered_exactly_as_written() {
    let out = fixture(&["partial-line"]).output().await.unwrap();
    assert_eq!(out.stdout, b"abcdef");
    let out = fixture(&["utf8-split", "--delay-ms", "20"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.stdout, "héllo 😀 wörld\n".as_bytes());
    let out = checks::out_and_err_stay_apart(fixture(&["print", "out", "--stderr", "err"])).await;
    assert_eq!(out.outcome.stdout.bytes, 4);
    assert_eq!(out.outcome.stderr.bytes, 4);
}
