//! NDARRAY.SET / GET / INFO / APPEND / RESHAPE behaviour against a real redis-server.

mod common;
mod util;

use common::Server;
use redis::{Connection, Value};
use util::*;

#[test]
fn every_dtype_and_codec_round_trips_through_blob_and_npy() {
    let server = Server::start();
    let mut con = server.conn();
    for (dtype, itemsize) in DTYPES {
        for codec in ["none", "lz4", "zlib"] {
            for dims in [&[][..], &[0], &[7], &[3, 5], &[2, 0, 4], &[2, 3, 4]] {
                let count: u64 = dims.iter().product();
                let data = valid_bytes(dtype, itemsize, count as usize, count + itemsize as u64);
                let key = format!("a:{dtype}:{codec}:{dims:?}");
                assert_eq!(
                    set_blob(&mut con, &key, dtype, dims, &["COMPRESS", codec], &data),
                    Value::Okay
                );
                assert_eq!(get_blob(&mut con, &key).unwrap(), data, "{key}");
                let npy: Vec<u8> = redis::cmd("NDARRAY.GET").arg(&key).query(&mut con).unwrap();
                assert!(npy.starts_with(b"\x93NUMPY\x01\x00"), "{key}");
                assert!(npy.ends_with(&data), "{key}");
                let header_len = npy.len() - data.len();
                assert_eq!(header_len % 64, 0, "{key}: data must start 64-byte aligned");
                let header = String::from_utf8_lossy(&npy[10..header_len]);
                assert!(header.contains("'fortran_order': False"), "{header}");
                assert_eq!(info_str(&mut con, &key, "dtype"), dtype);
                assert_eq!(info_int(&mut con, &key, "size"), count as i64);
                // And back in through NPY.
                let copy = format!("{key}:npy");
                let r: Value = redis::cmd("NDARRAY.SET")
                    .arg(&copy)
                    .arg("NPY")
                    .arg(&npy)
                    .query(&mut con)
                    .unwrap();
                assert_eq!(r, Value::Okay);
                assert_eq!(get_blob(&mut con, &copy).unwrap(), data, "{copy}");
            }
        }
    }
}

#[test]
fn type_and_info_describe_the_value() {
    let server = Server::start();
    let mut con = server.conn();
    let data = smooth_f32(3000);
    set_blob(
        &mut con,
        "k",
        "float32",
        &[30, 100],
        &["COMPRESS", "zlib", "LEVEL", "6"],
        &data,
    );
    let t: String = redis::cmd("TYPE").arg("k").query(&mut con).unwrap();
    assert_eq!(t, "ndarray01");
    let i = info(&mut con, "k");
    assert_eq!(
        i["shape"],
        Value::Array(vec![Value::Int(30), Value::Int(100)])
    );
    assert_eq!(i["ndim"], Value::Int(2));
    assert_eq!(i["itemsize"], Value::Int(4));
    assert_eq!(i["nbytes"], Value::Int(12000));
    assert_eq!(i["compression"], Value::BulkString(b"zlib".to_vec()));
    assert_eq!(i["level"], Value::Int(6));
    assert_eq!(i["shuffle"], Value::BulkString(b"bit".to_vec()));
    assert_eq!(i["chunks"], Value::Int(1));
    assert_eq!(i["chunk_bytes"], Value::Int(262144));
    match i["stored_bytes"] {
        Value::Int(n) => assert!(n > 0 && n < 9000, "smooth data compresses: {n}"),
        ref v => panic!("{v:?}"),
    }
    let mut resp3 = server.conn_resp3();
    let v: Value = redis::cmd("NDARRAY.INFO")
        .arg("k")
        .query(&mut resp3)
        .unwrap();
    assert!(
        matches!(v, Value::Map(ref m) if m.len() == 15),
        "RESP3 INFO is a map: {v:?}"
    );
}

#[test]
fn compression_defaults_come_from_settings_and_shuffle_is_normalised() {
    let server = Server::start_with_module_args(
        &[
            "compression",
            "zlib",
            "zlib-level",
            "3",
            "chunk-bytes",
            "4096",
        ],
        &[],
    );
    let mut con = server.conn();
    set_blob(&mut con, "z", "float32", &[3000], &[], &smooth_f32(3000));
    assert_eq!(info_str(&mut con, "z", "compression"), "zlib");
    assert_eq!(info_int(&mut con, "z", "level"), 3);
    assert_eq!(info_int(&mut con, "z", "chunks"), 3);
    assert_eq!(info_int(&mut con, "z", "chunk_bytes"), 4096);
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("ndarray.compression")
        .arg("none")
        .query(&mut con)
        .unwrap();
    set_blob(&mut con, "n", "float32", &[3000], &[], &smooth_f32(3000));
    assert_eq!(info_str(&mut con, "n", "compression"), "none");
    assert_eq!(
        info_str(&mut con, "n", "shuffle"),
        "none",
        "no compression, nothing to shuffle"
    );
    set_blob(
        &mut con,
        "u8",
        "uint8",
        &[100],
        &["COMPRESS", "lz4", "SHUFFLE", "byte"],
        &[1; 100],
    );
    assert_eq!(
        info_str(&mut con, "u8", "shuffle"),
        "none",
        "one-byte items are not byte-shuffled"
    );
    set_blob(
        &mut con,
        "u8b",
        "uint8",
        &[100],
        &["COMPRESS", "lz4"],
        &[1; 100],
    );
    assert_eq!(
        info_str(&mut con, "u8b", "shuffle"),
        "bit",
        "the default bit shuffle applies to one-byte items"
    );
    // chunk sizes round down to whole items
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("ndarray.chunk-bytes")
        .arg("5000")
        .query(&mut con)
        .unwrap();
    set_blob(
        &mut con,
        "c",
        "complex128",
        &[1000],
        &["COMPRESS", "lz4"],
        &[0; 16000],
    );
    assert_eq!(info_int(&mut con, "c", "chunk_bytes"), 4992);
    assert_eq!(get_blob(&mut con, "c").unwrap(), vec![0; 16000]);
}

