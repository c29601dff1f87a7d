//! Writing replies straight into the client's buffer (no intermediate `RedisValue` trees for
//! large arrays).

use super::parse::{Format, ReadRequest};
use super::scratch;
use crate::array::attrs::Attrs;
use crate::array::cast::{cast_into, check_cast};
use crate::array::npy::write_npy_header;
use crate::array::shape::element_count;
use crate::array::values::{scalar_at, Scalar};
use crate::array::{ArrayError, DType, NdArray, Shape};
use crate::config;
use crate::error::Result;
use crate::host::reply as host;
use redis_module::{Context, RedisValue};

/// Replies with a bulk string of `bytes`. Redis copies them into the client's output buffer; we
/// hand it our buffer directly rather than through `RedisValue::StringBuffer` (which copies again).
pub fn bytes(ctx: &Context, bytes: &[u8]) -> RedisValue {
    host::bulk(ctx, bytes);
    RedisValue::NoReply
}

/// Replies `OK` from a static C string (`RedisValue::SimpleStringStatic` allocates a `CString` for
/// it on every write).
pub fn ok(ctx: &Context) -> RedisValue {
    host::ok(ctx);
    RedisValue::NoReply
}

/// A write's reply, decided where the write happens: sent on the command's own context
/// ([`Ack::send`], the cheap status reply), or, for an offloaded write, returned as a value that
/// its blocked client gets ([`Ack::value`]; the install may run in a timer's context).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ack {
    Ok,
    Nil,
    Integer(i64),
}

impl Ack {
    pub fn send(self, ctx: &Context) -> RedisValue {
        match self {
            Ack::Ok => ok(ctx),
            other => other.value(),
        }
    }

    pub fn value(self) -> RedisValue {
        match self {
            Ack::Ok => RedisValue::SimpleStringStatic("OK"),
            Ack::Nil => RedisValue::Null,
            Ack::Integer(n) => RedisValue::Integer(n),
        }
    }
}

/// Replies with `array` in the requested format and dtype (`NDARRAY.GET`).
///
/// Copies of the elements: an array stored raw in one place (a small array's one chunk, or the
/// slab of an uncompressed one, which keeps its `.npy` header in front) replies BLOB, and NPY
/// from a slab, straight from the store: one copy, Redis' own into the client's buffer, as for a
/// plain `GET`. Otherwise two: the chunks decoded (or copied) into this thread's buffer, then
/// Redis' copy of it (the module API has no way to decode into Redis' reply buffer).
pub fn array(ctx: &Context, array: &NdArray, req: ReadRequest) -> Result<RedisValue> {
    if req.format == Format::Encoded {
        return encoded(ctx, array);
    }
    if req.cast.is_none_or(|to| to == array.dtype()) {
        let stored = match req.format {
            Format::Blob => array.as_contiguous(),
            Format::Npy => array.as_npy_file(),
            Format::Values | Format::Encoded => None,
        };
        if let Some(stored) = stored {
            // The limits hold for a reply straight from the store too (a `.npy` header counts).
            within_reply_limits(stored.len() as u64)?;
            return Ok(bytes(ctx, stored));
        }
    }
    converted(ctx, array.dtype(), array.shape().dims(), req, |out| {
        array.read_all(out)
    })
}

/// Replies with the stored form of `array` (`FORMAT ENCODED`): no decoding. Copies: the stored
/// chunks into this thread's reply buffer (kept between replies, sized once), then Redis' copy
/// into the client's buffer.
fn encoded(ctx: &Context, array: &NdArray) -> Result<RedisValue> {
    within_reply_limits(array.store().stored_bytes() as u64)?;
    let len = crate::persist::payload_len(array);
    Ok(scratch::with_buffer(len, |buf| {
        crate::persist::write_payload(array, buf);
        bytes(ctx, buf)
    }))
}

/// Replies with elements of `from` and result dims `dims`, which `read` appends to a buffer,
/// converted to the request's `AS` dtype (`NDARRAY.GET`, `NDARRAY.SLICE`).
pub fn converted(
    ctx: &Context,
    from: DType,
    dims: &[u64],
    req: ReadRequest,
    read: impl FnOnce(&mut Vec<u8>) -> std::result::Result<(), ArrayError>,
) -> Result<RedisValue> {
    let to = req.cast.unwrap_or(from);
    check_cast(from, to)?;
    let shape = Shape::new(dims.to_vec(), to)?;
    elements(ctx, to, &shape, req.format, |out| {
        if to == from {
            return read(out);
        }
        // One extra copy for a cast: the stored elements, decoded, then converted.
        let mut raw = Vec::new();
        read(&mut raw)?;
        cast_into(from, to, &raw, out);
        Ok(())
    })
}

/// Replies with elements of `dtype` and `shape` that `fill` appends (C order, little-endian) to
/// the buffer it is given. The output size is checked against `max-array-bytes` before allocating.
pub fn elements(
    ctx: &Context,
    dtype: DType,
    shape: &Shape,
    format: Format,
    fill: impl FnOnce(&mut Vec<u8>) -> std::result::Result<(), ArrayError>,
) -> Result<RedisValue> {
    let nbytes = shape.nbytes_within(dtype, config::max_array_bytes())?;
    within_reply_limits(nbytes as u64)?;
    if format == Format::Values {
        check_value_reply_size(shape)?;
    }
    // The reply is built in this thread's reusable buffer (copy 1 of the elements: out of the
    // chunks, decoded), then Redis copies it into the client's output buffers (copy 2).
    scratch::with_buffer(nbytes, |buf| {
        if format == Format::Npy {
            write_npy_header(buf, dtype, shape);
        }
        buf.reserve(nbytes);
        fill(buf)?;
        Ok(match format {
            Format::Values => {
                values(ctx, dtype, shape.dims(), buf);
                RedisValue::NoReply
            }
            _ => bytes(ctx, buf),
        })
    })
}

