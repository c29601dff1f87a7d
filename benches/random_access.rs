//! redis-ndarray random-access benchmark: reads of a few items out of big arrays, next to the plain-Redis
//! read of the same bytes (`GETRANGE` of a string holding the array's raw bytes), measured in the same run.
//!
//! 1. `tiny-slice`: a 10-element `NDARRAY.SLICE` at random offsets of a 1-D float32 array of 4 MiB, 64 MiB
//!    and 1 GiB, with the default encoding (zstd + bit shuffle, in chunks of independently decodable blocks)
//!    and with `COMPRESS none`, against `GETRANGE` of the same 40 bytes.
//! 2. `gather`: 256 random rows of a (4194304, 64) float32 array (1 GiB) in one
//!    `NDARRAY.SLICE key "[i1, ..., i256], :"` (a minibatch sampler's read), against a pipeline of 256
//!    `GETRANGE`s of the rows; and, as context, the old way: a pipeline of 256 `NDARRAY.SLICE key "i, :"`.
//!
//! Run with `make bench` (or `cargo bench --bench random_access` after `make build`); rerun one section with
//! `cargo bench --bench random_access -- gather` (several names may be given). Every section starts its own
//! redis-server with the module on a free loopback port (the test harness) and stops it (by its PID) at the
//! end. It prints a plain-text report meant to be pasted into an issue; it asserts nothing about timings.
//! Every command under test is checked once (reply content against the bytes the bench generated) before
//! it is timed, and every timed reply is checked for its length.

#[path = "../tests/common/mod.rs"]
mod common;
mod support;
#[path = "../tests/util/mod.rs"]
mod util;

use common::Server;
use redis::{Connection, ConnectionLike, Value};

use std::time::{Duration, Instant};
use support::{fmt_duration, fmt_int, info_field, query, section};
use util::Rng;

/// The data: the smooth field of server_load (sin(r/37)·cos(c/53) over rows of `FIELD_COLS` float32),
/// continued row after row for as long as the array is, plus small noise; generated and sent in pieces of
/// `PIECE_BYTES` (one `SET` then `APPEND`s).
const FIELD_COLS: usize = 4096;
const PIECE_BYTES: usize = 64 << 20;
/// The noise: uniform, of this standard deviation, from a seed per piece (so no two pieces are alike).
/// It makes the low mantissa bytes random, as in measured data.
const NOISE_STD: f64 = 1e-4;

/// Module arguments and config of every section's server: arrays (and strings) of 1 GiB are over both
/// defaults (max-array-bytes 512 MiB, proto-max-bulk-len 512 MB).
const MAX_ARRAY_BYTES: &str = "2147483648";
const PROTO_MAX_BULK_LEN: &str = "2147483648";

/// Section 1: array sizes (raw bytes), the slice length (elements), and the calls: `TINY_ROUNDS`
/// interleaved rounds of `TINY_CALLS` calls of each command (the same random offsets for each), after
/// `TINY_WARMUP` untimed calls of each; `TINY_CHECKS` random offsets (and the first and last) checked first.
const TINY_SIZES: [usize; 3] = [4 << 20, 64 << 20, 1 << 30];
const TINY_LEN: usize = 10;
const TINY_ROUNDS: usize = 12;
const TINY_CALLS: usize = 250;
const TINY_WARMUP: usize = 100;
const TINY_CHECKS: usize = 8;

/// Section 2: the array ((GATHER_ROWS, GATHER_COLS) float32 = 1 GiB), the rows per trial, and the trials:
/// `GATHER_ROUNDS` interleaved rounds of `GATHER_TRIALS` trials of each way (the same rows for each), after
/// `GATHER_WARMUP` untimed trials of each; the first `GATHER_CHECKS` trials are checked first.
const GATHER_ROWS: usize = 4_194_304;
const GATHER_COLS: usize = 64;
const GATHER_BATCH: usize = 256;
const GATHER_ROUNDS: usize = 10;
const GATHER_TRIALS: usize = 20;
const GATHER_WARMUP: usize = 5;
const GATHER_CHECKS: usize = 3;
/// Section 2: the targets for one gather, client-visible, as a multiple of the GETRANGE pipeline.
const TARGET_NONE: f64 = 1.0;
const TARGET_DEFAULT: f64 = 5.0;
/// Section 2: the smaller block size tried besides the default.
const GATHER_SMALL_BLOCK: u32 = 8192;

/// The sections, by the name that selects them on the command line.
const SECTIONS: [(&str, fn()); 2] = [("tiny-slice", tiny_slice), ("gather", gather)];

fn main() {
    // `cargo bench` passes `--bench` (and the harness options) to the binary: only plain words are sections.
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with('-'))
        .collect();
    for name in &wanted {
        if !SECTIONS.iter().any(|(section, _)| section == name) {
            let names: Vec<&str> = SECTIONS.iter().map(|(name, _)| *name).collect();
            eprintln!("unknown section '{name}' (sections: {})", names.join(", "));
            std::process::exit(2);
        }
    }
    let started = Instant::now();
    print_header(&wanted);
    for (name, run) in SECTIONS {
        if wanted.is_empty() || wanted.iter().any(|w| w == name) {
            run();
        }
    }
    println!(
        "\n(whole run: {:.0} s)",
        started.elapsed().as_secs_f64().ceil()
    );
}

