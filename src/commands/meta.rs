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
use crate::error::{Error, Result};
use crate::host::datatype::Key;
use crate::host::reply as host;
use crate::host::server;
use redis_module::{Context, ContextFlags, RedisString, RedisValue};

/// The server's clock in Unix milliseconds.
pub fn now_ms() -> u64 {
    u64::try_from(server::now_ms()).unwrap_or(0)
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
/// Straight through `RM_Replicate` with the key strings themselves (see `host::server`).
pub fn replicate_stamp(ctx: &Context, names: &[&RedisString], at: Option<u64>) {
    // Nothing would receive it (no AOF, no replica or backlog): Redis would drop it.
    let Some(at) = at.filter(|_| crate::propagation::consumed(ctx)) else {
        return;
    };
    let at = i64::try_from(at).unwrap_or(i64::MAX);
    match names {
        [] => {}
        [name] => server::replicate_key_and_number(ctx, c"NDARRAY.STAMP", name, at),
        _ => {
            let time = RedisString::create(None, at.to_string().as_str());
            let args: Vec<&RedisString> = names.iter().copied().chain([&time]).collect();
            // Redis retains every argument, so `time` may be freed when it drops.
            server::replicate_strings(ctx, c"NDARRAY.STAMP", &args);
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
        return Err(Error::no_key(
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
    host::array(ctx, fields.len());
    for field in fields {
        match array.and_then(|a| a.attrs().get(field.as_slice())) {
            Some(v) => host::bulk(ctx, v),
            None => host::null(ctx),
        }
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
