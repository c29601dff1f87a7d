//! Chunk codecs: a filter (a byte or bit shuffle) followed by a compressor. Redis-free.
//!
//! A chunk is encoded as `compress(filter(raw))`. The store keeps a chunk raw whenever that is not
//! smaller, so codecs never have to be "worth it".
//!
//! Every compressor implements [`Codec`] in its own file and every filter implements [`Filter`];
//! [`registry`] lists them, and everything else (parsing, settings, INFO, AOF, docs) reads that
//! list. Adding a codec is one file and one line there. Errors of this layer are [`CodecError`]s,
//! which the array layer turns into its own error where it calls a codec.

pub mod auto;
mod bitshuffle;
pub mod blocks;
mod error;
mod filters;
mod lz4;
mod none;
pub mod registry;
pub mod request;
mod shuffle;
mod zlib;
mod zstd;

pub use error::{CodecError, CodecResult};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// Chunks compressed and decompressed since the server started (reported by `INFO ndarray`).
pub static CHUNKS_ENCODED: AtomicU64 = AtomicU64::new(0);
pub static CHUNKS_DECODED: AtomicU64 = AtomicU64::new(0);
/// Chunks stored raw without trying to compress them, because they are smaller than
/// [`MIN_COMPRESS_BYTES`] (`INFO ndarray`: `chunks_too_small_to_compress`).
pub static CHUNKS_TOO_SMALL: AtomicU64 = AtomicU64::new(0);

/// Chunks below this many raw bytes are stored raw without a compression attempt. At this size
/// the attempt costs more than the bytes it could save: a 512-byte embedding of floats does not
/// compress at all, and lz4 clears an 8 KiB hash table per call; the few bytes a small array might
/// save are less than the per-key overhead Redis already pays (about 100 bytes).
pub const MIN_COMPRESS_BYTES: usize = 1024;

/// The levels a codec takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Levels {
    pub min: i32,
    pub max: i32,
    /// The level of a write that names none, unless the `<codec>-level` setting says otherwise.
    pub default: i32,
}

/// One compressor. `decompress` must fill `out` exactly or fail: chunk lengths are known from
/// the array's shape, so a stream that decodes to any other length is corrupt.
pub trait Codec: Send + Sync {
    /// What `COMPRESS` and the `compression` setting call it.
    fn name(&self) -> &'static str;
    /// The on-disk code (RDB, DUMP, replication payloads). Never renumber or reuse one.
    fn code(&self) -> u64;
    /// `None` when the codec takes no level.
    fn levels(&self) -> Option<Levels>;
    /// Compresses `raw` into `out` (cleared first). `level` is within [`Codec::levels`].
    fn compress(&self, level: i32, raw: &[u8], out: &mut Vec<u8>) -> CodecResult<()>;
    fn decompress(&self, stored: &[u8], out: &mut [u8]) -> CodecResult<()>;
    /// Compresses one block of a chunk (see [`blocks`]): the chunk's index records the block's
    /// stored and raw lengths, so a codec may leave out what its standalone frame repeats.
    fn compress_block(&self, level: i32, raw: &[u8], out: &mut Vec<u8>) -> CodecResult<()> {
        self.compress(level, raw, out)
    }
    /// Inverse of [`Codec::compress_block`].
    fn decompress_block(&self, stored: &[u8], out: &mut [u8]) -> CodecResult<()> {
        self.decompress(stored, out)
    }
}

/// One filter: a reversible rearrangement of a chunk's bytes that makes it compress better.
pub trait Filter: Send + Sync {
    /// What `SHUFFLE` and the `shuffle` setting call it.
    fn name(&self) -> &'static str;
    /// The on-disk code. Never renumber or reuse one.
    fn code(&self) -> u64;
    /// Whether it changes anything for items of `itemsize` bytes (a byte shuffle of one-byte items
    /// does not); where it does not, the encoding records no filter.
    fn applies_to(&self, itemsize: usize) -> bool;
    /// `raw` into `out` (same length).
    fn forward(&self, raw: &[u8], itemsize: usize, out: &mut [u8]);
    /// Undoes [`Filter::forward`]: `filtered` into `out` (same length).
    fn inverse(&self, filtered: &[u8], itemsize: usize, out: &mut [u8]);
    /// Undoes it for items `first..` of `filtered` only, as many as `out` holds: what a read of a
    /// few items costs, instead of the whole buffer.
    fn inverse_items(&self, filtered: &[u8], itemsize: usize, first: usize, out: &mut [u8]);
}

