//! NumPy basic indexing, plus one integer list (a gather, NumPy's `a[[3, 17, 42]]`): parsing
//! selections such as `"1:9:2, -1, ::3"`, `"..., 0"` or `"[3, -1, 3], :"` and resolving them
//! against a shape into the byte runs they cover. Redis-free.

use super::error::{ArrayError, ArrayResult};
use super::shape::{element_count, Shape};

/// One parsed item of a selection, before the shape is known.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Index(i128),
    /// `[i, j, ...]`: these indices in this order (negative from the end, repeats allowed).
    List(Vec<i128>),
    Slice {
        start: Option<i128>,
        stop: Option<i128>,
        step: Option<i128>,
    },
    Ellipsis,
}

/// What a selection takes along one axis, resolved against its length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AxisSel {
    /// One index: the axis is dropped from the result.
    Index(u64),
    /// `len` indices `start, start + step, …` (step may be negative); the axis stays.
    Range { start: u64, step: i64, len: u64 },
    /// These indices, in this order (a gather); the axis stays, as long as the list.
    List(Vec<u64>),
}

impl AxisSel {
    /// How many indices this axis contributes to the result's odometer (1 for an index).
    fn count(&self) -> u64 {
        match self {
            AxisSel::Index(_) => 1,
            AxisSel::Range { len, .. } => *len,
            AxisSel::List(indices) => indices.len() as u64,
        }
    }

    /// The `i`-th index this axis takes.
    fn at(&self, i: u64) -> u64 {
        match self {
            AxisSel::Index(ix) => *ix,
            AxisSel::Range { start, step, .. } => {
                (i128::from(*start) + i128::from(i) * i128::from(*step)) as u64
            }
            AxisSel::List(indices) => indices.get(i as usize).copied().unwrap_or(0),
        }
    }
}

/// A selection resolved against a shape: one entry per axis of the array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    axes: Vec<AxisSel>,
    dims: Vec<u64>,
}

/// Longest selection string accepted: room for a gather of about 100,000 indices.
const MAX_SELECTION_LEN: usize = 1 << 20;

