//! What an array keeps besides its elements: attributes (NDARRAY.ATTRSET, ATTRGET, ATTRDEL) and
//! `updated_at`, with the one rule for taking and replicating it.
//!
//! `updated_at` is the primary's clock (Unix ms) at the moment of a write. A write replicated as
//! itself is followed by `NDARRAY.STAMP key [key ...] unix-ms`, so replicas and AOF replays store
//! the primary's time; a write replicated as its encoded value (PUTENCODED) carries it in the
//! payload. A command arriving over the replication link or replayed from the AOF never reads the
//! local clock: a new value gets 0 ("unknown") and a changed one keeps its time until the STAMP
//! that follows it (an AOF written by an earlier version has none, and says nothing of the time).

use super::{arg, notify, reply};
use crate::array::NdArray;
use crate::datatype::Key;
use crate::error::{Error, Result};
use redis_module::{raw, Context, ContextFlags, RedisString, RedisValue};
use std::ffi::{c_char, c_long, c_longlong};

/// The server's clock in Unix milliseconds.
pub fn now_ms() -> u64 {
    // SAFETY: a plain call into the module API (the cached or current server time).
    let ms = unsafe { raw::RedisModule_Milliseconds.map_or(0, |f| f()) };
    u64::try_from(ms).unwrap_or(0)
}

/// The time a write records here: the clock on the primary; none on the replication link or while
/// loading (the primary's time arrives with the write, or was never recorded).
pub fn write_time(ctx: &Context) -> Option<u64> {
    let replayed = ContextFlags::REPLICATED | ContextFlags::LOADING;
    (!ctx.get_flags().intersects(replayed)).then(now_ms)
}

/// Stamps a new or changed `array` with the write time (or, replayed, 0 for a new one: see the
/// module comment). Returns the time to replicate.
pub fn stamp(ctx: &Context, array: &mut NdArray) -> Option<u64> {
    let at = write_time(ctx);
    if let Some(at) = at {
        array.set_updated_at(at);
    }
    at
}

/// Replicates `NDARRAY.STAMP names… at` after a write replicated as itself (Redis wraps a
/// command's replicated commands in MULTI/EXEC, so no replica sees the write without its time).
/// Straight through `RM_Replicate` with the key strings themselves (Redis retains them): the
/// crate's `replicate` copies every argument and cost 5,200 Ir of a 12,400-Ir small SET (callgrind).
pub fn replicate_stamp(ctx: &Context, names: &[&RedisString], at: Option<u64>) {
    // SAFETY: reading the API table Redis filled in when the module loaded.
    let (Some(at), Some(replicate)) = (at, unsafe { raw::RedisModule_Replicate }) else {
        return;
    };
    // Nothing would receive it (no AOF, no replica or backlog): Redis would drop it.
    if !crate::propagation::consumed(ctx) {
        return;
    }
    let at = c_longlong::try_from(at).unwrap_or(c_longlong::MAX);
    match names {
        [] => {}
        // SAFETY: a live context (main thread or locked); "sl" takes a string Redis retains and a
        // long long.
        [name] => unsafe {
            replicate(
                ctx.ctx,
                c"NDARRAY.STAMP".as_ptr(),
                c"sl".as_ptr(),
                name.inner,
                at,
            );
        },
        _ => {
            let time = RedisString::create(None, at.to_string().as_str());
            let mut argv: Vec<*mut raw::RedisModuleString> =
                names.iter().map(|n| n.inner).collect();
            argv.push(time.inner);
            // SAFETY: as above; "v" takes an array of strings and its length, each retained by
            // Redis, so `time` may be freed when it drops.
            unsafe {
                replicate(
                    ctx.ctx,
                    c"NDARRAY.STAMP".as_ptr(),
                    c"v".as_ptr(),
                    argv.as_mut_ptr(),
                    argv.len(),
                );
            }
        }
    }
}

