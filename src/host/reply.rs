//! Replies written straight into the client's buffer, one RESP item per call (no `RedisValue`
//! trees for large arrays). Each function replies on `ctx`'s client: a command's context, a
//! blocked client's thread-safe context, or a timer's.

use redis_module::{raw, Context};
use std::ffi::{c_char, c_long, CString};

fn len(n: usize) -> c_long {
    c_long::try_from(n).unwrap_or(c_long::MAX)
}

/// A bulk string of `bytes`. Redis copies them into the client's output buffer; handing it our
/// buffer directly saves the copy `RedisValue::StringBuffer` would make.
pub fn bulk(ctx: &Context, bytes: &[u8]) {
    raw::reply_with_string_buffer(ctx.ctx, bytes.as_ptr().cast::<c_char>(), bytes.len());
}

/// `+OK`, from a static C string (`RedisValue::SimpleStringStatic` allocates a `CString` for it
/// on every write).
pub fn ok(ctx: &Context) {
    // SAFETY: a live context and a static, NUL-terminated string.
    unsafe {
        if let Some(reply) = raw::RedisModule_ReplyWithSimpleString {
            reply(ctx.ctx, c"OK".as_ptr());
        }
    }
}

/// The header of an array of `n` items, which the next `n` replies fill.
pub fn array(ctx: &Context, n: usize) {
    raw::reply_with_array(ctx.ctx, len(n));
}

/// The header of a map of `n` pairs (a flat array of `2n` items in RESP2).
pub fn map(ctx: &Context, n: usize) {
    raw::reply_with_map(ctx.ctx, len(n));
}

pub fn null(ctx: &Context) {
    raw::reply_with_null(ctx.ctx);
}

pub fn integer(ctx: &Context, i: i64) {
    raw::reply_with_long_long(ctx.ctx, i);
}

pub fn double(ctx: &Context, f: f64) {
    raw::reply_with_double(ctx.ctx, f);
}

/// An integer beyond `i64`, as decimal digits: a RESP3 big number, a string in RESP2.
pub fn big_number(ctx: &Context, digits: &str) {
    raw::reply_with_big_number(ctx.ctx, digits.as_ptr().cast::<c_char>(), digits.len());
}

/// An error reply in place (inside an array already started), code first (`CORRUPT …`).
pub fn error(ctx: &Context, message: &str) {
    let message = CString::new(message.replace('\0', " ")).unwrap_or_default();
    raw::reply_with_error(ctx.ctx, message.as_ptr());
}
