//! Parse errors for the logical-flow languages: every error names the byte offset and the
//! token where parsing stopped, so a rejected Logical_Flow can be reported with context.

use std::fmt;

/// Why a `match` or `actions` text was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset into the input where the offending token starts.
    pub offset: usize,
    /// The offending token as written (empty at end of input).
    pub token: String,
    /// What was wrong.
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(offset: usize, token: impl Into<String>, message: impl Into<String>) -> Self {
        ParseError {
            offset,
            token: token.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.token.is_empty() {
            write!(
                f,
                "at offset {} (end of input): {}",
                self.offset, self.message
            )
        } else {
            write!(
                f,
                "at offset {} near `{}`: {}",
                self.offset, self.token, self.message
            )
        }
    }
}

impl std::error::Error for ParseError {}
