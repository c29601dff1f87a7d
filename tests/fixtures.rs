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

/// The arrays every fixture set holds. Deterministic, so the test can rebuild the expected contents.
fn fixture_arrays() -> Vec<Fixture> {
    let mut out = Vec::new();
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

fn check_arrays(con: &mut Connection, prefix: &str) {
    for (key, dtype, dims, codec, data) in fixture_arrays() {
        let key = format!("{prefix}{key}");
        assert_eq!(get_blob(con, &key).as_deref(), Some(&data[..]), "{key}");
        assert_eq!(info_str(con, &key, "dtype"), dtype, "{key}");
        assert_eq!(info_int(con, &key, "ndim"), dims.len() as i64, "{key}");
        assert_eq!(info_str(con, &key, "compression"), codec, "{key}");
    }
}

#[test]
fn encoding_v1_dump_payloads_restore_exactly() {
    let server = Server::start();
    let mut con = server.conn();
    for (key, ..) in fixture_arrays() {
        let payload = std::fs::read(fixture_dir(1).join(format!("{key}.dump"))).expect("fixture");
        let _: () = redis::cmd("RESTORE")
            .arg(format!("restored:{key}"))
            .arg(0)
            .arg(payload)
            .query(&mut con)
            .unwrap();
    }
    check_arrays(&mut con, "restored:");
}

#[test]
fn encoding_v1_rdb_file_loads_exactly() {
    let mut server = Server::start();
    server.kill();
    std::fs::copy(fixture_dir(1).join("dump.rdb"), server.dir.join("dump.rdb")).unwrap();
    server.start_again();
    let mut con = server.conn();
    check_arrays(&mut con, "");
}

/// Writes the fixtures of the current encoding version. Run once when a version is released.
#[test]
#[ignore]
fn write_fixtures() {
    let mut server = Server::start_with_module_args(&["chunk-bytes", "16384"], &[]);
    let mut con = server.conn();
    let dir = fixture_dir(1);
    std::fs::create_dir_all(&dir).unwrap();
    for (key, dtype, dims, codec, data) in fixture_arrays() {
        let _: () = redis::cmd("NDARRAY.SET")
            .arg(&key)
            .arg(dtype)
            .arg(&dims)
            .arg("COMPRESS")
            .arg(codec)
            .arg("BLOB")
            .arg(&data)
            .query(&mut con)
            .unwrap();
        let dump: Vec<u8> = redis::cmd("DUMP").arg(&key).query(&mut con).unwrap();
        std::fs::write(dir.join(format!("{key}.dump")), dump).unwrap();
    }
    assert!(info_int(&mut con, "multi-chunk-lz4", "chunks") > 1);
    let _: () = redis::cmd("SAVE").query(&mut con).unwrap();
    server.kill();
    std::fs::copy(server.dir.join("dump.rdb"), dir.join("dump.rdb")).unwrap();
}