/// Refuses a reply of `nbytes` array bytes over `max-array-bytes` or `max-reply-bytes`, before
/// anything is decoded.
pub fn within_reply_limits(nbytes: u64) -> std::result::Result<(), ArrayError> {
    let (array_max, reply_max) = (config::max_array_bytes(), config::max_reply_bytes());
    if nbytes > array_max {
        return Err(ArrayError::TooLarge(format!(
            "the reply would hold {nbytes} array bytes, over the max-array-bytes limit of {array_max}"
        )));
    }
    if nbytes > reply_max {
        return Err(ArrayError::TooLarge(format!(
            "the reply would hold {nbytes} array bytes, over the max-reply-bytes limit of {reply_max}"
        )));
    }
    Ok(())
}

/// Bytes the smallest RESP array header (`*0\r\n`) takes: every nested array of a VALUES reply
/// costs at least this much, elements or not.
const RESP_ARRAY_HEADER_BYTES: u64 = 4;

/// A VALUES reply of a shape such as (2**40, 0) holds no element yet would need 2**40 empty
/// arrays: the nested arrays count against the reply limits as bytes, before any is sent.
fn check_value_reply_size(shape: &Shape) -> std::result::Result<(), ArrayError> {
    let mut level: u64 = 1;
    let mut nested: u64 = 0;
    for &d in shape
        .dims()
        .iter()
        .take(shape.dims().len().saturating_sub(1))
    {
        level = level.saturating_mul(d);
        nested = nested.saturating_add(level);
        if level == 0 {
            break;
        }
    }
    let header_bytes = nested
        .saturating_add(1)
        .saturating_mul(RESP_ARRAY_HEADER_BYTES);
    within_reply_limits(header_bytes).map_err(|_| {
        ArrayError::TooLarge(format!(
            "shape {shape} is too large for FORMAT VALUES ({nested} nested arrays, over the reply limits): use NPY or BLOB"
        ))
    })
}

/// Nested arrays following `dims`; a 0-d array is one value.
fn values(ctx: &Context, dtype: DType, dims: &[u64], data: &[u8]) {
    match dims.split_first() {
        None => scalar(ctx, scalar_at(dtype, data)),
        Some((&n, inner)) => {
            host::array(ctx, usize::try_from(n).unwrap_or(usize::MAX));
            let stride = usize::try_from(element_count(inner))
                .unwrap_or(usize::MAX)
                .saturating_mul(dtype.itemsize());
            if stride == 0 {
                for _ in 0..n {
                    values(ctx, dtype, inner, &[]);
                }
            } else {
                for sub in data.chunks_exact(stride) {
                    values(ctx, dtype, inner, sub);
                }
            }
        }
    }
}

fn scalar(ctx: &Context, value: Scalar) {
    match value {
        Scalar::Bool(b) => host::integer(ctx, i64::from(b)),
        Scalar::Int(i) => host::integer(ctx, i),
        Scalar::UInt(u) => match i64::try_from(u) {
            Ok(i) => host::integer(ctx, i),
            // RESP3 big number; RESP2 clients get it as a string of digits.
            Err(_) => host::big_number(ctx, &u.to_string()),
        },
        Scalar::Float(f) => host::double(ctx, f),
        Scalar::Complex(re, im) => {
            host::array(ctx, 2);
            host::double(ctx, re);
            host::double(ctx, im);
        }
    }
}

/// A field of an `NDARRAY.INFO` map.
pub enum Field<'a> {
    Str(String),
    Int(i64),
    Ints(Vec<i64>),
    /// A double (a bulk string in RESP2, as Redis' own doubles).
    Float(f64),
    Null,
    /// A nested map of attributes.
    Attrs(&'a Attrs),
}

/// Replies with the attributes as a map (RESP3) or flat field/value array (RESP2), sorted by field.
pub fn attrs(ctx: &Context, attrs: &Attrs) -> RedisValue {
    host::map(ctx, attrs.len());
    for (name, value) in attrs.iter() {
        host::bulk(ctx, name);
        host::bulk(ctx, value);
    }
    RedisValue::NoReply
}

/// Replies with a map (RESP3) or flat field/value array (RESP2), in the given order.
pub fn map(ctx: &Context, fields: &[(&str, Field)]) -> RedisValue {
    host::map(ctx, fields.len());
    for (name, value) in fields {
        host::bulk(ctx, name.as_bytes());
        match value {
            Field::Str(s) => host::bulk(ctx, s.as_bytes()),
            Field::Int(i) => host::integer(ctx, *i),
            Field::Float(f) => host::double(ctx, *f),
            Field::Null => host::null(ctx),
            Field::Ints(v) => {
                host::array(ctx, v.len());
                for i in v {
                    host::integer(ctx, *i);
                }
            }
            Field::Attrs(a) => {
                attrs(ctx, a);
            }
        }
    }
    RedisValue::NoReply
}
