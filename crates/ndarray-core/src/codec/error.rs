//! The codec layer's error. The array layer turns it into its own ([`crate::array::ArrayError`])
//! where it calls a codec, so a failed encode is not reported as corrupt data.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodecError {
    /// Stored bytes did not decode: corruption (or a hostile payload).
    Corrupt(String),
    /// A compressor failed on valid input (out of memory in a C library, an internal limit).
    Failed(String),
    /// A codec name or level the user gave is not one the registry has.
    BadLevel(String),
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Corrupt(m) | Self::Failed(m) | Self::BadLevel(m) => f.write_str(m),
        }
    }
}

pub type CodecResult<T> = Result<T, CodecError>;
