//! The chunker never alters bytes and keeps split characters textual.

use kennel_protocol::{encode_chunk, Chunker, Data};

/// A small deterministic PRNG (xorshift64*), enough to vary inputs and chunkings.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Text with 1-, 2-, 3- and 4-byte characters, optionally sprinkled with invalid bytes.
fn input(rng: &mut Rng, len: usize, invalid: bool) -> Vec<u8> {
    const PIECES: [&str; 8] = ["a", "\n", "é", "€", "😀", "z", "ß", "中"];
    const BAD: [&[u8]; 5] = [b"\xff", b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98", b"\x80"];
    let mut out = Vec::new();
    while out.len() < len {
        if invalid && rng.below(10) == 0 {
            out.extend_from_slice(BAD[rng.below(BAD.len())]);
        } else {
            out.extend_from_slice(PIECES[rng.below(PIECES.len())].as_bytes());
        }
    }
    out
}

/// Runs `bytes` through a chunker in random pieces; returns the payloads.
fn chunk_randomly(rng: &mut Rng, bytes: &[u8]) -> Vec<Data> {
    let mut chunker = Chunker::new();
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let n = rng.below(rest.len().min(9) + 1); // 0..=9 bytes, empty pieces included
        let (piece, tail) = rest.split_at(n);
        rest = tail;
        out.extend(chunker.push(piece));
        assert!(chunker.pending() <= 3);
    }
    out.extend(chunker.finish());
    assert_eq!(chunker.pending(), 0);
    out
}

/// Decodes payloads the way a client does: from the serialized event lines.
fn decode(payloads: &[Data]) -> Vec<u8> {
    let mut out = Vec::new();
    for data in payloads {
        let event = kennel_protocol::Event::Stdout(kennel_protocol::OutputChunk {
            id: "x".into(),
            data: data.clone(),
        });
        let value: serde_json::Value = serde_json::from_str(&event.to_line()).unwrap();
        match (&value["data"], &value["data_b64"]) {
            (serde_json::Value::String(s), serde_json::Value::Null) => {
                out.extend_from_slice(s.as_bytes())
            }
            (serde_json::Value::Null, serde_json::Value::String(b)) => {
                use base64::Engine as _;
                out.extend(base64::engine::general_purpose::STANDARD.decode(b).unwrap())
            }
            other => panic!("exactly one of data/data_b64: {other:?}"),
        }
        assert!(!data.is_empty(), "no empty events");
    }
    out
}

#[test]
fn concatenation_gives_back_the_input_for_random_chunkings() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for round in 0..2000 {
        let invalid = round % 2 == 1;
        let len = rng.below(200);
        let bytes = input(&mut rng, len, invalid);
        let payloads = chunk_randomly(&mut rng, &bytes);
        assert_eq!(decode(&payloads), bytes, "round {round}");
        if !invalid {
            // Valid UTF-8 input is always delivered as text, however it was split.
            assert!(
                payloads.iter().all(|d| matches!(d, Data::Text(_))),
                "round {round}: {payloads:?}"
            );
        }
    }
}

#[test]
fn arbitrary_bytes_survive() {
    let mut rng = Rng(42);
    for _ in 0..500 {
        let len = rng.below(100);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let payloads = chunk_randomly(&mut rng, &bytes);
        assert_eq!(decode(&payloads), bytes);
    }
}

#[test]
fn split_character_is_carried_not_encoded() {
    let mut c = Chunker::new();
    let euro = "€".as_bytes(); // E2 82 AC
    assert_eq!(c.push(&euro[..1]), None);
    assert_eq!(c.push(&euro[1..2]), None);
    assert_eq!(c.push(&euro[2..]), Some(Data::Text("€".into())));
    assert_eq!(c.finish(), None);
}

#[test]
fn invalid_prefix_is_not_carried() {
    let mut c = Chunker::new();
    // C0 can never start a valid sequence: sent at once, as bytes.
    assert_eq!(c.push(b"ok\xC0"), Some(Data::Binary(b"ok\xC0".to_vec())));
    assert_eq!(c.pending(), 0);
    // An invalid chunk still carries a valid trailing prefix, so the next chunk stays text.
    assert_eq!(c.push(b"\xFF\xC3"), Some(Data::Binary(vec![0xFF])));
    assert_eq!(c.push(b"\xA9"), Some(Data::Text("é".into())));
    // A carried prefix that the next chunk does not complete is flushed as bytes.
    assert_eq!(c.push(b"\xE2"), None);
    assert_eq!(c.push(b"x"), Some(Data::Binary(b"\xE2x".to_vec())));
}

#[test]
fn encode_chunk_is_stateless() {
    assert_eq!(encode_chunk(b"abc"), Data::Text("abc".into()));
    assert_eq!(encode_chunk(b"\xC3"), Data::Binary(vec![0xC3]));
    assert_eq!(encode_chunk(b""), Data::Text(String::new()));
}
