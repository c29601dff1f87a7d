//! Reductions (`NDARRAY.REDUCE`, `STACK … REDUCE`): NumPy's sum, prod, mean, min, max, var, std,
//! argmin, argmax, count_nonzero, any and all over chosen axes of a selection, with NumPy's result
//! dtypes. The selection is cut into pieces ([`Selection::pieces`]) that decode and reduce as
//! independent jobs of this thread's executor, then merge in piece order: the answer does not
//! depend on how many threads ran it (a replica and a worker agree with an inline run).
//!
//! Floats are accumulated in float64 (pairwise along contiguous runs), more accurate than NumPy's
//! own float32 sums; integer sums and products wrap as NumPy's do.

mod accs;
mod number;

use super::cast::check_same_kind;
use super::dtype::{DType, Kind};
use super::error::{ArrayError, ArrayResult};
use super::ndarray::NdArray;
use super::slice::Selection;
use crate::parallel;
use accs::Accs;
use number::{Number, C64};
use std::sync::Mutex;

/// A reduction NumPy names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReduceOp {
    Sum,
    Prod,
    Mean,
    Min,
    Max,
    Var,
    Std,
    ArgMin,
    ArgMax,
    CountNonzero,
    Any,
    All,
}

impl ReduceOp {
    pub const ALL: [ReduceOp; 12] = [
        ReduceOp::Sum,
        ReduceOp::Prod,
        ReduceOp::Mean,
        ReduceOp::Min,
        ReduceOp::Max,
        ReduceOp::Var,
        ReduceOp::Std,
        ReduceOp::ArgMin,
        ReduceOp::ArgMax,
        ReduceOp::CountNonzero,
        ReduceOp::Any,
        ReduceOp::All,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            ReduceOp::Sum => "sum",
            ReduceOp::Prod => "prod",
            ReduceOp::Mean => "mean",
            ReduceOp::Min => "min",
            ReduceOp::Max => "max",
            ReduceOp::Var => "var",
            ReduceOp::Std => "std",
            ReduceOp::ArgMin => "argmin",
            ReduceOp::ArgMax => "argmax",
            ReduceOp::CountNonzero => "count_nonzero",
            ReduceOp::Any => "any",
            ReduceOp::All => "all",
        }
    }

    /// The op named `name` (case-insensitive) among `allowed`.
    pub fn parse_among(name: &[u8], allowed: &[ReduceOp]) -> ArrayResult<ReduceOp> {
        allowed
            .iter()
            .copied()
            .find(|op| op.name().as_bytes().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                ArrayError::invalid(format!(
                    "unknown op '{}' (expected one of: {})",
                    name.escape_ascii(),
                    allowed
                        .iter()
                        .map(|op| op.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
    }

    pub fn parse(name: &[u8]) -> ArrayResult<ReduceOp> {
        Self::parse_among(name, &Self::ALL)
    }

    /// Whether the op takes NumPy's `dtype=` (our `AS`).
    pub const fn takes_dtype(self) -> bool {
        matches!(
            self,
            ReduceOp::Sum | ReduceOp::Prod | ReduceOp::Mean | ReduceOp::Var | ReduceOp::Std
        )
    }

    /// Whether a reduction over no element is an error (NumPy: no identity).
    const fn needs_elements(self) -> bool {
        matches!(
            self,
            ReduceOp::Min | ReduceOp::Max | ReduceOp::ArgMin | ReduceOp::ArgMax
        )
    }

    /// The dtype of the result for elements of `input`, with NumPy's `dtype=` if given.
    pub fn result_dtype(self, input: DType, requested: Option<DType>) -> ArrayResult<DType> {
        if let Some(to) = requested {
            if !self.takes_dtype() {
                return Err(ArrayError::invalid(format!(
                    "{} takes no AS dtype (NumPy's {} has no dtype= argument)",
                    self.name(),
                    self.name()
                )));
            }
            check_same_kind(input, to)?;
            let inexact = matches!(to.kind(), Kind::Float | Kind::Complex);
            if !inexact && matches!(self, ReduceOp::Mean | ReduceOp::Var | ReduceOp::Std) {
                return Err(ArrayError::dtype(format!(
                    "{} AS {}: mean, var and std take a float or complex dtype",
                    self.name(),
                    to.name()
                )));
            }
            // NumPy's var/std with a complex dtype= reply that dtype (the imaginary part 0).
            return Ok(to);
        }
        Ok(match self {
            ReduceOp::Sum | ReduceOp::Prod => match input.kind() {
                Kind::Bool | Kind::Signed => DType::Int64,
                Kind::Unsigned => DType::UInt64,
                _ => input,
            },
            ReduceOp::Mean => match input.kind() {
                Kind::Bool | Kind::Signed | Kind::Unsigned => DType::Float64,
                _ => input,
            },
            ReduceOp::Var | ReduceOp::Std => match input {
                DType::Complex64 => DType::Float32,
                DType::Complex128 => DType::Float64,
                d if matches!(d.kind(), Kind::Float) => d,
                _ => DType::Float64,
            },
            ReduceOp::Min | ReduceOp::Max => input,
            ReduceOp::ArgMin | ReduceOp::ArgMax | ReduceOp::CountNonzero => DType::Int64,
            ReduceOp::Any | ReduceOp::All => DType::Bool,
        })
    }
}

/// What to reduce: the op, the axes of the selection's result (`None`: all), NumPy's
/// `keepdims`, and `dtype=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReduceSpec {
    pub op: ReduceOp,
    pub axes: Option<Vec<i64>>,
    pub keepdims: bool,
    pub dtype: Option<DType>,
    /// Most bytes the running state of the results may take (the module passes its
    /// `max-array-bytes`): a state per result element, bigger than the element, so a reduction
    /// of a short last axis of a big array could otherwise allocate more than the array.
    pub max_bytes: u64,
}

/// A reduction's result: a small array, ready to reply.
#[derive(Debug, Clone, PartialEq)]
pub struct Reduced {
    pub dtype: DType,
    pub dims: Vec<u64>,
    pub data: Vec<u8>,
}

/// Elements per piece: 1 MiB of float32, small enough to keep every core busy on a 64 MiB array
/// and to bound each job's buffer.
const PIECE_ELEMENTS: u64 = 1 << 18;
/// Pieces run together before their partial results merge (bounds partial results in memory).
const PIECES_PER_WAVE: u64 = 16;

impl NdArray {
    /// NumPy's `np.<op>(a[sel], axis=…, keepdims=…, dtype=…)`.
    pub fn reduce(&self, sel: &Selection, spec: &ReduceSpec) -> ArrayResult<Reduced> {
        let layout = Layout::new(sel.dims(), spec)?;
        let input = self.dtype();
        let dtype = spec.op.result_dtype(input, spec.dtype)?;
        if spec.op.needs_elements() && layout.reduced_len == 0 {
            return Err(empty_error(spec.op));
        }
        let domain = Domain::of(spec.op, input, dtype);
        let pieces = sel.pieces(PIECE_ELEMENTS);
        let source = |i: u64, buf: &mut Vec<u8>| -> ArrayResult<u64> {
            let (start, piece) = pieces.piece(i);
            self.read_selection(&piece, buf)?;
            Ok(start)
        };
        let job = Job {
            op: spec.op,
            input,
            result: dtype,
            layout: &layout,
            max_bytes: spec.max_bytes,
        };
        let data = run_reduction(&job, domain, pieces.count(), &source)?;
        Ok(Reduced {
            dtype,
            dims: layout.result_dims,
            data,
        })
    }
}

/// Reduces `count` equal arrays of `dtype` and shape `dims` along a new first axis, as
/// `np.stack(arrays).<op>(axis=0)`: `read(i, buf)` appends the elements of array `i`.
pub fn reduce_stacked(
    max_bytes: u64,
    op: ReduceOp,
    dtype: DType,
    dims: &[u64],
    count: u64,
    read: &(dyn Fn(u64, &mut Vec<u8>) -> ArrayResult<()> + Sync),
) -> ArrayResult<Reduced> {
    let mut stacked = Vec::with_capacity(dims.len() + 1);
    stacked.push(count);
    stacked.extend_from_slice(dims);
    let spec = ReduceSpec {
        op,
        axes: Some(vec![0]),
        keepdims: false,
        dtype: None,
        max_bytes,
    };
    let layout = Layout::new(&stacked, &spec)?;
    let result = op.result_dtype(dtype, None)?;
    if op.needs_elements() && layout.reduced_len == 0 {
        return Err(empty_error(op));
    }
    // Rows are reduced in groups of about a piece's elements: a job per row cost more than the
    // row (1,000 embeddings of 512 floats).
    let size: u64 = dims.iter().product();
    let rows_per_piece = (PIECE_ELEMENTS / size.max(1)).max(1);
    let source = |i: u64, buf: &mut Vec<u8>| -> ArrayResult<u64> {
        let first = i.saturating_mul(rows_per_piece);
        for row in first..count.min(first.saturating_add(rows_per_piece)) {
            read(row, buf)?;
        }
        Ok(first.saturating_mul(size))
    };
    let job = Job {
        op,
        input: dtype,
        result,
        layout: &layout,
        max_bytes,
    };
    let pieces = count.div_ceil(rows_per_piece);
    let data = run_reduction(&job, Domain::of(op, dtype, result), pieces, &source)?;
    Ok(Reduced {
        dtype: result,
        dims: layout.result_dims,
        data,
    })
}

fn empty_error(op: ReduceOp) -> ArrayError {
    match op {
        ReduceOp::ArgMin | ReduceOp::ArgMax => {
            ArrayError::value(format!("attempt to get {} of an empty sequence", op.name()))
        }
        _ => ArrayError::value(format!(
            "zero-size array to reduction operation {} which has no identity",
            if op == ReduceOp::Min {
                "minimum"
            } else {
                "maximum"
            }
        )),
    }
}

/// The reduction's geometry over the selection's result: its dims with size-1 axes dropped and
/// neighbours of the same kind (reduced or kept) merged, as NumPy's iterator coalesces them.
#[derive(Debug, Clone)]
struct Layout {
    /// Coalesced dims, C order, and whether each is reduced.
    dims: Vec<u64>,
    reduced: Vec<bool>,
    /// Elements reduced into each result element.
    reduced_len: u64,
    /// Elements of the result, and its dims as NumPy shows them.
    result_len: u64,
    result_dims: Vec<u64>,
    /// argmin/argmax along one axis (not all): the coalesced axis it is, if not dropped.
    arg_axis: Option<usize>,
    /// argmin/argmax over all axes: indices are flat positions.
    arg_flat: bool,
}

impl Layout {
    fn new(dims: &[u64], spec: &ReduceSpec) -> ArrayResult<Layout> {
        let ndim = dims.len();
        let mut marked = vec![spec.axes.is_none(); ndim];
        if let Some(axes) = &spec.axes {
            for &axis in axes {
                let n = i64::try_from(ndim).unwrap_or(i64::MAX);
                let resolved = if axis < 0 { axis + n } else { axis };
                let slot = usize::try_from(resolved)
                    .ok()
                    .filter(|_| resolved < n)
                    .and_then(|r| marked.get_mut(r))
                    .ok_or_else(|| {
                        ArrayError::OutOfBounds(format!(
                            "axis {axis} is out of bounds for array of dimension {ndim}"
                        ))
                    })?;
                if *slot {
                    return Err(ArrayError::value("duplicate value in 'axis'"));
                }
                *slot = true;
            }
        }
        let arg = matches!(spec.op, ReduceOp::ArgMin | ReduceOp::ArgMax);
        if arg && spec.axes.as_ref().is_some_and(|a| a.len() > 1) {
            return Err(ArrayError::invalid(format!(
                "{} takes one AXIS at most (NumPy's {} reduces a single axis or all)",
                spec.op.name(),
                spec.op.name()
            )));
        }
        let (mut reduced_len, mut result_len) = (1u64, 1u64);
        let mut result_dims = Vec::with_capacity(ndim);
        for (&d, &r) in dims.iter().zip(&marked) {
            if r {
                reduced_len = reduced_len.saturating_mul(d);
                if spec.keepdims {
                    result_dims.push(1);
                }
            } else {
                result_len = result_len.saturating_mul(d);
                result_dims.push(d);
            }
        }
        // Coalesce: an empty selection keeps its dims (nothing is walked); otherwise size-1 axes
        // go and neighbours of one kind merge.
        let (mut cdims, mut creduced): (Vec<u64>, Vec<bool>) = (Vec::new(), Vec::new());
        let mut arg_axis = None;
        for (&d, &r) in dims.iter().zip(&marked) {
            if d == 1 {
                continue;
            }
            match (cdims.last_mut(), creduced.last()) {
                (Some(last), Some(&lr)) if lr == r && !(arg && r) => {
                    *last = last.saturating_mul(d);
                }
                _ => {
                    cdims.push(d);
                    creduced.push(r);
                }
            }
            if arg && r {
                arg_axis = Some(cdims.len() - 1);
            }
        }
        let arg_flat = arg && spec.axes.is_none();
        if arg_flat {
            // All axes, flat indices: one reduced axis.
            cdims = vec![reduced_len];
            creduced = vec![true];
            arg_axis = Some(0);
        }
        if cdims.is_empty() {
            cdims.push(1);
            creduced.push(true);
        }
        Ok(Layout {
            dims: cdims,
            reduced: creduced,
            reduced_len,
            result_len,
            result_dims,
            arg_axis,
            arg_flat,
        })
    }

    /// Calls `visit(segment)` for each stretch of `len` elements starting at flat position
    /// `start` that stays within one row of the last coalesced axis.
    fn walk(&self, start: u64, len: u64, visit: &mut dyn FnMut(Segment)) {
        let row = self.dims.last().copied().unwrap_or(1).max(1);
        let last_reduced = self.reduced.last().copied().unwrap_or(true);
        let (mut at, end) = (start, start.saturating_add(len));
        while at < end {
            let within = at % row;
            let n = (row - within).min(end - at);
            // Result index and the arg axis' coordinate of the row's element `within`.
            let (mut rest, mut out, mut out_stride, mut arg) = (at, 0u64, 1u64, 0u64);
            for (axis, (&d, &r)) in self.dims.iter().zip(&self.reduced).enumerate().rev() {
                let coord = rest % d.max(1);
                rest /= d.max(1);
                if !r {
                    out += coord * out_stride;
                    out_stride = out_stride.saturating_mul(d);
                }
                if Some(axis) == self.arg_axis {
                    arg = coord;
                }
            }
            visit(Segment {
                offset: at - start,
                len: n,
                out,
                spread: !last_reduced,
                arg: if self.arg_flat { at } else { arg },
            });
            at += n;
        }
    }
}

/// A stretch of elements within one row: they go to result `out` (all of them), or, when
/// `spread`, to results `out, out + 1, …`. `arg` is the arg axis' coordinate of the first element
/// (it counts up along the stretch unless `spread`).
#[derive(Debug, Clone, Copy)]
struct Segment {
    offset: u64,
    len: u64,
    out: u64,
    spread: bool,
    arg: u64,
}

/// The numbers a reduction computes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Domain {
    Int,
    UInt,
    Float,
    Complex,
}

impl Domain {
    fn of(op: ReduceOp, input: DType, result: DType) -> Domain {
        let by_kind = |d: DType| match d.kind() {
            Kind::Bool | Kind::Signed => Domain::Int,
            Kind::Unsigned => Domain::UInt,
            Kind::Float => Domain::Float,
            Kind::Complex => Domain::Complex,
        };
        match op {
            ReduceOp::Sum | ReduceOp::Prod => by_kind(result),
            ReduceOp::Mean | ReduceOp::Var | ReduceOp::Std => {
                if input.kind() == Kind::Complex || result.kind() == Kind::Complex {
                    Domain::Complex
                } else {
                    Domain::Float
                }
            }
            _ => by_kind(input),
        }
    }
}

/// What a reduction computes, decided before any element is read.
struct Job<'a> {
    op: ReduceOp,
    /// The dtype of the elements read, and of the result.
    input: DType,
    result: DType,
    layout: &'a Layout,
    /// See [`ReduceSpec::max_bytes`].
    max_bytes: u64,
}