// ---------------------------------------------------------------------------------------------------------
// Test data. A fixed-seed generator keeps runs comparable without a `rand` dependency.

/// Piece `index` of the data stream, `len` bytes (a multiple of 4) starting at byte `index * PIECE_BYTES`.
fn piece(index: usize, len: usize) -> Vec<u8> {
    let cos: Vec<f64> = (0..FIELD_COLS).map(|c| (c as f64 / 53.0).cos()).collect();
    let half_width = NOISE_STD * 3f64.sqrt();
    let mut rng = Rng(1000 + index as u64);
    let first = index * PIECE_BYTES / 4;
    let mut out = Vec::with_capacity(len);
    for element in first..first + len / 4 {
        let (row, col) = (element / FIELD_COLS, element % FIELD_COLS);
        let noise = ((rng.next() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * half_width;
        let v = (row as f64 / 37.0).sin() * cos[col] + noise;
        out.extend_from_slice(&(v as f32).to_le_bytes());
    }
    out
}

/// Bytes the checks expect: ranges (byte offset, length) of the data stream, copied out of the pieces as
/// they are generated (a 1 GiB stream is never held whole by the client).
struct Expected {
    ranges: Vec<(usize, usize)>,
    bytes: Vec<Vec<u8>>,
}

impl Expected {
    fn new(ranges: Vec<(usize, usize)>) -> Expected {
        let bytes = ranges.iter().map(|&(_, len)| vec![0; len]).collect();
        Expected { ranges, bytes }
    }

    /// Copies what `data`, found at byte `at` of the stream, holds of each range.
    fn fill(&mut self, at: usize, data: &[u8]) {
        for (&(start, len), bytes) in self.ranges.iter().zip(&mut self.bytes) {
            let lo = start.max(at);
            let hi = (start + len).min(at + data.len());
            if lo < hi {
                bytes[lo - start..hi - start].copy_from_slice(&data[lo - at..hi - at]);
            }
        }
    }
}

/// A key the data is stored at: a plain string, or an array with these `NDARRAY.SET` options.
struct Store {
    key: String,
    array_options: Option<&'static [&'static str]>,
    /// `ndarray.block-bytes` while the array is created (a property of the array, kept by APPEND);
    /// `None`: the setting as it is.
    block_bytes: Option<u32>,
}

/// Stores `total` bytes of the data stream at every store, as float32 arrays of shape (n, *row) or strings,
/// piece by piece: `SET` / `NDARRAY.SET` of the first, then `APPEND` / `NDARRAY.APPEND key BLOB` (each
/// reply checked). Fills `expected` on the way.
fn build(
    con: &mut Connection,
    stores: &[Store],
    total: usize,
    row: &[usize],
    expected: &mut Expected,
) {
    let row_bytes = row.iter().product::<usize>() * 4;
    let pieces = total.div_ceil(PIECE_BYTES);
    for index in 0..pieces {
        let at = index * PIECE_BYTES;
        let data = piece(index, PIECE_BYTES.min(total - at));
        assert_eq!(data.len() % row_bytes, 0, "pieces hold whole rows");
        expected.fill(at, &data);
        for store in stores {
            let packed = match (store.array_options, index) {
                (Some(options), 0) => {
                    let mut dims = vec![data.len() / row_bytes];
                    dims.extend_from_slice(row);
                    redis::cmd("NDARRAY.SET")
                        .arg(&store.key)
                        .arg("float32")
                        .arg(&dims)
                        .arg(options)
                        .arg("BLOB")
                        .arg(&data)
                        .get_packed_command()
                }
                (Some(_), _) => redis::cmd("NDARRAY.APPEND")
                    .arg(&store.key)
                    .arg("BLOB")
                    .arg(&data)
                    .get_packed_command(),
                (None, 0) => redis::cmd("SET")
                    .arg(&store.key)
                    .arg(&data)
                    .get_packed_command(),
                (None, _) => redis::cmd("APPEND")
                    .arg(&store.key)
                    .arg(&data)
                    .get_packed_command(),
            };
            let setting = (index == 0).then_some(store.block_bytes).flatten();
            let previous = setting.map(|bytes| {
                let previous: Vec<String> = query(
                    con,
                    redis::cmd("CONFIG").arg("GET").arg("ndarray.block-bytes"),
                );
                let () = query(
                    con,
                    redis::cmd("CONFIG")
                        .arg("SET")
                        .arg("ndarray.block-bytes")
                        .arg(bytes),
                );
                previous.get(1).cloned().expect("ndarray.block-bytes")
            });
            let reply = send(con, &packed, &store.key);
            if let Some(previous) = previous {
                let () = query(
                    con,
                    redis::cmd("CONFIG")
                        .arg("SET")
                        .arg("ndarray.block-bytes")
                        .arg(previous),
                );
            }
            let end = at + data.len();
            let good = match (index, &reply) {
                (0, Value::Okay) => true,
                (0, _) => false,
                (_, Value::Int(n)) if store.array_options.is_some() => {
                    *n as usize == end / row_bytes
                }
                (_, Value::Int(n)) => *n as usize == end,
                _ => false,
            };
            assert!(
                good,
                "building {}: piece {index} replied {reply:?}",
                store.key
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Server and client helpers.

/// A server that takes arrays and strings of 1 GiB.
fn big_server() -> Server {
    Server::builder()
        .module_args(&["max-array-bytes", MAX_ARRAY_BYTES])
        .config("proto-max-bulk-len", PROTO_MAX_BULK_LEN)
        .start()
}

/// Sends one RESP-encoded command and returns its reply; an error (or a server error reply) aborts the bench.
fn send(con: &mut Connection, packed: &[u8], what: &str) -> Value {
    match con.req_packed_command(packed) {
        Ok(Value::ServerError(e)) => panic!("{what}: {e:?}"),
        Ok(value) => value,
        Err(e) => panic!("{what}: {e}"),
    }
}

/// Sends `count` pipelined RESP-encoded commands in one write and returns their replies.
fn send_pipeline(con: &mut Connection, packed: &[u8], count: usize, what: &str) -> Vec<Value> {
    let replies = con
        .req_packed_commands(packed, 0, count)
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(replies.len(), count, "{what}: replies");
    for reply in &replies {
        if let Value::ServerError(e) = reply {
            panic!("{what}: {e:?}");
        }
    }
    replies
}

/// The bytes of a bulk-string reply.
fn bulk<'a>(reply: &'a Value, what: &str) -> &'a [u8] {
    match reply {
        Value::BulkString(bytes) => bytes,
        other => panic!("{what}: replied {other:?}"),
    }
}

fn info_u64(con: &mut Connection, section: &str, field: &str) -> u64 {
    info_field(con, section, field)
        .parse()
        .unwrap_or_else(|_| panic!("INFO {section} {field} is not a number"))
}

/// One integer field of `NDARRAY.INFO key` (a flat field/value array over RESP2), if it has it.
fn ndarray_info(con: &mut Connection, key: &str, field: &str) -> Option<u64> {
    let info: Vec<Value> = query(con, redis::cmd("NDARRAY.INFO").arg(key));
    info.chunks(2).find_map(|pair| match pair {
        [Value::BulkString(name), Value::Int(n)] if name == field.as_bytes() => {
            u64::try_from(*n).ok()
        }
        _ => None,
    })
}

/// `usec / calls` of `cmdstat_<stat>` in INFO commandstats, in microseconds.
fn usec_per_call(con: &mut Connection, stat: &str) -> f64 {
    let line = info_field(con, "commandstats", &format!("cmdstat_{stat}"));
    let field = |name: &str| -> f64 {
        line.split(',')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("cmdstat_{stat}: no {name} in {line:?}"))
    };
    field("usec") / field("calls")
}

fn reset_stats(con: &mut Connection) {
    let () = query(con, redis::cmd("CONFIG").arg("RESETSTAT"));
}

/// `INFO ndarray`'s count of blocks decoded alone (reads of a few items) and of whole chunks decoded.
fn decoded(con: &mut Connection) -> (u64, u64) {
    (
        info_u64(con, "ndarray", "ndarray_blocks_decoded"),
        info_u64(con, "ndarray", "ndarray_chunks_decoded"),
    )
}

/// The ratio of two figures: two decimals; three below 0.1.
fn fmt_ratio(value: f64, baseline: f64) -> String {
    let ratio = value / baseline;
    if !ratio.is_finite() {
        "-".into()
    } else if ratio < 0.1 {
        format!("{ratio:.3}x")
    } else {
        format!("{ratio:.2}x")
    }
}

/// Microseconds with a precision that suits their size.
fn fmt_us(us: f64) -> String {
    if us < 10.0 {
        format!("{us:.2}")
    } else if us < 100.0 {
        format!("{us:.1}")
    } else {
        format!("{us:.0}")
    }
}

fn fmt_mib(bytes: usize) -> String {
    if bytes >= 1 << 30 {
        format!("{} GiB", bytes >> 30)
    } else {
        format!("{} MiB", bytes >> 20)
    }
}

fn median<T: Copy + PartialOrd>(values: &[T]) -> T {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).expect("comparable figures"));
    sorted[(sorted.len() - 1) / 2]
}

