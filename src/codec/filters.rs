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
}

/// `bit`: Blosc's bit shuffle (bit j of byte k of every item together). Applies to 1-byte items
/// too: the bits of neighbouring pixels or counts are alike as well.
pub struct BitShuffle;

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
        bitshuffle::bitshuffle(raw, itemsize, out);
    }
    fn inverse(&self, filtered: &[u8], itemsize: usize, out: &mut [u8]) {
        bitshuffle::bitunshuffle(filtered, itemsize, out);
    }
}