/// The elements of a reduction: `source(i, buf)` appends piece `i`'s elements and returns the
/// flat position of its first; `pieces` of them.
type Source<'a> = &'a (dyn Fn(u64, &mut Vec<u8>) -> ArrayResult<u64> + Sync);

/// Reduces each piece as a job, merges them in order, and writes the result.
fn run_reduction(job: &Job, domain: Domain, pieces: u64, source: Source) -> ArrayResult<Vec<u8>> {
    match domain {
        Domain::Int => drive::<i64>(job, pieces, source),
        Domain::UInt => drive::<u64>(job, pieces, source),
        Domain::Float => drive::<f64>(job, pieces, source),
        Domain::Complex => drive::<C64>(job, pieces, source),
    }
}

fn drive<V: Number>(job: &Job, pieces: u64, source: Source) -> ArrayResult<Vec<u8>> {
    let Job {
        op,
        input,
        result,
        layout,
        max_bytes,
    } = *job;
    let len = usize::try_from(layout.result_len)
        .map_err(|_| ArrayError::TooLarge("result too large".into()))?;
    let state = (len as u64).saturating_mul(Accs::<V>::bytes_per_result(op) as u64);
    if state > max_bytes {
        return Err(ArrayError::TooLarge(format!(
            "the reduction keeps {state} bytes of running state ({} result elements), over the \
             max-array-bytes limit of {max_bytes}: reduce more axes, or a selection",
            layout.result_len
        )));
    }
    let mut total = Accs::<V>::new(op, len);
    let itemsize = input.itemsize();
    let mut wave_start = 0u64;
    while wave_start < pieces {
        let wave = PIECES_PER_WAVE.min(pieces - wave_start);
        let slots: Vec<Mutex<Option<ArrayResult<Partial<V>>>>> =
            (0..wave).map(|_| Mutex::new(None)).collect();
        parallel::for_each_index(wave as usize, &|j| {
            let i = wave_start + j as u64;
            let outcome = reduce_piece::<V>(op, input, itemsize, layout, i, source);
            if let Some(Ok(mut slot)) = slots.get(j).map(Mutex::lock) {
                *slot = Some(outcome);
            }
        });
        for slot in slots {
            let partial = slot
                .into_inner()
                .ok()
                .flatten()
                .ok_or_else(|| ArrayError::corrupt("a reduction job did not finish"))??;
            if let Some(accs) = partial.accs {
                total.merge(op, partial.first, accs);
            }
        }
        wave_start += wave;
    }
    let mut out = Vec::with_capacity(len.saturating_mul(result.itemsize()));
    total.finish(op, result, layout.reduced_len, &mut out);
    Ok(out)
}

