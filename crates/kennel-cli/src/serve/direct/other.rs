//! No UNIX sockets to hand a child outside Unix: every stream stays framed, and
//! `hello` does not list `direct_sockets`.

use std::io;
use std::process::Stdio;

use kennel_protocol::OutputStream;

/// Fails with `Unsupported`: this platform has no direct streams.
pub(crate) async fn connect(
    _path: &str,
    _token: &str,
    _id: &str,
    _stream: OutputStream,
) -> io::Result<Stdio> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "direct streams need UNIX sockets, which this platform does not hand to a child",
    ))
}
