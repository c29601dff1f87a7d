//! The codecs and filters through a real server: every codec x filter x dtype round trips,
//! COMPRESS auto, the compression settings, and NDARRAY.PROBE.

mod common;
mod util;

use common::Server;
use redis::{Connection, Value};
use util::*;

fn set(con: &mut Connection, key: &str, dtype: &str, count: usize, opts: &[&str], data: &[u8]) {
    let r: Value = redis::cmd("NDARRAY.SET")
        .arg(key)
        .arg(dtype)
        .arg(count)
        .arg(opts)
        .arg("BLOB")
        .arg(data)
        .query(con)
        .unwrap_or_else(|e| panic!("{key} {opts:?}: {e}"));
    assert_eq!(r, Value::Okay);
}

/// Smooth data of `count` items of `itemsize` bytes: compressible by every codec and filter.
fn smooth(count: usize, itemsize: usize) -> Vec<u8> {
    (0..count * itemsize)
        .map(|i| {
            let item = i / itemsize;
            if i % itemsize == 0 {
                (item / 7 % 200) as u8
            } else {
                0
            }
        })
        .collect()
}

#[test]
fn every_codec_filter_and_dtype_round_trips_across_chunks() {
    // Small chunks, so arrays span several chunks and end in a partial one.
    let server = Server::start_with_module_args(&["chunk-bytes", "4096"], &[]);
    let mut con = server.conn();
    for (dtype, itemsize) in DTYPES {
        // An item count that is not a multiple of 8 (a bit shuffle's tail).
        let count = 3 * 4096 / itemsize + 5;
        let data = if dtype == "bool" {
            smooth(count, 1).iter().map(|b| b & 1).collect()
        } else {
            smooth(count, itemsize)
        };
        for codec in ["lz4", "zlib", "zstd"] {
            for filter in ["none", "byte", "bit"] {
                let key = format!("{dtype}:{codec}:{filter}");
                set(
                    &mut con,
                    &key,
                    dtype,
                    count,
                    &["COMPRESS", codec, "SHUFFLE", filter],
                    &data,
                );
                assert_eq!(get_blob(&mut con, &key).unwrap(), data, "{key}");
                assert_eq!(info_str(&mut con, &key, "compression"), codec, "{key}");
                let expected_filter = if filter == "byte" && itemsize == 1 {
                    "none"
                } else {
                    filter
                };
                assert_eq!(
                    info_str(&mut con, &key, "shuffle"),
                    expected_filter,
                    "{key}"
                );
                let stored = info_int(&mut con, &key, "stored_bytes");
                assert!(
                    stored < data.len() as i64,
                    "{key}: {stored} of {}",
                    data.len()
                );
                // A slice decodes only its chunks, and agrees with the whole.
                let last: Vec<u8> = redis::cmd("NDARRAY.SLICE")
                    .arg(&key)
                    .arg("-3:")
                    .arg("FORMAT")
                    .arg("BLOB")
                    .query(&mut con)
                    .unwrap();
                assert_eq!(last, data[data.len() - 3 * itemsize..], "{key}");
            }
        }
    }
}

