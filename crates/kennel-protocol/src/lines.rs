//! Cutting the sidecar's input stream into bounded lines.

use crate::MAX_LINE_BYTES;

/// One result of [`LineSplitter::next_line`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// A complete line, without its `\n` (and without a `\r` before it).
    Complete(&'a [u8]),
    /// A line longer than the limit ended; its bytes were discarded.
    TooLong {
        /// The discarded line's length in bytes, not counting the `\n`.
        len: u64,
    },
}

/// Splits a byte stream into `\n`-terminated lines, never buffering more than
/// the limit (plus one byte for a `\r`).
///
/// Feed it whatever the reader returned; it copies bytes into its buffer until a
/// line is complete. A line that grows past the limit is discarded byte by byte
/// up to its `\n` and reported once as [`Line::TooLong`], so the stream stays in
/// sync and memory stays bounded. Empty lines (also `"\r\n"`) are skipped.
///
/// # Examples
///
/// ```
/// use kennel_protocol::{Line, LineSplitter};
///
/// let mut s = LineSplitter::with_max(8);
/// let mut input: &[u8] = b"{\"op\":1}\n0123456789\n{\"a\"";
/// assert_eq!(s.next_line(&mut input), Some(Line::Complete(b"{\"op\":1}")));
/// assert_eq!(s.next_line(&mut input), Some(Line::TooLong { len: 10 }));
/// assert_eq!(s.next_line(&mut input), None); // `{"a"` is buffered, input is used up
/// assert!(input.is_empty());
/// let mut more: &[u8] = b":2}\r\n";
/// assert_eq!(s.next_line(&mut more), Some(Line::Complete(b"{\"a\":2}")));
/// ```
#[derive(Clone, Debug)]
pub struct LineSplitter {
    max: usize,
    buf: Vec<u8>,
    /// Length of the line being discarded, when it outgrew the limit.
    discarding: Option<u64>,
    /// The previous call returned a line; clear the buffer before reading on.
    consumed: bool,
}

impl Default for LineSplitter {
    fn default() -> Self {
        LineSplitter::new()
    }
}

impl LineSplitter {
    /// A splitter with the protocol limit, [`MAX_LINE_BYTES`].
    pub fn new() -> LineSplitter {
        LineSplitter::with_max(MAX_LINE_BYTES)
    }

    /// A splitter that accepts lines of at most `max` bytes (not counting `\n` or `\r\n`).
    pub fn with_max(max: usize) -> LineSplitter {
        LineSplitter {
            max,
            buf: Vec::new(),
            discarding: None,
            consumed: false,
        }
    }

    /// The line limit in bytes.
    pub fn max(&self) -> usize {
        self.max
    }

    /// How many bytes of an unfinished line are buffered (at most `max + 1`).
    pub fn buffered(&self) -> usize {
        if self.consumed {
            0
        } else {
            self.buf.len()
        }
    }

    /// Consumes bytes from the front of `input` until a line ends, and returns it.
    ///
    /// Returns `None` once `input` is used up without completing a line (the
    /// partial line stays buffered for the next call). Call it in a loop until
    /// `None`, then read more input. The returned line borrows the splitter and
    /// is valid until the next call.
    pub fn next_line<'s>(&'s mut self, input: &mut &[u8]) -> Option<Line<'s>> {
        if std::mem::take(&mut self.consumed) {
            self.buf.clear();
        }
        loop {
            let (chunk, rest, newline) = match input.iter().position(|&b| b == b'\n') {
                Some(pos) => (&input[..pos], &input[pos + 1..], true),
                None => (*input, &input[input.len()..], false),
            };
            *input = rest;
            if let Some(len) = self.discarding.as_mut() {
                *len = len.saturating_add(chunk.len() as u64);
            } else if self.buf.len() + chunk.len() > self.max + 1 {
                // Outgrew the limit (one spare byte allows a final `\r`): discard it.
                self.discarding = Some((self.buf.len() + chunk.len()) as u64);
                self.buf.clear();
            } else {
                self.grow_for(chunk.len());
                self.buf.extend_from_slice(chunk);
            }
            if !newline {
                return None;
            }
            if let Some(len) = self.discarding.take() {
                return Some(Line::TooLong { len });
            }
            if self.trim_line() {
                return Some(self.hand_out());
            }
            // An empty line: skip it and keep going.
        }
    }

    /// Ends the stream: returns a final line that had no `\n`, if any.
    pub fn finish(&mut self) -> Option<Line<'_>> {
        if std::mem::take(&mut self.consumed) {
            self.buf.clear();
        }
        if let Some(len) = self.discarding.take() {
            return Some(Line::TooLong { len });
        }
        if self.trim_line() {
            Some(self.hand_out())
        } else {
            None
        }
    }

    /// Reserves room for `extra` more bytes, doubling as usual but never past `max + 1`.
    fn grow_for(&mut self, extra: usize) {
        let needed = self.buf.len() + extra;
        if needed > self.buf.capacity() {
            let target = needed.max((self.buf.capacity() * 2).min(self.max + 1));
            self.buf.reserve_exact(target - self.buf.len());
        }
    }

    /// Removes one trailing `\r`; says whether a non-empty line is left.
    fn trim_line(&mut self) -> bool {
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        !self.buf.is_empty()
    }

    /// Hands out the non-empty buffered line, or reports it too long.
    fn hand_out(&mut self) -> Line<'_> {
        if self.buf.len() > self.max {
            let len = self.buf.len() as u64;
            self.buf.clear();
            return Line::TooLong { len };
        }
        self.consumed = true;
        Line::Complete(&self.buf)
    }
}
