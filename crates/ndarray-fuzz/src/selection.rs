//! The `selection` target: selection strings resolved against small and huge shapes, read and
//! written through a chunked, compressed array.

use crate::helpers::{assert_rdb_round_trip, pattern, ITEMSIZES};
use ndarray_core::array::slice::{AxisSel, Selection};
use ndarray_core::array::{DType, NdArray, Shape};
use ndarray_core::codec::{Compression, Encoding, Shuffle};

/// A dtype of the given item size (the selection target only cares about the size).
fn dtype_of_size(itemsize: usize) -> DType {
    match itemsize {
        1 => DType::Int8,
        2 => DType::Int16,
        4 => DType::Int32,
        8 => DType::Int64,
        _ => DType::Complex128,
    }
}

/// Selections: bytes 0..5 choose a shape (byte 0: ndim 0..=4 and the item size; bytes 1..5: dims
/// 0..=9, or a huge dim for byte values 246 and up), the rest is the selection text. An accepted
/// selection must stay inside the array and cover exactly the elements a naive reference computes,
/// through runs inside the array's bytes; reading it through a chunked lz4 array, and writing it
/// (`NdArray::write_selection`: the plan and apply that SETSLICE runs), must work and touch
/// exactly those elements. Huge shapes (valid when another dim is 0, or within NumPy's int64
/// rule) only check what stays small: resolving, and the runs of selections of at most 2^16
/// elements.
pub fn selection(data: &[u8]) {
    let Some((head, text)) = data.split_first_chunk::<5>() else {
        return;
    };
    let ndim = usize::from(head[0] % 5);
    let itemsize = ITEMSIZES[usize::from(head[0] / 5 % 5)];
    let dtype = dtype_of_size(itemsize);
    let dims: Vec<u64> = head[1..=ndim].iter().map(|&b| selection_dim(b)).collect();
    let Ok(shape) = Shape::new(dims.clone(), dtype) else {
        return;
    };
    let Ok(sel) = Selection::resolve(text, &shape) else {
        return;
    };
    assert_eq!(sel.axes().len(), ndim, "one resolved axis per array axis");
    check_resolved_bounds(&sel, &dims);
    if sel.size() > 1 << 16 {
        return;
    }

    // The runs: whole items, inside the array, merged when adjacent, covering the selection.
    let nbytes = shape.size() * itemsize as u64;
    let mut runs: Vec<(u64, u64)> = Vec::new();
    sel.for_each_run(&shape, itemsize, |offset, len| {
        runs.push((offset, len));
        Ok(())
    })
    .expect("collecting runs does not fail");
    for (i, &(offset, len)) in runs.iter().enumerate() {
        assert!(len > 0, "empty run {i}");
        assert!(
            offset.checked_add(len).is_some_and(|end| end <= nbytes),
            "run {offset}+{len} outside an array of {nbytes} bytes"
        );
        assert!(
            offset % itemsize as u64 == 0 && len % itemsize as u64 == 0,
            "run {offset}+{len} splits an item of {itemsize} bytes"
        );
        if let Some(&(prev, prev_len)) = i.checked_sub(1).and_then(|p| runs.get(p)) {
            assert_ne!(prev + prev_len, offset, "adjacent runs were not merged");
        }
    }
    let total: u64 = runs.iter().map(|r| r.1).sum();
    assert_eq!(
        total,
        sel.size() * itemsize as u64,
        "runs cover the selection"
    );
    if nbytes > 1 << 16 {
        return;
    }

    // A small array: the runs against a naive reference (flat indices of the selected elements).
    let expected = reference_elements(&sel, &dims);
    assert_eq!(expected.len() as u64, sel.size());
    let visited: Vec<u64> = runs
        .iter()
        .flat_map(|&(offset, len)| (offset..offset + len).step_by(itemsize))
        .map(|b| b / itemsize as u64)
        .collect();
    assert_eq!(
        visited, expected,
        "runs visit the selected elements in order"
    );

    // The same selection through a chunked, compressed array (64-byte chunks: many of them).
    let raw = pattern(nbytes as usize);
    let encoding = Encoding::new(
        Compression::named("lz4", None).expect("lz4"),
        Shuffle::BYTE,
        itemsize,
    );
    let array = NdArray::encode(dtype, shape, &raw, encoding, 64).expect("encode");
    let item_at = |source: &[u8], e: u64| -> Vec<u8> {
        let at = e as usize * itemsize;
        source[at..at + itemsize].to_vec()
    };
    let mut out = Vec::new();
    array
        .read_selection(&sel, &mut out)
        .expect("read_selection");
    let want: Vec<u8> = expected.iter().flat_map(|&e| item_at(&raw, e)).collect();
    assert_eq!(out, want, "read_selection returns the selected elements");

    // Writing one item per selected element changes exactly those elements.
    let need = expected.len() * itemsize;
    let update: Vec<u8> = (0..need)
        .map(|i| (i as u8).wrapping_mul(31) ^ 0xa5)
        .collect();
    let mut written = array.clone();
    written
        .write_selection(&sel, &update)
        .expect("a write of matching data");
    let mut want = raw.clone();
    for (k, &e) in expected.iter().enumerate() {
        let at = e as usize * itemsize;
        want[at..at + itemsize].copy_from_slice(&update[k * itemsize..(k + 1) * itemsize]);
    }
    let mut back = Vec::new();
    written.read_all(&mut back).expect("read_all after a write");
    assert_eq!(back, want, "a write changed exactly the selection");
    assert_rdb_round_trip(&written);

    // One item broadcasts to every selected element.
    let item: Vec<u8> = (0..itemsize).map(|i| 0x40 + i as u8).collect();
    let mut broadcast = array.clone();
    broadcast
        .write_selection(&sel, &item)
        .expect("a write broadcasting one item");
    let mut want = raw.clone();
    for &e in &expected {
        let at = e as usize * itemsize;
        want[at..at + itemsize].copy_from_slice(&item);
    }
    back.clear();
    broadcast
        .read_all(&mut back)
        .expect("read_all after a broadcast");
    assert_eq!(back, want, "a broadcast write fills the selection");

    // Data of any other length is refused and changes nothing.
    let wrong = vec![0u8; need + 1];
    if wrong.len() != itemsize {
        let mut refused = array.clone();
        assert!(refused.write_selection(&sel, &wrong).is_err());
        assert_eq!(refused, array, "a refused write changed the array");
    }
}

