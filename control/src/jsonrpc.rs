//! JSON-RPC 1.0 framing and messages as used by OVSDB (RFC 7047 section 4).
//!
//! OVSDB peers send JSON objects back to back on a byte stream with no delimiter. [`Decoder`]
//! finds value boundaries incrementally: it tracks bracket depth and string/escape state across
//! reads, so a value split over any number of reads is found once, in linear time, and hands
//! the complete span to serde_json. The amount buffered for one message is bounded
//! ([`DEFAULT_MAX_MESSAGE`]); a larger message is a [`Error::MessageTooLarge`]. Any error
//! poisons the decoder: the stream cannot be resynchronised, the connection must be dropped.
//!
//! [`decode_bytes`] runs the decoder over arbitrary bytes and never panics (fuzz entry point).

use serde_json::{json, Value};

use crate::error::{Error, Result};

/// Default bound on one message: 64 MiB (a full Southbound snapshot of a large deployment
/// fits; a stream that never closes its first brace does not eat the host's memory).
pub const DEFAULT_MAX_MESSAGE: usize = 64 << 20;

/// Bytes of a bad message quoted in errors and logs.
pub const EXCERPT_LEN: usize = 200;

/// A JSON-RPC message (RFC 7047 section 4.1).
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    /// A request: `{"method", "params", "id"}` with a non-null id; expects a response.
    Request {
        method: String,
        params: Value,
        id: Value,
    },
    /// A notification: a request whose id is null; no response.
    Notification { method: String, params: Value },
    /// A response: `{"result", "error", "id"}`; exactly one of result/error is non-null.
    Response {
        id: Value,
        result: std::result::Result<Value, Value>,
    },
}

/// Quotes the first [`EXCERPT_LEN`] bytes of `bytes`, lossily, for logs.
pub fn excerpt(bytes: &[u8]) -> String {
    let n = bytes.len().min(EXCERPT_LEN);
    String::from_utf8_lossy(&bytes[..n]).into_owned()
}

fn excerpt_value(v: &Value) -> String {
    let mut s = v.to_string();
    if s.len() > EXCERPT_LEN {
        let mut cut = EXCERPT_LEN;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

impl Message {
    /// Classifies a decoded JSON value.
    pub fn from_value(v: Value) -> Result<Message> {
        let Value::Object(mut o) = v else {
            return Err(Error::Protocol(format!(
                "JSON-RPC message is not an object: {}",
                excerpt_value(&v)
            )));
        };
        let id = o.remove("id").unwrap_or(Value::Null);
        if let Some(method) = o.remove("method") {
            let Value::String(method) = method else {
                return Err(Error::Protocol(format!(
                    "JSON-RPC method is not a string: {}",
                    excerpt_value(&method)
                )));
            };
            let params = o.remove("params").unwrap_or(Value::Array(vec![]));
            if !params.is_array() {
                return Err(Error::Protocol(format!(
                    "params of {method} is not an array: {}",
                    excerpt_value(&params)
                )));
            }
            return Ok(if id.is_null() {
                Message::Notification { method, params }
            } else {
                Message::Request { method, params, id }
            });
        }
        let result = o.remove("result");
        let error = o.remove("error").filter(|e| !e.is_null());
        match (result, error) {
            (_, Some(error)) => Ok(Message::Response {
                id,
                result: Err(error),
            }),
            (Some(result), None) => Ok(Message::Response {
                id,
                result: Ok(result),
            }),
            (None, None) => Err(Error::Protocol(format!(
                "JSON-RPC message has neither method nor result nor error (keys: {:?})",
                o.keys().take(8).collect::<Vec<_>>()
            ))),
        }
    }

    /// The JSON form of this message.
    pub fn to_value(&self) -> Value {
        match self {
            Message::Request { method, params, id } => {
                json!({"method": method, "params": params, "id": id})
            }
            Message::Notification { method, params } => {
                json!({"method": method, "params": params, "id": null})
            }
            Message::Response { id, result } => match result {
                Ok(r) => json!({"id": id, "result": r, "error": null}),
                Err(e) => json!({"id": id, "result": null, "error": e}),
            },
        }
    }

    /// The serialised bytes of this message.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising a Value into a Vec cannot fail (keys are strings).
        serde_json::to_vec(&self.to_value()).unwrap_or_default()
    }
}

/// Incremental decoder for a stream of concatenated JSON objects/arrays.
#[derive(Debug)]
pub struct Decoder {
    buf: Vec<u8>,
    /// Start of the value being scanned (or of unscanned data when `in_value` is false).
    start: usize,
    /// Next byte to scan.
    scan: usize,
    depth: usize,
    in_value: bool,
    in_string: bool,
    escape: bool,
    max: usize,
    /// Stream offset of `buf[0]`.
    base: u64,
    poisoned: Option<String>,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new(DEFAULT_MAX_MESSAGE)
    }
}

