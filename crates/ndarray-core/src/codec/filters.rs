//! The filters: the `Filter` face of each shuffle kernel. The kernels live in their own files
//! (shuffle.rs, bitshuffle.rs), which the shuffle benchmark compiles on their own.

use super::{bitshuffle, shuffle, Filter};

/// `none`: the bytes as they are.
pub struct NoFilter;

impl Filter for NoFilter {
    fn name(&self) -> &'static str {
        "none"
    }
    fn code(&self) -> u64 {
        0
    }
    fn applies_to(&self, _itemsize: usize) -> bool {
        false
    }
    fn forward(&self, raw: &[u8], _itemsize: usize, out: &mut [u8]) {
        copy(raw, out);
    }
    fn inverse(&self, filtered: &[u8], _itemsize: usize, out: &mut [u8]) {
        copy(filtered, out);
    }
    fn inverse_items(&self, filtered: &[u8], itemsize: usize, first: usize, out: &mut [u8]) {
        let start = first.saturating_mul(itemsize);
        if let Some(from) = start
            .checked_add(out.len())
            .and_then(|end| filtered.get(start..end))
        {
            out.copy_from_slice(from);
        }
    }
}

fn copy(from: &[u8], to: &mut [u8]) {
    if let Some(to) = to.get_mut(..from.len()) {
        to.copy_from_slice(from);
    }
}

/// `byte`: Blosc's byte shuffle (byte k of every item together). Nothing to do for 1-byte items.
pub struct ByteShuffle;

impl Filter for ByteShuffle {
    fn name(&self) -> &'static str {
        "byte"
    }
    fn code(&self) -> u64 {
        1
    }
    fn applies_to(&self, itemsize: usize) -> bool {
        itemsize >= 2
    }
    fn forward(&self, raw: &[u8], itemsize: usize, out: &mut [u8]) {
        shuffle::shuffle(raw, itemsize, out);
    }
    fn inverse(&self, filtered: &[u8], itemsize: usize, out: &mut [u8]) {
        shuffle::unshuffle(filtered, itemsize, out);
    }
    fn inverse_items(&self, filtered: &[u8], itemsize: usize, first: usize, out: &mut [u8]) {
        shuffle::unshuffle_items(filtered, itemsize, first, out);
    }
}

/// `bit`: Blosc's bit shuffle (bit j of byte k of every item together). Applies to 1-byte items
/// too: the bits of neighbouring pixels or counts are alike as well.
///
/// The bits are transposed within blocks of [`BIT_BLOCK_BYTES`] (whole groups of 8 items), as the
/// `bitshuffle` library does with its `block_size` and Blosc within its blocks; the chunk's last
/// block may be shorter, and its last `n mod 8` items stay as they are. On-disk layout: never
/// change the block size.
pub struct BitShuffle;

/// Measured on scikit-learn's photographs as float32 (ratio with lz4 / zstd-1, 256 KiB chunks):
/// the whole chunk as one block 1.64 / 3.72, 32 KiB blocks 3.07 / 3.69, 8 KiB 3.08 / 3.65; on
/// the digits (float64) 9.66 / 15.51, 9.51 / 15.24, 9.42 / 14.95. lz4's 64 KiB window needs bit
/// rows short enough that several rows of the same significance fall inside it.
pub const BIT_BLOCK_BYTES: usize = 32 << 10;

/// Bytes per bit-shuffle block for items of `itemsize` bytes: whole groups of 8 items, at least one.
fn bit_block_len(itemsize: usize) -> usize {
    let itemsize = itemsize.max(1);
    let items = (BIT_BLOCK_BYTES / itemsize).max(8);
    (items - items % 8) * itemsize
}

impl Filter for BitShuffle {
    fn name(&self) -> &'static str {
        "bit"
    }
    fn code(&self) -> u64 {
        2
    }
    fn applies_to(&self, itemsize: usize) -> bool {
        itemsize >= 1
    }
    fn forward(&self, raw: &[u8], itemsize: usize, out: &mut [u8]) {
        let block = bit_block_len(itemsize);
        for (src, dst) in raw.chunks(block).zip(out.chunks_mut(block)) {
            bitshuffle::bitshuffle(src, itemsize, dst);
        }
    }
    fn inverse(&self, filtered: &[u8], itemsize: usize, out: &mut [u8]) {
        let block = bit_block_len(itemsize);
        for (src, dst) in filtered.chunks(block).zip(out.chunks_mut(block)) {
            bitshuffle::bitunshuffle(src, itemsize, dst);
        }
    }
    fn inverse_items(&self, filtered: &[u8], itemsize: usize, first: usize, out: &mut [u8]) {
        // Each bit-shuffle block is a layout of its own: take the items block by block.
        let itemsize = itemsize.max(1);
        let per_block = bit_block_len(itemsize) / itemsize;
        for (item, piece) in (first..).zip(out.chunks_mut(itemsize)) {
            let (block, within) = (item / per_block, item % per_block);
            let start = block.saturating_mul(per_block * itemsize);
            let src = filtered.get(start..).unwrap_or_default();
            let src = src
                .get(..src.len().min(per_block * itemsize))
                .unwrap_or_default();
            bitshuffle::bitunshuffle_items(src, itemsize, within, piece);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_blocks_are_whole_groups_of_8_items_near_32_kib() {
        assert_eq!(bit_block_len(1), 32768);
        assert_eq!(bit_block_len(4), 32768);
        assert_eq!(bit_block_len(3), 10920 * 3);
        assert_eq!(bit_block_len(0), 32768);
        assert_eq!(bit_block_len(1 << 20), 8 << 20);
    }

    #[test]
    fn each_block_is_transposed_on_its_own() {
        // Two blocks and a short third one, of 4-byte items.
        let raw: Vec<u8> = (0..(2 * BIT_BLOCK_BYTES + 44))
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let mut out = vec![0; raw.len()];
        BitShuffle.forward(&raw, 4, &mut out);
        for (i, block) in raw.chunks(BIT_BLOCK_BYTES).enumerate() {
            let mut alone = vec![0; block.len()];
            bitshuffle::bitshuffle(block, 4, &mut alone);
            assert_eq!(
                out[i * BIT_BLOCK_BYTES..][..block.len()],
                alone[..],
                "block {i}"
            );
        }
        let mut back = vec![0; raw.len()];
        BitShuffle.inverse(&out, 4, &mut back);
        assert_eq!(back, raw);
        // Any items, across blocks too, come back alone.
        for (first, count) in [(0, 3), (8190, 5), (16380, 11)] {
            for filter in [&BitShuffle as &dyn Filter, &ByteShuffle, &NoFilter] {
                let mut filtered = vec![0; raw.len()];
                filter.forward(&raw, 4, &mut filtered);
                let mut some = vec![0; count * 4];
                filter.inverse_items(&filtered, 4, first, &mut some);
                assert_eq!(some, raw[first * 4..][..count * 4], "{}", filter.name());
            }
        }
    }
}