/// Splits a selection at its top-level commas (not those inside a `[...]` list).
fn split_items(text: &str) -> ArrayResult<Vec<&str>> {
    let (mut items, mut depth, mut start) = (Vec::new(), 0usize, 0usize);
    for (at, c) in text.char_indices() {
        match c {
            '[' if depth == 0 => depth = 1,
            '[' => {
                return Err(ArrayError::selection(
                    "lists cannot nest: one integer list per axis",
                ))
            }
            ']' if depth == 1 => depth = 0,
            ']' => return Err(ArrayError::selection("unbalanced ']' in the selection")),
            ',' if depth == 0 => {
                items.push(text.get(start..at).unwrap_or_default().trim());
                start = at + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(ArrayError::selection("unclosed '[' in the selection"));
    }
    items.push(text.get(start..).unwrap_or_default().trim());
    Ok(items)
}

/// Parses a selection string. Items are comma-separated: `i`, `start:stop[:step]` (parts
/// optional), `...`, or a list `[i, j, ...]`; spaces are allowed. An empty string selects
/// everything.
fn parse(text: &[u8]) -> ArrayResult<Vec<Item>> {
    if text.len() > MAX_SELECTION_LEN {
        return Err(ArrayError::selection(format!(
            "selection is longer than {MAX_SELECTION_LEN} bytes"
        )));
    }
    let text = std::str::from_utf8(text)
        .map_err(|_| ArrayError::selection("selection is not valid UTF-8"))?;
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let items = split_items(text)?;
    // A trailing comma is allowed, as in Python ("3," is the tuple (3,)).
    let items = match items.split_last() {
        Some((last, rest)) if last.is_empty() && !rest.is_empty() => rest.to_vec(),
        _ => items,
    };
    items
        .into_iter()
        .map(|item| parse_item(item, text))
        .collect()
}

/// At most 100 characters of `text` for an error (a selection may be 1 MiB long).
fn shortened(text: &str) -> String {
    match text.char_indices().nth(100) {
        Some((at, _)) => format!("{}...", text.get(..at).unwrap_or_default()),
        None => text.to_string(),
    }
}

fn parse_item(item: &str, whole: &str) -> ArrayResult<Item> {
    let bad = || {
        ArrayError::selection(format!(
            "invalid selection '{}': '{}' is not an index, a slice start:stop:step, '...' or a list [i, j, ...]",
            shortened(whole).escape_default(),
            shortened(item).escape_default()
        ))
    };
    if item == "..." {
        return Ok(Item::Ellipsis);
    }
    if item.is_empty() {
        return Err(bad());
    }
    let number = |s: &str| -> ArrayResult<Option<i128>> {
        if s.is_empty() {
            return Ok(None);
        }
        // At most 19 digits keeps every value well inside i128 arithmetic below.
        let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
        if digits.is_empty() || digits.len() > 19 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        s.parse::<i128>().map(Some).map_err(|_| bad())
    };
    if let Some(inner) = item.strip_prefix('[').and_then(|i| i.strip_suffix(']')) {
        if inner.trim().is_empty() {
            return Ok(Item::List(Vec::new()));
        }
        return inner
            .split(',')
            .map(|n| number(n.trim())?.ok_or_else(bad))
            .collect::<ArrayResult<Vec<i128>>>()
            .map(Item::List);
    }
    let parts: Vec<&str> = item.split(':').map(str::trim).collect();
    match parts.as_slice() {
        [single] => number(single)?.map(Item::Index).ok_or_else(bad),
        [start, stop] => Ok(Item::Slice {
            start: number(start)?,
            stop: number(stop)?,
            step: None,
        }),
        [start, stop, step] => Ok(Item::Slice {
            start: number(start)?,
            stop: number(stop)?,
            step: number(step)?,
        }),
        _ => Err(bad()),
    }
}

impl Selection {
    /// Parses `text` and resolves it against `shape` exactly as NumPy's basic indexing does:
    /// integer indices must be in range (negative counts from the end), slice bounds are clipped.
    pub fn resolve(text: &[u8], shape: &Shape) -> ArrayResult<Selection> {
        let items = parse(text)?;
        let ndim = shape.ndim();
        let ellipses = items.iter().filter(|i| matches!(i, Item::Ellipsis)).count();
        if ellipses > 1 {
            return Err(ArrayError::selection(
                "an index can only have a single ellipsis ('...')",
            ));
        }
        check_one_list(&items)?;
        let indexed = items.len() - ellipses;
        if indexed > ndim {
            return Err(ArrayError::OutOfBounds(format!(
                "too many indices for array: array is {ndim}-dimensional, but {indexed} were indexed"
            )));
        }
        let mut full = Vec::with_capacity(ndim);
        for item in items {
            if matches!(item, Item::Ellipsis) {
                full.extend(std::iter::repeat_n(
                    Item::Slice {
                        start: None,
                        stop: None,
                        step: None,
                    },
                    ndim - indexed,
                ));
            } else {
                full.push(item);
            }
        }
        while full.len() < ndim {
            full.push(Item::Slice {
                start: None,
                stop: None,
                step: None,
            });
        }
        let axes = full
            .into_iter()
            .zip(shape.dims())
            .enumerate()
            .map(|(axis, (item, &len))| resolve_axis(item, axis, len))
            .collect::<ArrayResult<Vec<_>>>()?;
        Ok(Selection::from_axes(axes))
    }

    /// Whether an axis takes an integer list (a gather: runs in any order, repeats allowed).
    pub fn gathers(&self) -> bool {
        self.axes.iter().any(|a| matches!(a, AxisSel::List(_)))
    }

    /// The shape of the result (indexed axes dropped).
    pub fn dims(&self) -> &[u64] {
        &self.dims
    }

    pub fn axes(&self) -> &[AxisSel] {
        &self.axes
    }

    /// Number of selected elements.
    pub fn size(&self) -> u64 {
        element_count(&self.dims)
    }

    /// At most how many runs [`Selection::for_each_run`] visits (before adjacent ones merge),
    /// without visiting them: what a read of a compressed array may decode one block for each.
    pub fn runs_bound(&self, shape: &Shape, itemsize: usize) -> u64 {
        if self.size() == 0 {
            return 0;
        }
        self.run_layout(shape, itemsize)
            .outer_axes
            .iter()
            .fold(1u64, |runs, axis| runs.saturating_mul(axis.count()))
    }

    /// How the selection splits into runs: an odometer over `outer_axes` (byte strides
    /// `outer_strides`), each position a run of `block` bytes starting `last_offset` further on.
    fn run_layout(&self, shape: &Shape, itemsize: usize) -> RunLayout<'_> {
        let dims = shape.dims();
        // Byte strides of the array, C order.
        let mut strides = vec![0u64; dims.len()];
        let mut acc = itemsize as u64;
        for (s, d) in strides.iter_mut().zip(dims).rev() {
            *s = acc;
            acc = acc.saturating_mul(*d);
        }
        // Trailing axes taken whole with step 1 form one contiguous block with the axis before them.
        let mut inner = self.axes.len();
        let mut block = itemsize as u64;
        while let Some(prev) = inner.checked_sub(1) {
            match (self.axes.get(prev), dims.get(prev)) {
                (
                    Some(AxisSel::Range {
                        start: 0,
                        step: 1,
                        len,
                    }),
                    Some(d),
                ) if len == d => {
                    block = block.saturating_mul(*d);
                    inner = prev;
                }
                _ => break,
            }
        }
        // The last non-whole axis, if it steps by 1, extends the block too.
        let outer_axes = self.axes.get(..inner).unwrap_or_default();
        let (outer_axes, block, last_offset) = match outer_axes.split_last() {
            Some((
                AxisSel::Range {
                    start,
                    step: 1,
                    len,
                },
                rest,
            )) => {
                let stride = strides.get(inner - 1).copied().unwrap_or(0);
                (
                    rest,
                    block.saturating_mul(*len),
                    start.saturating_mul(stride),
                )
            }
            _ => (outer_axes, block, 0),
        };
        strides.truncate(outer_axes.len());
        RunLayout {
            outer_axes,
            outer_strides: strides,
            block,
            last_offset,
        }
    }

    /// Cuts the selection into pieces of at most about `target` elements whose results, one after
    /// the other, are the selection's result in C order (what a reduction runs as independent
    /// jobs). The cut depends only on the selection and `target`, never on threads, so a reduction
    /// merges the same pieces in the same order everywhere.
    pub fn pieces(&self, target: u64) -> Pieces<'_> {
        let counts: Vec<u64> = self.axes.iter().map(AxisSel::count).collect();
        // The outermost axis whose trailing axes hold at most `target` elements is cut; the axes
        // before it are taken one index at a time.
        let mut split = counts.len();
        let mut inner = 1u64;
        while let Some(prev) = split.checked_sub(1) {
            let count = counts.get(prev).copied().unwrap_or(1);
            if inner.saturating_mul(count) > target {
                break;
            }
            inner = inner.saturating_mul(count);
            split = prev;
        }
        // `split` now heads the run of trailing axes that fits; the axis before it is cut.
        let cut = split.checked_sub(1);
        let (prefix, per_piece, subs) = match cut.and_then(|c| counts.get(c).map(|n| (c, *n))) {
            Some((c, n)) => {
                let per_piece = (target / inner.max(1)).max(1);
                let prefix = counts
                    .get(..c)
                    .unwrap_or_default()
                    .iter()
                    .fold(1u64, |p, n| p.saturating_mul(*n));
                (prefix, per_piece, n.div_ceil(per_piece))
            }
            None => (1, 1, 1),
        };
        let count = if self.size() == 0 {
            0
        } else {
            prefix.saturating_mul(subs)
        };
        Pieces {
            sel: self,
            counts,
            cut,
            per_piece,
            subs,
            inner,
            count,
        }
    }

    /// The selection as text that [`Selection::resolve`] reads back to this very selection on the
    /// same shape (what a replicated SETSLICE of one piece of a bigger write carries).
    pub fn to_text(&self) -> String {
        if self.axes.is_empty() {
            return "...".to_string();
        }
        let items: Vec<String> = self
            .axes
            .iter()
            .map(|axis| match axis {
                AxisSel::Index(i) => i.to_string(),
                AxisSel::Range { len: 0, .. } => "0:0".to_string(),
                AxisSel::Range { start, step, len } => {
                    let stop = i128::from(*start) + i128::from(*len) * i128::from(*step);
                    if stop < 0 {
                        // A range that runs down past index 0 ends there: no stop.
                        format!("{start}::{step}")
                    } else {
                        format!("{start}:{stop}:{step}")
                    }
                }
                AxisSel::List(indices) => {
                    let list: Vec<String> = indices.iter().map(u64::to_string).collect();
                    format!("[{}]", list.join(", "))
                }
            })
            .collect();
        items.join(", ")
    }

    /// A selection of the same array from resolved axes.
    fn from_axes(axes: Vec<AxisSel>) -> Selection {
        let dims = axes
            .iter()
            .filter_map(|a| match a {
                AxisSel::Index(_) => None,
                kept => Some(kept.count()),
            })
            .collect();
        Selection { axes, dims }
    }

    /// Calls `visit(offset, len)` for each run of contiguous element bytes the selection covers, in
    /// the C order of the result. Adjacent runs are merged. `shape` is the array's shape.
    pub fn for_each_run(
        &self,
        shape: &Shape,
        itemsize: usize,
        mut visit: impl FnMut(u64, u64) -> ArrayResult<()>,
    ) -> ArrayResult<()> {
        if self.size() == 0 {
            return Ok(());
        }
        let RunLayout {
            outer_axes,
            outer_strides,
            block,
            last_offset,
        } = self.run_layout(shape, itemsize);
        let outer_strides = outer_strides.as_slice();
        let mut pending: Option<(u64, u64)> = None;
        let mut emit = |offset: u64| -> ArrayResult<()> {
            match pending {
                Some((start, len)) if start + len == offset => pending = Some((start, len + block)),
                Some((start, len)) => {
                    visit(start, len)?;
                    pending = Some((offset, block));
                }
                None => pending = Some((offset, block)),
            }
            Ok(())
        };
        // Odometer over the outer axes.
        let mut counters = vec![0u64; outer_axes.len()];
        loop {
            let mut offset = last_offset;
            for ((axis, &i), &stride) in outer_axes.iter().zip(&counters).zip(outer_strides) {
                offset += axis.at(i) * stride;
            }
            emit(offset)?;
            // Advance the odometer; done when it wraps.
            let mut carried = true;
            for (counter, axis) in counters.iter_mut().zip(outer_axes).rev() {
                *counter += 1;
                if *counter < axis.count() {
                    carried = false;
                    break;
                }
                *counter = 0;
            }
            if carried {
                break;
            }
        }
        if let Some((start, len)) = pending {
            visit(start, len)?;
        }
        Ok(())
    }
}

