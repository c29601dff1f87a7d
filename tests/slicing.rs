//! NDARRAY.SLICE and NDARRAY.SETSLICE against a reference indexer written here, over many random
//! shapes and selections, plus every selection error.

mod common;
mod util;

use common::Server;
use redis::{Connection, Value};
use util::*;

/// Python's slice.indices(n), written independently of the module.
fn indices(start: Option<i64>, stop: Option<i64>, step: Option<i64>, n: i64) -> Vec<i64> {
    let step = step.unwrap_or(1);
    let norm = |v: i64| if v < 0 { v + n } else { v };
    let mut out = Vec::new();
    if step > 0 {
        let start = start.map(norm).unwrap_or(0).clamp(0, n);
        let stop = stop.map(norm).unwrap_or(n).clamp(0, n);
        let mut i = start;
        while i < stop {
            out.push(i);
            i += step;
        }
    } else {
        let start = start.map(norm).unwrap_or(n - 1).clamp(-1, n - 1);
        let stop = stop.map(norm).unwrap_or(-1).clamp(-1, n - 1);
        let mut i = start;
        while i > stop {
            out.push(i);
            i += step;
        }
    }
    out
}

enum Part {
    Index(i64),
    Slice(Option<i64>, Option<i64>, Option<i64>),
    Ellipsis,
}

/// What NumPy returns for a selection: the result's dims and the flat indices it takes, in order.
type Expected = (Vec<u64>, Vec<u64>);

/// A random selection for `dims`: its text, and the expected result, or None when NumPy would
/// raise (integer index out of range).
fn random_selection(rng: &mut Rng, dims: &[u64]) -> (String, Option<Expected>) {
    let ndim = dims.len();
    let with_ellipsis = rng.chance(25);
    let given = if ndim == 0 {
        0
    } else {
        rng.below(ndim as u64 + 1) as usize
    };
    let mut parts: Vec<Part> = Vec::new();
    for &len in &dims[..given] {
        let n = len as i64;
        let opt = |rng: &mut Rng, lo: i64, hi: i64| {
            if rng.chance(30) {
                None
            } else {
                Some(rng.range(lo, hi))
            }
        };
        if rng.chance(30) {
            parts.push(Part::Index(rng.range(-n - 1, n)));
        } else {
            let step = if rng.chance(40) {
                None
            } else {
                Some([1, 2, 3, -1, -2, -3][rng.below(6) as usize])
            };
            parts.push(Part::Slice(
                opt(rng, -n - 2, n + 2),
                opt(rng, -n - 2, n + 2),
                step,
            ));
        }
    }
    let ellipsis_at = if with_ellipsis {
        Some(rng.below(parts.len() as u64 + 1) as usize)
    } else {
        None
    };
    if let Some(at) = ellipsis_at {
        parts.insert(at, Part::Ellipsis);
    }
    let fmt = |v: &Option<i64>| v.map(|x| x.to_string()).unwrap_or_default();
    let text = parts
        .iter()
        .map(|p| match p {
            Part::Index(i) => i.to_string(),
            Part::Slice(a, b, None) => format!("{}:{}", fmt(a), fmt(b)),
            Part::Slice(a, b, c) => format!("{}:{}:{}", fmt(a), fmt(b), fmt(c)),
            Part::Ellipsis => "...".to_string(),
        })
        .collect::<Vec<_>>()
        .join(if rng.chance(50) { ", " } else { "," });
    // Expand the ellipsis and missing axes to whole-axis slices.
    let mut full: Vec<&Part> = Vec::new();
    let whole = Part::Slice(None, None, None);
    for p in &parts {
        if let Part::Ellipsis = p {
            for _ in 0..ndim - given {
                full.push(&whole);
            }
        } else {
            full.push(p);
        }
    }
    while full.len() < ndim {
        full.push(&whole);
    }
    let mut per_axis: Vec<Vec<i64>> = Vec::new();
    let mut out_dims = Vec::new();
    for (p, &n) in full.iter().zip(dims) {
        let n = n as i64;
        match p {
            Part::Index(i) => {
                let j = if *i < 0 { i + n } else { *i };
                if j < 0 || j >= n {
                    return (text, None);
                }
                per_axis.push(vec![j]);
            }
            Part::Slice(a, b, c) => {
                let ix = indices(*a, *b, *c, n);
                out_dims.push(ix.len() as u64);
                per_axis.push(ix);
            }
            Part::Ellipsis => unreachable!(),
        }
    }
    // Cartesian product in C order.
    let mut flat = vec![0u64];
    for (axis, ix) in per_axis.iter().enumerate() {
        let n = dims[axis];
        flat = flat
            .iter()
            .flat_map(|base| ix.iter().map(move |i| base * n + *i as u64))
            .collect();
    }
    (text, Some((out_dims, flat)))
}

