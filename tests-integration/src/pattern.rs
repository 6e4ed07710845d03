//! Deterministic byte patterns the fixture writes and the tests verify.
//!
//! Both patterns are a sequence of fixed-size *records* that carry their own
//! index, so a dropped byte, a duplicated chunk or two chunks swapped are
//! detected at the first offset where the stream deviates. The fixture
//! (`flood`, `binary`) and the checks below use the same generator,
//! [`PatternGen`], so they cannot disagree.
//!
//! * **Text**: record `i` is `format!("{:015}\n", i)` (16 bytes), i.e.
//!   `000000000000000\n000000000000001\n…`. Pure ASCII, one line per record.
//! * **Binary**: record `i` is 32 bytes (see [`BINARY_RECORD_LEN`]):
//!
//!   | offset | bytes | why |
//!   |---|---|---|
//!   | 0..2 | `82 AC` | continuation bytes completing the `E2` at the end of the previous record (so `€` is split across records, and across writes whose size is a multiple of 32) |
//!   | 2..10 | `i` as u64 little-endian | record index (NULs for small `i`) |
//!   | 10..13 | `00 FF FE` | NUL, bytes never valid in UTF-8 |
//!   | 13..15 | `C3 28` | invalid 2-byte sequence |
//!   | 15..18 | `E2 82 AC` | valid `€` |
//!   | 18..22 | `F0 9F 98 41` | truncated 4-byte sequence followed by `A` |
//!   | 22..25 | `ED A0 80` | UTF-16 surrogate (invalid in UTF-8) |
//!   | 25..27 | `C0 AF` | overlong `/` |
//!   | 27 | `0A` | newline |
//!   | 28..30 | `C3 A9` | valid `é` |
//!   | 30 | `0D` | carriage return |
//!   | 31 | `E2` | lead byte of `€`, completed by the next record |
//!
//!   The very first record therefore starts with two stray continuation bytes
//!   and a stream that ends on a record boundary ends with a dangling `E2`.

use std::fmt;

/// Length of one record of the text pattern.
pub const TEXT_RECORD_LEN: usize = 16;
/// Length of one record of the binary pattern.
pub const BINARY_RECORD_LEN: usize = 32;

/// Which pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PatternKind {
    /// `format!("{:015}\n", i)` records.
    Text,
    /// 32-byte records with NUL, 0xFF and invalid / split UTF-8.
    Binary,
}

impl PatternKind {
    /// Length of one record of this pattern.
    pub fn record_len(self) -> usize {
        match self {
            PatternKind::Text => TEXT_RECORD_LEN,
            PatternKind::Binary => BINARY_RECORD_LEN,
        }
    }
}

const BINARY_TEMPLATE: [u8; BINARY_RECORD_LEN] = [
    0x82, 0xAC, // completes the € begun at the end of the previous record
    0, 0, 0, 0, 0, 0, 0, 0, // record index, u64 little-endian
    0x00, 0xFF, 0xFE, // NUL and never-valid bytes
    0xC3, 0x28, // invalid 2-byte sequence
    0xE2, 0x82, 0xAC, // valid €
    0xF0, 0x9F, 0x98, 0x41, // truncated 4-byte sequence, then 'A'
    0xED, 0xA0, 0x80, // surrogate
    0xC0, 0xAF, // overlong '/'
    b'\n', 0xC3, 0xA9, // newline, valid é
    b'\r', 0xE2, // CR, lead byte of € continued in the next record
];

/// A streaming generator of a pattern: produces the bytes at offsets
/// `offset()..` on each [`fill`](Self::fill).
#[derive(Debug, Clone)]
pub struct PatternGen {
    kind: PatternKind,
    offset: u64,
    /// The materialised record with index `rec_index`.
    rec: [u8; BINARY_RECORD_LEN],
    rec_index: u64,
}

impl PatternGen {
    /// A generator starting at offset 0.
    pub fn new(kind: PatternKind) -> Self {
        Self::at(kind, 0)
    }

    /// A generator starting at byte `offset` of the pattern.
    pub fn at(kind: PatternKind, offset: u64) -> Self {
        let mut gen = PatternGen {
            kind,
            offset,
            rec: [0; BINARY_RECORD_LEN],
            rec_index: 0,
        };
        gen.materialise(0);
        gen
    }

    /// The pattern kind.
    pub fn kind(&self) -> PatternKind {
        self.kind
    }