impl Decoder {
    /// A decoder rejecting messages larger than `max_message` bytes.
    pub fn new(max_message: usize) -> Decoder {
        Decoder {
            buf: Vec::new(),
            start: 0,
            scan: 0,
            depth: 0,
            in_value: false,
            in_string: false,
            escape: false,
            max: max_message.max(2),
            base: 0,
            poisoned: None,
        }
    }

    /// Appends bytes read from the stream.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.poisoned.is_none() {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// Bytes buffered and not yet returned as values.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    fn poison(&mut self, e: Error) -> Error {
        self.poisoned = Some(e.to_string());
        self.buf = Vec::new();
        e
    }

    fn compact(&mut self) {
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.base += self.start as u64;
            self.scan -= self.start;
            self.start = 0;
        }
    }

    /// Returns the next complete JSON value, `Ok(None)` when more bytes are needed.
    pub fn next_value(&mut self) -> Result<Option<Value>> {
        if let Some(p) = &self.poisoned {
            return Err(Error::Protocol(format!("decoder failed earlier: {p}")));
        }
        while self.scan < self.buf.len() {
            let i = self.scan;
            let b = self.buf[i];
            self.scan += 1;
            if !self.in_value {
                match b {
                    b' ' | b'\t' | b'\r' | b'\n' => self.start = self.scan,
                    b'{' | b'[' => {
                        self.start = i;
                        self.in_value = true;
                        self.depth = 1;
                    }
                    _ => {
                        let e = Error::Json {
                            offset: self.base + i as u64,
                            reason: "expected '{' or '[' at the start of a message".into(),
                            excerpt: excerpt(&self.buf[i..]),
                        };
                        return Err(self.poison(e));
                    }
                }
                continue;
            }
            if self.in_string {
                if self.escape {
                    self.escape = false;
                } else if b == b'\\' {
                    self.escape = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => self.depth -= 1,
                _ => {}
            }
            if self.depth == 0 {
                let span = &self.buf[self.start..self.scan];
                if span.len() > self.max {
                    let e = Error::MessageTooLarge {
                        size: span.len(),
                        limit: self.max,
                    };
                    return Err(self.poison(e));
                }
                let parsed = serde_json::from_slice::<Value>(span);
                let offset = self.base + self.start as u64;
                self.in_value = false;
                match parsed {
                    Ok(v) => {
                        self.start = self.scan;
                        self.compact();
                        return Ok(Some(v));
                    }
                    Err(err) => {
                        let e = Error::Json {
                            offset,
                            reason: err.to_string(),
                            excerpt: excerpt(span),
                        };
                        return Err(self.poison(e));
                    }
                }
            }
        }
        if self.in_value && self.buf.len() - self.start > self.max {
            let e = Error::MessageTooLarge {
                size: self.buf.len() - self.start,
                limit: self.max,
            };
            return Err(self.poison(e));
        }
        self.compact();
        Ok(None)
    }

    /// Returns the next complete message, `Ok(None)` when more bytes are needed.
    pub fn next_message(&mut self) -> Result<Option<Message>> {
        match self.next_value()? {
            Some(v) => Message::from_value(v).map(Some),
            None => Ok(None),
        }
    }
}

