//! Byte and bit shuffle micro-benchmark: `shuffle` and `unshuffle` (src/codec/shuffle.rs) on one thread, for the
//! item sizes that matter (2: float16/bfloat16, 4: float32/int32, 8: float64/int64) and two generic ones (3, 16), on
//! an 8 MiB buffer and on one 256 KiB chunk (the store's default chunk size, which stays in cache); then
//! `bitshuffle` and `bitunshuffle` (src/codec/bitshuffle.rs) for item sizes 1, 2, 4 and 8 on the same buffers; then
//! LZ4 of a smooth float32 8 MiB array with no filter, the byte shuffle and the bit shuffle: the ratio, and LZ4
//! decode + unshuffle, the read path of an lz4+byte or lz4+bit array. Each is timed for the simple byte-at-a-time
//! loops (the byte shuffle's code before the fast paths, kept as the test reference), the portable kernels
//! (non-x86_64 builds) and what the codec runs.
//!
//! Run with `cargo bench --bench shuffle_bench` (no server needed). GB/s is array bytes per second (10^9): each
//! byte is read once and written once. Every figure is the best of `RUNS` timed runs after `WARMUP` untimed ones,
//! so a short burst of other work on the machine costs a run, not the figure; the load average is printed first
//! so a busy machine shows. It asserts nothing about timings, but checks every output once against the input.
//!
//! The filters' source files are compiled into this benchmark directly: linking the crate would bring in its
//! global allocator, Redis', which does not exist outside redis-server. For the same reason the LZ4 part calls
//! `lz4_flex` exactly as `src/codec/lz4.rs` does instead of going through `ChunkCodec`.

// Cargo compiles a `harness = false` target with `cfg(test)` but without the test harness, so the file's test
// module is compiled too, minus its `#[test]` functions.
#[path = "../crates/ndarray-core/src/codec/bitshuffle.rs"]
#[allow(unused_imports, dead_code)]
mod bitshuffle;
#[path = "../crates/ndarray-core/src/codec/shuffle.rs"]
#[allow(unused_imports, dead_code)]
mod shuffle;
mod support;
#[path = "../tests/util/mod.rs"]
mod util;

use std::hint::black_box;
use std::time::{Duration, Instant};
use support::{git_version, section, utc_now};
use util::Rng;

const WARMUP: usize = 3;
const RUNS: usize = 100;
const BIG: usize = 8 << 20;
const CHUNK: usize = 256 << 10;
const ITEMSIZES: [usize; 5] = [2, 4, 8, 3, 16];
const BIT_ITEMSIZES: [usize; 4] = [1, 2, 4, 8];

