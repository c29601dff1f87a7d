//! Entry points for the fuzz targets under `fuzz/` (and for replaying their saved inputs in unit
//! tests). Each feeds arbitrary bytes to one decoder; none may panic.
//!
//! A decoder may refuse any input with an error; what it must never do is panic, overflow or
//! accept something it cannot give back. So each function here ignores errors, and when the input
//! is accepted it checks a round trip (decode → encode → decode gives the same value) with
//! `assert!`, so that libFuzzer reports a violated invariant as a crash.
//!
//! The command steps they run are the module's own (`commands::steps`, which the handlers call),
//! not copies. Compiled only for the fuzz targets (feature `fuzzing`) and the unit tests, never
//! into the module.
//!
//! `make fuzz` runs the targets; `fuzz/regressions/<target>/` holds every input that once crashed,
//! replayed by the unit tests below. `cargo test --lib fuzzing -- --ignored` rewrites the seed
//! corpora in `fuzz/seeds/`.

// These are test entry points, never called by the module: a panic here is how a broken invariant
// is reported to the fuzzer, so the crate's no-panic lints do not apply to this file.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use crate::array::dtype::Kind;
use crate::array::npy::{decode_npy, encode_npy};
use crate::array::slice::{AxisSel, Selection};
use crate::array::{DType, NdArray, Shape};
use crate::codec::{ChunkCodec, Compression, Encoding, Shuffle};
use crate::commands::parse::{parse_data, parse_dims, parse_read, parse_set, DataArg};
use crate::commands::steps::{
    append_new, append_rows, mset_value, reshape_to, write_slice, SetValue, WriteSettings,
};
use crate::persist::{self, RdbRead, RdbWrite};

/// Size limit for decoded inputs: large enough for every interesting shape, small enough that a
/// hostile header cannot make one run allocate much.
const NPY_MAX_BYTES: u64 = 1 << 24;
const SET_MAX_BYTES: u64 = 1 << 20;
/// The settings the targets write with: the module's defaults (config.rs), except the smallest
/// chunks any store may have (4 KiB: inputs over that have several chunks; smaller ones are refused
/// by every loader) and a limit of [`SET_MAX_BYTES`].
fn settings() -> WriteSettings {
    WriteSettings {
        chunk_bytes: crate::array::store::MIN_CHUNK_BYTES as usize,
        max_array_bytes: SET_MAX_BYTES,
        ..WriteSettings::current()
    }
}
/// The byte sizes of the dtypes: a fuzz input picks one by index.
const ITEMSIZES: [usize; 5] = [1, 2, 4, 8, 16];

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
fn npy_file(major: u8, dict: &str, data: &[u8]) -> Vec<u8> {
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

/// Selections: bytes 0..5 choose a shape (byte 0: ndim 0..=4 and the item size; bytes 1..5: dims
/// 0..=9, or a huge dim for byte values 246 and up), the rest is the selection text. An accepted
/// selection must stay inside the array and cover exactly the elements a naive reference computes,
/// through runs inside the array's bytes; reading it through a chunked lz4 array, and writing it
/// with SETSLICE's step, must work and touch exactly those elements. Huge shapes (valid when another dim is 0, or within
/// NumPy's int64 rule) only check what stays small: resolving, and the runs of selections of at
/// most 2^16 elements.
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
    write_slice(&mut written, text, DataArg::Blob(&update), SET_MAX_BYTES)
        .expect("SETSLICE with matching data");
    let mut want = raw.clone();
    for (k, &e) in expected.iter().enumerate() {
        let at = e as usize * itemsize;
        want[at..at + itemsize].copy_from_slice(&update[k * itemsize..(k + 1) * itemsize]);
    }
    let mut back = Vec::new();
    written.read_all(&mut back).expect("read_all after a write");
    assert_eq!(back, want, "SETSLICE wrote exactly the selection");
    assert_rdb_round_trip(&written);

    // One item broadcasts to every selected element.
    let item: Vec<u8> = (0..itemsize).map(|i| 0x40 + i as u8).collect();
    let mut broadcast = array.clone();
    write_slice(&mut broadcast, text, DataArg::Blob(&item), SET_MAX_BYTES)
        .expect("SETSLICE broadcasting one item");
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
        assert!(write_slice(&mut refused, text, DataArg::Blob(&wrong), SET_MAX_BYTES).is_err());
        assert_eq!(refused, array, "a refused write changed the array");
    }
}