/// The pieces of [`Selection::pieces`]: piece `i` is a selection of the array and where its
/// elements start in the whole selection's C order.
pub struct Pieces<'a> {
    sel: &'a Selection,
    counts: Vec<u64>,
    /// The axis cut into ranges of `per_piece` indices (`subs` of them); none: one piece.
    cut: Option<usize>,
    per_piece: u64,
    subs: u64,
    /// Elements per index of the cut axis.
    inner: u64,
    count: u64,
}

impl Pieces<'_> {
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Piece `i` (below [`Pieces::count`]) and the position of its first element.
    pub fn piece(&self, i: u64) -> (u64, Selection) {
        let Some(cut) = self.cut else {
            return (0, self.sel.clone());
        };
        let (mut prefix, sub) = (i / self.subs.max(1), i % self.subs.max(1));
        let mut axes = self.sel.axes.clone();
        // The axes before the cut, one index each: the odometer digits of `prefix`.
        for (axis, count) in axes.iter_mut().zip(&self.counts).take(cut).rev() {
            let digit = prefix % (*count).max(1);
            prefix /= (*count).max(1);
            *axis = AxisSel::Index(axis.at(digit));
        }
        let total = self.counts.get(cut).copied().unwrap_or(1);
        let first = sub.saturating_mul(self.per_piece);
        let len = self.per_piece.min(total.saturating_sub(first));
        if let Some(axis) = axes.get_mut(cut) {
            *axis = match axis {
                AxisSel::Index(ix) => AxisSel::Index(*ix),
                AxisSel::Range { start, step, .. } => AxisSel::Range {
                    start: (i128::from(*start) + i128::from(first) * i128::from(*step)) as u64,
                    step: *step,
                    len,
                },
                AxisSel::List(indices) => AxisSel::List(
                    indices
                        .get(first as usize..(first + len) as usize)
                        .unwrap_or_default()
                        .to_vec(),
                ),
            };
        }
        let before = i / self.subs.max(1);
        let start = before
            .saturating_mul(total)
            .saturating_add(first)
            .saturating_mul(self.inner);
        (start, Selection::from_axes(axes))
    }
}

