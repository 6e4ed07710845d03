//! The line splitter: complete lines, oversized lines reported once, memory bounded.

use kennel_protocol::{Line, LineSplitter, MAX_LINE_BYTES};

#[derive(Debug, PartialEq)]
enum Out {
    Line(Vec<u8>),
    TooLong(u64),
}

fn feed(s: &mut LineSplitter, mut input: &[u8], out: &mut Vec<Out>) {
    while let Some(line) = s.next_line(&mut input) {
        out.push(match line {
            Line::Complete(l) => Out::Line(l.to_vec()),
            Line::TooLong { len } => Out::TooLong(len),
        });
        assert!(s.buffered() <= s.max() + 1);
    }
    assert!(input.is_empty());
    assert!(s.buffered() <= s.max() + 1);
}

fn split_all(max: usize, pieces: &[&[u8]]) -> Vec<Out> {
    let mut s = LineSplitter::with_max(max);
    let mut out = Vec::new();
    for piece in pieces {
        feed(&mut s, piece, &mut out);
    }
    if let Some(line) = s.finish() {
        out.push(match line {
            Line::Complete(l) => Out::Line(l.to_vec()),
            Line::TooLong { len } => Out::TooLong(len),
        });
    }
    out
}

fn l(s: &str) -> Out {
    Out::Line(s.as_bytes().to_vec())
}

#[test]
fn splits_lines_across_pieces() {
    assert_eq!(
        split_all(10, &[b"ab", b"c\nde", b"f\n\n\r\ng", b"h"]),
        vec![l("abc"), l("def"), l("gh")]
    );
    assert_eq!(split_all(10, &[b"a\r\nb\r", b"\n"]), vec![l("a"), l("b")]);
}

#[test]
fn limit_is_inclusive_and_excludes_line_endings() {
    assert_eq!(split_all(4, &[b"abcd\n"]), vec![l("abcd")]);
    assert_eq!(split_all(4, &[b"abcd\r\n"]), vec![l("abcd")]);
    assert_eq!(split_all(4, &[b"abcde\n"]), vec![Out::TooLong(5)]);
    assert_eq!(split_all(4, &[b"abcde"]), vec![Out::TooLong(5)]);
}

#[test]
fn oversized_line_is_discarded_and_the_stream_recovers() {
    let out = split_all(8, &[b"ok\n0123", b"456789", b"abcdef", b"XYZ\nnext\n"]);
    assert_eq!(out, vec![l("ok"), Out::TooLong(19), l("next")]);
    let out = split_all(8, &[b"0123456789abcdef\n{}\n"]);
    assert_eq!(out, vec![Out::TooLong(16), l("{}")]);
}

#[test]
fn random_pieces_match_a_simple_split() {
    let mut seed = 0x1234_5678_9abc_def0_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..500 {
        let max = (next() % 12) as usize + 1;
        let len = (next() % 120) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| match next() % 8 {
                0 => b'\n',
                1 => b'\r',
                n => b'a' + n as u8,
            })
            .collect();
        // Expected: split on \n, strip one \r, drop empty lines, flag long ones.
        let mut expected = Vec::new();
        let pieces: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
        let last = pieces.len() - 1;
        for (i, raw) in pieces.into_iter().enumerate() {
            let line = raw.strip_suffix(b"\r").unwrap_or(raw);
            if line.is_empty() && (raw.is_empty() || i == last || raw == b"\r") {
                continue;
            }
            if line.len() > max {
                // A discarded line reports its raw length (a final `\r` included) if it
                // outgrew the buffer, or its trimmed length if it fit in max + 1.
                let reported = if raw.len() > max + 1 {
                    raw.len()
                } else {
                    line.len()
                };
                expected.push(Out::TooLong(reported as u64));
            } else {
                expected.push(Out::Line(line.to_vec()));
            }
        }
        let mut chunks = Vec::new();
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let n = ((next() % 7) as usize).min(rest.len());
            chunks.push(&rest[..n]);
            rest = &rest[n..];
        }
        assert_eq!(
            split_all(max, &chunks),
            expected,
            "max {max} input {:?}",
            String::from_utf8_lossy(&bytes)
        );
    }
}

#[test]
fn default_limit_is_the_protocol_limit() {
    let s = LineSplitter::new();
    assert_eq!(s.max(), MAX_LINE_BYTES);
    // A 3 MiB line fed in 64 KiB reads never buffers more than the limit.
    let mut s = LineSplitter::new();
    let block = vec![b'x'; 64 * 1024];
    let mut out = Vec::new();
    for _ in 0..48 {
        feed(&mut s, &block, &mut out);
    }
    feed(&mut s, b"\n{\"op\":\"list\",\"id\":\"q\"}\n", &mut out);
    assert_eq!(
        out,
        vec![
            Out::TooLong(3 * 1024 * 1024),
            l("{\"op\":\"list\",\"id\":\"q\"}")
        ]
    );
}
