//! Old encodings load forever: payloads written by each released encoding version are checked in
//! under tests/fixtures/encoding-v<N>/ and must restore to exactly the arrays they were made from.
//!
//! The fixtures are written once per encoding version by the ignored test at the bottom
//! (`cargo test --test fixtures -- --ignored write_fixtures`), and never rewritten afterwards.

mod common;
mod util;

use common::Server;
use redis::Connection;
use std::path::PathBuf;
use util::*;

fn fixture_dir(version: u32) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/encoding-v{version}"))
}

/// One fixture array: (key, dtype, dims, codec, raw bytes).
type Fixture = (String, &'static str, Vec<u64>, &'static str, Vec<u8>);

/// The arrays the fixture set of `version` holds. Deterministic, so the test can rebuild the
/// expected contents. From version 3 (chunks in blocks), zstd arrays too: every dtype, and one of
/// several chunks of several blocks each, some blocks stored raw.
fn fixture_arrays(version: u32) -> Vec<Fixture> {
    let mut out = Vec::new();
    if version >= 3 {
        for (i, (dtype, itemsize)) in DTYPES.iter().enumerate() {
            let data = valid_bytes(dtype, *itemsize, 12, 200 + i as u64);
            out.push((format!("{dtype}-zstd"), *dtype, vec![3, 4], "zstd", data));
        }
        // 50,000 float32: 13 chunks of 16 KiB in blocks of 4 KiB; every third block noise.
        let mut x = 7u32;
        let values: Vec<f32> = (0..50_000)
            .map(|i| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                if (i / 1024) % 3 == 2 {
                    f32::from_bits(x >> 2)
                } else {
                    (i as f32 * 0.01).sin()
                }
            })
            .collect();
        out.push((
            "blocks-zstd".into(),
            "float32",
            vec![500, 100],
            "zstd",
            f32_bytes(&values),
        ));
    }
    for (i, (dtype, itemsize)) in DTYPES.iter().enumerate() {
        for codec in ["none", "lz4", "zlib"] {
            let data = valid_bytes(dtype, *itemsize, 12, 100 + i as u64);
            out.push((format!("{dtype}-{codec}"), *dtype, vec![3, 4], codec, data));
        }
    }
    let smooth = f32_bytes(&(0..20_000).map(|i| (i / 3) as f32).collect::<Vec<_>>());
    out.push((
        "multi-chunk-lz4".into(),
        "float32",
        vec![200, 100],
        "lz4",
        smooth.clone(),
    ));
    out.push((
        "multi-chunk-zlib".into(),
        "float32",
        vec![200, 100],
        "zlib",
        smooth,
    ));
    out.push((
        "scalar".into(),
        "float64",
        vec![],
        "lz4",
        2.5f64.to_le_bytes().to_vec(),
    ));
    out.push(("empty".into(), "int32", vec![0, 5], "lz4", vec![]));
    out
}

/// What version 2 adds to fixture number `i` (key `key`): two attributes (one binary) and a fixed
/// `updated_at`. Version-1 fixtures have none, and load with `updated_at` 0.
/// (field, value) pairs.
type AttrList = Vec<(Vec<u8>, Vec<u8>)>;

fn fixture_meta(i: usize, key: &str) -> (AttrList, i64) {
    let attrs = vec![
        (b"bin".to_vec(), vec![0, 0xff, i as u8]),
        (b"key".to_vec(), key.as_bytes().to_vec()),
    ];
    (attrs, 1_767_225_600_000 + i as i64)
}

fn check_arrays(con: &mut Connection, prefix: &str, version: u32) {
    for (i, (key, dtype, dims, codec, data)) in fixture_arrays(version).into_iter().enumerate() {
        let name = format!("{prefix}{key}");
        assert_eq!(get_blob(con, &name).as_deref(), Some(&data[..]), "{name}");
        let matrix = match dims[..] {
            [rows, cols] if rows > 0 => Some((rows, cols)),
            _ => None,
        };
        if let Some((rows, cols)) = matrix {
            // A row alone (decoding only what holds it, in every encoding version).
            let row = data.len() / rows.max(1) as usize;
            let got: Vec<u8> = redis::cmd("NDARRAY.SLICE")
                .arg(&name)
                .arg(format!("{}", rows / 2))
                .arg("FORMAT")
                .arg("BLOB")
                .query(con)
                .unwrap();
            let at = (rows / 2) as usize * row;
            assert_eq!(
                got,
                data.get(at..at + row).unwrap_or_default(),
                "{name} row of {cols}"
            );
        }
        assert_eq!(info_str(con, &name, "dtype"), dtype, "{name}");
        assert_eq!(info_int(con, &name, "ndim"), dims.len() as i64, "{name}");
        assert_eq!(info_str(con, &name, "compression"), codec, "{name}");
        let flat: Vec<Vec<u8>> = redis::cmd("NDARRAY.ATTRGET").arg(&name).query(con).unwrap();
        let attrs: Vec<(Vec<u8>, Vec<u8>)> = flat
            .chunks(2)
            .map(|p| (p[0].clone(), p[1].clone()))
            .collect();
        let (want_attrs, want_at) = if version >= 2 {
            fixture_meta(i, &key)
        } else {
            (vec![], 0)
        };
        assert_eq!(attrs, want_attrs, "{name}");
        assert_eq!(info_int(con, &name, "updated_at"), want_at, "{name}");
    }
}

