//! Blocks: the independently decodable pieces of an encoded chunk (encoding version 3), so that a
//! read of a few items decodes the block that holds them, not the whole chunk.
//!
//! # Layout (on-disk format: it must never change)
//! An encoded chunk of `raw_len` bytes, in blocks of `block_bytes` (whole items; the last block
//! may be shorter), is `n = ceil(raw_len / block_bytes)` little-endian u32 words, then the `n`
//! blocks back to back. Word `k` is block `k`'s stored length, with bit 31 set when the block is
//! kept raw (its compression was not smaller). A compressed block is `compress(filter(raw
//! block))` with the array's codec and filter, exactly as a whole chunk of version 2 is, so each
//! block decodes on its own. Example: 40,000 bytes in blocks of 16,384 are 3 words, then blocks of
//! 16,384, 16,384 and 7,232 raw bytes.
//!
//! # Why this size (benches/compression.py, benches/random_access.py; 2-core VM)
//! A block costs its index word and one compressor frame (its header and entropy tables), so small
//! blocks lose ratio most on data that compresses well; a read decodes one whole block, so big
//! blocks cost a tiny slice most. See [`DEFAULT_BLOCK_BYTES`].

use super::{decode_frame, encode_frame, CodecError, CodecResult, Encoding};
use std::sync::atomic::{AtomicU64, Ordering};

/// Compressed blocks decoded since the server started (`INFO ndarray`: `blocks_decoded`).
pub static BLOCKS_DECODED: AtomicU64 = AtomicU64::new(0);

#[cfg(test)]
thread_local! {
    /// Blocks this thread decoded: what a unit test asserts on (the global count also moves with
    /// the tests running beside it).
    pub static BLOCKS_DECODED_HERE: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Counts one block decoded.
pub(crate) fn count_block_decoded() {
    BLOCKS_DECODED.fetch_add(1, Ordering::Relaxed);
    #[cfg(test)]
    BLOCKS_DECODED_HERE.with(|n| n.set(n.get() + 1));
}

/// Smallest block an encoding may declare: bounds the index and the per-block work of a hostile
/// payload (a block costs at least one index word and one frame).
pub const MIN_BLOCK_BYTES: u32 = 1024;
/// Block size of a write that names none (the `block-bytes` setting's default); rounded down to
/// whole items and to at most the chunk size.
pub const DEFAULT_BLOCK_BYTES: u32 = 32 * 1024;

/// Bit 31 of an index word: the block is stored raw.
const RAW_BLOCK: u32 = 1 << 31;
/// Bytes per index word.
const WORD: usize = 4;

/// How many blocks of `block_bytes` hold `raw_len` bytes (one at least).
pub fn block_count(raw_len: usize, block_bytes: usize) -> usize {
    raw_len.div_ceil(block_bytes.max(1)).max(1)
}

/// Rounds a requested block size down to whole items, within `MIN_BLOCK_BYTES..=chunk_bytes`
/// (a block never exceeds its chunk: a bigger one would only be the chunk).
pub fn aligned_block_bytes(requested: u32, itemsize: usize, chunk_bytes: u32) -> u32 {
    let itemsize = u32::try_from(itemsize.max(1)).unwrap_or(u32::MAX);
    let capped = requested.clamp(MIN_BLOCK_BYTES, chunk_bytes.max(MIN_BLOCK_BYTES));
    (capped - capped % itemsize).max(itemsize)
}

/// Encodes `raw` as blocks into `out` (cleared first): the index, then each block compressed, or
/// raw where compressing did not make it smaller. `frame` and `scratch` are reused buffers.
pub(super) fn encode(
    encoding: Encoding,
    itemsize: usize,
    raw: &[u8],
    scratch: &mut Vec<u8>,
    frame: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> CodecResult<()> {
    let block = encoding.block_bytes.max(1) as usize;
    out.clear();
    out.resize(block_count(raw.len(), block) * WORD, 0);
    for (k, piece) in raw.chunks(block).enumerate() {
        encode_frame(encoding, itemsize, piece, scratch, frame)?;
        push_block(out, k, piece, frame)?;
    }
    Ok(())
}

/// Appends block `k` to `out` and writes its index word: the compressed `frame` when it is
/// smaller than the `raw` block, else the raw block.
fn push_block(out: &mut Vec<u8>, k: usize, raw: &[u8], frame: &[u8]) -> CodecResult<()> {
    let (bytes, flag) = if frame.len() < raw.len() {
        (frame, 0)
    } else {
        (raw, RAW_BLOCK)
    };
    push_stored(
        out,
        k,
        StoredBlock {
            bytes,
            raw: flag != 0,
        },
    )
}

/// Appends a block as stored to `out` and writes its index word.
fn push_stored(out: &mut Vec<u8>, k: usize, block: StoredBlock<'_>) -> CodecResult<()> {
    let len = u32::try_from(block.bytes.len())
        .ok()
        .filter(|len| len & RAW_BLOCK == 0)
        .ok_or_else(|| CodecError::Failed("block too large".into()))?;
    let word = if block.raw { len | RAW_BLOCK } else { len };
    let slot = out
        .get_mut(k * WORD..(k + 1) * WORD)
        .ok_or_else(|| CodecError::Failed(format!("block {k} has no index word")))?;
    slot.copy_from_slice(&word.to_le_bytes());
    out.extend_from_slice(block.bytes);
    Ok(())
}

/// One block as stored.
#[derive(Debug, Clone, Copy)]
pub struct StoredBlock<'a> {
    pub bytes: &'a [u8],
    pub raw: bool,
}

/// The blocks of an encoded chunk of `raw_len` bytes, read from its index.
pub struct Blocks<'a> {
    words: &'a [u8],
    data: &'a [u8],
    count: usize,
    block_bytes: usize,
    raw_len: usize,
}

