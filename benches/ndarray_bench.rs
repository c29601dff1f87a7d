//! redis-ndarray benchmark: NDARRAY.SET/GET against a plain Redis SET/GET of the same raw bytes, measured in
//! the same run on the same server, plus compression ratios, memory per key, a chunk-size sweep, partial
//! reads and writes (NDARRAY.SLICE, SETSLICE, APPEND) against whole-array GET/SET, and batches of small
//! arrays (NDARRAY.MGET, MSET, STACK) against plain MGET/MSET.
//!
//! Run with `make bench` (or `cargo bench --bench ndarray_bench` after `make build`). It starts its own
//! redis-server with the module on a free loopback port (the test harness) and stops it at the end. It prints a
//! plain-text report meant to be pasted into an issue; it asserts nothing about timings.
//!
//! Method: every command is RESP-encoded once before timing, so the client's encoding of 8 MB arguments is
//! excluded on both sides; replies are read and parsed as any client would. Each timed operation is checked
//! once (reply content) before its warmup, so a failing command cannot pass for a fast one.

#[path = "../tests/common/mod.rs"]
mod common;
mod support;
#[path = "../tests/util/mod.rs"]
mod util;

use common::Server;
use redis::{Connection, ConnectionLike, Value};
use std::collections::HashMap;
use std::iter::StepBy;
use std::ops::Range;
use std::time::{Duration, Instant};
use support::{fmt_duration, fmt_int, git_version, info_field, query, section, utc_now};
use util::{f64_bytes, npy_file, Rng};

// Iteration counts, chosen so the whole run takes about 1-2 minutes on 2 cores.
/// 8 MB arrays: warmup and timed iterations per operation.
const BIG_WARMUP: usize = 3;
const BIG_ITERS: usize = 50;
/// Embeddings, throughput: commands per pipelined batch, warmup and timed batches per operation.
const BATCH: usize = 100;
const BATCH_WARMUP: usize = 30;
const BATCH_ITERS: usize = 500;
/// Embeddings, latency: warmup and timed single round trips per operation.
const LATENCY_WARMUP: usize = 200;
const LATENCY_ITERS: usize = 5000;
/// Keys of each kind stored to measure `used_memory` per key.
const MEMORY_KEYS: usize = 10_000;
/// Section 7: embedding keys of each kind stored to measure `used_memory` per key, and the commands per
/// pipelined batch that store them.
const MANY_KEYS: usize = 100_000;
const MANY_KEYS_BATCH: usize = 1000;
/// Section 7: keys per multi-key command (MGET, MSET, NDARRAY.STACK, ...); warmup and timed rounds.
const MULTI_KEYS: usize = 1000;
const MULTI_WARMUP: usize = 30;
const MULTI_ITERS: usize = 500;
/// The chunk sizes the sweep tries; the module default is 256 KiB.
const CHUNK_SIZES: [u64; 4] = [65_536, 262_144, 1_048_576, 4_194_304];

/// The big array: a 1000×1000 float64 field.
const BIG_DIMS: [usize; 2] = [1000, 1000];
/// The embedding: 128 float32.
const EMBEDDING_DIMS: [usize; 1] = [128];
/// The array read and written in part: an 8000×1000 float32 field (32 MB).
const PART_DIMS: [usize; 2] = [8000, 1000];
/// Partial reads: timed rounds, each of which also fetches the whole 32 MB array.
const PART_READ_ITERS: usize = 50;
/// Partial writes: timed rounds, fewer, as each re-SETs the whole 32 MB array.
const PART_WRITE_ITERS: usize = 30;

/// Codecs in the order they are reported.
const CODECS: [&str; 3] = ["none", "lz4", "zlib"];

fn main() {
    let server = Server::start();
    // A fresh connection per section: a connection that sent 8 MB commands keeps a large query buffer for
    // a while, which would distort the `used_memory` deltas of section 4.
    print_header(&mut server.conn());
    bench_big_array(&mut server.conn());
    bench_embedding(&mut server.conn());
    compression_ratios(&mut server.conn());
    embedding_memory(&mut server.conn());
    chunk_sweep(&mut server.conn());
    partial_reads_writes(&mut server.conn());
    batches_and_small_arrays(&mut server.conn());
    println!();
    // `server` is dropped here: the harness kills redis-server and removes its directory.
}

// ---------------------------------------------------------------------------------------------------------
// Test data. A fixed-seed generator keeps runs comparable without a `rand` dependency.

/// A smooth 2-D field, sin(r/37)·cos(c/53), plus `noise` times a standard normal.
fn smooth_field(rows: usize, cols: usize, noise: f64, rng: &mut Rng) -> Vec<f64> {
    let mut out = Vec::with_capacity(rows * cols);
    for r in 0..rows {
        for c in 0..cols {
            out.push((r as f64 / 37.0).sin() * (c as f64 / 53.0).cos() + noise * rng.normal());
        }
    }
    out
}

fn f32_bytes(values: impl IntoIterator<Item = f64>) -> Vec<u8> {
    values
        .into_iter()
        .flat_map(|v| (v as f32).to_le_bytes())
        .collect()
}

fn random_embedding(rng: &mut Rng) -> Vec<u8> {
    f32_bytes((0..EMBEDDING_DIMS[0]).map(|_| rng.normal()))
}

/// One array under test, in both of NDARRAY.SET's input forms.
struct Payload {
    dtype: &'static str,
    dims: Vec<usize>,
    raw: Vec<u8>,
    npy: Vec<u8>,
}

impl Payload {
    fn new(dtype: &'static str, descr: &str, dims: &[usize], raw: Vec<u8>) -> Payload {
        let npy = npy_file(descr, dims, &raw);
        Payload {
            dtype,
            dims: dims.to_vec(),
            raw,
            npy,
        }
    }

    fn float64(dims: &[usize], raw: Vec<u8>) -> Payload {
        Payload::new("float64", "<f8", dims, raw)
    }

    fn float32(dims: &[usize], raw: Vec<u8>) -> Payload {
        Payload::new("float32", "<f4", dims, raw)
    }

