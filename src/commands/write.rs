//! Write commands: NDARRAY.SET, NDARRAY.APPEND, NDARRAY.SETSLICE, NDARRAY.RESHAPE. Each parses,
//! runs its Redis-free step (steps.rs), then writes the key and replies.

use super::encoded::{self, Propagation};
use super::meta::{replicate_stamp, stamp};
use super::parse::{parse_data, parse_new_shape, parse_set, Condition, Ttl};
use super::reply::{self, Ack};
use super::steps::{
    append_new, append_rows, plan_slice_write, reshape_to, slice_write_work, write_slice, SetValue,
    WholeCopy, WriteSettings,
};
use super::{arg, notify, rest};
use crate::array::attrs::Attrs;
use crate::array::{NdArray, PlannedWrite};
use crate::config;
use crate::error::{Error, Result};
use crate::host::datatype::Key;
use crate::offload;
use redis_module::{Context, RedisString, RedisValue};

/// `NDARRAY.SET key dtype [dim ...] [option ...] {BLOB data | VALUES v ...}` or `NDARRAY.SET key [option ...] NPY data`.
/// Arguments are validated here; a big value is compressed on a worker and installed under
/// Redis' lock when done (see `offload.rs`): the install is the moment the write happens.
pub fn set(ctx: &Context, args: &[RedisString]) -> Result<RedisValue> {
    if args.len() < 4 {
        return Err(Error::Arity);
    }
    let raw_args = rest(args, 2);
    let req = parse_set(&raw_args)?;
    let settings = WriteSettings::current();
    let mut value = SetValue::prepare(req.input, req.cast, req.store, &settings)?;
    if !req.attrs.is_empty() {
        value.attrs = Attrs::from_pairs(req.attrs.iter().copied())?;
    }
    let name = arg(args, 1)?;
    let (condition, ttl) = (req.condition, req.ttl);
    let bytes = value.nbytes();
    if offload::should_offload_write(ctx, bytes) {
        // The worker reads the argument bytes in place (no copy): they stay retained with it.
        let on_args = offload::ValuesOnArgs::new(args, vec![value]);
        let name = name.as_slice().to_vec();
        return offload::run_write(ctx, bytes, vec![name.clone()], move |job| {
            let (encoded, held) =
                on_args.consume(|values| values.into_iter().next().map(|v| v.encode(&settings)));
            let mut array =
                encoded.ok_or_else(|| Error::Redis("the value was not encoded".into()))??;
            // Built off the lock when something will consume it (checked again at install; a
            // STAMP follows if the install's time differs from the payload's).
            let prepared = job.locked(crate::propagation::consumed_now).then(|| {
                array.set_updated_at(super::meta::now_ms());
                encoded::prepare(&array)
            });
            Ok(Box::new(move |ctx: &Context| {
                held.release(ctx);
                let name = RedisString::create_from_slice(ctx.ctx, &name);
                // The write happens now: its time is taken here.
                let at = stamp(ctx, &mut array);
                let propagation = encoded::big_write(
                    ctx,
                    crate::propagation::consumed_now(ctx),
                    &array,
                    prepared,
                );
                let (ack, replaced) =
                    install_set(ctx, &name, array, (condition, ttl, at), propagation)?;
                Ok(offload::Installed {
                    reply: ack.value(),
                    replaced: offload::to_free(replaced),
                })
            }))
        });
    }
    let mut array = value.encode(&settings)?;
    let at = stamp(ctx, &mut array);
    let propagation = if offload::replicate_encoded(bytes) {
        encoded::big_write(ctx, crate::propagation::consumed_now(ctx), &array, None)
    } else {
        Propagation::Command
    };
    Ok(
        install_set(ctx, name, array, (condition, ttl, at), propagation)?
            .0
            .send(ctx),
    )
}