/// A codec and its level: how a chunk is compressed. Every array holds one, so it is 2 bytes (the
/// codec's place in the registry and the level), not a pointer to the codec: a small array's
/// value stays within the allocator size class of a plain string of its bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Compression {
    index: u8,
    level: i8,
}

impl Compression {
    pub const NONE: Compression = Compression { index: 0, level: 0 };

    /// `codec` at `level`, or at its default level when `None`. A level outside the codec's
    /// range, or any level for a codec without levels, is refused.
    pub fn new(codec: &'static dyn Codec, level: Option<i32>) -> CodecResult<Compression> {
        let level = match (codec.levels(), level) {
            (None, None) => 0,
            (None, Some(_)) => {
                return Err(CodecError::BadLevel(format!(
                    "{} takes no level",
                    codec.name()
                )))
            }
            (Some(levels), None) => levels.default,
            (Some(levels), Some(level)) if (levels.min..=levels.max).contains(&level) => level,
            (Some(levels), Some(level)) => {
                return Err(CodecError::BadLevel(format!(
                    "{} level must be {} to {}, got {level}",
                    codec.name(),
                    levels.min,
                    levels.max
                )))
            }
        };
        let index = registry::index_of(codec);
        let (Some(index), Ok(level)) = (index, i8::try_from(level)) else {
            return Err(CodecError::BadLevel(format!(
                "{} level {level} is not representable",
                codec.name()
            )));
        };
        Ok(Compression { index, level })
    }

    /// The codec named `name` at `level` (tests, fuzz targets, settings).
    pub fn named(name: &str, level: Option<i32>) -> CodecResult<Compression> {
        let codec = registry::codec_named(name)
            .ok_or_else(|| CodecError::BadLevel(format!("unknown codec '{name}'")))?;
        Compression::new(codec, level)
    }

    pub fn codec(self) -> &'static dyn Codec {
        registry::codec_at(self.index)
    }

    pub fn name(self) -> &'static str {
        self.codec().name()
    }

    /// The level, for codecs that take one.
    pub fn level(self) -> Option<i32> {
        self.codec().levels().map(|_| i32::from(self.level))
    }

    pub fn is_none(self) -> bool {
        self.index == Self::NONE.index
    }

    /// The on-disk pair (code, level). A negative level is stored as its two's complement.
    pub fn to_code(self) -> (u64, u64) {
        (self.codec().code(), i64::from(self.level) as u64)
    }

    /// Inverse of [`Compression::to_code`], validating both. Codecs without levels ignore the
    /// stored level (version-1 writers always wrote 0 there, but a hostile payload may not).
    pub fn from_code(code: u64, level: u64) -> CodecResult<Compression> {
        let codec = registry::codec_by_code(code)
            .ok_or_else(|| CodecError::Corrupt(format!("unknown compression code {code}")))?;
        if codec.levels().is_none() {
            return Compression::new(codec, None);
        }
        let level = i32::try_from(level as i64).map_err(|_| {
            CodecError::Corrupt(format!(
                "{} level {} out of range",
                codec.name(),
                level as i64
            ))
        })?;
        Compression::new(codec, Some(level)).map_err(|e| CodecError::Corrupt(e.to_string()))
    }
}

impl fmt::Debug for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.level() {
            Some(level) => write!(f, "{}({level})", self.name()),
            None => f.write_str(self.name()),
        }
    }
}

/// A filter, as an encoding records it: its place in the registry (1 byte, as [`Compression`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Shuffle(u8);

