//! Blosc-style bit shuffle: a filter, not a compressor. It groups the bits of each significance
//! of every item together, so that the slowly varying high bits of numeric data become long runs
//! a compressor sees.
//!
//! # Layout (on-disk format: it must never change)
//! Let `n = len / itemsize` be the number of whole items and `m = n - n % 8` the largest multiple
//! of 8 not above it. The first `m * itemsize` bytes become `8 * itemsize` bit rows of `m / 8`
//! bytes each: row `8 * k + j` holds bit `j` (0 = least significant) of byte `k` of every item,
//! item `i`'s bit at bit `i % 8` (least significant first) of byte `i / 8` of the row. Everything
//! after them (the last `n % 8` items, and a trailing partial item, which the store never
//! produces) follows unchanged. An item size of 0, or fewer than 8 whole items, copies the input
//! through.
//!
//! This is `bshuf_trans_bit_elem(in, out, m, itemsize)` of the `bitshuffle` library, and so what
//! Blosc2's bit-shuffle filter writes for one block (our chunk is the block), leftovers
//! included. The unit tests pin it with hand-worked vectors and with vectors written by the
//! `bitshuffle` Python package (`tests/fixtures/bitshuffle/`).
//!
//! Example, 8 items of 2 bytes, item `i` = `[i, 0x80]`: bit rows 0..=7 are bits 0..=7 of the low
//! bytes (`0xaa 0xcc 0xf0 0x00 0x00 0x00 0x00 0x00`), rows 8..=15 those of the high bytes
//! (`0x00` seven times, then `0xff`).
//!
//! # Speed (benches/shuffle_bench.rs)
//! Items go through in tiles of [`TILE_BYTES`] (on the stack): a tile is byte-shuffled with
//! [`shuffle::shuffle`], whose SIMD kernels group byte `k` of every item into byte row `k`, and
//! each byte row is then bit-transposed into its 8 bit rows (unshuffling runs the same steps
//! backwards). The bit transpose takes 8 bytes (8 items) as one 8x8 bit matrix and transposes it
//! with three rounds of shifts and masks ([`transpose8x8`]). [`Sse2`] does that for two matrices
//! per register and 128 items at a time; [`Portable`], one `u64` at a time, elsewhere and for what
//! is left after the last 128 items.

use super::shuffle;

/// Bit-shuffles `raw` into `out`. Both must have the same length (the codec's scratch is sized so);
/// otherwise nothing is written.
pub fn bitshuffle(raw: &[u8], itemsize: usize, out: &mut [u8]) {
    bitshuffle_with::<Fast>(raw, itemsize, out);
}

/// Inverse of [`bitshuffle`]: `shuffled` back into item order in `out` (same length; otherwise
/// nothing is written).
pub fn bitunshuffle(shuffled: &[u8], itemsize: usize, out: &mut [u8]) {
    bitunshuffle_with::<Fast>(shuffled, itemsize, out);
}

#[cfg(target_arch = "x86_64")]
type Fast = Sse2;
#[cfg(not(target_arch = "x86_64"))]
type Fast = Portable;

/// Bytes of items per tile: the tile, its input and its output stay in L1/L2 while the byte
/// rows are transposed.
const TILE_BYTES: usize = 16 * 1024;

/// Items per SIMD block: 16 bytes (one register) of each of 8 bit rows.
const BLOCK: usize = 128;

/// Bit-transposes one byte row. `transpose` writes bit `j` of every byte of `row` into
/// `bits[j]` (item `i` at bit `i % 8` of byte `i / 8`); `untranspose` inverts it. `row.len()` is
/// a multiple of 8 and each bit row `row.len() / 8` bytes long; given anything else a kernel
/// must not panic (it may leave its output unfinished).
trait Kernels {
    fn transpose(row: &[u8], bits: &mut [&mut [u8]; 8]);
    fn untranspose(bits: &[&[u8]; 8], row: &mut [u8]);
}

/// Where the transposed part of a `len`-byte buffer lies. `None` when there is none (item size 0,
/// fewer than 8 items): the whole buffer is copied through.
#[derive(Clone, Copy)]
struct Layout {
    /// Items transposed: a multiple of 8, at least 8.
    items: usize,
    /// Bytes they cover (`items * itemsize`, at most `len`).
    whole: usize,
    /// Bytes per bit row (`items / 8`).
    row: usize,
    /// Items per tile: a multiple of [`BLOCK`] when a block fits in [`TILE_BYTES`], of 8 always.
    tile: usize,
}

impl Layout {
    fn of(len: usize, itemsize: usize) -> Option<Layout> {
        let n = len.checked_div(itemsize)?;
        let items = n - n % 8;
        if items == 0 {
            return None;
        }
        let fit = TILE_BYTES / itemsize;
        let tile = if fit >= BLOCK {
            fit / BLOCK * BLOCK
        } else {
            (fit / 8 * 8).max(8)
        };
        Some(Layout {
            items,
            whole: items * itemsize,
            row: items / 8,
            tile,
        })
    }
}

