//! A stream given as is (`Command::given_stdout`/`given_stderr`): the tree writes
//! straight into it, kennel reads and counts nothing; and `kennel::make_fifo`.

use std::fs::File;
use std::io::Read as _;

use crate::prelude::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_given_file_gets_the_output_and_kennel_counts_none() {
    let dir = std::env::temp_dir().join(format!("kennel-given-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (out, err) = (dir.join("out"), dir.join("err"));
    let mut child = fixture(&["print", "to the file", "--stderr", "to the other"])
        .given_stdout(File::create(&out).unwrap())
        .given_stderr(File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let outcome = child.wait().await;
    assert_eq!(outcome.status.code, Some(0), "{outcome:?}");
    assert_eq!((outcome.stdout.bytes, outcome.stderr.bytes), (0, 0));
    assert_eq!(std::fs::read(&out).unwrap(), b"to the file\n");
    assert_eq!(std::fs::read(&err).unwrap(), b"to the other\n");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_made_by_make_fifo_carries_the_output() {
    let dir = std::env::temp_dir().join(format!("kennel-fifo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("fifo");
    kennel::make_fifo(&path, 0o600).unwrap();
    let err = kennel::make_fifo(&path, 0o600).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
    use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
    let meta = std::fs::metadata(&path).unwrap();
    assert!(meta.file_type().is_fifo());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    // Read-write: the open waits for no one; then the child's write end.
    let mut reader = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let writer = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    let mut child = fixture(&["print", "through the fifo"])
        .given_stdout(writer)
        .spawn()
        .unwrap();
    assert_eq!(child.wait().await.status.code, Some(0));
    let mut buf = [0; 64];
    let n = reader.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"through the fifo\n");
    std::fs::remove_dir_all(&dir).unwrap();
}
