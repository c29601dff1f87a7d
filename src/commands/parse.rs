//! Argument parsing for every command, Redis-free: arguments arrive as byte slices (the key
//! already taken off) and come back as typed requests. Keywords are case-insensitive, and
//! anything left over is an error.

use super::table::{data_usage, usage};
use crate::array::input::Input;
use crate::array::reduce::ReduceOp;
use crate::array::{ArrayError, DType};
use crate::codec::{registry, CodecName, Shuffle};

type Args<'a> = std::iter::Peekable<std::slice::Iter<'a, &'a [u8]>>;

pub type ParseResult<T> = Result<T, ArrayError>;

/// Inlined: most comparisons fail on the length, which then costs a compare instead of a call
/// (a small SET tries some 30 keywords; the calls were a tenth of its cost).
#[inline(always)]
fn is(arg: &[u8], keyword: &str) -> bool {
    arg.len() == keyword.len() && arg.eq_ignore_ascii_case(keyword.as_bytes())
}

/// A user's argument quoted back in an error: printable ASCII as is, other bytes escaped
/// (`\xff`), so the reply stays valid single-line text.
fn text(arg: &[u8]) -> String {
    arg.escape_ascii().to_string()
}

fn invalid<T>(msg: impl Into<String>) -> ParseResult<T> {
    Err(ArrayError::invalid(msg))
}

/// The argument after `keyword`, or an error naming what was expected.
fn value_of<'a>(args: &mut Args<'a>, keyword: &str, what: &str) -> ParseResult<&'a [u8]> {
    match args.next() {
        Some(v) => Ok(v),
        None => invalid(format!("{keyword} needs {what}")),
    }
}

fn integer(arg: &[u8], what: &str) -> ParseResult<u64> {
    std::str::from_utf8(arg)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| {
            ArrayError::invalid(format!(
                "{what} must be a non-negative integer, got '{}'",
                text(arg)
            ))
        })
}

/// When a write happens, as `SET`'s NX / XX.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Condition {
    #[default]
    Always,
    IfAbsent,
    IfExists,
}

/// What happens to the key's time to live, as `SET`'s EX / PX / EXAT / PXAT / KEEPTTL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ttl {
    #[default]
    Clear,
    Keep,
    /// Milliseconds from now.
    In(u64),
    /// Unix time in milliseconds.
    At(u64),
}

/// Storage options a write may carry (`COMPRESS`, `LEVEL`, `SHUFFLE`): the core's request, which
/// the Python extension resolves the same way.
pub use crate::codec::request::EncodingRequest as StoreOptions;

#[derive(Debug, Clone, PartialEq)]
pub struct SetRequest<'a> {
    pub input: Input<'a>,
    pub store: StoreOptions,
    pub cast: Option<DType>,
    pub ttl: Ttl,
    pub condition: Condition,
    /// `ATTR field value` options, in order (a later duplicate wins).
    pub attrs: Vec<(&'a [u8], &'a [u8])>,
}

