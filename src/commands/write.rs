//! Write commands: NDARRAY.SET, NDARRAY.APPEND, NDARRAY.RESHAPE.

use super::parse::{
    parse_data, parse_dims, parse_set, CodecName, Condition, DataArg, StoreOptions, Ttl,
};
use super::{arg, rest};
use crate::array::input::{Elements, Input};
use crate::array::shape::element_count;
use crate::array::slice::Selection;
use crate::array::values::parse_values;
use crate::array::{ArrayError, NdArray, Shape};
use crate::codec::{Compression, Encoding};
use crate::config;
use crate::datatype::Key;
use crate::error::{Error, Result};
use redis_module::{raw, Context, NotifyEvent, RedisString, RedisValue};
use std::borrow::Cow;

/// `NDARRAY.SET key dtype [dim ...] [option ...] {BLOB data | VALUES v ...}` or `NDARRAY.SET key [option ...] NPY data`
pub fn set(ctx: &Context, args: &[RedisString]) -> Result<RedisValue> {
    if args.len() < 4 {
        return Err(Error::Arity);
    }
    let raw_args = rest(args, 2);
    let req = parse_set(&raw_args)?;
    let max = config::max_array_bytes();
    let mut elements = req.input.decode(max)?;
    if let Some(to) = req.cast {
        elements = elements.cast(to, max)?;
    }
    let encoding = resolve_encoding(req.store, elements.dtype.itemsize())?;
    let name = arg(args, 1)?;
    let key = Key::open(ctx, name, true);
    let proceed = match req.condition {
        Condition::Always => true,
        Condition::IfAbsent => !key.exists(),
        Condition::IfExists => key.exists(),
    };
    if !proceed {
        return Ok(RedisValue::Null);
    }
    let kept_ttl = if req.ttl == Ttl::Keep {
        key.ttl_ms()
    } else {
        None
    };
    let array = elements.into_array(encoding, config::chunk_bytes())?;
    key.set_array(array)?;
    // SAFETY: plain call into the module API on the main thread.
    let now_ms = unsafe { raw::RedisModule_Milliseconds.map_or(0, |f| f()) };
    let expire_at = match req.ttl {
        Ttl::Clear => None,
        Ttl::Keep => kept_ttl.map(|ttl| now_ms.saturating_add(ttl)),
        Ttl::In(ms) => Some(now_ms.saturating_add(i64::try_from(ms).unwrap_or(i64::MAX))),
        Ttl::At(ms) => Some(i64::try_from(ms).unwrap_or(i64::MAX)),
    };
    match expire_at {
        Some(at) if at <= now_ms => key.delete(),
        Some(at) => key.set_ttl_ms(at - now_ms)?,
        None => {}
    }
    ctx.replicate_verbatim();
    if let (Ttl::In(_), Some(at)) = (req.ttl, expire_at) {
        // A relative EX/PX would restart on every replica and AOF replay: pin the absolute time.
        let at = at.to_string();
        ctx.replicate("PEXPIREAT", &[name.as_slice(), at.as_bytes()]);
    }
    ctx.notify_keyspace_event(NotifyEvent::MODULE, "ndarray.set", name);
    Ok(RedisValue::SimpleStringStatic("OK"))
}

/// The encoding a write uses: what the command asked for, the settings for the rest.
fn resolve_encoding(opts: StoreOptions, itemsize: usize) -> Result<Encoding> {
    let mut compression = match opts.codec {
        None => config::default_compression(),
        Some(CodecName::None) => Compression::None,
        Some(CodecName::Lz4) => Compression::Lz4,
        Some(CodecName::Zlib) => Compression::Zlib {
            level: config::zlib_level(),
        },
    };
    if let Some(level) = opts.level {
        match compression {
            Compression::Zlib { .. } => compression = Compression::Zlib { level },
            other => {
                return Err(Error::usage(format!(
                    "LEVEL applies only to zlib compression (this write uses {})",
                    other.name()
                )))
            }
        }
    }
    let shuffle = opts.shuffle.unwrap_or_else(config::default_shuffle);
    Ok(Encoding::new(compression, shuffle, itemsize))
}

/// `NDARRAY.APPEND key {BLOB data | VALUES v [v ...] | NPY data}`: adds rows along axis 0 and
/// replies the new length of axis 0. A missing key is created from NPY data.
pub fn append(ctx: &Context, args: &[RedisString]) -> Result<RedisValue> {
    if args.len() < 4 {
        return Err(Error::Arity);
    }
    let raw_args = rest(args, 2);
    let data = parse_data(&raw_args)?;
    let max = config::max_array_bytes();
    let name = arg(args, 1)?;
    let mut key = Key::open(ctx, name, true);
    let new_len = match key.array_mut()? {
        Some(array) => {
            let rows = rows_for(array, data, max)?;
            let total = array.nbytes().saturating_add(rows.len() as u64);
            if total > max {
                return Err(ArrayError::TooLarge(format!(
                    "appending would make the array {total} bytes, over the max-array-bytes limit of {max}"
                ))
                .into());
            }
            array.append_rows(&rows)?
        }
        None => {
            let DataArg::Npy(file) = data else {
                return Err(Error::usage(
                    "no such key: BLOB and VALUES append to an existing array (NPY creates one)",
                ));
            };
            let elements = Input::Npy(file).decode(max)?;
            let Some(&len0) = elements.shape.dims().first() else {
                return Err(
                    ArrayError::invalid("cannot create an appendable array from 0-d data").into(),
                );
            };
            let encoding = config::default_encoding(elements.dtype.itemsize());
            let array = elements.into_array(encoding, config::chunk_bytes())?;
            key.set_array(array)?;
            len0
        }
    };
    ctx.replicate_verbatim();
    ctx.notify_keyspace_event(NotifyEvent::MODULE, "ndarray.append", name);
    Ok(RedisValue::Integer(
        i64::try_from(new_len).unwrap_or(i64::MAX),
    ))
}