impl Shuffle {
    /// The registry's order (checked by its tests).
    pub const NONE: Shuffle = Shuffle(0);
    pub const BYTE: Shuffle = Shuffle(1);
    pub const BIT: Shuffle = Shuffle(2);

    pub fn new(filter: &'static dyn Filter) -> Shuffle {
        Shuffle(registry::filter_index_of(filter).unwrap_or(0))
    }
    pub fn filter(self) -> &'static dyn Filter {
        registry::filter_at(self.0)
    }
    pub fn name(self) -> &'static str {
        self.filter().name()
    }
    pub fn code(self) -> u64 {
        self.filter().code()
    }
    pub fn from_code(code: u64) -> CodecResult<Shuffle> {
        registry::filter_by_code(code)
            .map(Shuffle::new)
            .ok_or_else(|| CodecError::Corrupt(format!("unknown shuffle code {code}")))
    }
}

impl fmt::Debug for Shuffle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How an array's chunks are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoding {
    pub compression: Compression,
    pub shuffle: Shuffle,
    /// Raw bytes per independently decodable block of an encoded chunk (whole items; see
    /// [`blocks`]), or 0 when each encoded chunk is one frame (encoding versions 1 and 2, or the
    /// `block-bytes` setting 0). Always 0 without compression.
    pub block_bytes: u32,
}

impl Encoding {
    pub const RAW: Encoding = Encoding {
        compression: Compression::NONE,
        shuffle: Shuffle::NONE,
        block_bytes: 0,
    };

    /// Normalises what a user asked for: filtering without compressing, or a filter that changes
    /// nothing for this item size, is recorded as no filter. Compressed chunks are cut into
    /// blocks of [`blocks::DEFAULT_BLOCK_BYTES`] (see [`Encoding::with_block_bytes`]).
    pub fn new(compression: Compression, shuffle: Shuffle, itemsize: usize) -> Encoding {
        let shuffle = if compression.is_none() || !shuffle.filter().applies_to(itemsize) {
            Shuffle::NONE
        } else {
            shuffle
        };
        Encoding {
            compression,
            shuffle,
            block_bytes: 0,
        }
        .with_block_bytes(
            blocks::DEFAULT_BLOCK_BYTES,
            itemsize,
            crate::array::store::MAX_CHUNK_BYTES,
        )
    }

    /// This encoding with blocks of `requested` bytes (rounded by [`blocks::aligned_block_bytes`]
    /// for chunks of `chunk_bytes`), or with each chunk one frame when `requested` is 0.
    pub fn with_block_bytes(self, requested: u32, itemsize: usize, chunk_bytes: u32) -> Encoding {
        let block_bytes = if requested == 0 || self.compression.is_none() {
            0
        } else {
            blocks::aligned_block_bytes(requested, itemsize, chunk_bytes)
        };
        Encoding {
            block_bytes,
            ..self
        }
    }
}

/// A compression as a command (`COMPRESS`) or the `compression` setting names it: a codec of the
/// registry, whose level comes from `LEVEL` or the settings, or `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodecName {
    Codec(&'static str),
    Auto,
}

impl CodecName {
    const AUTO: &'static str = "auto";

    /// `name` in any case.
    pub fn parse(name: &str) -> Option<CodecName> {
        if name.eq_ignore_ascii_case(Self::AUTO) {
            return Some(CodecName::Auto);
        }
        registry::codec_named(name).map(|c| CodecName::Codec(c.name()))
    }

    pub fn name(self) -> &'static str {
        match self {
            CodecName::Codec(name) => name,
            CodecName::Auto => Self::AUTO,
        }
    }

    /// Every name `COMPRESS` takes, in order.
    pub fn all() -> Vec<&'static str> {
        let codecs = registry::CODECS.iter().map(|c| c.name());
        codecs.chain([Self::AUTO]).collect()
    }

    /// "none, lz4, zlib, zstd or auto", for messages.
    pub fn names() -> String {
        registry::or_list(Self::all().into_iter())
    }

    pub fn codec(self) -> Option<&'static dyn Codec> {
        match self {
            CodecName::Codec(name) => registry::codec_named(name),
            CodecName::Auto => None,
        }
    }
}

