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
    /// Stdout, or stdout and stderr, to a file — the `File` itself or a `Stdio` made
    /// from it: after `wait` the file holds exactly what the child wrote, in the order
    /// written (two clones of one descriptor share the offset).
    async fn output_to_a_file() {
        let both = "echo out; echo err >&2; echo out again";
        let cases: [(&str, &str, &[u8]); 4] = [
            ("file", "printf 'line one\\n'; printf 'line two'", b"line one\nline two"),
            ("stdio", "printf 'line one\\n'; printf 'line two'", b"line one\nline two"),
            ("both-files", both, b"out\nerr\nout again\n"),
            ("both-stdios", both, b"out\nerr\nout again\n"),
        ];
        for (case, script, expected) in cases {
            let path = TempPath::new(&format!("out-{case}-{}", api(IS_KENNEL)));
            let file = File::create(&path.0).unwrap();
            let mut cmd = p::Command::new("sh");
            cmd.args(["-c", script]);
            match case {
                "file" => cmd.stdout(file),
                "stdio" => cmd.stdout(Stdio::from(file)),
                "both-files" => cmd.stdout(file.try_clone().unwrap()).stderr(file),
                _ => cmd
                    .stdout(Stdio::from(file.try_clone().unwrap()))
                    .stderr(Stdio::from(file)),
            };
            let status = cmd.status().await.unwrap();
            assert!(status.success(), "{case}");
            assert_eq!(path.read(), expected, "{case}");
        }
    }
}

both! {
    /// Stdin from a file — the `File` itself or a `Stdio` made from it — and stdout
    /// piped: `cat` hands the file's content back.
    async fn stdin_from_a_file() {
        let path = TempPath::new(&format!("in-{}", api(IS_KENNEL)));
        let input = b"from a file\n".repeat(1000);
        std::fs::write(&path.0, &input).unwrap();
        for as_stdio in [false, true] {
            let file = File::open(&path.0).unwrap();
            let mut cmd = p::Command::new("cat");
            cmd.stdout(Stdio::piped());
            match as_stdio {
                false => cmd.stdin(file),
                true => cmd.stdin(Stdio::from(file)),
            };
            let child = cmd.spawn().unwrap();
            let out = tokio::time::timeout(PATIENCE, child.wait_with_output())
                .await
                .unwrap()
                .unwrap();
            assert!(out.status.success(), "as a Stdio: {as_stdio}");
            assert_eq!(out.stdout, input, "as a Stdio: {as_stdio}");
        }
    }
}

both! {
    /// Stdin from one std child's stdout pipe and stdout into another's stdin pipe —
    /// the pipe ends themselves or `Stdio` values made from them: `printf | child (tr)
    /// | cat`. The reader's EOF also shows that nothing kept a copy of the pipe's write
    /// end after the spawn.
    async fn pipe_ends_of_other_processes() {
        for as_stdio in [false, true] {
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
            let mut cmd = p::Command::new("tr");
            cmd.args(["a-z", "A-Z"]);
            let (from, into) = (source.stdout.take().unwrap(), sink.stdin.take().unwrap());
            match as_stdio {
                false => cmd.stdin(from).stdout(into),
                true => cmd.stdin(Stdio::from(from)).stdout(Stdio::from(into)),
            };
            assert!(cmd.status().await.unwrap().success());
            // tokio's command holds the given ends for its next spawn.
            drop(cmd);
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
            assert_eq!(got, b"THROUGH A PIPE\n", "as a Stdio: {as_stdio}");
            assert!(source.wait().unwrap().success());
            assert!(sink.wait().unwrap().success());
        }
    }
}

both! {
    /// One child's stdout piped into another's stdin through a `Stdio` made from the
    /// first's `ChildStdout`, the way a shell pipeline is built with std: the second
    /// reads everything the first wrote, then EOF.
    async fn a_childs_stdout_as_the_next_ones_stdin() {
        let mut first = std::process::Command::new("sh")
            .args(["-c", "seq 1 20000"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let child = p::Command::new("wc")
            .arg("-l")
            .stdin(Stdio::from(first.stdout.take().unwrap()))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = tokio::time::timeout(PATIENCE, child.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "20000");
        assert!(first.wait().unwrap().success());
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

/// A file can go to one spawn (a `Stdio` cannot be copied), whether given as itself
/// or as a `Stdio` made from it: the next spawn of the same command says so until it
/// is set again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_goes_to_one_spawn() {
    let null = || File::create("/dev/null").unwrap();
    for as_stdio in [false, true] {
        let mut cmd = kennel::compat::Command::new("true");
        let set = |cmd: &mut kennel::compat::Command| {
            match as_stdio {
                false => cmd.stdout(null()),
                true => cmd.stdout(Stdio::from(null())),
            };
        };
        set(&mut cmd);
        assert!(cmd.status().await.unwrap().success());
        let err = cmd.spawn().unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
        set(&mut cmd);
        assert!(cmd.status().await.unwrap().success());
    }
}

/// A `Stdio` made from a descriptor goes to the child as a duplicate, and the
/// original is closed with the probe that read it: no descriptor of it is left in this
/// process (counted in `/proc/self/fd`), so a pipe given this way sees EOF as soon as
/// the child is done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stdio_from_a_descriptor_leaves_no_copy_behind() {
    let path = TempPath::new("nocopy-kennel");
    std::fs::write(&path.0, b"x").unwrap();
    let holders = |path: &std::path::Path| {
        std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
            .filter(|target| target == path)
            .count()
    };
    let mut cmd = kennel::compat::Command::new("cat");
    cmd.stdin(Stdio::from(File::open(&path.0).unwrap()))
        .stdout(Stdio::null());
    assert_eq!(holders(&path.0), 1, "the duplicate waits for the spawn");
    assert!(cmd.status().await.unwrap().success());
    assert_eq!(holders(&path.0), 0, "the spawn took the duplicate");
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
