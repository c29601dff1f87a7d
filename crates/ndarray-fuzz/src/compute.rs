//! The `compute` target: reductions (`NdArray::reduce`, what NDARRAY.REDUCE runs) and ufuncs
//! (`ufunc::apply`, what NDARRAY.APPLY runs) of arbitrary ops, axes, selections and operands over
//! small arrays of every dtype, whose elements are arbitrary bytes (NaNs, infinities, extremes).

use crate::helpers::pattern;
use ndarray_core::array::reduce::{ReduceOp, ReduceSpec};
use ndarray_core::array::slice::Selection;
use ndarray_core::array::ufunc::{apply, Operand, Ufunc, WeakScalar};
use ndarray_core::array::{DType, NdArray, Shape};
use ndarray_core::codec::{Compression, Encoding, Shuffle};

/// Bytes 0..8 choose the array and the op: byte 0 the dtype, byte 1 the ndim (0..=3) and whether
/// to keep dims, bytes 2..5 the dims (0..=6), byte 5 the reduction, byte 6 the axes (bit i: axis
/// i; 0xff: none given), byte 7 the ufunc and the operand's form. Then the selection text up to a
/// 0 byte, then the operand: a scalar literal, or raw bytes of an operand array. Nothing may
/// panic; an accepted reduction has the size its dtype and dims say, an accepted ufunc writes
/// one element per selected element.
pub fn compute(data: &[u8]) {
    let Some((head, rest)) = data.split_first_chunk::<8>() else {
        return;
    };
    let dtype = DType::ALL[usize::from(head[0]) % DType::ALL.len()];
    let ndim = usize::from(head[1] % 4);
    let keepdims = head[1] & 0x80 != 0;
    let dims: Vec<u64> = head[2..2 + ndim]
        .iter()
        .map(|&b| u64::from(b % 7))
        .collect();
    let Ok(shape) = Shape::new(dims.clone(), dtype) else {
        return;
    };
    let (text, operand) = match rest.iter().position(|&b| b == 0) {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &[][..]),
    };
    let nbytes = shape.size() as usize * dtype.itemsize();
    let raw = pattern(nbytes);
    let encoding = Encoding::new(
        Compression::named("lz4", None).expect("lz4"),
        Shuffle::BYTE,
        dtype.itemsize(),
    );
    let Ok(array) = NdArray::encode(dtype, shape.clone(), &raw, encoding, 64) else {
        return;
    };
    let Ok(sel) = Selection::resolve(if text.is_empty() { b"..." } else { text }, &shape) else {
        return;
    };

    let op = ReduceOp::ALL[usize::from(head[5]) % ReduceOp::ALL.len()];
    let axes = (head[6] != 0xff).then(|| {
        (0..8)
            .filter(|i| head[6] & (1 << i) != 0)
            .map(|i| i64::from(i) - i64::from(head[6] >> 7) * 4)
            .collect::<Vec<i64>>()
    });
    let spec = ReduceSpec {
        op,
        axes,
        keepdims,
        dtype: None,
        max_bytes: 1 << 20,
    };
    if let Ok(result) = array.reduce(&sel, &spec) {
        let size: u64 = result.dims.iter().product();
        assert_eq!(
            result.data.len() as u64,
            size * result.dtype.itemsize() as u64,
            "a reduction's bytes match its dtype and dims"
        );
    }

    let ufunc = Ufunc::ALL[usize::from(head[7] & 0x0f) % Ufunc::ALL.len()];
    let mut current = Vec::new();
    array
        .read_selection(&sel, &mut current)
        .expect("read_selection");
    let scalar;
    let odims: Vec<u64>;
    let operand = if head[7] & 0x80 == 0 {
        let Ok(s) = WeakScalar::parse(operand) else {
            return;
        };
        scalar = s;
        Operand::Weak(scalar)
    } else {
        let odtype = DType::ALL[usize::from(head[7] >> 4 & 0x7) % DType::ALL.len()];
        // Operand dims: the selection's trailing dims, some made 1 (broadcast).
        odims = sel
            .dims()
            .iter()
            .enumerate()
            .map(|(i, &d)| if head[0] & (1 << (i % 8)) != 0 { 1 } else { d })
            .collect();
        Operand::Array {
            dtype: odtype,
            dims: &odims,
            data: operand,
        }
    };
    if let Ok(out) = apply(ufunc, dtype, sel.dims(), &current, &operand) {
        assert_eq!(
            out.len(),
            current.len(),
            "a ufunc writes every selected element"
        );
    }
}