    /// Offset of the next byte [`fill`](Self::fill) produces.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Writes the next `buf.len()` bytes of the pattern into `buf`.
    pub fn fill(&mut self, buf: &mut [u8]) {
        let rl = self.kind.record_len();
        let mut done = 0;
        while done < buf.len() {
            let index = self.offset / rl as u64;
            let within = (self.offset % rl as u64) as usize;
            if index != self.rec_index {
                self.materialise(index);
            }
            let n = (rl - within).min(buf.len() - done);
            buf[done..done + n].copy_from_slice(&self.rec[within..within + n]);
            done += n;
            self.offset += n as u64;
        }
    }

    fn materialise(&mut self, index: u64) {
        match self.kind {
            PatternKind::Text => {
                let rec = &mut self.rec[..TEXT_RECORD_LEN];
                if index == self.rec_index + 1 && rec[TEXT_RECORD_LEN - 1] == b'\n' {
                    // Increment the decimal digits in place (the common case).
                    for d in rec[..TEXT_RECORD_LEN - 1].iter_mut().rev() {
                        if *d == b'9' {
                            *d = b'0';
                        } else {
                            *d += 1;
                            break;
                        }
                    }
                } else {
                    let mut v = index;
                    for d in rec[..TEXT_RECORD_LEN - 1].iter_mut().rev() {
                        *d = b'0' + (v % 10) as u8;
                        v /= 10;
                    }
                    rec[TEXT_RECORD_LEN - 1] = b'\n';
                }
            }
            PatternKind::Binary => {
                self.rec = BINARY_TEMPLATE;
                self.rec[2..10].copy_from_slice(&index.to_le_bytes());
            }
        }
        self.rec_index = index;
    }
}

/// The first `len` bytes of the text pattern.
pub fn text_pattern(len: usize) -> Vec<u8> {
    pattern(PatternKind::Text, len)
}

/// The first `len` bytes of the binary pattern.
pub fn binary_pattern(len: usize) -> Vec<u8> {
    pattern(PatternKind::Binary, len)
}

/// The first `len` bytes of a pattern.
pub fn pattern(kind: PatternKind, len: usize) -> Vec<u8> {
    let mut v = vec![0; len];
    PatternGen::new(kind).fill(&mut v);
    v
}

/// The first byte where a stream deviates from its pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    /// Which pattern was expected.
    pub kind: PatternKind,
    /// Offset of the first mismatching byte from the start of the stream.
    pub offset: u64,
    /// The byte the pattern has there.
    pub expected: u8,
    /// The byte the stream has there.
    pub found: u8,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rl = self.kind.record_len() as u64;
        write!(
            f,
            "{:?} pattern mismatch at byte offset {} (record {}, byte {} of it): expected 0x{:02x}, found 0x{:02x}",
            self.kind,
            self.offset,
            self.offset / rl,
            self.offset % rl,
            self.expected,
            self.found
        )
    }
}

impl std::error::Error for PatternError {}

/// Checks that `buf` is a prefix of the text pattern (any length, including a
/// partial last record).
///
/// # Errors
///
/// The first offset where `buf` differs from the pattern.
pub fn verify_text_prefix(buf: &[u8]) -> Result<(), PatternError> {
    let mut c = PatternChecker::new(PatternKind::Text);
    c.feed(buf)
}

/// Checks that `buf` is a prefix of the binary pattern.
///
/// # Errors
///
/// The first offset where `buf` differs from the pattern.
pub fn verify_binary_prefix(buf: &[u8]) -> Result<(), PatternError> {
    let mut c = PatternChecker::new(PatternKind::Binary);
    c.feed(buf)
}

/// Verifies a stream chunk by chunk without keeping it (for floods of many
/// gigabytes in benchmarks and the soak test).
#[derive(Debug, Clone)]
pub struct PatternChecker {
    gen: PatternGen,
    scratch: Vec<u8>,
    failed: Option<PatternError>,
}

impl PatternChecker {
    /// A checker expecting the pattern from offset 0.
    pub fn new(kind: PatternKind) -> Self {
        PatternChecker {
            gen: PatternGen::new(kind),
            scratch: Vec::new(),
            failed: None,
        }
    }

    /// Number of bytes checked so far (and found correct).
    pub fn len(&self) -> u64 {
        match &self.failed {
            Some(e) => e.offset,
            None => self.gen.offset(),
        }
    }