/// Stores a SET's encoded value (stamped with its `updated_at`), if NX / XX allow it now, with its
/// TTL; propagates it with `updated_at` (the time [`stamp`] returned: none when this write is
/// itself replayed, then the STAMP that follows it, if any, travels on as it came); notifies.
/// Runs on the main thread or under the lock. Returns the reply and the array it replaced (to
/// free outside Redis' lock).
fn install_set(
    ctx: &Context,
    name: &RedisString,
    array: NdArray,
    (condition, ttl, updated_at): (Condition, Ttl, Option<u64>),
    propagation: Propagation,
) -> Result<(Ack, Option<NdArray>)> {
    let key = Key::open(ctx, name, true);
    let proceed = match condition {
        Condition::Always => true,
        Condition::IfAbsent => !key.exists(),
        Condition::IfExists => key.exists(),
    };
    if !proceed {
        if let Propagation::Encoded(unneeded) = propagation {
            unneeded.release(ctx);
        }
        return Ok((Ack::Nil, None));
    }
    let (replaced, expire_at, expired) = store_with_ttl(&key, array, ttl)?;
    match propagation {
        Propagation::Nobody => {}
        Propagation::Command => {
            ctx.replicate_verbatim();
            if let (Ttl::In(_), Some(at)) = (ttl, expire_at) {
                // A relative EX/PX would restart on every replica and AOF replay: pin the time.
                let at = at.to_string();
                ctx.replicate("PEXPIREAT", &[name.as_slice(), at.as_bytes()]);
            }
            if !expired {
                replicate_stamp(ctx, &[name], updated_at);
            }
        }
        Propagation::Encoded(replication) if expired => {
            replication.release(ctx);
            ctx.replicate("DEL", &[name.as_slice()]);
        }
        Propagation::Encoded(replication) => {
            encoded::replicate(ctx, name, replication, expire_at, updated_at)
        }
    }
    notify(ctx, c"ndarray.set", name);
    Ok((Ack::Ok, replaced))
}

/// Stores `array` under the open `key` with SET's TTL rule (`ttl`; a time already past deletes
/// the key). Returns the value it replaced, the expiry (Unix ms) and whether it was already past.
pub(super) fn store_with_ttl(
    key: &Key,
    array: NdArray,
    ttl: Ttl,
) -> Result<(Option<NdArray>, Option<i64>, bool)> {
    let kept_ttl = if ttl == Ttl::Keep { key.ttl_ms() } else { None };
    let replaced = key.replace_array(array)?;
    let now_ms = crate::host::server::now_ms();
    let expire_at = match ttl {
        Ttl::Clear => None,
        Ttl::Keep => kept_ttl.map(|ttl| now_ms.saturating_add(ttl)),
        Ttl::In(ms) => Some(now_ms.saturating_add(i64::try_from(ms).unwrap_or(i64::MAX))),
        Ttl::At(ms) => Some(i64::try_from(ms).unwrap_or(i64::MAX)),
    };
    let expired = matches!(expire_at, Some(at) if at <= now_ms);
    match expire_at {
        Some(_) if expired => key.delete(),
        Some(at) => key.set_ttl_ms(at - now_ms)?,
        None => {}
    }
    Ok((replaced, expire_at, expired))
}

/// `NDARRAY.APPEND key {BLOB data | VALUES v [v ...] | NPY data}`: adds rows along axis 0 and
/// replies the new length of axis 0. A missing key is created from NPY data.
pub fn append(ctx: &Context, args: &[RedisString]) -> Result<RedisValue> {
    if args.len() < 4 {
        return Err(Error::Arity);
    }
    let raw_args = rest(args, 2);
    let data = parse_data(&raw_args)?;
    let settings = WriteSettings::current();
    let name = arg(args, 1)?;
    let mut key = Key::open(ctx, name, true);
    let (new_len, at) = match key.array_mut()? {
        Some(array) => {
            let len = append_rows(array, data, settings.max_array_bytes)?;
            (len, stamp(ctx, array))
        }
        None => {
            let (mut array, len0) = append_new(data, &settings)?;
            let at = stamp(ctx, &mut array);
            key.set_array(array)?;
            (len0, at)
        }
    };
    ctx.replicate_verbatim();
    replicate_stamp(ctx, &[name], at);
    notify(ctx, c"ndarray.append", name);
    Ok(RedisValue::Integer(
        i64::try_from(new_len).unwrap_or(i64::MAX),
    ))
}