#[test]
fn incompressible_chunks_are_stored_raw() {
    let server = Server::start();
    let mut con = server.conn();
    let data = noise(100_000, 7);
    set_blob(
        &mut con,
        "r",
        "uint8",
        &[100_000],
        &["COMPRESS", "zlib", "LEVEL", "9"],
        &data,
    );
    assert_eq!(info_int(&mut con, "r", "stored_bytes"), 100_000);
    assert_eq!(get_blob(&mut con, "r").unwrap(), data);
}

#[test]
fn values_in_and_out_follow_the_shape() {
    let server = Server::start();
    let mut con = server.conn();
    let ok: Value = redis::cmd("NDARRAY.SET")
        .arg("m")
        .arg("int16")
        .arg(2)
        .arg(3)
        .arg("VALUES")
        .arg(&[1, -2, 3, 4, 5, -32768])
        .query(&mut con)
        .unwrap();
    assert_eq!(ok, Value::Okay);
    let v: Value = redis::cmd("NDARRAY.GET")
        .arg("m")
        .arg("FORMAT")
        .arg("VALUES")
        .query(&mut con)
        .unwrap();
    let row = |a: [i64; 3]| Value::Array(a.iter().map(|i| Value::Int(*i)).collect());
    assert_eq!(v, Value::Array(vec![row([1, -2, 3]), row([4, 5, -32768])]));
    // 0-d: one value
    let _: () = redis::cmd("NDARRAY.SET")
        .arg("s")
        .arg("float64")
        .arg("VALUES")
        .arg("2.5")
        .query(&mut con)
        .unwrap();
    let v: Value = redis::cmd("NDARRAY.GET")
        .arg("s")
        .arg("FORMAT")
        .arg("VALUES")
        .query(&mut con)
        .unwrap();
    assert_eq!(
        v,
        Value::BulkString(b"2.5".to_vec()),
        "RESP2 doubles are strings"
    );
    // bool, complex, big unsigned, special floats
    let _: () = redis::cmd("NDARRAY.SET")
        .arg("b")
        .arg("bool")
        .arg(3)
        .arg("VALUES")
        .arg("true")
        .arg("0")
        .arg("1")
        .query(&mut con)
        .unwrap();
    let v: Vec<i64> = redis::cmd("NDARRAY.GET")
        .arg("b")
        .arg("FORMAT")
        .arg("VALUES")
        .query(&mut con)
        .unwrap();
    assert_eq!(v, [1, 0, 1]);
    let _: () = redis::cmd("NDARRAY.SET")
        .arg("c")
        .arg("complex64")
        .arg(1)
        .arg("VALUES")
        .arg("1.5")
        .arg("-2")
        .query(&mut con)
        .unwrap();
    let v: Vec<Vec<f64>> = redis::cmd("NDARRAY.GET")
        .arg("c")
        .arg("FORMAT")
        .arg("VALUES")
        .query(&mut con)
        .unwrap();
    assert_eq!(v, [[1.5, -2.0]]);
    let _: () = redis::cmd("NDARRAY.SET")
        .arg("u")
        .arg("uint64")
        .arg(1)
        .arg("VALUES")
        .arg("18446744073709551615")
        .query(&mut con)
        .unwrap();
    let v: Vec<String> = redis::cmd("NDARRAY.GET")
        .arg("u")
        .arg("FORMAT")
        .arg("VALUES")
        .query(&mut con)
        .unwrap();
    assert_eq!(v, ["18446744073709551615"]);
    let _: () = redis::cmd("NDARRAY.SET")
        .arg("f")
        .arg("float32")
        .arg(3)
        .arg("VALUES")
        .arg("nan")
        .arg("-inf")
        .arg("inf")
        .query(&mut con)
        .unwrap();
    let blob = get_blob(&mut con, "f").unwrap();
    assert!(f32::from_le_bytes(blob[0..4].try_into().unwrap()).is_nan());
    assert_eq!(
        f32::from_le_bytes(blob[4..8].try_into().unwrap()),
        f32::NEG_INFINITY
    );
    assert_eq!(
        f32::from_le_bytes(blob[8..12].try_into().unwrap()),
        f32::INFINITY
    );
    // RESP3 gets real doubles
    let mut resp3 = server.conn_resp3();
    let v: Value = redis::cmd("NDARRAY.GET")
        .arg("s")
        .arg("FORMAT")
        .arg("VALUES")
        .query(&mut resp3)
        .unwrap();
    assert_eq!(v, Value::Double(2.5));
}

#[test]
fn as_converts_on_the_way_in_and_out() {
    let server = Server::start();
    let mut con = server.conn();
    let data = f32_bytes(&[1.0, 2049.0, 0.1, -65520.0]);
    set_blob(&mut con, "h", "float32", &[4], &["AS", "float16"], &data);
    assert_eq!(info_str(&mut con, "h", "dtype"), "float16");
    let half = get_blob(&mut con, "h").unwrap();
    // 1.0, 2048 (ties to even), 0.1 -> 0x2e66, -65520 overflows to -inf
    assert_eq!(half, [0x00, 0x3c, 0x00, 0x68, 0x66, 0x2e, 0x00, 0xfc]);
    let back: Vec<u8> = redis::cmd("NDARRAY.GET")
        .arg("h")
        .arg("FORMAT")
        .arg("BLOB")
        .arg("AS")
        .arg("float32")
        .query(&mut con)
        .unwrap();
    assert_eq!(
        back,
        f32_bytes(&[1.0, 2048.0, 0.099_975_586, f32::NEG_INFINITY])
    );
    set_blob(&mut con, "i", "int8", &[3], &[], &[0xff, 1, 0x80]);
    let wide: Vec<u8> = redis::cmd("NDARRAY.GET")
        .arg("i")
        .arg("FORMAT")
        .arg("BLOB")
        .arg("AS")
        .arg("int64")
        .query(&mut con)
        .unwrap();
    let expect: Vec<u8> = [-1i64, 1, -128]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    assert_eq!(wide, expect);
    let npy: Vec<u8> = redis::cmd("NDARRAY.GET")
        .arg("i")
        .arg("AS")
        .arg("bfloat16")
        .query(&mut con)
        .unwrap();
    assert!(String::from_utf8_lossy(&npy[..64]).contains("'descr': 'bfloat16'"));
    let e = error_of(
        redis::cmd("NDARRAY.GET")
            .arg("h")
            .arg("AS")
            .arg("int32")
            .query(&mut con),
    );
    assert!(e.starts_with("DTYPE cannot cast float16 to int32"), "{e}");
}

