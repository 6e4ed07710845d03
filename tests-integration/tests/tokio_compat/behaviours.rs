//! Behaviours tokio's own process tests check, each run on `tokio::process` and on
//! `kennel::compat` (see [`both!`](crate::both)).

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use super::{both, PATIENCE};

both! {
    /// Piped stdin and stdout round trip through `cat`, written with `tokio::io::copy`
    /// and read with `read_to_end`; dropping stdin is the EOF.
    async fn cat_round_trip() {
        let mut child = p::Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let input = b"hello\nworld\n".repeat(10_000);
        let writer = tokio::spawn(async move {
            tokio::io::copy(&mut &input[..], &mut stdin).await.unwrap();
            stdin.flush().await.unwrap();
        });
        let mut got = Vec::new();
        tokio::time::timeout(PATIENCE, stdout.read_to_end(&mut got))
            .await
            .unwrap()
            .unwrap();
        writer.await.unwrap();
        assert_eq!(got, b"hello\nworld\n".repeat(10_000));
        assert!(child.wait().await.unwrap().success());
    }
}

both! {
    /// `wait_with_output` after writing stdin with `write_all` and dropping it (tokio's
    /// `shutdown` of a `ChildStdin` only flushes; the drop is the EOF).
    async fn stdin_then_wait_with_output() {
        let mut child = p::Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"one line").await.unwrap();
        stdin.shutdown().await.unwrap();
        drop(stdin);
        let out = child.wait_with_output().await.unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, b"one line");
        assert!(out.stderr.is_empty());
    }
}

both! {
    /// `output()` pipes stdout and stderr whatever they were set to and returns the
    /// exit code.
    async fn output_collects_both_streams_and_the_code() {
        let mut cmd = p::Command::new("sh");
        cmd.arg("-c").arg("printf out; printf err >&2; exit 3");
        cmd.stdout(Stdio::null());
        let out = cmd.output().await.unwrap();
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(out.stdout, b"out");
        assert_eq!(out.stderr, b"err");
    }
}

both! {
    /// `status()` waits and reports the code (the borrow of the command ends at the
    /// call: the command is reused).
    async fn status_reports_the_code() {
        let mut cmd = p::Command::new("sh");
        cmd.args(["-c", "exit 7"]);
        let first = cmd.status();
        let second = cmd.status();
        assert_eq!(first.await.unwrap().code(), Some(7));
        assert_eq!(second.await.unwrap().code(), Some(7));
    }
}

both! {
    /// Lines read with `BufReader::lines`.
    async fn stdout_lines() {
        let mut child = p::Command::new("sh")
            .args(["-c", "for i in 1 2 3; do echo line$i; done"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut got = Vec::new();
        while let Some(line) = lines.next_line().await.unwrap() {
            got.push(line);
        }
        assert_eq!(got, ["line1", "line2", "line3"]);
        assert!(child.wait().await.unwrap().success());
    }
}

both! {
    /// Environment (set, remove, clear) and working directory reach the child.
    async fn env_and_current_dir() {
        let dir = std::env::temp_dir().canonicalize().unwrap();
        let out = p::Command::new("/bin/sh")
            .args(["-c", "echo \"$A|${B-unset}|${HOME-unset}\"; pwd"])
            .env_clear()
            .envs([("A", "1"), ("B", "2")])
            .env("HOME", "/nowhere")
            .env_remove("B")
            .current_dir(&dir)
            .output()
            .await
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(text, format!("1|unset|/nowhere\n{}\n", dir.display()));
    }
}

both! {
    /// `wait` after `kill`: the status says SIGKILL, and `wait` is fused.
    async fn wait_after_kill() {
        use std::os::unix::process::ExitStatusExt as _;
        let mut child = p::Command::new("sleep").arg("300").spawn().unwrap();
        assert!(child.id().is_some());
        child.kill().await.unwrap();
        let status = child.wait().await.unwrap();
        assert_eq!(status.signal(), Some(9));
        assert_eq!(child.wait().await.unwrap(), status);
        assert_eq!(child.id(), None);
        // Killing a finished child is fine.
        child.start_kill().unwrap();
    }
}

both! {
    /// `try_wait` is `None` while the child runs and `Some` (the same, repeatedly) once
    /// it exited.
    async fn try_wait_before_and_after_exit() {
        let mut child = p::Command::new("sh")
            .args(["-c", "read line; exit 4"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        assert_eq!(child.try_wait().unwrap(), None);
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"go\n").await.unwrap();
        stdin.flush().await.unwrap();
        let deadline = tokio::time::Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(tokio::time::Instant::now() < deadline, "no exit seen");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        };
        assert_eq!(status.code(), Some(4));
        assert_eq!(child.try_wait().unwrap(), Some(status));
        assert_eq!(child.wait().await.unwrap(), status);
    }
}

both! {
    /// `kill_on_drop(true)`: dropping the child kills it, so its stdout (held by the
    /// test, with stdin kept open) reaches EOF.
    async fn kill_on_drop_true_kills() {
        let mut child = p::Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let _stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        drop(child);
        let mut rest = Vec::new();
        tokio::time::timeout(PATIENCE, stdout.read_to_end(&mut rest))
            .await
            .expect("EOF: the dropped child was killed")
            .unwrap();
        assert!(rest.is_empty());
    }
}

both! {
    /// `kill_on_drop(false)`: the dropped child runs on and still answers on its pipes.
    async fn kill_on_drop_false_keeps_it_running() {
        let mut child = p::Command::new("sh")
            .args(["-c", "read line; echo got $line"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(false)
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        drop(child);
        stdin.write_all(b"ping\n").await.unwrap();
        stdin.flush().await.unwrap();
        let mut got = String::new();
        tokio::time::timeout(PATIENCE, stdout.read_to_string(&mut got))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, "got ping\n");
    }
}

both! {
    /// A missing program is an `io::Error` of kind `NotFound`.
    async fn missing_program_is_not_found() {
        let err = p::Command::new("/nonexistent/program").spawn().unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    }
}

/// A std command with a program, arguments, an environment variable and a working
/// directory, all of which show in its output: [`CARRIED`].
fn carrying_command() -> std::process::Command {
    let mut std_cmd = std::process::Command::new("sh");
    std_cmd
        .args(["-c", "echo $X; pwd"])
        .env("X", "carried")
        .current_dir("/");
    std_cmd
}

/// The output of [`carrying_command`] when every part was carried.
const CARRIED: &[u8] = b"carried\n/\n";

both! {
    /// `From<std::process::Command>` carries program, arguments, environment and
    /// working directory.
    async fn from_std_command() {
        let out = p::Command::from(carrying_command()).output().await.unwrap();
        assert_eq!(out.stdout, CARRIED);
    }
}

both! {
    /// `From<tokio::process::Command>` carries the same parts (on tokio it is the
    /// identity conversion, so the test body is the same for both).
    async fn from_tokio_command() {
        let tokio_cmd = tokio::process::Command::from(carrying_command());
        #[allow(clippy::useless_conversion, reason = "the identity on tokio: one body for both")]
        let out = p::Command::from(tokio_cmd).output().await.unwrap();
        assert_eq!(out.stdout, CARRIED);
    }
}

both! {
    /// `Stdio::null()` stdin reads EOF at once; `Stdio::null()` stderr is discarded.
    async fn null_stdio() {
        let out = p::Command::new("sh")
            .args(["-c", "cat; echo done; echo lost >&2"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
            .wait_with_output()
            .await
            .unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, b"done\n");
        assert!(out.stderr.is_empty());
    }
}
