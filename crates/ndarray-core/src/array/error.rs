//! The core's error type. It knows nothing about Redis: `crate::error` turns it into a reply.

use crate::codec::CodecError;
use std::fmt;

/// Everything the Redis-free core can refuse. Each message says what was wrong and what was expected,
/// because it reaches the user verbatim after `ERR `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArrayError {
    /// A value the user sent is malformed (bad dtype name, bad number, bad `.npy`, …).
    Invalid(String),
    /// The array would exceed a size limit (the `max-array-bytes` setting, or NumPy's int64 rule).
    TooLarge(String),
    /// An index or selection falls outside the array.
    OutOfBounds(String),
    /// Stored bytes (a chunk, an RDB payload) failed to decode: corruption, not user error.
    Corrupt(String),
}

impl ArrayError {
    pub fn invalid(msg: impl Into<String>) -> Self {
        Self::Invalid(msg.into())
    }
    pub fn corrupt(msg: impl Into<String>) -> Self {
        Self::Corrupt(msg.into())
    }
}

impl fmt::Display for ArrayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid(m) | Self::TooLarge(m) | Self::OutOfBounds(m) => f.write_str(m),
            Self::Corrupt(m) => write!(f, "stored data is corrupt: {m}"),
        }
    }
}

pub type ArrayResult<T> = Result<T, ArrayError>;

/// Where the core calls a codec: stored bytes that do not decode are corrupt data; a codec name
/// or level the user gave, or a compressor failing, is reported as what it is.
impl From<CodecError> for ArrayError {
    fn from(e: CodecError) -> Self {
        match e {
            CodecError::Corrupt(m) => Self::Corrupt(m),
            CodecError::Failed(m) | CodecError::BadLevel(m) => Self::Invalid(m),
        }
    }
}