/// The raw bytes of whole rows of `array` that `data` holds, converted to its dtype.
fn rows_for<'a>(array: &NdArray, data: DataArg<'a>, max: u64) -> Result<Cow<'a, [u8]>> {
    let dtype = array.dtype();
    let row_dims = array.shape().dims().get(1..).unwrap_or_default();
    if array.shape().ndim() == 0 {
        return Err(ArrayError::invalid("cannot append to a 0-d array").into());
    }
    match data {
        DataArg::Blob(bytes) => Ok(Cow::Borrowed(bytes)),
        DataArg::Values(values) => {
            let per_value = dtype.values_per_element();
            let per_row = element_count(row_dims).saturating_mul(per_value);
            let n = values.len() as u64;
            if per_row == 0 || !n.is_multiple_of(per_row) {
                return Err(ArrayError::invalid(format!(
                    "got {n} values, not a whole number of rows of {per_row} values (row shape {})",
                    Shape::new(row_dims.to_vec(), dtype)?
                ))
                .into());
            }
            Ok(Cow::Owned(parse_values(
                dtype,
                values.into_iter(),
                n as usize,
            )?))
        }
        DataArg::Npy(file) => {
            let elements: Elements<'a> = Input::Npy(file).decode(max)?;
            let elements = elements
                .cast(dtype, max)
                .map_err(|e| ArrayError::invalid(format!("npy data: {e}")))?;
            let dims = elements.shape.dims();
            let fits = dims == row_dims || dims.get(1..) == Some(row_dims);
            if !fits {
                return Err(ArrayError::invalid(format!(
                    "npy data of shape {} does not fit rows of shape {} (expected k rows of that shape, or one row)",
                    elements.shape,
                    Shape::new(row_dims.to_vec(), dtype)?
                ))
                .into());
            }
            Ok(elements.data)
        }
    }
}

/// `NDARRAY.SETSLICE key selection {BLOB data | VALUES v [v ...] | NPY data}`: writes into the
/// selected elements; only the touched chunks are re-encoded, and on any error nothing changes.
pub fn setslice(ctx: &Context, args: &[RedisString]) -> Result<RedisValue> {
    if args.len() < 5 {
        return Err(Error::Arity);
    }
    let raw_args = rest(args, 3);
    let data = parse_data(&raw_args)?;
    let name = arg(args, 1)?;
    let mut key = Key::open(ctx, name, true);
    let Some(array) = key.array_mut()? else {
        return Err(Error::usage("no such key"));
    };
    let sel = Selection::resolve(arg(args, 2)?.as_slice(), array.shape())?;
    let dtype = array.dtype();
    let max = config::max_array_bytes();
    let elements: Cow<[u8]> = match data {
        DataArg::Blob(bytes) => Cow::Borrowed(bytes),
        DataArg::Values(values) => {
            let per_value = dtype.values_per_element();
            let wanted = sel.size().saturating_mul(per_value);
            // One value (one complex pair) broadcasts to the whole selection.
            let count = if values.len() as u64 == per_value {
                per_value
            } else {
                wanted
            };
            let count = usize::try_from(count)
                .map_err(|_| ArrayError::TooLarge("selection too large".into()))?;
            Cow::Owned(parse_values(dtype, values.into_iter(), count)?)
        }
        DataArg::Npy(file) => {
            let npy = Input::Npy(file).decode(max)?;
            if npy.shape.dims() != sel.dims() {
                return Err(ArrayError::invalid(format!(
                    "npy data of shape {} does not match the selection's shape {}",
                    npy.shape,
                    Shape::new(sel.dims().to_vec(), dtype)?
                ))
                .into());
            }
            npy.cast(dtype, max)
                .map_err(|e| ArrayError::invalid(format!("npy data: {e}")))?
                .data
        }
    };
    array.write_selection(&sel, &elements)?;
    ctx.replicate_verbatim();
    ctx.notify_keyspace_event(NotifyEvent::MODULE, "ndarray.setslice", name);
    Ok(RedisValue::SimpleStringStatic("OK"))
}

/// `NDARRAY.RESHAPE key [dim ...]`: a new shape with the same number of elements (no data moves).
pub fn reshape(ctx: &Context, args: &[RedisString]) -> Result<RedisValue> {
    if args.len() < 2 {
        return Err(Error::Arity);
    }
    let dims = parse_dims(&rest(args, 2))?;
    let name = arg(args, 1)?;
    let mut key = Key::open(ctx, name, true);
    let Some(array) = key.array_mut()? else {
        return Err(Error::usage("no such key"));
    };
    let shape = Shape::new(dims, array.dtype())?;
    array.reshape(shape)?;
    ctx.replicate_verbatim();
    ctx.notify_keyspace_event(NotifyEvent::MODULE, "ndarray.reshape", name);
    Ok(RedisValue::SimpleStringStatic("OK"))
}
