//! Batch commands: NDARRAY.MGET, NDARRAY.MSET, NDARRAY.MSETEX, NDARRAY.STACK.

use super::encoded::{self, Propagation, Replication};
use super::meta;
use super::parse::{
    mget_keys_end, parse_mget_format, parse_msetex_options, parse_numkeys, parse_stack_options,
    Condition, Format, MsetexOptions, ReadRequest, Ttl,
};
use super::reply::Ack;
use super::steps::{mset_elements, msetex_elements, BatchMemo, SetValue, WriteSettings};
use super::write::store_with_ttl;
use super::{arg, notify, reply, rest};
use crate::array::cast::{cast_into, check_cast};
use crate::array::npy::write_npy_header;
use crate::array::reduce::{reduce_stacked, ReduceOp};
use crate::array::values::parse_values;
use crate::array::{ArrayError, DType, NdArray, Shape};
use crate::error::{Error, Result};
use crate::host::datatype::Key;
use crate::host::reply as host;
use crate::offload;
use redis_module::{Context, RedisString, RedisValue};

/// `NDARRAY.MGET key [key ...] [FORMAT NPY|ENCODED]`: per key its `.npy` (or its stored form), or
/// nil where the key is missing or holds another type (as `MGET` does). A big batch is read on a
/// worker from snapshots.
pub fn mget(ctx: &Context, args: &[RedisString]) -> Result<RedisValue> {
    if args.len() < 2 {
        return Err(Error::Arity);
    }
    let all: Vec<&[u8]> = args.iter().map(RedisString::as_slice).collect();
    let end = mget_keys_end(&all);
    let format = parse_mget_format(all.get(end..).unwrap_or_default())?;
    let names = args.get(1..end).unwrap_or_default();
    let keys: Vec<Key> = names.iter().map(|n| Key::open(ctx, n, false)).collect();
    let arrays: Vec<Option<&NdArray>> = keys.iter().map(|k| k.array().ok().flatten()).collect();
    // Every key's bytes count against one limit: the reply is built before Redis' output-buffer
    // limits see it. The stored forms are copied, not decoded.
    let size = |a: &NdArray| match format {
        Format::Encoded => a.store().stored_bytes() as u64,
        _ => a.nbytes(),
    };
    let bytes = arrays.iter().flatten().map(|a| size(a)).sum();
    reply::within_reply_limits(bytes)?;
    if offload::should_offload(ctx, bytes) {
        let names: Vec<Vec<u8>> = names.iter().map(|n| n.as_slice().to_vec()).collect();
        let snapshots: Vec<Option<NdArray>> = arrays.iter().map(|a| a.cloned()).collect();
        return offload::run(ctx, bytes, move |job| {
            let arrays: Vec<Option<&NdArray>> = snapshots.iter().map(Option::as_ref).collect();
            let names: Vec<&[u8]> = names.iter().map(Vec::as_slice).collect();
            Ok(reply_mget(&job.reply_context(), &names, &arrays, format))
        });
    }
    let names: Vec<&[u8]> = names.iter().map(RedisString::as_slice).collect();
    Ok(reply_mget(ctx, &names, &arrays, format))
}

fn reply_mget(
    ctx: &Context,
    names: &[&[u8]],
    arrays: &[Option<&NdArray>],
    format: Format,
) -> RedisValue {
    host::array(ctx, arrays.len());
    if format == Format::Encoded {
        return reply_mget_encoded(ctx, arrays);
    }
    // One buffer reused for every key (Redis copies each reply), and the header of the previous
    // key reused when dtype and shape repeat, as they do in a batch of embeddings.
    let largest = arrays
        .iter()
        .flatten()
        .map(|a| a.nbytes())
        .max()
        .unwrap_or(0);
    let largest = usize::try_from(largest).unwrap_or(usize::MAX);
    super::scratch::with_buffer(largest, |buf| reply_mget_into(ctx, names, arrays, buf))
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
            host::null(ctx);
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
                let msg = format!("{} key {}: {e}", e.code(), name.escape_ascii());
                host::error(ctx, &msg);
                RedisValue::NoReply
            }
        };
    }
    RedisValue::NoReply
}

