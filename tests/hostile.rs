//! Hostile DUMP payloads: valid payloads mutated (field values, bit flips, truncations,
//! extensions, huge claimed sizes, wrong codes) with the CRC recomputed so Redis hands them to the
//! module's loader. Every RESTORE must fail cleanly or yield a value that reads back consistently;
//! the server keeps serving and other keys stay intact.

mod common;
mod util;

use common::Server;
use redis::{Connection, Value};
use std::time::{Duration, Instant};
use util::*;

/// One field of a module value in an RDB payload.
#[derive(Debug, Clone, PartialEq)]
enum Field {
    Uint(u64),
    Bytes(Vec<u8>),
}

/// A module value as DUMP serialises it: type byte, module id, fields, EOF opcode.
#[derive(Debug, Clone)]
struct ModuleValue {
    type_byte: u8,
    module_id: u64,
    fields: Vec<Field>,
}

impl ModuleValue {
    /// The same value declared at encoding `version` (the low 10 bits of a module id).
    fn at_version(self, version: u64) -> ModuleValue {
        ModuleValue {
            module_id: (self.module_id & !0x3ff) | version,
            ..self
        }
    }
}

const OPCODE_EOF: u64 = 0;
const OPCODE_UINT: u64 = 2;
const OPCODE_STRING: u64 = 5;

fn read_len(b: &[u8], pos: &mut usize) -> (u64, Option<u8>) {
    let first = b[*pos];
    *pos += 1;
    match first >> 6 {
        0 => (u64::from(first & 0x3f), None),
        1 => {
            let v = (u64::from(first & 0x3f) << 8) | u64::from(b[*pos]);
            *pos += 1;
            (v, None)
        }
        2 if first == 0x80 => {
            let v = u32::from_be_bytes(b[*pos..*pos + 4].try_into().unwrap());
            *pos += 4;
            (u64::from(v), None)
        }
        2 => {
            let v = u64::from_be_bytes(b[*pos..*pos + 8].try_into().unwrap());
            *pos += 8;
            (v, None)
        }
        _ => (0, Some(first & 0x3f)), // special string encoding
    }
}