/// The state of one piece's results, `first…` (none: the piece touched no result).
struct Partial<V: Number> {
    first: usize,
    accs: Option<Accs<V>>,
}

/// Elements converted to the reduction's numbers at a time: a run is fed in blocks of this many
/// (pairwise within a block, blocks added in order), so the converted copy stays in cache.
const BLOCK_ELEMENTS: usize = 4096;

thread_local! {
    /// The bytes of the piece this thread reduces, kept between pieces: a fresh buffer per
    /// piece cost page faults on every piece of a big array.
    static PIECE_BYTES: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

fn reduce_piece<V: Number>(
    op: ReduceOp,
    input: DType,
    itemsize: usize,
    layout: &Layout,
    i: u64,
    source: Source,
) -> ArrayResult<Partial<V>> {
    let mut bytes = PIECE_BYTES.take();
    bytes.clear();
    let outcome = source(i, &mut bytes)
        .and_then(|start| reduce_bytes::<V>(op, input, itemsize, layout, start, &bytes));
    PIECE_BYTES.set(bytes);
    outcome
}

/// Reduces `bytes`, the elements at flat positions `start…` of the reduction's input.
fn reduce_bytes<V: Number>(
    op: ReduceOp,
    input: DType,
    itemsize: usize,
    layout: &Layout,
    start: u64,
    bytes: &[u8],
) -> ArrayResult<Partial<V>> {
    let count = (bytes.len() / itemsize.max(1)) as u64;
    // The results this piece touches: a contiguous range (see `Layout::walk`).
    let (mut lo, mut hi) = (u64::MAX, 0u64);
    layout.walk(start, count, &mut |s| {
        let last = if s.spread { s.out + s.len - 1 } else { s.out };
        lo = lo.min(s.out);
        hi = hi.max(last);
    });
    if lo > hi {
        return Ok(Partial {
            first: 0,
            accs: None,
        });
    }
    let mut accs = Accs::<V>::new(op, (hi - lo + 1) as usize);
    let mut values: Vec<V> = Vec::with_capacity(BLOCK_ELEMENTS.min(count as usize));
    let mut failed = None;
    layout.walk(start, count, &mut |s| {
        let from = s.offset as usize * itemsize;
        let Some(raw) = bytes.get(from..from + s.len as usize * itemsize) else {
            failed = Some(ArrayError::corrupt("a piece read short"));
            return;
        };
        for (block, raw) in raw.chunks(BLOCK_ELEMENTS * itemsize).enumerate() {
            values.clear();
            V::load(input, raw, &mut values);
            let done = (block * BLOCK_ELEMENTS) as u64;
            let at = (s.out - lo) as usize;
            if s.spread {
                accs.feed_each(op, at + done as usize, &values, s.arg as i64);
            } else {
                accs.feed_run(op, at, &values, (s.arg + done) as i64);
            }
        }
    });
    match failed {
        Some(e) => Err(e),
        None => Ok(Partial {
            first: lo as usize,
            accs: Some(accs),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::array::Shape;
    use crate::codec::{Compression, Encoding, Shuffle};

    fn array_f64(dims: &[u64], values: &[f64]) -> NdArray {
        let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let enc = Encoding::new(Compression::named("lz4", None).unwrap(), Shuffle::BYTE, 8);
        let shape = Shape::new(dims.to_vec(), DType::Float64).unwrap();
        NdArray::encode(DType::Float64, shape, &raw, enc, 4096).unwrap()
    }

    fn f64s(r: &Reduced) -> Vec<f64> {
        r.data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }

    fn spec(op: ReduceOp, axes: Option<Vec<i64>>) -> ReduceSpec {
        ReduceSpec {
            op,
            axes,
            keepdims: false,
            dtype: None,
            max_bytes: u64::MAX,
        }
    }

    /// A plain reference: the sum over `axes` of a C-ordered (a, b, c) array.
    fn reference_sum(dims: [usize; 3], v: &[f64], axes: &[usize]) -> Vec<f64> {
        let kept: Vec<usize> = (0..3).filter(|a| !axes.contains(a)).collect();
        let out_dims: Vec<usize> = kept.iter().map(|&a| dims[a]).collect();
        let mut out = vec![0.0; out_dims.iter().product()];
        for i in 0..dims[0] {
            for j in 0..dims[1] {
                for k in 0..dims[2] {
                    let c = [i, j, k];
                    let mut o = 0;
                    for (n, &a) in kept.iter().enumerate() {
                        o = o * out_dims[n] + c[a];
                    }
                    out[o] += v[(i * dims[1] + j) * dims[2] + k];
                }
            }
        }
        out
    }

    #[test]
    fn sums_over_every_axis_combination_match_a_plain_loop_across_pieces() {
        let dims = [37usize, 5, 300];
        let v: Vec<f64> = (0..dims.iter().product::<usize>())
            .map(|i| ((i * 7919) % 1000) as f64 / 8.0)
            .collect();
        let a = array_f64(&[37, 5, 300], &v);
        let sel = Selection::resolve(b"...", a.shape()).unwrap();
        for axes in [
            vec![0],
            vec![1],
            vec![2],
            vec![0, 1],
            vec![0, 2],
            vec![1, 2],
            vec![0, 1, 2],
        ] {
            let got = a
                .reduce(
                    &sel,
                    &spec(
                        ReduceOp::Sum,
                        Some(axes.iter().map(|&x| x as i64).collect()),
                    ),
                )
                .unwrap();
            assert_eq!(f64s(&got), reference_sum(dims, &v, &axes), "axes {axes:?}");
        }
        let all = a.reduce(&sel, &spec(ReduceOp::Sum, None)).unwrap();
        assert!(all.dims.is_empty());
        assert_eq!(f64s(&all), [v.iter().sum::<f64>()]);
        // Pieces cut the selection in C order, whatever the target size.
        let small = sel.pieces(1000);
        assert!(small.count() > 10);
        let mut start_expected = 0;
        for i in 0..small.count() {
            let (start, piece) = small.piece(i);
            assert_eq!(start, start_expected);
            start_expected += piece.size();
        }
        assert_eq!(start_expected, sel.size());
    }

    #[test]
    fn arg_moments_and_empty_reductions_follow_numpy() {
        let a = array_f64(&[2, 3], &[3.0, 1.0, 2.0, 0.5, 9.0, 0.5]);
        let sel = Selection::resolve(b":", a.shape()).unwrap();
        let flat = a.reduce(&sel, &spec(ReduceOp::ArgMin, None)).unwrap();
        assert_eq!(flat.data, 3i64.to_le_bytes());
        let rows = a
            .reduce(&sel, &spec(ReduceOp::ArgMax, Some(vec![-1])))
            .unwrap();
        assert_eq!(rows.data, [0i64.to_le_bytes(), 1i64.to_le_bytes()].concat());
        let cols = a
            .reduce(&sel, &spec(ReduceOp::ArgMin, Some(vec![0])))
            .unwrap();
        assert_eq!(cols.data, [1i64, 0, 1].map(i64::to_le_bytes).concat());
        let var = a.reduce(&sel, &spec(ReduceOp::Var, Some(vec![1]))).unwrap();
        let v = f64s(&var);
        assert!((v[0] - 2.0 / 3.0).abs() < 1e-12 && (v[1] - 289.0 / 18.0).abs() < 1e-12);
        let mut keep = spec(ReduceOp::Mean, Some(vec![0]));
        keep.keepdims = true;
        assert_eq!(a.reduce(&sel, &keep).unwrap().dims, [1, 3]);
        let empty = Selection::resolve(b"0:0", a.shape()).unwrap();
        let e = a.reduce(&empty, &spec(ReduceOp::Min, None)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "zero-size array to reduction operation minimum which has no identity"
        );
        let s = a.reduce(&empty, &spec(ReduceOp::Sum, None)).unwrap();
        assert_eq!(f64s(&s), [0.0]);
        let m = a.reduce(&empty, &spec(ReduceOp::Mean, None)).unwrap();
        assert!(f64s(&m)[0].is_nan());
        assert!(a.reduce(&sel, &spec(ReduceOp::Sum, Some(vec![2]))).is_err());
        assert!(a
            .reduce(&sel, &spec(ReduceOp::Sum, Some(vec![1, -1])))
            .is_err());
        assert!(a
            .reduce(&sel, &spec(ReduceOp::ArgMin, Some(vec![0, 1])))
            .is_err());
        // Two results of var keep 2 running states (32 bytes each): refused under 64 bytes.
        let mut small = spec(ReduceOp::Var, Some(vec![1]));
        small.max_bytes = 63;
        let e = a.reduce(&sel, &small).unwrap_err();
        assert_eq!(e.code(), "LIMIT", "{e}");
        small.max_bytes = 64;
        assert!(a.reduce(&sel, &small).is_ok());
    }

    #[test]
    fn result_dtypes_are_numpys() {
        assert_eq!(
            ReduceOp::Sum.result_dtype(DType::Int8, None),
            Ok(DType::Int64)
        );
        assert_eq!(
            ReduceOp::Sum.result_dtype(DType::UInt8, None),
            Ok(DType::UInt64)
        );
        assert_eq!(
            ReduceOp::Mean.result_dtype(DType::Int8, None),
            Ok(DType::Float64)
        );
        assert_eq!(
            ReduceOp::Var.result_dtype(DType::Complex64, None),
            Ok(DType::Float32)
        );
        assert_eq!(
            ReduceOp::Max.result_dtype(DType::Float16, None),
            Ok(DType::Float16)
        );
        assert_eq!(
            ReduceOp::Any.result_dtype(DType::Float16, None),
            Ok(DType::Bool)
        );
        assert_eq!(
            ReduceOp::Sum.result_dtype(DType::Int8, Some(DType::Int32)),
            Ok(DType::Int32)
        );
        assert!(ReduceOp::Sum
            .result_dtype(DType::Float32, Some(DType::Int32))
            .is_err());
        assert!(ReduceOp::Max
            .result_dtype(DType::Float32, Some(DType::Float64))
            .is_err());
    }
}
