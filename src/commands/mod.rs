//! Command handlers: parse → core → reply, each behind the panic guard.

pub mod args;
mod batch;
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
use crate::panic::catch_panic;
use parse::FewOnStack;
use redis_module::{raw, Context, NotifyEvent, RedisError, RedisResult, RedisString, RedisValue};
use std::ffi::CStr;

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
            crate::stats::PANICS_CAUGHT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            ctx.log_warning(&format!("ndarray: internal error (panic caught): {what}"));
            Err(RedisError::String(format!(
                "ERR internal error in ndarray, please report it: {}",
                what.replace(['\r', '\n'], " ")
            )))
        }
    }
}

/// Arguments after the command name and key, as byte slices (borrowed, no copy), on the stack
/// for every small command (a `Vec` here was two of a small SET's eight allocations). Inlined:
/// called apart, moving the 8-slot array out cost a small GET 90 instructions (callgrind).
#[inline(always)]
fn rest(args: &[RedisString], from: usize) -> FewOnStack<&[u8], 8> {
    let mut bytes = FewOnStack::default();
    for a in args.get(from..).unwrap_or_default() {
        bytes.push(a.as_slice());
    }
    bytes
}

/// Fires the keyspace event `event` (class `d`, module) for `key`. A static C string: the crate's
/// `notify_keyspace_event` allocates a `CString` for the event name on every write.
fn notify(ctx: &Context, event: &CStr, key: &RedisString) {
    // SAFETY: a live command context, a static NUL-terminated event name and a key name that
    // outlives the call (Redis copies what it keeps).
    unsafe {
        if let Some(notify) = raw::RedisModule_NotifyKeyspaceEvent {
            notify(
                ctx.ctx,
                NotifyEvent::MODULE.bits(),
                event.as_ptr(),
                key.inner,
            );
        }
    }
}

/// `args[i]`, or a wrong-arity error.
fn arg(args: &[RedisString], i: usize) -> Result<&RedisString> {
    args.get(i).ok_or(Error::Arity)
}
