//! Batch commands: NDARRAY.MGET, NDARRAY.MSET, NDARRAY.STACK.

use super::steps::{mset_value, WriteSettings};
use super::{notify, reply};
use crate::array::npy::npy_header;
use crate::array::{ArrayError, DType, Shape};
use crate::datatype::Key;
use crate::error::{Error, Result};
use redis_module::{raw, Context, RedisString, RedisValue};
use std::ffi::c_long;

/// `NDARRAY.MGET key [key ...]`: per key its `.npy`, or nil where the key is missing or holds
/// another type (as `MGET` does).
pub fn mget(ctx: &Context, args: &[RedisString]) -> Result<RedisValue> {
    if args.len() < 2 {
        return Err(Error::Arity);
    }
    let names = args.get(1..).unwrap_or_default();
    raw::reply_with_array(
        ctx.ctx,
        c_long::try_from(names.len()).unwrap_or(c_long::MAX),
    );
    // One buffer reused for every key (Redis copies each reply), and the header of the previous
    // key reused when dtype and shape repeat, as they do in a batch of embeddings.
    let mut buf = Vec::new();
    let mut last_header: Option<(DType, Shape, usize)> = None;
    for name in names {
        let key = Key::open(ctx, name, false);
        let Ok(Some(array)) = key.array() else {
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
            buf.extend_from_slice(&npy_header(array.dtype(), array.shape()));
            last_header = Some((array.dtype(), array.shape().clone(), buf.len()));
        }
        match array.read_all(&mut buf) {
            Ok(()) => reply::bytes(ctx, &buf),
            // A value that fails to decode is corrupt; the reply already started, so report it
            // in place rather than abandon the array.
            Err(e) => {
                last_header = None;
                let msg = format!("ERR key {}: {e}", name.as_slice().escape_ascii());
                raw::reply_with_error(
                    ctx.ctx,
                    std::ffi::CString::new(msg).unwrap_or_default().as_ptr(),
                );
                RedisValue::NoReply
            }
        };
    }
    Ok(RedisValue::NoReply)
}

/// `NDARRAY.MSET key npy [key npy ...]`: all or nothing. Every `.npy` is decoded and encoded
/// before any key is written, so a bad argument writes nothing.
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
    let mut arrays = Vec::with_capacity(pairs.len());
    for (i, (name, npy)) in pairs.iter().enumerate() {
        let array = mset_value(2 * i + 3, name.as_slice(), npy.as_slice(), &settings)?;
        arrays.push(array);
    }
    for ((name, _), array) in pairs.iter().zip(arrays) {
        Key::open(ctx, name, true).set_array(array)?;
        notify(ctx, c"ndarray.mset", name);
    }
    ctx.replicate_verbatim();
    Ok(reply::ok(ctx))
}

/// `NDARRAY.STACK key [key ...]`: one `.npy` of shape `(n, *shape)`, like `np.stack`, built straight
/// into one reply buffer.
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
    reply::elements(
        ctx,
        first.dtype(),
        &shape,
        super::parse::Format::Npy,
        |out| arrays.iter().try_for_each(|a| a.read_all(out)),
    )
}