fn bitshuffle_with<K: Kernels>(raw: &[u8], itemsize: usize, out: &mut [u8]) {
    if raw.len() != out.len() {
        return;
    }
    let Some(l) = Layout::of(raw.len(), itemsize) else {
        out.copy_from_slice(raw);
        return;
    };
    let (Some(src), Some(dst)) = (raw.get(..l.whole), out.get_mut(..l.whole)) else {
        return;
    };
    if itemsize == 1 {
        // One byte row: nothing to byte-shuffle.
        K::transpose(src, &mut bit_rows_mut(dst, l.row, 0, l.row));
    } else {
        with_tile(l.tile * itemsize, |tile| {
            let mut start = 0;
            while start < l.items {
                let end = l.items.min(start + l.tile);
                let count = end - start;
                let (Some(items), Some(staged)) = (
                    src.get(start * itemsize..end * itemsize),
                    tile.get_mut(..count * itemsize),
                ) else {
                    return;
                };
                shuffle::shuffle(items, itemsize, staged);
                // Byte row `k` of the tile goes to bit rows `8k..8k + 8`, which are contiguous.
                for (byte_row, rows) in staged
                    .chunks_exact(count)
                    .zip(dst.chunks_exact_mut(8 * l.row))
                {
                    K::transpose(byte_row, &mut bit_rows_mut(rows, l.row, start / 8, end / 8));
                }
                start = end;
            }
        });
    }
    copy_rest(raw, out, l.whole);
}

fn bitunshuffle_with<K: Kernels>(shuffled: &[u8], itemsize: usize, out: &mut [u8]) {
    if shuffled.len() != out.len() {
        return;
    }
    let Some(l) = Layout::of(shuffled.len(), itemsize) else {
        out.copy_from_slice(shuffled);
        return;
    };
    let (Some(src), Some(dst)) = (shuffled.get(..l.whole), out.get_mut(..l.whole)) else {
        return;
    };
    if itemsize == 1 {
        K::untranspose(&bit_rows(src, l.row, 0, l.row), dst);
    } else {
        with_tile(l.tile * itemsize, |tile| {
            let mut start = 0;
            while start < l.items {
                let end = l.items.min(start + l.tile);
                let count = end - start;
                let (Some(items), Some(staged)) = (
                    dst.get_mut(start * itemsize..end * itemsize),
                    tile.get_mut(..count * itemsize),
                ) else {
                    return;
                };
                for (byte_row, rows) in staged
                    .chunks_exact_mut(count)
                    .zip(src.chunks_exact(8 * l.row))
                {
                    K::untranspose(&bit_rows(rows, l.row, start / 8, end / 8), byte_row);
                }
                shuffle::unshuffle(staged, itemsize, items);
                start = end;
            }
        });
    }
    copy_rest(shuffled, out, l.whole);
}

/// Items `first..` of one bit-shuffled buffer (as many as `out` holds whole), back in item order,
/// without unshuffling the rest: for each group of 8 items and each byte `k` of an item, byte `g`
/// of bit rows `8k..8k + 8` is one 8x8 bit matrix, whose transpose is byte `k` of the 8 items.
/// Items after the transposed part are copied as they are. Items past the end leave `out`
/// unfinished.
pub fn bitunshuffle_items(shuffled: &[u8], itemsize: usize, first: usize, out: &mut [u8]) {
    let itemsize = itemsize.max(1);
    let layout = Layout::of(shuffled.len(), itemsize);
    let (transposed, row) = layout.map_or((0, 0), |l| (l.items, l.row));
    let count = out.len() / itemsize;
    let mut i = first;
    while i < first + count {
        let at = (i - first) * itemsize;
        if i >= transposed {
            let from = shuffled.get(i * itemsize..(first + count) * itemsize);
            if let (Some(from), Some(to)) = (from, out.get_mut(at..)) {
                to.copy_from_slice(from);
            }
            return;
        }
        // Items i..end of group g: each byte k of them is one transposed 8x8 matrix.
        let group = i / 8;
        let end = (8 * group + 8).min(first + count).min(transposed);
        for k in 0..itemsize {
            let mut matrix = [0u8; 8];
            for (j, bits) in matrix.iter_mut().enumerate() {
                *bits = shuffled
                    .get((8 * k + j) * row + group)
                    .copied()
                    .unwrap_or(0);
            }
            let bytes = transpose8x8(u64::from_le_bytes(matrix)).to_le_bytes();
            for item in i..end {
                let lane = bytes.get(item % 8).copied().unwrap_or(0);
                if let Some(byte) = out.get_mut((item - first) * itemsize + k) {
                    *byte = lane;
                }
            }
        }
        i = end;
    }
}

