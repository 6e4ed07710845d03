//! `env_clear` starts from an empty environment (nothing of the supervisor's leaks),
//! `env_remove` removes, `env` sets; through the library and the sidecar.

use kennel::Command;

use crate::*;

const SECRET: &str = "KENNEL_TEST_SECRET";

fn lines(out: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(out)
        .lines()
        .map(String::from)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn library_env_clear_and_remove_are_honoured() {
    // Set in this process's environment: a child inherits it unless told otherwise.
    let inherited = Command::new(FIXTURE)
        .args(["env", "PATH", "HOME"])
        .output()
        .await
        .expect("spawn");
    assert!(lines(&inherited.stdout)[0].starts_with("PATH="));
    let cleared = Command::new(FIXTURE)
        .args(["env", "PATH", "HOME", "ONLY"])
        .env_clear()
        .env("ONLY", "this")
        .output()
        .await
        .expect("spawn");
    assert_eq!(
        lines(&cleared.stdout)[..3],
        ["PATH unset", "HOME unset", "ONLY=this"]
    );
    let removed = Command::new(FIXTURE)
        .args(["env", "PATH", "HOME"])
        .env_remove("HOME")
        .output()
        .await
        .expect("spawn");
    let l = lines(&removed.stdout);
    assert!(l[0].starts_with("PATH=") && l[1] == "HOME unset", "{l:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sidecar_env_clear_hides_the_sidecar_environment() {
    // The sidecar itself gets a secret; its children must not see it when cleared.
    let mut sc = Sidecar::start_with_env(&[(SECRET, "hunter2")]).await;
    sc.spawn("inherit", &["env", SECRET], json!({})).await;
    sc.spawn(
        "clear",
        &["env", SECRET, "PATH", "SET"],
        json!({"env_clear": true, "env": {"SET": "1"}}),
    )
    .await;
    sc.spawn(
        "remove",
        &["env", SECRET, "PATH"],
        json!({"env_remove": [SECRET]}),
    )
    .await;
    for id in ["inherit", "clear", "remove"] {
        sc.seen_event("exit", id).await;
    }
    assert_eq!(
        lines(&sc.output_of("inherit", "stdout"))[0],
        format!("{SECRET}=hunter2")
    );
    assert_eq!(
        lines(&sc.output_of("clear", "stdout"))[..3],
        [
            format!("{SECRET} unset"),
            "PATH unset".into(),
            "SET=1".into()
        ]
    );
    let l = lines(&sc.output_of("remove", "stdout"));
    assert!(
        l[0] == format!("{SECRET} unset") && l[1].starts_with("PATH="),
        "{l:?}"
    );
    sc.finish().await;
}
