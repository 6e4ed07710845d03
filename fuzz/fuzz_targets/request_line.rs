//! Fuzz target: `parse_request` (parser + validator) over arbitrary bytes.
//!
//! Invariants checked beyond "never panics":
//! * an accepted request passes `validate()` again and round-trips: its own
//!   `to_line()` parses back to an equal request;
//! * a rejected line becomes an `error` event whose line is a well-formed protocol
//!   event (what the sidecar writes back), with any recovered `id` within the limits.
#![no_main]

use kennel_protocol::{parse_request, Event, MAX_ID_BYTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse_request(data) {
        Ok(request) => {
            request.validate().expect("an accepted request validates");
            let line = request.to_line();
            assert!(line.ends_with('\n') && !line[..line.len() - 1].contains('\n'));
            let again = parse_request(line.as_bytes()).expect("a request's own line parses");
            assert_eq!(again, request, "round trip changed the request");
        }
        Err(error) => {
            if let Some(id) = &error.id {
                assert!(!id.is_empty() && id.len() <= MAX_ID_BYTES, "bad recovered id");
            }
            let line = error.to_event().to_line();
            let event = Event::from_line(line.as_bytes()).expect("the error event parses");
            assert_eq!(event.name(), "error");
        }
    }
});
