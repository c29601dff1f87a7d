//! Commands that compute where the array lives: NDARRAY.REDUCE (NumPy's reductions of a
//! selection) and NDARRAY.APPLY (`a[sel] = ufunc(a[sel], x)`, atomic). The arithmetic is the
//! core's (`array::reduce`, `array::ufunc`); here: parse, pick the thread, reply, replicate.

use super::meta::{replicate_stamp, stamp};
use super::parse::{
    parse_apply, parse_reduce_options, ApplyArgs, ApplyOperand, Format, ReadRequest,
};
use super::reply::{self, Ack};
use super::steps::{slice_write_work, WholeCopy};
use super::{arg, notify, rest};
use crate::array::input::Input;
use crate::array::reduce::{ReduceOp, ReduceSpec};
use crate::array::slice::Selection;
use crate::array::ufunc::{self, Operand, Ufunc, WeakScalar};
use crate::array::values::parse_values;
use crate::array::{ArrayError, NdArray, PlannedWrite};
use crate::config;
use crate::error::{Error, Result};
use crate::host::datatype::Key;
use crate::offload;
use redis_module::{Context, RedisString, RedisValue};

/// The selection of a command that names none: the whole array (also a 0-d one).
const WHOLE: &[u8] = b"...";

/// `NDARRAY.REDUCE key op [AXIS axis ...] [KEEPDIMS] [SELECT selection] [AS dtype]
/// [FORMAT NPY|BLOB|VALUES]`: NumPy's `np.<op>(a[selection], axis=…, keepdims=…, dtype=…)`.
/// The selection's pieces decode and reduce as parallel jobs (on a worker when the decoding may
/// be big), merged in a fixed order: the same answer on every thread count.
pub fn reduce(ctx: &Context, args: &[RedisString]) -> Result<RedisValue> {
    if args.len() < 3 {
        return Err(Error::Arity);
    }
    let op = ReduceOp::parse(arg(args, 2)?.as_slice())?;
    let option_args = rest(args, 3);
    let opts = parse_reduce_options(&option_args)?;
    let key = Key::open(ctx, arg(args, 1)?, false);
    let Some(array) = key.array()? else {
        return Ok(RedisValue::Null);
    };
    let sel = Selection::resolve(opts.select.unwrap_or(WHOLE), array.shape())?;
    let spec = ReduceSpec {
        op,
        axes: opts.axes,
        keepdims: opts.keepdims,
        dtype: opts.dtype,
        max_bytes: config::max_array_bytes(),
    };
    // Refused here, before any work: the dtype rule (the axes are checked by the core).
    op.result_dtype(array.dtype(), spec.dtype)?;
    let format = opts.format;
    let work = array.read_work(&sel);
    if offload::should_offload(ctx, work) {
        let snapshot = array.clone();
        return offload::run(ctx, work, move |job| {
            reply_reduced(&job.reply_context(), &snapshot, &sel, &spec, format)
        });
    }
    reply_reduced(ctx, array, &sel, &spec, format)
}

fn reply_reduced(
    ctx: &Context,
    array: &NdArray,
    sel: &Selection,
    spec: &ReduceSpec,
    format: Format,
) -> Result<RedisValue> {
    let result = array.reduce(sel, spec)?;
    let req = ReadRequest { format, cast: None };
    reply::converted(ctx, result.dtype, &result.dims, req, |out| {
        out.extend_from_slice(&result.data);
        Ok(())
    })
}

/// `NDARRAY.APPLY key ufunc [SELECT selection] [RETURN] <VALUES x ... | NPY bytes | ENCODED
/// payload>`: `a[selection] = ufunc(a[selection], x)` with NumPy's promotion and `same_kind`
/// cast back, atomic. Replicated as the resulting bytes (a SETSLICE of them), so replicas and
/// the AOF hold bit-identical arrays without redoing the arithmetic. A big one is computed on a
/// worker from a snapshot; if the array changed before the install, it is computed again on the
/// state the install sees, as the same command arriving then would.
pub fn apply(ctx: &Context, args: &[RedisString]) -> Result<RedisValue> {
    if args.len() < 5 {
        return Err(Error::Arity);
    }
    let ufunc = Ufunc::parse(arg(args, 2)?.as_slice())?;
    let raw_args = rest(args, 3);
    let parsed = parse_apply(&raw_args)?;
    let name = arg(args, 1)?;
    let mut key = Key::open(ctx, name, true);
    let Some(array) = key.array_mut()? else {
        return Err(Error::no_key("no such key"));
    };
    let selection = parsed.select.unwrap_or(WHOLE);
    let max = config::max_array_bytes();
    let work = slice_write_work(array, selection)?
        .saturating_add(array.read_work(&Selection::resolve(selection, array.shape())?));
    if offload::should_offload_write(ctx, work) {
        let snapshot = array.clone();
        // Copy 1 of the operand (its argument's bytes), for the worker.
        let command: Vec<Vec<u8>> = args.iter().map(|a| a.as_slice().to_vec()).collect();
        let keys = vec![name.as_slice().to_vec()];
        return offload::run_write(ctx, work, keys, move |_job| {
            let planned = plan_from_command(&snapshot, &command, max, WholeCopy::Here)?;
            // Let go before the install, so that the store changes in place unless a reader
            // still holds it.
            drop(snapshot);
            Ok(Box::new(move |ctx: &Context| {
                install_apply(ctx, &command, planned, max)
            }))
        });
    }
    let planned = plan_apply(array, ufunc, &parsed, max, WholeCopy::AtInstall)?;
    let new = planned.new_bytes;
    // Planned against this very state: it applies.
    let _ = array.apply_write(planned.write);
    let at = stamp(ctx, array);
    replicate_result(ctx, name, array, selection, &new);
    replicate_stamp(ctx, &[name], at);
    notify(ctx, c"ndarray.apply", name);
    if parsed.return_array {
        return reply::array(ctx, array, ReadRequest::default());
    }
    Ok(reply::ok(ctx))
}