/// Decodes arbitrary bytes as an OVSDB stream: splits them into reads of varying size (driven
/// by the bytes), decodes messages, and applies update notifications to a scratch replica.
/// Returns the number of messages decoded before the first error. Never panics; this is the
/// fuzz entry point.
pub fn decode_bytes(data: &[u8]) -> usize {
    let mut dec = Decoder::new(1 << 16);
    let mut replica = crate::replica::Replica::new();
    let mut count = 0;
    let mut rest = data;
    let mut chunk = 1usize;
    while !rest.is_empty() {
        let n = chunk.min(rest.len());
        dec.feed(&rest[..n]);
        chunk = (usize::from(rest[0]) % 61) + 1;
        rest = &rest[n..];
        loop {
            match dec.next_message() {
                Ok(Some(msg)) => {
                    count += 1;
                    if let Message::Notification { method, params } = &msg {
                        let _ = replica.apply_notification(method, params);
                    }
                    let _ = Message::from_value(msg.to_value());
                }
                Ok(None) => break,
                Err(_) => return count,
            }
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(dec: &mut Decoder) -> Result<Vec<Value>> {
        let mut out = vec![];
        while let Some(v) = dec.next_value()? {
            out.push(v);
        }
        Ok(out)
    }

    #[test]
    fn back_to_back_messages() {
        let mut d = Decoder::default();
        d.feed(br#"{"id":1,"result":[]}{"id":2,"result":{}}  [1,2]"#);
        let v = all(&mut d).unwrap();
        assert_eq!(
            v,
            vec![
                json!({"id":1,"result":[]}),
                json!({"id":2,"result":{}}),
                json!([1, 2])
            ]
        );
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn split_at_every_byte() {
        let stream = br#"{"method":"echo","params":["a}\"{["],"id":"x"} {"id":"x","result":{"k":"\\"},"error":null}"#;
        for split in 0..stream.len() {
            let mut d = Decoder::default();
            d.feed(&stream[..split]);
            let mut got = all(&mut d).unwrap();
            d.feed(&stream[split..]);
            got.extend(all(&mut d).unwrap());
            assert_eq!(got.len(), 2, "split at {split}");
            assert_eq!(got[0]["params"][0], "a}\"{[");
            assert_eq!(got[1]["result"]["k"], "\\");
        }
        // One byte at a time.
        let mut d = Decoder::default();
        let mut n = 0;
        for b in stream.iter() {
            d.feed(std::slice::from_ref(b));
            n += all(&mut d).unwrap().len();
        }
        assert_eq!(n, 2);
    }

    #[test]
    fn braces_and_escaped_quotes_in_strings() {
        let mut d = Decoder::default();
        d.feed(br#"{"a":"}}}]]]\"\\\"{{{","b":["[",{"c":"\u007d"}]}"#);
        let v = all(&mut d).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0]["a"], "}}}]]]\"\\\"{{{");
        assert_eq!(v[0]["b"][1]["c"], "}");
    }

    #[test]
    fn oversized_message_is_rejected() {
        let mut d = Decoder::new(100);
        d.feed(b"{\"a\":\"");
        d.feed(&[b'x'; 200]);
        let e = d.next_value().unwrap_err();
        assert!(
            matches!(e, Error::MessageTooLarge { limit: 100, .. }),
            "{e}"
        );
        // Poisoned afterwards.
        d.feed(b"{}");
        assert!(d.next_value().is_err());
        // A complete message over the limit in a single read is rejected too.
        let mut d = Decoder::new(10);
        d.feed(br#"{"aaaaaaaaaaaa":1}"#);
        assert!(matches!(d.next_value(), Err(Error::MessageTooLarge { .. })));
    }

    #[test]
    fn invalid_utf8_and_garbage() {
        let mut d = Decoder::default();
        d.feed(b"{\"a\":\"\xff\xfe\"}");
        let e = d.next_value().unwrap_err();
        assert!(matches!(e, Error::Json { .. }), "{e}");
        let mut d = Decoder::default();
        d.feed(b"  hello");
        let e = d.next_value().unwrap_err();
        assert!(e.to_string().contains("hello"), "{e}");
        let mut d = Decoder::default();
        d.feed(b"{]");
        assert!(matches!(d.next_value(), Err(Error::Json { .. })));
        let mut d = Decoder::default();
        d.feed(b"}");
        assert!(d.next_value().is_err());
    }

    #[test]
    fn classifies_messages() {
        let m = Message::from_value(json!({"method":"echo","params":[],"id":"echo"})).unwrap();
        assert!(matches!(m, Message::Request { ref method, .. } if method == "echo"));
        let m = Message::from_value(json!({"method":"update3","params":[1],"id":null})).unwrap();
        assert!(matches!(m, Message::Notification { .. }));
        let m =
            Message::from_value(json!({"id":3,"result":null,"error":"unknown method"})).unwrap();
        assert_eq!(
            m,
            Message::Response {
                id: json!(3),
                result: Err(json!("unknown method"))
            }
        );
        let m = Message::from_value(json!({"id":3,"result":[1]})).unwrap();
        assert!(matches!(m, Message::Response { result: Ok(_), .. }));
        assert!(Message::from_value(json!([1])).is_err());
        assert!(Message::from_value(json!({"id":1})).is_err());
        assert!(Message::from_value(json!({"method":1})).is_err());
        assert!(Message::from_value(json!({"method":"x","params":{}})).is_err());
        let back = Message::from_value(m.to_value()).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn decode_bytes_never_panics_on_samples() {
        assert_eq!(decode_bytes(br#"{"id":1,"result":[]}{"method":"update3","params":["m","00000000-0000-0000-0000-000000000000",{"T":{"not-a-uuid":{"insert":{}}}}],"id":null}"#), 2);
        assert_eq!(decode_bytes(b"\xff\x00{"), 0);
        assert_eq!(decode_bytes(b""), 0);
    }
}