    /// `NDARRAY.SET key [options] NPY file` or `NDARRAY.SET key dtype dims [options] BLOB raw`.
    fn set_command(&self, key: &str, options: &[&str], input: Wire) -> Vec<u8> {
        let mut cmd = redis::cmd("NDARRAY.SET");
        cmd.arg(key);
        if input == Wire::Blob {
            cmd.arg(self.dtype).arg(&self.dims);
        }
        cmd.arg(options);
        match input {
            Wire::Npy => cmd.arg("NPY").arg(&self.npy),
            Wire::Blob => cmd.arg("BLOB").arg(&self.raw),
        };
        cmd.get_packed_command()
    }
}

// ---------------------------------------------------------------------------------------------------------
// Operations and timing.

/// How an array travels: NDARRAY.SET's input form and NDARRAY.GET's FORMAT.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wire {
    Npy,
    Blob,
}

impl Wire {
    const BOTH: [Wire; 2] = [Wire::Npy, Wire::Blob];

    fn name(self) -> &'static str {
        match self {
            Wire::Npy => "NPY",
            Wire::Blob => "BLOB",
        }
    }
}

/// What every reply of an operation must be.
#[derive(Clone, Copy)]
enum Expect<'a> {
    Ok,
    /// A bulk string ending with these bytes (an NPY reply has a header in front).
    EndsWith(&'a [u8]),
    /// A bulk string of exactly these bytes.
    Exactly(&'a [u8]),
    /// An integer.
    Int(i64),
    /// An array whose i-th element is a bulk string ending with the i-th of these (MGET, NDARRAY.MGET).
    EachEndsWith(&'a [Vec<u8>]),
    /// The i-th reply of the batch is a hash (a flat array of fields and values) holding the i-th of these.
    HashHolding(&'a [Vec<u8>]),
    /// STACK … MISSING FILL: [these exact bytes, an array of this many filled positions].
    Filled(&'a [u8], usize),
}

/// One timed operation: `count` RESP-encoded commands sent together per iteration.
struct Op<'a> {
    label: String,
    /// Commands sent, untimed, before each run (e.g. a CONFIG SET the operation depends on).
    setup: Vec<u8>,
    packed: Vec<u8>,
    count: usize,
    /// The time reported is the whole run's divided by this: `count` (per command) or 1 (per batch).
    per: u32,
    expect: Expect<'a>,
}

impl<'a> Op<'a> {
    /// `count` commands, the i-th built by `command(i)`, sent as one pipelined batch.
    fn batch(
        label: impl Into<String>,
        count: usize,
        expect: Expect<'a>,
        command: impl Fn(usize) -> Vec<u8>,
    ) -> Op<'a> {
        Op {
            label: label.into(),
            setup: Vec::new(),
            packed: (0..count).flat_map(command).collect(),
            count,
            per: u32::try_from(count).expect("a small batch"),
            expect,
        }
    }

    /// Times the batch as a whole rather than per command.
    fn per_batch(mut self) -> Op<'a> {
        self.per = 1;
        self
    }

    fn with_setup(mut self, setup: Vec<u8>) -> Op<'a> {
        self.setup = setup;
        self
    }
}

/// Median and p90 of one operation's per-command time.
#[derive(Clone, Copy)]
struct Stats {
    median: Duration,
    p90: Duration,
}

impl Stats {
    fn of(mut samples: Vec<Duration>) -> Stats {
        samples.sort();
        let rank = |q: f64| samples[((q * samples.len() as f64).ceil() as usize).max(1) - 1];
        Stats {
            median: rank(0.5),
            p90: rank(0.9),
        }
    }
}

/// Sends the operation's commands once and returns the replies; a server error aborts the bench.
fn run(con: &mut Connection, op: &Op) -> Vec<Value> {
    let replies = con
        .req_packed_commands(&op.packed, 0, op.count)
        .unwrap_or_else(|e| panic!("{}: {e}", op.label));
    if let Some(Value::ServerError(e)) = replies.iter().find(|v| matches!(v, Value::ServerError(_)))
    {
        panic!("{}: {e:?}", op.label);
    }
    replies
}

/// Sends the operation's setup commands, if any.
fn prepare(con: &mut Connection, op: &Op) {
    if !op.setup.is_empty() {
        let value = con
            .req_packed_command(&op.setup)
            .and_then(Value::extract_error);
        assert!(value.is_ok(), "{} setup: {value:?}", op.label);
    }
}

/// Checks every reply's content once, outside the timed loop.
fn check(con: &mut Connection, op: &Op) {
    prepare(con, op);
    let bulk_ends_with =
        |value: &Value, tail: &[u8]| matches!(value, Value::BulkString(b) if b.ends_with(tail));
    for (i, reply) in run(con, op).into_iter().enumerate() {
        let good = match (op.expect, &reply) {
            (Expect::Ok, Value::Okay) => true,
            (Expect::EndsWith(tail), Value::BulkString(bytes)) => bytes.ends_with(tail),
            (Expect::Exactly(want), Value::BulkString(bytes)) => bytes == want,
            (Expect::Int(want), Value::Int(n)) => *n == want,
            (Expect::EachEndsWith(tails), Value::Array(items)) => {
                items.len() == tails.len()
                    && items
                        .iter()
                        .zip(tails)
                        .all(|(item, tail)| bulk_ends_with(item, tail))
            }
            (Expect::Filled(want, filled), Value::Array(items)) => {
                matches!(items.as_slice(), [Value::BulkString(b), Value::Array(f)] if b == want && f.len() == filled)
            }
            (Expect::HashHolding(values), Value::Array(items)) => {
                values.get(i).is_some_and(|want| {
                    items
                        .iter()
                        .any(|item| matches!(item, Value::BulkString(b) if b == want))
                })
            }
            _ => false,
        };
        assert!(
            good,
            "{}: unexpected reply {:.200}",
            op.label,
            format!("{reply:?}")
        );
    }
}

/// One run of `op`, timed per command or per batch (`op.per`).
fn time_once(con: &mut Connection, op: &Op) -> Duration {
    prepare(con, op);
    let start = Instant::now();
    run(con, op);
    start.elapsed() / op.per
}

/// Times `ops` interleaved, `warmup` untimed rounds then `iters` timed ones, each round running every op
/// once in order: drift (other load on the machine, allocator and CPU state) then hits an operation and its
/// baseline alike. Returns per-command stats in the order of `ops`.
fn measure_all(con: &mut Connection, ops: &[Op], warmup: usize, iters: usize) -> Vec<Stats> {
    for op in ops {
        check(con, op);
    }
    let mut samples = vec![Vec::with_capacity(iters); ops.len()];
    for round in 0..warmup + iters {
        for (op, samples) in ops.iter().zip(&mut samples) {
            let elapsed = time_once(con, op);
            if round >= warmup {
                samples.push(elapsed);
            }
        }
    }
    samples.into_iter().map(Stats::of).collect()
}

