//! Sequence-numbered, checksummed records: what `kennel-fixture seq` writes and
//! what the soak verifies.
//!
//! Each record is one line, at most [`MAX_RECORD_LEN`] bytes (far below
//! `PIPE_BUF`, so several writers sharing a pipe never interleave inside a record
//! when each writes whole records):
//!
//! ```text
//! s <writer> <seq> <payload> <crc32>\n
//! ```
//!
//! * `<writer>`: the writing process's index (0 = the leader), decimal;
//! * `<seq>`: 0, 1, 2, … per writer, decimal;
//! * `<payload>`: 0–99 characters of `[A-Za-z0-9+/]`, a pure function of
//!   (seed, writer, seq) — see [`record`];
//! * `<crc32>`: CRC-32 (IEEE) of everything before the space that precedes it,
//!   8 lowercase hex digits.
//!
//! The checksum lets a reader that does not know the seed validate a record; the
//! soak knows the seed and compares every byte against the regenerated record too.
//! Lines `pid <pid> <ppid> <role>` (the fixture's handshake) may appear between
//! records and are collected as well.

use std::collections::BTreeMap;
use std::fmt;

/// The longest record, newline included.
pub const MAX_RECORD_LEN: usize = 160;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Record `seq` of `writer` for `seed`, newline included.
pub fn record(seed: u64, writer: u32, seq: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(
        seed ^ (u64::from(writer) << 48) ^ seq.wrapping_mul(0x9E37_79B9_7F4A_7C15),
    );
    let len = rng.usize(0..100);
    let mut line = format!("s {writer} {seq} ").into_bytes();
    line.extend((0..len).map(|_| ALPHABET[rng.usize(0..64)]));
    let crc = crc32fast::hash(&line);
    line.extend_from_slice(format!(" {crc:08x}\n").as_bytes());
    line
}

/// A deviation from the expected record stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeqError {
    /// Byte offset in the stream where the bad line starts.
    pub offset: u64,
    /// What is wrong, as a sentence.
    pub what: String,
}

impl fmt::Display for SeqError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {}: {}", self.offset, self.what)
    }
}

impl std::error::Error for SeqError {}

/// Verifies a stream of records as it arrives, chunk by chunk.
#[derive(Debug, Clone)]
pub struct SeqChecker {
    seed: u64,
    /// The unfinished last line.
    partial: Vec<u8>,
    /// Offset of the start of `partial` in the stream.
    partial_at: u64,
    /// Next expected `seq` per writer.
    next: BTreeMap<u32, u64>,
    pids: Vec<u32>,
    bytes: u64,
}

impl SeqChecker {
    /// A checker for records written with `seed`.
    pub fn new(seed: u64) -> SeqChecker {
        SeqChecker {
            seed,
            partial: Vec::new(),
            partial_at: 0,
            next: BTreeMap::new(),
            pids: Vec::new(),
            bytes: 0,
        }
    }

    /// Bytes fed so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Complete records per writer so far.
    pub fn per_writer(&self) -> &BTreeMap<u32, u64> {
        &self.next
    }

    /// Complete records so far, all writers together.
    pub fn records(&self) -> u64 {
        self.next.values().sum()
    }

    /// Pids from the `pid …` lines seen so far.
    pub fn pids(&self) -> &[u32] {
        &self.pids
    }