/// Each array's stored form (`FORMAT ENCODED`), through one reply buffer sized for the largest.
/// Copies: each array's chunks into the buffer, then Redis' copy into the client's buffer.
fn reply_mget_encoded(ctx: &Context, arrays: &[Option<&NdArray>]) -> RedisValue {
    let largest = arrays
        .iter()
        .flatten()
        .map(|a| crate::persist::payload_len(a))
        .max()
        .unwrap_or(0);
    super::scratch::with_buffer(largest, |buf| {
        for array in arrays {
            match array {
                Some(array) => {
                    buf.clear();
                    crate::persist::write_payload(array, buf);
                    reply::bytes(ctx, buf);
                }
                None => {
                    host::null(ctx);
                }
            }
        }
    });
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
    let pairs = pairs_of(args.get(1..).unwrap_or_default());
    let mut values = Vec::with_capacity(pairs.len());
    let mut memo = BatchMemo::default();
    for (i, (name, npy)) in pairs.iter().enumerate() {
        values.push(mset_elements(
            2 * i + 3,
            name.as_slice(),
            npy.as_slice(),
            &settings,
            &mut memo,
        )?);
    }
    write_batch(ctx, args, &pairs, values, settings, Batch::Mset)
}

/// `NDARRAY.MSETEX numkeys key npy [key npy ...] [NX | XX] [EX … | KEEPTTL] [COMPRESS codec]
/// [LEVEL n] [SHUFFLE filter] [AS dtype]`: MSET with SET's options applied to every key. Replies
/// 1 when the keys were set, 0 when NX / XX prevented it.
pub fn msetex(ctx: &Context, args: &[RedisString]) -> Result<RedisValue> {
    if args.len() < 4 {
        return Err(Error::Arity);
    }
    let available = args.len() - 2;
    let n = parse_numkeys(arg(args, 1)?.as_slice(), 2, available)?;
    let data = args.get(2..2 + 2 * n).unwrap_or_default();
    let options = parse_msetex_options(&rest(args, 2 + 2 * n))?;
    let settings = WriteSettings::current();
    let pairs = pairs_of(data);
    let mut values = Vec::with_capacity(pairs.len());
    let mut memo = BatchMemo::default();
    for (i, (name, npy)) in pairs.iter().enumerate() {
        values.push(msetex_elements(
            2 * i + 4,
            name.as_slice(),
            npy.as_slice(),
            &options,
            &settings,
            &mut memo,
        )?);
    }
    // Checked before the compression runs (and again where the keys are written).
    let names: Vec<&RedisString> = pairs.iter().map(|(n, _)| *n).collect();
    if !condition_holds(ctx, &names, options.condition) {
        return Ok(RedisValue::Integer(0));
    }
    write_batch(ctx, args, &pairs, values, settings, Batch::Msetex(options))
}

fn pairs_of(data: &[RedisString]) -> Vec<(&RedisString, &RedisString)> {
    data.chunks_exact(2)
        .filter_map(|p| Some((p.first()?, p.get(1)?)))
        .collect()
}

/// Which batch write installs: MSET (replies OK) or MSETEX with its options (replies 1 or 0).
#[derive(Clone, Copy)]
enum Batch {
    Mset,
    Msetex(MsetexOptions),
}

/// NX: none of the keys exists; XX: all of them do.
fn condition_holds(ctx: &Context, names: &[&RedisString], condition: Condition) -> bool {
    let exists = |n: &&RedisString| Key::open(ctx, n, false).exists();
    match condition {
        Condition::Always => true,
        Condition::IfAbsent => !names.iter().any(exists),
        Condition::IfExists => names.iter().all(exists),
    }
}