// ---------------------------------------------------------------------------------------------------------
// Output.

/// Two decimals; three below 0.1, so that small ratios (a slice against a whole array) stay apart.
fn fmt_ratio(value: Duration, baseline: Duration) -> String {
    let ratio = value.as_secs_f64() / baseline.as_secs_f64();
    if ratio < 0.1 {
        format!("{ratio:.3}x")
    } else {
        format!("{ratio:.2}x")
    }
}

/// One table row: an operation's times and the ratio of its median to the baseline's.
struct Row {
    label: String,
    stats: Stats,
    baseline: Stats,
}

/// Rows for `ops` and their `stats`, each compared with the first (the baseline).
fn rows_against_first(ops: &[Op], stats: &[Stats]) -> Vec<Row> {
    let baseline = stats[0];
    ops.iter()
        .zip(stats)
        .map(|(op, stats)| Row {
            label: op.label.clone(),
            stats: *stats,
            baseline,
        })
        .collect()
}

fn print_rows(rows: &[Row]) {
    println!(
        "{:<40} {:>10} {:>10} {:>9}",
        "operation", "median", "p90", "vs plain"
    );
    for row in rows {
        println!(
            "{:<40} {:>10} {:>10} {:>9}",
            row.label,
            fmt_duration(row.stats.median),
            fmt_duration(row.stats.p90),
            fmt_ratio(row.stats.median, row.baseline.median),
        );
    }
}

// ---------------------------------------------------------------------------------------------------------
// Server helpers.

/// One integer field of `NDARRAY.INFO key`.
fn ndarray_info(con: &mut Connection, key: &str, field: &str) -> u64 {
    let info: HashMap<String, Value> = query(con, redis::cmd("NDARRAY.INFO").arg(key));
    match info.get(field) {
        Some(Value::Int(n)) => u64::try_from(*n).expect("a non-negative count"),
        other => panic!("NDARRAY.INFO {key}: {field} is {other:?}"),
    }
}

fn config_get(con: &mut Connection, name: &str) -> String {
    let pair: Vec<String> = query(con, redis::cmd("CONFIG").arg("GET").arg(name));
    pair.get(1)
        .cloned()
        .unwrap_or_else(|| panic!("no setting {name}"))
}

fn config_set(con: &mut Connection, name: &str, value: &str) {
    let () = query(con, redis::cmd("CONFIG").arg("SET").arg(name).arg(value));
}

/// `SET key value`, RESP-encoded.
fn plain_set(key: &str, value: &[u8]) -> Vec<u8> {
    redis::cmd("SET").arg(key).arg(value).get_packed_command()
}

/// A read command on one key (`GET key`, `NDARRAY.GET key FORMAT BLOB`), RESP-encoded.
fn read_command(name: &str, key: &str, args: &[&str]) -> Vec<u8> {
    redis::cmd(name).arg(key).arg(args).get_packed_command()
}

// ---------------------------------------------------------------------------------------------------------
// Header.

fn print_header(con: &mut Connection) {
    let settings = ["compression", "shuffle", "zlib-level", "chunk-bytes"]
        .map(|name| format!("{name}={}", config_get(con, &format!("ndarray.{name}"))))
        .join(" ");
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("redis-ndarray benchmark");
    println!("=======================");
    println!("date:       {}", utc_now());
    println!(
        "redis:      {} ({})",
        info_field(con, "server", "redis_version"),
        common::redis_server_bin()
    );
    println!(
        "module:     {} (git {})",
        common::module_path().display(),
        git_version()
    );
    println!(
        "machine:    {cpus} CPUs, shared by client and server; one TCP connection on loopback"
    );
    println!("settings:   {settings}");
    println!("reproduce:  make bench   (= make build && cargo bench --bench ndarray_bench)");
    println!(
        "method:     median and p90 of client wall time per command, after warmup; commands are RESP-encoded\n            \
         before timing (client encoding excluded), replies are read and parsed. \"vs plain\" = median /\n            \
         median of a plain SET/GET of the same raw bytes in this run (lower is better)."
    );
}

// ---------------------------------------------------------------------------------------------------------
// The SET/GET matrix shared by sections 1 and 2.

/// Times plain SET against NDARRAY.SET for every codec and input form, then plain GET against NDARRAY.GET
/// for every codec and format. Each operation sends `keys` commands, pipelined, on `keys` distinct keys.
fn set_get_matrix(
    con: &mut Connection,
    payload: &Payload,
    prefix: &str,
    keys: usize,
    (warmup, iters): (usize, usize),
) -> Vec<Row> {
    let key = |kind: &str, i: usize| format!("{prefix}:{kind}:{i}");

    let mut sets = vec![Op::batch(
        "SET (plain string, baseline)",
        keys,
        Expect::Ok,
        |i| plain_set(&key("plain", i), &payload.raw),
    )];
    for codec in CODECS {
        for input in Wire::BOTH {
            let label = format!("NDARRAY.SET COMPRESS {codec:<4} {}", input.name());
            sets.push(Op::batch(label, keys, Expect::Ok, |i| {
                payload.set_command(&key(codec, i), &["COMPRESS", codec], input)
            }));
        }
    }
    let set_stats = measure_all(con, &sets, warmup, iters);

    // The SETs above left every key holding the payload. Every read returns the raw elements, after a header
    // for FORMAT NPY.
    let tail = Expect::EndsWith(&payload.raw);
    let mut gets = vec![Op::batch("GET (plain string, baseline)", keys, tail, |i| {
        read_command("GET", &key("plain", i), &[])
    })];
    for codec in CODECS {
        for format in Wire::BOTH {
            let label = format!("NDARRAY.GET FORMAT {:<4} ({codec})", format.name());
            gets.push(Op::batch(label, keys, tail, |i| {
                read_command("NDARRAY.GET", &key(codec, i), &["FORMAT", format.name()])
            }));
        }
    }
    let get_stats = measure_all(con, &gets, warmup, iters);

    let mut rows = rows_against_first(&sets, &set_stats);
    rows.extend(rows_against_first(&gets, &get_stats));
    rows
}