/// `dtype [dim ...] [option ...] {BLOB data | VALUES v ...}` or `[option ...] {NPY | ENCODED} data`.
pub fn parse_set<'a>(args: &'a [&'a [u8]]) -> ParseResult<SetRequest<'a>> {
    let mut it = args.iter().peekable();
    let mut dtype = None;
    let mut dims = FewOnStack::<u64, 8>::default();
    if let Some(first) = it.peek() {
        if !is_set_keyword(first) {
            dtype = Some(DType::parse(first)?);
            it.next();
            while let Some(arg) = it.peek() {
                if is_set_keyword(arg) {
                    break;
                }
                dims.push(parse_dim(arg)?);
                it.next();
            }
        }
    }
    let mut dims = dims.into_vec();
    let mut store = StoreOptions::default();
    let mut cast = None;
    let mut ttl = None;
    let mut condition = Condition::Always;
    let mut attrs = Vec::new();
    loop {
        let Some(arg) = it.next() else {
            return invalid(format!(
                "missing data: expected BLOB, VALUES, NPY or ENCODED ({})",
                usage("ndarray.set")
            ));
        };
        if parse_store_option(arg, &mut it, &mut store)?
            || parse_write_option(arg, &mut it, &mut cast, &mut ttl, &mut condition)?
        {
            continue;
        }
        if is(arg, "ATTR") {
            let field = value_of(&mut it, "ATTR", "a field and a value")?;
            let value = value_of(&mut it, "ATTR", "a field and a value")?;
            attrs.push((field, value));
        } else if is(arg, "BLOB") || is(arg, "VALUES") || is(arg, "NPY") || is(arg, "ENCODED") {
            let input = parse_source(arg, &mut it, dtype.map(|d| (d, std::mem::take(&mut dims))))?;
            return Ok(SetRequest {
                input,
                store,
                cast,
                ttl: ttl.unwrap_or_default(),
                condition,
                attrs,
            });
        } else {
            return invalid(format!(
                "unknown option '{}' ({})",
                text(arg),
                usage("ndarray.set")
            ));
        }
    }
}

/// AS / EX / PX / EXAT / PXAT / KEEPTTL / NX / XX, the options SET and MSETEX share besides the
/// storage options. Returns whether `arg` was one of them.
fn parse_write_option(
    arg: &[u8],
    it: &mut Args<'_>,
    cast: &mut Option<DType>,
    ttl: &mut Option<Ttl>,
    condition: &mut Condition,
) -> ParseResult<bool> {
    if is(arg, "AS") {
        *cast = Some(DType::parse(value_of(it, "AS", "a dtype")?)?);
    } else if let Some(new_ttl) = parse_ttl(arg, it)? {
        if ttl.is_some() {
            return invalid("EX, PX, EXAT, PXAT and KEEPTTL are mutually exclusive");
        }
        *ttl = Some(new_ttl);
    } else if is(arg, "NX") || is(arg, "XX") {
        let wanted = if is(arg, "NX") {
            Condition::IfAbsent
        } else {
            Condition::IfExists
        };
        if *condition != Condition::Always && *condition != wanted {
            return invalid("NX and XX are mutually exclusive");
        }
        *condition = wanted;
    } else {
        return Ok(false);
    }
    Ok(true)
}

/// `numkeys` of a multi-key command: a positive integer, with at least `per_key × numkeys`
/// arguments after it (`available`).
pub fn parse_numkeys(arg: &[u8], per_key: usize, available: usize) -> ParseResult<usize> {
    let n = std::str::from_utf8(arg)
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            ArrayError::invalid(format!(
                "numkeys must be a positive integer, got '{}'",
                text(arg)
            ))
        })?;
    match n.checked_mul(per_key) {
        Some(need) if need <= available => Ok(n),
        _ => invalid(format!(
            "numkeys is {n} but {} follow it",
            if per_key == 1 {
                format!("{available} arguments")
            } else {
                format!("{} key/value pairs", available / per_key)
            }
        )),
    }
}

/// The options of NDARRAY.MSETEX after its `numkeys` pairs: what SET takes, applied to every value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MsetexOptions {
    pub store: StoreOptions,
    pub cast: Option<DType>,
    pub ttl: Ttl,
    pub condition: Condition,
}

const MSETEX_USAGE: &str = "NDARRAY.MSETEX numkeys key npy [key npy ...] [NX | XX] [EX seconds | PX milliseconds | EXAT unix-seconds | PXAT unix-milliseconds | KEEPTTL] [COMPRESS codec] [LEVEL n] [SHUFFLE filter] [AS dtype]";

/// `[NX | XX] [EX … | KEEPTTL] [COMPRESS codec] [LEVEL n] [SHUFFLE filter] [AS dtype]`, any order
/// (the same parsers as SET's).
pub fn parse_msetex_options(args: &[&[u8]]) -> ParseResult<MsetexOptions> {
    let mut it = args.iter().peekable();
    let mut opts = MsetexOptions::default();
    let mut ttl = None;
    while let Some(arg) = it.next() {
        if !parse_store_option(arg, &mut it, &mut opts.store)?
            && !parse_write_option(arg, &mut it, &mut opts.cast, &mut ttl, &mut opts.condition)?
        {
            return invalid(format!(
                "unknown option '{}' (numkeys must count the key/value pairs: {MSETEX_USAGE})",
                text(arg)
            ));
        }
    }
    opts.ttl = ttl.unwrap_or_default();
    Ok(opts)
}

/// NDARRAY.STACK's options after its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StackOptions<'a> {
    /// NPY or BLOB.
    pub format: Format,
    pub cast: Option<DType>,
    /// `MISSING FILL value`: the value (in the stacked dtype) of the rows of missing keys.
    pub fill: Option<&'a [u8]>,
    /// `MISSING SKIP`: missing keys are left out (their positions replied).
    pub skip: bool,
    /// `REDUCE op`: the reduction over the stacked axis instead of the stack.
    pub reduce: Option<ReduceOp>,
}

/// What `STACK … REDUCE` computes over the stacked axis.
pub const STACK_REDUCTIONS: [ReduceOp; 4] =
    [ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Min, ReduceOp::Max];

