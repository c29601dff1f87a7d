//! NDARRAY.APPLY and NDARRAY.REDUCE against a real server: APPLY is atomic under concurrent
//! clients (inline and on workers), replicas and the AOF hold bit-identical results, REDUCE gives
//! the same bytes on a worker as inline, and bad input changes nothing. (NumPy agreement for
//! every dtype, shape, axis and selection is in python/tests/test_compute.py.)

mod common;
mod util;

use common::Server;
use redis::{Connection, Value};
use util::*;

fn f32_bytes(values: impl IntoIterator<Item = f32>) -> Vec<u8> {
    values.into_iter().flat_map(f32::to_le_bytes).collect()
}

fn set(con: &mut Connection, key: &str, dtype: &str, dims: &[usize], data: &[u8], opts: &[&str]) {
    let dims: Vec<u64> = dims.iter().map(|&d| d as u64).collect();
    assert_eq!(set_blob(con, key, dtype, &dims, opts, data), Value::Okay);
}

fn apply(con: &mut Connection, args: &[&[u8]]) -> redis::RedisResult<Value> {
    redis::cmd("NDARRAY.APPLY").arg(args).query(con)
}

/// A `.npy` file of float32 `values` with shape `dims`.
fn npy_f32(dims: &[usize], values: &[f32]) -> Vec<u8> {
    npy_file("<f4", dims, &f32_bytes(values.iter().copied()))
}

