//! Binary data frames: the `"framing": "binary"` form of `stdout`/`stderr` events.
//!
//! A child spawned with `"framing": "binary"` has its output delivered as
//! length-prefixed binary frames between the JSON event lines, instead of as
//! `stdout`/`stderr` JSON events. A frame is, all integers big-endian:
//!
//! ```text
//!  offset  size  field
//!  0       1     FRAME_MARKER (0x00: never the first byte of a JSON event line)
//!  1       1     stream: 1 = stdout, 2 = stderr
//!  2       2     id_len: length of the child's id in bytes (1..=256)
//!  4       4     payload_len: length of the payload (1..=MAX_FRAME_PAYLOAD)
//!  8       id_len       the child's id (UTF-8)
//!  8+id_len payload_len  the output bytes, exactly as read from the pipe
//! ```
//!
//! There is no terminator: the next event line or frame starts right after the
//! payload. See `docs/PROTOCOL.md`, "Binary data frames".

use serde::{Deserialize, Serialize};

use crate::MAX_ID_BYTES;

/// The first byte of every frame. Event lines always start with `{`, and `0x00`
/// can appear in no JSON text, so a reader tells the two apart by one byte.
pub const FRAME_MARKER: u8 = 0x00;

/// The length of the fixed part of a frame header (before the id).
pub const FRAME_HEADER_BYTES: usize = 8;

/// The largest payload of one frame, in bytes (1 MiB; also announced in
/// `hello.max_frame_bytes`). The sidecar sends at most one pipe read per frame
/// (64 KiB today); clients must accept anything up to this limit.
pub const MAX_FRAME_PAYLOAD: usize = 1024 * 1024;

/// How a child's output reaches the client, chosen per child at `spawn`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Framing {
    /// `stdout`/`stderr` JSON events (`data` or `data_b64`): the default.
    #[default]
    Json,
    /// Binary data frames (see the module docs).
    Binary,
}

impl Framing {
    /// Every framing this crate implements, in the order `hello` lists them.
    pub const ALL: [Framing; 2] = [Framing::Json, Framing::Binary];

    /// Whether this is the default (`json`), for `skip_serializing_if`.
    pub fn is_default(&self) -> bool {
        *self == Framing::Json
    }
}

/// Which output stream a frame carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameStream {
    /// The child's stdout (stream byte 1).
    Stdout,
    /// The child's stderr (stream byte 2).
    Stderr,
}

impl FrameStream {
    /// The stream byte of the header.
    pub fn byte(self) -> u8 {
        match self {
            FrameStream::Stdout => 1,
            FrameStream::Stderr => 2,
        }
    }

    /// The stream for a header's stream byte, if it is one.
    pub fn from_byte(b: u8) -> Option<FrameStream> {
        match b {
            1 => Some(FrameStream::Stdout),
            2 => Some(FrameStream::Stderr),
            _ => None,
        }
    }
}

/// Why a frame could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The id is empty or longer than [`MAX_ID_BYTES`].
    #[error("A frame's id must be 1 to {MAX_ID_BYTES} bytes long, not {0}.")]
    IdLength(usize),
    /// The payload is empty or longer than [`MAX_FRAME_PAYLOAD`].
    #[error("A frame's payload must be 1 to {MAX_FRAME_PAYLOAD} bytes long, not {0}.")]
    PayloadLength(usize),
    /// The first byte is not [`FRAME_MARKER`].
    #[error("A frame must start with byte 0x00, not {0:#04x}.")]
    Marker(u8),
    /// The stream byte is neither 1 nor 2.
    #[error("A frame's stream byte must be 1 (stdout) or 2 (stderr), not {0}.")]
    Stream(u8),
    /// The id bytes are not UTF-8.
    #[error("A frame's id is not valid UTF-8.")]
    IdNotUtf8,
}

/// Encodes one frame: header, id and payload in one buffer (so it goes out in one
/// `write`).
///
/// # Errors
///
/// [`FrameError::IdLength`] or [`FrameError::PayloadLength`] when a length is out
/// of range (the sidecar never sends empty frames).
pub fn encode_frame(stream: FrameStream, id: &str, payload: &[u8]) -> Result<Vec<u8>, FrameError> {
    let mut frame = encode_frame_header(stream, id, payload.len())?;
    frame.reserve_exact(payload.len());
    frame.extend_from_slice(payload);
    Ok(frame)
}

/// Encodes the part of a frame before the payload (the fixed header and the id), for
/// a writer that sends the payload from its own buffer (a vectored write).
///
/// # Errors
///
/// As [`encode_frame`].
pub fn encode_frame_header(
    stream: FrameStream,
    id: &str,
    payload_len: usize,
) -> Result<Vec<u8>, FrameError> {
    if id.is_empty() || id.len() > MAX_ID_BYTES {
        return Err(FrameError::IdLength(id.len()));
    }
    if payload_len == 0 || payload_len > MAX_FRAME_PAYLOAD {
        return Err(FrameError::PayloadLength(payload_len));
    }
    let mut header = Vec::with_capacity(FRAME_HEADER_BYTES + id.len());
    header.push(FRAME_MARKER);
    header.push(stream.byte());
    // Both lengths were checked above to fit (256 < 2^16, 1 MiB < 2^32).
    header.extend_from_slice(&(id.len() as u16).to_be_bytes());
    header.extend_from_slice(&(payload_len as u32).to_be_bytes());
    header.extend_from_slice(id.as_bytes());
    Ok(header)
}