/// Runs `f` on a zeroed scratch tile of `len` bytes: on the stack when it fits in [`TILE_BYTES`]
/// (always, for item sizes up to `TILE_BYTES / 8`), on the heap otherwise.
fn with_tile(len: usize, f: impl FnOnce(&mut [u8])) {
    let mut stack = [0u8; TILE_BYTES];
    match stack.get_mut(..len) {
        Some(tile) => f(tile),
        None => f(&mut vec![0; len]),
    }
}

/// Bytes after the transposed part are copied through (callers checked the lengths are equal).
fn copy_rest(input: &[u8], out: &mut [u8], whole: usize) {
    if let (Some(from), Some(to)) = (input.get(whole..), out.get_mut(whole..)) {
        if from.len() == to.len() {
            to.copy_from_slice(from);
        }
    }
}

/// Bytes `from..to` of each of the 8 bit rows of `row` bytes at the start of `rows`. Rows a short
/// buffer lacks are empty.
fn bit_rows_mut(rows: &mut [u8], row: usize, from: usize, to: usize) -> [&mut [u8]; 8] {
    let mut rows = rows.chunks_exact_mut(row.max(1));
    core::array::from_fn(|_| {
        rows.next()
            .and_then(|r| r.get_mut(from..to))
            .unwrap_or_default()
    })
}

fn bit_rows(rows: &[u8], row: usize, from: usize, to: usize) -> [&[u8]; 8] {
    let mut rows = rows.chunks_exact(row.max(1));
    core::array::from_fn(|_| {
        rows.next()
            .and_then(|r| r.get(from..to))
            .unwrap_or_default()
    })
}

/// Transposes the 8x8 bit matrix held in `x`, byte `b` being row `b` (bit `j` of byte `b` becomes
/// bit `b` of byte `j`): three rounds that swap 1x1, 2x2 and 4x4 sub-blocks across the diagonal
/// (the `TRANS_BIT_8X8` of the `bitshuffle` library). It is its own inverse.
fn transpose8x8(x: u64) -> u64 {
    let t = (x ^ (x >> 7)) & 0x00aa_00aa_00aa_00aa;
    let x = x ^ t ^ (t << 7);
    let t = (x ^ (x >> 14)) & 0x0000_cccc_0000_cccc;
    let x = x ^ t ^ (t << 14);
    let t = (x ^ (x >> 28)) & 0x0000_0000_f0f0_f0f0;
    x ^ t ^ (t << 28)
}

/// One `u64` (8 items) at a time; the x86_64 build also runs it for the bytes after the last
/// whole SIMD block.
mod scalar {
    use super::transpose8x8;

    pub(super) fn transpose(row: &[u8], bits: &mut [&mut [u8]; 8]) {
        for (g, bytes) in row.as_chunks::<8>().0.iter().enumerate() {
            let x = transpose8x8(u64::from_le_bytes(*bytes)).to_le_bytes();
            for (bit_row, byte) in bits.iter_mut().zip(x) {
                if let Some(slot) = bit_row.get_mut(g) {
                    *slot = byte;
                }
            }
        }
    }

    pub(super) fn untranspose(bits: &[&[u8]; 8], row: &mut [u8]) {
        for (g, bytes) in row.as_chunks_mut::<8>().0.iter_mut().enumerate() {
            let mut x = [0; 8];
            for (byte, bit_row) in x.iter_mut().zip(bits) {
                *byte = bit_row.get(g).copied().unwrap_or_default();
            }
            *bytes = transpose8x8(u64::from_le_bytes(x)).to_le_bytes();
        }
    }
}

/// Plain Rust, one 8x8 bit matrix at a time. The x86_64 build uses [`Sse2`] and compiles this
/// only for its tests and benchmark.
#[cfg(any(test, not(target_arch = "x86_64")))]
struct Portable;

#[cfg(any(test, not(target_arch = "x86_64")))]
impl Kernels for Portable {
    fn transpose(row: &[u8], bits: &mut [&mut [u8]; 8]) {
        scalar::transpose(row, bits);
    }

    fn untranspose(bits: &[&[u8]; 8], row: &mut [u8]) {
        scalar::untranspose(bits, row);
    }
}

/// SSE2 (part of x86_64 itself, so no runtime detection). A block of 128 items of a byte row is 8
/// registers, each two 8x8 bit matrices: [`sse2::transpose8x8`] transposes both at once, then
/// four rounds of byte interleaving (the byte shuffle of 8-byte items) gather byte `j` of every
/// matrix into the register of bit row `j`. Unshuffling interleaves the bit rows' bytes back
/// (three rounds) and transposes again. Loads and stores go through `bytemuck` casts of `[u8; 16]`,
/// bounds-checked slices; the only `unsafe` is calling the `#[target_feature(enable = "sse2")]`
/// kernels.
#[cfg(target_arch = "x86_64")]
struct Sse2;