#[test]
fn zstd_levels_and_the_level_settings() {
    let server = Server::start_with_module_args(&["zstd-level", "5"], &[]);
    let mut con = server.conn();
    let data = smooth_f32(20_000);
    set(
        &mut con,
        "d",
        "float32",
        20_000,
        &["COMPRESS", "zstd"],
        &data,
    );
    assert_eq!(
        info_int(&mut con, "d", "level"),
        5,
        "the zstd-level setting"
    );
    for level in ["-7", "-1", "0", "3", "22"] {
        set(
            &mut con,
            "l",
            "float32",
            20_000,
            &["COMPRESS", "zstd", "LEVEL", level],
            &data,
        );
        assert_eq!(info_int(&mut con, "l", "level").to_string(), level);
        assert_eq!(get_blob(&mut con, "l").unwrap(), data);
    }
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("ndarray.compression")
        .arg("ZSTD")
        .query(&mut con)
        .unwrap();
    let got: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("ndarray.compression")
        .query(&mut con)
        .unwrap();
    assert_eq!(got, ["ndarray.compression", "zstd"]);
    set(&mut con, "dflt", "float32", 20_000, &[], &data);
    assert_eq!(info_str(&mut con, "dflt", "compression"), "zstd");
    let e = error_of(
        redis::cmd("CONFIG")
            .arg("SET")
            .arg("ndarray.compression")
            .arg("brotli")
            .query(&mut con),
    );
    assert!(e.contains("brotli"), "{e}");
    let e = error_of(
        redis::cmd("CONFIG")
            .arg("SET")
            .arg("ndarray.zstd-level")
            .arg("23")
            .query(&mut con),
    );
    assert!(!e.is_empty(), "zstd-level 23 accepted");
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("ndarray.shuffle")
        .arg("bit")
        .query(&mut con)
        .unwrap();
    set(&mut con, "bits", "float32", 20_000, &[], &data);
    assert_eq!(info_str(&mut con, "bits", "shuffle"), "bit");
}

#[test]
fn auto_picks_an_encoding_that_pays_and_info_shows_it() {
    let server = Server::start();
    let mut con = server.conn();
    let data = smooth_f32(100_000);
    set(
        &mut con,
        "smooth",
        "float32",
        100_000,
        &["COMPRESS", "auto"],
        &data,
    );
    assert_ne!(info_str(&mut con, "smooth", "compression"), "none");
    assert!(info_int(&mut con, "smooth", "stored_bytes") < data.len() as i64 * 3 / 4);
    assert_eq!(get_blob(&mut con, "smooth").unwrap(), data);
    // Noise does not compress: auto stores it raw rather than something larger.
    let n = noise(400_000, 9);
    set(
        &mut con,
        "noise",
        "uint8",
        n.len(),
        &["COMPRESS", "auto"],
        &n,
    );
    assert_eq!(info_str(&mut con, "noise", "compression"), "none");
    assert_eq!(info_int(&mut con, "noise", "stored_bytes"), n.len() as i64);
    // A big write decides on a worker, with the same result.
    let big = smooth_f32(1 << 20);
    set(
        &mut con,
        "big",
        "float32",
        1 << 20,
        &["COMPRESS", "auto"],
        &big,
    );
    assert_ne!(info_str(&mut con, "big", "compression"), "none");
    assert_eq!(get_blob(&mut con, "big").unwrap(), big);
    // The setting may be auto too.
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("ndarray.compression")
        .arg("auto")
        .query(&mut con)
        .unwrap();
    set(&mut con, "by-setting", "float32", 100_000, &[], &data);
    assert_eq!(
        info_str(&mut con, "by-setting", "compression"),
        info_str(&mut con, "smooth", "compression")
    );
    let e = error_of(
        redis::cmd("NDARRAY.SET")
            .arg("x")
            .arg("float32")
            .arg(1)
            .arg("LEVEL")
            .arg(3)
            .arg("BLOB")
            .arg(vec![0u8; 4])
            .query(&mut con),
    );
    assert!(e.contains("the compression setting is auto"), "{e}");
}

