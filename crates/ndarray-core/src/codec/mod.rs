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
}

impl Encoding {
    pub const RAW: Encoding = Encoding {
        compression: Compression::NONE,
        shuffle: Shuffle::NONE,
    };

    /// Normalises what a user asked for: filtering without compressing, or a filter that changes
    /// nothing for this item size, is recorded as no filter.
    pub fn new(compression: Compression, shuffle: Shuffle, itemsize: usize) -> Encoding {
        let shuffle = if compression.is_none() || !shuffle.filter().applies_to(itemsize) {
            Shuffle::NONE
        } else {
            shuffle
        };
        Encoding {
            compression,
            shuffle,
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
}

impl ChunkCodec {
    pub fn new(encoding: Encoding, itemsize: usize) -> ChunkCodec {
        ChunkCodec {
            encoding,
            itemsize,
            scratch: Vec::new(),
        }
    }

    /// Compresses `raw`. Returns `None` when the result would not be smaller: the caller then
    /// stores the chunk raw.
    pub fn encode(&mut self, raw: &[u8]) -> CodecResult<Option<Vec<u8>>> {
        let Encoding {
            compression,
            shuffle,
        } = self.encoding;
        if compression.is_none() {
            return Ok(None);
        }
        if raw.len() < MIN_COMPRESS_BYTES {
            CHUNKS_TOO_SMALL.fetch_add(1, Ordering::Relaxed);
            return Ok(None);
        }
        let mut out = Vec::new();
        encode_into(
            compression,
            shuffle,
            self.itemsize,
            raw,
            &mut self.scratch,
            &mut out,
        )?;
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

/// `compress(filter(raw))` into `out`, the filtered bytes in `scratch` (the one copy a filter
/// costs). Also used by the codec trials of `COMPRESS auto` and `NDARRAY.PROBE`.
pub(crate) fn encode_into(
    compression: Compression,
    shuffle: Shuffle,
    itemsize: usize,
    raw: &[u8],
    scratch: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> CodecResult<()> {
    let codec = compression.codec();
    let level = i32::from(compression.level);
    if shuffle == Shuffle::NONE {
        return codec.compress(level, raw, out);
    }
    scratch.clear();
    scratch.resize(raw.len(), 0);
    shuffle.filter().forward(raw, itemsize, scratch);
    codec.compress(level, scratch, out)
}

/// Inverse of [`encode_into`]: `stored` into `out` (the chunk's raw length).
pub(crate) fn decode_into(
    encoding: Encoding,
    itemsize: usize,
    stored: &[u8],
    scratch: &mut Vec<u8>,
    out: &mut [u8],
) -> CodecResult<()> {
    let codec = encoding.compression.codec();
    if encoding.shuffle == Shuffle::NONE {
        return codec.decompress(stored, out);
    }
    // Zeroed only as it grows: the decoders fill exactly `out.len()` bytes or fail, so nothing
    // of an earlier chunk is ever read (this was a memset of every chunk before its decode).
    if scratch.len() < out.len() {
        scratch.resize(out.len(), 0);
    }
    let filtered = scratch.get_mut(..out.len()).unwrap_or_default();
    codec.decompress(stored, filtered)?;
    encoding.shuffle.filter().inverse(filtered, itemsize, out);
    Ok(())
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

#[cfg(test)]
mod tests;