impl<'a> Blocks<'a> {
    /// Splits `stored` into its index and blocks. Every length is checked where it is used.
    pub fn parse(stored: &'a [u8], raw_len: usize, block_bytes: usize) -> CodecResult<Self> {
        let count = block_count(raw_len, block_bytes);
        let index_len = count
            .checked_mul(WORD)
            .filter(|len| *len <= stored.len())
            .ok_or_else(|| {
                CodecError::Corrupt(format!(
                    "chunk of {} bytes is shorter than its index of {count} blocks",
                    stored.len()
                ))
            })?;
        let (words, data) = stored.split_at(index_len);
        Ok(Blocks {
            words,
            data,
            count,
            block_bytes: block_bytes.max(1),
            raw_len,
        })
    }

    pub fn count(&self) -> usize {
        self.count
    }

    /// Raw bytes `start..end` of the chunk that block `k` holds.
    pub fn raw_range(&self, k: usize) -> std::ops::Range<usize> {
        let start = k.saturating_mul(self.block_bytes).min(self.raw_len);
        start..start.saturating_add(self.block_bytes).min(self.raw_len)
    }

    fn word(&self, k: usize) -> u32 {
        let mut le = [0u8; WORD];
        if let Some(bytes) = self.words.get(k * WORD..(k + 1) * WORD) {
            le.copy_from_slice(bytes);
        }
        u32::from_le_bytes(le)
    }

    /// Block `k`: its stored bytes start after the lengths of the blocks before it.
    pub fn get(&self, k: usize) -> CodecResult<StoredBlock<'a>> {
        let start = (0..k).fold(0usize, |at, j| {
            at.saturating_add((self.word(j) & !RAW_BLOCK) as usize)
        });
        self.at(k, start)
    }

    fn at(&self, k: usize, start: usize) -> CodecResult<StoredBlock<'a>> {
        let word = self.word(k);
        let len = (word & !RAW_BLOCK) as usize;
        let bytes = start
            .checked_add(len)
            .and_then(|end| self.data.get(start..end))
            .filter(|_| k < self.count)
            .ok_or_else(|| CodecError::Corrupt(format!("block {k} lies outside its chunk")))?;
        let raw = word & RAW_BLOCK != 0;
        if raw && len != self.raw_range(k).len() {
            return Err(CodecError::Corrupt(format!(
                "raw block {k} holds {len} bytes, expected {}",
                self.raw_range(k).len()
            )));
        }
        Ok(StoredBlock { bytes, raw })
    }

    /// Every block in order; fails unless the blocks fill the chunk exactly.
    pub fn all(&self) -> CodecResult<Vec<StoredBlock<'a>>> {
        let mut at = 0usize;
        let mut blocks = Vec::with_capacity(self.count);
        for k in 0..self.count {
            let block = self.at(k, at)?;
            at += block.bytes.len();
            blocks.push(block);
        }
        if at != self.data.len() {
            return Err(CodecError::Corrupt(format!(
                "{} bytes after the last block",
                self.data.len() - at
            )));
        }
        Ok(blocks)
    }
}