#[cfg(target_arch = "x86_64")]
mod sse2 {
    use super::BLOCK;
    use core::arch::x86_64::{
        __m128i, _mm_and_si128, _mm_set1_epi64x, _mm_setzero_si128, _mm_slli_epi64, _mm_srli_epi64,
        _mm_unpackhi_epi8, _mm_unpacklo_epi8, _mm_xor_si128,
    };

    // The kernels' callers rely on this: every x86_64 CPU has SSE2.
    const _: () = assert!(cfg!(target_feature = "sse2"));

    /// Bytes per register.
    const LANES: usize = 16;

    /// Transposes the whole blocks of `row` into `bits`; returns how many bytes of `row` that is.
    #[target_feature(enable = "sse2")]
    pub(super) fn transpose(row: &[u8], bits: &mut [&mut [u8]; 8]) -> usize {
        let mut bit_rows = bits.each_mut().map(|r| r.as_chunks_mut::<LANES>().0);
        let mut done = 0;
        for (b, block) in row.as_chunks::<BLOCK>().0.iter().enumerate() {
            let mut v = [_mm_setzero_si128(); 8];
            for (reg, bytes) in v.iter_mut().zip(block.as_chunks::<LANES>().0) {
                *reg = transpose8x8(load(*bytes));
            }
            // Three rounds of "even bytes, then odd bytes" would do; four of interleaving do the
            // same (see `merge_round`) and cost a third of the instructions.
            for _ in 0..4 {
                v = merge_round(v);
            }
            for (bit_row, reg) in bit_rows.iter_mut().zip(v) {
                let Some(slot) = bit_row.get_mut(b) else {
                    return done;
                };
                *slot = store(reg);
            }
            done += BLOCK;
        }
        done
    }

    /// Inverse of [`transpose`] for the whole blocks of `row`; returns how many bytes that is.
    #[target_feature(enable = "sse2")]
    pub(super) fn untranspose(bits: &[&[u8]; 8], row: &mut [u8]) -> usize {
        let bit_rows = bits.map(|r| r.as_chunks::<LANES>().0);
        let mut done = 0;
        for (b, block) in row.as_chunks_mut::<BLOCK>().0.iter_mut().enumerate() {
            let mut v = [_mm_setzero_si128(); 8];
            for (reg, bit_row) in v.iter_mut().zip(bit_rows) {
                let Some(bytes) = bit_row.get(b) else {
                    return done;
                };
                *reg = load(*bytes);
            }
            for _ in 0..3 {
                v = merge_round(v);
            }
            for (bytes, reg) in block.as_chunks_mut::<LANES>().0.iter_mut().zip(v) {
                *bytes = store(transpose8x8(reg));
            }
            done += BLOCK;
        }
        done
    }

    /// [`super::transpose8x8`] on both 64-bit lanes.
    #[target_feature(enable = "sse2")]
    #[inline]
    fn transpose8x8(x: __m128i) -> __m128i {
        let x = swap::<7>(x, 0x00aa_00aa_00aa_00aa);
        let x = swap::<14>(x, 0x0000_cccc_0000_cccc);
        swap::<28>(x, 0x0000_0000_f0f0_f0f0)
    }

    /// One round of [`transpose8x8`]: swaps the bits of `mask` with those `S` places above them.
    #[target_feature(enable = "sse2")]
    #[inline]
    fn swap<const S: i32>(x: __m128i, mask: i64) -> __m128i {
        let t = _mm_and_si128(
            _mm_xor_si128(x, _mm_srli_epi64::<S>(x)),
            _mm_set1_epi64x(mask),
        );
        _mm_xor_si128(_mm_xor_si128(x, t), _mm_slli_epi64::<S>(t))
    }

    fn load(bytes: [u8; LANES]) -> __m128i {
        bytemuck::cast(bytes)
    }

    fn store(v: __m128i) -> [u8; LANES] {
        bytemuck::cast(v)
    }

    /// Registers `v` as one byte string of 128 bytes: interleaves the bytes of its first half with
    /// those of its second half (as in src/codec/shuffle.rs), so the byte at index `i` (7 bits)
    /// moves to index `i` rotated left by one bit. Three rounds gather byte `j` of each 8-byte
    /// group into register `j` (rotate by 3), and so does the inverse of three rounds (rotate by 4).
    #[target_feature(enable = "sse2")]
    #[inline]
    fn merge_round(v: [__m128i; 8]) -> [__m128i; 8] {
        let mut out = [_mm_setzero_si128(); 8];
        let (first, second) = v.split_at(4);
        for ((pair, a), b) in out.as_chunks_mut::<2>().0.iter_mut().zip(first).zip(second) {
            *pair = [_mm_unpacklo_epi8(*a, *b), _mm_unpackhi_epi8(*a, *b)];
        }
        out
    }
}