/// `[AS dtype] [FORMAT NPY|BLOB] [MISSING FILL value]`, any order.
pub fn parse_stack_options<'a>(args: &'a [&'a [u8]]) -> ParseResult<StackOptions<'a>> {
    let mut it = args.iter().peekable();
    let mut opts = StackOptions::default();
    while let Some(arg) = it.next() {
        if is(arg, "AS") {
            opts.cast = Some(DType::parse(value_of(&mut it, "AS", "a dtype")?)?);
        } else if is(arg, "FORMAT") {
            let v = value_of(&mut it, "FORMAT", "NPY or BLOB")?;
            opts.format = match v {
                v if is(v, "NPY") => Format::Npy,
                v if is(v, "BLOB") => Format::Blob,
                v => {
                    return invalid(format!(
                        "unknown format '{}' (STACK replies NPY or BLOB)",
                        text(v)
                    ))
                }
            };
        } else if is(arg, "MISSING") {
            let how = value_of(&mut it, "MISSING", "FILL value or SKIP")?;
            if is(how, "SKIP") {
                opts.skip = true;
            } else if is(how, "FILL") {
                opts.fill = Some(value_of(&mut it, "MISSING FILL", "a value")?);
            } else {
                return invalid(format!(
                    "unknown MISSING policy '{}' (expected MISSING FILL value or MISSING SKIP)",
                    text(how)
                ));
            }
        } else if is(arg, "REDUCE") {
            let op = value_of(&mut it, "REDUCE", "sum, mean, min or max")?;
            opts.reduce = Some(ReduceOp::parse_among(op, &STACK_REDUCTIONS)?);
        } else {
            return invalid(format!(
                "unknown option '{}' (expected AS, FORMAT, MISSING FILL, MISSING SKIP or REDUCE; numkeys must count the keys)",
                text(arg)
            ));
        }
    }
    if opts.skip && opts.fill.is_some() {
        return invalid("MISSING FILL and MISSING SKIP exclude each other");
    }
    Ok(opts)
}

/// Parses the data source starting at keyword `kind` (BLOB, VALUES or NPY). `typed` is the dtype
/// and dims given before it, which BLOB and VALUES need and NPY must not have.
pub fn parse_source<'a>(
    kind: &[u8],
    it: &mut Args<'a>,
    typed: Option<(DType, Vec<u64>)>,
) -> ParseResult<Input<'a>> {
    let input = if is(kind, "NPY") {
        if typed.is_some() {
            return invalid(
                "NPY data carries its own dtype and shape: give no dtype or dims with it",
            );
        }
        Input::Npy(value_of(it, "NPY", "the bytes of a .npy file")?)
    } else if is(kind, "ENCODED") {
        if typed.is_some() {
            return invalid(
                "ENCODED data carries its own dtype and shape: give no dtype or dims with it",
            );
        }
        Input::Encoded(value_of(it, "ENCODED", "an encoded array")?)
    } else {
        let Some((dtype, dims)) = typed else {
            return invalid(format!(
                "{} needs a dtype and dims before the options",
                text(kind).to_uppercase()
            ));
        };
        if is(kind, "BLOB") {
            Input::Blob {
                dtype,
                dims,
                bytes: value_of(it, "BLOB", "the raw bytes")?,
            }
        } else {
            let values: Vec<&[u8]> = it.by_ref().copied().collect();
            if values.is_empty() && !dims.contains(&0) {
                return invalid("VALUES needs at least one value");
            }
            return Ok(Input::Values {
                dtype,
                dims,
                values,
            });
        }
    };
    if let Some(extra) = it.next() {
        return invalid(format!(
            "unexpected argument '{}' after the data",
            text(extra)
        ));
    }
    Ok(input)
}

/// A short list kept on the stack: its first `N` items in place, more in a `Vec`. For what every
/// small command collects: its argument slices, and SET's dims (so that the shape is allocated
/// once at its exact size: a growing `Vec` was reallocated when the shape took it).
#[derive(Debug)]
pub struct FewOnStack<T: Copy + Default, const N: usize> {
    few: [T; N],
    len: usize,
    more: Vec<T>,
}

impl<T: Copy + Default, const N: usize> Default for FewOnStack<T, N> {
    fn default() -> Self {
        FewOnStack {
            few: [T::default(); N],
            len: 0,
            more: Vec::new(),
        }
    }
}

impl<T: Copy + Default, const N: usize> FewOnStack<T, N> {
    pub fn push(&mut self, item: T) {
        match self.few.get_mut(self.len) {
            Some(slot) if self.more.is_empty() => {
                *slot = item;
                self.len += 1;
            }
            _ => {
                if self.more.is_empty() {
                    self.more.extend_from_slice(&self.few);
                }
                self.more.push(item);
            }
        }
    }

    pub fn into_vec(self) -> Vec<T> {
        if self.more.is_empty() {
            self.few.get(..self.len).unwrap_or_default().to_vec()
        } else {
            self.more
        }
    }
}

impl<T: Copy + Default, const N: usize> std::ops::Deref for FewOnStack<T, N> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        if self.more.is_empty() {
            self.few.get(..self.len).unwrap_or_default()
        } else {
            &self.more
        }
    }
}