#[test]
fn set_replaces_any_type_and_handles_nx_xx_and_ttls() {
    let server = Server::start();
    let mut con = server.conn();
    let _: () = redis::cmd("RPUSH")
        .arg("k")
        .arg("x")
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("EXPIRE")
        .arg("k")
        .arg(100)
        .query(&mut con)
        .unwrap();
    assert_eq!(
        set_blob(&mut con, "k", "uint8", &[1], &[], &[1]),
        Value::Okay
    );
    let ttl: i64 = redis::cmd("TTL").arg("k").query(&mut con).unwrap();
    assert_eq!(ttl, -1, "SET clears the TTL");
    assert_eq!(
        set_blob(&mut con, "k", "uint8", &[1], &["NX"], &[2]),
        Value::Nil
    );
    assert_eq!(
        set_blob(&mut con, "new", "uint8", &[1], &["XX"], &[2]),
        Value::Nil
    );
    let exists: i64 = redis::cmd("EXISTS").arg("new").query(&mut con).unwrap();
    assert_eq!(exists, 0);
    assert_eq!(
        set_blob(&mut con, "k", "uint8", &[1], &["XX", "EX", "100"], &[3]),
        Value::Okay
    );
    let ttl: i64 = redis::cmd("TTL").arg("k").query(&mut con).unwrap();
    assert!((99..=100).contains(&ttl), "{ttl}");
    assert_eq!(
        set_blob(&mut con, "k", "uint8", &[1], &["KEEPTTL"], &[4]),
        Value::Okay
    );
    let ttl: i64 = redis::cmd("TTL").arg("k").query(&mut con).unwrap();
    assert!((98..=100).contains(&ttl), "KEEPTTL keeps it: {ttl}");
    assert_eq!(get_blob(&mut con, "k").unwrap(), [4]);
    assert_eq!(
        set_blob(&mut con, "k", "uint8", &[1], &["PX", "60000"], &[5]),
        Value::Okay
    );
    let pttl: i64 = redis::cmd("PTTL").arg("k").query(&mut con).unwrap();
    assert!((59000..=60000).contains(&pttl), "{pttl}");
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 500;
    assert_eq!(
        set_blob(
            &mut con,
            "k",
            "uint8",
            &[1],
            &["EXAT", &at.to_string()],
            &[6]
        ),
        Value::Okay
    );
    let ttl: i64 = redis::cmd("TTL").arg("k").query(&mut con).unwrap();
    assert!((498..=500).contains(&ttl), "{ttl}");
    assert_eq!(
        set_blob(&mut con, "k", "uint8", &[1], &["PXAT", "1000"], &[7]),
        Value::Okay
    );
    let exists: i64 = redis::cmd("EXISTS").arg("k").query(&mut con).unwrap();
    assert_eq!(exists, 0, "a time in the past expires the key at once");
}

/// Redis 8.2.3 crashed in `RM_GetExpire` when a write asked an empty key for its TTL: every
/// write option that touches the expiry, on a key that does not exist, and on one of another type.
#[test]
fn keepttl_and_expiry_options_on_missing_and_other_typed_keys_are_safe() {
    let server = Server::start();
    let mut con = server.conn();
    for (options, expect_ttl) in [
        (&["KEEPTTL"][..], -1),
        (&["NX", "KEEPTTL"][..], -1),
        (&["EX", "100"][..], 100),
        (&["PXAT", "1"][..], -2),
    ] {
        let _: () = redis::cmd("DEL").arg("fresh").query(&mut con).unwrap();
        assert_eq!(
            set_blob(&mut con, "fresh", "uint8", &[1], options, &[9]),
            Value::Okay,
            "{options:?}"
        );
        let ttl: i64 = redis::cmd("TTL").arg("fresh").query(&mut con).unwrap();
        assert!(
            (expect_ttl - 1..=expect_ttl).contains(&ttl),
            "{options:?}: ttl {ttl}"
        );
    }
    // XX with KEEPTTL on a missing key writes nothing.
    let _: () = redis::cmd("DEL").arg("fresh").query(&mut con).unwrap();
    assert_eq!(
        set_blob(&mut con, "fresh", "uint8", &[1], &["XX", "KEEPTTL"], &[9]),
        Value::Nil
    );
    // A string with a TTL: KEEPTTL keeps it while the value becomes an array.
    let _: () = redis::cmd("SET")
        .arg("str")
        .arg("x")
        .arg("EX")
        .arg(100)
        .query(&mut con)
        .unwrap();
    assert_eq!(
        set_blob(&mut con, "str", "uint8", &[1], &["KEEPTTL"], &[9]),
        Value::Okay
    );
    let ttl: i64 = redis::cmd("TTL").arg("str").query(&mut con).unwrap();
    assert!((99..=100).contains(&ttl), "{ttl}");
    // Every other command on a missing key: a clear answer, and the server is still up.
    for args in [
        &["NDARRAY.GET", "nokey"][..],
        &["NDARRAY.INFO", "nokey"][..],
        &["NDARRAY.SLICE", "nokey", "0"][..],
        &["NDARRAY.SETSLICE", "nokey", "0", "VALUES", "1"][..],
        &["NDARRAY.APPEND", "nokey", "VALUES", "1"][..],
        &["NDARRAY.RESHAPE", "nokey", "1"][..],
        &["NDARRAY.MGET", "nokey", "nokey2"][..],
        &["NDARRAY.STACK", "1", "nokey"][..],
    ] {
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        let _ = cmd.query::<Value>(&mut con);
    }
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
}