fn random_dims(rng: &mut Rng) -> Vec<u64> {
    let ndim = rng.below(5) as usize;
    let max = [1, 200, 40, 12, 7][ndim];
    (0..ndim)
        .map(|_| {
            if rng.chance(10) {
                0
            } else {
                rng.below(max) + 1
            }
        })
        .collect()
}

/// Elements are their own flat index as uint32, so any result shows where it came from.
fn store_iota(con: &mut Connection, key: &str, dims: &[u64], codec: &str) -> Vec<u32> {
    let n: u64 = dims.iter().product();
    let values: Vec<u32> = (0..n as u32).collect();
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let _: () = redis::cmd("NDARRAY.SET")
        .arg(key)
        .arg("uint32")
        .arg(dims)
        .arg("COMPRESS")
        .arg(codec)
        .arg("BLOB")
        .arg(bytes)
        .query(con)
        .unwrap();
    values
}

fn u32s(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

#[test]
fn slice_matches_the_reference_on_random_shapes_and_selections() {
    let server = Server::start_with_module_args(&["chunk-bytes", "4096"], &[]);
    let mut con = server.conn();
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut checked = 0;
    for round in 0..60 {
        let dims = random_dims(&mut rng);
        let codec = ["none", "lz4", "zlib"][round % 3];
        store_iota(&mut con, "a", &dims, codec);
        for _ in 0..25 {
            let (text, expected) = random_selection(&mut rng, &dims);
            let reply: redis::RedisResult<Vec<u8>> = redis::cmd("NDARRAY.SLICE")
                .arg("a")
                .arg(&text)
                .arg("FORMAT")
                .arg("BLOB")
                .query(&mut con);
            match expected {
                None => {
                    let e = reply.expect_err(&text).to_string();
                    assert!(e.contains("out of bounds"), "{dims:?} [{text}]: {e}");
                }
                Some((out_dims, flat)) => {
                    let got = reply.unwrap_or_else(|e| panic!("{dims:?} [{text}]: {e}"));
                    let want: Vec<u32> = flat.iter().map(|i| *i as u32).collect();
                    assert_eq!(u32s(&got), want, "{dims:?} [{text}]");
                    let npy: Vec<u8> = redis::cmd("NDARRAY.SLICE")
                        .arg("a")
                        .arg(&text)
                        .query(&mut con)
                        .unwrap();
                    let header = String::from_utf8_lossy(&npy[..npy.len() - got.len()]).to_string();
                    let shape = match out_dims.as_slice() {
                        [] => "()".to_string(),
                        [one] => format!("({one},)"),
                        many => format!(
                            "({})",
                            many.iter()
                                .map(u64::to_string)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    };
                    assert!(
                        header.contains(&format!("'shape': {shape}")),
                        "{dims:?} [{text}]: {header}"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 1000, "{checked}");
}

#[test]
fn setslice_matches_reference_assignment() {
    let server = Server::start_with_module_args(&["chunk-bytes", "4096"], &[]);
    let mut con = server.conn();
    let mut rng = Rng(0x5eed_4321_0000_0002);
    let mut checked = 0;
    for round in 0..40 {
        let dims = random_dims(&mut rng);
        let codec = ["none", "lz4", "zlib"][round % 3];
        let mut model = store_iota(&mut con, "w", &dims, codec);
        for step in 0..10 {
            let (text, expected) = random_selection(&mut rng, &dims);
            let Some((_, flat)) = expected else { continue };
            let fresh: Vec<u32> = (0..flat.len())
                .map(|i| 1_000_000 * (round + 1) as u32 + 1000 * step + i as u32)
                .collect();
            let r: Value = if rng.chance(20) && !flat.is_empty() {
                // One value broadcasts to the whole selection.
                let v = fresh[0];
                for f in &flat {
                    model[*f as usize] = v;
                }
                redis::cmd("NDARRAY.SETSLICE")
                    .arg("w")
                    .arg(&text)
                    .arg("VALUES")
                    .arg(v)
                    .query(&mut con)
                    .unwrap()
            } else {
                for (f, v) in flat.iter().zip(&fresh) {
                    model[*f as usize] = *v;
                }
                let bytes: Vec<u8> = fresh.iter().flat_map(|v| v.to_le_bytes()).collect();
                redis::cmd("NDARRAY.SETSLICE")
                    .arg("w")
                    .arg(&text)
                    .arg("BLOB")
                    .arg(bytes)
                    .query(&mut con)
                    .unwrap()
            };
            assert_eq!(r, Value::Okay);
            assert_eq!(
                u32s(&get_blob(&mut con, "w").unwrap()),
                model,
                "{dims:?} [{text}] {codec}"
            );
            checked += 1;
        }
    }
    assert!(checked > 200, "{checked}");
}

#[test]
fn slice_formats_casts_and_missing_keys() {
    let server = Server::start();
    let mut con = server.conn();
    store_iota(&mut con, "m", &[3, 4], "lz4");
    let v: Vec<Vec<i64>> = redis::cmd("NDARRAY.SLICE")
        .arg("m")
        .arg("::2, 1:3")
        .arg("FORMAT")
        .arg("VALUES")
        .query(&mut con)
        .unwrap();
    assert_eq!(v, [[1, 2], [9, 10]]);
    let one: i64 = redis::cmd("NDARRAY.SLICE")
        .arg("m")
        .arg("2, -1")
        .arg("FORMAT")
        .arg("VALUES")
        .query(&mut con)
        .unwrap();
    assert_eq!(one, 11);
    let f: Vec<u8> = redis::cmd("NDARRAY.SLICE")
        .arg("m")
        .arg(":, 0")
        .arg("FORMAT")
        .arg("BLOB")
        .arg("AS")
        .arg("float64")
        .query(&mut con)
        .unwrap();
    assert_eq!(f, f64_bytes(&[0.0, 4.0, 8.0]));
    let nil: Value = redis::cmd("NDARRAY.SLICE")
        .arg("missing")
        .arg(":")
        .query(&mut con)
        .unwrap();
    assert_eq!(nil, Value::Nil);
    // SETSLICE takes NPY of the selection's shape and a castable dtype.
    let npy: Vec<u8> = redis::cmd("NDARRAY.SLICE")
        .arg("m")
        .arg("0")
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("NDARRAY.SETSLICE")
        .arg("m")
        .arg("2")
        .arg("NPY")
        .arg(&npy)
        .query(&mut con)
        .unwrap();
    let row: Vec<i64> = redis::cmd("NDARRAY.SLICE")
        .arg("m")
        .arg("2")
        .arg("FORMAT")
        .arg("VALUES")
        .query(&mut con)
        .unwrap();
    assert_eq!(row, [0, 1, 2, 3]);
    let _: () = redis::cmd("NDARRAY.SET")
        .arg("h")
        .arg("uint16")
        .arg(4)
        .arg("VALUES")
        .arg(&[7, 8, 9, 10])
        .query(&mut con)
        .unwrap();
    let npy16: Vec<u8> = redis::cmd("NDARRAY.GET").arg("h").query(&mut con).unwrap();
    let _: () = redis::cmd("NDARRAY.SETSLICE")
        .arg("m")
        .arg("1")
        .arg("NPY")
        .arg(&npy16)
        .query(&mut con)
        .unwrap();
    let row: Vec<i64> = redis::cmd("NDARRAY.SLICE")
        .arg("m")
        .arg("1")
        .arg("FORMAT")
        .arg("VALUES")
        .query(&mut con)
        .unwrap();
    assert_eq!(row, [7, 8, 9, 10], "uint16 widens to uint32");
}

#[test]
fn selection_and_setslice_errors_change_nothing() {
    let server = Server::start();
    let mut con = server.conn();
    store_iota(&mut con, "e", &[5, 6], "lz4");
    let before = get_blob(&mut con, "e").unwrap();
    let _: () = redis::cmd("NDARRAY.SET")
        .arg("f")
        .arg("float32")
        .arg(2)
        .arg("VALUES")
        .arg(1)
        .arg(2)
        .query(&mut con)
        .unwrap();
    let f_npy: Vec<u8> = redis::cmd("NDARRAY.GET").arg("f").query(&mut con).unwrap();
    let cases: Vec<(Vec<&[u8]>, &str)> = vec![
        (
            vec![b"NDARRAY.SLICE", b"e", b"1:2:0"],
            "SELECTION slice step cannot be zero",
        ),
        (
            vec![b"NDARRAY.SLICE", b"e", b"1, 2, 3"],
            "BOUNDS too many indices for array: array is 2-dimensional, but 3 were indexed",
        ),
        (
            vec![b"NDARRAY.SLICE", b"e", b"..., 1, ..."],
            "SELECTION an index can only have a single ellipsis",
        ),
        (
            vec![b"NDARRAY.SLICE", b"e", b"5"],
            "BOUNDS index 5 is out of bounds for axis 0 with size 5",
        ),
        (
            vec![b"NDARRAY.SLICE", b"e", b":, -7"],
            "BOUNDS index -7 is out of bounds for axis 1 with size 6",
        ),
        (
            vec![b"NDARRAY.SLICE", b"e", b"x"],
            "SELECTION invalid selection 'x'",
        ),
        (
            vec![b"NDARRAY.SLICE", b"e", b"1.5"],
            "SELECTION invalid selection",
        ),
        (
            vec![b"NDARRAY.SLICE", b"e", b"[1], [2]"],
            "SELECTION one integer list per selection",
        ),
        (
            vec![b"NDARRAY.SLICE", b"e", b"\xff"],
            "SELECTION selection is not valid UTF-8",
        ),
        (
            vec![b"NDARRAY.SLICE", b"e", b":", b"FORMAT", b"XML"],
            "ERR unknown format 'XML'",
        ),
        (
            vec![b"NDARRAY.SLICE", b"e", b":", b"AS", b"int8"],
            "DTYPE cannot cast uint32 to int8",
        ),
        (
            vec![b"NDARRAY.SLICE", b"e"],
            "ERR wrong number of arguments",
        ),
        (
            vec![b"NDARRAY.SETSLICE", b"e", b"0"],
            "ERR wrong number of arguments",
        ),
        (
            vec![b"NDARRAY.SETSLICE", b"e", b"0", b"BLOB", b"abc"],
            "SHAPE data is 3 bytes, the selection of shape (6,) needs 24",
        ),
        (
            vec![b"NDARRAY.SETSLICE", b"e", b"0", b"VALUES", b"1", b"2"],
            "SHAPE got 2 values, expected 6",
        ),
        (
            vec![b"NDARRAY.SETSLICE", b"e", b"0", b"VALUES", b"-1"],
            "VALUE value 0: -1 is out of range for uint32",
        ),
        (
            vec![b"NDARRAY.SETSLICE", b"e", b"0, 0:2", b"NPY", &f_npy],
            "DTYPE npy data: Cannot cast array data from dtype('float32') to dtype('uint32') according to the rule 'same_kind'",
        ),
        (
            vec![b"NDARRAY.SETSLICE", b"e", b"0", b"NPY", &f_npy],
            "SHAPE npy data of shape (2,) does not match the selection's shape (6,)",
        ),
        (
            vec![b"NDARRAY.SETSLICE", b"e", b"9", b"VALUES", b"1"],
            "BOUNDS index 9 is out of bounds",
        ),
        (
            vec![b"NDARRAY.SETSLICE", b"e", b"::0", b"VALUES", b"1"],
            "SELECTION slice step cannot be zero",
        ),
        (
            vec![b"NDARRAY.SETSLICE", b"e", b"0", b"JSON", b"1"],
            "ERR unknown data kind 'JSON'",
        ),
        (
            vec![b"NDARRAY.SETSLICE", b"nope", b"0", b"VALUES", b"1"],
            "NOKEY no such key",
        ),
    ];
    let mut mismatches = Vec::new();
    for (args, want) in &cases {
        let e = error_of(
            redis::cmd(std::str::from_utf8(args[0]).unwrap())
                .arg(&args[1..])
                .query(&mut con),
        );
        if !e.starts_with(want) {
            mismatches.push(format!("got '{e}', want '{want}…'"));
        }
        assert_eq!(get_blob(&mut con, "e").unwrap(), before, "{want}");
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    let _: () = redis::cmd("SET").arg("s").arg("x").query(&mut con).unwrap();
    let e = error_of(
        redis::cmd("NDARRAY.SLICE")
            .arg("s")
            .arg(":")
            .query(&mut con),
    );
    assert!(e.starts_with("WRONGTYPE"), "{e}");
}

#[test]
fn slices_decode_only_the_chunks_they_touch() {
    let server = Server::start_with_module_args(&["chunk-bytes", "4096"], &[]);
    let mut con = server.conn();
    // 1000 x 100 float32 = 400 kB: 98 chunks of 4096 bytes (about 10 rows each), all compressed.
    let data = f32_bytes(&(0..100_000).map(|i| (i / 7) as f32).collect::<Vec<_>>());
    let _: () = redis::cmd("NDARRAY.SET")
        .arg("big")
        .arg("float32")
        .arg(1000)
        .arg(100)
        .arg("COMPRESS")
        .arg("lz4")
        .arg("BLOB")
        .arg(&data)
        .query(&mut con)
        .unwrap();
    // Units decoded: whole chunks, and blocks (here each chunk is one block).
    let decoded = |con: &mut Connection| -> i64 {
        let info: String = redis::cmd("INFO").arg("ndarray").query(con).unwrap();
        let field = |name: &str| -> i64 {
            info.lines()
                .find_map(|l| l.strip_prefix(name))
                .unwrap()
                .trim()
                .parse::<i64>()
                .unwrap()
        };
        field("ndarray_chunks_decoded:") + field("ndarray_blocks_decoded:")
    };
    assert!(
        info_int(&mut con, "big", "stored_bytes") < 200_000,
        "every chunk is compressed"
    );
    let before = decoded(&mut con);
    let rows: Vec<u8> = redis::cmd("NDARRAY.SLICE")
        .arg("big")
        .arg("500:503")
        .arg("FORMAT")
        .arg("BLOB")
        .query(&mut con)
        .unwrap();
    assert_eq!(rows, &data[500 * 400..503 * 400]);
    let after_rows = decoded(&mut con);
    assert!(
        after_rows - before <= 2,
        "3 rows decode at most 2 chunks, decoded {}",
        after_rows - before
    );
    let _: Vec<u8> = redis::cmd("NDARRAY.SLICE")
        .arg("big")
        .arg(":, 5")
        .arg("FORMAT")
        .arg("BLOB")
        .query(&mut con)
        .unwrap();
    let after_column = decoded(&mut con);
    let chunks = info_int(&mut con, "big", "chunks");
    assert_eq!(
        after_column - after_rows,
        chunks,
        "a column decodes each chunk exactly once"
    );
    let _: () = redis::cmd("NDARRAY.SETSLICE")
        .arg("big")
        .arg("10")
        .arg("VALUES")
        .arg(0)
        .query(&mut con)
        .unwrap();
    assert!(
        decoded(&mut con) - after_column <= 2,
        "a one-row write decodes at most 2 chunks"
    );
}

#[test]
fn a_gather_of_random_rows_reads_and_writes_them_as_numpy_on_every_codec() {
    let server = Server::start();
    let mut con = server.conn();
    let mut rng = Rng(22);
    let (rows, cols) = (8192u64, 1024u64); // 32 MiB of uint32: a gather past one batch of chunks
    for codec in ["zstd", "none"] {
        let values = store_iota(&mut con, "a", &[rows, cols], codec);
        let picks: Vec<i64> = (0..300)
            .map(|_| rng.below(2 * rows) as i64 - rows as i64)
            .collect();
        let list: Vec<String> = picks.iter().map(i64::to_string).collect();
        let selection = format!("[{}], 10:13", list.join(","));
        let got: Vec<u8> = redis::cmd("NDARRAY.SLICE")
            .arg("a")
            .arg(&selection)
            .arg("FORMAT")
            .arg("BLOB")
            .query(&mut con)
            .unwrap();
        let row = |p: i64| {
            if p < 0 {
                (rows as i64 + p) as u64
            } else {
                p as u64
            }
        };
        let want: Vec<u32> = picks
            .iter()
            .flat_map(|&p| {
                let values = &values;
                (10..13).map(move |c| values[(row(p) * cols + c) as usize])
            })
            .collect();
        assert_eq!(u32s(&got), want, "{codec}");
        // Written back through the same list, repeats included: the last write wins.
        let _: () = redis::cmd("NDARRAY.SETSLICE")
            .arg("a")
            .arg("[5, 7, 5], 0")
            .arg("VALUES")
            .arg(&[1, 2, 3])
            .query(&mut con)
            .unwrap();
        let firsts: Vec<u8> = redis::cmd("NDARRAY.SLICE")
            .arg("a")
            .arg("[5, 7], 0")
            .arg("FORMAT")
            .arg("BLOB")
            .query(&mut con)
            .unwrap();
        assert_eq!(u32s(&firsts), [3, 2]);
    }
    let e = error_of(
        redis::cmd("NDARRAY.SLICE")
            .arg("a")
            .arg("[1], [2]")
            .query(&mut con),
    );
    assert!(e.starts_with("SELECTION one integer list"), "{e}");
}

#[test]
fn a_few_items_decode_one_block_of_their_chunk() {
    // 64 KiB chunks in blocks of 4 KiB: 100,000 float32 make 7 chunks of 16 blocks.
    let server =
        Server::start_with_module_args(&["chunk-bytes", "65536", "block-bytes", "4096"], &[]);
    let mut con = server.conn();
    let values: Vec<f32> = (0..100_000).map(|i| (i as f32 * 0.001).sin()).collect();
    let data = f32_bytes(&values);
    let _: () = redis::cmd("NDARRAY.SET")
        .arg("a")
        .arg("float32")
        .arg(1000)
        .arg(100)
        .arg("BLOB")
        .arg(&data)
        .query(&mut con)
        .unwrap();
    assert_eq!(info_int(&mut con, "a", "block_bytes"), 4096);
    let counters = |con: &mut Connection| -> (i64, i64) {
        let info: String = redis::cmd("INFO").arg("ndarray").query(con).unwrap();
        let field = |name: &str| -> i64 {
            let line = info.lines().find_map(|l| l.strip_prefix(name));
            line.unwrap().trim().parse().unwrap()
        };
        (
            field("ndarray_chunks_decoded:"),
            field("ndarray_blocks_decoded:"),
        )
    };
    let before = counters(&mut con);
    let got: Vec<u8> = redis::cmd("NDARRAY.SLICE")
        .arg("a")
        .arg("523, 40:50")
        .arg("FORMAT")
        .arg("BLOB")
        .query(&mut con)
        .unwrap();
    assert_eq!(got, &data[(52_340 * 4)..(52_350 * 4)]);
    let after = counters(&mut con);
    assert_eq!((after.0 - before.0, after.1 - before.1), (0, 1));
    // A gather of 3 rows in 3 blocks decodes those 3 (a repeated row once).
    let got: Vec<u8> = redis::cmd("NDARRAY.SLICE")
        .arg("a")
        .arg("[999, 0, 999, 5], 0:2")
        .arg("FORMAT")
        .arg("BLOB")
        .query(&mut con)
        .unwrap();
    let want: Vec<u8> = [999usize, 0, 999, 5]
        .iter()
        .flat_map(|r| data[r * 400..r * 400 + 8].to_vec())
        .collect();
    assert_eq!(got, want);
    let gathered = counters(&mut con);
    assert_eq!(gathered.1 - after.1, 2, "rows 0 and 5 share a block");
    // A write touching one block re-encodes it alone; the array reads back as NumPy would.
    let _: () = redis::cmd("NDARRAY.SETSLICE")
        .arg("a")
        .arg("523, 40:42")
        .arg("VALUES")
        .arg("7.5")
        .arg("-1")
        .query(&mut con)
        .unwrap();
    let whole: Vec<u8> = redis::cmd("NDARRAY.GET")
        .arg("a")
        .arg("FORMAT")
        .arg("BLOB")
        .query(&mut con)
        .unwrap();
    let mut want = values.clone();
    want[52_340] = 7.5;
    want[52_341] = -1.0;
    assert_eq!(whole, f32_bytes(&want));
}
