//! Arguments full of shell metacharacters reach the program verbatim: no shell is
//! involved unless `shell` is asked for.

use kennel::Command;

use crate::*;

const NASTY: &[&str] = &[
    "$(touch /tmp/kennel-pwned-1)",
    "`touch /tmp/kennel-pwned-2`",
    "; touch /tmp/kennel-pwned-3",
    "| cat /etc/passwd",
    "&& echo $HOME > /tmp/kennel-pwned-4",
    "'single' \"double\" \\back",
    "*",
    "~",
    "a\nb",
    "${IFS}x",
    ">",
];

fn pwned() -> Vec<String> {
    (1..=4)
        .map(|i| format!("/tmp/kennel-pwned-{i}"))
        .filter(|p| std::path::Path::new(p).exists())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn library_passes_metacharacters_verbatim() {
    for arg in NASTY {
        let out = Command::new(FIXTURE)
            .args(["print", "--no-newline", "--", arg])
            .output()
            .await
            .expect("spawn");
        assert_eq!(out.stdout, arg.as_bytes(), "argument {arg:?} was altered");
    }
    assert!(pwned().is_empty(), "a shell ran: {:?}", pwned());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sidecar_passes_metacharacters_verbatim() {
    let mut sc = Sidecar::start().await;
    for (i, arg) in NASTY.iter().enumerate() {
        let id = format!("n{i}");
        sc.spawn(&id, &["print", "--no-newline", "--", arg], json!({}))
            .await;
        sc.wait_event("exit", &id).await;
        assert_eq!(sc.output_of(&id, "stdout"), arg.as_bytes(), "{arg:?}");
    }
    // A `cmd` with metacharacters is a program name, not a command line.
    sc.send(json!({"op": "spawn", "id": "cmd", "cmd": "true; touch /tmp/kennel-pwned-1"}))
        .await;
    let e = sc.wait_event("error", "cmd").await;
    assert_eq!(e["code"], "spawn_failed", "{e}");
    assert!(pwned().is_empty(), "a shell ran: {:?}", pwned());
    sc.finish().await;
}