/// See [`Selection::run_layout`].
struct RunLayout<'a> {
    outer_axes: &'a [AxisSel],
    outer_strides: Vec<u64>,
    block: u64,
    last_offset: u64,
}

/// One integer list per selection, and next to the selection's integer indices if it has any:
/// NumPy broadcasts several lists together, and moves the list's axis to the front of the result
/// when integers stand apart from it; neither is implemented, so both are refused.
fn check_one_list(items: &[Item]) -> ArrayResult<()> {
    let lists = items.iter().filter(|i| matches!(i, Item::List(_))).count();
    if lists > 1 {
        return Err(ArrayError::selection(
            "one integer list per selection (NumPy would broadcast several lists together)",
        ));
    }
    if lists == 1 {
        let advanced: Vec<usize> = items
            .iter()
            .enumerate()
            .filter(|(_, i)| matches!(i, Item::List(_) | Item::Index(_)))
            .map(|(at, _)| at)
            .collect();
        let adjacent = advanced
            .windows(2)
            .all(|w| matches!(w, [a, b] if b - a == 1));
        if !adjacent {
            return Err(ArrayError::selection(
                "an integer list with integer indices apart from it (NumPy would move the list's axis first): put them next to each other, or slice instead of indexing",
            ));
        }
    }
    Ok(())
}