#[test]
fn concurrent_apply_add_loses_no_update_inline_or_on_workers() {
    let server = Server::builder()
        .module_args(&["offload-bytes", "65536", "chunk-bytes", "65536"])
        .start();
    let mut con = server.conn();
    set(
        &mut con,
        "small",
        "float32",
        &[512],
        &f32_bytes([0.0; 512]),
        &[],
    );
    // 1 MiB: every APPLY of it is computed on a worker, from a snapshot another APPLY may have
    // made stale by the time it installs.
    let big = 1 << 18;
    set(
        &mut con,
        "big",
        "float32",
        &[big],
        &f32_bytes(vec![0.0; big]),
        &[],
    );
    let (threads, rounds) = (8, 100);
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let client = server.client();
            std::thread::spawn(move || {
                let mut con = client.get_connection().unwrap();
                for round in 0..rounds {
                    let key: &[u8] = if (t + round) % 10 == 0 {
                        b"big"
                    } else {
                        b"small"
                    };
                    let reply = apply(&mut con, &[key, b"add", b"VALUES", b"1"]).unwrap();
                    assert_eq!(reply, Value::Okay);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let count = |key| -> f32 {
        let n: f64 = (0..threads)
            .map(|t| {
                (0..rounds)
                    .filter(|r| ((t + r) % 10 == 0) == (key == "big"))
                    .count() as f64
            })
            .sum();
        n as f32
    };
    let small = get_blob(&mut con, "small").unwrap();
    assert_eq!(small, f32_bytes(vec![count("small"); 512]));
    let big_now = get_blob(&mut con, "big").unwrap();
    assert_eq!(big_now, f32_bytes(vec![count("big"); big]));
}

#[test]
fn apply_replicates_bit_identical_arrays_and_replays_from_the_aof() {
    let primary = Server::builder()
        .module_args(&["offload-bytes", "65536"])
        .args(&["--appendonly", "yes"])
        .start();
    let replica = Server::builder()
        .module_args(&["offload-bytes", "65536"])
        .start();
    replica.replicate(&primary);
    let (mut p, mut r) = (primary.conn(), replica.conn());
    let wave: Vec<f32> = (0..6000).map(|i| (i as f32 * 0.37).sin() * 1e3).collect();
    set(
        &mut p,
        "f32",
        "float32",
        &[60, 100],
        &f32_bytes(wave.iter().copied()),
        &["COMPRESS", "zstd"],
    );
    set(
        &mut p,
        "f16",
        "float16",
        &[4],
        &[0, 60, 0, 188, 0, 126, 255, 123],
        &[],
    );
    set(
        &mut p,
        "c64",
        "complex64",
        &[2],
        &f32_bytes([1.5, -2.0, 0.1, 3.0]),
        &[],
    );
    set(&mut p, "i8", "int8", &[3], &[120, 0, 128], &[]);
    // 2 MiB: its whole-array APPLYs replicate as SETSLICEs of at most 1 MiB each.
    let big = 1 << 19;
    set(
        &mut p,
        "big",
        "float32",
        &[big],
        &f32_bytes((0..big).map(|i| i as f32)),
        &[],
    );
    let big_ramp = npy_f32(
        &[big],
        &(0..big).map(|i| (i % 7) as f32).collect::<Vec<_>>(),
    );
    let row = npy_f32(
        &[100],
        &(0..100).map(|i| 1.0 / (i as f32 + 3.0)).collect::<Vec<_>>(),
    );
    let col = npy_f32(
        &[60, 1],
        &(0..60).map(|i| i as f32 * 0.1).collect::<Vec<_>>(),
    );
    let steps: Vec<Vec<&[u8]>> = vec![
        vec![b"f32", b"add", b"VALUES", b"0.1"],
        vec![b"f32", b"divide", b"NPY", &row],
        vec![
            b"f32",
            b"multiply",
            b"SELECT",
            b"::7, 3:90:4",
            b"VALUES",
            b"-1.7",
        ],
        vec![b"f32", b"maximum", b"NPY", &col],
        vec![
            b"f32",
            b"minimum",
            b"SELECT",
            b"[5, 2, 5]",
            b"VALUES",
            b"nan",
        ],
        vec![b"f16", b"divide", b"VALUES", b"3"],
        vec![b"c64", b"divide", b"VALUES", b"0.3", b"-7"],
        vec![b"i8", b"add", b"VALUES", b"100"],
        vec![b"i8", b"subtract", b"SELECT", b"1:", b"VALUES", b"-128"],
        vec![b"big", b"multiply", b"VALUES", b"1.0000001"],
        vec![b"big", b"add", b"SELECT", b"::3", b"VALUES", b"0.25"],
        vec![b"big", b"subtract", b"SELECT", b"::-1", b"NPY", &big_ramp],
    ];
    for step in &steps {
        assert_eq!(apply(&mut p, step).unwrap(), Value::Okay, "{step:?}");
    }
    let acked: i64 = redis::cmd("WAIT").arg(1).arg(10_000).query(&mut p).unwrap();
    assert_eq!(acked, 1);
    let keys = ["f32", "f16", "c64", "i8", "big"];
    let on_primary: Vec<Vec<u8>> = keys.iter().map(|k| get_blob(&mut p, k).unwrap()).collect();
    for (key, bytes) in keys.iter().zip(&on_primary) {
        assert_eq!(
            get_blob(&mut r, key).as_ref(),
            Some(bytes),
            "replica's {key}"
        );
    }
    // The 2 MiB results came as several SETSLICEs of at most 1 MiB: more than one per APPLY.
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut r)
        .unwrap();
    let setslices: usize = stats
        .lines()
        .find_map(|l| l.strip_prefix("cmdstat_ndarray.setslice:calls="))
        .and_then(|v| v.split(',').next()?.parse().ok())
        .unwrap_or(0);
    assert!(
        setslices > steps.len(),
        "{setslices} SETSLICEs for {} APPLYs",
        steps.len()
    );
    // int8: 120 + 100 wraps to -36; 0 + 100 - (-128) wraps to -28; -128 + 100 + 128 = 100.
    assert_eq!(on_primary[3], [(-36i8) as u8, (-28i8) as u8, 100]);
    // The AOF holds the results, not the arithmetic: a reload gives the same bytes.
    let _: () = redis::cmd("DEBUG").arg("LOADAOF").query(&mut p).unwrap();
    for (key, bytes) in keys.iter().zip(&on_primary) {
        assert_eq!(
            get_blob(&mut p, key).as_ref(),
            Some(bytes),
            "{key} after LOADAOF"
        );
    }
}

#[test]
fn an_encoded_operand_applies_as_its_array() {
    let server = Server::start();
    let mut con = server.conn();
    set(
        &mut con,
        "a",
        "float32",
        &[2, 3],
        &f32_bytes([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
        &[],
    );
    set(
        &mut con,
        "row",
        "float64",
        &[3],
        &[0.5f64, 0.25, 2.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<u8>>(),
        &["COMPRESS", "zstd"],
    );
    let payload: Vec<u8> = redis::cmd("NDARRAY.GET")
        .arg("row")
        .arg("FORMAT")
        .arg("ENCODED")
        .query(&mut con)
        .unwrap();
    let reply = apply(&mut con, &[b"a", b"multiply", b"ENCODED", &payload]).unwrap();
    assert_eq!(reply, Value::Okay);
    assert_eq!(
        get_blob(&mut con, "a").unwrap(),
        f32_bytes([0.5, 0.5, 6.0, 2.0, 1.25, 12.0])
    );
    let bad = apply(&mut con, &[b"a", b"add", b"ENCODED", b"NDAE garbage"]).unwrap_err();
    assert!(bad.to_string().contains("BADPAYLOAD"), "{bad}");
}

#[test]
fn reduce_on_a_worker_replies_the_same_bytes_as_inline() {
    let server = Server::builder()
        .module_args(&["offload-bytes", "65536"])
        .start();
    let mut con = server.conn();
    let n = 3 << 18;
    let values = (0..n).map(|i| ((i * 7919) % 10007) as f32 * 1e-3 - 3.0);
    set(
        &mut con,
        "a",
        "float32",
        &[n / 768, 768],
        &f32_bytes(values),
        &["COMPRESS", "lz4"],
    );
    let cases: [&[&str]; 6] = [
        &["sum"],
        &["mean", "AXIS", "0"],
        &["var", "AXIS", "1"],
        &["std"],
        &["argmax"],
        &["min", "SELECT", "::3, 5:700:7", "AXIS", "-1", "KEEPDIMS"],
    ];
    let run = |con: &mut Connection| -> Vec<Vec<u8>> {
        cases
            .iter()
            .map(|c| {
                redis::cmd("NDARRAY.REDUCE")
                    .arg("a")
                    .arg(*c)
                    .arg("FORMAT")
                    .arg("BLOB")
                    .query(con)
                    .unwrap()
            })
            .collect()
    };
    let before = ndarray_stat(&mut con, "bytes_offloaded");
    let on_workers = run(&mut con);
    assert!(ndarray_stat(&mut con, "bytes_offloaded") > before);
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("ndarray.offload-bytes")
        .arg("1073741824")
        .query(&mut con)
        .unwrap();
    assert_eq!(run(&mut con), on_workers);
}

#[test]
fn bad_operands_are_refused_and_change_nothing() {
    let server = Server::start();
    let mut con = server.conn();
    set(
        &mut con,
        "a",
        "int32",
        &[2, 3],
        &[1u8, 0, 0, 0].repeat(6),
        &[],
    );
    let before = get_blob(&mut con, "a");
    let bad_npy = npy_f32(&[4], &[1.0; 4]);
    let bad_int_npy = npy_file("<i4", &[4], &[0u8; 16]);
    let refused: Vec<(Vec<&[u8]>, &str)> = vec![
        (
            vec![b"a", b"add", b"VALUES", b"1.5"],
            "DTYPE Cannot cast ufunc 'add' output from dtype('float64') to dtype('int32')",
        ),
        (
            vec![b"a", b"divide", b"VALUES", b"2"],
            "DTYPE Cannot cast ufunc 'divide'",
        ),
        (
            vec![b"a", b"add", b"VALUES", b"99999999999"],
            "VALUE Python integer 99999999999 out of bounds for int32",
        ),
        (
            vec![b"a", b"add", b"NPY", &bad_npy],
            "DTYPE Cannot cast ufunc 'add' output from dtype('float64')",
        ),
        (
            vec![b"a", b"add", b"NPY", &bad_int_npy],
            "SHAPE non-broadcastable operand with shape (4,)",
        ),
        (vec![b"a", b"add", b"NPY", b"not a npy"], "BADNPY"),
        (
            vec![b"a", b"power", b"VALUES", b"2"],
            "ERR unknown ufunc 'power'",
        ),
        (
            vec![b"a", b"add", b"VALUES", b"1", b"2"],
            "SHAPE got 2 values",
        ),
        (
            vec![b"a", b"add", b"SELECT", b"9", b"VALUES", b"1"],
            "BOUNDS",
        ),
        (vec![b"a", b"add", b"NPY"], "ERR wrong number of arguments"),
        (vec![b"missing", b"add", b"VALUES", b"1"], "no such key"),
    ];
    for (args, expected) in &refused {
        let err = apply(&mut con, args).unwrap_err().to_string();
        // redis-rs shows `CODE: message`.
        // An `ERR` reply shows as `ResponseError`.
        let (code, message) = expected.split_once(' ').unwrap_or((expected, ""));
        let code = if code == "ERR" { "ResponseError" } else { code };
        assert!(
            err.contains(code) && err.contains(message),
            "{args:?}: {err}"
        );
        assert_eq!(
            get_blob(&mut con, "a"),
            before,
            "{args:?} changed the array"
        );
    }
    let _: () = redis::cmd("SET").arg("s").arg("x").query(&mut con).unwrap();
    let err = apply(&mut con, &[b"s", b"add", b"VALUES", b"1"]).unwrap_err();
    assert!(err.to_string().contains("WRONGTYPE"), "{err}");
    let reduce = |con: &mut Connection, args: &[&str]| -> String {
        redis::cmd("NDARRAY.REDUCE")
            .arg(args)
            .query::<Value>(con)
            .unwrap_err()
            .to_string()
    };
    assert!(reduce(&mut con, &["a", "median"]).contains("unknown op 'median'"));
    assert!(reduce(&mut con, &["a", "sum", "AXIS", "2"])
        .contains("axis 2 is out of bounds for array of dimension 2"));
    assert!(
        reduce(&mut con, &["a", "sum", "AXIS", "0", "-2"]).contains("duplicate value in 'axis'")
    );
    assert!(reduce(&mut con, &["a", "argmin", "AXIS", "0", "1"]).contains("argmin takes one AXIS"));
    assert!(reduce(&mut con, &["a", "max", "AS", "int64"]).contains("max takes no AS"));
    assert!(reduce(&mut con, &["a", "min", "SELECT", "0:0"])
        .contains("zero-size array to reduction operation minimum"));
    let nil: Value = redis::cmd("NDARRAY.REDUCE")
        .arg("missing")
        .arg("sum")
        .query(&mut con)
        .unwrap();
    assert_eq!(nil, Value::Nil);
}