/// The nearest-rank percentile `q` of non-empty `samples`.
fn percentile(samples: &[Duration], q: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// What the timed rounds of one command (or pipeline) gave: per round the server's µs per call, and the
/// client-visible time of each call; and the blocks and chunks `INFO ndarray` counted as decoded.
#[derive(Default)]
struct Timings {
    server_us: Vec<f64>,
    client: Vec<Duration>,
    blocks: u64,
    chunks: u64,
}

impl Timings {
    fn server_median(&self) -> f64 {
        median(&self.server_us)
    }
    fn client_median(&self) -> Duration {
        median(&self.client)
    }
    fn client_p99(&self) -> Duration {
        percentile(&self.client, 0.99)
    }
    /// Blocks and chunks decoded per call.
    fn decoded_per_call(&self) -> (f64, f64) {
        let calls = self.client.len() as f64;
        (self.blocks as f64 / calls, self.chunks as f64 / calls)
    }
}

// ---------------------------------------------------------------------------------------------------------
// Header.

fn print_header(wanted: &[String]) {
    let server = Server::start();
    let mut con = server.conn();
    support::print_run_header(
        "redis-ndarray random-access benchmark",
        &mut con,
        &common::redis_server_bin(),
        &common::module_path(),
        "random_access",
        "tiny-slice, gather",
        wanted,
    );
    println!(
        "method:     each section starts a fresh server (max-array-bytes and proto-max-bulk-len 2 GiB); every \
         figure is\n            measured in the same run as its plain-Redis baseline (GETRANGE of a string holding \
         the same raw bytes),\n            in interleaved rounds on the same random positions; \"vs GETRANGE\" = \
         figure / baseline (lower is\n            better). client-visible = wall time of one request and its \
         reply at a client (network, client and\n            server); server-side = INFO commandstats \
         usec_per_call after CONFIG RESETSTAT (main-thread time in the\n            command), the median of the \
         rounds. Commands are RESP-encoded before timing. Data: a smooth float32\n            field \
         (sin(r/37)*cos(c/53) over rows of {FIELD_COLS}) plus uniform noise of std {NOISE_STD:e}, a fresh seed \
         per\n            {} piece."
        , fmt_mib(PIECE_BYTES)
    );
}

// ---------------------------------------------------------------------------------------------------------
// 1. Tiny slice: 10 elements at a random offset.

/// One way of reading `TINY_LEN` elements at an element offset.
struct TinyOp {
    label: &'static str,
    stat: &'static str,
    key: &'static str,
    /// Whether it is `GETRANGE key first last` (bytes), else `NDARRAY.SLICE key "start:stop" FORMAT BLOB`.
    plain: bool,
}

impl TinyOp {
    fn packed(&self, start: usize) -> Vec<u8> {
        if self.plain {
            let first = start * 4;
            redis::cmd("GETRANGE")
                .arg(self.key)
                .arg(first)
                .arg(first + TINY_LEN * 4 - 1)
                .get_packed_command()
        } else {
            redis::cmd("NDARRAY.SLICE")
                .arg(self.key)
                .arg(format!("{start}:{}", start + TINY_LEN))
                .arg("FORMAT")
                .arg("BLOB")
                .get_packed_command()
        }
    }
}

const TINY_OPS: [TinyOp; 3] = [
    TinyOp {
        label: "GETRANGE plain string (baseline)",
        stat: "getrange",
        key: "tiny:plain",
        plain: true,
    },
    TinyOp {
        label: "NDARRAY.SLICE, default encoding",
        stat: "ndarray.slice",
        key: "tiny:default",
        plain: false,
    },
    TinyOp {
        label: "NDARRAY.SLICE, COMPRESS none",
        stat: "ndarray.slice",
        key: "tiny:none",
        plain: false,
    },
];

/// Timed rounds of every op of `TINY_OPS` on arrays of `elements`, interleaved, each round on fresh random
/// offsets.
fn tiny_rounds(con: &mut Connection, rng: &mut Rng, elements: usize) -> Vec<Timings> {
    let what = |op: &TinyOp| op.label;
    let random_starts = |rng: &mut Rng, count: usize| -> Vec<usize> {
        (0..count)
            .map(|_| rng.index(elements - TINY_LEN + 1))
            .collect()
    };
    let warmup = random_starts(rng, TINY_WARMUP);
    for op in &TINY_OPS {
        for &start in &warmup {
            send(con, &op.packed(start), what(op));
        }
    }
    let mut out: Vec<Timings> = TINY_OPS.iter().map(|_| Timings::default()).collect();
    for _ in 0..TINY_ROUNDS {
        let starts = random_starts(rng, TINY_CALLS);
        for (op, timings) in TINY_OPS.iter().zip(&mut out) {
            let packed: Vec<Vec<u8>> = starts.iter().map(|&s| op.packed(s)).collect();
            let before = decoded(con);
            reset_stats(con);
            for command in &packed {
                let start = Instant::now();
                let reply = send(con, command, what(op));
                timings.client.push(start.elapsed());
                assert_eq!(bulk(&reply, what(op)).len(), TINY_LEN * 4, "{}", op.label);
            }
            timings.server_us.push(usec_per_call(con, op.stat));
            let after = decoded(con);
            timings.blocks += after.0 - before.0;
            timings.chunks += after.1 - before.1;
        }
    }
    out
}

fn tiny_slice() {
    let server = big_server();
    let mut con = server.conn();
    section(&format!(
        "1. Tiny slice: {TINY_LEN} float32 ({} bytes) at a random offset of a 1-D float32 array, against GETRANGE",
        TINY_LEN * 4
    ));
    println!(
        "NDARRAY.SLICE key \"<start>:<start+{TINY_LEN}>\" FORMAT BLOB (the reply is the {} raw bytes) of arrays \
         stored with the default\nencoding (zstd + bit shuffle, chunks of independently decodable blocks; no \
         COMPRESS given) and with COMPRESS\nnone; baseline: GETRANGE of the same {} bytes of a plain string \
         holding the same raw bytes. Per size: {TINY_ROUNDS}\ninterleaved rounds of {TINY_CALLS} calls of each \
         command, one round trip at a time, on the same fresh random offsets\n(after {TINY_WARMUP} untimed \
         calls of each): client-visible median and p99 over all {} calls; server-side µs/call,\nthe median of \
         the rounds. blocks/call, chunks/call: INFO ndarray's ndarray_blocks_decoded and\n\
         ndarray_chunks_decoded deltas per call. Arrays over {} are built from {} pieces (SET or NDARRAY.SET, \
         then\nAPPEND or NDARRAY.APPEND BLOB), untimed; each size's keys are deleted before the next.",
        TINY_LEN * 4,
        TINY_LEN * 4,
        TINY_ROUNDS * TINY_CALLS,
        fmt_mib(PIECE_BYTES),
        fmt_mib(PIECE_BYTES),
    );
    println!(
        "{:<7} {:<33} {:>8} {:>8} {:>9} {:>9} {:>8} {:>8} {:>7} {:>7}",
        "size", "command", "server", "vs", "client", "client", "vs", "vs", "blocks", "chunks"
    );
    println!(
        "{:<7} {:<33} {:>8} {:>8} {:>9} {:>9} {:>8} {:>8} {:>7} {:>7}",
        "", "", "µs/call", "GETRANGE", "median", "p99", "GETRANGE", "(p99)", "/call", "/call"
    );
    let mut storage = Vec::new();
    let mut largest: Vec<Timings> = Vec::new();
    for size in TINY_SIZES {
        let elements = size / 4;
        let mut rng = Rng(20 + size as u64);
        let mut checks: Vec<usize> = vec![0, elements - TINY_LEN];
        checks.extend((0..TINY_CHECKS).map(|_| rng.index(elements - TINY_LEN + 1)));
        let mut expected = Expected::new(checks.iter().map(|&s| (s * 4, TINY_LEN * 4)).collect());
        let stores: Vec<Store> = [
            ("tiny:default", Some(&[] as &'static [&'static str])),
            (
                "tiny:none",
                Some(&["COMPRESS", "none"] as &'static [&'static str]),
            ),
            ("tiny:plain", None),
        ]
        .into_iter()
        .map(|(key, array_options)| Store {
            key: key.into(),
            array_options,
            block_bytes: None,
        })
        .collect();
        build(&mut con, &stores, size, &[], &mut expected);

        for (&start, want) in checks.iter().zip(&expected.bytes) {
            for op in &TINY_OPS {
                let reply = send(&mut con, &op.packed(start), op.label);
                assert!(
                    bulk(&reply, op.label) == want.as_slice(),
                    "{} at {start} of {size} bytes: not the stored bytes",
                    op.label
                );
            }
        }
        let mut ratios = Vec::new();
        for key in ["tiny:default", "tiny:none"] {
            let stored = ndarray_info(&mut con, key, "stored_bytes").expect("stored_bytes");
            let nbytes = ndarray_info(&mut con, key, "nbytes").expect("nbytes");
            assert_eq!(nbytes as usize, size, "{key}: nbytes");
            ratios.push(stored as f64 / nbytes as f64);
        }
        let mut layout = |field: &str| {
            ndarray_info(&mut con, "tiny:default", field).map_or("n/a".into(), fmt_int)
        };
        storage.push(format!(
            "{}: stored_bytes/nbytes default {:.3}, none {:.3}; default chunk_bytes {}, block_bytes {}",
            fmt_mib(size),
            ratios[0],
            ratios[1],
            layout("chunk_bytes"),
            layout("block_bytes"),
        ));

        let results = tiny_rounds(&mut con, &mut rng, elements);
        let base = &results[0];
        for (i, (op, t)) in TINY_OPS.iter().zip(&results).enumerate() {
            let (blocks, chunks) = t.decoded_per_call();
            println!(
                "{:<7} {:<33} {:>8} {:>8} {:>9} {:>9} {:>8} {:>8} {:>7} {:>7}",
                if i == 0 { fmt_mib(size) } else { String::new() },
                op.label,
                fmt_us(t.server_median()),
                fmt_ratio(t.server_median(), base.server_median()),
                fmt_duration(t.client_median()),
                fmt_duration(t.client_p99()),
                fmt_ratio(
                    t.client_median().as_secs_f64(),
                    base.client_median().as_secs_f64()
                ),
                fmt_ratio(
                    t.client_p99().as_secs_f64(),
                    base.client_p99().as_secs_f64()
                ),
                format!("{blocks:.2}"),
                format!("{chunks:.2}"),
            );
        }
        let _: u64 = query(
            &mut con,
            redis::cmd("DEL").arg(&["tiny:default", "tiny:none", "tiny:plain"][..]),
        );
        largest = results;
    }
    println!("({})", storage.join(";\n "));
    let [base, default, none] = [&largest[0], &largest[1], &largest[2]];
    let (blocks, _) = default.decoded_per_call();
    println!(
        "what this means: at {}, a {TINY_LEN}-element SLICE holds the main thread {} µs with the default \
         encoding\n({:.2} blocks decoded per call) and {} µs with none, against {} µs for GETRANGE ({} and {});\n\
         a client sees {} and {} against {} ({} and {}).",
        fmt_mib(TINY_SIZES[TINY_SIZES.len() - 1]),
        fmt_us(default.server_median()),
        blocks,
        fmt_us(none.server_median()),
        fmt_us(base.server_median()),
        fmt_ratio(default.server_median(), base.server_median()),
        fmt_ratio(none.server_median(), base.server_median()),
        fmt_duration(default.client_median()),
        fmt_duration(none.client_median()),
        fmt_duration(base.client_median()),
        fmt_ratio(
            default.client_median().as_secs_f64(),
            base.client_median().as_secs_f64()
        ),
        fmt_ratio(
            none.client_median().as_secs_f64(),
            base.client_median().as_secs_f64()
        ),
    );
}