// ---------------------------------------------------------------------------------------------------------
// 1. An 8 MB float64 array.

fn big_field() -> Payload {
    let [rows, cols] = BIG_DIMS;
    // Small noise, like measured data: it makes the low mantissa bytes random, which is what real fields do.
    let values = smooth_field(rows, cols, 1e-4, &mut Rng(1));
    Payload::float64(&BIG_DIMS, f64_bytes(&values))
}

fn bench_big_array(con: &mut Connection) {
    let payload = big_field();
    section(&format!(
        "1. {}x{} float64 smooth field (sin*cos + 1e-4 noise), {} bytes raw",
        BIG_DIMS[0],
        BIG_DIMS[1],
        fmt_int(payload.raw.len() as u64)
    ));
    println!("one command per round trip; N={BIG_ITERS} after {BIG_WARMUP} warmup");
    let rows = set_get_matrix(con, &payload, "big", 1, (BIG_WARMUP, BIG_ITERS));
    print_rows(&rows);
    let stored = CODECS.map(|codec| {
        let ratio = payload.raw.len() as f64
            / ndarray_info(con, &format!("big:{codec}:0"), "stored_bytes") as f64;
        format!("{codec} {ratio:.2}")
    });
    println!(
        "compression ratio (raw / stored_bytes): {}",
        stored.join(", ")
    );
    println!("(zlib at the default level 1; shuffle byte; chunk-bytes default)");
}

// ---------------------------------------------------------------------------------------------------------
// 2. A 128-float32 embedding: throughput (pipelined) and latency (one round trip).

fn bench_embedding(con: &mut Connection) {
    let payload = Payload::float32(&EMBEDDING_DIMS, random_embedding(&mut Rng(2)));
    let title = format!(
        "2. {}-float32 embedding (random normal), {} bytes raw",
        EMBEDDING_DIMS[0],
        payload.raw.len()
    );
    section(&title);
    println!(
        "2a. throughput: pipelined batches of {BATCH} commands on {BATCH} keys, time per command; \
         N={BATCH_ITERS} batches after {BATCH_WARMUP} warmup"
    );
    let rows = set_get_matrix(con, &payload, "emb", BATCH, (BATCH_WARMUP, BATCH_ITERS));
    print_rows(&rows);
    println!(
        "\n2b. latency: one command per round trip; N={LATENCY_ITERS} after {LATENCY_WARMUP} warmup"
    );
    let rows = set_get_matrix(con, &payload, "emb1", 1, (LATENCY_WARMUP, LATENCY_ITERS));
    print_rows(&rows);
}

// ---------------------------------------------------------------------------------------------------------
// 3. Compression ratio by codec and shuffle.

fn compression_ratios(con: &mut Connection) {
    let [rows, cols] = BIG_DIMS;
    let payload = Payload::float32(
        &BIG_DIMS,
        f32_bytes(smooth_field(rows, cols, 0.0, &mut Rng(3))),
    );
    section(&format!(
        "3. Compression ratio: {rows}x{cols} float32 smooth field (sin*cos, no noise), {} bytes raw",
        fmt_int(payload.raw.len() as u64)
    ));
    let variants: [(&str, &[&str]); 5] = [
        (
            "lz4 + shuffle (default)",
            &["COMPRESS", "lz4", "SHUFFLE", "byte"],
        ),
        ("lz4, SHUFFLE none", &["COMPRESS", "lz4", "SHUFFLE", "none"]),
        (
            "zlib level 1 + shuffle",
            &["COMPRESS", "zlib", "SHUFFLE", "byte"],
        ),
        (
            "zlib level 1, SHUFFLE none",
            &["COMPRESS", "zlib", "SHUFFLE", "none"],
        ),
        ("none (reference)", &["COMPRESS", "none"]),
    ];
    println!("{:<30} {:>14} {:>8}", "encoding", "stored_bytes", "ratio");
    for (label, options) in variants {
        let key = "ratio";
        let reply = con
            .req_packed_command(&payload.set_command(key, options, Wire::Blob))
            .and_then(Value::extract_error);
        assert!(matches!(reply, Ok(Value::Okay)), "{label}: {reply:?}");
        let stored = ndarray_info(con, key, "stored_bytes");
        println!(
            "{label:<30} {:>14} {:>7.2}x",
            fmt_int(stored),
            payload.raw.len() as f64 / stored as f64
        );
    }
}

// ---------------------------------------------------------------------------------------------------------
// 4. Memory per embedding key.