/// PROBE's rows as (codec, level, filter, ratio).
fn probe(
    con: &mut Connection,
    key: &str,
    extra: &[&str],
) -> Vec<(String, Option<i64>, String, f64)> {
    let rows: Vec<Value> = redis::cmd("NDARRAY.PROBE")
        .arg(key)
        .arg(extra)
        .query(con)
        .unwrap();
    rows.into_iter()
        .map(|row| {
            let Value::Array(fields) = row else {
                panic!("a row is a flat field list in RESP2: {row:?}")
            };
            let get = |name: &str| {
                let i = fields
                    .iter()
                    .position(|f| *f == Value::BulkString(name.as_bytes().to_vec()))
                    .unwrap_or_else(|| panic!("no {name}"));
                fields[i + 1].clone()
            };
            let text = |v: Value| match v {
                Value::BulkString(b) => String::from_utf8(b).unwrap(),
                other => panic!("{other:?}"),
            };
            for speed in ["encode_mbps", "decode_mbps"] {
                // A number, not a timing target: a tiny array's cold trial can be very slow.
                let mbps: f64 = text(get(speed)).parse().unwrap();
                assert!(mbps.is_finite() && mbps >= 0.0, "{speed}: {mbps}");
            }
            let level = match get("level") {
                Value::Int(l) => Some(l),
                Value::Nil => None,
                other => panic!("{other:?}"),
            };
            (
                text(get("codec")),
                level,
                text(get("filter")),
                text(get("ratio")).parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn probe_measures_every_codec_on_every_dtype_best_ratio_first() {
    let server = Server::start();
    let mut con = server.conn();
    for (dtype, itemsize) in DTYPES {
        let data = valid_bytes(dtype, itemsize, 5000, 3);
        set(&mut con, "a", dtype, 5000, &[], &data);
        let rows = probe(&mut con, "a", &[]);
        assert!(rows.windows(2).all(|w| w[0].3 >= w[1].3), "{dtype}: sorted");
        for codec in ["lz4", "zlib", "zstd"] {
            assert!(rows.iter().any(|r| r.0 == codec), "{dtype}: {codec}");
        }
        assert!(rows.iter().any(|r| r.2 == "bit"), "{dtype}");
        assert_eq!(rows.iter().any(|r| r.2 == "byte"), itemsize > 1, "{dtype}");
        assert!(
            rows.iter().all(|r| (r.0 == "lz4") == r.1.is_none()),
            "{dtype}: levels"
        );
    }
    // Smooth floats: the best encoding compresses well, and a filter helps.
    set(&mut con, "s", "float32", 50_000, &[], &smooth_f32(50_000));
    let rows = probe(&mut con, "s", &["SAMPLE", "65536"]);
    assert!(rows[0].3 > 1.5, "{:?}", rows[0]);
    // Empty and tiny arrays.
    set(&mut con, "empty", "float64", 0, &[], &[]);
    assert!(probe(&mut con, "empty", &[]).is_empty());
    set(&mut con, "tiny", "int8", 3, &[], &[1, 2, 3]);
    assert!(!probe(&mut con, "tiny", &[]).is_empty());
    // RESP3: each row is a map.
    let mut con3 = server.conn_resp3();
    let rows: Vec<Value> = redis::cmd("NDARRAY.PROBE")
        .arg("s")
        .query(&mut con3)
        .unwrap();
    assert!(matches!(rows[0], Value::Map(_)), "{:?}", rows[0]);
    // Errors.
    let e = error_of(redis::cmd("NDARRAY.PROBE").arg("nope").query(&mut con));
    assert_eq!(e, "NOKEY no such key");
    let _: () = redis::cmd("SET")
        .arg("str")
        .arg("x")
        .query(&mut con)
        .unwrap();
    let e = error_of(redis::cmd("NDARRAY.PROBE").arg("str").query(&mut con));
    assert!(e.starts_with("WRONGTYPE"), "{e}");
    let e = error_of(
        redis::cmd("NDARRAY.PROBE")
            .arg("s")
            .arg("SAMPLE")
            .arg(0)
            .query(&mut con),
    );
    assert!(e.contains("SAMPLE must be 1 to"), "{e}");
    // Inside MULTI it runs inline, with the same rows.
    let replies: Vec<Value> = redis::pipe()
        .atomic()
        .cmd("NDARRAY.PROBE")
        .arg("tiny")
        .query(&mut con)
        .unwrap();
    assert!(matches!(&replies[0], Value::Array(rows) if !rows.is_empty()));
}