/// A dim from one input byte: 0..=9 mostly, a huge one for the top ten byte values.
pub(crate) fn selection_dim(b: u8) -> u64 {
    const HUGE: [u64; 10] = [
        u64::MAX,
        i64::MAX as u64,
        1 << 62,
        (1 << 40) + 1,
        1 << 32,
        (1 << 31) - 1,
        1 << 20,
        65_537,
        1000,
        255,
    ];
    match b.checked_sub(246) {
        Some(i) => HUGE[usize::from(i)],
        None => u64::from(b % 10),
    }
}

/// Every resolved index lies inside its axis (the first and last of each range), and `dims()`, the
/// shape of the result, is the ranges' lengths.
fn check_resolved_bounds(sel: &Selection, dims: &[u64]) {
    for (axis, (sel_axis, &len)) in sel.axes().iter().zip(dims).enumerate() {
        let ends = match sel_axis {
            AxisSel::Index(i) => vec![i128::from(*i)],
            AxisSel::List(indices) => indices.iter().map(|&i| i128::from(i)).collect(),
            AxisSel::Range { len: 0, .. } => vec![],
            AxisSel::Range { start, step, len } => vec![
                i128::from(*start),
                i128::from(*start) + i128::from(len - 1) * i128::from(*step),
            ],
        };
        for i in ends {
            assert!(
                i >= 0 && i < i128::from(len),
                "axis {axis}: index {i} outside length {len}"
            );
        }
    }
    let range_lens: Vec<u64> = sel
        .axes()
        .iter()
        .filter_map(|a| match a {
            AxisSel::Range { len, .. } => Some(*len),
            AxisSel::List(indices) => Some(indices.len() as u64),
            AxisSel::Index(_) => None,
        })
        .collect();
    assert_eq!(sel.dims(), range_lens.as_slice(), "result shape");
}

/// Flat element indices a resolved selection covers, in the C order of the result, computed the
/// slow and obvious way (small arrays only).
fn reference_elements(sel: &Selection, dims: &[u64]) -> Vec<u64> {
    if sel.size() == 0 {
        // An axis of the result may still be huge (beside a 0 one): nothing to list.
        return Vec::new();
    }
    let mut flat = vec![0u64];
    for (sel_axis, &len) in sel.axes().iter().zip(dims) {
        let indices: Vec<u64> = match sel_axis {
            AxisSel::Index(i) => vec![*i],
            AxisSel::List(indices) => indices.clone(),
            AxisSel::Range { start, step, len } => (0..*len)
                .map(|k| i128::from(*start) + i128::from(k) * i128::from(*step))
                .map(|i| u64::try_from(i).expect("a resolved index is not negative"))
                .collect(),
        };
        flat = flat
            .iter()
            .flat_map(|&base| indices.iter().map(move |&i| base * len + i))
            .collect();
    }
    flat
}