    /// Feeds the next chunk of the stream.
    ///
    /// # Errors
    ///
    /// The first line that is neither the next expected record of its writer nor a
    /// pid line.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), SeqError> {
        self.bytes += chunk.len() as u64;
        let mut rest = chunk;
        while let Some(pos) = rest.iter().position(|&b| b == b'\n') {
            self.partial.extend_from_slice(&rest[..=pos]);
            rest = &rest[pos + 1..];
            let line = std::mem::take(&mut self.partial);
            self.check_line(&line)?;
            self.partial_at += line.len() as u64;
        }
        self.partial.extend_from_slice(rest);
        if self.partial.len() > MAX_RECORD_LEN {
            return Err(self.error("an unterminated line is longer than any record"));
        }
        Ok(())
    }

    /// Checks the end of a stream that may have been cut short (a killed writer):
    /// an unfinished last line must be the beginning of a pid line or of the next
    /// record of some writer.
    ///
    /// # Errors
    ///
    /// The unfinished line matches nothing expected.
    pub fn finish_prefix(&self) -> Result<(), SeqError> {
        let p = &self.partial;
        if p.is_empty() || p.starts_with(b"pid ") || b"pid ".starts_with(p) {
            return Ok(());
        }
        if let Some(w) = parse_writer(p) {
            // A writer not seen yet would start at seq 0.
            let expected = record(self.seed, w, self.next.get(&w).copied().unwrap_or(0));
            if expected.starts_with(p) {
                return Ok(());
            }
            return Err(self.error(&format!(
                "the stream ends in {:?}, which is not the beginning of writer {w}'s next record {:?}",
                String::from_utf8_lossy(p),
                String::from_utf8_lossy(&expected)
            )));
        }
        // Cut before the writer index ended: `s` or `s 12`.
        let writer_digits = p
            .strip_prefix(b"s ")
            .unwrap_or(if p == b"s" { b"" } else { b"x" });
        if writer_digits.iter().all(u8::is_ascii_digit) {
            Ok(())
        } else {
            Err(self.error("the stream ends inside a line that is not a record"))
        }
    }

    /// Checks the end of a stream that must be complete: no unfinished line, and
    /// exactly `writers` writers with `records` records each.
    ///
    /// # Errors
    ///
    /// What is missing or extra.
    pub fn finish_complete(&self, writers: u32, records: u64) -> Result<(), SeqError> {
        if !self.partial.is_empty() {
            return Err(self.error("the stream ends inside a line"));
        }
        let want: BTreeMap<u32, u64> = (0..writers).map(|w| (w, records)).collect();
        if self.next != want {
            return Err(self.error(&format!(
                "records per writer {:?}, expected {records} for each of {writers} writers",
                self.next
            )));
        }
        Ok(())
    }

    fn check_line(&mut self, line: &[u8]) -> Result<(), SeqError> {
        if let Some(rest) = line.strip_prefix(b"pid ") {
            let pid = std::str::from_utf8(rest)
                .ok()
                .and_then(|r| r.split(' ').next())
                .and_then(|p| p.parse().ok());
            return match pid {
                Some(pid) => {
                    self.pids.push(pid);
                    Ok(())
                }
                None => Err(self.error("a malformed pid line")),
            };
        }
        let Some(writer) = parse_writer(line) else {
            return Err(self.error(&format!(
                "{:?} is neither a record nor a pid line",
                String::from_utf8_lossy(line)
            )));
        };
        // Checksum first: it tells corruption from a sequence gap.
        let body_end = line.len().saturating_sub(10);
        let crc_ok = line.len() > 10
            && line[body_end] == b' '
            && std::str::from_utf8(&line[body_end + 1..line.len() - 1])
                .ok()
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                == Some(crc32fast::hash(&line[..body_end]));
        if !crc_ok {
            return Err(self.error(&format!(
                "record {:?} fails its checksum",
                String::from_utf8_lossy(line)
            )));
        }
        let seq = self.next.entry(writer).or_insert(0);
        let expected = record(self.seed, writer, *seq);
        if line != expected.as_slice() {
            let got = String::from_utf8_lossy(line).into_owned();
            let want = String::from_utf8_lossy(&expected).into_owned();
            return Err(self.error(&format!(
                "writer {writer}: got {got:?}, expected record {} {want:?}",
                self.next[&writer]
            )));
        }
        *seq += 1;
        Ok(())
    }

    fn error(&self, what: &str) -> SeqError {
        SeqError {
            offset: self.partial_at,
            what: what.to_owned(),
        }
    }
}

/// The writer index of a line starting `s <writer> `, if it is there in full.
fn parse_writer(line: &[u8]) -> Option<u32> {
    let rest = line.strip_prefix(b"s ")?;
    let end = rest.iter().position(|&b| b == b' ')?;
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(seed: u64, writers: u32, n: u64) -> Vec<u8> {
        let mut out = b"pid 10 1 main\n".to_vec();
        for seq in 0..n {
            for w in 0..writers {
                out.extend(record(seed, w, seq));
            }
        }
        out
    }

    #[test]
    fn records_are_deterministic_bounded_and_checksummed() {
        for seq in 0..2000 {
            let r = record(7, 3, seq);
            assert_eq!(r, record(7, 3, seq));
            assert!(r.len() <= MAX_RECORD_LEN);
            assert_eq!(r.iter().filter(|&&b| b == b'\n').count(), 1);
        }
        assert_ne!(record(7, 3, 1), record(8, 3, 1));
    }

    #[test]
    fn accepts_any_chunking_and_every_prefix() {
        let data = stream(42, 3, 50);
        for piece in [1, 7, 160, 4096] {
            let mut c = SeqChecker::new(42);
            for chunk in data.chunks(piece) {
                c.feed(chunk).unwrap();
            }
            c.finish_complete(3, 50).unwrap();
            assert_eq!(c.pids(), &[10]);
        }
        for cut in 0..data.len().min(600) {
            let mut c = SeqChecker::new(42);
            c.feed(&data[..cut]).unwrap();
            c.finish_prefix().unwrap();
        }
    }

    #[test]
    fn detects_loss_duplication_corruption_and_truncation() {
        let good = stream(1, 1, 20);
        let rec = record(1, 0, 5);
        let at = good.windows(rec.len()).position(|w| w == rec).unwrap();
        // Dropped record.
        let mut lost = good.clone();
        lost.drain(at..at + rec.len());
        assert!(SeqChecker::new(1).feed(&lost).is_err());
        // Duplicated record.
        let mut dup = good.clone();
        dup.splice(at..at, rec.iter().copied());
        assert!(SeqChecker::new(1).feed(&dup).is_err());
        // One flipped byte in the payload.
        let mut bad = good.clone();
        bad[at + 8] ^= 0x01;
        assert!(SeqChecker::new(1).feed(&bad).is_err());
        // Wrong seed.
        assert!(SeqChecker::new(2).feed(&good).is_err());
        // A complete stream that lost its tail.
        let mut c = SeqChecker::new(1);
        c.feed(&good[..good.len() - rec.len()]).unwrap();
        assert!(c.finish_complete(1, 20).is_err());
        // A cut tail that is not a prefix of the next record.
        let mut c = SeqChecker::new(1);
        c.feed(&good[..at]).unwrap();
        c.feed(b"s 0 5 zzz").unwrap();
        assert!(c.finish_prefix().is_err());
    }
}
