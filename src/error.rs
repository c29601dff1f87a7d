//! The one error type of command handlers, and the one place errors become Redis replies.

use crate::array::ArrayError;
use redis_module::RedisError;

/// Why a command failed. Handlers return this; [`Error::into_reply`] is the only conversion to
/// a Redis error reply (deliberately not `std::error::Error`: `redis-module` has a blanket
/// conversion for those that would flatten everything into `ERR …`).
#[derive(Debug)]
pub enum Error {
    /// The core refused the input or found corrupt data.
    Array(ArrayError),
    /// The key holds another type: the standard `WRONGTYPE` reply.
    WrongType,
    /// Too few or too many arguments: the standard wrong-arity reply.
    Arity,
    /// Arguments are malformed (`ERR <message>`).
    Usage(String),
    /// The command needs an existing array and the key does not exist (`NOKEY <message>`).
    NoKey(String),
    /// Redis refused something we asked of it (`ERR <message>`).
    Redis(String),
    /// The server's state refuses the write now, with Redis' own reply for it, code first
    /// (`READONLY …`, `MOVED …`, `OOM …`): see `admission.rs`.
    Refused(String),
}

impl Error {
    pub fn usage(msg: impl Into<String>) -> Self {
        Error::Usage(msg.into())
    }

    /// The command needs an existing array; `msg` starts with "no such key".
    pub fn no_key(msg: impl Into<String>) -> Self {
        Error::NoKey(msg.into())
    }

    /// Turns the error into the reply the client sees.
    pub fn into_reply(self) -> RedisError {
        match self {
            Error::WrongType => RedisError::WrongType,
            Error::Arity => RedisError::WrongArity,
            Error::Array(e) => {
                RedisError::String(format!("{} {}", e.code(), reply_safe(&e.to_string())))
            }
            Error::NoKey(m) => RedisError::String(format!("NOKEY {}", reply_safe(&m))),
            Error::Usage(m) | Error::Redis(m) => {
                RedisError::String(format!("ERR {}", reply_safe(&m)))
            }
            Error::Refused(m) => RedisError::String(reply_safe(&m)),
        }
    }
}

/// Error replies are one line of text, and `redis-module` mangles non-ASCII characters into
/// invalid UTF-8: escape everything outside printable ASCII.
fn reply_safe(message: &str) -> String {
    if message.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return message.to_string();
    }
    message.as_bytes().escape_ascii().to_string()
}

impl From<ArrayError> for Error {
    fn from(e: ArrayError) -> Self {
        Error::Array(e)
    }
}

pub type Result<T> = std::result::Result<T, Error>;