/// One decoded frame, borrowing from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Which stream the payload belongs to.
    pub stream: FrameStream,
    /// The child's id.
    pub id: &'a str,
    /// The output bytes.
    pub payload: &'a [u8],
}

/// Decodes the frame at the start of `buf`.
///
/// Returns `Ok(None)` when `buf` holds only the beginning of a frame (read more),
/// else the frame and the number of bytes it took.
///
/// # Errors
///
/// A [`FrameError`] when the bytes cannot be a frame (wrong marker or stream byte,
/// a length out of range, an id that is not UTF-8).
pub fn decode_frame(buf: &[u8]) -> Result<Option<(Frame<'_>, usize)>, FrameError> {
    if let Some(&first) = buf.first() {
        if first != FRAME_MARKER {
            return Err(FrameError::Marker(first));
        }
    }
    let Some(header) = buf.get(..FRAME_HEADER_BYTES) else {
        return Ok(None);
    };
    let stream = FrameStream::from_byte(header[1]).ok_or(FrameError::Stream(header[1]))?;
    let id_len = usize::from(u16::from_be_bytes([header[2], header[3]]));
    let payload_len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
    if id_len == 0 || id_len > MAX_ID_BYTES {
        return Err(FrameError::IdLength(id_len));
    }
    if payload_len == 0 || payload_len > MAX_FRAME_PAYLOAD {
        return Err(FrameError::PayloadLength(payload_len));
    }
    let total = FRAME_HEADER_BYTES + id_len + payload_len;
    let Some(body) = buf.get(FRAME_HEADER_BYTES..total) else {
        return Ok(None);
    };
    let id = std::str::from_utf8(&body[..id_len]).map_err(|_| FrameError::IdNotUtf8)?;
    let frame = Frame {
        stream,
        id,
        payload: &body[id_len..],
    };
    Ok(Some((frame, total)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_layout() {
        let frame = encode_frame(FrameStream::Stderr, "a1", b"\xff\x00\n").unwrap();
        assert_eq!(frame, b"\x00\x02\x00\x02\x00\x00\x00\x03a1\xff\x00\n");
        let (decoded, used) = decode_frame(&frame).unwrap().unwrap();
        assert_eq!(used, frame.len());
        assert_eq!(decoded.stream, FrameStream::Stderr);
        assert_eq!(decoded.id, "a1");
        assert_eq!(decoded.payload, b"\xff\x00\n");
        // Every strict prefix is incomplete, never an error.
        for n in 0..frame.len() {
            assert_eq!(decode_frame(&frame[..n]), Ok(None), "prefix of {n} bytes");
        }
        // Trailing bytes are left for the next item.
        let mut two = frame.clone();
        two.extend_from_slice(b"{\"event\":\"exit\"}\n");
        assert_eq!(decode_frame(&two).unwrap().unwrap().1, frame.len());
    }

    #[test]
    fn limits_and_garbage() {
        let big = vec![7u8; MAX_FRAME_PAYLOAD];
        assert!(encode_frame(FrameStream::Stdout, "x", &big).is_ok());
        let too_big = vec![7u8; MAX_FRAME_PAYLOAD + 1];
        assert_eq!(
            encode_frame(FrameStream::Stdout, "x", &too_big),
            Err(FrameError::PayloadLength(MAX_FRAME_PAYLOAD + 1))
        );
        assert_eq!(
            encode_frame(FrameStream::Stdout, "x", b""),
            Err(FrameError::PayloadLength(0))
        );
        assert_eq!(
            encode_frame(FrameStream::Stdout, "", b"a"),
            Err(FrameError::IdLength(0))
        );
        let long_id = "i".repeat(MAX_ID_BYTES + 1);
        assert!(encode_frame(FrameStream::Stdout, &long_id, b"a").is_err());
        assert_eq!(decode_frame(b"{"), Err(FrameError::Marker(b'{')));
        assert_eq!(
            decode_frame(b"\x00\x03\x00\x01\x00\x00\x00\x01ab"),
            Err(FrameError::Stream(3))
        );
        assert_eq!(
            decode_frame(b"\x00\x01\x00\x01\x00\x00\x00\x00"),
            Err(FrameError::PayloadLength(0))
        );
        assert_eq!(
            decode_frame(b"\x00\x01\x00\x01\x00\x00\x00\x01\xffa"),
            Err(FrameError::IdNotUtf8)
        );
    }
}