/// A dim from one input byte: 0..=9 mostly, a huge one for the top ten byte values.
fn selection_dim(b: u8) -> u64 {
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
        let ends = match *sel_axis {
            AxisSel::Index(i) => vec![i128::from(i)],
            AxisSel::Range { len: 0, .. } => vec![],
            AxisSel::Range { start, step, len } => vec![
                i128::from(start),
                i128::from(start) + i128::from(len - 1) * i128::from(step),
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
        let indices: Vec<u64> = match *sel_axis {
            AxisSel::Index(i) => vec![i],
            AxisSel::Range { start, step, len } => (0..len)
                .map(|k| i128::from(start) + i128::from(k) * i128::from(step))
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

/// Bytes that compress in some 64-byte chunks and not in others.
fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| {
            if (i / 48) % 3 == 0 {
                (i / 48) as u8
            } else {
                (i as u8).wrapping_mul(97) ^ (i / 7) as u8
            }
        })
        .collect()
}

/// `NDARRAY.SET` arguments (after the key), split on 0x00 ([`split_args`]): an accepted request runs SET's own steps
/// (decode, cast, resolve the encoding, encode in 4 KiB chunks) and must read back exactly the
/// decoded bytes, survive RDB, `.npy` and AOF round trips. The other argument parsers get the same
/// arguments; data they accept is appended (APPEND's steps) to the SET array or to a sample one.
pub fn set_args(data: &[u8]) {
    let args = split_args(data);
    let _ = parse_read(&args);
    let _ = parse_dims(&args);
    // MSETEX's and STACK's options, and their numkeys, from the same arguments.
    let _ = crate::commands::parse::parse_msetex_options(&args);
    let _ = crate::commands::parse::parse_stack_options(&args);
    if let Some(first) = args.first() {
        let _ = crate::commands::parse::parse_numkeys(first, 2, args.len().saturating_sub(1));
    }
    let settings = settings();
    let appended = parse_data(&args).ok();
    let Ok(req) = parse_set(&args) else {
        if let Some(data) = appended {
            append_to_sample(data, &settings);
        }
        return;
    };
    let Ok(mut value) = SetValue::prepare(req.input, req.cast, req.store, &settings) else {
        return;
    };
    // ATTR options: within the limits or refused, as the handler does.
    let Ok(attrs) = crate::array::attrs::Attrs::from_pairs(req.attrs.iter().copied()) else {
        return;
    };
    value.attrs = attrs;
    let elements = value.elements.clone();
    let array = value
        .encode(&settings)
        .expect("decoded elements always encode");
    let mut back = Vec::new();
    array.read_all(&mut back).expect("read_all");
    assert!(
        back == *elements.data,
        "SET pipeline did not read back its data"
    );
    assert_rdb_round_trip(&array);
    // GET's default reply is a .npy file of the same array.
    let file = encode_npy(array.dtype(), array.shape(), &back);
    let npy = decode_npy(&file, u64::MAX).expect("GET's .npy decodes");
    assert!(npy.data == back && npy.shape == *array.shape() && npy.dtype == array.dtype());
    assert_aof_rewrite_rebuilds(&array);
    // `SET key NPY file` (no options): `file` is also APPEND and MSET data.
    if let Some(DataArg::Npy(file)) = appended {
        assert_npy_appends(&array, &back, file, &settings);
    }
}

/// The arguments of a [`set_args`] input: split on 0x00, except that the argument after an `NPY`
/// keyword is the rest of the input (a `.npy` file holds zero bytes).
fn split_args(data: &[u8]) -> Vec<&[u8]> {
    let mut args = Vec::new();
    let mut rest = data;
    while let Some(at) = rest.iter().position(|&b| b == 0) {
        let arg = &rest[..at];
        rest = &rest[at + 1..];
        args.push(arg);
        if arg.eq_ignore_ascii_case(b"NPY") {
            break;
        }
    }
    args.push(rest);
    args
}

/// `array` was SET from the `.npy` `file` (whose elements read back as `raw`) without options:
/// MSET must store the same array, APPEND on a missing key too (unless 0-d), and APPEND of `file`
/// to `array` must double axis 0.
fn assert_npy_appends(array: &NdArray, raw: &[u8], file: &[u8], settings: &WriteSettings) {
    let stored = mset_value(3, b"key", file, settings).expect("MSET takes what SET took");
    assert_eq!(&stored, array, "MSET stores another array than SET");
    let dims = array.shape().dims();
    match (append_new(DataArg::Npy(file), settings), dims.first()) {
        (Ok((created, len0)), Some(&want)) => {
            assert_eq!(len0, want, "APPEND created an array of another length");
            assert_eq!(&created, array, "APPEND creates another array than SET");
        }
        (Err(_), None) => {}
        (Ok(_), None) => panic!("APPEND created an array from 0-d data"),
        (Err(e), Some(_)) => panic!("APPEND refused to create from SET's data: {e:?}"),
    }
    let mut doubled = array.clone();
    let Ok(new_len) = append_rows(&mut doubled, DataArg::Npy(file), settings.max_array_bytes)
    else {
        // A 0-d array, rows of no bytes, or over the size limit.
        assert_eq!(&doubled, array, "a refused APPEND changed the array");
        return;
    };
    let len0 = dims
        .first()
        .copied()
        .expect("APPEND to a 0-d array is refused");
    assert_eq!(new_len, 2 * len0, "APPEND of the array's own file");
    assert_eq!(doubled.shape().dims().first(), Some(&new_len));
    let mut got = Vec::new();
    doubled.read_all(&mut got).expect("read_all after APPEND");
    assert!(got == [raw, raw].concat(), "APPEND wrote other rows");
    assert_rdb_round_trip(&doubled);
}

/// The elements of [`append_sample`]: float32 0.0 to 5.0.
fn append_sample_raw() -> Vec<u8> {
    (0..6u8).flat_map(|i| f32::from(i).to_le_bytes()).collect()
}

/// The array [`set_args`] appends data-only inputs to: float32 of shape (2, 3).
fn append_sample(settings: &WriteSettings) -> NdArray {
    let shape = Shape::new(vec![2, 3], DType::Float32).expect("shape");
    let encoding = settings
        .default_encoding(4)
        .expect("the fixed settings name a codec")
        .for_data(&append_sample_raw(), 4);
    NdArray::encode(
        DType::Float32,
        shape,
        &append_sample_raw(),
        encoding,
        settings.chunk_bytes,
    )
    .expect("encode")
}

/// APPEND (its own steps) of `data` to [`append_sample`]: accepted rows keep the old ones, extend
/// axis 0 by whole rows and survive RDB and AOF round trips.
fn append_to_sample(data: DataArg, settings: &WriteSettings) {
    const ROW: usize = 3 * 4;
    let raw = append_sample_raw();
    let sample = append_sample(settings);
    let mut array = sample.clone();
    let Ok(new_len) = append_rows(&mut array, data, settings.max_array_bytes) else {
        assert_eq!(array, sample, "a refused APPEND changed the array");
        return;
    };
    assert!(new_len >= 2, "APPEND shortened the array");
    assert_eq!(array.shape().dims(), [new_len, 3]);
    let mut got = Vec::new();
    array.read_all(&mut got).expect("read_all after APPEND");
    assert_eq!(got.len() as u64, new_len * ROW as u64);
    assert!(got[..2 * ROW] == raw, "APPEND changed the old rows");
    assert_rdb_round_trip(&array);
    assert_aof_rewrite_rebuilds(&array);
}

/// Replays the AOF rewrite of a small array (in 256-byte pieces, so big ones take the
/// SET + APPEND + RESHAPE path) through the command parsers and the commands' own steps: it must
/// rebuild the same dtype, shape, encoding and elements.
fn assert_aof_rewrite_rebuilds(array: &NdArray) {
    if array.nbytes() > 1 << 16 {
        return;
    }
    let mut commands: Vec<Vec<Vec<u8>>> = Vec::new();
    crate::aof::rewrite(array, 256, |c| commands.push(c.to_vec())).expect("AOF rewrite");
    // The server replaying the file has the default settings and the array's chunk size.
    let settings = WriteSettings {
        chunk_bytes: array.store().chunk_bytes() as usize,
        max_array_bytes: u64::MAX,
        ..WriteSettings::current()
    };
    let mut rebuilt: Option<NdArray> = None;
    for command in &commands {
        let (name, args) = command.split_first().expect("a command has a name");
        let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        let name = String::from_utf8_lossy(name);
        match name.as_ref() {
            "NDARRAY.SET" => {
                let req = parse_set(&args).expect("rewritten SET parses");
                let mut value = SetValue::prepare(req.input, req.cast, req.store, &settings)
                    .expect("rewritten SET is valid");
                value.attrs = crate::array::attrs::Attrs::from_pairs(req.attrs.iter().copied())
                    .expect("rewritten attributes are within the limits");
                rebuilt = Some(value.encode(&settings).expect("rewritten SET encodes"));
            }
            "NDARRAY.APPEND" => {
                let data = parse_data(&args).expect("rewritten APPEND parses");
                assert!(matches!(data, DataArg::Blob(_)), "APPEND of BLOB data");
                let target = rebuilt.as_mut().expect("APPEND after SET");
                append_rows(target, data, settings.max_array_bytes)
                    .expect("rewritten APPEND applies");
            }
            "NDARRAY.RESHAPE" => {
                let dims = parse_dims(&args).expect("rewritten RESHAPE parses");
                let target = rebuilt.as_mut().expect("RESHAPE after SET");
                reshape_to(target, dims).expect("rewritten RESHAPE applies");
            }
            "NDARRAY.STAMP" => {
                let at: u64 = std::str::from_utf8(args.first().copied().unwrap_or_default())
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .expect("rewritten STAMP has a time");
                rebuilt
                    .as_mut()
                    .expect("STAMP after SET")
                    .set_updated_at(at);
            }
            other => panic!("AOF rewrite emitted {other}"),
        }
    }
    let rebuilt = rebuilt.expect("AOF rewrite emitted a SET");
    assert_eq!(rebuilt.dtype(), array.dtype());
    assert_eq!(rebuilt.shape(), array.shape());
    let normal = |e: Encoding| Encoding::new(e.compression, e.shuffle, array.dtype().itemsize());
    assert_eq!(rebuilt.encoding(), normal(array.encoding()), "AOF encoding");
    let (mut want, mut got) = (Vec::new(), Vec::new());
    array.read_all(&mut want).expect("read_all");
    rebuilt
        .read_all(&mut got)
        .expect("read_all of the rebuilt array");
    assert!(got == want, "AOF rewrite rebuilt other elements");
    assert_eq!(
        rebuilt.meta(),
        array.meta(),
        "AOF rewrite rebuilt other metadata"
    );
}

/// The encoding and item size the first two bytes of a `chunk` input choose. Byte 0: with bit 7
/// set, zstd at level `(b & 0x3f) % 30 - 7`; otherwise `(b & 0x3f) % 3` picks none, lz4 or zlib
/// (level `(b & 0x3f) / 3 % 10`); bit 6 makes the filter a bit shuffle. Byte 1: bit 0 turns the
/// filter on, the rest picks the item size. (Seeds from before zstd used bytes below 64.)
fn chunk_params(b0: u8, b1: u8) -> (Compression, Shuffle, usize) {
    let low = b0 & 0x3f;
    let compression = if b0 & 0x80 != 0 {
        Compression::named("zstd", Some(i32::from(low % 30) - 7))
    } else {
        match low % 3 {
            0 => Ok(Compression::NONE),
            1 => Compression::named("lz4", None),
            _ => Compression::named("zlib", Some(i32::from(low / 3 % 10))),
        }
    };
    let shuffle = match (b1 & 1 == 1, b0 & 0x40 != 0) {
        (false, _) => Shuffle::NONE,
        (true, false) => Shuffle::BYTE,
        (true, true) => Shuffle::BIT,
    };
    let itemsize = ITEMSIZES[usize::from(b1 >> 1) % ITEMSIZES.len()];
    (compression.expect("levels in range"), shuffle, itemsize)
}

/// The inverse of [`chunk_params`] for the seeds.
#[cfg(test)]
fn chunk_head0(compression: Compression, shuffle: Shuffle) -> u8 {
    let bit = if shuffle == Shuffle::BIT { 0x40 } else { 0 };
    let level = compression.level().unwrap_or(0);
    bit | match compression.name() {
        "none" => 0,
        "lz4" => 1,
        "zlib" => 2 + 3 * level as u8,
        _ => 0x80 | (level + 7) as u8,
    }
}

/// One stored chunk: bytes 0 and 1 choose the encoding and item size ([`chunk_params`]), bytes 2..6 a claimed raw length (at most 1 MiB); the rest is the chunk.
/// Decoding it must fail or succeed, never panic. The rest is also encoded as raw data and must
/// decode back to itself, and only to its own length.
pub fn chunk(data: &[u8]) {
    let Some((head, rest)) = data.split_first_chunk::<6>() else {
        return;
    };
    let (compression, shuffle, itemsize) = chunk_params(head[0], head[1]);
    let claimed = u32::from_le_bytes([head[2], head[3], head[4], head[5]]) % ((1 << 20) + 1);
    let encoding = Encoding::new(compression, shuffle, itemsize);
    let mut codec = ChunkCodec::new(encoding, itemsize);
    let _ = codec.decode(rest, &mut vec![0; claimed as usize]);

    if let Some(stored) = codec.encode(rest).expect("encoding never fails") {
        assert!(stored.len() < rest.len(), "an encoded chunk is smaller");
        let mut back = vec![0; rest.len()];
        codec
            .decode(&stored, &mut back)
            .expect("an encoded chunk decodes");
        assert_eq!(back, rest, "chunk round trip");
        let mut long = vec![0; rest.len() + 1];
        assert!(codec.decode(&stored, &mut long).is_err(), "decoded short");
        if let Some(shorter) = rest.len().checked_sub(1) {
            let mut short = vec![0; shorter];
            assert!(codec.decode(&stored, &mut short).is_err(), "decoded long");
        }
    }
}

/// An RDB payload in a simple byte format: u64 = 8 bytes LE, bytes = u32 LE length then the bytes,
/// read as each encoding version (1: no metadata; 2: `updated_at` and attributes). Whatever loads
/// must save and load back to an equal array, read, and be rebuilt by replaying its AOF rewrite.
pub fn rdb(data: &[u8]) {
    for version in [persist::ENCODING_V1, persist::ENCODING_V2] {
        let mut reader = ByteReader { rest: data };
        let Ok(array) = persist::load(&mut reader, version) else {
            continue;
        };
        if version == persist::ENCODING_V1 {
            assert_eq!(array.meta(), &Default::default(), "v1 has no metadata");
        }
        assert_rdb_round_trip(&array);
        let mut out = Vec::new();
        array.read_all(&mut out).expect("a loaded array reads");
        assert_eq!(out.len() as u64, array.nbytes());
        assert_aof_rewrite_rebuilds(&array);
    }
}

/// An `NDARRAY.PUTENCODED` payload, as any client may send one. Whatever loads must save to a
/// canonical payload that loads back equal, read, and travel as replication pieces (appended chunk runs, then reshaped) to an
/// equal array.
pub fn payload(data: &[u8]) {
    let Ok(array) = persist::from_payload(data) else {
        return;
    };
    // Loading normalises fields that do not apply (a level or a shuffle without compression):
    // once saved, the payload is canonical and loads back equal.
    let saved = persist::to_payload(&array);
    let again = persist::from_payload(&saved).expect("a saved payload loads");
    assert!(again == array, "payload round trip");
    assert!(
        persist::to_payload(&again) == saved,
        "payload is not canonical"
    );
    let mut out = Vec::new();
    array.read_all(&mut out).expect("a loaded payload reads");
    assert_eq!(out.len() as u64, array.nbytes());
    // Pieces of at most one chunk each: the most appends.
    let pieces = persist::replication_pieces(&array, 1);
    let mut payloads = pieces.payloads.iter();
    let first = payloads.next().expect("at least one piece");
    let mut rebuilt = persist::from_payload(first).expect("a piece loads");
    for piece in payloads {
        let piece = persist::from_payload(piece).expect("a piece loads");
        rebuilt.append_chunks(piece).expect("pieces append");
    }
    if let Some(dims) = pieces.reshape {
        let shape = Shape::new(dims, array.dtype()).expect("the final shape is valid");
        rebuilt.reshape(shape).expect("pieces reshape");
    }
    assert!(rebuilt == array, "pieces rebuild the array");
}

/// Saves `array`, loads it back: must be equal, and saving that gives the same bytes.
fn assert_rdb_round_trip(array: &NdArray) {
    let bytes = rdb_bytes(array);
    let loaded = persist::load(&mut ByteReader { rest: &bytes }, persist::ENCODING_VERSION)
        .expect("a saved array loads");
    assert_eq!(&loaded, array, "RDB round trip");
    assert_eq!(rdb_bytes(&loaded), bytes, "RDB encoding is not canonical");
}

/// `array` saved in the byte format [`rdb`] reads (for seed corpora and tests).
pub fn rdb_bytes(array: &NdArray) -> Vec<u8> {
    let mut w = ByteWriter(Vec::new());
    persist::save(array, &mut w);
    w.0
}

struct ByteWriter(Vec<u8>);

impl RdbWrite for ByteWriter {
    fn put_u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn put_bytes(&mut self, b: &[u8]) {
        let len = u32::try_from(b.len()).expect("chunks are under 4 GiB");
        self.0.extend_from_slice(&len.to_le_bytes());
        self.0.extend_from_slice(b);
    }
}

struct ByteReader<'a> {
    rest: &'a [u8],
}

impl ByteReader<'_> {
    fn take(&mut self, n: usize) -> crate::array::ArrayResult<&[u8]> {
        let Some((head, tail)) = self.rest.split_at_checked(n) else {
            return Err(crate::array::ArrayError::corrupt("short read"));
        };
        self.rest = tail;
        Ok(head)
    }
}

