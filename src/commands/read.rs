//! Read commands: NDARRAY.GET and NDARRAY.INFO.

use super::parse::{parse_read, Format, ReadRequest};
use super::reply::{self, Field};
use super::{arg, rest};
use crate::array::slice::Selection;
use crate::array::NdArray;
use crate::error::{Error, Result};
use crate::host::datatype::Key;
use crate::offload;
use redis_module::{Context, RedisString, RedisValue};

/// `NDARRAY.GET key [FORMAT NPY|BLOB|VALUES|ENCODED] [AS dtype]`. A big array is decoded (or, for
/// ENCODED, copied as stored) and its reply built on a worker, from a snapshot taken here (see
/// `offload.rs`).
pub fn get(ctx: &Context, args: &[RedisString]) -> Result<RedisValue> {
    let req = parse_read(&rest(args, 2))?;
    let key = Key::open(ctx, arg(args, 1)?, false);
    let Some(array) = key.array()? else {
        return Ok(RedisValue::Null);
    };
    if offload::should_offload(ctx, array.nbytes()) {
        let snapshot = array.clone();
        return offload::run(ctx, array.nbytes(), move |job| {
            reply::array(&job.reply_context(), &snapshot, req)
        });
    }
    reply::array(ctx, array, req)
}

/// `NDARRAY.SLICE key selection [FORMAT NPY|BLOB|VALUES] [AS dtype]`: NumPy basic indexing,
/// decoding only the chunks that hold the selected elements.
pub fn slice(ctx: &Context, args: &[RedisString]) -> Result<RedisValue> {
    if args.len() < 3 {
        return Err(Error::Arity);
    }
    let req = parse_read(&rest(args, 3))?;
    if req.format == Format::Encoded {
        return Err(Error::usage(
            "FORMAT ENCODED replies a whole array's stored form: use NDARRAY.GET",
        ));
    }
    let key = Key::open(ctx, arg(args, 1)?, false);
    let Some(array) = key.array()? else {
        return Ok(RedisValue::Null);
    };
    let sel = Selection::resolve(arg(args, 2)?.as_slice(), array.shape())?;
    // The decoding it may take, not the size of the reply, decides where it runs.
    let bytes = array.read_work(&sel);
    if offload::should_offload(ctx, bytes) {
        let snapshot = array.clone();
        return offload::run(ctx, bytes, move |job| {
            reply_selection(&job.reply_context(), &snapshot, &sel, req)
        });
    }
    reply_selection(ctx, array, &sel, req)
}

fn reply_selection(
    ctx: &Context,
    array: &NdArray,
    sel: &Selection,
    req: ReadRequest,
) -> Result<RedisValue> {
    reply::converted(ctx, array.dtype(), sel.dims(), req, |out| {
        array.read_selection(sel, out).map(|_| ())
    })
}

/// `NDARRAY.INFO key`
pub fn info(ctx: &Context, args: &[RedisString]) -> Result<RedisValue> {
    if args.len() != 2 {
        return Err(Error::Arity);
    }
    let key = Key::open(ctx, arg(args, 1)?, false);
    let Some(array) = key.array()? else {
        return Err(Error::no_key("no such key"));
    };
    let enc = array.encoding();
    let int = |v: u64| Field::Int(i64::try_from(v).unwrap_or(i64::MAX));
    let dims = array
        .shape()
        .dims()
        .iter()
        .map(|d| i64::try_from(*d).unwrap_or(i64::MAX))
        .collect();
    let fields = [
        ("dtype", Field::Str(array.dtype().name().into())),
        ("shape", Field::Ints(dims)),
        ("ndim", int(array.shape().ndim() as u64)),
        ("size", int(array.shape().size())),
        ("itemsize", int(array.dtype().itemsize() as u64)),
        ("nbytes", int(array.nbytes())),
        ("stored_bytes", int(array.store().stored_bytes() as u64)),
        ("compression", Field::Str(enc.compression.name().into())),
        // 0 for codecs without levels, as version 0.1 replied for lz4 and none.
        (
            "level",
            Field::Int(enc.compression.level().map_or(0, i64::from)),
        ),
        ("shuffle", Field::Str(enc.shuffle.name().into())),
        ("chunks", int(array.store().chunk_count() as u64)),
        ("chunk_bytes", int(u64::from(array.store().chunk_bytes()))),
        ("block_bytes", int(u64::from(enc.block_bytes))),
        ("updated_at", int(array.updated_at())),
        ("attrs", Field::Attrs(array.attrs())),
    ];
    Ok(reply::map(ctx, &fields))
}