/// An APPLY computed against one state of an array: the selection's new bytes (what replicates)
/// and the write that puts them in.
struct PlannedApply {
    new_bytes: Vec<u8>,
    write: PlannedWrite,
}

/// Computes the APPLY of `args` on `array`, which it leaves unchanged; `copy` says where a store
/// held as one buffer is copied (on the worker that plans it, or at install if a reader shares it).
fn plan_apply(
    array: &NdArray,
    ufunc: Ufunc,
    args: &ApplyArgs,
    max: u64,
    copy: WholeCopy,
) -> Result<PlannedApply> {
    let sel = Selection::resolve(args.select.unwrap_or(WHOLE), array.shape())?;
    let dtype = array.dtype();
    // Copy 2: the selected elements, decoded.
    let mut current = Vec::new();
    array.read_selection(&sel, &mut current)?;
    let per_element = dtype.values_per_element() as usize;
    // The operand, decoded where it comes as a file (a copy of its elements).
    let decoded;
    let operand = match &args.operand {
        // One value (a Python int, float, bool or complex literal), or `re im` on a complex array.
        ApplyOperand::Values(values) if values.len() == 1 || values.len() == per_element => {
            Operand::Weak(weak_scalar(values)?)
        }
        ApplyOperand::Values(values) => {
            let wanted = usize::try_from(sel.size().saturating_mul(per_element as u64))
                .map_err(|_| ArrayError::TooLarge("selection too large".into()))?;
            if values.len() != wanted {
                return Err(ArrayError::shape(format!(
                    "got {} values: VALUES takes one value (a scalar{}) or one per selected element ({wanted})",
                    values.len(),
                    if per_element == 2 { ", as re im" } else { "" }
                ))
                .into());
            }
            decoded = (
                dtype,
                sel.dims().to_vec(),
                parse_values(dtype, values.iter().copied(), wanted)?,
            );
            Operand::Array {
                dtype: decoded.0,
                dims: &decoded.1,
                data: &decoded.2,
            }
        }
        ApplyOperand::Npy(file) => {
            let npy = Input::Npy(file).decode(max)?;
            decoded = (npy.dtype, npy.shape.dims().to_vec(), npy.data.into_owned());
            Operand::Array {
                dtype: decoded.0,
                dims: &decoded.1,
                data: &decoded.2,
            }
        }
        ApplyOperand::Encoded(payload) => {
            let other = crate::persist::from_client_payload(payload)?;
            let mut data = Vec::new();
            other.read_all(&mut data)?;
            decoded = (other.dtype(), other.shape().dims().to_vec(), data);
            Operand::Array {
                dtype: decoded.0,
                dims: &decoded.1,
                data: &decoded.2,
            }
        }
    };
    // Copy 3: the new elements.
    let new_bytes = ufunc::apply(ufunc, dtype, sel.dims(), &current, &operand)?;
    let write = match copy {
        WholeCopy::Here => array.plan_write_copy(&sel, &new_bytes)?,
        WholeCopy::AtInstall => array.plan_write(&sel, &new_bytes)?,
    };
    Ok(PlannedApply { new_bytes, write })
}

/// A scalar `VALUES` operand: one Python literal, or `re im` (a complex array's two parts).
fn weak_scalar(values: &[&[u8]]) -> Result<WeakScalar> {
    let real = |t: &[u8]| -> Result<f64> {
        match WeakScalar::parse(t)? {
            WeakScalar::Int(i) => Ok(i as f64),
            WeakScalar::Float(f) => Ok(f),
            WeakScalar::Bool(b) => Ok(f64::from(u8::from(b))),
            WeakScalar::Complex(..) => Err(ArrayError::value(
                "re im are two real numbers (or give one complex literal)",
            )
            .into()),
        }
    };
    match values {
        [one] => Ok(WeakScalar::parse(one)?),
        [re, im] => Ok(WeakScalar::Complex(real(re)?, real(im)?)),
        _ => Err(
            ArrayError::value("a scalar operand is one value (re im for a complex array)").into(),
        ),
    }
}