fn resolve_index(i: i128, axis: usize, len: u64) -> ArrayResult<u64> {
    let n = i128::from(len);
    let j = if i < 0 { i + n } else { i };
    if j < 0 || j >= n {
        return Err(ArrayError::OutOfBounds(format!(
            "index {i} is out of bounds for axis {axis} with size {len}"
        )));
    }
    Ok(j as u64)
}

fn resolve_axis(item: Item, axis: usize, len: u64) -> ArrayResult<AxisSel> {
    let n = i128::from(len);
    match item {
        Item::Index(i) => resolve_index(i, axis, len).map(AxisSel::Index),
        Item::List(indices) => indices
            .into_iter()
            .map(|i| resolve_index(i, axis, len))
            .collect::<ArrayResult<Vec<u64>>>()
            .map(AxisSel::List),
        Item::Slice { start, stop, step } => {
            let step = step.unwrap_or(1);
            if step == 0 {
                return Err(ArrayError::selection("slice step cannot be zero"));
            }
            let step = step.clamp(-i128::from(i64::MAX), i128::from(i64::MAX));
            // Python's slice.indices(len).
            let clip = |v: Option<i128>, default: i128, lo: i128, hi: i128| match v {
                None => default,
                Some(v) if v < 0 => (v + n).max(lo),
                Some(v) => v.min(hi),
            };
            let (first, count) = if step > 0 {
                let start = clip(start, 0, 0, n);
                let stop = clip(stop, n, 0, n);
                (
                    start,
                    if stop > start {
                        (stop - start + step - 1) / step
                    } else {
                        0
                    },
                )
            } else {
                let start = clip(start, n - 1, -1, n - 1);
                let stop = clip(stop, -1, -1, n - 1);
                (
                    start,
                    if start > stop {
                        (start - stop + (-step) - 1) / (-step)
                    } else {
                        0
                    },
                )
            };
            Ok(AxisSel::Range {
                start: first.max(0) as u64,
                step: step as i64,
                len: count as u64,
            })
        }
        Item::Ellipsis => Ok(AxisSel::Range {
            start: 0,
            step: 1,
            len,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::array::DType;

    fn shape(d: &[u64]) -> Shape {
        Shape::new(d.to_vec(), DType::Int8).unwrap()
    }

    fn sel(text: &str, d: &[u64]) -> ArrayResult<Selection> {
        Selection::resolve(text.as_bytes(), &shape(d))
    }

    /// Element indices (flat) the selection visits, from its runs, for itemsize 1.
    fn flat(text: &str, d: &[u64]) -> Vec<u64> {
        let s = sel(text, d).unwrap();
        let mut out = Vec::new();
        s.for_each_run(&shape(d), 1, |o, l| {
            out.extend(o..o + l);
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn slices_follow_python_rules() {
        assert_eq!(flat("2:5", &[10]), [2, 3, 4]);
        assert_eq!(flat("::-1", &[4]), [3, 2, 1, 0]);
        assert_eq!(flat("-3:", &[10]), [7, 8, 9]);
        assert_eq!(flat("5:2", &[10]), Vec::<u64>::new());
        assert_eq!(flat("1:9:3", &[10]), [1, 4, 7]);
        assert_eq!(flat("8:1:-3", &[10]), [8, 5, 2]);
        assert_eq!(flat("-100:100", &[3]), [0, 1, 2]);
        assert_eq!(flat("100::-1", &[3]), [2, 1, 0]);
        assert_eq!(flat(":-100:-1", &[3]), [2, 1, 0]);
        assert_eq!(flat("-1", &[3]), [2]);
        assert_eq!(sel("5:2", &[10]).unwrap().dims(), [0]);
    }

    #[test]
    fn multi_axis_selections_and_ellipsis() {
        // 3x4: rows 0..3, cols 0..4, flat = r*4+c
        assert_eq!(flat(":, 1", &[3, 4]), [1, 5, 9]);
        assert_eq!(flat("1", &[3, 4]), [4, 5, 6, 7]);
        assert_eq!(flat("..., 0", &[3, 4]), [0, 4, 8]);
        assert_eq!(flat("::-1, ::2", &[3, 4]), [8, 10, 4, 6, 0, 2]);
        assert_eq!(flat("1:, 1:3", &[3, 4]), [5, 6, 9, 10]);
        assert_eq!(sel("1:9:2, -1, ::3", &[10, 4, 7]).unwrap().dims(), [4, 3]);
        assert_eq!(sel("", &[2, 3]).unwrap().dims(), [2, 3]);
        assert_eq!(sel("0,", &[2, 3]).unwrap().dims(), [3]);
        assert_eq!(flat("", &[]), [0]);
        assert_eq!(flat("...", &[]), [0]);
    }

    #[test]
    fn integer_lists_gather_as_numpy() {
        assert_eq!(flat("[3, 0, -1, 3]", &[5]), [3, 0, 4, 3]);
        assert_eq!(flat("[2, 0], :", &[3, 4]), [8, 9, 10, 11, 0, 1, 2, 3]);
        assert_eq!(flat(":, [3, 1]", &[3, 4]), [3, 1, 7, 5, 11, 9]);
        assert_eq!(flat("[1, 2], 0", &[3, 4]), [4, 8]);
        assert_eq!(flat("1, [0, 0]", &[3, 4]), [4, 4]);
        assert_eq!(sel("[1, 1, 2], ::2", &[3, 4]).unwrap().dims(), [3, 2]);
        assert_eq!(sel("[]", &[3, 4]).unwrap().dims(), [0, 4]);
        assert!(sel("[1], :", &[3, 4]).unwrap().gathers());
        for (text, want) in [
            ("[1], [2]", "one integer list"),
            ("[0], :, 1", "apart from it"),
            ("[[1]]", "cannot nest"),
            ("[1, 2", "unclosed"),
            ("1]", "unbalanced"),
            ("[5]", "index 5 is out of bounds for axis 0 with size 5"),
            ("[1, a]", "invalid selection"),
            ("[1,,2]", "invalid selection"),
        ] {
            let e = sel(text, &[5, 5, 5]).map(|_| ()).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn runs_merge_across_whole_trailing_axes() {
        let s = sel("1:3", &[4, 5]).unwrap();
        let mut runs = Vec::new();
        s.for_each_run(&shape(&[4, 5]), 4, |o, l| {
            runs.push((o, l));
            Ok(())
        })
        .unwrap();
        assert_eq!(runs, [(20, 40)]);
    }

    #[test]
    fn runs_bound_counts_the_runs_a_visit_makes_at_most() {
        for (text, dims) in [
            ("1:3", &[4u64, 5][..]),
            ("::2", &[6, 5]),
            ("[3, 0, 3], :", &[4, 5]),
            ("1, 2:4", &[4, 5]),
            (":, ::2", &[4, 5]),
            ("..., 1", &[3, 4, 5]),
            ("2:2", &[4, 5]),
            ("3", &[4]),
        ] {
            let s = sel(text, dims).unwrap();
            let mut unmerged = 0u64;
            s.for_each_run(&shape(dims), 4, |_, _| {
                unmerged += 1;
                Ok(())
            })
            .unwrap();
            let bound = s.runs_bound(&shape(dims), 4);
            assert!(unmerged <= bound, "{text}: {unmerged} runs, bound {bound}");
            // Exact before merging: a run per odometer position.
            let expect = match text {
                "1:3" | "3" => 1,
                "::2" => 3,
                "[3, 0, 3], :" => 3,
                "1, 2:4" => 1,
                ":, ::2" => 12,
                "..., 1" => 12,
                _ => 0,
            };
            assert_eq!(bound, expect, "{text}");
        }
    }

    #[test]
    fn text_of_a_resolved_selection_resolves_to_it_again() {
        let d = [7, 5, 6];
        let s = shape(&d);
        for text in [
            "...",
            "1:6:2, -1, ::-1",
            "::-2, [4, 0, 4], 2:3",
            "5:1:-2, 0:0, 3",
            "-1, 1:, :",
            "[6, -7], :, ::3",
        ] {
            let sel = Selection::resolve(text.as_bytes(), &s).unwrap();
            let again = Selection::resolve(sel.to_text().as_bytes(), &s).unwrap();
            assert_eq!(again, sel, "{text} -> {}", sel.to_text());
            // Every piece's text resolves to that piece.
            let pieces = sel.pieces(7);
            for i in 0..pieces.count() {
                let (_, piece) = pieces.piece(i);
                let back = Selection::resolve(piece.to_text().as_bytes(), &s).unwrap();
                assert_eq!(back, piece, "{text} piece {i}: {}", piece.to_text());
            }
        }
        let scalar = Selection::resolve(b"...", &shape(&[])).unwrap();
        assert_eq!(scalar.to_text(), "...");
    }

    #[test]
    fn bad_selections_are_refused() {
        let cases = [
            ("1, 2, 3", "too many indices"),
            ("..., ...", "single ellipsis"),
            ("::0", "step cannot be zero"),
            ("5", "index 5 is out of bounds for axis 0 with size 5"),
            ("-6", "index -6 is out of bounds"),
            ("a", "invalid selection"),
            ("1.5", "invalid selection"),
            ("1:2:3:4", "invalid selection"),
            (",", "invalid selection"),
            ("1,,2", "invalid selection"),
            ("99999999999999999999999", "invalid selection"),
            ("- 1", "invalid selection"),
        ];
        for (text, want) in cases {
            let e = sel(text, &[5, 5]).map(|_| ()).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
        assert!(sel("0", &[0]).is_err());
        assert!(Selection::resolve(&[0xff], &shape(&[1])).is_err());
    }
}
