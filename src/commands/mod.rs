//! Command handlers: parse → core → reply, each behind the panic guard.

pub mod args;
mod batch;
mod compute;
mod encoded;
mod meta;
pub mod parse;
mod probe;
mod read;
mod reply;
pub(crate) mod scratch;
pub mod steps;
pub mod table;
mod write;

use crate::error::{Error, Result};
use crate::host::server::notify;
use crate::panic::catch_panic;
use parse::FewOnStack;
use redis_module::{Context, RedisError, RedisResult, RedisString, RedisValue};

/// Runs a handler so that no panic can reach Redis (a panic in a module aborts the server and
/// loses every unsaved key): a panic becomes `ERR internal error …` and a log line.
pub fn guard(
    ctx: &Context,
    args: &[RedisString],
    handler: fn(&Context, &[RedisString]) -> Result<RedisValue>,
) -> RedisResult {
    match catch_panic(|| handler(ctx, args)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(Error::Arity)) => Err(RedisError::WrongArity),
        Ok(Err(e)) => Err(e.into_reply()),
        Err(what) => {
            crate::host::stats::PANICS_CAUGHT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            ctx.log_warning(&format!("ndarray: internal error (panic caught): {what}"));
            Err(RedisError::String(format!(
                "ERR internal error in ndarray, please report it: {}",
                what.replace(['\r', '\n'], " ")
            )))
        }
    }
}

/// Arguments after the command name and key, as byte slices (borrowed, no copy), on the stack
/// for every small command (a `Vec` here added allocations to every small SET). Inlined:
/// called apart, moving the 8-slot array out showed in every small GET's profile.
#[inline(always)]
fn rest(args: &[RedisString], from: usize) -> FewOnStack<&[u8], 8> {
    let mut bytes = FewOnStack::default();
    for a in args.get(from..).unwrap_or_default() {
        bytes.push(a.as_slice());
    }
    bytes
}

/// `args[i]`, or a wrong-arity error.
fn arg(args: &[RedisString], i: usize) -> Result<&RedisString> {
    args.get(i).ok_or(Error::Arity)
}