/// The APPLY of `command` (all its arguments) planned against `array`.
fn plan_from_command(
    array: &NdArray,
    command: &[Vec<u8>],
    max: u64,
    copy: WholeCopy,
) -> Result<PlannedApply> {
    let words: Vec<&[u8]> = command.iter().map(Vec::as_slice).collect();
    let (Some(ufunc), Some(rest)) = (words.get(2), words.get(3..)) else {
        return Err(Error::Arity);
    };
    let parsed = parse_apply(rest)?;
    plan_apply(array, Ufunc::parse(ufunc)?, &parsed, max, copy)
}

/// Installs an APPLY computed on a worker; if the array changed meanwhile, computes it again on
/// the state here (so no concurrent update is lost), then stamps, replicates and notifies.
fn install_apply(
    ctx: &Context,
    command: &[Vec<u8>],
    planned: PlannedApply,
    max: u64,
) -> Result<offload::Installed> {
    let name_bytes = command.get(1).ok_or(Error::Arity)?;
    let name = RedisString::create_from_slice(ctx.ctx, name_bytes);
    let mut key = Key::open(ctx, &name, true);
    let Some(array) = key.array_mut()? else {
        return Err(Error::no_key("no such key"));
    };
    let (new_bytes, displaced) = match array.apply_write(planned.write) {
        Ok(displaced) => (planned.new_bytes, displaced),
        Err(_stale) => {
            let again = plan_from_command(array, command, max, WholeCopy::AtInstall)?;
            let displaced = array.apply_write(again.write).ok().flatten();
            (again.new_bytes, displaced)
        }
    };
    let at = stamp(ctx, array);
    let words: Vec<&[u8]> = command.iter().map(Vec::as_slice).collect();
    let parsed = parse_apply(words.get(3..).unwrap_or_default())?;
    let selection = parsed.select.unwrap_or(WHOLE);
    replicate_result(ctx, &name, array, selection, &new_bytes);
    replicate_stamp(ctx, &[&name], at);
    notify(ctx, c"ndarray.apply", &name);
    let reply = if parsed.return_array {
        let mut npy = Vec::new();
        crate::array::npy::write_npy_header(&mut npy, array.dtype(), array.shape());
        array.read_all(&mut npy)?;
        RedisValue::StringBuffer(npy)
    } else {
        Ack::Ok.value()
    };
    Ok(offload::Installed {
        reply,
        replaced: offload::to_free(displaced),
    })
}

/// Most bytes one replicated SETSLICE of an APPLY carries: the smallest `proto-max-bulk-len`
/// Redis accepts, as for AOF rewrites and big writes' encoded pieces, so any client can replay it.
const REPLICATED_PIECE_BYTES: usize = crate::host::datatype::AOF_PIECE_BYTES;

/// What replicas and the AOF receive for an APPLY: the selection's new bytes, as a SETSLICE; a
/// result over [`REPLICATED_PIECE_BYTES`] as one SETSLICE per piece of the selection (C-order
/// pieces: a repeated index of a gather is written last by the last piece, as by one SETSLICE).
/// Redis wraps a command's several propagated commands in MULTI/EXEC: replicas apply them at once.
fn replicate_result(
    ctx: &Context,
    name: &RedisString,
    array: &NdArray,
    selection: &[u8],
    new_bytes: &[u8],
) {
    let pieces = (new_bytes.len() > REPLICATED_PIECE_BYTES)
        .then(|| result_pieces(array, selection, new_bytes))
        .flatten();
    let Some(pieces) = pieces else {
        ctx.replicate(
            "NDARRAY.SETSLICE",
            &[name.as_slice(), selection, b"BLOB", new_bytes],
        );
        return;
    };
    for (text, bytes) in pieces {
        ctx.replicate(
            "NDARRAY.SETSLICE",
            &[name.as_slice(), text.as_bytes(), b"BLOB", bytes],
        );
    }
}

/// The selection of `array` in pieces of at most [`REPLICATED_PIECE_BYTES`]: each piece's text and
/// its bytes of `new_bytes` (None if the selection no longer resolves: the write was just made on
/// this shape, so it does).
fn result_pieces<'a>(
    array: &NdArray,
    selection: &[u8],
    new_bytes: &'a [u8],
) -> Option<Vec<(String, &'a [u8])>> {
    let sel = Selection::resolve(selection, array.shape()).ok()?;
    let itemsize = array.dtype().itemsize();
    let pieces = sel.pieces((REPLICATED_PIECE_BYTES / itemsize.max(1)) as u64);
    (0..pieces.count())
        .map(|i| {
            let (start, piece) = pieces.piece(i);
            let from = usize::try_from(start).ok()?.checked_mul(itemsize)?;
            let len = usize::try_from(piece.size()).ok()?.checked_mul(itemsize)?;
            let bytes = new_bytes.get(from..from.checked_add(len)?)?;
            Some((piece.to_text(), bytes))
        })
        .collect()
}
