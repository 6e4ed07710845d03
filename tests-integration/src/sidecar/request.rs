//! Request lines, built rather than spelled: `request::cancel("a")` is
//! `{"op":"cancel","id":"a"}`. Each returns the JSON value [`Writer::send`]
//! (super::Writer::send) takes, so a test can still add or break a field on purpose.

use serde_json::{json, Map, Value};

/// `{"op":"cancel","id":…}`.
pub fn cancel(id: &str) -> Value {
    json!({"op": "cancel", "id": id})
}

/// `{"op":"kill","id":…}`.
pub fn kill(id: &str) -> Value {
    json!({"op": "kill", "id": id})
}

/// `{"op":"close_stdin","id":…}`.
pub fn close_stdin(id: &str) -> Value {
    json!({"op": "close_stdin", "id": id})
}

/// `{"op":"write","id":…,"data":…}`: text for the child's stdin.
pub fn write(id: &str, text: &str) -> Value {
    json!({"op": "write", "id": id, "data": text})
}

/// `{"op":"signal","id":…,"signal":…}`.
pub fn signal(id: &str, signal: &str) -> Value {
    json!({"op": "signal", "id": id, "signal": signal})
}

/// `{"op":"eof","id":…,"stream":…,"req":…}`: the client read a direct stream to EOF.
pub fn eof(id: &str, stream: &str, req: &str) -> Value {
    json!({"op": "eof", "id": id, "stream": stream, "req": req})
}

/// `{"op":"list","id":…}`.
pub fn list(id: &str) -> Value {
    json!({"op": "list", "id": id})
}

/// `{"op":"shutdown"}`.
pub fn shutdown() -> Value {
    json!({"op": "shutdown"})
}

/// A `spawn` request: the required fields, then optional ones added by method.
#[derive(Clone, Debug)]
pub struct Spawn(Map<String, Value>);

impl Spawn {
    /// `{"op":"spawn","id":…,"cmd":…,"args":[…]}`.
    pub fn new(id: &str, cmd: &str, args: &[&str]) -> Spawn {
        let mut map = Map::new();
        map.insert("op".into(), "spawn".into());
        map.insert("id".into(), id.into());
        map.insert("cmd".into(), cmd.into());
        map.insert("args".into(), args.into());
        Spawn(map)
    }

    /// Sets one more field (`grace_ms`, `stdin`, `timeout_ms`, …).
    pub fn with(mut self, field: &str, value: impl Into<Value>) -> Spawn {
        self.0.insert(field.into(), value.into());
        self
    }

    /// Merges every field of `extra` (a JSON object; anything else adds nothing).
    pub fn merge(mut self, extra: Value) -> Spawn {
        if let Value::Object(extra) = extra {
            self.0.extend(extra);
        }
        self
    }

    /// The request line.
    pub fn build(self) -> Value {
        Value::Object(self.0)
    }
}

impl From<Spawn> for Value {
    fn from(s: Spawn) -> Value {
        s.build()
    }
}