/// What a write asked for: an encoding, or `auto` (the server picks one from the data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodingChoice {
    Fixed(Encoding),
    Auto,
}

impl EncodingChoice {
    /// The encoding to store `raw` (an array's bytes, items of `itemsize` bytes) with.
    pub fn for_data(self, raw: &[u8], itemsize: usize) -> Encoding {
        match self {
            EncodingChoice::Fixed(encoding) => encoding,
            EncodingChoice::Auto => auto::choose_for(raw, itemsize),
        }
    }
}

/// Encodes and decodes chunks for one array, reusing one scratch buffer across chunks.
pub struct ChunkCodec {
    encoding: Encoding,
    itemsize: usize,
    scratch: Vec<u8>,
    /// One block's compressed bytes, before they join the chunk (blocked encodings).
    frame: Vec<u8>,
}

impl ChunkCodec {
    pub fn new(encoding: Encoding, itemsize: usize) -> ChunkCodec {
        ChunkCodec {
            encoding,
            itemsize,
            scratch: Vec::new(),
            frame: Vec::new(),
        }
    }

    /// Compresses `raw`. Returns `None` when the result would not be smaller: the caller then
    /// stores the chunk raw.
    pub fn encode(&mut self, raw: &[u8]) -> CodecResult<Option<Vec<u8>>> {
        if self.encoding.compression.is_none() {
            return Ok(None);
        }
        if raw.len() < MIN_COMPRESS_BYTES {
            CHUNKS_TOO_SMALL.fetch_add(1, Ordering::Relaxed);
            return Ok(None);
        }
        let mut out = Vec::new();
        if self.encoding.block_bytes == 0 {
            encode_frame(
                self.encoding,
                self.itemsize,
                raw,
                &mut self.scratch,
                &mut out,
            )?;
        } else {
            let (scratch, frame) = (&mut self.scratch, &mut self.frame);
            blocks::encode(self.encoding, self.itemsize, raw, scratch, frame, &mut out)?;
        }
        CHUNKS_ENCODED.fetch_add(1, Ordering::Relaxed);
        if out.len() >= raw.len() {
            return Ok(None);
        }
        out.shrink_to_fit();
        Ok(Some(out))
    }

    /// Checks that an encoded chunk decodes to exactly `raw_len` bytes, as a load must before it
    /// keeps a chunk: the compressor alone (a filter's inverse is a permutation, which cannot
    /// fail), into a scratch reused without zeroing (the decoders fill exactly its length or fail).
    /// The inverse filter was 18% and zeroing 4% of a client's `SET … ENCODED` (perf).
    pub fn check(&mut self, stored: &[u8], raw_len: usize) -> CodecResult<()> {
        if self.encoding.block_bytes != 0 {
            return blocks::check(self.encoding, stored, raw_len, &mut self.scratch);
        }
        if self.scratch.len() < raw_len {
            self.scratch.resize(raw_len, 0);
        }
        let out = self.scratch.get_mut(..raw_len).unwrap_or_default();
        self.encoding.compression.codec().decompress(stored, out)
    }

    /// Decodes an encoded chunk into `out`, whose length is the chunk's raw length.
    pub fn decode(&mut self, stored: &[u8], out: &mut [u8]) -> CodecResult<()> {
        CHUNKS_DECODED.fetch_add(1, Ordering::Relaxed);
        decode_into(self.encoding, self.itemsize, stored, &mut self.scratch, out)
    }
}

