//! Bad input gets a clear error, leaves stored data unchanged, and the server keeps serving.

mod common;
mod util;

use common::Server;
use redis::Value;
use util::*;

#[test]
fn malformed_commands_get_clear_errors_and_change_nothing() {
    let server = Server::start_with_module_args(&["max-array-bytes", "1000000"], &[]);
    let mut con = server.conn();
    let good = f32_bytes(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let _: () = redis::cmd("NDARRAY.SET")
        .arg("k")
        .arg("float32")
        .arg(2)
        .arg(3)
        .arg("BLOB")
        .arg(&good)
        .query(&mut con)
        .unwrap();
    let valid_npy: Vec<u8> = redis::cmd("NDARRAY.GET").arg("k").query(&mut con).unwrap();
    let f2 = f32_bytes(&[1.0, 2.0]);
    let object_npy = npy_with_header(
        "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }",
        &[0; 16],
    );
    let structured = npy_with_header(
        "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }",
        &f2,
    );
    let unicode = npy_with_header(
        "{'descr': '<U2', 'fortran_order': False, 'shape': (1,), }",
        &[0; 8],
    );
    let short = npy_with_header(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }",
        &f2,
    );
    let long = npy_with_header(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }",
        &f2,
    );
    let huge = npy_with_header(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000,), }",
        &f2,
    );
    let over_int64 = npy_with_header(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4611686018427387904, 4), }",
        &[],
    );
    let no_shape = npy_with_header("{'descr': '<f4', 'fortran_order': False, }", &f2);
    let two_floats = npy_with_header(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
        &f2,
    );
    let bad_magic = [b"\x93NUMPX".as_slice(), &valid_npy[6..]].concat();
    let truncated_header = valid_npy[..40].to_vec();

    let b = |s: &str| s.as_bytes().to_vec();
    let cases: Vec<(Vec<Vec<u8>>, &str)> = vec![
        (vec![b("NDARRAY.SET"), b("k")], "ERR wrong number of arguments"),
        (vec![b("NDARRAY.SET"), b("k"), b("float32")], "ERR wrong number of arguments"),
        (vec![b("NDARRAY.GET")], "ERR wrong number of arguments"),
        (vec![b("NDARRAY.INFO")], "ERR wrong number of arguments"),
        (vec![b("NDARRAY.INFO"), b("k"), b("extra")], "ERR wrong number of arguments"),
        (vec![b("NDARRAY.SET"), b("k"), b("float128"), b("2"), b("BLOB"), f2.clone()], "DTYPE unknown dtype 'float128'"),
        (vec![b("NDARRAY.SET"), b("k"), b("float32"), b("-2"), b("BLOB"), f2.clone()], "ERR dimension -2 is negative"),
        (vec![b("NDARRAY.SET"), b("k"), b("float32"), b("2.5"), b("BLOB"), f2.clone()], "ERR invalid dimension '2.5'"),
        (vec![b("NDARRAY.SET"), b("k"), b("float32"), b("99999999999999999999"), b("BLOB"), f2.clone()], "ERR invalid dimension"),
        (vec![b("NDARRAY.SET"), b("k"), b("float32"), b("4611686018427387904"), b("4"), b("BLOB"), f2.clone()], "LIMIT shape (4611686018427387904, 4) of float32 is too large"),
        (vec![b("NDARRAY.SET"), b("k"), b("float32"), b("0"), b("4611686018427387904"), b("4"), b("BLOB"), vec![]], "LIMIT shape (0, 4611686018427387904, 4) of float32 is too large"),
        (vec![b("NDARRAY.SET"), b("k"), b("float64"), b("1000"), b("1000"), b("BLOB"), f2.clone()], "LIMIT float64 with shape (1000, 1000) needs 8000000 bytes, over the max-array-bytes limit of 1000000"),
        (vec![b("NDARRAY.SET"), b("k"), b("float64"), b("1000000000000"), b("VALUES"), b("1")], "LIMIT float64 with shape (1000000000000,) needs"),
        (vec![b("NDARRAY.SET"), b("k"), b("float32"), b("2"), b("3"), b("BLOB"), vec![0; 12]], "SHAPE blob is 12 bytes, float32 with shape (2, 3) needs 24"),
        (vec![b("NDARRAY.SET"), b("k"), b("float32"), b("3"), b("VALUES"), b("1"), b("2")], "SHAPE got 2 values, expected 3"),
        (vec![b("NDARRAY.SET"), b("k"), b("int8"), b("2"), b("VALUES"), b("1"), b("200")], "VALUE value 1: 200 is out of range for int8 (-128 to 127)"),
        (vec![b("NDARRAY.SET"), b("k"), b("uint16"), b("1"), b("VALUES"), b("-1")], "VALUE value 0: -1 is out of range for uint16"),
        (vec![b("NDARRAY.SET"), b("k"), b("int32"), b("1"), b("VALUES"), b("1.5")], "DTYPE value 0: Cannot cast scalar from dtype('float64') to dtype('int32') according to the rule 'same_kind'"),
        (vec![b("NDARRAY.SET"), b("k"), b("float32"), b("1"), b("VALUES"), b("one")], "VALUE value 0: 'one' is not a number"),
        (vec![b("NDARRAY.SET"), b("k"), b("bool"), b("1"), b("VALUES"), b("2")], "VALUE value 0: '2' is not a bool"),
        (vec![b("NDARRAY.SET"), b("k"), b("NPY"), b"\x93NUMPY".to_vec()], "BADNPY npy"),
        (vec![b("NDARRAY.SET"), b("k"), b("NPY"), bad_magic], "BADNPY npy"),
        (vec![b("NDARRAY.SET"), b("k"), b("NPY"), truncated_header], "BADNPY npy"),
        (vec![b("NDARRAY.SET"), b("k"), b("NPY"), object_npy], "DTYPE npy descr '|O': object arrays are not supported"),
        (vec![b("NDARRAY.SET"), b("k"), b("NPY"), structured], "DTYPE npy descr is a list: structured dtypes are not supported"),
        (vec![b("NDARRAY.SET"), b("k"), b("NPY"), unicode], "DTYPE npy"),
        (vec![b("NDARRAY.SET"), b("k"), b("NPY"), short], "BADNPY npy data is 8 bytes, float32 with shape (3,) needs 12"),
        (vec![b("NDARRAY.SET"), b("k"), b("NPY"), long], "BADNPY npy data is 8 bytes, float32 with shape (1,) needs 4"),
        (vec![b("NDARRAY.SET"), b("k"), b("NPY"), huge], "LIMIT float32 with shape (1000000000,) needs 4000000000 bytes, over the max-array-bytes limit"),
        (vec![b("NDARRAY.SET"), b("k"), b("NPY"), over_int64], "LIMIT npy shape"),
        (vec![b("NDARRAY.SET"), b("k"), b("NPY"), no_shape], "BADNPY npy"),
        (vec![b("NDARRAY.SET"), b("k"), b("float32"), b("2"), b("NPY"), valid_npy.clone()], "ERR NPY data carries its own dtype and shape"),
        (vec![b("NDARRAY.SET"), b("k"), b("float32"), b("2"), b("FROB"), b("1"), b("BLOB"), f2.clone()], "ERR invalid dimension 'FROB'"),
        (vec![b("NDARRAY.SET"), b("k"), b("float32"), b("2"), b("NX"), b("FROB"), b("BLOB"), f2.clone()], "ERR unknown option 'FROB'"),
        (vec![b("NDARRAY.SET"), b("k"), b("float32"), b("2"), b("COMPRESS"), b("gzip"), b("BLOB"), f2.clone()], "ERR unknown compression 'gzip'"),
        (vec![b("NDARRAY.SET"), b("k"), b("float32"), b("2"), b("COMPRESS"), b("zlib"), b("LEVEL"), b("10"), b("BLOB"), f2.clone()], "ERR LEVEL must be 0 to 9"),
        (vec![b("NDARRAY.SET"), b("k"), b("float32"), b("2"), b("COMPRESS"), b("lz4"), b("LEVEL"), b("3"), b("BLOB"), f2.clone()], "ERR LEVEL applies only to zlib or zstd compression (this write uses lz4)"),
        (vec![b("NDARRAY.SET"), b("k"), b("float32"), b("2"), b("SHUFFLE"), b("bits"), b("BLOB"), f2.clone()], "ERR unknown shuffle 'bits'"),
        (vec![b("NDARRAY.SET"), b("k"), b("float32"), b("2"), b("NX"), b("XX"), b("BLOB"), f2.clone()], "ERR NX and XX are mutually exclusive"),
        (vec![b("NDARRAY.SET"), b("k"), b("float32"), b("2"), b("EX"), b("10"), b("PX"), b("10"), b("BLOB"), f2.clone()], "ERR EX, PX, EXAT, PXAT and KEEPTTL are mutually exclusive"),
        (vec![b("NDARRAY.SET"), b("k"), b("float32"), b("2"), b("EX"), b("0"), b("BLOB"), f2.clone()], "ERR invalid expire time in EX"),
        (vec![b("NDARRAY.SET"), b("k"), b("float32"), b("2"), b("EX"), b("soon"), b("BLOB"), f2.clone()], "ERR invalid expire time in EX"),
        (vec![b("NDARRAY.SET"), b("k"), b("float32"), b("2"), b("AS"), b("int32"), b("BLOB"), f2.clone()], "DTYPE cannot cast float32 to int32"),
        (vec![b("NDARRAY.SET"), b("k"), b("float32"), b("2"), b("BLOB")], "ERR BLOB needs the raw bytes"),
        (vec![b("NDARRAY.SET"), b("k"), b("float32"), b("2"), b("BLOB"), f2.clone(), b("EX")], "ERR unexpected argument 'EX' after the data"),
        (vec![b("NDARRAY.SET"), b("k"), b("float32"), b("2"), b("3")], "ERR missing data"),
        (vec![b("NDARRAY.SET"), b("k"), vec![0xff, 0xfe], b("BLOB"), f2.clone()], "DTYPE unknown dtype"),
        (vec![b("NDARRAY.SET"), b("k"), b(""), b("BLOB"), f2.clone()], "DTYPE unknown dtype ''"),
        (vec![b("NDARRAY.GET"), b("k"), b("FORMAT"), b("json")], "ERR unknown format 'json'"),
        (vec![b("NDARRAY.GET"), b("k"), b("FORMAT")], "ERR FORMAT needs"),
        (vec![b("NDARRAY.GET"), b("k"), b("AS"), b("int8")], "DTYPE cannot cast float32 to int8"),
        (vec![b("NDARRAY.GET"), b("k"), b("AS"), b("nope")], "DTYPE unknown dtype 'nope'"),
        (vec![b("NDARRAY.GET"), b("k"), b("LIMIT")], "ERR unknown option 'LIMIT'"),
        (vec![b("NDARRAY.APPEND"), b("k"), b("BLOB"), vec![0; 5]], "SHAPE appended data is 5 bytes, not a whole number of 12-byte rows"),
        (vec![b("NDARRAY.APPEND"), b("k"), b("VALUES"), b("1")], "SHAPE got 1 values, not a whole number of rows of 3 values"),
        (vec![b("NDARRAY.APPEND"), b("k"), b("CSV"), b("1")], "ERR unknown data kind 'CSV'"),
        (vec![b("NDARRAY.APPEND"), b("k"), b("BLOB"), b("a"), b("b")], "ERR BLOB takes one argument"),
        (vec![b("NDARRAY.RESHAPE"), b("k"), b("7")], "SHAPE cannot reshape an array of 6 elements (2, 3) into shape (7,)"),
        (vec![b("NDARRAY.RESHAPE"), b("k"), b("-6")], "ERR dimension -6 is negative"),
        (vec![b("NDARRAY.RESHAPE"), b("k"), b("")], "ERR invalid dimension ''"),
        (vec![b("NDARRAY.RESHAPE"), b("k"), b("3"), b("2"), b("x")], "ERR invalid dimension 'x'"),
        (vec![b("NDARRAY.RESHAPE"), b("k"), b("18446744073709551615")], "LIMIT shape (18446744073709551615,) of float32 is too large"),
        (vec![b("NDARRAY.RESHAPE"), b("missing"), b("1")], "NOKEY no such key"),
        (vec![b("NDARRAY.RESHAPE")], "ERR wrong number of arguments"),
        (vec![b("NDARRAY.APPEND"), b("k")], "ERR wrong number of arguments"),
        (vec![b("NDARRAY.APPEND"), b("k"), b("BLOB")], "ERR wrong number of arguments"),
        (vec![b("NDARRAY.APPEND"), b("k"), b("VALUES"), b("1"), b("2"), b("x")], "VALUE value 2: 'x' is not a number"),
        (vec![b("NDARRAY.APPEND"), b("k"), b("NPY"), b("garbage")], "BADNPY npy"),
        (vec![b("NDARRAY.APPEND"), b("k"), b("NPY"), two_floats.clone()], "SHAPE npy data of shape (2,) does not fit rows of shape (3,)"),
        (vec![b("NDARRAY.APPEND"), b("k"), b(""), b("1")], "ERR unknown data kind ''"),
        (vec![b("NDARRAY.APPEND"), b("missing"), b("VALUES"), b("1")], "NOKEY no such key"),
        (vec![b("NDARRAY.INFO"), b("missing")], "NOKEY no such key"),
        (vec![b("NDARRAY.SLICE"), b("k")], "ERR wrong number of arguments"),
        (vec![b("NDARRAY.SLICE"), b("k"), b("0:1:0")], "SELECTION slice step cannot be zero"),
        (vec![b("NDARRAY.SLICE"), b("k"), b("0,0,0")], "BOUNDS too many indices"),
        (vec![b("NDARRAY.SLICE"), b("k"), b("..., ...")], "SELECTION an index can only have a single ellipsis"),
        (vec![b("NDARRAY.SLICE"), b("k"), b("2")], "BOUNDS index 2 is out of bounds for axis 0 with size 2"),
        (vec![b("NDARRAY.SLICE"), b("k"), b("99999999999999999999999999")], "SELECTION invalid selection"),
        (vec![b("NDARRAY.SLICE"), b("k"), vec![0xc3, 0x28]], "SELECTION selection is not valid UTF-8"),
        (vec![b("NDARRAY.SLICE"), b("k"), b("0"), b("FORMAT"), b("")], "ERR unknown format ''"),
        (vec![b("NDARRAY.SLICE"), b("k"), b("0"), b("AS"), b("int8")], "DTYPE cannot cast float32 to int8"),
        (vec![b("NDARRAY.SLICE"), b("k"), b("0"), b("EXTRA")], "ERR unknown option 'EXTRA'"),
        (vec![b("NDARRAY.SLICE"), b("k"), "x".repeat((1 << 20) + 1).into_bytes()], "SELECTION selection is longer than 1048576 bytes"),
        (vec![b("NDARRAY.SETSLICE"), b("k"), b("0")], "ERR wrong number of arguments"),
        (vec![b("NDARRAY.SETSLICE"), b("k"), b("0"), b("BLOB")], "ERR wrong number of arguments"),
        (vec![b("NDARRAY.SETSLICE"), b("k"), b("0"), b("BLOB"), b("x")], "SHAPE data is 1 bytes, the selection of shape (3,) needs 12"),
        (vec![b("NDARRAY.SETSLICE"), b("k"), b("0"), b("VALUES"), b("1"), b("2")], "SHAPE got 2 values, expected 3"),
        (vec![b("NDARRAY.SETSLICE"), b("k"), b("0"), b("VALUES"), b("nope")], "VALUE value 0: 'nope' is not a number"),
        (vec![b("NDARRAY.SETSLICE"), b("k"), b("0"), b("NPY"), valid_npy.clone()], "SHAPE npy data of shape (2, 3) does not match the selection's shape (3,)"),
        (vec![b("NDARRAY.SETSLICE"), b("k"), b("5"), b("VALUES"), b("1")], "BOUNDS index 5 is out of bounds"),
        (vec![b("NDARRAY.SETSLICE"), b("k"), b("a"), b("VALUES"), b("1")], "SELECTION invalid selection"),
        (vec![b("NDARRAY.SETSLICE"), b("k"), b("0"), b("XML"), b("1")], "ERR unknown data kind 'XML'"),
        (vec![b("NDARRAY.MGET")], "ERR wrong number of arguments"),
        (vec![b("NDARRAY.MSET")], "ERR wrong number of arguments"),
        (vec![b("NDARRAY.MSET"), b("k")], "ERR wrong number of arguments"),
        (vec![b("NDARRAY.MSET"), b("k"), valid_npy.clone(), b("k2")], "ERR wrong number of arguments"),
        (vec![b("NDARRAY.MSET"), b("k"), b("")], "BADNPY argument 3 (the value of key 'k'): npy"),
        (vec![b("NDARRAY.MSET"), b("k"), valid_npy.clone(), b("k"), b("junk")], "BADNPY argument 5 (the value of key 'k'): npy"),
        (vec![b("NDARRAY.MSET"), vec![0xff, 0x00], b("junk")], "BADNPY argument 3 (the value of key '\\xff\\x00'): npy"),
        (vec![b("NDARRAY.STACK")], "ERR wrong number of arguments"),
        (vec![b("NDARRAY.STACK"), b("2"), b("k"), b("missing")], "NOKEY no such key 'missing'"),
        (vec![b("NDARRAY.STACK"), b("2"), b("k"), b("list")], "WRONGTYPE"),
        (vec![b("NDARRAY.GET"), b("list")], "WRONGTYPE"),
        (vec![b("NDARRAY.SLICE"), b("list"), b("0")], "WRONGTYPE"),
        (vec![b("NDARRAY.SETSLICE"), b("list"), b("0"), b("VALUES"), b("1")], "WRONGTYPE"),
        (vec![b("NDARRAY.INFO"), b("list")], "WRONGTYPE"),
        (vec![b("NDARRAY.SET"), b("k"), b("float32"), b("2"), b("VALUES"), b("0x10"), b("1")], "VALUE value 0: '0x10' is not a number"),
        (vec![b("NDARRAY.SET"), b("k"), b("int64"), b("1"), b("VALUES"), b("9223372036854775808")], "VALUE value 0: 9223372036854775808 is out of range for int64"),
        (vec![b("NDARRAY.SET"), b("k"), b("uint64"), b("1"), b("VALUES"), b("99999999999999999999999999999999999999999")], "VALUE value 0: '99999999999999999999999999999999999999999' is not an integer"),
        (vec![b("NDARRAY.SET"), b("k"), b("float32"), b("1"), b("VALUES"), b("")], "VALUE value 0: '' is not a number"),
        (vec![b("NDARRAY.SET"), b("k"), b("float32"), b("1"), b("VALUES"), vec![0xff]], "VALUE value 0: not valid UTF-8"),
        (vec![b("NDARRAY.SET"), b("k"), b("float32"), b("1"), b("PX"), b("-5"), b("BLOB"), vec![0; 4]], "ERR invalid expire time in PX"),
        (vec![b("NDARRAY.SET"), b("k"), b("float32"), b("1"), b("EXAT"), b("0"), b("BLOB"), vec![0; 4]], "ERR invalid expire time in EXAT"),
        (vec![b("NDARRAY.SET"), b("k"), b("float32"), b("1"), b("SHUFFLE"), b(""), b("BLOB"), vec![0; 4]], "ERR unknown shuffle ''"),
        (vec![b("NDARRAY.SET"), b("k"), b("float32"), b("1"), b("COMPRESS"), b(""), b("BLOB"), vec![0; 4]], "ERR unknown compression ''"),
        (vec![b("NDARRAY.SET"), b("k"), b("float32"), b("1"), b("COMPRESS"), b("zlib"), b("LEVEL"), b("-1"), b("BLOB"), vec![0; 4]], "ERR LEVEL must be 0 to 9 for zlib, got -1"),
        (vec![b("NDARRAY.SET"), b("k"), b("float32"), b("1"), b("COMPRESS"), b("zstd"), b("LEVEL"), b("23"), b("BLOB"), vec![0; 4]], "ERR LEVEL must be -7 to 22 for zstd, got 23"),
        (vec![b("NDARRAY.SET"), b("k"), b("float32"), b("1"), b("COMPRESS"), b("auto"), b("LEVEL"), b("1"), b("BLOB"), vec![0; 4]], "ERR COMPRESS auto picks the level and the filter itself"),
        (vec![b("NDARRAY.SET"), b("k"), b("float32"), b("1"), b("COMPRESS"), b("auto"), b("SHUFFLE"), b("bit"), b("BLOB"), vec![0; 4]], "ERR COMPRESS auto picks the level and the filter itself"),
        (vec![b("NDARRAY.SET"), b("k"), b("float32"), b("1"), b("COMPRESS"), b("snappy"), b("BLOB"), vec![0; 4]], "ERR unknown compression 'snappy' (expected none, lz4, zlib, zstd or auto)"),
        (vec![b("NDARRAY.SET"), b("k"), b("float32"), b("1"), b("SHUFFLE"), b("nibble"), b("BLOB"), vec![0; 4]], "ERR unknown shuffle 'nibble' (expected none, byte or bit)"),
        (vec![b("NDARRAY.SET"), b("k"), b("float32"), b("1"), b("AS"), vec![0xfe], b("BLOB"), vec![0; 4]], "DTYPE unknown dtype '\\xfe'"),
        (vec![b("NDARRAY.SET"), b("k"), b("float32"), b("1"), b("AS"), b("int16"), b("BLOB"), vec![0; 4]], "DTYPE cannot cast float32 to int16"),
        (vec![b("NDARRAY.SET"), b("k"), b("float32"), "1 ".repeat(40).split(' ').filter(|s| !s.is_empty()).map(b).collect::<Vec<_>>().concat(), b("BLOB"), vec![0; 4]], "ERR invalid dimension"),
    ];
    let _: () = redis::cmd("RPUSH")
        .arg("list")
        .arg("x")
        .query(&mut con)
        .unwrap();
    let before = get_blob(&mut con, "k").unwrap();
    let digest_before = digest(&mut con, "k");
    let mut mismatches = Vec::new();
    for (args, want) in &cases {
        let reply: redis::RedisResult<Value> = redis::cmd(std::str::from_utf8(&args[0]).unwrap())
            .arg(&args[1..])
            .query(&mut con);
        let e = match reply {
            Ok(v) => format!("success: {v:?}"),
            Err(e) => format!("{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or("")),
        };
        if !e.starts_with(want) {
            mismatches.push(format!("got '{e}', want '{want}…'"));
        }
        assert_eq!(
            get_blob(&mut con, "k").as_ref(),
            Some(&before),
            "{want}: stored value changed"
        );
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    assert_eq!(digest(&mut con, "k"), digest_before);
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
    assert!(cases.len() >= 100, "{} cases", cases.len());
}

#[test]
fn values_replies_refuse_shapes_with_too_many_empty_rows() {
    let server = Server::start();
    let mut con = server.conn();
    let ok: Value = redis::cmd("NDARRAY.SET")
        .arg("e")
        .arg("int8")
        .arg("4611686018427387903")
        .arg(0)
        .arg("BLOB")
        .arg("")
        .query(&mut con)
        .unwrap();
    assert_eq!(ok, Value::Okay);
    let e = error_of(
        redis::cmd("NDARRAY.GET")
            .arg("e")
            .arg("FORMAT")
            .arg("VALUES")
            .query(&mut con),
    );
    assert!(e.contains("too large for FORMAT VALUES"), "{e}");
    let npy: Vec<u8> = redis::cmd("NDARRAY.GET").arg("e").query(&mut con).unwrap();
    assert!(String::from_utf8_lossy(&npy).contains("(4611686018427387903, 0)"));
}