fn is_set_keyword(arg: &[u8]) -> bool {
    // Dims and numbers never are (every keyword starts with a letter): most arguments stop here.
    if arg.first().is_some_and(|b| !b.is_ascii_alphabetic()) {
        return false;
    }
    // One match on the upper-cased word (every keyword has at most 8 letters), not a comparison
    // per keyword: a dtype name is looked up here on every SET.
    let mut upper = [0u8; 8];
    let Some(word) = upper.get_mut(..arg.len()) else {
        return false;
    };
    for (u, a) in word.iter_mut().zip(arg) {
        *u = a.to_ascii_uppercase();
    }
    matches!(
        &*word,
        b"COMPRESS"
            | b"LEVEL"
            | b"SHUFFLE"
            | b"AS"
            | b"EX"
            | b"PX"
            | b"EXAT"
            | b"PXAT"
            | b"KEEPTTL"
            | b"NX"
            | b"XX"
            | b"BLOB"
            | b"VALUES"
            | b"NPY"
            | b"ENCODED"
            | b"ATTR"
    )
}

fn parse_dim(arg: &[u8]) -> ParseResult<u64> {
    let s = std::str::from_utf8(arg).unwrap_or("");
    if s.starts_with('-') && s[1..].parse::<u64>().is_ok() {
        return invalid(format!("dimension {s} is negative"));
    }
    s.parse::<u64>().map_err(|_| {
        ArrayError::invalid(format!(
            "invalid dimension '{}' (dims are non-negative integers)",
            text(arg)
        ))
    })
}

/// COMPRESS / LEVEL / SHUFFLE. Returns whether `arg` was one of them.
fn parse_store_option(arg: &[u8], it: &mut Args<'_>, opts: &mut StoreOptions) -> ParseResult<bool> {
    if is(arg, "COMPRESS") {
        // The list of names is built only for the error: built on every write, it was a large
        // part of a small write's cost.
        let Some(v) = it.next() else {
            return invalid(format!("COMPRESS needs {}", CodecName::names()));
        };
        let Some(codec) = std::str::from_utf8(v).ok().and_then(CodecName::parse) else {
            return invalid(format!(
                "unknown compression '{}' (expected {})",
                text(v),
                CodecName::names()
            ));
        };
        opts.codec = Some(codec);
    } else if is(arg, "LEVEL") {
        let v = value_of(it, "LEVEL", "a number")?;
        let Some(level) = std::str::from_utf8(v)
            .ok()
            .and_then(|l| l.parse::<i32>().ok())
        else {
            return invalid(format!("LEVEL must be an integer, got '{}'", text(v)));
        };
        opts.level = Some(level);
    } else if is(arg, "SHUFFLE") {
        let Some(v) = it.next() else {
            return invalid(format!("SHUFFLE needs {}", registry::filter_names()));
        };
        let Some(filter) = std::str::from_utf8(v).ok().and_then(registry::filter_named) else {
            return invalid(format!(
                "unknown shuffle '{}' (expected {})",
                text(v),
                registry::filter_names()
            ));
        };
        opts.shuffle = Some(Shuffle::new(filter));
    } else {
        return Ok(false);
    }
    Ok(true)
}

/// EX / PX / EXAT / PXAT / KEEPTTL. Returns `None` when `arg` is none of them.
fn parse_ttl(arg: &[u8], it: &mut Args<'_>) -> ParseResult<Option<Ttl>> {
    if is(arg, "KEEPTTL") {
        return Ok(Some(Ttl::Keep));
    }
    let (name, scale, absolute) = match arg {
        a if is(a, "EX") => ("EX", 1000, false),
        a if is(a, "PX") => ("PX", 1, false),
        a if is(a, "EXAT") => ("EXAT", 1000, true),
        a if is(a, "PXAT") => ("PXAT", 1, true),
        _ => return Ok(None),
    };
    let v = value_of(it, name, "a time")?;
    let ms = integer(v, name)
        .ok()
        .filter(|n| *n > 0)
        .and_then(|n| n.checked_mul(scale))
        .filter(|ms| *ms <= i64::MAX as u64 / 2)
        .ok_or_else(|| {
            ArrayError::invalid(format!("invalid expire time in {name}: '{}'", text(v)))
        })?;
    Ok(Some(if absolute { Ttl::At(ms) } else { Ttl::In(ms) }))
}

/// How a read command replies with an array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Npy,
    Blob,
    Values,
    /// The stored form as it is (README, "The encoded form"): `NDARRAY.GET` only.
    Encoded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReadRequest {
    pub format: Format,
    pub cast: Option<DType>,
}

/// NDARRAY.PROBE's sample when the command names none, and the most it takes.
pub const DEFAULT_PROBE_SAMPLE: u64 = 1 << 20;
pub const MAX_PROBE_SAMPLE: u64 = 64 << 20;

/// `[SAMPLE bytes]` of NDARRAY.PROBE: the sample size, 1 byte to 64 MiB (default 1 MiB).
pub fn parse_probe(args: &[&[u8]]) -> ParseResult<u64> {
    let mut it = args.iter();
    let mut sample = DEFAULT_PROBE_SAMPLE;
    while let Some(arg) = it.next() {
        if !is(arg, "SAMPLE") {
            return invalid(format!(
                "unknown option '{}' ({})",
                text(arg),
                usage("ndarray.probe")
            ));
        }
        let Some(v) = it.next() else {
            return invalid("SAMPLE needs a number of bytes");
        };
        sample = integer(v, "SAMPLE")?;
        if !(1..=MAX_PROBE_SAMPLE).contains(&sample) {
            return invalid(format!(
                "SAMPLE must be 1 to {MAX_PROBE_SAMPLE} bytes, got {sample}"
            ));
        }
    }
    Ok(sample)
}