/// `compress(filter(raw))` into `out` as one frame (a whole chunk of version 2, or one block),
/// the filtered bytes in `scratch` (the one copy a filter costs). Also used by the codec trials of
/// `COMPRESS auto` and `NDARRAY.PROBE`.
pub(crate) fn encode_frame(
    encoding: Encoding,
    itemsize: usize,
    raw: &[u8],
    scratch: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> CodecResult<()> {
    let Encoding {
        compression,
        shuffle,
        ..
    } = encoding;
    let level = i32::from(compression.level);
    let compress = |input: &[u8], out: &mut Vec<u8>| match encoding.block_bytes {
        0 => compression.codec().compress(level, input, out),
        _ => compression.codec().compress_block(level, input, out),
    };
    if shuffle == Shuffle::NONE {
        return compress(raw, out);
    }
    scratch.clear();
    scratch.resize(raw.len(), 0);
    shuffle.filter().forward(raw, itemsize, scratch);
    compress(scratch, out)
}

/// Decodes an encoded chunk, in blocks or one frame, into `out` (the chunk's raw length).
pub(crate) fn decode_into(
    encoding: Encoding,
    itemsize: usize,
    stored: &[u8],
    scratch: &mut Vec<u8>,
    out: &mut [u8],
) -> CodecResult<()> {
    if encoding.block_bytes != 0 {
        return blocks::decode(encoding, itemsize, stored, scratch, out);
    }
    decode_frame(encoding, itemsize, stored, scratch, out)
}

/// Inverse of [`encode_frame`]: one frame into `out` (its raw length).
pub(crate) fn decode_frame(
    encoding: Encoding,
    itemsize: usize,
    stored: &[u8],
    scratch: &mut Vec<u8>,
    out: &mut [u8],
) -> CodecResult<()> {
    if encoding.shuffle == Shuffle::NONE {
        return decompress_frame(encoding, stored, out);
    }
    // Zeroed only as it grows: the decoders fill exactly `out.len()` bytes or fail, so nothing
    // of an earlier chunk is ever read (this was a memset of every chunk before its decode).
    if scratch.len() < out.len() {
        scratch.resize(out.len(), 0);
    }
    let filtered = scratch.get_mut(..out.len()).unwrap_or_default();
    decompress_frame(encoding, stored, filtered)?;
    encoding.shuffle.filter().inverse(filtered, itemsize, out);
    Ok(())
}

/// The compressor's inverse alone, for a frame of this encoding: a block's, or a whole chunk's.
pub(crate) fn decompress_frame(
    encoding: Encoding,
    stored: &[u8],
    out: &mut [u8],
) -> CodecResult<()> {
    match encoding.block_bytes {
        0 => encoding.compression.codec().decompress(stored, out),
        _ => encoding.compression.codec().decompress_block(stored, out),
    }
}

thread_local! {
    /// The filtered bytes of chunks decoded one per job ([`decode_chunk`]), reused by each thread.
    static DECODE_SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Decodes one encoded chunk into `out` (its raw length) with this thread's scratch: for the
/// per-chunk jobs of a big read, which would otherwise each allocate and zero a scratch buffer.
pub fn decode_chunk(
    encoding: Encoding,
    itemsize: usize,
    stored: &[u8],
    out: &mut [u8],
) -> CodecResult<()> {
    CHUNKS_DECODED.fetch_add(1, Ordering::Relaxed);
    DECODE_SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => decode_into(encoding, itemsize, stored, &mut scratch, out),
        // Never nested today; a nested call would still decode, with a scratch of its own.
        Err(_) => decode_into(encoding, itemsize, stored, &mut Vec::new(), out),
    })
}

/// The raw bytes of an encoded chunk of `raw_len` bytes that block `k` holds (see [`blocks`]); a
/// chunk of one frame is all block 0.
pub fn block_range(encoding: Encoding, raw_len: usize, k: usize) -> std::ops::Range<usize> {
    match encoding.block_bytes as usize {
        0 => 0..raw_len,
        block => {
            let start = k.saturating_mul(block).min(raw_len);
            start..start.saturating_add(block).min(raw_len)
        }
    }
}

/// The block of an encoded chunk that holds its byte `at`.
pub fn block_holding(encoding: Encoding, at: usize) -> usize {
    match encoding.block_bytes as usize {
        0 => 0,
        block => at / block,
    }
}