#[test]
fn encoding_v1_dump_payloads_restore_exactly() {
    dump_payloads_restore_exactly(1);
}

#[test]
fn encoding_v2_dump_payloads_restore_exactly() {
    dump_payloads_restore_exactly(2);
}

#[test]
fn encoding_v3_dump_payloads_restore_exactly() {
    dump_payloads_restore_exactly(3);
}

#[test]
fn encoding_v1_rdb_file_loads_exactly() {
    rdb_file_loads_exactly(1);
}

#[test]
fn encoding_v2_rdb_file_loads_exactly() {
    rdb_file_loads_exactly(2);
}

#[test]
fn encoding_v3_rdb_file_loads_exactly() {
    rdb_file_loads_exactly(3);
}

fn dump_payloads_restore_exactly(version: u32) {
    let server = Server::start();
    let mut con = server.conn();
    for (key, ..) in fixture_arrays(version) {
        let payload =
            std::fs::read(fixture_dir(version).join(format!("{key}.dump"))).expect("fixture");
        let _: () = redis::cmd("RESTORE")
            .arg(format!("restored:{key}"))
            .arg(0)
            .arg(payload)
            .query(&mut con)
            .unwrap();
    }
    check_arrays(&mut con, "restored:", version);
}

fn rdb_file_loads_exactly(version: u32) {
    let mut server = Server::start();
    server.kill();
    std::fs::copy(
        fixture_dir(version).join("dump.rdb"),
        server.dir.join("dump.rdb"),
    )
    .unwrap();
    server.start_again();
    let mut con = server.conn();
    check_arrays(&mut con, "", version);
}

/// The encoding version this module writes (see `src/persist.rs`).
const CURRENT_VERSION: u32 = 3;

/// Writes the fixtures of the current encoding version. Run once when a version is released.
#[test]
#[ignore]
fn write_fixtures() {
    let mut server = Server::start_with_module_args(
        &["chunk-bytes", "16384", "block-bytes", "4096"],
        &["--appendonly", "yes"],
    );
    let mut con = server.conn();
    let dir = fixture_dir(CURRENT_VERSION);
    assert!(!dir.exists(), "fixtures are written once: {dir:?} exists");
    std::fs::create_dir_all(&dir).unwrap();
    let mut stamps = Vec::new();
    let arrays = fixture_arrays(CURRENT_VERSION);
    for (i, (key, dtype, dims, codec, data)) in arrays.iter().enumerate() {
        let (attrs, at) = fixture_meta(i, key);
        let mut set = redis::cmd("NDARRAY.SET");
        set.arg(key)
            .arg(*dtype)
            .arg(dims)
            .arg("COMPRESS")
            .arg(*codec);
        for (field, value) in &attrs {
            set.arg("ATTR").arg(field).arg(value);
        }
        let _: () = set.arg("BLOB").arg(data).query(&mut con).unwrap();
        // NDARRAY.STAMP is internal: the fixed times arrive as an AOF replay.
        stamps.push(vec![
            b"NDARRAY.STAMP".to_vec(),
            key.as_bytes().to_vec(),
            at.to_string().into_bytes(),
        ]);
    }
    server.replay_in_aof(&stamps);
    let mut con = server.conn();
    for (key, ..) in &arrays {
        let dump: Vec<u8> = redis::cmd("DUMP").arg(key).query(&mut con).unwrap();
        std::fs::write(dir.join(format!("{key}.dump")), dump).unwrap();
    }
    assert!(info_int(&mut con, "multi-chunk-lz4", "chunks") > 1);
    assert_eq!(info_int(&mut con, "blocks-zstd", "block_bytes"), 4096);
    let _: () = redis::cmd("SAVE").query(&mut con).unwrap();
    server.kill();
    std::fs::copy(server.dir.join("dump.rdb"), dir.join("dump.rdb")).unwrap();
}