/// AVX2, when the CPU has it (checked at run time, once): unshuffling, the read path of every
/// bit-shuffled array, takes two SSE2 blocks per register. A bit row's 16-byte pieces of blocks `b`
/// and `b + 1` are adjacent, so one 32-byte load holds block `b` in the low 128-bit lane and
/// `b + 1` in the high one; the byte interleaving (`unpack`) works within lanes, so both blocks go
/// through the SSE2 algorithm side by side, and each lane is stored to its own block.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::BLOCK;
    use core::arch::x86_64::{
        __m128i, __m256i, _mm256_and_si256, _mm256_castsi256_si128, _mm256_extracti128_si256,
        _mm256_set1_epi64x, _mm256_setzero_si256, _mm256_slli_epi64, _mm256_srli_epi64,
        _mm256_unpackhi_epi8, _mm256_unpacklo_epi8, _mm256_xor_si256,
    };

    /// Bytes per register: the 16 bytes of a bit row in each of two blocks.
    const LANES: usize = 32;

    /// Whether this CPU runs [`untranspose`] (detected once; `std` caches it).
    pub(super) fn available() -> bool {
        std::arch::is_x86_feature_detected!("avx2")
    }

    /// Inverse of the SSE2 transpose for the whole pairs of blocks of `row`; returns how many
    /// bytes of `row` that is.
    #[target_feature(enable = "avx2")]
    pub(super) fn untranspose(bits: &[&[u8]; 8], row: &mut [u8]) -> usize {
        let bit_rows = bits.map(|r| r.as_chunks::<LANES>().0);
        let mut done = 0;
        for (p, pair) in row
            .as_chunks_mut::<{ 2 * BLOCK }>()
            .0
            .iter_mut()
            .enumerate()
        {
            let mut v = [_mm256_setzero_si256(); 8];
            for (reg, bit_row) in v.iter_mut().zip(bit_rows) {
                let Some(bytes) = bit_row.get(p) else {
                    return done;
                };
                *reg = bytemuck::cast(*bytes);
            }
            for _ in 0..3 {
                v = merge_round(v);
            }
            let (low, high) = pair.split_at_mut(BLOCK);
            let (low, high) = (low.as_chunks_mut::<16>().0, high.as_chunks_mut::<16>().0);
            for ((lo, hi), reg) in low.iter_mut().zip(high.iter_mut()).zip(v) {
                let t = transpose8x8(reg);
                let (a, b): (__m128i, __m128i) =
                    (_mm256_castsi256_si128(t), _mm256_extracti128_si256::<1>(t));
                *lo = bytemuck::cast(a);
                *hi = bytemuck::cast(b);
            }
            done += 2 * BLOCK;
        }
        done
    }

    /// The 8x8 bit transpose on each of the four 64-bit lanes (as `sse2::transpose8x8`).
    #[target_feature(enable = "avx2")]
    #[inline]
    fn transpose8x8(x: __m256i) -> __m256i {
        let x = swap::<7>(x, 0x00aa_00aa_00aa_00aa);
        let x = swap::<14>(x, 0x0000_cccc_0000_cccc);
        swap::<28>(x, 0x0000_0000_f0f0_f0f0)
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    fn swap<const S: i32>(x: __m256i, mask: i64) -> __m256i {
        let t = _mm256_and_si256(
            _mm256_xor_si256(x, _mm256_srli_epi64::<S>(x)),
            _mm256_set1_epi64x(mask),
        );
        _mm256_xor_si256(_mm256_xor_si256(x, t), _mm256_slli_epi64::<S>(t))
    }

    /// `sse2::merge_round` within each 128-bit lane.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn merge_round(v: [__m256i; 8]) -> [__m256i; 8] {
        let mut out = [_mm256_setzero_si256(); 8];
        let (first, second) = v.split_at(4);
        for ((pair, a), b) in out.as_chunks_mut::<2>().0.iter_mut().zip(first).zip(second) {
            *pair = [_mm256_unpacklo_epi8(*a, *b), _mm256_unpackhi_epi8(*a, *b)];
        }
        out
    }
}

#[cfg(target_arch = "x86_64")]
impl Kernels for Sse2 {
    fn transpose(row: &[u8], bits: &mut [&mut [u8]; 8]) {
        // SAFETY: the kernel's only requirement is SSE2, which every x86_64 CPU has (asserted
        // at compile time in `sse2`); it touches memory through slices only.
        let done = unsafe { sse2::transpose(row, bits) };
        if let Some(rest) = row.get(done..) {
            let mut rest_bits = bits
                .each_mut()
                .map(|r| r.get_mut(done / 8..).unwrap_or_default());
            scalar::transpose(rest, &mut rest_bits);
        }
    }