// ---------------------------------------------------------------------------------------------------------
// 2. Gather: 256 random rows.

/// One way of reading a trial's rows: the command(s) of a trial, sent as one write.
struct GatherOp {
    label: &'static str,
    stat: &'static str,
    /// Commands per trial (1, or 256 for a pipeline).
    commands: usize,
    /// The target, client-visible, as a multiple of the baseline.
    target: Option<f64>,
    packed: fn(&[usize]) -> Vec<u8>,
}

const ROW_BYTES: usize = GATHER_COLS * 4;

fn getrange_pipeline(rows: &[usize]) -> Vec<u8> {
    let mut pipe = redis::pipe();
    for &row in rows {
        pipe.cmd("GETRANGE")
            .arg("gather:plain")
            .arg(row * ROW_BYTES)
            .arg(row * ROW_BYTES + ROW_BYTES - 1);
    }
    pipe.get_packed_pipeline()
}

fn list_selection(rows: &[usize]) -> String {
    let list: Vec<String> = rows.iter().map(|row| row.to_string()).collect();
    format!("[{}], :", list.join(","))
}

fn gather_command(key: &str, rows: &[usize]) -> Vec<u8> {
    redis::cmd("NDARRAY.SLICE")
        .arg(key)
        .arg(list_selection(rows))
        .arg("FORMAT")
        .arg("BLOB")
        .get_packed_command()
}