#[test]
fn missing_keys_are_nil_and_other_types_are_wrongtype() {
    let server = Server::start();
    let mut con = server.conn();
    assert_eq!(get_blob(&mut con, "nope"), None);
    let _: () = redis::cmd("SET")
        .arg("str")
        .arg("x")
        .query(&mut con)
        .unwrap();
    for cmd in [
        &["NDARRAY.GET", "str"][..],
        &["NDARRAY.INFO", "str"],
        &["NDARRAY.APPEND", "str", "BLOB", "x"],
        &["NDARRAY.RESHAPE", "str", "1"],
    ] {
        let e = error_of(redis::cmd(cmd[0]).arg(&cmd[1..]).query(&mut con));
        assert_eq!(
            e, "WRONGTYPE Operation against a key holding the wrong kind of value",
            "{cmd:?}"
        );
    }
    let e = error_of(redis::cmd("NDARRAY.INFO").arg("nope").query(&mut con));
    assert_eq!(e, "NOKEY no such key");
}

#[test]
fn append_grows_axis_zero_and_reshape_keeps_elements() {
    let server = Server::start_with_module_args(&["chunk-bytes", "4096"], &[]);
    let mut con = server.conn();
    set_blob(&mut con, "t", "float32", &[0, 3], &[], &[]);
    let mut expect = Vec::new();
    for i in 0..500u32 {
        let row = f32_bytes(&[i as f32, i as f32 + 0.5, -(i as f32)]);
        let n: i64 = redis::cmd("NDARRAY.APPEND")
            .arg("t")
            .arg("BLOB")
            .arg(&row)
            .query(&mut con)
            .unwrap();
        assert_eq!(n, i64::from(i) + 1);
        expect.extend_from_slice(&row);
    }
    let n: i64 = redis::cmd("NDARRAY.APPEND")
        .arg("t")
        .arg("VALUES")
        .arg(&[1, 2, 3, 4, 5, 6])
        .query(&mut con)
        .unwrap();
    assert_eq!(n, 502);
    expect.extend(f32_bytes(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
    assert_eq!(get_blob(&mut con, "t").unwrap(), expect);
    assert_eq!(
        info_int(&mut con, "t", "chunks"),
        (expect.len() as u64).div_ceil(4096) as i64
    );
    let e = error_of(
        redis::cmd("NDARRAY.APPEND")
            .arg("t")
            .arg("BLOB")
            .arg(&[0u8; 8][..])
            .query(&mut con),
    );
    assert!(e.contains("not a whole number of 12-byte rows"), "{e}");
    // A missing key is created from NPY data.
    let npy: Vec<u8> = redis::cmd("NDARRAY.GET").arg("t").query(&mut con).unwrap();
    let n: i64 = redis::cmd("NDARRAY.APPEND")
        .arg("fresh")
        .arg("NPY")
        .arg(&npy)
        .query(&mut con)
        .unwrap();
    assert_eq!(n, 502);
    let n: i64 = redis::cmd("NDARRAY.APPEND")
        .arg("fresh")
        .arg("NPY")
        .arg(&npy)
        .query(&mut con)
        .unwrap();
    assert_eq!(n, 1004);
    let e = error_of(
        redis::cmd("NDARRAY.APPEND")
            .arg("missing")
            .arg("BLOB")
            .arg("x")
            .query(&mut con),
    );
    assert!(e.contains("no such key"), "{e}");
    let _: () = redis::cmd("NDARRAY.RESHAPE")
        .arg("t")
        .arg(3)
        .arg(502)
        .query(&mut con)
        .unwrap();
    assert_eq!(get_blob(&mut con, "t").unwrap(), expect);
    assert_eq!(
        info(&mut con, "t")["shape"],
        Value::Array(vec![Value::Int(3), Value::Int(502)])
    );
    let e = error_of(
        redis::cmd("NDARRAY.RESHAPE")
            .arg("t")
            .arg(5)
            .query(&mut con),
    );
    assert!(e.contains("cannot reshape"), "{e}");
    let _: () = redis::cmd("NDARRAY.SET")
        .arg("zero-d")
        .arg("int8")
        .arg("VALUES")
        .arg(1)
        .query(&mut con)
        .unwrap();
    let e = error_of(
        redis::cmd("NDARRAY.APPEND")
            .arg("zero-d")
            .arg("VALUES")
            .arg(1)
            .query(&mut con),
    );
    assert!(e.contains("0-d"), "{e}");
}

#[test]
fn digest_depends_on_content_not_compression() {
    let server = Server::start_with_module_args(&["chunk-bytes", "4096"], &[]);
    let mut con = server.conn();
    let data = smooth_f32(5000);
    for codec in ["none", "lz4", "zlib"] {
        set_blob(
            &mut con,
            codec,
            "float32",
            &[5000],
            &["COMPRESS", codec],
            &data,
        );
    }
    let d = digest(&mut con, "none");
    assert_eq!(digest(&mut con, "lz4"), d);
    assert_eq!(digest(&mut con, "zlib"), d);
    set_blob(&mut con, "other", "float32", &[2500, 2], &[], &data);
    assert_ne!(digest(&mut con, "other"), d, "shape is part of the digest");
}

#[test]
fn keyspace_notifications_fire_for_writes() {
    let server = Server::start_with(&["--notify-keyspace-events", "KEA"]);
    let mut con = server.conn();
    let mut sub_con = server.conn();
    let mut sub = sub_con.as_pubsub();
    sub.psubscribe("__keyevent@0__:ndarray.*").unwrap();
    sub.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    set_blob(&mut con, "n", "uint8", &[1], &[], &[1]);
    let _: i64 = redis::cmd("NDARRAY.APPEND")
        .arg("n")
        .arg("VALUES")
        .arg(2)
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("NDARRAY.RESHAPE")
        .arg("n")
        .arg(2)
        .arg(1)
        .query(&mut con)
        .unwrap();
    let events: Vec<String> = (0..3)
        .map(|_| sub.get_message().unwrap().get_channel_name().to_string())
        .collect();
    assert_eq!(
        events,
        [
            "__keyevent@0__:ndarray.set",
            "__keyevent@0__:ndarray.append",
            "__keyevent@0__:ndarray.reshape"
        ]
    );
}

/// GET BLOB / NPY of `key` against `data` of `dtype` and `dims` (the `.npy` reference comes from
/// a compressed copy, which builds its reply another way).
fn assert_reads_as(con: &mut Connection, key: &str, dtype: &str, dims: &[u64], data: &[u8]) {
    assert_eq!(get_blob(con, key).as_deref(), Some(data), "{key} BLOB");
    let npy: Vec<u8> = redis::cmd("NDARRAY.GET").arg(key).query(con).unwrap();
    assert_eq!(npy, npy_of(con, dtype, dims, data), "{key} NPY");
}

/// An uncompressed array of several chunks keeps its elements in one buffer with its `.npy`
/// header in front (so GET replies from it in one piece): the replies stay right through
/// every change of its data and shape, a reload, a replica and an offloaded read.
#[test]
fn uncompressed_arrays_of_several_chunks_reply_right_through_every_change() {
    let primary = Server::builder()
        .module_args(&["chunk-bytes", "4096", "offload-bytes", "65536"])
        .args(&["--repl-diskless-sync-delay", "0"])
        .start();
    let mut con = primary.conn();
    let mut data: Vec<u8> = (0..10_000u32).flat_map(|i| (i * 7).to_le_bytes()).collect();
    set_blob(
        &mut con,
        "slab",
        "int32",
        &[10, 1000],
        &["COMPRESS", "none"],
        &data,
    );
    assert_eq!(info_int(&mut con, "slab", "chunks"), 10);
    assert_reads_as(&mut con, "slab", "int32", &[10, 1000], &data);

    // APPEND across chunk boundaries, many times (the slab grows in place).
    for round in 0..20u32 {
        let row: Vec<u8> = (0..1000u32)
            .flat_map(|i| (round * 1000 + i).to_le_bytes())
            .collect();
        let len: i64 = redis::cmd("NDARRAY.APPEND")
            .arg("slab")
            .arg("BLOB")
            .arg(&row)
            .query(&mut con)
            .unwrap();
        assert_eq!(len, 11 + i64::from(round));
        data.extend_from_slice(&row);
    }
    assert_reads_as(&mut con, "slab", "int32", &[30, 1000], &data);

    // SETSLICE over a chunk boundary.
    let _: () = redis::cmd("NDARRAY.SETSLICE")
        .arg("slab")
        .arg("2:4, 500:")
        .arg("VALUES")
        .arg(&[-1i32; 1000])
        .query(&mut con)
        .unwrap();
    for row in 2..4 {
        for col in 500..1000 {
            let at = (row * 1000 + col) * 4;
            data[at..at + 4].copy_from_slice(&(-1i32).to_le_bytes());
        }
    }
    assert_reads_as(&mut con, "slab", "int32", &[30, 1000], &data);

    // RESHAPE rewrites the header in front of the elements.
    let _: () = redis::cmd("NDARRAY.RESHAPE")
        .arg("slab")
        .arg(&[5, 6, 1000])
        .query(&mut con)
        .unwrap();
    assert_reads_as(&mut con, "slab", "int32", &[5, 6, 1000], &data);

    // A small uncompressed array that APPEND grows past one chunk.
    let mut small: Vec<u8> = vec![1; 2000];
    set_blob(
        &mut con,
        "grows",
        "uint8",
        &[2, 1000],
        &["COMPRESS", "none"],
        &small,
    );
    for round in 0..5u8 {
        let rows = vec![round; 3000];
        let _: i64 = redis::cmd("NDARRAY.APPEND")
            .arg("grows")
            .arg("BLOB")
            .arg(&rows)
            .query(&mut con)
            .unwrap();
        small.extend_from_slice(&rows);
    }
    assert_reads_as(&mut con, "grows", "uint8", &[17, 1000], &small);

    // A read big enough to run on a worker, and a slice.
    let big: Vec<u8> = (0..(1u32 << 16)).flat_map(|i| i.to_le_bytes()).collect();
    set_blob(
        &mut con,
        "big",
        "uint32",
        &[1 << 16],
        &["COMPRESS", "none"],
        &big,
    );
    assert_reads_as(&mut con, "big", "uint32", &[1 << 16], &big);
    let slice: Vec<u8> = redis::cmd("NDARRAY.SLICE")
        .arg("big")
        .arg("1000:1300")
        .arg("FORMAT")
        .arg("BLOB")
        .query(&mut con)
        .unwrap();
    assert_eq!(slice, big[4000..5200]);

    // A replica (RDB, then the stream) and a reload rebuild the same arrays.
    let replica = Server::start_with_module_args(&["chunk-bytes", "4096"], &[]);
    let mut r = replica.conn();
    replica.replicate(&primary);
    let big2: Vec<u8> = big.iter().rev().copied().collect();
    set_blob(
        &mut con,
        "big",
        "uint32",
        &[1 << 16],
        &["COMPRESS", "none"],
        &big2,
    );
    let acked: i64 = redis::cmd("WAIT")
        .arg(1)
        .arg(10_000)
        .query(&mut con)
        .unwrap();
    assert_eq!(acked, 1);
    let expected = [
        (
            "slab",
            npy_of(&mut con, "int32", &[5, 6, 1000], &data),
            &data,
        ),
        (
            "grows",
            npy_of(&mut con, "uint8", &[17, 1000], &small),
            &small,
        ),
        ("big", npy_of(&mut con, "uint32", &[1 << 16], &big2), &big2),
    ];
    for c in [&mut con, &mut r] {
        for (key, npy, blob) in &expected {
            let got: Vec<u8> = redis::cmd("NDARRAY.GET").arg(*key).query(c).unwrap();
            assert_eq!(&got, npy, "{key} NPY");
            assert_eq!(get_blob(c, key).as_ref(), Some(*blob), "{key} BLOB");
        }
    }
    let _: () = redis::cmd("REPLICAOF")
        .arg("NO")
        .arg("ONE")
        .query(&mut r)
        .unwrap();
    let _: () = redis::cmd("DEBUG").arg("RELOAD").query(&mut con).unwrap();
    assert_reads_as(&mut con, "slab", "int32", &[5, 6, 1000], &data);
    assert_reads_as(&mut con, "big", "uint32", &[1 << 16], &big2);
    let usage: i64 = redis::cmd("MEMORY")
        .arg("USAGE")
        .arg("big")
        .query(&mut con)
        .unwrap();
    // The elements and at most the allocator's next size class (320 KiB: the room for a .npy
    // header takes the buffer past 256 KiB).
    assert!((1 << 18..(5 << 16) + 4096).contains(&usage), "{usage}");
}

/// Reads the stored form back with the core's own loader.
fn load_encoded(payload: &[u8]) -> ndarray_core::array::NdArray {
    assert!(
        payload.starts_with(b"NDAE"),
        "the encoded form starts with its magic"
    );
    ndarray_core::persist::from_payload(payload).expect("GET FORMAT ENCODED loads")
}

#[test]
fn get_format_encoded_replies_the_stored_form_as_it_is() {
    let server = Server::start();
    let mut con = server.conn();
    // 8 MB compressed (read on a worker), and a small raw array with an attribute.
    let field = smooth_f32(2_000_000);
    set_blob(
        &mut con,
        "big",
        "float32",
        &[2000, 1000],
        &["COMPRESS", "lz4"],
        &field,
    );
    set_blob(
        &mut con,
        "small",
        "int16",
        &[3],
        &["COMPRESS", "none"],
        &[1, 0, 2, 0, 3, 0],
    );
    let _: i64 = redis::cmd("NDARRAY.ATTRSET")
        .arg("small")
        .arg("unit")
        .arg("mm")
        .query(&mut con)
        .unwrap();
    let decoded_before = ndarray_stat(&mut con, "chunks_decoded");
    for (key, raw, codec) in [
        ("big", &field[..], "lz4"),
        ("small", &[1, 0, 2, 0, 3, 0][..], "none"),
    ] {
        let payload: Vec<u8> = redis::cmd("NDARRAY.GET")
            .arg(key)
            .arg("FORMAT")
            .arg("encoded")
            .query(&mut con)
            .unwrap();
        let array = load_encoded(&payload);
        assert_eq!(
            info_int(&mut con, key, "stored_bytes") as usize,
            array.store().stored_bytes()
        );
        assert_eq!(array.encoding().compression.name(), codec);
        let mut elements = Vec::new();
        array.read_all(&mut elements).unwrap();
        assert_eq!(elements, raw, "{key}: the elements");
        assert_eq!(get_blob(&mut con, key).unwrap(), raw);
    }
    // Replying the stored form decodes nothing on the server (the GET BLOBs above decoded).
    let payload: Vec<u8> = redis::cmd("NDARRAY.GET")
        .arg("small")
        .arg("FORMAT")
        .arg("ENCODED")
        .query(&mut con)
        .unwrap();
    let small = load_encoded(&payload);
    assert_eq!(small.attrs().get(b"unit"), Some(&b"mm"[..]));
    assert!(small.updated_at() > 0, "updated_at travels with it");
    let decoded_after = ndarray_stat(&mut con, "chunks_decoded");
    let big_chunks = info_int(&mut con, "big", "chunks");
    assert_eq!(
        decoded_after - decoded_before,
        big_chunks,
        "only the GET BLOB of 'big' decoded"
    );

    let missing: Value = redis::cmd("NDARRAY.GET")
        .arg("nope")
        .arg("FORMAT")
        .arg("ENCODED")
        .query(&mut con)
        .unwrap();
    assert_eq!(missing, Value::Nil);
    let e = error_of(
        redis::cmd("NDARRAY.GET")
            .arg("big")
            .arg("FORMAT")
            .arg("ENCODED")
            .arg("AS")
            .arg("float64")
            .query(&mut con),
    );
    assert!(
        e.starts_with("ERR AS does not apply to FORMAT ENCODED"),
        "{e}"
    );
    let e = error_of(
        redis::cmd("NDARRAY.SLICE")
            .arg("big")
            .arg("0")
            .arg("FORMAT")
            .arg("ENCODED")
            .query(&mut con),
    );
    assert!(
        e.starts_with("ERR FORMAT ENCODED replies a whole array"),
        "{e}"
    );
    let _: () = redis::cmd("SET").arg("s").arg("x").query(&mut con).unwrap();
    let e = error_of(
        redis::cmd("NDARRAY.GET")
            .arg("s")
            .arg("FORMAT")
            .arg("ENCODED")
            .query(&mut con),
    );
    assert!(e.starts_with("WRONGTYPE"), "{e}");
    // The reply limit holds for the stored form too.
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("ndarray.max-reply-bytes")
        .arg(1_000_000)
        .query(&mut con)
        .unwrap();
    let e = error_of(
        redis::cmd("NDARRAY.GET")
            .arg("big")
            .arg("FORMAT")
            .arg("ENCODED")
            .query(&mut con),
    );
    assert!(e.starts_with("LIMIT"), "{e}");
}

#[test]
fn mget_format_encoded_replies_each_stored_form_and_nil_for_the_rest() {
    let server = Server::start();
    let mut con = server.conn();
    let data: Vec<u8> = (0..300_000u32)
        .map(|i| (i % 251) as f32)
        .flat_map(f32::to_le_bytes)
        .collect();
    for (key, compress) in [("a", "zstd"), ("b", "none")] {
        let _: () = redis::cmd("NDARRAY.SET")
            .arg(key)
            .arg("float32")
            .arg(data.len() / 4)
            .arg("COMPRESS")
            .arg(compress)
            .arg("BLOB")
            .arg(&data)
            .query(&mut con)
            .unwrap();
    }
    let _: () = redis::cmd("SET")
        .arg("text")
        .arg("x")
        .query(&mut con)
        .unwrap();
    let got: Vec<Option<Vec<u8>>> = redis::cmd("NDARRAY.MGET")
        .arg(&["a", "missing", "text", "b"])
        .arg("format")
        .arg("encoded")
        .query(&mut con)
        .unwrap();
    assert_eq!(got.len(), 4);
    assert_eq!(got[0].as_deref(), Some(&get_encoded(&mut con, "a")[..]));
    assert_eq!(got[3].as_deref(), Some(&get_encoded(&mut con, "b")[..]));
    assert!(got[1].is_none() && got[2].is_none());
    assert!(
        got[0].as_ref().unwrap().len() < got[3].as_ref().unwrap().len(),
        "a is stored compressed"
    );
    // Each payload is an array a SET … ENCODED takes back.
    let _: () = redis::cmd("NDARRAY.SET")
        .arg("copy")
        .arg("ENCODED")
        .arg(got[0].as_deref().unwrap())
        .query(&mut con)
        .unwrap();
    assert_eq!(get_blob(&mut con, "copy").unwrap(), data);
    // FORMAT NPY is the default; BLOB and VALUES are refused, not read as keys.
    let npy: Vec<Option<Vec<u8>>> = redis::cmd("NDARRAY.MGET")
        .arg("a")
        .arg("FORMAT")
        .arg("NPY")
        .query(&mut con)
        .unwrap();
    assert!(npy[0]
        .as_deref()
        .is_some_and(|f| f.starts_with(b"\x93NUMPY")));
    let e = error_of(
        redis::cmd("NDARRAY.MGET")
            .arg("a")
            .arg("FORMAT")
            .arg("BLOB")
            .query::<Value>(&mut con),
    );
    assert!(e.starts_with("ERR NDARRAY.MGET replies FORMAT NPY"), "{e}");
    // The keys Redis sees (cluster routing, ACL): not the option. A key named FORMAT stays a key.
    let keys: Vec<String> = redis::cmd("COMMAND")
        .arg("GETKEYS")
        .arg("NDARRAY.MGET")
        .arg(&["a", "b", "FORMAT", "ENCODED"])
        .query(&mut con)
        .unwrap();
    assert_eq!(keys, ["a", "b"]);
    let keys: Vec<String> = redis::cmd("COMMAND")
        .arg("GETKEYS")
        .arg("NDARRAY.MGET")
        .arg(&["FORMAT", "ENCODED"])
        .query(&mut con)
        .unwrap();
    assert_eq!(keys, ["FORMAT", "ENCODED"]);
}

fn get_encoded(con: &mut Connection, key: &str) -> Vec<u8> {
    redis::cmd("NDARRAY.GET")
        .arg(key)
        .arg("FORMAT")
        .arg("ENCODED")
        .query(con)
        .unwrap()
}

#[test]
fn set_encoded_stores_an_encoded_array_as_it_is() {
    let server = Server::start();
    let mut con = server.conn();
    let field = smooth_f32(2_000_000);
    set_blob(
        &mut con,
        "src",
        "float32",
        &[2000, 1000],
        &["COMPRESS", "zstd", "SHUFFLE", "bit"],
        &field,
    );
    let _: i64 = redis::cmd("NDARRAY.ATTRSET")
        .arg("src")
        .arg("unit")
        .arg("K")
        .query(&mut con)
        .unwrap();
    let payload = get_encoded(&mut con, "src");
    let encoded_before = ndarray_stat(&mut con, "chunks_encoded");
    // 8 MB of elements: checked on a worker; stored as received, nothing compressed again.
    let ok: String = redis::cmd("NDARRAY.SET")
        .arg("copy")
        .arg("PX")
        .arg(100_000)
        .arg("ATTR")
        .arg("source")
        .arg("src")
        .arg("ENCODED")
        .arg(&payload)
        .query(&mut con)
        .unwrap();
    assert_eq!(ok, "OK");
    assert_eq!(
        ndarray_stat(&mut con, "chunks_encoded"),
        encoded_before,
        "no chunk re-encoded"
    );
    assert_eq!(get_blob(&mut con, "copy").unwrap(), field);
    assert_eq!(
        info_str(&mut con, "copy", "compression"),
        info_str(&mut con, "src", "compression")
    );
    assert_eq!(
        info_int(&mut con, "copy", "stored_bytes"),
        info_int(&mut con, "src", "stored_bytes")
    );
    let attrs: Vec<Vec<u8>> = redis::cmd("NDARRAY.ATTRGET")
        .arg("copy")
        .arg("unit")
        .arg("source")
        .query(&mut con)
        .unwrap();
    assert_eq!(
        attrs,
        [b"K".to_vec(), b"src".to_vec()],
        "its attributes, ATTR on top"
    );
    let ttl: i64 = redis::cmd("PTTL").arg("copy").query(&mut con).unwrap();
    assert!(ttl > 0 && ttl <= 100_000);
    // NX and XX as for any SET.
    let nx: Value = redis::cmd("NDARRAY.SET")
        .arg("copy")
        .arg("NX")
        .arg("ENCODED")
        .arg(&payload)
        .query(&mut con)
        .unwrap();
    assert_eq!(nx, Value::Nil);

    // Refused before anything changes, with the class of what is wrong.
    let db = db_digest(&mut con);
    let mut flipped = payload.clone();
    let at = flipped.len() - 200; // inside the last chunk's compressed bytes
    flipped[at] ^= 0xff;
    let cases: Vec<(Vec<Vec<u8>>, &str)> = vec![
        (
            vec![b"ENCODED".to_vec(), payload[..payload.len() - 9].to_vec()],
            "BADPAYLOAD",
        ),
        (vec![b"ENCODED".to_vec(), flipped], "BADPAYLOAD"),
        (vec![b"ENCODED".to_vec(), b"NDAX".to_vec()], "BADPAYLOAD"),
        (
            vec![b"ENCODED".to_vec(), payload[..60].to_vec()],
            "BADPAYLOAD",
        ),
        (
            vec![
                b"COMPRESS".to_vec(),
                b"lz4".to_vec(),
                b"ENCODED".to_vec(),
                payload.clone(),
            ],
            "ERR ENCODED data is stored as it is",
        ),
        (
            vec![
                b"float32".to_vec(),
                b"4".to_vec(),
                b"ENCODED".to_vec(),
                payload.clone(),
            ],
            "ERR ENCODED data carries its own dtype and shape",
        ),
    ];
    for (args, want) in cases {
        let e = error_of(
            redis::cmd("NDARRAY.SET")
                .arg("copy")
                .arg(&args)
                .query(&mut con),
        );
        assert!(e.starts_with(want), "{want}: {e}");
    }
    // A header claiming more than max-array-bytes is refused before its chunks are read.
    let mut huge = payload.clone();
    huge[28..36].copy_from_slice(&(1u64 << 40).to_le_bytes()); // dims[0]
    let e = error_of(
        redis::cmd("NDARRAY.SET")
            .arg("copy")
            .arg("ENCODED")
            .arg(&huge)
            .query(&mut con),
    );
    assert!(e.starts_with("LIMIT"), "{e}");
    assert_eq!(db_digest(&mut con), db, "refused writes change nothing");

    // MSET and MSETEX take encoded values beside .npy files (told apart by their magic).
    let small = get_encoded(&mut con, "src");
    let npy = npy_file("<f4", &[2], &f32_bytes(&[1.0, 2.0]));
    let ok: String = redis::cmd("NDARRAY.MSET")
        .arg("m1")
        .arg(&small)
        .arg("m2")
        .arg(&npy)
        .query(&mut con)
        .unwrap();
    assert_eq!(ok, "OK");
    assert_eq!(get_blob(&mut con, "m1").unwrap(), field);
    let n: i64 = redis::cmd("NDARRAY.MSETEX")
        .arg(2)
        .arg("x1")
        .arg(&small)
        .arg("x2")
        .arg(&npy)
        .arg("EX")
        .arg(100)
        .query(&mut con)
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(get_blob(&mut con, "x1").unwrap(), field);
    let e = error_of(
        redis::cmd("NDARRAY.MSET")
            .arg("m1")
            .arg(&npy)
            .arg("m2")
            .arg(&b"NDAE\x02"[..])
            .query(&mut con),
    );
    assert!(
        e.starts_with("BADPAYLOAD argument 5 (the value of key 'm2'): payload is truncated"),
        "{e}"
    );
}

#[test]
fn encoded_writes_reach_a_replica_and_replay_from_the_aof() {
    let primary = Server::start_with(&[
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--enable-debug-command",
        "yes",
    ]);
    let replica = Server::start();
    replica.replicate(&primary);
    let (mut p, mut r) = (primary.conn(), replica.conn());
    let field = smooth_f32(2_000_000);
    set_blob(
        &mut p,
        "src",
        "float32",
        &[2000, 1000],
        &["COMPRESS", "lz4"],
        &field,
    );
    set_blob(&mut p, "tiny", "int16", &[3], &[], &[1, 0, 2, 0, 3, 0]);
    let (big, small) = (get_encoded(&mut p, "src"), get_encoded(&mut p, "tiny"));
    // A big one (checked on a worker, replicated as its encoded value), a small one (replicated
    // as the command), and a batch mixing both forms.
    for (key, payload) in [("big", &big), ("small", &small)] {
        let ok: String = redis::cmd("NDARRAY.SET")
            .arg(key)
            .arg("ATTR")
            .arg("from")
            .arg("client")
            .arg("ENCODED")
            .arg(payload)
            .query(&mut p)
            .unwrap();
        assert_eq!(ok, "OK");
    }
    let npy = npy_file("<f4", &[2], &f32_bytes(&[1.0, 2.0]));
    let ok: String = redis::cmd("NDARRAY.MSET")
        .arg("m1")
        .arg(&small)
        .arg("m2")
        .arg(&npy)
        .arg("m3")
        .arg(&big)
        .query(&mut p)
        .unwrap();
    assert_eq!(ok, "OK");
    let acked: i64 = redis::cmd("WAIT").arg(1).arg(10_000).query(&mut p).unwrap();
    assert_eq!(acked, 1);
    let want = db_digest(&mut p);
    assert_eq!(db_digest(&mut r), want, "the replica holds the same arrays");
    assert_eq!(get_blob(&mut r, "big").unwrap(), field);
    for key in ["big", "small", "m3"] {
        assert_eq!(
            info_int(&mut r, key, "updated_at"),
            info_int(&mut p, key, "updated_at"),
            "{key}: the primary's time"
        );
    }
    let _: () = redis::cmd("DEBUG").arg("LOADAOF").query(&mut p).unwrap();
    assert_eq!(db_digest(&mut p), want, "the AOF replays them");
}