/// `NDARRAY.SETSLICE key selection {BLOB data | VALUES v [v ...] | NPY data}`: writes into the
/// selected elements; only the touched chunks are re-encoded, and on any error nothing changes.
/// A write that may rewrite more than `offload-bytes` is computed on a worker from a snapshot and
/// installed (see [`install_slice`]) when the same write would be accepted as a new command.
pub fn setslice(ctx: &Context, args: &[RedisString]) -> Result<RedisValue> {
    if args.len() < 5 {
        return Err(Error::Arity);
    }
    let raw_args = rest(args, 3);
    let data = parse_data(&raw_args)?;
    let name = arg(args, 1)?;
    let mut key = Key::open(ctx, name, true);
    let Some(array) = key.array_mut()? else {
        return Err(Error::no_key("no such key"));
    };
    let selection = arg(args, 2)?.as_slice();
    let work = slice_write_work(array, selection)?;
    if offload::should_offload_write(ctx, work) {
        let snapshot = array.clone();
        // Copy 1 of the data (its argument's bytes), for the worker and for replication.
        let command: Vec<Vec<u8>> = args.iter().map(|a| a.as_slice().to_vec()).collect();
        let keys = vec![name.as_slice().to_vec()];
        let max = config::max_array_bytes();
        return offload::run_write(ctx, work, keys, move |_job| {
            let plan = plan_from_command(&snapshot, &command, max, WholeCopy::Here)?;
            // The snapshot is let go before the install, so that the store is changed in place
            // unless a reader still holds it.
            drop(snapshot);
            Ok(Box::new(move |ctx: &Context| {
                install_slice(ctx, &command, plan, max)
            }))
        });
    }
    write_slice(array, selection, data, config::max_array_bytes())?;
    let at = stamp(ctx, array);
    ctx.replicate_verbatim();
    replicate_stamp(ctx, &[name], at);
    notify(ctx, c"ndarray.setslice", name);
    Ok(reply::ok(ctx))
}

/// The SETSLICE of `command` (all its arguments) planned against `array`.
fn plan_from_command(
    array: &NdArray,
    command: &[Vec<u8>],
    max: u64,
    copy: WholeCopy,
) -> Result<PlannedWrite> {
    let words: Vec<&[u8]> = command.iter().map(Vec::as_slice).collect();
    let (Some(selection), Some(data)) = (words.get(2), words.get(3..)) else {
        return Err(Error::Arity);
    };
    plan_slice_write(array, selection, parse_data(data)?, max, copy)
}

/// Installs a SETSLICE planned on a worker. If the array changed meanwhile, the write is planned
/// again on it here, as the same command arriving now would run; then it is stamped, replicated
/// as the command, and notified.
fn install_slice(
    ctx: &Context,
    command: &[Vec<u8>],
    plan: PlannedWrite,
    max: u64,
) -> Result<offload::Installed> {
    let name_bytes = command.get(1).ok_or(Error::Arity)?;
    let name = RedisString::create_from_slice(ctx.ctx, name_bytes);
    let mut key = Key::open(ctx, &name, true);
    let Some(array) = key.array_mut()? else {
        return Err(Error::no_key("no such key"));
    };
    let displaced = match array.apply_write(plan) {
        Ok(displaced) => displaced,
        Err(_stale) => {
            let again = plan_from_command(array, command, max, WholeCopy::AtInstall)?;
            array.apply_write(again).ok().flatten()
        }
    };
    let at = stamp(ctx, array);
    let words: Vec<&[u8]> = command.iter().skip(1).map(Vec::as_slice).collect();
    ctx.replicate("NDARRAY.SETSLICE", words.as_slice());
    replicate_stamp(ctx, &[&name], at);
    notify(ctx, c"ndarray.setslice", &name);
    Ok(offload::Installed {
        reply: Ack::Ok.value(),
        replaced: offload::to_free(displaced),
    })
}

/// `NDARRAY.RESHAPE key [dim ...]`: a new shape with the same number of elements (no data moves).
pub fn reshape(ctx: &Context, args: &[RedisString]) -> Result<RedisValue> {
    if args.len() < 2 {
        return Err(Error::Arity);
    }
    let dims = parse_new_shape(&rest(args, 2))?;
    let name = arg(args, 1)?;
    let mut key = Key::open(ctx, name, true);
    let Some(array) = key.array_mut()? else {
        return Err(Error::no_key("no such key"));
    };
    reshape_to(array, dims)?;
    let at = stamp(ctx, array);
    ctx.replicate_verbatim();
    replicate_stamp(ctx, &[name], at);
    notify(ctx, c"ndarray.reshape", name);
    Ok(reply::ok(ctx))
}