/// Decodes block `block` (raw or compressed) into `out`, its raw length.
pub fn decode_block(
    encoding: Encoding,
    itemsize: usize,
    block: StoredBlock<'_>,
    scratch: &mut Vec<u8>,
    out: &mut [u8],
) -> CodecResult<()> {
    if block.raw {
        if block.bytes.len() != out.len() {
            return Err(CodecError::Corrupt("raw block has the wrong length".into()));
        }
        out.copy_from_slice(block.bytes);
        return Ok(());
    }
    count_block_decoded();
    decode_frame(encoding, itemsize, block.bytes, scratch, out)
}

/// Decodes every block of `stored` into `out` (the chunk's raw length).
pub(super) fn decode(
    encoding: Encoding,
    itemsize: usize,
    stored: &[u8],
    scratch: &mut Vec<u8>,
    out: &mut [u8],
) -> CodecResult<()> {
    let blocks = Blocks::parse(stored, out.len(), encoding.block_bytes as usize)?;
    for (k, block) in blocks.all()?.into_iter().enumerate() {
        let target = out
            .get_mut(blocks.raw_range(k))
            .ok_or_else(|| CodecError::Corrupt(format!("block {k} is outside the chunk")))?;
        decode_block(encoding, itemsize, block, scratch, target)?;
    }
    Ok(())
}

/// Checks that every block of `stored` decodes to its raw length, with the compressor alone (see
/// `ChunkCodec::check`), into `scratch`.
pub(super) fn check(
    encoding: Encoding,
    stored: &[u8],
    raw_len: usize,
    scratch: &mut Vec<u8>,
) -> CodecResult<()> {
    let blocks = Blocks::parse(stored, raw_len, encoding.block_bytes as usize)?;
    for (k, block) in blocks.all()?.into_iter().enumerate() {
        if block.raw {
            continue; // its length was checked by `all`
        }
        let len = blocks.raw_range(k).len();
        if scratch.len() < len {
            scratch.resize(len, 0);
        }
        let out = scratch.get_mut(..len).unwrap_or_default();
        super::decompress_frame(encoding, block.bytes, out)?;
    }
    Ok(())
}

