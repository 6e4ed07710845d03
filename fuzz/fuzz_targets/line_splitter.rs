//! Fuzz target: `LineSplitter` fed arbitrary input in arbitrary pieces.
//!
//! The first byte picks a small limit and the second a piece size, so long-line
//! discarding and lines split across reads are both exercised. Checked against a
//! straightforward model (split on `\n`, drop a `\r` before it, skip empty lines,
//! lines longer than the limit reported with their raw length): same lines in the same order,
//! and the buffer never holds more than the limit plus one byte.
#![no_main]

use kennel_protocol::{Line, LineSplitter};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, PartialEq)]
enum Seen {
    Line(Vec<u8>),
    TooLong(u64),
}

fn model(input: &[u8], max: usize) -> Vec<Seen> {
    let mut out = Vec::new();
    let mut parts = input.split(|&b| b == b'\n').collect::<Vec<_>>();
    parts.pop(); // the unterminated tail is still buffered
    for part in parts {
        let line = part.strip_suffix(b"\r").unwrap_or(part);
        if line.is_empty() {
            continue;
        }
        if line.len() > max {
            // The reported length is the raw line's, `\r` included.
            out.push(Seen::TooLong(part.len() as u64));
        } else {
            out.push(Seen::Line(line.to_vec()));
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let max = 1 + usize::from(data[0] % 64);
    let piece = 1 + usize::from(data[1] % 17);
    let input = &data[2..];
    let mut splitter = LineSplitter::with_max(max);
    let mut got = Vec::new();
    for chunk in input.chunks(piece) {
        let mut rest = chunk;
        while let Some(line) = splitter.next_line(&mut rest) {
            match line {
                Line::Complete(l) => got.push(Seen::Line(l.to_vec())),
                Line::TooLong { len } => got.push(Seen::TooLong(len)),
            }
        }
        assert!(rest.is_empty(), "input left unconsumed");
        assert!(splitter.buffered() <= max + 1, "buffered beyond the limit");
    }
    assert_eq!(got, model(input, max));
});
