//! Error type of the OVSDB client: every variant carries the context a log line needs.

use std::io;

/// Errors of the OVSDB client, its framing, values and sessions.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A remote string (`unix:`, `tcp:`, `ssl:`) could not be parsed or is not supported.
    #[error("remote {remote:?}: {reason}")]
    Remote { remote: String, reason: String },
    /// An I/O error, with what we were doing.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    /// The peer closed the connection.
    #[error("connection closed by peer")]
    Closed,
    /// A message being received exceeds the configured bound.
    #[error("message exceeds {limit} bytes (buffered {size} bytes without a complete JSON value)")]
    MessageTooLarge { size: usize, limit: usize },
    /// Bytes that are not valid JSON (or not a JSON object/array at the top level).
    #[error("invalid JSON at stream offset {offset}: {reason}; starts with {excerpt:?}")]
    Json {
        offset: u64,
        reason: String,
        excerpt: String,
    },
    /// Valid JSON that is not a valid JSON-RPC / OVSDB message or value.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The server answered a request with an error.
    #[error("{method} failed: {error}")]
    Rpc {
        method: String,
        error: serde_json::Value,
    },
    /// No reply (or no message at all) within the allowed time.
    #[error("timeout: {0}")]
    Timeout(String),
    /// A row column is missing or does not have the requested type.
    #[error("column {column:?}: {reason}")]
    Column { column: String, reason: String },
    /// An operation needs a connection and there is none.
    #[error("not connected")]
    NotConnected,
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// True when the server rejected a method it does not implement (used for fallbacks).
    pub fn is_unknown_method(&self) -> bool {
        match self {
            Error::Rpc { error, .. } => {
                let text = match error {
                    serde_json::Value::String(s) => s.as_str(),
                    serde_json::Value::Object(o) => {
                        o.get("error").and_then(|e| e.as_str()).unwrap_or("")
                    }
                    _ => "",
                };
                text == "unknown method"
            }
            _ => false,
        }
    }
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, Error>;