    fn untranspose(bits: &[&[u8]; 8], row: &mut [u8]) {
        let wide = if avx2::available() {
            // SAFETY: the CPU has AVX2 (checked just above); the kernel touches memory through
            // slices only.
            unsafe { avx2::untranspose(bits, row) }
        } else {
            0
        };
        let (Some(rest), rest_bits) = (
            row.get_mut(wide..),
            bits.map(|r| r.get(wide / 8..).unwrap_or_default()),
        ) else {
            return;
        };
        sse2_untranspose(&rest_bits, rest);
    }
}

/// The SSE2 kernel, then the scalar one for what is left.
#[cfg(target_arch = "x86_64")]
fn sse2_untranspose(bits: &[&[u8]; 8], row: &mut [u8]) {
    // SAFETY: as for `transpose`.
    let done = unsafe { sse2::untranspose(bits, row) };
    if let Some(rest) = row.get_mut(done..) {
        let rest_bits = bits.map(|r| r.get(done / 8..).unwrap_or_default());
        scalar::untranspose(&rest_bits, rest);
    }
}

/// The definition, bit by bit: what the fast paths are tested against (and timed against in
/// benches/shuffle_bench.rs).
#[cfg(test)]
pub(crate) mod reference {
    pub fn bitshuffle(raw: &[u8], itemsize: usize, out: &mut [u8]) {
        if raw.len() != out.len() {
            return;
        }
        out.copy_from_slice(raw);
        let Some(n) = raw.len().checked_div(itemsize) else {
            return;
        };
        let m = n - n % 8;
        let row = m / 8;
        out[..m * itemsize].fill(0);
        for i in 0..m {
            for k in 0..itemsize {
                for j in 0..8 {
                    let bit = (raw[i * itemsize + k] >> j) & 1;
                    out[(8 * k + j) * row + i / 8] |= bit << (i % 8);
                }
            }
        }
    }

    pub fn bitunshuffle(shuffled: &[u8], itemsize: usize, out: &mut [u8]) {
        if shuffled.len() != out.len() {
            return;
        }
        out.copy_from_slice(shuffled);
        let Some(n) = shuffled.len().checked_div(itemsize) else {
            return;
        };
        let m = n - n % 8;
        let row = m / 8;
        out[..m * itemsize].fill(0);
        for i in 0..m {
            for k in 0..itemsize {
                for j in 0..8 {
                    let bit = (shuffled[(8 * k + j) * row + i / 8] >> (i % 8)) & 1;
                    out[i * itemsize + k] |= bit << j;
                }
            }
        }
    }
}

/// The portable kernels under their own names, so the x86_64 tests and benchmark can reach them.
#[cfg(test)]
pub(crate) mod portable {
    pub fn bitshuffle(raw: &[u8], itemsize: usize, out: &mut [u8]) {
        super::bitshuffle_with::<super::Portable>(raw, itemsize, out);
    }