/// The RESP-encoded write of an embedding's raw bytes at a key, for one kind of storage.
type WriteFn = fn(&str, &[u8]) -> Vec<u8>;
/// One kind of storage: its label and its write.
type Writer = (&'static str, WriteFn);

fn embedding_set(key: &str, raw: &[u8], options: &[&str]) -> Vec<u8> {
    Payload::float32(&EMBEDDING_DIMS, raw.to_vec()).set_command(key, options, Wire::Blob)
}

const PLAIN_SET: Writer = ("plain string SET (512 B)", plain_set);
const NDARRAY_SET_NONE: Writer = ("NDARRAY.SET COMPRESS none", |key, raw| {
    embedding_set(key, raw, &["COMPRESS", "none"])
});
const NDARRAY_SET_FLOAT16: Writer = ("NDARRAY.SET COMPRESS none AS float16", |key, raw| {
    embedding_set(key, raw, &["COMPRESS", "none", "AS", "float16"])
});
const NDARRAY_SET_DEFAULT: Writer = ("NDARRAY.SET (default encoding)", |key, raw| {
    embedding_set(key, raw, &[])
});

fn embedding_memory(con: &mut Connection) {
    section(&format!(
        "4. Memory per {}-float32 embedding key",
        EMBEDDING_DIMS[0]
    ));
    println!(
        "MEMORY USAGE of one key, and the INFO used_memory delta per key over {} keys of each kind, stored \
         in\npipelined batches of {BATCH} (FLUSHALL between kinds)",
        fmt_int(MEMORY_KEYS as u64)
    );
    let mut rng = Rng(4);
    let embeddings: Vec<Vec<u8>> = (0..MEMORY_KEYS)
        .map(|_| random_embedding(&mut rng))
        .collect();
    let writers = [PLAIN_SET, NDARRAY_SET_NONE, NDARRAY_SET_DEFAULT];
    print_memory_costs(con, &writers, &embeddings, |i| format!("mem:{i:05}"), BATCH);
}

/// What one kind of storage costs per embedding key.
#[derive(Clone, Copy)]
struct MemoryCost {
    /// `MEMORY USAGE` of one key: key, value and their overhead, as Redis estimates them.
    usage: u64,
    /// The growth of INFO `used_memory` per key.
    per_key: f64,
    /// The value's own bytes: STRLEN of a string, NDARRAY.INFO `stored_bytes` of an array.
    stored: u64,
}

/// After a FLUSHALL, stores one key `key(i)` per embedding with `write`, in pipelined batches of `batch`
/// commands, and measures what a key costs.
fn memory_cost(
    con: &mut Connection,
    write: WriteFn,
    embeddings: &[Vec<u8>],
    key: fn(usize) -> String,
    batch: usize,
) -> MemoryCost {
    let () = query(con, redis::cmd("FLUSHALL").arg("SYNC"));
    let used = |con: &mut Connection| -> i64 {
        info_field(con, "memory", "used_memory")
            .parse()
            .expect("used_memory is a number")
    };
    let before = used(con);
    for (batch_no, chunk) in embeddings.chunks(batch).enumerate() {
        let op = Op::batch("store", chunk.len(), Expect::Ok, |i| {
            write(&key(batch_no * batch + i), &chunk[i])
        });
        run(con, &op);
    }
    let per_key = (used(con) - before) as f64 / embeddings.len() as f64;
    let first = key(0);
    let usage = query(con, redis::cmd("MEMORY").arg("USAGE").arg(&first));
    let kind: String = query(con, redis::cmd("TYPE").arg(&first));
    let stored = if kind == "string" {
        query(con, redis::cmd("STRLEN").arg(&first))
    } else {
        ndarray_info(con, &first, "stored_bytes")
    };
    MemoryCost {
        usage,
        per_key,
        stored,
    }
}

/// Measures each kind of storage (see [`memory_cost`]) and prints them against the first, plain strings.
fn print_memory_costs(
    con: &mut Connection,
    writers: &[Writer],
    embeddings: &[Vec<u8>],
    key: fn(usize) -> String,
    batch: usize,
) {
    println!(
        "{:<38} {:>7} {:>14} {:>9} {:>16} {:>9}",
        "storage", "stored", "MEMORY USAGE", "vs plain", "used_memory/key", "vs plain"
    );
    let mut plain: Option<MemoryCost> = None;
    for (label, write) in writers {
        let cost = memory_cost(con, *write, embeddings, key, batch);
        let base = *plain.get_or_insert(cost);
        println!(
            "{label:<38} {:>5} B {:>12} B {:>8.2}x {:>14.1} B {:>8.2}x",
            cost.stored,
            cost.usage,
            cost.usage as f64 / base.usage as f64,
            cost.per_key,
            cost.per_key / base.per_key
        );
    }
    let () = query(con, redis::cmd("FLUSHALL").arg("SYNC"));
    println!(
        "(stored: STRLEN of a string, NDARRAY.INFO stored_bytes of an array; chunks that do not shrink are kept \
         raw,\n so the default stores random floats as COMPRESS none does. MEMORY USAGE counts the key and value; \
         used_memory\n also counts the keyspace's hash table and the allocator's size classes)"
    );
}

// ---------------------------------------------------------------------------------------------------------
// 5. Chunk-size sweep.

fn chunk_sweep(con: &mut Connection) {
    let payload = big_field();
    section("5. chunk-bytes sweep: the float64 field of section 1, COMPRESS lz4 (shuffle byte)");
    println!(
        "BLOB in and out, CONFIG SET ndarray.chunk-bytes before each SET; N={BIG_ITERS} after {BIG_WARMUP} \
         warmup;\nvs plain = plain SET/GET of the same bytes, measured interleaved with these"
    );
    let original = config_get(con, "ndarray.chunk-bytes");
    let key = |chunk_bytes: u64| format!("sweep:{chunk_bytes}");
    let tail = Expect::EndsWith(&payload.raw);
    let mut ops = vec![
        Op::batch("plain SET", 1, Expect::Ok, |_| {
            plain_set("sweep:plain", &payload.raw)
        }),
        Op::batch("plain GET", 1, tail, |_| {
            read_command("GET", "sweep:plain", &[])
        }),
    ];
    for chunk_bytes in CHUNK_SIZES {
        // chunk-bytes applies when an array is written: set it before each SET; each size has its own key.
        let setup = redis::cmd("CONFIG")
            .arg("SET")
            .arg("ndarray.chunk-bytes")
            .arg(chunk_bytes)
            .get_packed_command();
        let set = Op::batch(format!("SET {chunk_bytes}"), 1, Expect::Ok, |_| {
            payload.set_command(&key(chunk_bytes), &["COMPRESS", "lz4"], Wire::Blob)
        });
        ops.push(set.with_setup(setup));
        ops.push(Op::batch(format!("GET {chunk_bytes}"), 1, tail, |_| {
            read_command("NDARRAY.GET", &key(chunk_bytes), &["FORMAT", "BLOB"])
        }));
    }
    let stats = measure_all(con, &ops, BIG_WARMUP, BIG_ITERS);
    config_set(con, "ndarray.chunk-bytes", &original);

    let (plain_set_stats, plain_get_stats) = (stats[0], stats[1]);
    println!(
        "{:>11} {:>7} {:>7} | {:>10} {:>10} {:>8} | {:>10} {:>10} {:>8}",
        "chunk-bytes",
        "chunks",
        "ratio",
        "SET median",
        "p90",
        "vs plain",
        "GET median",
        "p90",
        "vs plain"
    );
    println!(
        "{:>11} {:>7} {:>7} | {:>10} {:>10} {:>8} | {:>10} {:>10} {:>8}",
        "plain",
        "-",
        "-",
        fmt_duration(plain_set_stats.median),
        fmt_duration(plain_set_stats.p90),
        "1.00x",
        fmt_duration(plain_get_stats.median),
        fmt_duration(plain_get_stats.p90),
        "1.00x",
    );
    for (chunk_bytes, pair) in CHUNK_SIZES.iter().zip(stats[2..].chunks(2)) {
        let (set, get) = (pair[0], pair[1]);
        let key = key(*chunk_bytes);
        let chunks = ndarray_info(con, &key, "chunks");
        let ratio = payload.raw.len() as f64 / ndarray_info(con, &key, "stored_bytes") as f64;
        println!(
            "{:>11} {:>7} {:>6.2}x | {:>10} {:>10} {:>8} | {:>10} {:>10} {:>8}",
            chunk_bytes,
            chunks,
            ratio,
            fmt_duration(set.median),
            fmt_duration(set.p90),
            fmt_ratio(set.median, plain_set_stats.median),
            fmt_duration(get.median),
            fmt_duration(get.p90),
            fmt_ratio(get.median, plain_get_stats.median),
        );
    }
}

// ---------------------------------------------------------------------------------------------------------
// 6. Partial reads and writes.

/// The key read in part (also the source of the APPEND key's resets), the key written in part, and the key
/// appended to.
const PART_KEY: &str = "part:field";
const PART_WRITE_KEY: &str = "part:write";
const PART_APPEND_KEY: &str = "part:append";

/// A 2-D NumPy basic-indexing selection: its text and the rows and columns it takes.
struct Sel2 {
    text: &'static str,
    rows: StepBy<Range<usize>>,
    cols: Range<usize>,
}

impl Sel2 {
    fn new(text: &'static str, rows: Range<usize>, step: usize, cols: Range<usize>) -> Sel2 {
        Sel2 {
            text,
            rows: rows.step_by(step),
            cols,
        }
    }

    /// The selected elements of a C-order float32 matrix `raw` of `width` columns, in C order: what
    /// NDARRAY.SLICE returns with FORMAT BLOB, and what NDARRAY.SETSLICE takes.
    fn of(&self, raw: &[u8], width: usize) -> Vec<u8> {
        let item = 4;
        self.rows
            .clone()
            .flat_map(|r| {
                &raw[(r * width + self.cols.start) * item..(r * width + self.cols.end) * item]
            })
            .copied()
            .collect()
    }
}

/// Rows 4000 to 4009: the first read, and what SETSLICE and APPEND write.
fn ten_rows() -> Sel2 {
    Sel2::new("4000:4010", 4000..4010, 1, 0..PART_DIMS[1])
}

fn part_selections() -> [Sel2; 4] {
    let [rows, cols] = PART_DIMS;
    [
        ten_rows(),
        Sel2::new("4000:4100, 500:600", 4000..4100, 1, 500..600),
        Sel2::new(":, 500", 0..rows, 1, 500..501),
        Sel2::new("::10", 0..rows, 10, 0..cols),
    ]
}

/// The module's counters of chunks decoded and encoded since start (`INFO ndarray`).
#[derive(Clone, Copy)]
struct ChunkWork {
    decoded: u64,
    encoded: u64,
}

impl ChunkWork {
    fn now(con: &mut Connection) -> ChunkWork {
        let mut counter = |name: &str| -> u64 {
            info_field(con, "ndarray", name)
                .parse()
                .expect("a chunk counter")
        };
        ChunkWork {
            decoded: counter("ndarray_chunks_decoded"),
            encoded: counter("ndarray_chunks_encoded"),
        }
    }

    fn since(self, before: ChunkWork) -> ChunkWork {
        ChunkWork {
            decoded: self.decoded - before.decoded,
            encoded: self.encoded - before.encoded,
        }
    }
}

/// One untimed execution of `op` (after its setup): the chunk work it caused and the bytes it returned.
fn footprint(con: &mut Connection, op: &Op) -> (ChunkWork, u64) {
    prepare(con, op);
    let before = ChunkWork::now(con);
    let replies = run(con, op);
    let work = ChunkWork::now(con).since(before);
    let returned = replies
        .iter()
        .map(|reply| match reply {
            Value::BulkString(bytes) => bytes.len() as u64,
            _ => 0,
        })
        .sum();
    (work, returned)
}

/// A row of section 6: times against the first operation, bytes on the wire, chunk work.
struct PartRow {
    row: Row,
    bytes: u64,
    work: ChunkWork,
}

/// Rows for `ops` and their `stats`, with each op's footprint; `bytes` picks the bytes to show from the op
/// and the bytes it returned.
fn part_rows(
    con: &mut Connection,
    ops: &[Op],
    stats: &[Stats],
    bytes: impl Fn(&Op, u64) -> u64,
) -> Vec<PartRow> {
    rows_against_first(ops, stats)
        .into_iter()
        .zip(ops)
        .map(|(row, op)| {
            let (work, returned) = footprint(con, op);
            PartRow {
                row,
                bytes: bytes(op, returned),
                work,
            }
        })
        .collect()
}

fn print_part_rows(rows: &[PartRow], (vs, bytes): (&str, &str), total_chunks: u64) {
    println!(
        "{:<36} {:>10} {:>10} {:>7} {:>15} {:>15} {:>8}",
        "operation", "median", "p90", vs, bytes, "chunks decoded", "encoded"
    );
    for PartRow { row, bytes, work } in rows {
        println!(
            "{:<36} {:>10} {:>10} {:>7} {:>15} {:>15} {:>8}",
            row.label,
            fmt_duration(row.stats.median),
            fmt_duration(row.stats.p90),
            fmt_ratio(row.stats.median, row.baseline.median),
            fmt_int(*bytes),
            format!("{} of {total_chunks}", work.decoded),
            work.encoded,
        );
    }
}

fn part_field() -> Payload {
    let [rows, cols] = PART_DIMS;
    Payload::float32(
        &PART_DIMS,
        f32_bytes(smooth_field(rows, cols, 0.0, &mut Rng(6))),
    )
}

fn partial_reads_writes(con: &mut Connection) {
    let payload = part_field();
    let [rows, cols] = PART_DIMS;
    section(&format!(
        "6. Partial reads and writes: {rows}x{cols} float32 smooth field (sin*cos, no noise), {} bytes raw",
        fmt_int(payload.raw.len() as u64)
    ));
    let store = Op::batch("store", 1, Expect::Ok, |_| {
        payload.set_command(PART_KEY, &["COMPRESS", "lz4"], Wire::Blob)
    });
    check(con, &store);
    let chunks = ndarray_info(con, PART_KEY, "chunks");
    let chunk_bytes = ndarray_info(con, PART_KEY, "chunk_bytes");
    let stored = ndarray_info(con, PART_KEY, "stored_bytes");
    assert!(
        stored < payload.raw.len() as u64,
        "the field must compress: stored_bytes {stored}"
    );
    println!(
        "stored COMPRESS lz4 (shuffle byte), chunk-bytes {chunk_bytes}: {chunks} chunks of {:.1} rows, \
         stored_bytes {} (ratio {:.2}x);\none command per round trip; chunk counts are INFO ndarray deltas \
         around one untimed run",
        chunk_bytes as f64 / (cols * 4) as f64,
        fmt_int(stored),
        payload.raw.len() as f64 / stored as f64
    );
    partial_reads(con, &payload, chunks);
    partial_writes(con, &payload, chunks);
}

fn partial_reads(con: &mut Connection, payload: &Payload, total_chunks: u64) {
    println!(
        "\n6a. reads, FORMAT BLOB; N={PART_READ_ITERS} after {BIG_WARMUP} warmup, interleaved with the \
         baseline NDARRAY.GET key FORMAT BLOB"
    );
    let selections = part_selections();
    let expected: Vec<Vec<u8>> = selections
        .iter()
        .map(|sel| sel.of(&payload.raw, PART_DIMS[1]))
        .collect();
    let mut ops = vec![Op::batch(
        "NDARRAY.GET (whole array, baseline)",
        1,
        Expect::Exactly(&payload.raw),
        |_| read_command("NDARRAY.GET", PART_KEY, &["FORMAT", "BLOB"]),
    )];
    for (sel, want) in selections.iter().zip(&expected) {
        let label = format!("NDARRAY.SLICE \"{}\"", sel.text);
        ops.push(Op::batch(label, 1, Expect::Exactly(want), |_| {
            read_command("NDARRAY.SLICE", PART_KEY, &[sel.text, "FORMAT", "BLOB"])
        }));
    }
    let stats = measure_all(con, &ops, BIG_WARMUP, PART_READ_ITERS);
    let rows = part_rows(con, &ops, &stats, |_, returned| returned);
    print_part_rows(&rows, ("vs GET", "bytes returned"), total_chunks);
    println!(
        "(a slice decodes only the chunks that hold its elements; a column or every 10th row touches every \
         chunk,\n so it pays for a full decompression, but not for sending 32 MB)"
    );
}

fn partial_writes(con: &mut Connection, payload: &Payload, total_chunks: u64) {
    println!(
        "\n6b. writes, BLOB; N={PART_WRITE_ITERS} after {BIG_WARMUP} warmup, interleaved with the baseline \
         re-SET of the whole array"
    );
    let rows = ten_rows();
    let data = rows.of(&payload.raw, PART_DIMS[1]);
    let added = data.len() / (PART_DIMS[1] * 4);
    let new_len = i64::try_from(PART_DIMS[0] + added).expect("a small length");
    // An untimed COPY before each APPEND restores the 8000-row array: every APPEND starts from the same state.
    let reset = redis::cmd("COPY")
        .arg(PART_KEY)
        .arg(PART_APPEND_KEY)
        .arg("REPLACE")
        .get_packed_command();
    let ops = [
        Op::batch("NDARRAY.SET (whole array, baseline)", 1, Expect::Ok, |_| {
            payload.set_command(PART_WRITE_KEY, &["COMPRESS", "lz4"], Wire::Blob)
        }),
        Op::batch(
            format!("NDARRAY.SETSLICE \"{}\"", rows.text),
            1,
            Expect::Ok,
            |_| {
                redis::cmd("NDARRAY.SETSLICE")
                    .arg(PART_WRITE_KEY)
                    .arg(rows.text)
                    .arg("BLOB")
                    .arg(&data)
                    .get_packed_command()
            },
        ),
        Op::batch(
            format!("NDARRAY.APPEND {added} rows"),
            1,
            Expect::Int(new_len),
            |_| {
                redis::cmd("NDARRAY.APPEND")
                    .arg(PART_APPEND_KEY)
                    .arg("BLOB")
                    .arg(&data)
                    .get_packed_command()
            },
        )
        .with_setup(reset),
    ];
    let stats = measure_all(con, &ops, BIG_WARMUP, PART_WRITE_ITERS);
    let rows = part_rows(con, &ops, &stats, |op, _| op.packed.len() as u64);
    print_part_rows(&rows, ("vs SET", "request bytes"), total_chunks);
    println!(
        "(SETSLICE and APPEND decode and re-encode only the chunks they touch. Each APPEND goes from {} to \
         {new_len} rows:\n before it, untimed, COPY {PART_KEY} {PART_APPEND_KEY} REPLACE restores the \
         original array)",
        PART_DIMS[0]
    );
}

// ---------------------------------------------------------------------------------------------------------
// 7. Batches and small arrays.

fn batches_and_small_arrays(con: &mut Connection) {
    section(&format!(
        "7. Batches and small arrays: {}-float32 embeddings (random normal), {} bytes raw each",
        EMBEDDING_DIMS[0],
        EMBEDDING_DIMS[0] * 4
    ));
    many_keys_memory(con);
    multi_key_commands(con);
}

fn many_keys_memory(con: &mut Connection) {
    println!(
        "7a. memory: MEMORY USAGE of one key, and the INFO used_memory delta per key over {} keys emb:<i> \
         of each\nkind, stored in pipelined batches of {MANY_KEYS_BATCH} (FLUSHALL between kinds)",
        fmt_int(MANY_KEYS as u64)
    );
    let mut rng = Rng(7);
    let embeddings: Vec<Vec<u8>> = (0..MANY_KEYS).map(|_| random_embedding(&mut rng)).collect();
    let writers = [
        PLAIN_SET,
        NDARRAY_SET_NONE,
        NDARRAY_SET_FLOAT16,
        NDARRAY_SET_DEFAULT,
    ];
    print_memory_costs(
        con,
        &writers,
        &embeddings,
        |i| format!("emb:{i}"),
        MANY_KEYS_BATCH,
    );
}

/// One command on many keys: `name key value [key value ...]`, or `name key [key ...]` when `values` is
/// empty, RESP-encoded.
fn multi_key_command(name: &str, keys: &[String], values: &[Vec<u8>]) -> Vec<u8> {
    let mut cmd = redis::cmd(name);
    if name == "NDARRAY.STACK" {
        cmd.arg(keys.len());
    }
    if values.is_empty() {
        cmd.arg(keys);
    } else {
        for (key, value) in keys.iter().zip(values) {
            cmd.arg(key).arg(value);
        }
    }
    cmd.get_packed_command()
}

/// Reads and writes of many small arrays with one command, against plain MGET/MSET of the same bytes. The
/// keys share the hash tag `{b}`, as a multi-key command needs in a cluster: `{b}:<i>` hold the arrays,
/// `{b}:plain:<i>` plain strings and `{b}:hash:<i>` hashes of the same raw bytes.
fn multi_key_commands(con: &mut Connection) {
    let () = query(con, redis::cmd("FLUSHALL").arg("SYNC"));
    let n = MULTI_KEYS;
    let mut rng = Rng(8);
    let raws: Vec<Vec<u8>> = (0..n).map(|_| random_embedding(&mut rng)).collect();
    let npys: Vec<Vec<u8>> = raws
        .iter()
        .map(|raw| npy_file("<f4", &EMBEDDING_DIMS, raw))
        .collect();
    let stacked = raws.concat();
    let keys = |kind: &str| -> Vec<String> { (0..n).map(|i| format!("{{b}}:{kind}{i}")).collect() };
    let (array_keys, plain_keys, hash_keys) = (keys(""), keys("plain:"), keys("hash:"));

    // NDARRAY.MSET has no COMPRESS option: it encodes with the ndarray.compression setting. A second row with
    // that set to none shows what the (futile, on random floats) lz4 attempt costs.
    let compression = config_get(con, "ndarray.compression");
    let set_compression = |value: &str| {
        redis::cmd("CONFIG")
            .arg("SET")
            .arg("ndarray.compression")
            .arg(value)
            .get_packed_command()
    };
    let ndarray_mset = |label: String, setting: &str| {
        Op::batch(label, 1, Expect::Ok, |_| {
            multi_key_command("NDARRAY.MSET", &array_keys, &npys)
        })
        .with_setup(set_compression(setting))
    };
    let writes = [
        Op::batch(
            format!("MSET {n} plain strings (baseline)"),
            1,
            Expect::Ok,
            |_| multi_key_command("MSET", &plain_keys, &raws),
        ),
        ndarray_mset(format!("NDARRAY.MSET {n} keys (.npy in)"), &compression),
        ndarray_mset("NDARRAY.MSET, ndarray.compression none".into(), "none"),
    ];
    // Checking the writes stores the keys the reads need; the hashes are stored here, untimed.
    for op in &writes {
        check(con, op);
    }
    config_set(con, "ndarray.compression", &compression);
    let dims = EMBEDDING_DIMS.map(|d| d.to_string()).join(",");
    let hashes = Op::batch("HSET", n, Expect::Int(3), |i| {
        redis::cmd("HSET")
            .arg(&hash_keys[i])
            .arg("data")
            .arg(&raws[i])
            .arg("dtype")
            .arg("float32")
            .arg("shape")
            .arg(&dims)
            .get_packed_command()
    });
    check(con, &hashes);

    println!(
        "\n7b. reads of {n} keys: one command per round (HGETALL: {n} pipelined), time per round; \
         N={MULTI_ITERS} after\n{MULTI_WARMUP} warmup, interleaved; every reply is read and parsed into \
         redis::Value by the client"
    );
    // Every tenth key missing (never written), its row zeros.
    let gappy_keys: Vec<String> = (0..n)
        .map(|i| {
            if i % 10 == 0 {
                format!("{{b}}:missing:{i}")
            } else {
                array_keys[i].clone()
            }
        })
        .collect();
    let filled_stacked: Vec<u8> = raws
        .iter()
        .enumerate()
        .flat_map(|(i, raw)| {
            if i % 10 == 0 {
                vec![0u8; raw.len()]
            } else {
                raw.clone()
            }
        })
        .collect();
    let reads = [
        Op::batch(
            format!("MGET {n} plain strings (baseline)"),
            1,
            Expect::EachEndsWith(&raws),
            |_| multi_key_command("MGET", &plain_keys, &[]),
        ),
        Op::batch(
            format!("NDARRAY.STACK {n} keys"),
            1,
            Expect::EndsWith(&stacked),
            |_| multi_key_command("NDARRAY.STACK", &array_keys, &[]),
        ),
        Op::batch(
            format!("NDARRAY.STACK {n} keys, 10% missing, MISSING FILL 0 (BLOB)"),
            1,
            Expect::Filled(&filled_stacked, n.div_ceil(10)),
            |_| {
                redis::cmd("NDARRAY.STACK")
                    .arg(n)
                    .arg(&gappy_keys)
                    .arg("FORMAT")
                    .arg("BLOB")
                    .arg("MISSING")
                    .arg("FILL")
                    .arg(0)
                    .get_packed_command()
            },
        ),
        Op::batch(
            format!("NDARRAY.MGET {n} keys"),
            1,
            Expect::EachEndsWith(&raws),
            |_| multi_key_command("NDARRAY.MGET", &array_keys, &[]),
        ),
        Op::batch(
            format!("HGETALL x{n}, pipelined (context)"),
            n,
            Expect::HashHolding(&raws),
            |i| read_command("HGETALL", &hash_keys[i], &[]),
        )
        .per_batch(),
    ];
    let stats = measure_all(con, &reads, MULTI_WARMUP, MULTI_ITERS);
    print_rows(&rows_against_first(&reads, &stats));
    println!(
        "(replies: MGET {n} bulk strings of {} B; NDARRAY.MGET {n} .npy of {} B; NDARRAY.STACK one .npy of \
         {} B,\n shape ({n}, {dims}); HGETALL {n} arrays of 6 bulk strings: data, dtype, shape and their values)",
        raws[0].len(),
        npys[0].len(),
        fmt_int((npys[0].len() - raws[0].len() + stacked.len()) as u64),
    );

    println!(
        "\n7c. writes of {n} keys: one command per round, time per round; N={MULTI_ITERS} after \
         {MULTI_WARMUP} warmup, interleaved"
    );
    let stats = measure_all(con, &writes, MULTI_WARMUP, MULTI_ITERS);
    config_set(con, "ndarray.compression", &compression);
    print_rows(&rows_against_first(&writes, &stats));
    println!(
        "(NDARRAY.MSET decodes each .npy and encodes it with ndarray.compression ({compression}; shuffle and \
         chunk-bytes\n as configured): random floats do not shrink and are kept raw, so the second row only \
         saves the attempt)"
    );
}
