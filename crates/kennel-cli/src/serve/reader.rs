//! Reading requests: stdin cut into bounded lines by a [`LineSplitter`], each parsed by
//! [`parse_request`].

use kennel_protocol::{parse_request, ErrorCode, Line, LineSplitter, Request, RequestError};
use tokio::io::{AsyncRead, AsyncReadExt};

/// How much is read from stdin at once.
const READ_BUFFER: usize = 64 * 1024;

/// Requests from a byte stream, one per line; at most one line
/// ([`kennel_protocol::MAX_LINE_BYTES`]) plus one read buffer is held in memory.
pub(crate) struct RequestReader<R> {
    input: R,
    splitter: LineSplitter,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    eof: bool,
    done: bool,
}

impl<R: AsyncRead + Unpin> RequestReader<R> {
    pub(crate) fn new(input: R) -> Self {
        RequestReader {
            input,
            splitter: LineSplitter::new(),
            buf: vec![0; READ_BUFFER].into_boxed_slice(),
            start: 0,
            end: 0,
            eof: false,
            done: false,
        }
    }

    /// The input, given back (to restore its mode).
    pub(crate) fn into_inner(self) -> R {
        self.input
    }

    /// The next request (or why the line is not one); `None` at the end of input.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the only await is one `read`, and what was read is kept in `self`.
    pub(crate) async fn next(&mut self) -> Option<Result<Request, RequestError>> {
        loop {
            if self.start < self.end {
                let mut input = &self.buf[self.start..self.end];
                let line = self.splitter.next_line(&mut input).map(to_request);
                self.start = self.end - input.len();
                if line.is_some() {
                    return line;
                }
                continue;
            }
            if self.done {
                return None;
            }
            if self.eof {
                self.done = true;
                return self.splitter.finish().map(to_request);
            }
            match self.input.read(&mut self.buf).await {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    self.start = 0;
                    self.end = n;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::error!(
                        "serve: cannot read requests from stdin ({e}); treating it as EOF"
                    );
                    self.eof = true;
                }
            }
        }
    }
}

fn to_request(line: Line<'_>) -> Result<Request, RequestError> {
    match line {
        Line::Complete(bytes) => parse_request(bytes),
        Line::TooLong { len } => Err(RequestError::new(
            ErrorCode::LineTooLong,
            format!(
                "The request line is {len} bytes long; the limit is {} bytes. It was discarded.",
                kennel_protocol::MAX_LINE_BYTES
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_errors_and_eof() {
        let mut input: Vec<u8> = Vec::new();
        input.extend_from_slice(b"{\"op\":\"list\",\"id\":\"q\"}\n\n");
        input.extend(vec![b'x'; kennel_protocol::MAX_LINE_BYTES + 10]);
        input.extend_from_slice(b"\nnot json\n{\"op\":\"shutdown\"}");
        let mut reader = RequestReader::new(&input[..]);
        assert!(matches!(reader.next().await, Some(Ok(Request::List(_)))));
        let e = reader.next().await.unwrap().unwrap_err();
        assert_eq!(e.code, ErrorCode::LineTooLong);
        let e = reader.next().await.unwrap().unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidJson);
        assert!(matches!(
            reader.next().await,
            Some(Ok(Request::Shutdown(_)))
        ));
        assert!(reader.next().await.is_none());
        assert!(reader.next().await.is_none());
    }
}