/// The shortest of `RUNS` timings of `f`, after `WARMUP` untimed calls.
fn best(mut f: impl FnMut()) -> Duration {
    for _ in 0..WARMUP {
        f();
    }
    (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn gbps(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / 1e9
}

fn random_bytes(n: usize, rng: &mut Rng) -> Vec<u8> {
    (0..n).map(|_| rng.next() as u8).collect()
}

/// A smooth float32 field, sin(r/37)·cos(c/53) (as in section 3 of ndarray_bench), as little-endian bytes.
fn smooth_f32(rows: usize, cols: usize) -> Vec<u8> {
    (0..rows)
        .flat_map(|r| (0..cols).map(move |c| (r as f64 / 37.0).sin() * (c as f64 / 53.0).cos()))
        .flat_map(|v| (v as f32).to_le_bytes())
        .collect()
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

type Filter = fn(&[u8], usize, &mut [u8]);
/// Implementations of one filter: (name, filter, inverse).
type Implementations = &'static [(&'static str, Filter, Filter)];

/// What is timed: the simple byte-at-a-time loops the file keeps as its test reference (the code
/// before the fast paths), the portable block kernels (what non-x86_64 builds run), and the
/// functions the codec calls (on x86_64, the SSE2 kernels). The simple loops run one byte per
/// iteration, and their speed depends on code placement: 1.5 or 3 GB/s for the same source (the
/// shuffle's inner loop runs at half speed when it straddles a 64-byte line of code), so compare
/// against a run of the older commit rather than this column alone.
const IMPLEMENTATIONS: [(&str, Filter, Filter); 3] = [
    (
        "simple",
        shuffle::reference::shuffle,
        shuffle::reference::unshuffle,
    ),
    (
        "portable",
        shuffle::portable::shuffle,
        shuffle::portable::unshuffle,
    ),
    ("codec", shuffle::shuffle, shuffle::unshuffle),
];

fn filters() {
    section(&format!(
        "1. shuffle / unshuffle, one thread, GB/s (best of {RUNS})"
    ));
    let names: Vec<&str> = IMPLEMENTATIONS.iter().map(|(name, ..)| *name).collect();
    let header = names.iter().map(|n| format!("{n:>10}")).collect::<String>();
    println!(
        "{:>8}  {:<9}   8 MiB:{header}   256 KiB:{header}",
        "itemsize", ""
    );
    let mut rng = Rng(1);
    for itemsize in ITEMSIZES {
        let mut rows = [
            format!("{itemsize:>8}  shuffle  "),
            format!("{:>8}  unshuffle", ""),
        ];
        for (size, label) in [(BIG, "      "), (CHUNK, "        ")] {
            // A whole number of items, as the store's chunks always are.
            let n = size / itemsize * itemsize;
            let raw = random_bytes(n, &mut rng);
            let mut want = vec![0; n];
            shuffle::reference::shuffle(&raw, itemsize, &mut want);
            rows[0] += &format!("   {label}");
            rows[1] += &format!("   {label}");
            for (name, shuf, unshuf) in IMPLEMENTATIONS {
                let mut shuffled = vec![0; n];
                let mut back = vec![0; n];
                shuf(&raw, itemsize, &mut shuffled);
                unshuf(&shuffled, itemsize, &mut back);
                assert!(
                    shuffled == want,
                    "{name}, itemsize {itemsize}: wrong shuffle"
                );
                assert!(
                    back == raw,
                    "{name}, itemsize {itemsize}: round trip failed"
                );
                let t_shuffle = best(|| shuf(black_box(&raw), itemsize, &mut shuffled));
                let t_unshuffle = best(|| unshuf(black_box(&shuffled), itemsize, &mut back));
                black_box((&shuffled, &back));
                rows[0] += &format!("{:>10.2}", gbps(n, t_shuffle));
                rows[1] += &format!("{:>10.2}", gbps(n, t_unshuffle));
            }
        }
        println!("{}\n{}", rows[0], rows[1]);
    }
    // The ceiling: a plain copy of the same bytes (one read and one write of each).
    let mut row = format!("{:>8}  {:<9}", "memcpy", "");
    for (size, label) in [(BIG, "8 MiB"), (CHUNK, "256 KiB")] {
        let from = random_bytes(size, &mut rng);
        let mut to = vec![0; size];
        let t = best(|| to.copy_from_slice(black_box(&from)));
        black_box(&to);
        row += &format!("   {label}: {:.2}", gbps(size, t));
    }
    println!("{row}");
}

/// The bit shuffle's paths: the portable kernels (non-x86_64 builds) and what the codec runs. Its bit-by-bit
/// reference is too slow to time here (it checks the outputs once).
const BIT_IMPLEMENTATIONS: [(&str, Filter, Filter); 2] = [
    (
        "portable",
        bitshuffle::portable::bitshuffle,
        bitshuffle::portable::bitunshuffle,
    ),
    ("codec", bitshuffle::bitshuffle, bitshuffle::bitunshuffle),
];

fn bit_filters() {
    section(&format!(
        "2. bitshuffle / bitunshuffle, one thread, GB/s (best of {RUNS})"
    ));
    let names: Vec<&str> = BIT_IMPLEMENTATIONS.iter().map(|(name, ..)| *name).collect();
    let header = names.iter().map(|n| format!("{n:>10}")).collect::<String>();
    println!(
        "{:>8}  {:<12}   8 MiB:{header}   256 KiB:{header}",
        "itemsize", ""
    );
    let mut rng = Rng(2);
    for itemsize in BIT_ITEMSIZES {
        let mut rows = [
            format!("{itemsize:>8}  bitshuffle  "),
            format!("{:>8}  bitunshuffle", ""),
        ];
        for (size, label) in [(BIG, "      "), (CHUNK, "        ")] {
            let n = size / itemsize * itemsize;
            let raw = random_bytes(n, &mut rng);
            let mut want = vec![0; n];
            bitshuffle::reference::bitshuffle(&raw, itemsize, &mut want);
            rows[0] += &format!("   {label}");
            rows[1] += &format!("   {label}");
            for (name, shuf, unshuf) in BIT_IMPLEMENTATIONS {
                let mut shuffled = vec![0; n];
                let mut back = vec![0; n];
                shuf(&raw, itemsize, &mut shuffled);
                unshuf(&shuffled, itemsize, &mut back);
                assert!(
                    shuffled == want,
                    "{name}, itemsize {itemsize}: wrong bit shuffle"
                );
                assert!(
                    back == raw,
                    "{name}, itemsize {itemsize}: round trip failed"
                );
                let t_shuffle = best(|| shuf(black_box(&raw), itemsize, &mut shuffled));
                let t_unshuffle = best(|| unshuf(black_box(&shuffled), itemsize, &mut back));
                black_box((&shuffled, &back));
                rows[0] += &format!("{:>10.2}", gbps(n, t_shuffle));
                rows[1] += &format!("{:>10.2}", gbps(n, t_unshuffle));
            }
        }
        println!("{}\n{}", rows[0], rows[1]);
    }
}

fn no_filter(raw: &[u8], _itemsize: usize, out: &mut [u8]) {
    out.copy_from_slice(raw);
}

fn lz4_read_path() {
    section(&format!(
        "3. lz4 (+ filter), smooth float32 2048x1024 (8 MiB), one thread: ratio, and decode + unshuffle in GB/s of raw bytes (best of {RUNS})"
    ));
    let raw = smooth_f32(2048, 1024);
    let itemsize = 4;
    // Each filter with the implementations whose unshuffle is timed after the lz4 decode.
    let filters: [(&str, Filter, Implementations); 3] = [
        ("no filter", no_filter, &[]),
        ("byte", shuffle::shuffle, &IMPLEMENTATIONS),
        ("bit", bitshuffle::bitshuffle, &BIT_IMPLEMENTATIONS),
    ];
    for chunk in [raw.len(), CHUNK] {
        for (filter, shuf, unshuffles) in filters {
            // Encode as ChunkCodec does: filter into scratch, then lz4 block compress each chunk.
            let stored: Vec<Vec<u8>> = raw
                .chunks(chunk)
                .map(|part| {
                    let mut shuffled = vec![0; part.len()];
                    shuf(part, itemsize, &mut shuffled);
                    lz4_flex::block::compress(&shuffled)
                })
                .collect();
            let stored_bytes: usize = stored.iter().map(Vec::len).sum();
            let mut scratch = vec![0; chunk];
            let mut out = vec![0; raw.len()];
            let decode_only = |out: &mut [u8], scratch: &mut [u8]| {
                for (enc, dst) in stored.iter().zip(out.chunks_mut(chunk)) {
                    let n = lz4_flex::block::decompress_into(enc, scratch).unwrap_or(0);
                    assert_eq!(n, dst.len(), "lz4 decoded length");
                }
            };
            let decode_unshuffle = |unshuf: Filter, out: &mut [u8], scratch: &mut [u8]| {
                for (enc, dst) in stored.iter().zip(out.chunks_mut(chunk)) {
                    let n = lz4_flex::block::decompress_into(enc, scratch).unwrap_or(0);
                    assert_eq!(n, dst.len(), "lz4 decoded length");
                    unshuf(&scratch[..n], itemsize, dst);
                }
            };
            let t_decode = best(|| decode_only(&mut out, &mut scratch));
            let mut row = format!(
                "chunks of {:>4} KiB, {filter:<9} ratio {:>5.2}: lz4 decode {:>6.2}",
                chunk >> 10,
                raw.len() as f64 / stored_bytes as f64,
                gbps(raw.len(), t_decode),
            );
            if !unshuffles.is_empty() {
                row += "   + unshuffle:";
            }
            for (name, _, unshuf) in unshuffles {
                out.fill(0);
                decode_unshuffle(*unshuf, &mut out, &mut scratch);
                assert!(
                    out == raw,
                    "lz4 + {filter} {name} unshuffle round trip failed"
                );
                let t = best(|| decode_unshuffle(*unshuf, &mut out, &mut scratch));
                row += &format!(" {name} {:.2}", gbps(raw.len(), t));
            }
            println!("{row}");
        }
    }
}

fn main() {
    println!(
        "shuffle_bench {} at {}; load average {} on {} CPUs",
        git_version(),
        utc_now(),
        load_average(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    filters();
    bit_filters();
    lz4_read_path();
}
