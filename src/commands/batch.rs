//! Batch commands: NDARRAY.MGET, NDARRAY.MSET, NDARRAY.STACK.

use super::encoded::{self, Propagation, Replication};
use super::steps::{mset_elements, SetValue, WriteSettings};
use super::{notify, reply};
use crate::array::npy::write_npy_header;
use crate::array::{ArrayError, DType, NdArray, Shape};
use crate::datatype::Key;
use crate::error::{Error, Result};
use crate::offload;
use redis_module::{raw, Context, RedisString, RedisValue};
use std::ffi::c_long;

/// `NDARRAY.MGET key [key ...]`: per key its `.npy`, or nil where the key is missing or holds
/// another type (as `MGET` does). A big batch is read on a worker from snapshots.
pub fn mget(ctx: &Context, args: &[RedisString]) -> Result<RedisValue> {
    if args.len() < 2 {
        return Err(Error::Arity);
    }
    let names = args.get(1..).unwrap_or_default();
    let keys: Vec<Key> = names.iter().map(|n| Key::open(ctx, n, false)).collect();
    let arrays: Vec<Option<&NdArray>> = keys.iter().map(|k| k.array().ok().flatten()).collect();
    let bytes = arrays.iter().flatten().map(|a| a.nbytes()).sum();
    if offload::should_offload(ctx, bytes) {
        let names: Vec<Vec<u8>> = names.iter().map(|n| n.as_slice().to_vec()).collect();
        let snapshots: Vec<Option<NdArray>> = arrays.iter().map(|a| a.cloned()).collect();
        return offload::run(ctx, bytes, move |job| {
            let arrays: Vec<Option<&NdArray>> = snapshots.iter().map(Option::as_ref).collect();
            let names: Vec<&[u8]> = names.iter().map(Vec::as_slice).collect();
            Ok(reply_mget(&job.reply_context(), &names, &arrays))
        });
    }
    let names: Vec<&[u8]> = names.iter().map(RedisString::as_slice).collect();
    Ok(reply_mget(ctx, &names, &arrays))
}

fn reply_mget(ctx: &Context, names: &[&[u8]], arrays: &[Option<&NdArray>]) -> RedisValue {
    raw::reply_with_array(
        ctx.ctx,
        c_long::try_from(arrays.len()).unwrap_or(c_long::MAX),
    );
    // One buffer reused for every key (Redis copies each reply), and the header of the previous
    // key reused when dtype and shape repeat, as they do in a batch of embeddings.
    super::scratch::with_buffer(|buf| reply_mget_into(ctx, names, arrays, buf))
}

fn reply_mget_into(
    ctx: &Context,
    names: &[&[u8]],
    arrays: &[Option<&NdArray>],
    buf: &mut Vec<u8>,
) -> RedisValue {
    let mut last_header: Option<(DType, Shape, usize)> = None;
    for (name, array) in names.iter().zip(arrays) {
        let Some(array) = array else {
            raw::reply_with_null(ctx.ctx);
            continue;
        };
        let same =
            matches!(&last_header, Some((d, s, _)) if *d == array.dtype() && s == array.shape());
        if same {
            let header_len = last_header.as_ref().map_or(0, |(_, _, len)| *len);
            buf.truncate(header_len);
        } else {
            buf.clear();
            write_npy_header(buf, array.dtype(), array.shape());
            last_header = Some((array.dtype(), array.shape().clone(), buf.len()));
        }
        match array.read_all(buf) {
            Ok(()) => reply::bytes(ctx, buf),
            // A value that fails to decode is corrupt; the reply already started, so report it
            // in place rather than abandon the array.
            Err(e) => {
                last_header = None;
                let msg = format!("ERR key {}: {e}", name.escape_ascii());
                raw::reply_with_error(
                    ctx.ctx,
                    std::ffi::CString::new(msg).unwrap_or_default().as_ptr(),
                );
                RedisValue::NoReply
            }
        };
    }
    RedisValue::NoReply
}