/// `[FORMAT NPY|BLOB|VALUES|ENCODED] [AS dtype]`, in any order (`AS` never with `ENCODED`).
pub fn parse_read(args: &[&[u8]]) -> ParseResult<ReadRequest> {
    let mut it = args.iter().peekable();
    let mut req = ReadRequest::default();
    while let Some(arg) = it.next() {
        if is(arg, "FORMAT") {
            let v = value_of(&mut it, "FORMAT", "NPY, BLOB, VALUES or ENCODED")?;
            req.format = match v {
                v if is(v, "NPY") => Format::Npy,
                v if is(v, "BLOB") => Format::Blob,
                v if is(v, "VALUES") => Format::Values,
                v if is(v, "ENCODED") => Format::Encoded,
                v => {
                    return invalid(format!(
                        "unknown format '{}' (expected NPY, BLOB, VALUES or ENCODED)",
                        text(v)
                    ))
                }
            };
        } else if is(arg, "AS") {
            req.cast = Some(DType::parse(value_of(&mut it, "AS", "a dtype")?)?);
        } else {
            return invalid(format!(
                "unknown option '{}' (expected FORMAT or AS)",
                text(arg)
            ));
        }
    }
    if req.format == Format::Encoded && req.cast.is_some() {
        return invalid("AS does not apply to FORMAT ENCODED: the stored form is replied as it is");
    }
    Ok(req)
}

/// NDARRAY.REDUCE's options after its op.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReduceOptions<'a> {
    /// `AXIS axis [axis ...]` (none: every axis).
    pub axes: Option<Vec<i64>>,
    pub keepdims: bool,
    pub select: Option<&'a [u8]>,
    /// `AS dtype`: NumPy's `dtype=`.
    pub dtype: Option<DType>,
    pub format: Format,
}

