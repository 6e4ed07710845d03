//! Any `Into<Stdio>` — a file, a descriptor, another process's pipe end — goes to the
//! child as it would with tokio: written on both APIs (see [`both!`](crate::both)),
//! plus kennel's tree kill with a file for stdout.

use std::fs::File;
use std::io::Read as _;
use std::path::PathBuf;
use std::process::Stdio;

use super::{both, eventually, is_alive, marked, new_marker, PATIENCE};

/// A fresh path in the temp directory, unique to this test process and `name`; removed
/// on drop.
struct TempPath(PathBuf);

impl TempPath {
    fn new(name: &str) -> TempPath {
        let path =
            std::env::temp_dir().join(format!("kennel-compat-{name}-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        TempPath(path)
    }

    fn read(&self) -> Vec<u8> {
        std::fs::read(&self.0).unwrap()
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The API's name, to keep the two runs' files apart.
fn api(is_kennel: bool) -> &'static str {
    if is_kennel {
        "kennel"
    } else {
        "tokio"
    }
}

both! {
    /// Stdout to a file: after `wait` the file holds exactly what the child wrote.
    async fn stdout_to_a_file() {
        let path = TempPath::new(&format!("out-{}", api(IS_KENNEL)));
        let file = File::create(&path.0).unwrap();
        let status = p::Command::new("sh")
            .args(["-c", "printf 'line one\\n'; printf 'line two'"])
            .stdout(file)
            .status()
            .await
            .unwrap();
        assert!(status.success());
        assert_eq!(path.read(), b"line one\nline two");
    }
}

both! {
    /// Stdin from a file, stdout piped: `cat` copies the file.
    async fn stdin_from_a_file() {
        let path = TempPath::new(&format!("in-{}", api(IS_KENNEL)));
        let input = b"from a file\n".repeat(1000);
        std::fs::write(&path.0, &input).unwrap();
        let child = p::Command::new("cat")
            .stdin(File::open(&path.0).unwrap())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = tokio::time::timeout(PATIENCE, child.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, input);
    }
}

both! {
    /// Stdout and stderr to one file (a clone of its descriptor, sharing the offset):
    /// both streams' bytes, in the order written.
    async fn stdout_and_stderr_to_one_file() {
        let path = TempPath::new(&format!("both-{}", api(IS_KENNEL)));
        let file = File::create(&path.0).unwrap();
        let status = p::Command::new("sh")
            .args(["-c", "echo out; echo err >&2; echo out again"])
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .status()
            .await
            .unwrap();
        assert!(status.success());
        assert_eq!(path.read(), b"out\nerr\nout again\n");
    }
}

both! {
    /// Stdin from one std child's stdout pipe and stdout into another's stdin pipe:
    /// `printf | child (tr) | cat`. The reader's EOF also shows that nothing kept a copy
    /// of the pipe's write end after the spawn.
    async fn pipe_ends_of_other_processes() {
        let mut source = std::process::Command::new("printf")
            .arg("through a pipe\n")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut sink = std::process::Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let status = p::Command::new("tr")
            .args(["a-z", "A-Z"])
            .stdin(source.stdout.take().unwrap())
            .stdout(sink.stdin.take().unwrap())
            .status()
            .await
            .unwrap();
        assert!(status.success());
        let mut sink_out = sink.stdout.take().unwrap();
        let got = tokio::time::timeout(
            PATIENCE,
            tokio::task::spawn_blocking(move || {
                let mut got = Vec::new();
                sink_out.read_to_end(&mut got).map(|_| got)
            }),
        )
        .await
        .expect("EOF from the sink: no copy of its stdin left open")
        .unwrap()
        .unwrap();
        assert_eq!(got, b"THROUGH A PIPE\n");
        assert!(source.wait().unwrap().success());
        assert!(sink.wait().unwrap().success());
    }
}

/// The tree kill does not depend on kennel reading the output: with stdout to a file,
/// `kill()` still ends the background job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_ends_the_tree_with_stdout_to_a_file() {
    let marker = new_marker("filekill");
    let path = TempPath::new("kill-kennel");
    let mut child = kennel::compat::Command::new("sh")
        .args(["-c", "sleep 300 & echo $!; wait"])
        .env(&marker, "1")
        .stdout(File::create(&path.0).unwrap())
        .spawn()
        .unwrap();
    let mut grandchild = 0;
    assert!(
        eventually(|| {
            let text = String::from_utf8_lossy(&path.read()).into_owned();
            grandchild = text.trim().parse().unwrap_or(0);
            text.ends_with('\n') && grandchild != 0
        })
        .await,
        "the background job's pid in the file"
    );
    assert!(is_alive(grandchild));
    child.kill().await.unwrap();
    assert!(
        !is_alive(grandchild),
        "{}",
        kennel_tests::describe(grandchild)
    );
    assert_eq!(
        marked(&marker),
        Vec::<u32>::new(),
        "kennel left the tree running"
    );
}

/// A file can go to one spawn (a `Stdio` cannot be copied): the next spawn of the same
/// command says so until it is set again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_goes_to_one_spawn() {
    let mut cmd = kennel::compat::Command::new("true");
    cmd.stdout(File::create("/dev/null").unwrap());
    assert!(cmd.status().await.unwrap().success());
    let err = cmd.spawn().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
    cmd.stdout(File::create("/dev/null").unwrap());
    assert!(cmd.status().await.unwrap().success());
}

/// A `Stdio` value made from a file cannot be told apart from a pipe request without
/// moving it (see the module docs): it fails the spawn instead of being guessed at;
/// the file itself works (above).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stdio_made_from_a_file_is_refused() {
    let file = File::open("/dev/null").unwrap();
    let err = kennel::compat::Command::new("true")
        .stdout(Stdio::from(file))
        .spawn()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::Unsupported);
}

/// Without a cgroup (the process-group tier, std's `posix_spawn` path) a file goes to
/// the child as well.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_on_the_group_tier() {
    let path = TempPath::new("group-kennel");
    let mut child = kennel::compat::Command::new("sh")
        .args(["-c", "echo on the group tier"])
        .stdout(File::create(&path.0).unwrap())
        .kennel(|k| {
            k.containment(kennel::ContainmentOptions {
                cgroup: false,
                keeper: false,
            })
        })
        .spawn()
        .unwrap();
    assert_eq!(child.containment(), Some(kennel::Containment::Group));
    assert!(child.wait().await.unwrap().success());
    assert_eq!(path.read(), b"on the group tier\n");
}