/// `NDARRAY.MSET key npy [key npy ...]`: all or nothing. Every `.npy` is decoded before any key
/// is written, so a bad argument writes nothing; a big batch is compressed on a worker and
/// installed under Redis' lock.
pub fn mset(ctx: &Context, args: &[RedisString]) -> Result<RedisValue> {
    if args.len() < 3 || args.len().is_multiple_of(2) {
        return Err(Error::Arity);
    }
    let settings = WriteSettings::current();
    let pairs: Vec<(&RedisString, &RedisString)> = args
        .get(1..)
        .unwrap_or_default()
        .chunks_exact(2)
        .filter_map(|p| Some((p.first()?, p.get(1)?)))
        .collect();
    let mut values = Vec::with_capacity(pairs.len());
    let mut last_header = None;
    for (i, (name, npy)) in pairs.iter().enumerate() {
        values.push(mset_elements(
            2 * i + 3,
            name.as_slice(),
            npy.as_slice(),
            &settings,
            &mut last_header,
        )?);
    }
    let bytes: u64 = values.iter().map(|v| v.elements.nbytes()).sum();
    if offload::should_offload(ctx, bytes) {
        // The worker reads the `.npy` arguments in place (no copy): `held` keeps them alive.
        let held = offload::HeldStrings::hold(args);
        let names: Vec<Vec<u8>> = pairs.iter().map(|(n, _)| n.as_slice().to_vec()).collect();
        let values: Vec<SetValue<'static>> = values
            .into_iter()
            // SAFETY: `held` holds every argument; `encode_all` consumes the values before
            // `held` is released (or dropped, on an error).
            .map(|v| unsafe { offload::detach(v, &held) })
            .collect();
        return offload::run(ctx, bytes, move |job| {
            let arrays = encode_all(values, &settings)?;
            // Built off the lock when something will consume it (checked again at install).
            let mut prepared: Vec<Option<Replication>> = if job.locked(encoded::wanted) {
                arrays.iter().map(|a| Some(encoded::prepare(a))).collect()
            } else {
                arrays.iter().map(|_| None).collect()
            };
            let (reply, replaced) = job.locked(|ctx| {
                held.release(ctx);
                let names: Vec<RedisString> = names
                    .iter()
                    .map(|n| RedisString::create_from_slice(ctx.ctx, n))
                    .collect();
                let wanted = encoded::wanted(ctx);
                let writes = names.iter().zip(arrays).zip(prepared.iter_mut()).map(
                    |((name, array), prepared)| {
                        let propagation = encoded::big_write(ctx, wanted, &array, prepared.take());
                        (name, array, propagation)
                    },
                );
                install_mset(ctx, writes)
            })?;
            // The values they replaced are freed here, after the lock is released.
            drop(replaced);
            Ok(reply)
        });
    }
    let arrays = encode_all(values, &settings)?;
    // Asked once for the whole batch (it reads the server's replication info).
    let big = offload::replicate_encoded(bytes);
    let wanted = big && encoded::wanted(ctx);
    let writes = pairs.iter().zip(arrays).map(|((name, _), array)| {
        let propagation = if big {
            encoded::big_write(ctx, wanted, &array, None)
        } else {
            Propagation::Command
        };
        (*name, array, propagation)
    });
    Ok(install_mset(ctx, writes)?.0)
}

fn encode_all(values: Vec<SetValue>, settings: &WriteSettings) -> Result<Vec<NdArray>> {
    values.into_iter().map(|v| v.encode(settings)).collect()
}

/// Stores every encoded value of an MSET and propagates each (the command once, at the end, if
/// they go as the command). Runs on the main thread or under the lock. Returns the reply and the
/// arrays the values replaced (to free outside the lock).
fn install_mset<'a>(
    ctx: &Context,
    writes: impl Iterator<Item = (&'a RedisString, NdArray, Propagation)>,
) -> Result<(RedisValue, Vec<NdArray>)> {
    let mut verbatim = false;
    let mut replaced = Vec::new();
    for (name, array, propagation) in writes {
        replaced.extend(Key::open(ctx, name, true).replace_array(array)?);
        notify(ctx, c"ndarray.mset", name);
        match propagation {
            Propagation::Command => verbatim = true,
            Propagation::Encoded(replication) => encoded::replicate(ctx, name, replication, None),
            Propagation::Nobody => {}
        }
    }
    if verbatim {
        ctx.replicate_verbatim();
    }
    Ok((reply::ok(ctx), replaced))
}

/// `NDARRAY.STACK key [key ...]`: one `.npy` of shape `(n, *shape)`, like `np.stack`, built straight
/// into one reply buffer (on a worker, from snapshots, for a big batch).
pub fn stack(ctx: &Context, args: &[RedisString]) -> Result<RedisValue> {
    if args.len() < 2 {
        return Err(Error::Arity);
    }
    let names: Vec<&RedisString> = args.iter().skip(1).collect();
    let keys: Vec<Key> = names.iter().map(|n| Key::open(ctx, n, false)).collect();
    let mut arrays = Vec::with_capacity(keys.len());
    for (key, name) in keys.iter().zip(&names) {
        match key.array()? {
            Some(a) => arrays.push(a),
            None => {
                return Err(Error::usage(format!(
                    "no such key '{}'",
                    name.as_slice().escape_ascii()
                )))
            }
        }
    }
    let Some(first) = arrays.first() else {
        return Err(Error::Arity);
    };
    for (array, name) in arrays.iter().zip(&names) {
        if array.dtype() != first.dtype() || array.shape() != first.shape() {
            return Err(ArrayError::invalid(format!(
                "cannot stack: key '{}' is {} with shape {}, the first key is {} with shape {}",
                name.as_slice().escape_ascii(),
                array.dtype().name(),
                array.shape(),
                first.dtype().name(),
                first.shape()
            ))
            .into());
        }
    }
    let mut dims = Vec::with_capacity(first.shape().ndim() + 1);
    dims.push(arrays.len() as u64);
    dims.extend_from_slice(first.shape().dims());
    let shape = Shape::new(dims, first.dtype())?;
    let bytes = arrays.iter().map(|a| a.nbytes()).sum();
    if offload::should_offload(ctx, bytes) {
        let snapshots: Vec<NdArray> = arrays.iter().map(|a| (*a).clone()).collect();
        return offload::run(ctx, bytes, move |job| {
            let arrays: Vec<&NdArray> = snapshots.iter().collect();
            reply_stack(&job.reply_context(), &shape, &arrays)
        });
    }
    reply_stack(ctx, &shape, &arrays)
}

fn reply_stack(ctx: &Context, shape: &Shape, arrays: &[&NdArray]) -> Result<RedisValue> {
    let dtype = arrays.first().map_or(DType::Float32, |a| a.dtype());
    reply::elements(ctx, dtype, shape, super::parse::Format::Npy, |out| {
        arrays.iter().try_for_each(|a| a.read_all(out))
    })
}