/// `[AXIS axis [axis ...]] [KEEPDIMS] [SELECT selection] [AS dtype] [FORMAT NPY|BLOB|VALUES]`,
/// any order; AXIS takes the integers that follow it.
pub fn parse_reduce_options<'a>(args: &'a [&'a [u8]]) -> ParseResult<ReduceOptions<'a>> {
    let mut it = args.iter().peekable();
    let mut opts = ReduceOptions::default();
    while let Some(arg) = it.next() {
        if is(arg, "AXIS") {
            let mut axes = Vec::new();
            while let Some(axis) = it
                .peek()
                .and_then(|a| std::str::from_utf8(a).ok()?.parse::<i64>().ok())
            {
                axes.push(axis);
                it.next();
            }
            if axes.is_empty() {
                return invalid(
                    "AXIS needs at least one axis (an integer; negative counts from the end)",
                );
            }
            opts.axes.get_or_insert_with(Vec::new).extend(axes);
        } else if is(arg, "KEEPDIMS") {
            opts.keepdims = true;
        } else if is(arg, "SELECT") {
            opts.select = Some(value_of(&mut it, "SELECT", "a selection")?);
        } else if is(arg, "AS") {
            opts.dtype = Some(DType::parse(value_of(&mut it, "AS", "a dtype")?)?);
        } else if is(arg, "FORMAT") {
            let v = value_of(&mut it, "FORMAT", "NPY, BLOB or VALUES")?;
            opts.format = match v {
                v if is(v, "NPY") => Format::Npy,
                v if is(v, "BLOB") => Format::Blob,
                v if is(v, "VALUES") => Format::Values,
                v => {
                    return invalid(format!(
                        "unknown format '{}' (expected NPY, BLOB or VALUES)",
                        text(v)
                    ))
                }
            };
        } else {
            return invalid(format!(
                "unknown option '{}' (expected AXIS, KEEPDIMS, SELECT, AS or FORMAT)",
                text(arg)
            ));
        }
    }
    Ok(opts)
}

/// NDARRAY.APPLY's operand, as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyOperand<'a> {
    Values(Vec<&'a [u8]>),
    Npy(&'a [u8]),
    Encoded(&'a [u8]),
}

/// NDARRAY.APPLY's arguments after its ufunc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyArgs<'a> {
    pub select: Option<&'a [u8]>,
    /// `RETURN`: reply the new array as GET would.
    pub return_array: bool,
    pub operand: ApplyOperand<'a>,
}

/// `[SELECT selection] [RETURN] <VALUES x [x ...] | NPY bytes | ENCODED payload>`: options in
/// any order, then the operand, last (VALUES takes every argument after it).
pub fn parse_apply<'a>(args: &'a [&'a [u8]]) -> ParseResult<ApplyArgs<'a>> {
    let mut it = args.iter().peekable();
    let (mut select, mut return_array) = (None, false);
    let usage = "expected VALUES x [x ...], NPY bytes or ENCODED payload, last";
    while let Some(arg) = it.next() {
        if is(arg, "SELECT") {
            select = Some(value_of(&mut it, "SELECT", "a selection")?);
        } else if is(arg, "RETURN") {
            return_array = true;
        } else if is(arg, "VALUES") {
            let values: Vec<&[u8]> = it.copied().collect();
            if values.is_empty() {
                return invalid("VALUES needs at least one value");
            }
            let operand = ApplyOperand::Values(values);
            return Ok(ApplyArgs {
                select,
                return_array,
                operand,
            });
        } else if is(arg, "NPY") || is(arg, "ENCODED") {
            let data = value_of(
                &mut it,
                if is(arg, "NPY") { "NPY" } else { "ENCODED" },
                "the data",
            )?;
            if let Some(extra) = it.next() {
                return invalid(format!(
                    "unexpected argument '{}' after the operand ({usage})",
                    text(extra)
                ));
            }
            let operand = if is(arg, "NPY") {
                ApplyOperand::Npy(data)
            } else {
                ApplyOperand::Encoded(data)
            };
            return Ok(ApplyArgs {
                select,
                return_array,
                operand,
            });
        } else {
            return invalid(format!(
                "unknown option '{}' (expected SELECT or RETURN, then the operand: {usage})",
                text(arg)
            ));
        }
    }
    invalid(format!("missing operand: {usage}"))
}

/// RESHAPE's new shape: dims, one of which may be -1 (`None`: inferred from the array's size, as
/// NumPy's `reshape(-1)`).
pub fn parse_new_shape(args: &[&[u8]]) -> ParseResult<Vec<Option<u64>>> {
    let dims: Vec<Option<u64>> = args
        .iter()
        .map(|a| {
            if *a == b"-1" {
                Ok(None)
            } else {
                parse_dim(a).map(Some)
            }
        })
        .collect::<ParseResult<_>>()?;
    if dims.iter().filter(|d| d.is_none()).count() > 1 {
        return Err(ArrayError::shape(
            "can only specify one unknown dimension (-1)",
        ));
    }
    Ok(dims)
}

/// Where NDARRAY.MGET's keys end: before a trailing `FORMAT <format>` (any format's name, so that a
/// format MGET does not reply is refused rather than read as two more keys), else at the end; at
/// least one key stays. `args` holds the command name at 0.
pub fn mget_keys_end(args: &[&[u8]]) -> usize {
    const FORMATS: [&str; 4] = ["NPY", "BLOB", "VALUES", "ENCODED"];
    let n = args.len();
    let option = n.checked_sub(2).and_then(|i| args.get(i));
    match (option, args.last()) {
        (Some(option), Some(value))
            if n >= 4 && is(option, "FORMAT") && FORMATS.iter().any(|f| is(value, f)) =>
        {
            n - 2
        }
        _ => n,
    }
}

/// NDARRAY.MGET's reply format (the arguments after its keys): `.npy` files, or the stored forms.
pub fn parse_mget_format(options: &[&[u8]]) -> ParseResult<Format> {
    match parse_read(options)?.format {
        format @ (Format::Npy | Format::Encoded) => Ok(format),
        _ => invalid(
            "NDARRAY.MGET replies FORMAT NPY (.npy files) or FORMAT ENCODED (the stored forms)",
        ),
    }
}

/// Data for APPEND and SETSLICE: elements of the stored dtype (BLOB, VALUES) or a `.npy` file.
#[derive(Debug, Clone, PartialEq)]
pub enum DataArg<'a> {
    Blob(&'a [u8]),
    Values(Vec<&'a [u8]>),
    Npy(&'a [u8]),
}

/// `{BLOB data | VALUES v [v ...] | NPY data}`
pub fn parse_data<'a>(args: &'a [&'a [u8]]) -> ParseResult<DataArg<'a>> {
    let usage = format!("expected {}", data_usage());
    let Some((kind, rest)) = args.split_first() else {
        return invalid(format!("missing data: {usage}"));
    };
    let single = |what: &str| match rest {
        [one] => Ok(*one),
        [] => invalid(format!("{what} needs data")),
        _ => invalid(format!("{what} takes one argument ({usage})")),
    };
    if is(kind, "BLOB") {
        Ok(DataArg::Blob(single("BLOB")?))
    } else if is(kind, "NPY") {
        Ok(DataArg::Npy(single("NPY")?))
    } else if is(kind, "VALUES") {
        if rest.is_empty() {
            return invalid("VALUES needs at least one value");
        }
        Ok(DataArg::Values(rest.to_vec()))
    } else {
        invalid(format!("unknown data kind '{}' ({usage})", text(kind)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_on_stack_spills_past_its_room_in_order() {
        let mut few = FewOnStack::<u64, 2>::default();
        assert!(few.is_empty());
        few.push(1);
        few.push(2);
        assert_eq!(&*few, [1, 2]);
        few.push(3);
        few.push(4);
        assert_eq!(&*few, [1, 2, 3, 4]);
        assert_eq!(few.into_vec(), vec![1, 2, 3, 4]);
        let mut small = FewOnStack::<u64, 4>::default();
        small.push(9);
        let v = small.into_vec();
        assert_eq!((v.len(), v.capacity()), (1, 1));
    }

    fn set(args: &[&'static str]) -> ParseResult<SetRequest<'static>> {
        let v: Vec<&'static [u8]> = args.iter().map(|s| s.as_bytes()).collect();
        let leaked: &'static [&'static [u8]] = Box::leak(v.into_boxed_slice());
        parse_set(leaked)
    }

    #[test]
    fn blob_with_dims_and_options() {
        let r = set(&[
            "float32", "2", "3", "compress", "ZLIB", "LEVEL", "5", "shuffle", "none", "EX", "10",
            "NX", "BLOB", "xy",
        ])
        .unwrap();
        assert_eq!(
            r.input,
            Input::Blob {
                dtype: DType::Float32,
                dims: vec![2, 3],
                bytes: b"xy"
            }
        );
        assert_eq!(
            r.store,
            StoreOptions {
                codec: Some(CodecName::Codec("zlib")),
                level: Some(5),
                shuffle: Some(Shuffle::NONE)
            }
        );
        assert_eq!(r.ttl, Ttl::In(10_000));
        assert_eq!(r.condition, Condition::IfAbsent);
    }

    #[test]
    fn scalars_values_and_npy() {
        let r = set(&["int8", "VALUES", "7"]).unwrap();
        assert_eq!(
            r.input,
            Input::Values {
                dtype: DType::Int8,
                dims: vec![],
                values: vec![b"7"]
            }
        );
        let r = set(&["AS", "float16", "PXAT", "5", "NPY", "file"]).unwrap();
        assert_eq!(r.input, Input::Npy(b"file"));
        assert_eq!(r.cast, Some(DType::Float16));
        assert_eq!(r.ttl, Ttl::At(5));
        assert!(set(&["KEEPTTL", "XX", "NPY", "f"]).is_ok());
    }

    #[test]
    fn probe_takes_an_optional_sample_size() {
        assert_eq!(parse_probe(&[]), Ok(DEFAULT_PROBE_SAMPLE));
        assert_eq!(parse_probe(&[b"sample", b"4096"]), Ok(4096));
        for (args, want) in [
            (&[&b"SAMPLE"[..]][..], "needs a number"),
            (&[b"SAMPLE", b"0"], "SAMPLE must be 1 to"),
            (&[b"SAMPLE", b"-5"], "non-negative integer"),
            (&[b"SAMPLE", b"67108865"], "SAMPLE must be 1 to"),
            (&[b"FAST"], "unknown option 'FAST'"),
        ] {
            let e = parse_probe(args).unwrap_err().to_string();
            assert!(e.contains(want), "{args:?}: {e}");
        }
    }

    #[test]
    fn malformed_set_arguments_are_refused() {
        let cases: &[(&[&str], &str)] = &[
            (&[], "missing data"),
            (&["float32", "2"], "missing data"),
            (&["float33", "BLOB", "x"], "unknown dtype"),
            (&["float32", "-2", "BLOB", "x"], "negative"),
            (&["float32", "2x", "BLOB", "x"], "invalid dimension"),
            (
                &["float32", "99999999999999999999", "BLOB", "x"],
                "invalid dimension",
            ),
            (&["float32", "BLOB"], "BLOB needs"),
            (&["float32", "BLOB", "x", "y"], "unexpected argument"),
            (&["BLOB", "x"], "needs a dtype"),
            (&["float32", "NPY", "x"], "carries its own dtype"),
            (
                &["float32", "1", "COMPRESS", "gzip", "BLOB", "x"],
                "unknown compression",
            ),
            (
                &["float32", "1", "LEVEL", "ten", "BLOB", "x"],
                "LEVEL must be an integer",
            ),
            (
                &["float32", "1", "SHUFFLE", "nibble", "BLOB", "x"],
                "unknown shuffle",
            ),
            (
                &["float32", "1", "NX", "XX", "BLOB", "x"],
                "mutually exclusive",
            ),
            (
                &["float32", "1", "EX", "1", "KEEPTTL", "BLOB", "x"],
                "mutually exclusive",
            ),
            (&["float32", "1", "EX", "0", "BLOB", "x"], "invalid expire"),
            (&["float32", "1", "EX", "-1", "BLOB", "x"], "invalid expire"),
            (
                &["float32", "1", "PX", "99999999999999999999", "BLOB", "x"],
                "invalid expire",
            ),
            (&["float32", "1", "AS", "BLOB", "x"], "unknown dtype"),
            (&["float32", "1", "FOO", "BLOB", "x"], "invalid dimension"),
            (
                &["float32", "1", "NX", "FOO", "BLOB", "x"],
                "unknown option",
            ),
            (&["float32", "1", "VALUES"], "at least one value"),
        ];
        for (args, want) in cases {
            let e = set(args).unwrap_err().to_string();
            assert!(e.contains(want), "{args:?}: '{e}' lacks '{want}'");
        }
    }

    #[test]
    fn attr_options_collect_in_order() {
        let r = set(&["ATTR", "v", "1", "attr", "src", "x", "NPY", "f"]).unwrap();
        assert_eq!(r.attrs, [(&b"v"[..], &b"1"[..]), (b"src", b"x")]);
        assert!(set(&["ATTR", "v", "NPY", "f"]).is_err());
        assert!(set(&["float32", "1", "ATTR", "v"]).is_err());
    }

    #[test]
    fn msetex_and_stack_options() {
        let o =
            parse_msetex_options(&[b"xx", b"px", b"50", b"compress", b"lz4", b"as", b"float16"])
                .unwrap();
        assert_eq!(o.condition, Condition::IfExists);
        assert_eq!(o.ttl, Ttl::In(50));
        assert_eq!(o.store.codec, Some(CodecName::Codec("lz4")));
        assert_eq!(o.cast, Some(DType::Float16));
        assert!(parse_msetex_options(&[b"NX", b"XX"]).is_err());
        assert!(parse_msetex_options(&[b"EX", b"1", b"KEEPTTL"]).is_err());
        assert!(parse_msetex_options(&[b"k3"]).is_err());
        assert_eq!(parse_new_shape(&[b"2", b"-1"]), Ok(vec![Some(2), None]));
        assert!(parse_new_shape(&[b"-1", b"-1"]).is_err());
        assert!(parse_new_shape(&[b"-2"]).is_err());
        let end = |args: &[&[u8]]| mget_keys_end(args);
        assert_eq!(end(&[b"mget", b"a", b"b"]), 3);
        assert_eq!(end(&[b"mget", b"a", b"FORMAT", b"encoded"]), 2);
        assert_eq!(end(&[b"mget", b"a", b"format", b"blob"]), 2);
        // A key named FORMAT, or FORMAT followed by a key that names no format, stays a key.
        assert_eq!(end(&[b"mget", b"FORMAT", b"ENCODED"]), 3);
        assert_eq!(end(&[b"mget", b"a", b"FORMAT", b"b"]), 4);
        assert_eq!(
            parse_mget_format(&[b"FORMAT", b"ENCODED"]),
            Ok(Format::Encoded)
        );
        assert_eq!(parse_mget_format(&[]), Ok(Format::Npy));
        assert!(parse_mget_format(&[b"FORMAT", b"BLOB"]).is_err());
        assert_eq!(parse_numkeys(b"2", 2, 4), Ok(2));
        assert!(parse_numkeys(b"3", 2, 5).is_err());
        assert!(parse_numkeys(b"0", 1, 5).is_err());
        assert!(parse_numkeys(b"-1", 1, 5).is_err());
        assert!(parse_numkeys(&u64::MAX.to_string().into_bytes(), 2, 5).is_err());
        let s = parse_stack_options(&[b"missing", b"fill", b"-1", b"FORMAT", b"blob"]).unwrap();
        assert_eq!(s.fill, Some(&b"-1"[..]));
        assert_eq!(s.format, Format::Blob);
        assert!(parse_stack_options(&[b"FORMAT", b"VALUES"]).is_err());
        let skip = parse_stack_options(&[b"MISSING", b"SKIP", b"REDUCE", b"Mean"]).unwrap();
        assert!(skip.skip && skip.reduce == Some(ReduceOp::Mean));
        assert!(parse_stack_options(&[b"MISSING", b"DROP"]).is_err());
        assert!(parse_stack_options(&[b"REDUCE", b"var"]).is_err());
        assert!(parse_stack_options(&[b"MISSING", b"FILL"]).is_err());
    }

    #[test]
    fn read_options_parse_in_any_order() {
        assert_eq!(parse_read(&[]).unwrap(), ReadRequest::default());
        let r = parse_read(&[b"as", b"float64", b"format", b"values"]).unwrap();
        assert_eq!(
            r,
            ReadRequest {
                format: Format::Values,
                cast: Some(DType::Float64)
            }
        );
        assert!(parse_read(&[b"FORMAT"]).is_err());
        assert!(parse_read(&[b"FORMAT", b"json"]).is_err());
        assert!(parse_read(&[b"EXTRA"]).is_err());
        assert_eq!(
            parse_read(&[b"format", b"encoded"]).unwrap().format,
            Format::Encoded
        );
        // The stored form is replied as it is: no cast.
        assert!(parse_read(&[b"FORMAT", b"ENCODED", b"AS", b"float64"]).is_err());
    }
}