impl RdbRead for ByteReader<'_> {
    fn get_u64(&mut self) -> crate::array::ArrayResult<u64> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }
    fn get_bytes(&mut self) -> crate::array::ArrayResult<Vec<u8>> {
        let len = self.take(4)?;
        let len = u32::from_le_bytes(len.try_into().expect("4 bytes"));
        Ok(self.take(len as usize)?.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    type Target = fn(&[u8]);

    const TARGETS: [(&str, Target); 6] = [
        ("npy", npy),
        ("selection", selection),
        ("set_args", set_args),
        ("chunk", chunk),
        ("rdb", rdb),
        ("payload", payload),
    ];

    fn fuzz_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
    }

    /// Every file in `dir` (none when it is missing), sorted for stable failures.
    fn files_in(dir: &Path) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        files
    }

    /// Replays each file of `fuzz/<kind>/<target>/`, naming the file that fails.
    fn replay(kind: &str) {
        for (name, target) in TARGETS {
            for file in files_in(&fuzz_dir().join(kind).join(name)) {
                let data = std::fs::read(&file).unwrap();
                let outcome = std::panic::catch_unwind(|| target(&data));
                assert!(outcome.is_ok(), "{name} fails on {}", file.display());
            }
        }
    }

    #[test]
    fn every_saved_crash_stays_fixed() {
        replay("regressions");
    }

    /// The crashes the fuzzers found, minimised by hand (their raw inputs are in fuzz/regressions/).
    #[test]
    fn minimal_crashes_stay_fixed() {
        // VALUES with no values multiplied the dims unchecked (overflow panic in parse_source).
        set_args(b"int8\x004294967296\x004294967296\x00VALUES");
    }

    #[test]
    fn every_seed_runs_clean() {
        replay("seeds");
    }

    fn f32_bytes(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    /// Small sample arrays of several dtypes, shapes and encodings.
    fn sample_arrays() -> Vec<(&'static str, NdArray)> {
        let smooth = f32_bytes(&(0..300).map(|i| (i / 10) as f32).collect::<Vec<_>>());
        let lz4 = Encoding::new(Compression::named("lz4", None).unwrap(), Shuffle::BYTE, 4);
        let zlib = Encoding::new(
            Compression::named("zlib", Some(6)).unwrap(),
            Shuffle::NONE,
            4,
        );
        let shape = |d: &[u64], t: DType| Shape::new(d.to_vec(), t).unwrap();
        vec![
            (
                "f32_lz4_chunked",
                NdArray::encode(
                    DType::Float32,
                    shape(&[30, 10], DType::Float32),
                    &smooth,
                    lz4,
                    256,
                )
                .unwrap(),
            ),
            (
                "f32_zlib",
                NdArray::encode(
                    DType::Float32,
                    shape(&[300], DType::Float32),
                    &smooth,
                    zlib,
                    4096,
                )
                .unwrap(),
            ),
            (
                "u8_raw",
                NdArray::encode(
                    DType::UInt8,
                    shape(&[2, 3], DType::UInt8),
                    &[1, 2, 3, 4, 5, 6],
                    Encoding::RAW,
                    4096,
                )
                .unwrap(),
            ),
            (
                "c128_scalar",
                NdArray::encode(
                    DType::Complex128,
                    shape(&[], DType::Complex128),
                    &[7; 16],
                    lz4,
                    4096,
                )
                .unwrap(),
            ),
            (
                "i16_empty",
                NdArray::encode(DType::Int16, shape(&[0, 4], DType::Int16), &[], lz4, 4096)
                    .unwrap(),
            ),
            (
                "f16_mixed_chunks",
                NdArray::encode(
                    DType::Float16,
                    shape(&[4, 40], DType::Float16),
                    &pattern(320),
                    lz4,
                    64,
                )
                .unwrap(),
            ),
            ("f32_attrs", {
                let mut a = NdArray::encode(
                    DType::Float32,
                    shape(&[30, 10], DType::Float32),
                    &smooth,
                    lz4,
                    256,
                )
                .unwrap();
                a.attrs_mut()
                    .set_all([(&b"model"[..], &b"v3"[..]), (b"\xffbin", b"\x00\x01")])
                    .unwrap();
                a.set_updated_at(1_767_225_600_123);
                a
            }),
        ]
    }

    /// (target, file name, bytes) of every seed input.
    fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
        let mut seeds = Vec::new();
        let mut add = |target: &'static str, name: &str, bytes: Vec<u8>| {
            seeds.push((target, name.to_string(), bytes));
        };

        // npy: what np.save writes, plus Fortran order, big-endian and the 2.0 / 3.0 headers.
        let shape = |d: &[u64], t: DType| Shape::new(d.to_vec(), t).unwrap();
        let six = f32_bytes(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        add(
            "npy",
            "f4_2x3.npy",
            encode_npy(DType::Float32, &shape(&[2, 3], DType::Float32), &six),
        );
        add(
            "npy",
            "u1_5.npy",
            encode_npy(DType::UInt8, &shape(&[5], DType::UInt8), &[1, 2, 3, 4, 5]),
        );
        add(
            "npy",
            "c16_scalar.npy",
            encode_npy(DType::Complex128, &shape(&[], DType::Complex128), &[3; 16]),
        );
        add(
            "npy",
            "b1_0x3.npy",
            encode_npy(DType::Bool, &shape(&[0, 3], DType::Bool), &[]),
        );
        add(
            "npy",
            "bf16_2.npy",
            encode_npy(
                DType::BFloat16,
                &shape(&[2], DType::BFloat16),
                &[0x80, 0x3f, 0, 0x40],
            ),
        );
        let ints: Vec<u8> = (1..=6i32).flat_map(|v| v.to_le_bytes()).collect();
        add(
            "npy",
            "i4_fortran_2x3.npy",
            npy_file(
                1,
                "{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3), }",
                &ints,
            ),
        );
        let big: Vec<u8> = [1.5f64, -2.0, 1e300]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        add(
            "npy",
            "f8_big_endian.npy",
            npy_file(
                1,
                "{'descr': '>f8', 'fortran_order': False, 'shape': (3,), }",
                &big,
            ),
        );
        let big16: Vec<u8> = (1..=24u16).flat_map(|v| v.to_be_bytes()).collect();
        add(
            "npy",
            "u2_big_fortran_2x3x4.npy",
            npy_file(
                2,
                "{'descr': '>u2', 'fortran_order': True, 'shape': (2, 3, 4), }",
                &big16,
            ),
        );
        add(
            "npy",
            "i8_v3.npy",
            npy_file(
                3,
                "{'shape': (1,), 'fortran_order': False, 'descr': '<i8'}",
                &[9; 8],
            ),
        );

        // selection: 5 bytes of shape, then the text.
        let sel = |ndim: u8, size: u8, dims: [u8; 4], text: &str| {
            let mut v = vec![ndim + 5 * size];
            v.extend_from_slice(&dims);
            v.extend_from_slice(text.as_bytes());
            v
        };
        add("selection", "rows", sel(2, 2, [4, 5, 0, 0], "1:3"));
        add("selection", "column", sel(2, 0, [3, 4, 0, 0], ":, 1"));
        add(
            "selection",
            "reversed_strided",
            sel(3, 3, [5, 6, 7, 0], "::-1, 1:5:2, -1"),
        );
        add("selection", "ellipsis", sel(4, 1, [2, 3, 4, 5], "..., 0"));
        add("selection", "scalar", sel(0, 4, [0, 0, 0, 0], "..."));
        add(
            "selection",
            "empty_axis",
            sel(2, 0, [0, 9, 0, 0], "1:, 8:1:-3,"),
        );
        add(
            "selection",
            "clipped",
            sel(1, 2, [9, 0, 0, 0], "-100:100:4"),
        );
        // Dims of 246 and up are huge: (0, 2^40 + 1) and (2^31 - 1, 255).
        add(
            "selection",
            "huge_empty",
            sel(2, 1, [0, 249, 0, 0], "..., -1:-5:-2"),
        );
        add(
            "selection",
            "huge_sparse",
            sel(2, 0, [251, 255, 0, 0], "-1, 5:9"),
        );

        // set_args: arguments after the key, separated by 0x00.
        let args = |parts: &[&[u8]]| parts.join(&0u8);
        let blob: Vec<u8> = (1..=24).collect();
        add(
            "set_args",
            "blob_zlib",
            args(&[b"float32", b"2", b"3", b"COMPRESS", b"zlib", b"BLOB", &blob]),
        );
        add(
            "set_args",
            "blob_level_shuffle",
            args(&[
                b"uint16",
                b"3",
                b"4",
                b"COMPRESS",
                b"zlib",
                b"LEVEL",
                b"9",
                b"SHUFFLE",
                b"byte",
                b"BLOB",
                &blob,
            ]),
        );
        add(
            "set_args",
            "values_int",
            args(&[b"int16", b"2", b"2", b"VALUES", b"1", b"-2", b"3", b"32767"]),
        );
        add(
            "set_args",
            "values_complex",
            args(&[b"complex64", b"2", b"VALUES", b"1", b"2.5", b"nan", b"-inf"]),
        );
        add(
            "set_args",
            "values_bool",
            args(&[
                b"bool",
                b"3",
                b"COMPRESS",
                b"none",
                b"VALUES",
                b"true",
                b"0",
                b"1",
            ]),
        );
        add(
            "set_args",
            "cast_f16",
            args(&[
                b"float32", b"2", b"AS", b"float16", b"EX", b"10", b"NX", b"VALUES", b"1.5", b"1e9",
            ]),
        );
        add(
            "set_args",
            "cast_bf16",
            args(&[
                b"int8",
                b"2",
                b"AS",
                b"bfloat16",
                b"KEEPTTL",
                b"VALUES",
                b"-128",
                b"127",
            ]),
        );
        add(
            "set_args",
            "cast_wider_int",
            args(&[
                b"uint8", b"AS", b"int64", b"PXAT", b"5", b"XX", b"VALUES", b"255",
            ]),
        );
        add(
            "set_args",
            "scalar_f64",
            args(&[b"<f8", b"SHUFFLE", b"none", b"VALUES", b"3.25"]),
        );
        add(
            "set_args",
            "read_options",
            args(&[b"FORMAT", b"VALUES", b"AS", b"float64"]),
        );
        add("set_args", "dims", args(&[b"3", b"0", b"7"]));
        add(
            "set_args",
            "attrs",
            args(&[
                b"int16",
                b"2",
                b"ATTR",
                b"model",
                b"v3",
                b"ATTR",
                b"src",
                b"\xff\x01",
                b"ATTR",
                b"model",
                b"v4",
                b"VALUES",
                b"1",
                b"2",
            ]),
        );
        // NPY takes the rest of the input: SET, and the same file as MSET and APPEND data.
        let npy_arg = |file: Vec<u8>| [b"NPY\0".as_slice(), &file].concat();
        add(
            "set_args",
            "npy_f4_2x3",
            npy_arg(encode_npy(
                DType::Float32,
                &shape(&[2, 3], DType::Float32),
                &six,
            )),
        );
        add(
            "set_args",
            "npy_u2_fortran_3x2",
            npy_arg(npy_file(
                1,
                "{'descr': '<u2', 'fortran_order': True, 'shape': (3, 2), }",
                &[1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6],
            )),
        );
        // Data alone: appended to a float32 (2, 3) array.
        add(
            "set_args",
            "append_values",
            args(&[b"VALUES", b"1", b"-2.5", b"inf", b"4", b"5", b"6"]),
        );
        add("set_args", "append_blob", args(&[b"BLOB", &[0x3f; 12]]));
        add(
            "set_args",
            "append_npy",
            npy_arg(encode_npy(
                DType::Float32,
                &shape(&[3], DType::Float32),
                &six[..12],
            )),
        );

        // chunk: 6 bytes of parameters, then a valid stored chunk of that raw length.
        let smooth = f32_bytes(&(0..256).map(|i| (i / 16) as f32).collect::<Vec<_>>());
        let named = |name, level| Compression::named(name, level).unwrap();
        for (name, compression, s, size_index) in [
            ("lz4_shuffled_f32", named("lz4", None), Shuffle::BYTE, 2u8),
            ("lz4_plain_u8", named("lz4", None), Shuffle::NONE, 0),
            (
                "zlib1_shuffled_f64",
                named("zlib", Some(1)),
                Shuffle::BYTE,
                3,
            ),
            ("zlib9_plain_c128", named("zlib", Some(9)), Shuffle::NONE, 4),
            ("zstd1_bit_f32", named("zstd", Some(1)), Shuffle::BIT, 2),
            ("zstd_fast_bit_u8", named("zstd", Some(-5)), Shuffle::BIT, 0),
            (
                "zstd19_plain_f64",
                named("zstd", Some(19)),
                Shuffle::NONE,
                3,
            ),
            ("lz4_bit_i16", named("lz4", None), Shuffle::BIT, 1),
        ] {
            let itemsize = ITEMSIZES[usize::from(size_index)];
            let stored = ChunkCodec::new(Encoding::new(compression, s, itemsize), itemsize)
                .encode(&smooth)
                .unwrap()
                .unwrap();
            let head0 = chunk_head0(compression, s);
            let on = u8::from(s != Shuffle::NONE);
            let mut v = vec![head0, size_index << 1 | on];
            v.extend_from_slice(&(smooth.len() as u32).to_le_bytes());
            v.extend_from_slice(&stored);
            add("chunk", name, v);
        }
        let mut raw = vec![0u8, 0];
        raw.extend_from_slice(&8u32.to_le_bytes());
        raw.extend_from_slice(b"raw data");
        add("chunk", "none_raw", raw);

        // rdb: saved sample arrays; payload: the same arrays as PUTENCODED payloads; each also
        // in encoding version 1 (the same without updated_at and nattrs, 16 bytes before the
        // 8-byte end marker, for the arrays without attributes).
        for (name, array) in sample_arrays() {
            let v2 = rdb_bytes(&array);
            let payload = persist::to_payload(&array);
            if array.attrs().is_empty() {
                let strip = |b: &[u8]| [&b[..b.len() - 24], &b[b.len() - 8..]].concat();
                add("rdb", &format!("v1_{name}"), strip(&v2));
                let mut v1 = strip(&payload);
                v1[4..12].copy_from_slice(&1u64.to_le_bytes());
                add("payload", &format!("v1_{name}"), v1);
            }
            add("rdb", name, v2);
            add("payload", name, payload);
        }
        seeds
    }

    #[test]
    fn hand_written_seeds_take_the_accepting_paths() {
        for (target, name, bytes) in seeds() {
            let accepted = match target {
                "npy" => decode_npy(&bytes, NPY_MAX_BYTES).is_ok(),
                "selection" => {
                    let ndim = usize::from(bytes[0] % 5);
                    let dims = bytes[1..=ndim].iter().map(|&b| selection_dim(b)).collect();
                    let shape = Shape::new(dims, DType::Int8).unwrap();
                    Selection::resolve(&bytes[5..], &shape).is_ok()
                }
                "set_args" if name == "read_options" => parse_read(&split_args(&bytes)).is_ok(),
                "set_args" if name == "dims" => parse_dims(&split_args(&bytes)).is_ok(),
                "set_args" if name.starts_with("append_") => {
                    let args = split_args(&bytes);
                    let data = parse_data(&args).unwrap();
                    let max = settings().max_array_bytes;
                    append_rows(&mut append_sample(&settings()), data, max).is_ok()
                }
                "set_args" => {
                    let args = split_args(&bytes);
                    parse_set(&args).is_ok_and(|r| {
                        SetValue::prepare(r.input, r.cast, r.store, &settings()).is_ok()
                    })
                }
                "rdb" => {
                    let version = if name.starts_with("v1_") {
                        persist::ENCODING_V1
                    } else {
                        persist::ENCODING_V2
                    };
                    persist::load(&mut ByteReader { rest: &bytes }, version).is_ok()
                }
                "payload" => persist::from_payload(&bytes).is_ok(),
                _ => true,
            };
            assert!(accepted, "seed {target}/{name} is refused");
            let (_, run) = TARGETS.iter().find(|(t, _)| *t == target).unwrap();
            run(&bytes);
        }
    }

    #[test]
    fn encoded_chunks_of_the_seeds_decode() {
        for (target, name, bytes) in seeds() {
            if target != "chunk" || name == "none_raw" {
                continue;
            }
            let (compression, shuffle, itemsize) = chunk_params(bytes[0], bytes[1]);
            let claimed = u32::from_le_bytes(bytes[2..6].try_into().unwrap()) as usize;
            let mut out = vec![0; claimed];
            ChunkCodec::new(Encoding::new(compression, shuffle, itemsize), itemsize)
                .decode(&bytes[6..], &mut out)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn truncated_and_garbage_inputs_are_refused_quietly() {
        for (_, _, bytes) in seeds() {
            for (_, target) in TARGETS {
                for cut in [
                    0,
                    1,
                    5,
                    6,
                    9,
                    bytes.len() / 2,
                    bytes.len().saturating_sub(1),
                ] {
                    target(&bytes[..cut.min(bytes.len())]);
                }
            }
        }
        for (_, target) in TARGETS {
            target(&[0xff; 64]);
            target(&[0; 64]);
        }
    }

    /// Rewrites `fuzz/seeds/` from [`seeds`]: `cargo test --lib fuzzing -- --ignored`.
    #[test]
    #[ignore = "writes files: run by hand to regenerate the seed corpora"]
    fn write_seed_corpora() {
        for (target, name, bytes) in seeds() {
            let dir = fuzz_dir().join("seeds").join(target);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
}
