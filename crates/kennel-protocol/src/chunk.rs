//! Turning a stream's raw byte chunks into `stdout`/`stderr` payloads.

use crate::data::Data;

/// Encodes one self-contained chunk: `Text` when it is valid UTF-8, `Binary` otherwise.
///
/// Stateless: a multi-byte character split across two calls makes both chunks
/// `Binary`. Use a [`Chunker`] per stream to avoid that.
pub fn encode_chunk(bytes: &[u8]) -> Data {
    match std::str::from_utf8(bytes) {
        Ok(s) => Data::Text(s.to_owned()),
        Err(_) => Data::Binary(bytes.to_vec()),
    }
}

/// Per-stream encoder for output events that keeps split UTF-8 characters textual.
///
/// Feed it each chunk read from the child's pipe, in order; send every returned
/// payload as one `stdout`/`stderr` event; call [`finish`](Chunker::finish) at
/// end of stream (EOF or drain timeout) and send what it returns.
///
/// When a chunk ends with an incomplete but so far valid UTF-8 sequence (one to
/// three bytes of a multi-byte character), those bytes are held back and
/// prepended to the next chunk, so the character is delivered whole and the
/// text stays text. Nothing else is held back, bytes are never altered, dropped
/// or reordered: concatenating the bytes of every returned payload gives back
/// exactly the concatenation of the input chunks.
///
/// # Examples
///
/// ```
/// use kennel_protocol::{Chunker, Data};
///
/// let mut c = Chunker::new();
/// // "é" is C3 A9; the read split it.
/// assert_eq!(c.push(b"caf\xC3"), Some(Data::Text("caf".into())));
/// assert_eq!(c.push(b"\xA9!"), Some(Data::Text("é!".into())));
/// assert_eq!(c.push(b"\xFF"), Some(Data::Binary(vec![0xFF])));
/// assert_eq!(c.push(b"\xE2\x82"), None); // held back, waiting for the rest of "€"
/// assert_eq!(c.finish(), Some(Data::Binary(vec![0xE2, 0x82]))); // the stream ended early
/// ```
#[derive(Clone, Debug, Default)]
pub struct Chunker {
    pending: [u8; 3],
    pending_len: usize,
}

impl Chunker {
    /// A chunker with nothing held back.
    pub fn new() -> Chunker {
        Chunker::default()
    }

    /// Encodes the next chunk of the stream.
    ///
    /// Returns `None` when there is nothing to send yet: the chunk was empty, or
    /// it (with what was held back) is only the start of one character.
    pub fn push(&mut self, chunk: &[u8]) -> Option<Data> {
        if chunk.is_empty() {
            return None;
        }
        let mut buf = Vec::with_capacity(self.pending_len + chunk.len());
        buf.extend_from_slice(&self.pending[..self.pending_len]);
        buf.extend_from_slice(chunk);
        let keep = incomplete_suffix_len(&buf);
        let split = buf.len() - keep;
        self.pending_len = keep;
        self.pending[..keep].copy_from_slice(&buf[split..]);
        if split == 0 {
            return None;
        }
        buf.truncate(split);
        Some(Data::from_bytes(buf))
    }

    /// Ends the stream: returns the held-back bytes, if any (as `Binary`, since
    /// they are an incomplete character), and resets the chunker.
    pub fn finish(&mut self) -> Option<Data> {
        let len = std::mem::take(&mut self.pending_len);
        (len > 0).then(|| Data::from_bytes(self.pending[..len].to_vec()))
    }

    /// How many bytes are held back waiting for the rest of a character (0–3).
    pub fn pending(&self) -> usize {
        self.pending_len
    }
}

/// The length (0–3) of the trailing bytes of `buf` that form an incomplete but
/// valid prefix of a multi-byte UTF-8 character.
fn incomplete_suffix_len(buf: &[u8]) -> usize {
    let start = buf.len().saturating_sub(3);
    for i in (start..buf.len()).rev() {
        let b = buf[i];
        if b & 0xC0 == 0x80 {
            continue; // a continuation byte: look further back for the lead
        }
        // `buf[i]` is the lead (or an ASCII/invalid byte). The tail from here is an
        // incomplete character exactly when decoding it fails with "unexpected end".
        return match std::str::from_utf8(&buf[i..]) {
            Err(e) if e.valid_up_to() == 0 && e.error_len().is_none() => buf.len() - i,
            _ => 0,
        };
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffix_detection() {
        assert_eq!(incomplete_suffix_len(b""), 0);
        assert_eq!(incomplete_suffix_len(b"abc"), 0);
        assert_eq!(incomplete_suffix_len(b"a\xC3"), 1);
        assert_eq!(incomplete_suffix_len(b"a\xE2\x82"), 2);
        assert_eq!(incomplete_suffix_len(b"\xF0\x9F\x98"), 3);
        assert_eq!(incomplete_suffix_len("😀".as_bytes()), 0);
        // Not valid prefixes: overlong lead, surrogate, lone continuation, > U+10FFFF.
        assert_eq!(incomplete_suffix_len(b"\xC0"), 0);
        assert_eq!(incomplete_suffix_len(b"\xED\xA0"), 0);
        assert_eq!(incomplete_suffix_len(b"\x80\x80"), 0);
        assert_eq!(incomplete_suffix_len(b"\xF4\x90"), 0);
        assert_eq!(incomplete_suffix_len(b"\xFF"), 0);
        // Four continuation bytes: no lead within reach.
        assert_eq!(incomplete_suffix_len(b"\x80\x80\x80\x80"), 0);
    }
}
