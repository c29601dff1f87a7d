//! The `npy` target: `.npy` decoding, and the same elements written in Fortran order and
//! big-endian.

use ndarray_core::array::dtype::Kind;
use ndarray_core::array::npy::{decode_npy, encode_npy};

/// Size limit for decoded inputs: large enough for every interesting shape, small enough that a
/// hostile header cannot make one run allocate much.
pub(crate) const NPY_MAX_BYTES: u64 = 1 << 24;

/// `.npy` decoding: whatever decodes must re-encode (C order, little-endian) to a file that decodes
/// to the same array, and re-encoding that gives the same bytes again. The same elements written
/// by a naive writer in Fortran order and big-endian must decode to the same C-order data too.
pub fn npy(data: &[u8]) {
    let Ok(first) = decode_npy(data, NPY_MAX_BYTES) else {
        return;
    };
    let file = encode_npy(first.dtype, &first.shape, &first.data);
    let again = decode_npy(&file, NPY_MAX_BYTES).expect("a re-encoded .npy file decodes");
    assert_eq!(again.dtype, first.dtype);
    assert_eq!(again.shape, first.shape);
    assert!(again.data == first.data, "re-encoded .npy data differs");
    assert_eq!(
        encode_npy(again.dtype, &again.shape, &again.data),
        file,
        "encoding is not canonical"
    );
    if first.data.len() > 1 << 16 {
        return;
    }
    let (dtype, shape) = (first.dtype, &first.shape);
    let itemsize = dtype.itemsize();
    let fortran = c_to_fortran(&first.data, shape.dims(), itemsize);
    let little = dtype.npy_descr();
    // Big-endian: '>' and every number (each half of a complex) reversed; bfloat16 has no '>' form.
    let (descr, body) = match little.strip_prefix('<') {
        Some(code) => {
            let unit = if dtype.kind() == Kind::Complex {
                itemsize / 2
            } else {
                itemsize
            };
            let mut swapped = fortran.clone();
            swapped.chunks_exact_mut(unit).for_each(<[u8]>::reverse);
            (format!(">{code}"), swapped)
        }
        None => (little.to_string(), fortran),
    };
    for major in [1, 2, 3] {
        let dict = format!("{{'descr': '{descr}', 'fortran_order': True, 'shape': {shape}, }}");
        let file = npy_file(major, &dict, &body);
        let decoded = decode_npy(&file, NPY_MAX_BYTES).expect("a Fortran-order file decodes");
        assert_eq!((decoded.dtype, &decoded.shape), (dtype, shape));
        assert!(
            decoded.data == first.data,
            "Fortran-order {descr} file decodes to other data"
        );
    }
}

/// A .npy file of version `major`.0 with the given header dict, padded as np.save pads it.
pub(crate) fn npy_file(major: u8, dict: &str, data: &[u8]) -> Vec<u8> {
    let width = if major == 1 { 2 } else { 4 };
    let preamble = 8 + width;
    let mut header = dict.to_string();
    while !(preamble + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut file = b"\x93NUMPY".to_vec();
    file.extend_from_slice(&[major, 0]);
    let len = (header.len() as u32).to_le_bytes();
    file.extend_from_slice(&len[..width]);
    file.extend_from_slice(header.as_bytes());
    file.extend_from_slice(data);
    file
}

/// C-order elements rearranged into Fortran order (first axis fastest), the obvious way: walk the
/// Fortran positions and fetch each element from its C offset.
fn c_to_fortran(c: &[u8], dims: &[u64], itemsize: usize) -> Vec<u8> {
    let dims: Vec<usize> = dims.iter().map(|&d| d as usize).collect();
    let count: usize = dims.iter().product();
    let mut c_strides = vec![0; dims.len()];
    let mut acc = 1;
    for (s, &d) in c_strides.iter_mut().zip(&dims).rev() {
        *s = acc;
        acc *= d;
    }
    let mut out = Vec::with_capacity(c.len());
    let mut index = vec![0; dims.len()];
    for _ in 0..count {
        let flat: usize = index.iter().zip(&c_strides).map(|(i, s)| i * s).sum();
        out.extend_from_slice(&c[flat * itemsize..(flat + 1) * itemsize]);
        for (i, &d) in index.iter_mut().zip(&dims) {
            *i += 1;
            if *i < d {
                break;
            }
            *i = 0;
        }
    }
    out
}