fn row_pipeline(key: &str, rows: &[usize]) -> Vec<u8> {
    let mut pipe = redis::pipe();
    for &row in rows {
        pipe.cmd("NDARRAY.SLICE")
            .arg(key)
            .arg(format!("{row}, :"))
            .arg("FORMAT")
            .arg("BLOB");
    }
    pipe.get_packed_pipeline()
}

const GATHER_OPS: [GatherOp; 7] = [
    GatherOp {
        label: "256 GETRANGE, 1 pipeline (baseline)",
        stat: "getrange",
        commands: GATHER_BATCH,
        target: None,
        packed: getrange_pipeline,
    },
    GatherOp {
        label: "SLICE \"[i1,...,i256], :\" default",
        stat: "ndarray.slice",
        commands: 1,
        target: Some(TARGET_DEFAULT),
        packed: |rows| gather_command("gather:default", rows),
    },
    GatherOp {
        label: "SLICE \"[i1,...,i256], :\" none",
        stat: "ndarray.slice",
        commands: 1,
        target: Some(TARGET_NONE),
        packed: |rows| gather_command("gather:none", rows),
    },
    GatherOp {
        label: "SLICE \"[i1,...,i256], :\" 8 KiB blocks",
        stat: "ndarray.slice",
        commands: 1,
        target: None,
        packed: |rows| gather_command("gather:blocks8k", rows),
    },
    GatherOp {
        label: "SLICE \"[i1,...,i256], :\" lz4",
        stat: "ndarray.slice",
        commands: 1,
        target: None,
        packed: |rows| gather_command("gather:lz4", rows),
    },
    GatherOp {
        label: "256 SLICE \"i, :\", 1 pipeline, default",
        stat: "ndarray.slice",
        commands: GATHER_BATCH,
        target: None,
        packed: |rows| row_pipeline("gather:default", rows),
    },
    GatherOp {
        label: "256 SLICE \"i, :\", 1 pipeline, none",
        stat: "ndarray.slice",
        commands: GATHER_BATCH,
        target: None,
        packed: |rows| row_pipeline("gather:none", rows),
    },
];

