//! The connection of a direct stream on Unix (see the parent module).

use std::io::{self, Write as _};
use std::os::fd::OwnedFd;
use std::process::Stdio;

use kennel_protocol::OutputStream;

/// Connects to the client's socket at `path` and writes the header line naming
/// `token`, the child's `id` and `stream`; returns the connection, blocking (the
/// child writes into it as into any pipe).
///
/// # Errors
///
/// The connect (no such socket, not ours to connect to, a full backlog, a path too
/// long for a socket address) or the header's write failed.
pub(crate) async fn connect(
    path: &str,
    token: &str,
    id: &str,
    stream: OutputStream,
) -> io::Result<Stdio> {
    let conn = tokio::net::UnixStream::connect(path).await?.into_std()?;
    conn.set_nonblocking(false)?;
    let mut header = serde_json::to_vec(&serde_json::json!({
        "token": token,
        "id": id,
        "stream": stream,
    }))?;
    header.push(b'\n');
    // A fresh connection's buffer takes a header of a few hundred bytes at once.
    (&conn).write_all(&header)?;
    Ok(Stdio::from(OwnedFd::from(conn)))
}