/// Decodes block `k` of an encoded chunk of `raw_len` bytes into `out` (its raw length, see
/// [`block_range`]) with this thread's scratch: what a read of a few items decodes. A chunk of one
/// frame decodes whole as its block 0.
pub fn decode_chunk_block(
    encoding: Encoding,
    itemsize: usize,
    stored: &[u8],
    raw_len: usize,
    k: usize,
    out: &mut [u8],
) -> CodecResult<()> {
    if encoding.block_bytes == 0 {
        if k != 0 || out.len() != raw_len {
            return Err(CodecError::Corrupt(format!("chunk has no block {k}")));
        }
        return decode_chunk(encoding, itemsize, stored, out);
    }
    let block = blocks::Blocks::parse(stored, raw_len, encoding.block_bytes as usize)?.get(k)?;
    DECODE_SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => blocks::decode_block(encoding, itemsize, block, &mut scratch, out),
        Err(_) => blocks::decode_block(encoding, itemsize, block, &mut Vec::new(), out),
    })
}

/// Block `k` of an encoded chunk of `raw_len` bytes decompressed into `into` (sized to the block's
/// raw length) but not unfiltered: a reader keeps it and unfilters only the items it takes (see
/// [`take_from_block`]); for a bit shuffle, the inverse filter of a whole block costs more than
/// its decompression. Returns whether the bytes still need the inverse filter (a block stored
/// raw does not).
pub fn decompress_chunk_block(
    encoding: Encoding,
    stored: &[u8],
    raw_len: usize,
    k: usize,
    into: &mut Vec<u8>,
) -> CodecResult<bool> {
    let range = block_range(encoding, raw_len, k);
    // Not zeroed when reused: the decompressors fill exactly this length or fail.
    into.resize(range.len(), 0);
    let filtered = encoding.shuffle != Shuffle::NONE;
    let codec = encoding.compression.codec();
    if encoding.block_bytes == 0 {
        if k != 0 {
            return Err(CodecError::Corrupt(format!("chunk has no block {k}")));
        }
        CHUNKS_DECODED.fetch_add(1, Ordering::Relaxed);
        codec.decompress(stored, into)?;
        return Ok(filtered);
    }
    let block = blocks::Blocks::parse(stored, raw_len, encoding.block_bytes as usize)?.get(k)?;
    if block.raw {
        if block.bytes.len() != into.len() {
            return Err(CodecError::Corrupt(format!(
                "raw block {k} has the wrong length"
            )));
        }
        into.copy_from_slice(block.bytes);
        return Ok(false);
    }
    blocks::count_block_decoded();
    decompress_frame(encoding, block.bytes, into)?;
    Ok(filtered)
}

/// Bytes `range` of a block held by [`decompress_chunk_block`] into `out` (as long as the range),
/// unfiltering only the items they cover.
pub fn take_from_block(
    encoding: Encoding,
    itemsize: usize,
    held: &[u8],
    filtered: bool,
    range: std::ops::Range<usize>,
    out: &mut [u8],
) -> CodecResult<()> {
    let short = || CodecError::Corrupt("a read reaches past its block".into());
    if range.len() != out.len() || range.end > held.len() {
        return Err(short());
    }
    if !filtered {
        out.copy_from_slice(held.get(range).ok_or_else(short)?);
        return Ok(());
    }
    let filter = encoding.shuffle.filter();
    let itemsize = itemsize.max(1);
    if range.start.is_multiple_of(itemsize) && out.len().is_multiple_of(itemsize) {
        filter.inverse_items(held, itemsize, range.start / itemsize, out);
        return Ok(());
    }
    // A run that starts or ends inside an item (never from a selection): whole items, then a cut.
    let first = range.start / itemsize;
    let end = range.end.div_ceil(itemsize);
    let mut items = vec![0u8; (end - first) * itemsize];
    filter.inverse_items(held, itemsize, first, &mut items);
    let lo = range.start - first * itemsize;
    out.copy_from_slice(items.get(lo..lo + out.len()).ok_or_else(short)?);
    Ok(())
}

#[cfg(test)]
mod tests;