/// A chunk's blocks with some of them replaced: the untouched ones are copied as stored, the
/// `fresh` ones (block index, raw bytes) encoded. Used by writes that touch a few items.
pub fn splice(
    encoding: Encoding,
    itemsize: usize,
    stored: &[u8],
    raw_len: usize,
    fresh: &std::collections::BTreeMap<usize, Vec<u8>>,
) -> CodecResult<Vec<u8>> {
    let blocks = Blocks::parse(stored, raw_len, encoding.block_bytes as usize)?;
    let mut out = vec![0u8; blocks.count() * WORD];
    let (mut scratch, mut frame) = (Vec::new(), Vec::new());
    for (k, block) in blocks.all()?.into_iter().enumerate() {
        match fresh.get(&k) {
            Some(raw) => {
                encode_frame(encoding, itemsize, raw, &mut scratch, &mut frame)?;
                push_block(&mut out, k, raw, &frame)?;
            }
            None => push_stored(&mut out, k, block)?,
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Compression, Shuffle};

    fn zstd_bit(block: u32) -> Encoding {
        let compression = Compression::named("zstd", Some(1)).unwrap();
        Encoding::new(compression, Shuffle::BIT, 4).with_block_bytes(block, 4, 1 << 20)
    }

    fn field(n: usize) -> Vec<u8> {
        (0..n)
            .flat_map(|i| ((i as f32 * 0.001).sin()).to_le_bytes())
            .collect()
    }

    #[test]
    fn the_layout_is_an_index_then_the_blocks() {
        let encoding = zstd_bit(16384);
        let mut raw = field(10_000);
        // The last block (raw bytes 32768..40000) is noise: it stays raw.
        let mut x = 1u32;
        for b in raw[32768..].iter_mut() {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            *b = (x >> 24) as u8;
        }
        let (mut s, mut f, mut out) = (Vec::new(), Vec::new(), Vec::new());
        encode(encoding, 4, &raw, &mut s, &mut f, &mut out).unwrap();
        let blocks = Blocks::parse(&out, raw.len(), 16384).unwrap();
        assert_eq!(blocks.count(), 3);
        let all = blocks.all().unwrap();
        assert_eq!(
            all.iter().map(|b| b.raw).collect::<Vec<_>>(),
            [false, false, true]
        );
        assert_eq!(all[2].bytes, &raw[32768..]);
        let word0 = u32::from_le_bytes(out[..4].try_into().unwrap()) as usize;
        assert_eq!(all[0].bytes.len(), word0);
        assert_eq!(
            out.len(),
            12 + all.iter().map(|b| b.bytes.len()).sum::<usize>()
        );
        // Each block decodes on its own, to its part of the chunk.
        let mut back = vec![0u8; raw.len()];
        decode(encoding, 4, &out, &mut s, &mut back).unwrap();
        assert_eq!(back, raw);
        let mut one = vec![0u8; 16384];
        decode_block(encoding, 4, blocks.get(1).unwrap(), &mut s, &mut one).unwrap();
        assert_eq!(one, &raw[16384..32768]);
        check(encoding, &out, raw.len(), &mut s).unwrap();
    }

    #[test]
    fn a_splice_re_encodes_only_the_blocks_given() {
        let encoding = zstd_bit(4096);
        let raw = field(5000);
        let (mut s, mut f, mut out) = (Vec::new(), Vec::new(), Vec::new());
        encode(encoding, 4, &raw, &mut s, &mut f, &mut out).unwrap();
        let mut patched = raw.clone();
        patched[5000..5004].copy_from_slice(&7.5f32.to_le_bytes());
        let fresh = [(1usize, patched[4096..8192].to_vec())]
            .into_iter()
            .collect();
        let spliced = splice(encoding, 4, &out, raw.len(), &fresh).unwrap();
        let (old, new) = (
            Blocks::parse(&out, raw.len(), 4096).unwrap(),
            Blocks::parse(&spliced, raw.len(), 4096).unwrap(),
        );
        for k in [0, 2, 3, 4] {
            assert_eq!(old.get(k).unwrap().bytes, new.get(k).unwrap().bytes);
        }
        let mut back = vec![0u8; raw.len()];
        decode(encoding, 4, &spliced, &mut s, &mut back).unwrap();
        assert_eq!(back, patched);
    }

    #[test]
    fn hostile_indexes_are_refused_not_trusted() {
        let encoding = zstd_bit(4096);
        let raw = field(3000);
        let (mut s, mut f, mut good) = (Vec::new(), Vec::new(), Vec::new());
        encode(encoding, 4, &raw, &mut s, &mut f, &mut good).unwrap();
        let mut back = vec![0u8; raw.len()];
        let cases: Vec<Vec<u8>> = vec![
            good[..7].to_vec(),                                 // shorter than its index
            [&good[..], &[0]].concat(),                         // a byte after the last block
            good[..good.len() - 1].to_vec(),                    // last block cut
            [&u32::MAX.to_le_bytes()[..], &good[4..]].concat(), // a huge length
            [&(RAW_BLOCK | 5).to_le_bytes()[..], &good[4..]].concat(), // raw of the wrong length
        ];
        for bad in cases {
            assert!(decode(encoding, 4, &bad, &mut s, &mut back).is_err());
            assert!(check(encoding, &bad, raw.len(), &mut s).is_err());
        }
        let blocks = Blocks::parse(&good, raw.len(), 4096).unwrap();
        assert!(blocks.get(blocks.count()).is_err());
    }

    #[test]
    fn block_sizes_are_whole_items_within_the_chunk() {
        assert_eq!(aligned_block_bytes(32768, 4, 262144), 32768);
        assert_eq!(aligned_block_bytes(32768, 12, 262144), 32760);
        assert_eq!(aligned_block_bytes(32768, 4, 8192), 8192);
        assert_eq!(aligned_block_bytes(10, 8, 262144), MIN_BLOCK_BYTES);
    }
}
