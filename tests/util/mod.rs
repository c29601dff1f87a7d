//! Helpers shared by the integration tests (beside the server harness in `common`).
#![allow(dead_code)]

use redis::{Connection, Value};
use std::collections::HashMap;

/// Every dtype name the module accepts, with its item size.
pub const DTYPES: [(&str, usize); 15] = [
    ("bool", 1),
    ("int8", 1),
    ("int16", 2),
    ("int32", 4),
    ("int64", 8),
    ("uint8", 1),
    ("uint16", 2),
    ("uint32", 4),
    ("uint64", 8),
    ("float16", 2),
    ("bfloat16", 2),
    ("float32", 4),
    ("float64", 8),
    ("complex64", 8),
    ("complex128", 16),
];

pub fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

pub fn f64_bytes(values: &[f64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Deterministic pseudo-random bytes (no external crates).
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A smooth float32 field (compresses well once byte-shuffled).
pub fn smooth_f32(n: usize) -> Vec<u8> {
    f32_bytes(
        &(0..n)
            .map(|i| (i as f32 * 0.001).sin() * 100.0)
            .collect::<Vec<_>>(),
    )
}

/// Elements valid for every dtype: bools must be 0/1, floats must not be NaN-payload noise that
/// compares unequal, so use small integers as bytes.
pub fn valid_bytes(dtype: &str, itemsize: usize, count: usize, seed: u64) -> Vec<u8> {
    if dtype == "bool" {
        return noise(count, seed).into_iter().map(|b| b & 1).collect();
    }
    noise(count * itemsize, seed)
}

/// `NDARRAY.INFO` as a map from field name to value.
pub fn info(con: &mut Connection, key: &str) -> HashMap<String, Value> {
    let v: Vec<Value> = redis::cmd("NDARRAY.INFO")
        .arg(key)
        .query(con)
        .expect("NDARRAY.INFO");
    v.chunks(2)
        .map(|kv| match &kv[0] {
            Value::BulkString(k) => (String::from_utf8_lossy(k).into_owned(), kv[1].clone()),
            other => panic!("unexpected INFO field name {other:?}"),
        })
        .collect()
}

pub fn info_int(con: &mut Connection, key: &str, field: &str) -> i64 {
    match info(con, key).get(field) {
        Some(Value::Int(i)) => *i,
        other => panic!("INFO {field} is {other:?}"),
    }
}

pub fn info_str(con: &mut Connection, key: &str, field: &str) -> String {
    match info(con, key).get(field) {
        Some(Value::BulkString(s)) => String::from_utf8_lossy(s).into_owned(),
        other => panic!("INFO {field} is {other:?}"),
    }
}

/// The error a command returned, as `CODE message` (panics if it succeeded).
pub fn error_of(result: redis::RedisResult<Value>) -> String {
    match result {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => format!("{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or("")),
    }
}

pub fn get_blob(con: &mut Connection, key: &str) -> Option<Vec<u8>> {
    redis::cmd("NDARRAY.GET")
        .arg(key)
        .arg("FORMAT")
        .arg("BLOB")
        .query(con)
        .expect("NDARRAY.GET")
}

pub fn digest(con: &mut Connection, key: &str) -> String {
    let v: Vec<String> = redis::cmd("DEBUG")
        .arg("DIGEST-VALUE")
        .arg(key)
        .query(con)
        .expect("DEBUG DIGEST-VALUE");
    v.into_iter().next().unwrap_or_default()
}

pub fn db_digest(con: &mut Connection) -> String {
    redis::cmd("DEBUG")
        .arg("DIGEST")
        .query(con)
        .expect("DEBUG DIGEST")
}

/// Redis' CRC-64 (Jones polynomial, reflected), as used in DUMP payloads.
pub fn crc64(data: &[u8]) -> u64 {
    const POLY: u64 = 0x95ac_9329_ac4b_c9b5;
    let mut crc: u64 = 0;
    for &byte in data {
        crc ^= u64::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// A DUMP payload with its body replaced and the trailer (RDB version + CRC) recomputed, so Redis
/// hands the body to the module's loader.
pub fn reseal_dump(original: &[u8], body: &[u8]) -> Vec<u8> {
    let version = &original[original.len() - 10..original.len() - 8];
    let mut out = body.to_vec();
    out.extend_from_slice(version);
    let crc = crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

pub fn dump_body(payload: &[u8]) -> &[u8] {
    &payload[..payload.len() - 10]
}

/// The `.npy` file the server writes for `data` of `dtype` and `dims` (stored and read back under a
/// scratch key, then deleted).
pub fn npy_of(con: &mut Connection, dtype: &str, dims: &[u64], data: &[u8]) -> Vec<u8> {
    let _: () = redis::cmd("NDARRAY.SET")
        .arg("__tmp")
        .arg(dtype)
        .arg(dims)
        .arg("BLOB")
        .arg(data)
        .query(con)
        .unwrap();
    let npy: Vec<u8> = redis::cmd("NDARRAY.GET").arg("__tmp").query(con).unwrap();
    let _: () = redis::cmd("DEL").arg("__tmp").query(con).unwrap();
    npy
}

/// A version 1.0 `.npy` file byte for byte as NumPy's `np.save` writes it, built without a server:
/// `descr` is NumPy's dtype string (`"<f4"`, `"|u1"`), `dims` the C-order shape (one dim is written
/// `(n,)`, none `()`), `data` the raw little-endian elements. Like NumPy it leaves spare spaces
/// after the dict so the first dim could grow in place; `npy_with_header` frames it.
pub fn npy_file(descr: &str, dims: &[usize], data: &[u8]) -> Vec<u8> {
    // numpy.lib.format.GROWTH_AXIS_MAX_DIGITS
    const GROWTH_AXIS_MAX_DIGITS: usize = 21;
    let shape = match dims {
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            dims.iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    if let Some(first) = dims.first() {
        let digits = first.to_string().len();
        dict.push_str(&" ".repeat(GROWTH_AXIS_MAX_DIGITS.saturating_sub(digits)));
    }
    npy_with_header(&dict, data)
}

/// A version 1.0 `.npy` file with `dict` as its header text, taken verbatim (so it may be
/// malformed, for the error tests): magic, version 1.0, the header length as a little-endian u16,
/// the dict, then 1 to 64 spaces and a newline so the data starts at a multiple of 64 bytes (as
/// NumPy's `_wrap_header` pads), then `data`.
pub fn npy_with_header(dict: &str, data: &[u8]) -> Vec<u8> {
    const PREAMBLE: usize = 10; // magic (6) + version (2) + header length (2)
    const ARRAY_ALIGN: usize = 64;
    let mut header = dict.to_string();
    let unpadded = PREAMBLE + header.len() + 1;
    header.push_str(&" ".repeat(ARRAY_ALIGN - unpadded % ARRAY_ALIGN));
    header.push('\n');
    let header_len = u16::try_from(header.len()).expect("a .npy 1.0 header is under 64 KiB");
    let mut out = Vec::with_capacity(PREAMBLE + header.len() + data.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&header_len.to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// A counter of `INFO ndarray` (`ndarray_<field>`).
pub fn ndarray_stat(con: &mut Connection, field: &str) -> i64 {
    let info: String = redis::cmd("INFO").arg("ndarray").query(con).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("ndarray_{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {info}"))
}

/// Waits (at most 60 s) until `INFO ndarray`'s `field` reaches `at_least`.
pub fn wait_for_stat(con: &mut Connection, field: &str, at_least: i64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while ndarray_stat(con, field) < at_least {
        assert!(
            std::time::Instant::now() < deadline,
            "ndarray_{field} never reached {at_least}"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// A tiny deterministic generator (SplitMix64, no external crates) for the randomised tests and
/// the benches' data: good for any seed, 0 included.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// An index into something of length `n`.
    pub fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    /// Uniform in (0, 1]: never 0, so `ln` in [`normal`](Self::normal) is finite.
    pub fn uniform(&mut self) -> f64 {
        ((self.next() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }
    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// Waits (at most 60 s) until no AOF rewrite is running or scheduled, and checks the last one
/// succeeded.
pub fn wait_for_rewrite(con: &mut Connection) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let info: String = redis::cmd("INFO").arg("persistence").query(con).unwrap();
        if info.contains("aof_rewrite_in_progress:0") && info.contains("aof_rewrite_scheduled:0") {
            assert!(info.contains("aof_last_bgrewrite_status:ok"), "{info}");
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "AOF rewrite did not finish: {info}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Keys this node holds in `slot` (`CLUSTER COUNTKEYSINSLOT`).
pub fn keys_in_slot(con: &mut Connection, slot: u16) -> i64 {
    redis::cmd("CLUSTER")
        .arg("COUNTKEYSINSLOT")
        .arg(slot)
        .query(con)
        .unwrap()
}

/// Whether the server migrates slots atomically (`CLUSTER MIGRATESLOTS`: Valkey 9 or later).
pub fn has_atomic_slot_migration(con: &mut Connection) -> bool {
    let info: String = redis::cmd("INFO").arg("server").query(con).unwrap();
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
    };
    field("server_name:") == Some("valkey")
        && field("valkey_version:")
            .and_then(|v| v.split('.').next()?.parse::<u32>().ok())
            .is_some_and(|major| major >= 9)
}

/// Starts `CLUSTER MIGRATESLOTS` of `slot` from the node of `source` to the node `target_id`.
pub fn migrate_slot(source: &mut Connection, slot: u16, target_id: &str) {
    let _: () = redis::cmd("CLUSTER")
        .arg("MIGRATESLOTS")
        .arg("SLOTSRANGE")
        .arg(slot)
        .arg(slot)
        .arg("NODE")
        .arg(target_id)
        .query(source)
        .unwrap();
}

/// Waits (at most 120 s) until the newest migration of `slot` that `con`'s node knows ends, and
/// returns its state (`success`, `failed`, `cancelled`) and message.
pub fn wait_for_slot_migration(con: &mut Connection, slot: u16) -> (String, String) {
    let range = format!("{slot}-{slot}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let jobs: Vec<HashMap<String, Value>> = redis::cmd("CLUSTER")
            .arg("GETSLOTMIGRATIONS")
            .query(con)
            .unwrap();
        let text = |job: &HashMap<String, Value>, field: &str| match job.get(field) {
            Some(Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
            Some(Value::SimpleString(s)) => s.clone(),
            _ => String::new(),
        };
        if let Some(job) = jobs.iter().rev().find(|j| text(j, "slot_ranges") == range) {
            let state = text(job, "state");
            if ["success", "failed", "cancelled"].contains(&state.as_str()) {
                return (state, text(job, "message"));
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the migration of slot {slot} did not end: {jobs:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// `NDARRAY.SET key dtype dims... opts... BLOB data`, its reply (it must not fail).
pub fn set_blob(
    con: &mut Connection,
    key: &str,
    dtype: &str,
    dims: &[u64],
    opts: &[&str],
    data: &[u8],
) -> Value {
    redis::cmd("NDARRAY.SET")
        .arg(key)
        .arg(dtype)
        .arg(dims)
        .arg(opts)
        .arg("BLOB")
        .arg(data)
        .query(con)
        .unwrap()
}