/// Sends one trial of `op` and returns the rows it read, concatenated in the order asked.
fn gather_trial(con: &mut Connection, op: &GatherOp, packed: &[u8]) -> Vec<u8> {
    if op.commands == 1 {
        match send(con, packed, op.label) {
            Value::BulkString(bytes) => bytes,
            other => panic!("{}: replied {other:?}", op.label),
        }
    } else {
        let replies = send_pipeline(con, packed, op.commands, op.label);
        let mut out = Vec::with_capacity(op.commands * ROW_BYTES);
        for reply in &replies {
            out.extend_from_slice(bulk(reply, op.label));
        }
        out
    }
}

fn gather() {
    let server = big_server();
    let mut con = server.conn();
    let total = GATHER_ROWS * ROW_BYTES;
    section(&format!(
        "2. Gather: {GATHER_BATCH} random rows of a ({}, {GATHER_COLS}) float32 array ({}), against a GETRANGE \
         pipeline",
        fmt_int(GATHER_ROWS as u64),
        fmt_mib(total)
    ));
    println!(
        "Each trial reads {GATHER_BATCH} row indices drawn uniformly with replacement, in random order (a \
         minibatch sampler):\nours: one NDARRAY.SLICE key \"[i1,i2,...,i{GATHER_BATCH}], :\" FORMAT BLOB (reply: \
         the rows concatenated, {} bytes);\nbaseline: a pipeline of {GATHER_BATCH} GETRANGE key i*{ROW_BYTES} \
         i*{ROW_BYTES}+{} of a plain string with the same raw bytes (one write,\none round trip); context: \
         the old way, a pipeline of {GATHER_BATCH} NDARRAY.SLICE key \"i, :\" FORMAT BLOB. Arrays with\nthe \
         default encoding and with COMPRESS none, built from {} pieces, untimed. {GATHER_ROUNDS} interleaved \
         rounds of\n{GATHER_TRIALS} trials of each way on the same rows (after {GATHER_WARMUP} untimed trials \
         of each): client-visible median and p99\nof a trial over all {} trials; server-side µs per trial = \
         usec_per_call x commands per trial, the median of\nthe rounds; blocks, chunks: INFO ndarray's \
         ndarray_blocks_decoded and ndarray_chunks_decoded per trial.",
        fmt_int((GATHER_BATCH * ROW_BYTES) as u64),
        ROW_BYTES - 1,
        fmt_mib(PIECE_BYTES),
        GATHER_ROUNDS * GATHER_TRIALS,
    );
    let mut rng = Rng(31);
    let mut draw = |count: usize| -> Vec<Vec<usize>> {
        (0..count)
            .map(|_| (0..GATHER_BATCH).map(|_| rng.index(GATHER_ROWS)).collect())
            .collect()
    };
    // The checked trials cover the first and last rows and a repeated row besides random ones.
    let mut checked = draw(GATHER_CHECKS);
    checked[0][0] = 0;
    checked[0][1] = GATHER_ROWS - 1;
    checked[0][2] = checked[0][3];
    let warmup = draw(GATHER_WARMUP);
    let timed = draw(GATHER_ROUNDS * GATHER_TRIALS);
    let mut expected = Expected::new(
        checked
            .iter()
            .flatten()
            .map(|&row| (row * ROW_BYTES, ROW_BYTES))
            .collect(),
    );
    // Besides the default and none, the two ways to trade ratio for gather speed: smaller blocks
    // (ndarray.block-bytes 8192 when the array is created) and a faster codec (lz4).
    let default: &'static [&'static str] = &[];
    let stores: Vec<Store> = [
        ("gather:default", Some(default), None),
        ("gather:none", Some(&["COMPRESS", "none"][..]), None),
        ("gather:blocks8k", Some(default), Some(GATHER_SMALL_BLOCK)),
        ("gather:lz4", Some(&["COMPRESS", "lz4"][..]), None),
        ("gather:plain", None, None),
    ]
    .into_iter()
    .map(|(key, array_options, block_bytes)| Store {
        key: key.into(),
        array_options,
        block_bytes,
    })
    .collect();
    build(&mut con, &stores, total, &[GATHER_COLS], &mut expected);

    for (i, rows) in checked.iter().enumerate() {
        let want: Vec<u8> = expected.bytes[i * GATHER_BATCH..(i + 1) * GATHER_BATCH].concat();
        for op in &GATHER_OPS {
            let got = gather_trial(&mut con, op, &(op.packed)(rows));
            assert!(
                got == want,
                "{}: trial {i} did not return the rows asked, in order",
                op.label
            );
        }
    }
    let mut storage = Vec::new();
    for key in [
        "gather:default",
        "gather:none",
        "gather:blocks8k",
        "gather:lz4",
    ] {
        let stored = ndarray_info(&mut con, key, "stored_bytes").expect("stored_bytes");
        let nbytes = ndarray_info(&mut con, key, "nbytes").expect("nbytes");
        assert_eq!(nbytes as usize, total, "{key}: nbytes");
        storage.push(format!(
            "{}: stored_bytes/nbytes {:.3}",
            key.trim_start_matches("gather:"),
            stored as f64 / nbytes as f64
        ));
    }
    if let (Some(chunk), Some(block)) = (
        ndarray_info(&mut con, "gather:default", "chunk_bytes"),
        ndarray_info(&mut con, "gather:default", "block_bytes"),
    ) {
        storage.push(format!(
            "default: chunk_bytes {} ({} rows), block_bytes {} ({} rows)",
            fmt_int(chunk),
            fmt_int(chunk / ROW_BYTES as u64),
            fmt_int(block),
            fmt_int(block / ROW_BYTES as u64),
        ));
    }

    for op in &GATHER_OPS {
        for rows in &warmup {
            gather_trial(&mut con, op, &(op.packed)(rows));
        }
    }
    let mut results: Vec<Timings> = GATHER_OPS.iter().map(|_| Timings::default()).collect();
    for round in timed.chunks(GATHER_TRIALS) {
        for (op, timings) in GATHER_OPS.iter().zip(&mut results) {
            let packed: Vec<Vec<u8>> = round.iter().map(|rows| (op.packed)(rows)).collect();
            let before = decoded(&mut con);
            reset_stats(&mut con);
            for command in &packed {
                let start = Instant::now();
                let got = gather_trial(&mut con, op, command);
                timings.client.push(start.elapsed());
                assert_eq!(got.len(), GATHER_BATCH * ROW_BYTES, "{}", op.label);
            }
            timings
                .server_us
                .push(usec_per_call(&mut con, op.stat) * op.commands as f64);
            let after = decoded(&mut con);
            timings.blocks += after.0 - before.0;
            timings.chunks += after.1 - before.1;
        }
    }
    drop(con);
    drop(server);

    let row = |cells: [&str; 10]| {
        println!(
            "{:<37} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>6} {:>6} {:>11}",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            cells[4],
            cells[5],
            cells[6],
            cells[7],
            cells[8],
            cells[9]
        );
    };
    row([
        "way",
        "server µs",
        "vs",
        "client",
        "client",
        "vs",
        "vs",
        "blocks",
        "chunks",
        "target",
    ]);
    row([
        "",
        "/trial",
        "GETRANGE",
        "median",
        "p99",
        "GETRANGE",
        "(p99)",
        "/trial",
        "/trial",
        "client med",
    ]);
    let base = &results[0];
    let client_ratio =
        |t: &Timings| t.client_median().as_secs_f64() / base.client_median().as_secs_f64();
    for (op, t) in GATHER_OPS.iter().zip(&results) {
        let (blocks, chunks) = t.decoded_per_call();
        let target = op.target.map_or(String::new(), |target| {
            let verdict = if client_ratio(t) <= target {
                "met"
            } else {
                "MISSED"
            };
            format!("<={target}x {verdict}")
        });
        row([
            op.label,
            &fmt_us(t.server_median()),
            &fmt_ratio(t.server_median(), base.server_median()),
            &fmt_duration(t.client_median()),
            &fmt_duration(t.client_p99()),
            &fmt_ratio(client_ratio(t), 1.0),
            &fmt_ratio(
                t.client_p99().as_secs_f64(),
                base.client_p99().as_secs_f64(),
            ),
            &format!("{blocks:.1}"),
            &format!("{chunks:.1}"),
            &target,
        ]);
    }
    println!("({})", storage.join(";\n "));
    println!(
        "what this means: one gather of {GATHER_BATCH} rows takes a client {} with the default encoding and \
         {} with none,\nagainst {} for the GETRANGE pipeline ({} and {}; targets <= {TARGET_DEFAULT:.1}x and \
         <= {TARGET_NONE:.1}x); it holds\nthe main thread {} µs and {} µs against {} µs. The old way (a row per \
         command) takes {} and {}. 8 KiB blocks\nand lz4 take {} and {} ({} and {}).",
        fmt_duration(results[1].client_median()),
        fmt_duration(results[2].client_median()),
        fmt_duration(base.client_median()),
        fmt_ratio(client_ratio(&results[1]), 1.0),
        fmt_ratio(client_ratio(&results[2]), 1.0),
        fmt_us(results[1].server_median()),
        fmt_us(results[2].server_median()),
        fmt_us(base.server_median()),
        fmt_duration(results[5].client_median()),
        fmt_duration(results[6].client_median()),
        fmt_duration(results[3].client_median()),
        fmt_duration(results[4].client_median()),
        fmt_ratio(client_ratio(&results[3]), 1.0),
        fmt_ratio(client_ratio(&results[4]), 1.0),
    );
}
