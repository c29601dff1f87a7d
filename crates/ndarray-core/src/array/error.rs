//! The core's error type. It knows nothing about Redis: `crate::error` turns it into a reply.

use crate::codec::CodecError;
use std::fmt;

/// Everything the Redis-free core can refuse, by class. Each message says what was wrong and
/// what was expected, because it reaches the user verbatim after the class's [code](Self::code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArrayError {
    /// An argument is malformed in a way none of the classes below covers (`ERR`).
    Invalid(String),
    /// A dtype name that is not supported, or a cast that is refused (`DTYPE`).
    Dtype(String),
    /// Data whose size or shape does not fit the array, the selection or the other arrays
    /// (`SHAPE`; NumPy's "cannot reshape", "could not broadcast").
    Shape(String),
    /// Selection text that is not a selection (`SELECTION`).
    Selection(String),
    /// An index or selection outside the array (`BOUNDS`; NumPy's `IndexError`).
    OutOfBounds(String),
    /// A `.npy` file that is malformed (`BADNPY`).
    Npy(String),
    /// An encoded array a client sent that is malformed or does not decode (`BADPAYLOAD`).
    Payload(String),
    /// An element value that does not parse, or does not fit its dtype (`VALUE`).
    Value(String),
    /// A size limit: the `max-array-bytes` or `max-reply-bytes` setting, NumPy's int64 rule, the
    /// limits on attributes (`LIMIT`).
    TooLarge(String),
    /// Stored bytes (a chunk, an RDB payload) failed to decode: corruption, not user error
    /// (`CORRUPT`).
    Corrupt(String),
}

impl ArrayError {
    pub fn invalid(msg: impl Into<String>) -> Self {
        Self::Invalid(msg.into())
    }
    pub fn corrupt(msg: impl Into<String>) -> Self {
        Self::Corrupt(msg.into())
    }
    pub fn dtype(msg: impl Into<String>) -> Self {
        Self::Dtype(msg.into())
    }
    pub fn shape(msg: impl Into<String>) -> Self {
        Self::Shape(msg.into())
    }
    pub fn selection(msg: impl Into<String>) -> Self {
        Self::Selection(msg.into())
    }
    pub fn npy(msg: impl Into<String>) -> Self {
        Self::Npy(msg.into())
    }
    pub fn value(msg: impl Into<String>) -> Self {
        Self::Value(msg.into())
    }

    /// The first word of the error reply: stable per class, so clients map codes, never
    /// messages. Listed in the README's "Errors" section.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "ERR",
            Self::Dtype(_) => "DTYPE",
            Self::Shape(_) => "SHAPE",
            Self::Selection(_) => "SELECTION",
            Self::OutOfBounds(_) => "BOUNDS",
            Self::Npy(_) => "BADNPY",
            Self::Payload(_) => "BADPAYLOAD",
            Self::Value(_) => "VALUE",
            Self::TooLarge(_) => "LIMIT",
            Self::Corrupt(_) => "CORRUPT",
        }
    }

    /// The same error, its message prefixed with where it happened (`npy data: …`); the class
    /// stays.
    pub fn context(self, prefix: impl std::fmt::Display) -> Self {
        let with = |m: String| format!("{prefix}: {m}");
        match self {
            Self::Invalid(m) => Self::Invalid(with(m)),
            Self::Dtype(m) => Self::Dtype(with(m)),
            Self::Shape(m) => Self::Shape(with(m)),
            Self::Selection(m) => Self::Selection(with(m)),
            Self::OutOfBounds(m) => Self::OutOfBounds(with(m)),
            Self::Npy(m) => Self::Npy(with(m)),
            Self::Payload(m) => Self::Payload(with(m)),
            Self::Value(m) => Self::Value(with(m)),
            Self::TooLarge(m) => Self::TooLarge(with(m)),
            Self::Corrupt(m) => Self::Corrupt(with(m)),
        }
    }
}

impl fmt::Display for ArrayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Corrupt(m) => write!(f, "stored data is corrupt: {m}"),
            Self::Invalid(m)
            | Self::Dtype(m)
            | Self::Shape(m)
            | Self::Selection(m)
            | Self::OutOfBounds(m)
            | Self::Npy(m)
            | Self::Payload(m)
            | Self::Value(m)
            | Self::TooLarge(m) => f.write_str(m),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_class_has_its_own_code_and_context_keeps_it() {
        let classes = [
            (ArrayError::invalid("m"), "ERR"),
            (ArrayError::dtype("m"), "DTYPE"),
            (ArrayError::shape("m"), "SHAPE"),
            (ArrayError::selection("m"), "SELECTION"),
            (ArrayError::OutOfBounds("m".into()), "BOUNDS"),
            (ArrayError::npy("m"), "BADNPY"),
            (ArrayError::Payload("m".into()), "BADPAYLOAD"),
            (ArrayError::value("m"), "VALUE"),
            (ArrayError::TooLarge("m".into()), "LIMIT"),
            (ArrayError::corrupt("m"), "CORRUPT"),
        ];
        for (e, code) in classes {
            assert_eq!(e.code(), code);
            let with = e.clone().context("npy data");
            assert_eq!(with.code(), code, "context keeps the class");
            assert!(with.to_string().ends_with("npy data: m"), "{with}");
        }
        assert_eq!(
            ArrayError::corrupt("chunk 3").to_string(),
            "stored data is corrupt: chunk 3"
        );
        // A stored chunk that does not decode is corrupt data; a level the user gave is not.
        assert_eq!(
            ArrayError::from(CodecError::Corrupt("x".into())).code(),
            "CORRUPT"
        );
        assert_eq!(
            ArrayError::from(CodecError::BadLevel("x".into())).code(),
            "ERR"
        );
    }
}