fn write_len(out: &mut Vec<u8>, v: u64) {
    if v < 64 {
        out.push(v as u8);
    } else if v < 16384 {
        out.push(0x40 | (v >> 8) as u8);
        out.push(v as u8);
    } else if v <= u64::from(u32::MAX) {
        out.push(0x80);
        out.extend_from_slice(&(v as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&v.to_be_bytes());
    }
}

fn read_string(b: &[u8], pos: &mut usize) -> Vec<u8> {
    match read_len(b, pos) {
        (len, None) => {
            let s = b[*pos..*pos + len as usize].to_vec();
            *pos += len as usize;
            s
        }
        (_, Some(0)) => {
            let v = b[*pos] as i8;
            *pos += 1;
            v.to_string().into_bytes()
        }
        (_, Some(1)) => {
            let v = i16::from_le_bytes(b[*pos..*pos + 2].try_into().unwrap());
            *pos += 2;
            v.to_string().into_bytes()
        }
        (_, Some(2)) => {
            let v = i32::from_le_bytes(b[*pos..*pos + 4].try_into().unwrap());
            *pos += 4;
            v.to_string().into_bytes()
        }
        (_, Some(enc)) => panic!("string encoding {enc} (run the server with rdbcompression no)"),
    }
}

impl ModuleValue {
    fn parse(body: &[u8]) -> ModuleValue {
        let mut pos = 1;
        let (module_id, _) = read_len(body, &mut pos);
        let mut fields = Vec::new();
        loop {
            let (opcode, _) = read_len(body, &mut pos);
            match opcode {
                OPCODE_EOF => break,
                OPCODE_UINT => fields.push(Field::Uint(read_len(body, &mut pos).0)),
                OPCODE_STRING => fields.push(Field::Bytes(read_string(body, &mut pos))),
                other => panic!("unexpected module opcode {other}"),
            }
        }
        assert_eq!(pos, body.len(), "the whole body is one module value");
        ModuleValue {
            type_byte: body[0],
            module_id,
            fields,
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = vec![self.type_byte];
        write_len(&mut out, self.module_id);
        for f in &self.fields {
            match f {
                Field::Uint(v) => {
                    write_len(&mut out, OPCODE_UINT);
                    write_len(&mut out, *v);
                }
                Field::Bytes(b) => {
                    write_len(&mut out, OPCODE_STRING);
                    write_len(&mut out, b.len() as u64);
                    out.extend_from_slice(b);
                }
            }
        }
        write_len(&mut out, OPCODE_EOF);
        out
    }
}

const INTERESTING: [u64; 16] = [
    0,
    1,
    2,
    3,
    7,
    9,
    14,
    15,
    16,
    32,
    33,
    255,
    4096,
    1 << 31,
    1 << 62,
    u64::MAX,
];

/// One mutation of a parsed value, or of its raw bytes.
fn mutate(rng: &mut Rng, value: &ModuleValue, body: &[u8]) -> Vec<u8> {
    let mut v = value.clone();
    let n = v.fields.len();
    match rng.index(9) {
        0 | 1 => {
            // A field (dtype, ndim, dims, codes, chunk size, counts, flags, marker) gets a new value.
            let i = rng.index(n);
            if let Field::Uint(x) = &mut v.fields[i] {
                *x = match rng.index(3) {
                    0 => INTERESTING[rng.index(INTERESTING.len())],
                    1 => x.wrapping_add(1),
                    _ => x.wrapping_sub(1),
                };
            }
        }
        2 => {
            // A chunk's bytes: flip a bit, cut, or extend.
            let chunks: Vec<usize> = (0..n)
                .filter(|i| matches!(v.fields[*i], Field::Bytes(_)))
                .collect();
            if let Some(&i) = chunks.get(rng.index(chunks.len())) {
                if let Field::Bytes(b) = &mut v.fields[i] {
                    match rng.index(3) {
                        0 if !b.is_empty() => {
                            let at = rng.index(b.len());
                            b[at] ^= 1 << rng.index(8);
                        }
                        1 => b.truncate(rng.index(b.len() + 1)),
                        _ => b.extend((0..1 + rng.index(64)).map(|_| rng.next() as u8)),
                    }
                }
            }
        }
        3 => {
            let i = rng.index(n);
            v.fields.remove(i);
        }
        4 => {
            let i = rng.index(n);
            let f = v.fields[i].clone();
            v.fields.insert(i, f);
        }
        5 => {
            let (i, j) = (rng.index(n), rng.index(n));
            v.fields.swap(i, j);
        }
        6 => {
            // A string where a number belongs, or the reverse.
            let i = rng.index(n);
            v.fields[i] = match &v.fields[i] {
                Field::Uint(x) => Field::Bytes(x.to_le_bytes().to_vec()),
                Field::Bytes(b) => Field::Uint(b.len() as u64),
            };
        }
        7 => {
            // Raw bytes: flip a few bits anywhere after the type byte.
            let mut raw = body.to_vec();
            for _ in 0..1 + rng.index(4) {
                let at = 1 + rng.index(raw.len() - 1);
                raw[at] ^= 1 << rng.index(8);
            }
            return raw;
        }
        _ => {
            // Raw bytes: truncate or extend.
            let mut raw = body.to_vec();
            if rng.index(2) == 0 {
                raw.truncate(1 + rng.index(raw.len() - 1));
            } else {
                raw.extend((0..1 + rng.index(16)).map(|_| rng.next() as u8));
            }
            return raw;
        }
    }
    v.encode()
}

fn sources(con: &mut Connection) -> Vec<String> {
    let mut keys = Vec::new();
    for (dtype, itemsize) in DTYPES {
        for codec in ["none", "lz4", "zlib"] {
            let key = format!("src:{dtype}:{codec}");
            let data = valid_bytes(dtype, itemsize, 24, 5);
            let _: () = redis::cmd("NDARRAY.SET")
                .arg(&key)
                .arg(dtype)
                .arg(2)
                .arg(3)
                .arg(4)
                .arg("COMPRESS")
                .arg(codec)
                .arg("BLOB")
                .arg(data)
                .query(con)
                .unwrap();
            keys.push(key);
        }
    }
    let smooth = f32_bytes(&(0..3000).map(|i| (i / 5) as f32).collect::<Vec<_>>());
    let _: () = redis::cmd("NDARRAY.SET")
        .arg("src:multi")
        .arg("float32")
        .arg(3000)
        .arg("COMPRESS")
        .arg("lz4")
        .arg("BLOB")
        .arg(&smooth)
        .query(con)
        .unwrap();
    let _: () = redis::cmd("NDARRAY.SET")
        .arg("src:scalar")
        .arg("int64")
        .arg("VALUES")
        .arg(-5)
        .query(con)
        .unwrap();
    let _: () = redis::cmd("NDARRAY.SET")
        .arg("src:empty")
        .arg("int16")
        .arg(0)
        .arg(9)
        .arg("BLOB")
        .arg("")
        .query(con)
        .unwrap();
    // Compressed chunks of the newer codecs and filters, for the mutations to break.
    for (key, dtype, count, codec, filter) in [
        ("src:zstd:bit", "float32", 3000, "zstd", "bit"),
        ("src:zstd:byte", "int16", 6000, "zstd", "byte"),
        ("src:lz4:bit", "uint8", 12000, "lz4", "bit"),
    ] {
        let data: Vec<u8> = smooth
            .iter()
            .cycle()
            .take(count * DTYPES.iter().find(|d| d.0 == dtype).map_or(1, |d| d.1))
            .copied()
            .collect();
        let _: () = redis::cmd("NDARRAY.SET")
            .arg(key)
            .arg(dtype)
            .arg(count)
            .arg("COMPRESS")
            .arg(codec)
            .arg("SHUFFLE")
            .arg(filter)
            .arg("BLOB")
            .arg(&data)
            .query(con)
            .unwrap();
        keys.push(key.into());
    }
    // Encoding version 2's fields: updated_at and attributes (binary names and values).
    let _: () = redis::cmd("NDARRAY.SET")
        .arg("src:attrs")
        .arg("int32")
        .arg(3)
        .arg("ATTR")
        .arg("model")
        .arg("v3")
        .arg("ATTR")
        .arg(&b"\xff\x00"[..])
        .arg(vec![7u8; 300])
        .arg("VALUES")
        .arg(&[1, 2, 3])
        .query(con)
        .unwrap();
    keys.extend([
        "src:multi".into(),
        "src:scalar".into(),
        "src:empty".into(),
        "src:attrs".into(),
    ]);
    keys
}

/// A restored value must read back consistently: INFO, a full GET of the right length, a digest.
fn check_consistent(con: &mut Connection) {
    let nbytes = info_int(con, "victim", "nbytes");
    let blob = get_blob(con, "victim").expect("restored value reads back");
    assert_eq!(blob.len() as i64, nbytes);
    let _ = digest(con, "victim");
    let npy: Vec<u8> = redis::cmd("NDARRAY.GET").arg("victim").query(con).unwrap();
    assert!(npy.ends_with(&blob));
}

#[test]
fn mutated_dump_payloads_never_crash_or_corrupt() {
    let server =
        Server::start_with_module_args(&["chunk-bytes", "4096"], &["--rdbcompression", "no"]);
    let mut con = server.conn();
    let keys = sources(&mut con);
    let db = db_digest(&mut con);
    let dumps: Vec<Vec<u8>> = keys
        .iter()
        .map(|k| redis::cmd("DUMP").arg(k).query(&mut con).unwrap())
        .collect();
    let parsed: Vec<ModuleValue> = dumps
        .iter()
        .map(|d| ModuleValue::parse(dump_body(d)))
        .collect();
    // The parser and encoder agree with Redis on every unmodified payload.
    for (d, v) in dumps.iter().zip(&parsed) {
        assert_eq!(v.encode(), dump_body(d));
    }
    let mut rng = Rng(0x00c0_ffee_1234_5678);
    let (mut tried, mut accepted) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(40);
    while tried < 4000 && Instant::now() < deadline {
        let i = rng.index(dumps.len());
        let body = mutate(&mut rng, &parsed[i], dump_body(&dumps[i]));
        let payload = reseal_dump(&dumps[i], &body);
        let r: redis::RedisResult<Value> = redis::cmd("RESTORE")
            .arg("victim")
            .arg(0)
            .arg(&payload)
            .arg("REPLACE")
            .query(&mut con);
        tried += 1;
        if r.is_ok() {
            accepted += 1;
            check_consistent(&mut con);
            let _: () = redis::cmd("DEL").arg("victim").query(&mut con).unwrap();
        }
        if tried % 500 == 0 {
            assert_eq!(
                db_digest(&mut con),
                db,
                "other keys intact after {tried} mutations"
            );
        }
    }
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
    assert_eq!(db_digest(&mut con), db);
    assert!(tried >= 2000, "only {tried} mutations ran in time");
    eprintln!("hostile DUMP payloads: {tried} tried, {accepted} accepted (and read back consistently), {} refused", tried - accepted);
}

/// Payloads built from scratch with absurd claims: each must be refused without allocating.
#[test]
fn absurd_claims_are_refused_before_allocating() {
    let server = Server::start_with(&["--rdbcompression", "no"]);
    let mut con = server.conn();
    let _: () = redis::cmd("NDARRAY.SET")
        .arg("k")
        .arg("float32")
        .arg(4)
        .arg("COMPRESS")
        .arg("none")
        .arg("BLOB")
        .arg(vec![0u8; 16])
        .query(&mut con)
        .unwrap();
    let dump: Vec<u8> = redis::cmd("DUMP").arg("k").query(&mut con).unwrap();
    // The claims below are laid out as encoding version 2 (no block size).
    let value = ModuleValue::parse(dump_body(&dump)).at_version(2);
    let u = Field::Uint;
    let end = u(0x6e64_6172_7261_7921);
    let claims: Vec<Vec<Field>> = vec![
        // 2^40 float64 elements in one chunk of 1 KiB: count mismatch
        vec![
            u(12),
            u(1),
            u(1 << 40),
            u(0),
            u(0),
            u(0),
            u(1024),
            u(1),
            u(0),
            Field::Bytes(vec![0; 8]),
            end.clone(),
        ],
        // a huge chunk count with no chunks behind it
        vec![
            u(12),
            u(1),
            u(1 << 40),
            u(0),
            u(0),
            u(0),
            u(64 << 20),
            u(1 << 17),
            end.clone(),
        ],
        // NumPy's int64 rule broken with a zero dim
        vec![
            u(5),
            u(3),
            u(0),
            u(1 << 62),
            u(4),
            u(0),
            u(0),
            u(0),
            u(4096),
            u(0),
            end.clone(),
        ],
        // 33 dimensions
        [
            vec![u(1), u(33)],
            vec![u(1); 33],
            vec![
                u(0),
                u(0),
                u(0),
                u(4096),
                u(1),
                u(0),
                Field::Bytes(vec![1]),
                end.clone(),
            ],
        ]
        .concat(),
        // unknown dtype, codec, shuffle
        vec![
            u(99),
            u(0),
            u(0),
            u(0),
            u(0),
            u(4096),
            u(1),
            u(0),
            Field::Bytes(vec![0]),
            end.clone(),
        ],
        vec![
            u(1),
            u(0),
            u(7),
            u(0),
            u(0),
            u(4096),
            u(1),
            u(0),
            Field::Bytes(vec![0]),
            end.clone(),
        ],
        vec![
            u(1),
            u(0),
            u(0),
            u(0),
            u(9),
            u(4096),
            u(1),
            u(0),
            Field::Bytes(vec![0]),
            end.clone(),
        ],
        // a compressed chunk claiming a 64 MiB expansion of garbage
        vec![
            u(5),
            u(1),
            u(64 << 20),
            u(1),
            u(0),
            u(0),
            u(64 << 20),
            u(1),
            u(1),
            Field::Bytes(vec![0xff; 100]),
            end.clone(),
        ],
        // missing end marker
        vec![
            u(1),
            u(0),
            u(0),
            u(0),
            u(0),
            u(4096),
            u(1),
            u(0),
            Field::Bytes(vec![0]),
        ],
    ];
    // Version 2 puts updated_at and the attribute count before the end marker: give the claims
    // above a valid (empty) metadata so that each fails for its own reason.
    let mut claims: Vec<Vec<Field>> = claims
        .into_iter()
        .map(|mut c| {
            if c.last() == Some(&end) {
                let at = c.len() - 1;
                c.splice(at..at, [u(0), u(0)]);
            }
            c
        })
        .collect();
    // A valid 4-float32 array, then metadata claims: an absurd attribute count with nothing
    // behind it, an empty name, a 1 MiB name, names out of order, 64 KiB exceeded, a time past
    // i64.
    let array = || {
        vec![
            u(11),
            u(1),
            u(4),
            u(0),
            u(0),
            u(0),
            u(4096),
            u(1),
            u(0),
            Field::Bytes(vec![0; 16]),
        ]
    };
    let b = |s: &[u8]| Field::Bytes(s.to_vec());
    for meta in [
        vec![u(1), u(1 << 40), end.clone()],
        vec![u(1), u(1), b(b""), b(b"v"), end.clone()],
        vec![u(1), u(1), b(&vec![b'n'; 1 << 20]), b(b"v"), end.clone()],
        vec![u(1), u(2), b(b"b"), b(b""), b(b"a"), b(b""), end.clone()],
        vec![u(1), u(2), b(b"a"), b(b""), b(b"a"), b(b""), end.clone()],
        vec![u(1), u(1), b(b"a"), b(&vec![0; 64 << 10]), end.clone()],
        vec![u(u64::MAX), u(0), end.clone()],
        vec![u(1), u(0)],
    ] {
        claims.push([array(), meta].concat());
    }
    // The same valid array with valid metadata loads (the claims above fail on their own).
    let valid = ModuleValue {
        fields: [array(), vec![u(5), u(1), b(b"a"), b(b"b"), end.clone()]].concat(),
        ..value.clone()
    };
    let _: () = redis::cmd("RESTORE")
        .arg("valid")
        .arg(0)
        .arg(reseal_dump(&dump, &valid.encode()))
        .query(&mut con)
        .unwrap();
    assert_eq!(info_int(&mut con, "valid", "updated_at"), 5);
    let _: i64 = redis::cmd("DEL").arg("valid").query(&mut con).unwrap();
    let db = db_digest(&mut con);
    for (i, fields) in claims.into_iter().enumerate() {
        let forged = ModuleValue {
            fields,
            ..value.clone()
        };
        let payload = reseal_dump(&dump, &forged.encode());
        let r: redis::RedisResult<Value> = redis::cmd("RESTORE")
            .arg("victim")
            .arg(0)
            .arg(&payload)
            .query(&mut con);
        assert!(r.is_err(), "claim {i} was accepted");
    }
    assert_eq!(db_digest(&mut con), db);
    let used: String = redis::cmd("INFO").arg("memory").query(&mut con).unwrap();
    let peak: u64 = used
        .lines()
        .find_map(|l| l.strip_prefix("used_memory_peak:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        peak < 200 << 20,
        "no claim made the server allocate its size: peak {peak}"
    );
}

#[test]
fn payloads_with_chunks_outside_the_settings_range_are_refused() {
    let server = Server::start();
    let mut con = server.conn();
    let _: () = redis::cmd("NDARRAY.SET")
        .arg("k")
        .arg("float32")
        .arg(4)
        .arg("COMPRESS")
        .arg("none")
        .arg("BLOB")
        .arg(vec![0u8; 16])
        .query(&mut con)
        .unwrap();
    let dump: Vec<u8> = redis::cmd("DUMP").arg("k").query(&mut con).unwrap();
    let value = ModuleValue::parse(dump_body(&dump));
    // The one field holding the default chunk size (256 KiB).
    let at: Vec<usize> = (0..value.fields.len())
        .filter(|&i| matches!(value.fields[i], Field::Uint(262_144)))
        .collect();
    assert_eq!(at.len(), 1, "{:?}", value.fields);
    let with_chunk_size = |bytes: u64| {
        let mut v = value.clone();
        v.fields[at[0]] = Field::Uint(bytes);
        reseal_dump(&dump, &v.encode())
    };
    // One 16-byte chunk either way: only the declared chunk size differs.
    for tiny in [4, 16, 4092] {
        let r: redis::RedisResult<Value> = redis::cmd("RESTORE")
            .arg("tiny")
            .arg(0)
            .arg(with_chunk_size(tiny))
            .query(&mut con);
        assert!(r.is_err(), "chunk size {tiny} was accepted");
    }
    let _: () = redis::cmd("RESTORE")
        .arg("smallest")
        .arg(0)
        .arg(with_chunk_size(4096))
        .query(&mut con)
        .unwrap();
    assert_eq!(get_blob(&mut con, "smallest").unwrap(), vec![0u8; 16]);
}

/// `NDARRAY.SET … ENCODED` with mutated encoded arrays: each is refused (the key unchanged) or
/// stored, reads back consistently, and every stored one survives a reload (no client payload
/// can keep the server from restarting).
#[test]
fn mutated_encoded_arrays_are_refused_or_stored_and_reload() {
    let server = Server::start_with_module_args(
        &["chunk-bytes", "4096"],
        &["--enable-debug-command", "yes"],
    );
    let mut con = server.conn();
    let keys = sources(&mut con);
    let payloads: Vec<Vec<u8>> = keys
        .iter()
        .map(|k| {
            redis::cmd("NDARRAY.GET")
                .arg(k)
                .arg("FORMAT")
                .arg("ENCODED")
                .query(&mut con)
                .unwrap()
        })
        .collect();
    let mut rng = Rng(0x0e0c_0ded_5eed_0001);
    let (mut tried, mut stored) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    while tried < 3000 && Instant::now() < deadline {
        let mut p = payloads[rng.index(payloads.len())].clone();
        match rng.below(4) {
            // a few bytes anywhere
            0 | 1 => {
                for _ in 0..=rng.below(3) {
                    let at = rng.index(p.len());
                    p[at] = rng.next() as u8;
                }
            }
            // a u64 field (or a length) set to something absurd
            2 => {
                let at = 4 + 8 * rng.index((p.len() - 4) / 8);
                let v = [0, 1, 4095, 1 << 32, u64::MAX, rng.next()][rng.index(6)];
                p[at..at + 8].copy_from_slice(&v.to_le_bytes());
            }
            // cut short or extended
            _ => {
                if rng.chance(50) {
                    p.truncate(rng.index(p.len()));
                } else {
                    p.extend_from_slice(&rng.next().to_le_bytes());
                }
            }
        }
        let r: redis::RedisResult<Value> = redis::cmd("NDARRAY.SET")
            .arg("victim")
            .arg("ENCODED")
            .arg(&p)
            .query(&mut con);
        tried += 1;
        match r {
            Ok(_) => {
                stored += 1;
                check_consistent(&mut con);
                let _: () = redis::cmd("RENAME")
                    .arg("victim")
                    .arg(format!("kept:{stored}"))
                    .query(&mut con)
                    .unwrap();
            }
            Err(e) => {
                let text = e.to_string();
                assert!(
                    ["BADPAYLOAD", "LIMIT", "SHAPE", "DTYPE"]
                        .iter()
                        .any(|code| text.contains(code)),
                    "a refusal says what is wrong: {text}"
                );
            }
        }
    }
    let before = db_digest(&mut con);
    let _: () = redis::cmd("DEBUG").arg("RELOAD").query(&mut con).unwrap();
    assert_eq!(
        db_digest(&mut con),
        before,
        "every stored array loads again"
    );
    assert!(tried >= 1000, "only {tried} mutations ran in time");
    eprintln!("hostile encoded arrays: {tried} tried, {stored} stored (read back and reloaded)");
}
