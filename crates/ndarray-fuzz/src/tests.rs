//! Replays of the saved crashes and seeds of these targets (under `fuzz/`), and the seed corpora
//! of every target (the module's `set_args` too: they are only bytes), built here so that
//! `write_seed_corpora` can regenerate them.

use crate::chunk::{chunk_head0, chunk_params};
use crate::helpers::{pattern, rdb_bytes, ByteReader, ITEMSIZES};
use crate::npy::{npy_file, NPY_MAX_BYTES};
use crate::selection::selection_dim;
use crate::{chunk, compute, npy, payload, rdb, selection};
use ndarray_core::array::npy::{decode_npy, encode_npy};
use ndarray_core::array::slice::Selection;
use ndarray_core::array::{DType, NdArray, Shape};
use ndarray_core::codec::{ChunkCodec, Compression, Encoding, Shuffle};
use ndarray_core::persist;

type Target = fn(&[u8]);

/// The targets whose entry points are in this crate (`set_args`' is the module's).
const TARGETS: [(&str, Target); 6] = [
    ("npy", npy),
    ("compute", compute),
    ("selection", selection),
    ("chunk", chunk),
    ("rdb", rdb),
    ("payload", payload),
];

/// Replays each target's files of `fuzz/<kind>/`; returns how many.
fn replay(kind: &str) -> usize {
    TARGETS
        .iter()
        .map(|(name, target)| crate::replay_saved(kind, name, *target))
        .sum()
}

// A wrong path to `fuzz/` would replay nothing and pass: the replays check that they found inputs.
#[test]
fn every_saved_crash_stays_fixed() {
    assert!(replay("regressions") > 0, "no inputs in fuzz/regressions/");
}

#[test]
fn every_seed_runs_clean() {
    assert!(replay("seeds") > 0, "no inputs in fuzz/seeds/");
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Small sample arrays of several dtypes, shapes and encodings.
/// `array` with each encoded chunk one frame, as encoding versions 1 and 2 stored them.
fn in_frames(array: &NdArray) -> NdArray {
    let mut raw = Vec::new();
    array.read_all(&mut raw).unwrap();
    let encoding = array.encoding().with_block_bytes(0, 1, 0);
    let chunk = array.store().chunk_bytes() as usize;
    let shape = array.shape().clone();
    let mut framed = NdArray::encode(array.dtype(), shape, &raw, encoding, chunk).unwrap();
    framed.set_meta(array.meta().clone());
    framed
}

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
            NdArray::encode(DType::Int16, shape(&[0, 4], DType::Int16), &[], lz4, 4096).unwrap(),
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

    // compute: 8 bytes (dtype, ndim, dims, reduction, axes, ufunc), the selection, 0, the operand.
    let comp = |head: [u8; 8], text: &str, operand: &[u8]| {
        let mut v = head.to_vec();
        v.extend_from_slice(text.as_bytes());
        v.push(0);
        v.extend_from_slice(operand);
        v
    };
    add(
        "compute",
        "sum_rows_add_scalar",
        comp([11, 2, 4, 5, 0, 0, 0b01, 0], "", b"0.5"),
    );
    add(
        "compute",
        "argmax_strided",
        comp([3, 0x82, 6, 3, 0, 8, 0b10, 2], "::2", b"7"),
    );
    add(
        "compute",
        "var_all_divide_row",
        comp([12, 3, 2, 3, 4, 5, 0xff, 0x83], "...", &[0x40; 32]),
    );
    add(
        "compute",
        "min_empty",
        comp([1, 1, 0, 0, 0, 3, 0xff, 4], "", b"-3"),
    );
    add(
        "compute",
        "complex_mean",
        comp([13, 1, 5, 0, 0, 2, 0xff, 0x12], "[4, 0, 4]", b"1+2j"),
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

    // set_args: arguments after the key, separated by 0x00. The module's tests check that they take
    // the accepting paths of its parsers.
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

    // rdb: saved sample arrays; payload: the same arrays as client payloads; each in every
    // encoding version: 3 as saved (named v3_ for rdb), 2 the same in chunks of one frame without
    // the block size, 1 also without updated_at and nattrs (16 bytes before the 8-byte end
    // marker, for the arrays without attributes).
    for (name, array) in sample_arrays() {
        add("rdb", &format!("v3_{name}"), rdb_bytes(&array));
        add("payload", name, persist::to_payload(&array));
        let framed = in_frames(&array);
        // dtype, ndim, the dims, compression, level, shuffle and chunk size come first.
        let block_field = 8 * (6 + array.shape().ndim());
        let cut = |b: &[u8], at: usize| [&b[..at], &b[at + 8..]].concat();
        let v2 = cut(&rdb_bytes(&framed), block_field);
        let mut payload_v2 = cut(&persist::to_payload(&framed), 12 + block_field);
        payload_v2[4..12].copy_from_slice(&2u64.to_le_bytes());
        if array.attrs().is_empty() {
            let strip = |b: &[u8]| [&b[..b.len() - 24], &b[b.len() - 8..]].concat();
            add("rdb", &format!("v1_{name}"), strip(&v2));
            let mut v1 = strip(&payload_v2);
            v1[4..12].copy_from_slice(&1u64.to_le_bytes());
            add("payload", &format!("v1_{name}"), v1);
        }
        add("rdb", name, v2);
        add("payload", &format!("v2_{name}"), payload_v2);
    }
    seeds
}

#[test]
fn hand_written_seeds_take_the_accepting_paths() {
    for (target, name, bytes) in seeds() {
        // set_args is the module's target: its tests check those seeds, beside its parsers.
        let Some(&(_, run)) = TARGETS.iter().find(|(t, _)| *t == target) else {
            continue;
        };
        let accepted = match target {
            "npy" => decode_npy(&bytes, NPY_MAX_BYTES).is_ok(),
            "selection" => {
                let ndim = usize::from(bytes[0] % 5);
                let dims = bytes[1..=ndim].iter().map(|&b| selection_dim(b)).collect();
                let shape = Shape::new(dims, DType::Int8).unwrap();
                Selection::resolve(&bytes[5..], &shape).is_ok()
            }
            "rdb" => {
                let version = if name.starts_with("v1_") {
                    persist::ENCODING_V1
                } else if name.starts_with("v3_") {
                    persist::ENCODING_V3
                } else {
                    persist::ENCODING_V2
                };
                persist::load(&mut ByteReader { rest: &bytes }, version).is_ok()
            }
            "payload" => persist::from_payload(&bytes).is_ok(),
            _ => true,
        };
        assert!(accepted, "seed {target}/{name} is refused");
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

/// Rewrites every target's corpus in `fuzz/seeds/` from [`seeds`]:
/// `cargo test -p ndarray-fuzz -- --ignored`.
#[test]
#[ignore = "writes files: run by hand to regenerate the seed corpora"]
fn write_seed_corpora() {
    for (target, name, bytes) in seeds() {
        let dir = crate::fuzz_dir().join("seeds").join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}
