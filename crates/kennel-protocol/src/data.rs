//! Byte payloads carried as `data` (UTF-8 text) or `data_b64` (base64).

use base64::display::Base64Display;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

/// A byte payload: the `data` field (text) or the `data_b64` field (bytes).
///
/// Used by `write` requests and `stdout`/`stderr` events. On the wire exactly one
/// of the two fields is present. base64 is the RFC 4648 standard alphabet with
/// `=` padding.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Data {
    /// Valid UTF-8 text, carried in `data`.
    Text(String),
    /// Arbitrary bytes, carried base64-encoded in `data_b64`.
    Binary(Vec<u8>),
}

impl Data {
    /// The payload's bytes, whichever way they are carried.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Data::Text(s) => s.as_bytes(),
            Data::Binary(b) => b,
        }
    }

    /// Consumes the payload, returning its bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        match self {
            Data::Text(s) => s.into_bytes(),
            Data::Binary(b) => b,
        }
    }

    /// The number of payload bytes (not of encoded characters).
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the payload has no bytes.
    pub fn is_empty(&self) -> bool {
        self.as_bytes().is_empty()
    }

    /// `Text` when `bytes` are valid UTF-8, `Binary` otherwise.
    pub fn from_bytes(bytes: Vec<u8>) -> Data {
        match String::from_utf8(bytes) {
            Ok(s) => Data::Text(s),
            Err(e) => Data::Binary(e.into_bytes()),
        }
    }

    /// Builds a payload from the two optional wire fields; exactly one must be set.
    pub(crate) fn from_fields(
        data: Option<String>,
        data_b64: Option<String>,
    ) -> Result<Data, String> {
        match (data, data_b64) {
            (Some(text), None) => Ok(Data::Text(text)),
            (None, Some(b64)) => decode_b64(&b64).map(Data::Binary),
            (Some(_), Some(_)) => {
                Err("Fields `data` and `data_b64` are exclusive; send exactly one.".to_owned())
            }
            (None, None) => Err("One of the fields `data` or `data_b64` is required.".to_owned()),
        }
    }
}

/// Decodes standard padded base64, with a sentence for the error.
pub(crate) fn decode_b64(b64: &str) -> Result<Vec<u8>, String> {
    STANDARD.decode(b64).map_err(|e| {
        let e = e.to_string();
        let e = e.trim_end_matches('.');
        format!("Field `data_b64` is not valid standard base64: {e}.")
    })
}

struct B64<'a>(&'a [u8]);

impl Serialize for B64<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&Base64Display::new(self.0, &STANDARD))
    }
}

/// Serializes `{"id": …, "data"|"data_b64": …[, "req": …]}` without copying the payload.
pub(crate) fn serialize_id_data<S: Serializer>(
    s: S,
    name: &'static str,
    id: &str,
    data: &Data,
    req: Option<&str>,
) -> Result<S::Ok, S::Error> {
    let mut st = s.serialize_struct(name, 2 + usize::from(req.is_some()))?;
    st.serialize_field("id", id)?;
    match data {
        Data::Text(text) => st.serialize_field("data", text)?,
        Data::Binary(bytes) => st.serialize_field("data_b64", &B64(bytes))?,
    }
    if let Some(req) = req {
        st.serialize_field("req", req)?;
    }
    st.end()
}