    pub fn bitunshuffle(shuffled: &[u8], itemsize: usize, out: &mut [u8]) {
        super::bitunshuffle_with::<super::Portable>(shuffled, itemsize, out);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn any_items_unshuffle_alone_as_the_whole_buffer_does() {
        for itemsize in [1, 2, 3, 4, 8, 12, 16] {
            // 1,003 items: 1,000 transposed, 3 after them.
            let raw: Vec<u8> = (0..itemsize * 1003).map(|i| (i * 37 % 251) as u8).collect();
            let mut shuffled = vec![0; raw.len()];
            super::bitshuffle(&raw, itemsize, &mut shuffled);
            for (first, count) in [(0, 1), (0, 1003), (13, 10), (996, 7), (1002, 1)] {
                let mut out = vec![0; count * itemsize];
                super::bitunshuffle_items(&shuffled, itemsize, first, &mut out);
                assert_eq!(
                    out,
                    raw[first * itemsize..][..count * itemsize],
                    "{itemsize}"
                );
            }
        }
    }

    use super::*;

    type Filter = fn(&[u8], usize, &mut [u8]);

    /// Deterministic bytes (xorshift64), different for every `seed`.
    fn bytes(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    fn apply(filter: Filter, input: &[u8], itemsize: usize) -> Vec<u8> {
        // Prefilled with other bytes, so a byte the filter forgets to write shows.
        let mut out = vec![0xa5; input.len()];
        filter(input, itemsize, &mut out);
        out
    }

    #[test]
    fn eight_bytes_become_their_eight_bit_rows() {
        // Item i = i: bit 0 of items 0..8 is 0,1,0,1,... = 0b1010_1010 (item 0 at bit 0), etc.
        let raw: Vec<u8> = (0..8).collect();
        let want = [0xaa, 0xcc, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x00];
        assert_eq!(apply(bitshuffle, &raw, 1), want);
        assert_eq!(apply(bitunshuffle, &want, 1), raw);
    }

    #[test]
    fn sixteen_bytes_give_bit_rows_of_two_bytes() {
        // Items 0..16, then 0xff as item 16 with a 1-byte tail that is not a multiple of 8 items.
        let mut raw: Vec<u8> = (0..16).collect();
        raw.push(0xff);
        let want = [
            0xaa, 0xaa, // bit 0: items 1, 3, 5, ... of each group of 8
            0xcc, 0xcc, // bit 1
            0xf0, 0xf0, // bit 2
            0x00, 0xff, // bit 3: only items 8..16
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // bits 4..=7
            0xff, // the 17th item, copied through
        ];
        assert_eq!(apply(bitshuffle, &raw, 1), want);
        assert_eq!(apply(bitunshuffle, &want, 1), raw);
    }

    #[test]
    fn two_byte_items_give_bit_rows_of_the_low_bytes_then_the_high_bytes() {
        // Item i = [i, 0x80] (little-endian 0x8000 + i) for i in 0..8, then 9 more bytes: 4 whole
        // items (12 in all, so the last 12 % 8 are not transposed) and a partial one.
        let mut raw: Vec<u8> = (0..8).flat_map(|i| [i, 0x80]).collect();
        raw.extend([1, 2, 3, 4, 5, 6, 7, 8, 9]);
        let mut want = vec![
            0xaa, 0xcc, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x00, // bits 0..=7 of the low bytes
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, // bits 0..=7 of the high bytes
        ];
        want.extend([1, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert_eq!(apply(bitshuffle, &raw, 2), want);
        assert_eq!(apply(bitunshuffle, &want, 2), raw);
    }

    #[test]
    fn sixteen_two_byte_items_give_bit_rows_of_two_bytes() {
        // Item i = [1 << (i % 8), i]: bit j of the low bytes is set in items j and j + 8 only.
        let raw: Vec<u8> = (0..16u8).flat_map(|i| [1 << (i % 8), i]).collect();
        let want = [
            0x01, 0x01, 0x02, 0x02, 0x04, 0x04, 0x08, 0x08, // low bytes, bits 0..=3
            0x10, 0x10, 0x20, 0x20, 0x40, 0x40, 0x80, 0x80, // low bytes, bits 4..=7
            0xaa, 0xaa, 0xcc, 0xcc, 0xf0, 0xf0, 0x00, 0xff, // high bytes (= i), bits 0..=3
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // high bytes, bits 4..=7
        ];
        assert_eq!(apply(bitshuffle, &raw, 2), want);
        assert_eq!(apply(bitunshuffle, &want, 2), raw);
    }

    /// Vectors written by the `bitshuffle` Python package (its version is in the file's first
    /// line; tests/fixtures/bitshuffle/generate.py writes it): item sizes 1, 2, 3, 4, 8, 12 and
    /// 16, counts 8, 13, 16, 37 and 136 (so also the items after the last multiple of 8).
    const BITSHUFFLE_VECTORS: &str =
        include_str!("../../../../tests/fixtures/bitshuffle/vectors.txt");

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn output_equals_the_bitshuffle_librarys() {
        let mut vectors = 0;
        for line in BITSHUFFLE_VECTORS.lines().filter(|l| !l.starts_with('#')) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [itemsize, raw, want] = fields[..] else {
                panic!("bad fixture line {line:?}");
            };
            let (itemsize, raw, want) = (itemsize.parse().unwrap(), hex(raw), hex(want));
            for (name, shuf, unshuf) in [
                ("fast", bitshuffle as Filter, bitunshuffle as Filter),
                ("portable", portable::bitshuffle, portable::bitunshuffle),
            ] {
                let n = raw.len() / itemsize;
                assert!(
                    apply(shuf, &raw, itemsize) == want,
                    "{name}: {itemsize} x {n}"
                );
                assert!(
                    apply(unshuf, &want, itemsize) == raw,
                    "{name}: {itemsize} x {n}"
                );
            }
            vectors += 1;
        }
        assert_eq!(vectors, 7 * 5);
    }

    #[test]
    fn degenerate_sizes_copy_through() {
        let raw = bytes(23, 1);
        // Item size 0; fewer than 8 whole items; no whole item at all.
        for itemsize in [0, 3, 4, 24, 100] {
            for filter in [bitshuffle as Filter, bitunshuffle] {
                assert_eq!(apply(filter, &raw, itemsize), raw, "itemsize {itemsize}");
            }
        }
        for filter in [bitshuffle as Filter, bitunshuffle] {
            assert_eq!(apply(filter, &[], 4), Vec::<u8>::new());
        }
    }

    #[test]
    fn mismatched_output_lengths_write_nothing() {
        for len in [0, 7, 64, 1000] {
            let raw = bytes(len, 5);
            for out_len in [len / 2, len + 1, len + 64] {
                for filter in [
                    bitshuffle as Filter,
                    bitunshuffle,
                    portable::bitshuffle,
                    portable::bitunshuffle,
                ] {
                    let mut out = vec![0xa5; out_len];
                    filter(&raw, 4, &mut out);
                    assert!(out.iter().all(|&b| b == 0xa5), "{len} bytes into {out_len}");
                }
            }
        }
    }

    /// Both filters of both paths equal the reference on `raw`, and each path round-trips it.
    fn assert_matches_reference_and_round_trips(raw: &[u8], itemsize: usize) {
        let mut shuffled = vec![0; raw.len()];
        reference::bitshuffle(raw, itemsize, &mut shuffled);
        let mut unshuffled = vec![0; raw.len()];
        reference::bitunshuffle(raw, itemsize, &mut unshuffled);
        for (name, shuf, unshuf) in [
            ("fast", bitshuffle as Filter, bitunshuffle as Filter),
            ("portable", portable::bitshuffle, portable::bitunshuffle),
        ] {
            let len = raw.len();
            assert!(
                apply(shuf, raw, itemsize) == shuffled,
                "{name}: {itemsize}, {len} bytes"
            );
            assert!(
                apply(unshuf, raw, itemsize) == unshuffled,
                "{name}: {itemsize}, {len} bytes"
            );
            let back = apply(unshuf, &shuffled, itemsize);
            assert!(
                back == raw,
                "{name} round trip: itemsize {itemsize}, {len} bytes"
            );
        }
    }

    #[test]
    fn every_itemsize_and_small_count_matches_the_reference_and_round_trips() {
        for itemsize in (1..=17).chain([32]) {
            for count in 0..=40 {
                // Whole items, and whole items plus a partial one.
                for extra in [0, itemsize / 2 + 1] {
                    let len = count * itemsize + extra.min(itemsize - 1);
                    let raw = bytes(len, (itemsize * 1000 + count) as u64);
                    assert_matches_reference_and_round_trips(&raw, itemsize);
                }
            }
        }
    }

    #[test]
    fn large_buffers_with_partial_blocks_and_tails_match_the_reference() {
        for itemsize in [1, 2, 3, 4, 8, 12, 16, 17, 32] {
            // Many tiles; a last tile that ends mid-block (not a multiple of 128 items); a tail
            // of items after the last multiple of 8; a partial item.
            for (count, extra) in [(100_003, 0), (65_536 + 8 * 5, 1), (999, 2)] {
                let len = count * itemsize + extra.min(itemsize - 1);
                let raw = bytes(len, itemsize as u64);
                assert_matches_reference_and_round_trips(&raw, itemsize);
            }
        }
    }

    #[test]
    fn items_larger_than_a_tile_use_a_heap_tile() {
        for itemsize in [TILE_BYTES / 8 + 1, 3000] {
            let raw = bytes(itemsize * 17 + 5, 9);
            assert_matches_reference_and_round_trips(&raw, itemsize);
        }
    }

    /// The AVX2 unshuffle kernel (where the CPU has it) equals the SSE2 one, pairs of blocks,
    /// an odd block and a tail included.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_and_sse2_untranspose_agree() {
        if !avx2::available() {
            return;
        }
        for row_len in [0usize, 8, 128, 256, 384, 512, 1024 + 128 + 40, 4096] {
            let rows: Vec<Vec<u8>> = (0..8).map(|j| bytes(row_len / 8, j as u64 + 7)).collect();
            let bits: [&[u8]; 8] = std::array::from_fn(|j| rows[j].as_slice());
            let mut wide = vec![0u8; row_len];
            let mut narrow = vec![0u8; row_len];
            <Sse2 as Kernels>::untranspose(&bits, &mut wide);
            sse2_untranspose(&bits, &mut narrow);
            assert_eq!(wide, narrow, "{row_len}");
        }
    }

    #[test]
    fn transpose8x8_moves_bit_j_of_byte_b_to_bit_b_of_byte_j() {
        for seed in 0..64 {
            let x = u64::from_le_bytes(bytes(8, seed).try_into().unwrap());
            let t = transpose8x8(x);
            for b in 0..8 {
                for j in 0..8 {
                    assert_eq!((x >> (8 * b + j)) & 1, (t >> (8 * j + b)) & 1);
                }
            }
            assert_eq!(transpose8x8(t), x);
        }
    }
}