/// `NDARRAY.ATTRSET key field value [field value ...]`: sets attributes of an existing array and
/// replies how many fields are new (as `HSET`). Every limit is checked before anything changes.
pub fn attrset(ctx: &Context, args: &[RedisString]) -> Result<RedisValue> {
    if args.len() < 4 || !args.len().is_multiple_of(2) {
        return Err(Error::Arity);
    }
    let name = arg(args, 1)?;
    let mut key = Key::open(ctx, name, true);
    let Some(array) = key.array_mut()? else {
        return Err(Error::usage(
            "no such key (attributes belong to an array: NDARRAY.SET it first)",
        ));
    };
    let pairs = args
        .get(2..)
        .unwrap_or_default()
        .chunks_exact(2)
        .filter_map(|p| Some((p.first()?.as_slice(), p.get(1)?.as_slice())));
    let created = array.attrs_mut().set_all(pairs)?;
    let at = stamp(ctx, array);
    ctx.replicate_verbatim();
    replicate_stamp(ctx, &[name], at);
    notify(ctx, c"ndarray.attrset", name);
    Ok(RedisValue::Integer(created as i64))
}

/// `NDARRAY.ATTRGET key [field ...]`: every attribute as a map (a flat list in RESP2), or, with
/// fields, their values in order with nil where one is absent (as `HMGET`). A missing key: nil,
/// or an array of nils.
pub fn attrget(ctx: &Context, args: &[RedisString]) -> Result<RedisValue> {
    if args.len() < 2 {
        return Err(Error::Arity);
    }
    let key = Key::open(ctx, arg(args, 1)?, false);
    let array = key.array()?;
    let fields = args.get(2..).unwrap_or_default();
    if fields.is_empty() {
        return Ok(match array {
            Some(array) => reply::attrs(ctx, array.attrs()),
            None => RedisValue::Null,
        });
    }
    raw::reply_with_array(
        ctx.ctx,
        c_long::try_from(fields.len()).unwrap_or(c_long::MAX),
    );
    for field in fields {
        match array.and_then(|a| a.attrs().get(field.as_slice())) {
            Some(v) => raw::reply_with_string_buffer(ctx.ctx, v.as_ptr().cast::<c_char>(), v.len()),
            None => raw::reply_with_null(ctx.ctx),
        };
    }
    Ok(RedisValue::NoReply)
}

/// `NDARRAY.ATTRDEL key field [field ...]`: removes attributes, replies how many were present.
pub fn attrdel(ctx: &Context, args: &[RedisString]) -> Result<RedisValue> {
    if args.len() < 3 {
        return Err(Error::Arity);
    }
    let name = arg(args, 1)?;
    let mut key = Key::open(ctx, name, true);
    let Some(array) = key.array_mut()? else {
        return Ok(RedisValue::Integer(0));
    };
    let fields = args
        .get(2..)
        .unwrap_or_default()
        .iter()
        .map(|f| f.as_slice());
    let removed = array.attrs_mut().remove_all(fields);
    if removed > 0 {
        let at = stamp(ctx, array);
        ctx.replicate_verbatim();
        replicate_stamp(ctx, &[name], at);
        notify(ctx, c"ndarray.attrdel", name);
    }
    Ok(RedisValue::Integer(removed as i64))
}

/// `NDARRAY.STAMP key [key ...] unix-ms`: sets `updated_at` of each array (a missing key is
/// skipped) and replies how many were stamped. What replicas and the AOF receive after a write;
/// it changes neither data nor attributes, so it takes no time of its own.
pub fn stamp_command(ctx: &Context, args: &[RedisString]) -> Result<RedisValue> {
    if args.len() < 3 {
        return Err(Error::Arity);
    }
    let (time, names) = args
        .get(1..)
        .and_then(<[RedisString]>::split_last)
        .ok_or(Error::Arity)?;
    let at = std::str::from_utf8(time.as_slice())
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|t| i64::try_from(*t).is_ok())
        .ok_or_else(|| {
            Error::usage(format!(
                "unix-ms must be a non-negative integer, got '{}'",
                time.as_slice().escape_ascii()
            ))
        })?;
    // Every key is checked before any changes (WRONGTYPE leaves all of them as they were).
    let mut keys = Vec::with_capacity(names.len());
    for name in names {
        let key = Key::open(ctx, name, true);
        key.array()?;
        keys.push(key);
    }
    let mut stamped = 0;
    for key in &mut keys {
        if let Some(array) = key.array_mut()? {
            array.set_updated_at(at);
            stamped += 1;
        }
    }
    ctx.replicate_verbatim();
    Ok(RedisValue::Integer(stamped))
}
