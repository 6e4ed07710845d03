//! No FIFOs outside Unix: every stream stays framed, and `hello` does not list
//! `direct_streams`.

use std::convert::Infallible;
use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::process::Stdio;

/// Never made: [`FifoDir::create`] fails with `Unsupported`.
#[derive(Debug)]
pub(crate) struct FifoDir(Infallible);

/// Never made.
pub(crate) struct Fifo(Infallible);

impl FifoDir {
    pub(crate) fn create() -> io::Result<FifoDir> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "direct streams need FIFOs, which this platform does not have",
        ))
    }

    pub(crate) fn fifo(&self, _stream: &str) -> io::Result<Fifo> {
        match self.0 {}
    }

    pub(crate) fn remove(&self) {
        match self.0 {}
    }
}

impl Fifo {
    pub(crate) fn split(self) -> ((PathBuf, File), Stdio) {
        match self.0 {}
    }
}
