//! Output caps that never split a UTF-8 character.

/// Applies a byte cap without splitting UTF-8 characters.
#[derive(Debug)]
pub(crate) struct Limiter {
    room: Option<u64>,
    /// Continuation bytes still owed to a character whose first bytes were delivered.
    owed: usize,
}

impl Limiter {
    pub(crate) fn new(cap: Option<u64>) -> Self {
        Limiter { room: cap, owed: 0 }
    }

    /// How many leading bytes of `chunk` to deliver.
    pub(crate) fn admit(&mut self, chunk: &[u8]) -> usize {
        let Some(room) = self.room else {
            return chunk.len();
        };
        let keep = if (chunk.len() as u64) <= room {
            chunk.len()
        } else {
            // room < chunk.len() <= usize::MAX, so the cast is lossless.
            let cut = room as usize;
            if cut < self.owed {
                // Finish the character begun in an earlier chunk (≤ 3 bytes over).
                self.owed.min(chunk.len())
            } else {
                utf8_floor(chunk, cut, self.owed)
            }
        };
        self.owed = owed_after(self.owed, &chunk[..keep]);
        // Once anything was dropped the stream is truncated for good: never resume
        // after a gap.
        self.room = Some(if keep < chunk.len() {
            0
        } else {
            room.saturating_sub(keep as u64)
        });
        keep
    }
}

/// Move `cut` back to the start of a UTF-8 character that straddles it (never into the
/// first `owed` bytes, which finish an earlier character).
fn utf8_floor(chunk: &[u8], cut: usize, owed: usize) -> usize {
    for back in 1..=3usize {
        let Some(i) = cut.checked_sub(back) else {
            break;
        };
        if i < owed {
            break;
        }
        let b = chunk[i];
        if b & 0b1100_0000 == 0b1000_0000 {
            continue; // continuation byte: keep looking for the lead
        }
        let len = utf8_len(b);
        return if len > back { i } else { cut };
    }
    cut
}

/// Length of the UTF-8 sequence a lead byte starts (1 for ASCII or invalid leads).
fn utf8_len(lead: u8) -> usize {
    match lead {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => 1,
    }
}

/// Continuation bytes still owed after delivering `delivered`, given `owed` before.
fn owed_after(owed: usize, delivered: &[u8]) -> usize {
    if delivered.len() < owed {
        return owed - delivered.len();
    }
    let tail_start = owed.max(delivered.len().saturating_sub(3));
    for i in (tail_start..delivered.len()).rev() {
        let b = delivered[i];
        if b & 0b1100_0000 == 0b1000_0000 {
            continue;
        }
        let len = utf8_len(b);
        let have = delivered.len() - i;
        return len.saturating_sub(have);
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deliver_all(cap: u64, chunks: &[&[u8]]) -> Vec<u8> {
        let mut limiter = Limiter::new(Some(cap));
        let mut out = Vec::new();
        for chunk in chunks {
            let keep = limiter.admit(chunk);
            out.extend_from_slice(&chunk[..keep]);
        }
        out
    }

    #[test]
    fn no_cap_delivers_everything() {
        let mut limiter = Limiter::new(None);
        assert_eq!(limiter.admit(b"hello"), 5);
    }

    #[test]
    fn ascii_is_cut_exactly_at_the_cap() {
        assert_eq!(deliver_all(7, &[b"hello", b" world"]), b"hello w");
        assert_eq!(deliver_all(5, &[b"hello", b" world"]), b"hello");
    }

    #[test]
    fn a_character_straddling_the_cap_is_left_out() {
        // "aé" = 61 C3 A9; a cap of 2 would split é.
        let out = deliver_all(2, &["aé".as_bytes()]);
        assert_eq!(out, b"a");
        let out = deliver_all(3, &["a€b".as_bytes()]); // € = E2 82 AC
        assert_eq!(out, b"a");
        assert!(std::str::from_utf8(&out).is_ok());
    }

    #[test]
    fn a_character_begun_in_an_earlier_chunk_is_finished() {
        // "€" split across two reads: E2 | 82 AC; the cap falls after E2.
        let out = deliver_all(2, &[b"\xE2", b"\x82\xACzz"]);
        assert_eq!(out, "€".as_bytes());
    }

    #[test]
    fn every_cut_of_text_stays_valid_utf8() {
        let text = "héllo wörld — ∑ 🎉 end".repeat(3);
        let bytes = text.as_bytes();
        for cap in 0..bytes.len() as u64 {
            for split in 1..bytes.len() {
                let (a, b) = bytes.split_at(split);
                let out = deliver_all(cap, &[a, b]);
                assert!(std::str::from_utf8(&out).is_ok(), "cap {cap} split {split}");
                assert!(out.len() as u64 <= cap + 3);
                assert_eq!(&bytes[..out.len()], &out[..]);
            }
        }
    }
}