/// Encodes and installs a validated batch: inline, or for a big batch on a worker (the values'
/// bytes read in place from the held arguments), installing under Redis' lock.
fn write_batch(
    ctx: &Context,
    args: &[RedisString],
    pairs: &[(&RedisString, &RedisString)],
    values: Vec<SetValue>,
    settings: WriteSettings,
    batch: Batch,
) -> Result<RedisValue> {
    let bytes: u64 = values.iter().map(|v| v.nbytes()).sum();
    if offload::should_offload_write(ctx, bytes) {
        // The worker reads the `.npy` arguments in place (no copy): they stay retained with it.
        let on_args = offload::ValuesOnArgs::new(args, values);
        let names: Vec<Vec<u8>> = pairs.iter().map(|(n, _)| n.as_slice().to_vec()).collect();
        return offload::run_write(ctx, bytes, names.clone(), move |job| {
            let (encoded, held) = on_args.consume(|values| encode_all(values, &settings));
            let mut arrays = encoded?;
            // Built off the lock when something will consume it (checked again at install; a
            // STAMP follows if the install's time differs from the payloads').
            let prepared: Vec<Option<Replication>> = if job.locked(crate::propagation::consumed_now)
            {
                let now = meta::now_ms();
                arrays
                    .iter_mut()
                    .map(|a| {
                        a.set_updated_at(now);
                        Some(encoded::prepare(a))
                    })
                    .collect()
            } else {
                arrays.iter().map(|_| None).collect()
            };
            Ok(Box::new(move |ctx: &Context| {
                held.release(ctx);
                let names: Vec<RedisString> = names
                    .iter()
                    .map(|n| RedisString::create_from_slice(ctx.ctx, n))
                    .collect();
                let names: Vec<&RedisString> = names.iter().collect();
                let (ack, replaced) = install_batch(ctx, batch, &names, arrays, prepared, true)?;
                Ok(offload::Installed {
                    reply: ack.value(),
                    replaced: offload::to_free(replaced),
                })
            }))
        });
    }
    let arrays = encode_all(values, &settings)?;
    let names: Vec<&RedisString> = pairs.iter().map(|(n, _)| *n).collect();
    let prepared = arrays.iter().map(|_| None).collect();
    let big = offload::replicate_encoded(bytes);
    Ok(install_batch(ctx, batch, &names, arrays, prepared, big)?
        .0
        .send(ctx))
}

fn encode_all(values: Vec<SetValue>, settings: &WriteSettings) -> Result<Vec<NdArray>> {
    values.into_iter().map(|v| v.encode(settings)).collect()
}

/// Stores every encoded value of a batch, all stamped with one time, and propagates each: a small
/// batch as the command once at the end (with PEXPIREATs for a relative TTL and one STAMP), a big
/// one (`big`) as each value encoded. Runs on the main thread or under the lock. Returns the reply
/// and the arrays the values replaced (to free outside the lock).
fn install_batch(
    ctx: &Context,
    batch: Batch,
    names: &[&RedisString],
    arrays: Vec<NdArray>,
    prepared: Vec<Option<Replication>>,
    big: bool,
) -> Result<(Ack, Vec<NdArray>)> {
    let (ttl, event) = match batch {
        Batch::Mset => (None, c"ndarray.mset"),
        Batch::Msetex(o) => {
            if !condition_holds(ctx, names, o.condition) {
                for unneeded in prepared.into_iter().flatten() {
                    unneeded.release(ctx);
                }
                return Ok((Ack::Integer(0), Vec::new()));
            }
            (Some(o.ttl), c"ndarray.msetex")
        }
    };
    // Asked once for the whole batch (it reads the server's replication info).
    let wanted = big && crate::propagation::consumed_now(ctx);
    let at = meta::write_time(ctx);
    let mut verbatim = false;
    let mut pexpire: Vec<(&RedisString, i64)> = Vec::new();
    let mut stamped: Vec<&RedisString> = Vec::new();
    let mut replaced = Vec::new();
    for ((name, mut array), prepared) in names.iter().zip(arrays).zip(prepared) {
        if let Some(at) = at {
            array.set_updated_at(at);
        }
        let propagation = if big {
            encoded::big_write(ctx, wanted, &array, prepared)
        } else {
            Propagation::Command
        };
        let key = Key::open(ctx, name, true);
        let (old, expire_at, expired) = match ttl {
            None => (key.replace_array(array)?, None, false),
            Some(ttl) => store_with_ttl(&key, array, ttl)?,
        };
        replaced.extend(old);
        notify(ctx, event, name);
        match propagation {
            Propagation::Command => {
                verbatim = true;
                if !expired {
                    stamped.push(name);
                    if let (Some(Ttl::In(_)), Some(at)) = (ttl, expire_at) {
                        pexpire.push((name, at));
                    }
                }
            }
            Propagation::Encoded(replication) if expired => {
                replication.release(ctx);
                ctx.replicate("DEL", &[name.as_slice()]);
            }
            Propagation::Encoded(replication) => {
                encoded::replicate(ctx, name, replication, expire_at, at)
            }
            Propagation::Nobody => {}
        }
    }
    if verbatim {
        ctx.replicate_verbatim();
        // A relative EX/PX would restart on every replica and AOF replay: pin the time.
        for (name, at) in pexpire {
            let at = at.to_string();
            ctx.replicate("PEXPIREAT", &[name.as_slice(), at.as_bytes()]);
        }
        meta::replicate_stamp(ctx, &stamped, at);
    }
    let reply = match batch {
        Batch::Mset => Ack::Ok,
        Batch::Msetex(_) => Ack::Integer(1),
    };
    Ok((reply, replaced))
}