    /// Whether nothing has been checked yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks the next chunk of the stream. Once a mismatch was found, every
    /// later call returns that same first error.
    ///
    /// # Errors
    ///
    /// The first offset where the stream differs from the pattern.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), PatternError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        const STEP: usize = 64 * 1024;
        for part in chunk.chunks(STEP) {
            let start = self.gen.offset();
            self.scratch.resize(part.len(), 0);
            self.gen.fill(&mut self.scratch);
            if self.scratch[..] != *part {
                let i = self
                    .scratch
                    .iter()
                    .zip(part)
                    .position(|(a, b)| a != b)
                    .unwrap_or(0);
                let e = PatternError {
                    kind: self.gen.kind(),
                    offset: start + i as u64,
                    expected: self.scratch[i],
                    found: part[i],
                };
                self.failed = Some(e.clone());
                return Err(e);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_records_match_format() {
        let p = text_pattern(16 * 1200 + 5);
        for (i, rec) in p.chunks(16).enumerate() {
            let want = format!("{:015}\n", i);
            assert_eq!(rec, &want.as_bytes()[..rec.len()], "record {i}");
        }
    }

    #[test]
    fn text_carry_and_seek_agree() {
        // Incrementing across 9→10, 99→100 … must equal direct formatting.
        let n = 16 * 10_050;
        let whole = text_pattern(n);
        for off in [0usize, 1, 15, 16, 17, 16 * 999 + 3, 16 * 10_000] {
            let mut part = vec![0; n - off];
            PatternGen::at(PatternKind::Text, off as u64).fill(&mut part);
            assert_eq!(&whole[off..], &part[..], "offset {off}");
        }
    }

    #[test]
    fn odd_fill_sizes_give_the_same_stream() {
        for kind in [PatternKind::Text, PatternKind::Binary] {
            let whole = pattern(kind, 100_000);
            let mut gen = PatternGen::new(kind);
            let mut got = Vec::new();
            let mut size = 1;
            while got.len() < whole.len() {
                let mut buf = vec![0; size.min(whole.len() - got.len())];
                gen.fill(&mut buf);
                got.extend_from_slice(&buf);
                size = size * 7 % 1000 + 1;
            }
            assert_eq!(got, whole, "{kind:?}");
        }
    }

    #[test]
    fn binary_has_the_nasty_bytes() {
        let p = binary_pattern(BINARY_RECORD_LEN * 300);
        assert!(p.contains(&0x00));
        assert!(p.contains(&0xFF));
        assert!(std::str::from_utf8(&p).is_err());
        // The € spanning records: E2 | 82 AC.
        assert_eq!(&p[31..34], &[0xE2, 0x82, 0xAC]);
        // Records differ (carry their index).
        assert_ne!(&p[..32], &p[32..64]);
        assert_eq!(&p[2 + 32 * 258..10 + 32 * 258], &258u64.to_le_bytes());
    }

    #[test]
    fn verify_accepts_prefixes() {
        for len in [0, 1, 15, 16, 17, 1000, 65_536 + 7] {
            verify_text_prefix(&text_pattern(len)).unwrap();
            verify_binary_prefix(&binary_pattern(len)).unwrap();
        }
    }

    #[test]
    fn verify_catches_a_dropped_byte() {
        let mut p = text_pattern(10_000);
        p.remove(5_000);
        let e = verify_text_prefix(&p).unwrap_err();
        // Records are "000…0312\n": dropping a byte shows up at or just after it.
        assert!((5_000..5_016).contains(&e.offset), "{e}");

        let mut b = binary_pattern(10_000);
        b.remove(4_321);
        let e = verify_binary_prefix(&b).unwrap_err();
        assert!((4_321..4_321 + 32).contains(&e.offset), "{e}");
    }

    #[test]
    fn verify_catches_reordered_chunks() {
        for kind in [PatternKind::Text, PatternKind::Binary] {
            let mut p = pattern(kind, 4 * 4096);
            // Swap the 2nd and 3rd 4 KiB chunks (record-aligned, so only the
            // record indexes differ).
            let (a, b) = p.split_at_mut(2 * 4096);
            a[4096..].swap_with_slice(&mut b[..4096]);
            let mut c = PatternChecker::new(kind);
            let e = c.feed(&p).unwrap_err();
            assert!(
                (4096..4096 + kind.record_len() as u64).contains(&e.offset),
                "{e}"
            );
            assert_eq!(c.len(), e.offset);
            assert_eq!(c.feed(b"more").unwrap_err(), e, "errors are sticky");
        }
    }

    #[test]
    fn checker_across_chunks() {
        let p = binary_pattern(200_000);
        let mut c = PatternChecker::new(PatternKind::Binary);
        for part in p.chunks(777) {
            c.feed(part).unwrap();
        }
        assert_eq!(c.len(), 200_000);
        assert!(c.feed(&[0x55]).is_err());
    }

    #[test]
    fn error_message_names_the_offset() {
        let mut p = text_pattern(64);
        p[40] = b'x';
        let e = verify_text_prefix(&p).unwrap_err();
        assert_eq!(e.offset, 40);
        assert_eq!(e.found, b'x');
        let msg = e.to_string();
        assert!(
            msg.contains("offset 40") && msg.contains("record 2"),
            "{msg}"
        );
    }
}