/// `NDARRAY.STACK numkeys key [key ...] [AS dtype] [FORMAT NPY|BLOB] [MISSING FILL value]`: one
/// array of shape `(n, *shape)`, like `np.stack`, built straight into one reply buffer (on a
/// worker, from snapshots, for a big batch). With `MISSING FILL`, missing keys' rows hold the
/// value and the reply is `[stacked, [filled positions]]`.
pub fn stack(ctx: &Context, args: &[RedisString]) -> Result<RedisValue> {
    if args.len() < 3 {
        return Err(Error::Arity);
    }
    let n = parse_numkeys(arg(args, 1)?.as_slice(), 1, args.len() - 2)?;
    let names: Vec<&RedisString> = args.iter().skip(2).take(n).collect();
    let option_args = rest(args, 2 + n);
    let options = parse_stack_options(&option_args)?;
    let keys: Vec<Key> = names.iter().map(|n| Key::open(ctx, n, false)).collect();
    let mut arrays: Vec<Option<&NdArray>> = Vec::with_capacity(keys.len());
    let mut skipped = Vec::new();
    for (i, (key, name)) in keys.iter().zip(&names).enumerate() {
        // WRONGTYPE stays an error, with or without MISSING.
        match key.array()? {
            None if options.skip => skipped.push(i),
            None if options.fill.is_none() => {
                return Err(Error::no_key(format!(
                    "no such key '{}'",
                    name.as_slice().escape_ascii()
                )))
            }
            found => arrays.push(found),
        }
    }
    let Some(first) = arrays.iter().find_map(|a| *a) else {
        return Err(Error::no_key(if options.skip {
            "need at least one array to stack: every key is missing"
        } else {
            "every key is missing: MISSING FILL needs at least one existing array to take the dtype and shape from"
        }));
    };
    for (array, name) in arrays.iter().zip(&names) {
        let Some(array) = array else { continue };
        if array.dtype() != first.dtype() || array.shape() != first.shape() {
            return Err(ArrayError::shape(format!(
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
    let from = first.dtype();
    let to = options.cast.unwrap_or(from);
    check_cast(from, to)?;
    let fill = match options.fill {
        Some(v) => {
            // A complex fill is the real part (imaginary 0).
            let parts: Vec<&[u8]> = if to.values_per_element() == 2 {
                vec![v, b"0"]
            } else {
                vec![v]
            };
            let count = parts.len();
            Some(
                parse_values(to, parts.into_iter(), count)
                    .map_err(|e| e.context("MISSING FILL value"))?,
            )
        }
        None => None,
    };
    let mut dims = Vec::with_capacity(first.shape().ndim() + 1);
    dims.push(arrays.len() as u64);
    dims.extend_from_slice(first.shape().dims());
    let shape = Shape::new(dims, to)?;
    let plan = StackPlan {
        from,
        to,
        shape,
        format: options.format,
        fill,
        row_items: first.shape().size(),
        reduce: options.reduce,
        skipped: options.skip.then_some(skipped),
    };
    let bytes = arrays.iter().flatten().map(|a| a.nbytes()).sum();
    if offload::should_offload(ctx, bytes) {
        let snapshots: Vec<Option<NdArray>> = arrays.iter().map(|a| a.cloned()).collect();
        return offload::run(ctx, bytes, move |job| {
            let arrays: Vec<Option<&NdArray>> = snapshots.iter().map(Option::as_ref).collect();
            plan.reply(&job.reply_context(), &arrays)
        });
    }
    plan.reply(ctx, &arrays)
}

/// What a STACK replies, decided on the main thread: the stacked dtype and shape, the format, and
/// the bytes of one fill element (with `MISSING FILL`).
struct StackPlan {
    from: DType,
    to: DType,
    shape: Shape,
    format: Format,
    fill: Option<Vec<u8>>,
    row_items: u64,
    /// `REDUCE op`: reply the reduction over the stacked axis.
    reduce: Option<ReduceOp>,
    /// `MISSING SKIP`: the positions of the keys left out.
    skipped: Option<Vec<usize>>,
}

impl StackPlan {
    /// Builds the whole reply in a buffer first, so an error (a corrupt chunk) replies an error
    /// and never half an array.
    fn reply(&self, ctx: &Context, arrays: &[Option<&NdArray>]) -> Result<RedisValue> {
        if let Some(op) = self.reduce {
            return self.reply_reduced(ctx, op, arrays);
        }
        let nbytes = self
            .shape
            .nbytes_within(self.to, crate::config::max_array_bytes())?;
        reply::within_reply_limits(nbytes as u64)?;
        super::scratch::with_buffer(nbytes, |buf| {
            if self.format == Format::Npy {
                write_npy_header(buf, self.to, &self.shape);
            }
            buf.reserve(nbytes);
            let mut raw = Vec::new();
            let mut filled = Vec::new();
            for (i, array) in arrays.iter().enumerate() {
                match (array, &self.fill) {
                    (Some(a), _) if self.to == self.from => a.read_all(buf)?,
                    (Some(a), _) => {
                        // One extra copy for a cast: the stored elements, decoded, then converted.
                        raw.clear();
                        a.read_all(&mut raw)?;
                        cast_into(self.from, self.to, &raw, buf);
                    }
                    (None, Some(fill)) => {
                        for _ in 0..self.row_items {
                            buf.extend_from_slice(fill);
                        }
                        filled.push(i);
                    }
                    (None, None) => {
                        return Err(ArrayError::invalid("a key went missing while stacking").into())
                    }
                }
            }
            let positions = match &self.skipped {
                Some(skipped) => skipped,
                None if self.fill.is_some() => &filled,
                None => return Ok(reply::bytes(ctx, buf)),
            };
            host::array(ctx, 2);
            reply::bytes(ctx, buf);
            reply_positions(ctx, positions);
            Ok(RedisValue::NoReply)
        })
    }

    /// `STACK … REDUCE op`: `np.stack(rows).<op>(axis=0)` without building the stack, each row
    /// decoded (and converted, with AS) by a job; with MISSING FILL or SKIP, the reply is the
    /// result and the positions filled or skipped.
    fn reply_reduced(
        &self,
        ctx: &Context,
        op: ReduceOp,
        arrays: &[Option<&NdArray>],
    ) -> Result<RedisValue> {
        let row_dims = self.shape.dims().get(1..).unwrap_or_default();
        let read = |i: u64, out: &mut Vec<u8>| -> std::result::Result<(), ArrayError> {
            match (arrays.get(i as usize).copied().flatten(), &self.fill) {
                (Some(a), _) if self.to == self.from => a.read_all(out),
                (Some(a), _) => {
                    // One extra copy for a cast: the stored elements, decoded, then converted.
                    let mut raw = Vec::new();
                    a.read_all(&mut raw)?;
                    cast_into(self.from, self.to, &raw, out);
                    Ok(())
                }
                (None, Some(fill)) => {
                    for _ in 0..self.row_items {
                        out.extend_from_slice(fill);
                    }
                    Ok(())
                }
                (None, None) => Err(ArrayError::invalid("a key went missing while stacking")),
            }
        };
        let result = reduce_stacked(
            crate::config::max_array_bytes(),
            op,
            self.to,
            row_dims,
            arrays.len() as u64,
            &read,
        )?;
        let req = ReadRequest {
            format: self.format,
            cast: None,
        };
        let filled: Vec<usize> = match (&self.skipped, &self.fill) {
            (Some(skipped), _) => skipped.clone(),
            (None, Some(_)) => (0..arrays.len())
                .filter(|&i| arrays.get(i).is_some_and(Option::is_none))
                .collect(),
            (None, None) => {
                return reply::converted(ctx, result.dtype, &result.dims, req, |out| {
                    out.extend_from_slice(&result.data);
                    Ok(())
                })
            }
        };
        host::array(ctx, 2);
        reply::converted(ctx, result.dtype, &result.dims, req, |out| {
            out.extend_from_slice(&result.data);
            Ok(())
        })?;
        reply_positions(ctx, &filled);
        Ok(RedisValue::NoReply)
    }
}

/// The positions of the keys a STACK filled or skipped, as an array of integers.
fn reply_positions(ctx: &Context, positions: &[usize]) {
    host::array(ctx, positions.len());
    for &i in positions {
        host::integer(ctx, i64::try_from(i).unwrap_or(i64::MAX));
    }
}
