//! Chunk codecs: a byte filter (shuffle) followed by a compressor. Redis-free.
//!
//! A chunk is encoded as `compress(filter(raw))`. The store keeps a chunk raw whenever that is not
//! smaller, so codecs never have to be "worth it".

#[allow(dead_code)]
pub(crate) mod bitshuffle;
mod lz4;
mod shuffle;
mod zlib;

use crate::array::error::{ArrayError, ArrayResult};
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

/// One compressor. `decompress` must fill `out` exactly or fail: chunk lengths are known from
/// the array's shape, so a stream that decodes to any other length is corrupt.
pub trait Compressor {
    fn compress(&self, raw: &[u8], out: &mut Vec<u8>) -> ArrayResult<()>;
    fn decompress(&self, stored: &[u8], out: &mut [u8]) -> ArrayResult<()>;
}

/// Which compressor, and its level. The codes are on-disk values: never renumber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Lz4,
    Zlib { level: u8 },
}

pub const ZLIB_MAX_LEVEL: u8 = 9;

impl Compression {
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Lz4 => "lz4",
            Compression::Zlib { .. } => "zlib",
        }
    }

    pub fn level(self) -> u8 {
        match self {
            Compression::Zlib { level } => level,
            _ => 0,
        }
    }

    pub fn code(self) -> u64 {
        match self {
            Compression::None => 0,
            Compression::Lz4 => 1,
            Compression::Zlib { .. } => 2,
        }
    }

    pub fn from_code(code: u64, level: u64) -> ArrayResult<Compression> {
        match code {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Lz4),
            2 => match u8::try_from(level) {
                Ok(level) if level <= ZLIB_MAX_LEVEL => Ok(Compression::Zlib { level }),
                _ => Err(ArrayError::corrupt(format!(
                    "zlib level {level} out of range"
                ))),
            },
            _ => Err(ArrayError::corrupt(format!(
                "unknown compression code {code}"
            ))),
        }
    }

    fn compressor(self) -> Option<Box<dyn Compressor>> {
        match self {
            Compression::None => None,
            Compression::Lz4 => Some(Box::new(lz4::Lz4)),
            Compression::Zlib { level } => Some(Box::new(zlib::Zlib { level })),
        }
    }
}

/// The filter applied before compression. Codes are on-disk values: never renumber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shuffle {
    None,
    /// Blosc's byte shuffle: byte k of every item, then byte k+1 … Typed data compresses far
    /// better this way because the high bytes of neighbouring numbers are alike.
    Byte,
}

impl Shuffle {
    pub fn name(self) -> &'static str {
        match self {
            Shuffle::None => "none",
            Shuffle::Byte => "byte",
        }
    }
    pub fn code(self) -> u64 {
        match self {
            Shuffle::None => 0,
            Shuffle::Byte => 1,
        }
    }
    pub fn from_code(code: u64) -> ArrayResult<Shuffle> {
        match code {
            0 => Ok(Shuffle::None),
            1 => Ok(Shuffle::Byte),
            _ => Err(ArrayError::corrupt(format!("unknown shuffle code {code}"))),
        }
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
        compression: Compression::None,
        shuffle: Shuffle::None,
    };

    /// Normalises what a user asked for: shuffling without compressing, or shuffling one-byte
    /// items, changes nothing, so it is recorded as `none`.
    pub fn new(compression: Compression, shuffle: Shuffle, itemsize: usize) -> Encoding {
        let shuffle = if compression == Compression::None || itemsize < 2 {
            Shuffle::None
        } else {
            shuffle
        };
        Encoding {
            compression,
            shuffle,
        }
    }
}

/// Encodes and decodes chunks for one array, reusing one scratch buffer across chunks.
pub struct ChunkCodec {
    compressor: Option<Box<dyn Compressor>>,
    shuffle: Shuffle,
    itemsize: usize,
    scratch: Vec<u8>,
}

impl ChunkCodec {
    pub fn new(encoding: Encoding, itemsize: usize) -> ChunkCodec {
        ChunkCodec {
            compressor: encoding.compression.compressor(),
            shuffle: encoding.shuffle,
            itemsize,
            scratch: Vec::new(),
        }
    }

    /// Compresses `raw`. Returns `None` when the result would not be smaller: the caller then
    /// stores the chunk raw.
    pub fn encode(&mut self, raw: &[u8]) -> ArrayResult<Option<Vec<u8>>> {
        let Some(compressor) = &self.compressor else {
            return Ok(None);
        };
        if raw.len() < MIN_COMPRESS_BYTES {
            CHUNKS_TOO_SMALL.fetch_add(1, Ordering::Relaxed);
            return Ok(None);
        }
        let input = match self.shuffle {
            Shuffle::None => raw,
            Shuffle::Byte => {
                self.scratch.clear();
                self.scratch.resize(raw.len(), 0);
                shuffle::shuffle(raw, self.itemsize, &mut self.scratch);
                &self.scratch[..]
            }
        };
        let mut out = Vec::new();
        compressor.compress(input, &mut out)?;
        CHUNKS_ENCODED.fetch_add(1, Ordering::Relaxed);
        if out.len() >= raw.len() {
            return Ok(None);
        }
        out.shrink_to_fit();
        Ok(Some(out))
    }

    /// Decodes an encoded chunk into `out`, whose length is the chunk's raw length.
    pub fn decode(&mut self, stored: &[u8], out: &mut [u8]) -> ArrayResult<()> {
        let Some(compressor) = &self.compressor else {
            return Err(ArrayError::corrupt(
                "chunk marked compressed in an uncompressed array",
            ));
        };
        CHUNKS_DECODED.fetch_add(1, Ordering::Relaxed);
        match self.shuffle {
            Shuffle::None => compressor.decompress(stored, out),
            Shuffle::Byte => {
                self.scratch.clear();
                self.scratch.resize(out.len(), 0);
                compressor.decompress(stored, &mut self.scratch)?;
                shuffle::unshuffle(&self.scratch, self.itemsize, out);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smooth_f32(n: usize) -> Vec<u8> {
        // Runs of equal values: compressible with or without the shuffle.
        (0..n)
            .flat_map(|i| ((i / 16) as f32).to_le_bytes())
            .collect()
    }

    #[test]
    fn chunks_below_the_threshold_are_stored_raw_without_an_attempt() {
        let small = vec![0u8; MIN_COMPRESS_BYTES - 4];
        let large = vec![0u8; MIN_COMPRESS_BYTES];
        let mut codec = ChunkCodec::new(Encoding::new(Compression::Lz4, Shuffle::Byte, 4), 4);
        assert_eq!(
            codec.encode(&small).unwrap(),
            None,
            "zeros, yet not compressed"
        );
        assert!(codec.encode(&large).unwrap().is_some());
    }

    #[test]
    fn every_codec_round_trips_and_compresses_smooth_data() {
        let raw = smooth_f32(10_000);
        for compression in [
            Compression::Lz4,
            Compression::Zlib { level: 1 },
            Compression::Zlib { level: 9 },
        ] {
            for shuffle in [Shuffle::None, Shuffle::Byte] {
                let mut codec = ChunkCodec::new(Encoding::new(compression, shuffle, 4), 4);
                let stored = codec.encode(&raw).unwrap().expect("smooth data compresses");
                assert!(stored.len() < raw.len());
                let mut back = vec![0; raw.len()];
                codec.decode(&stored, &mut back).unwrap();
                assert_eq!(back, raw, "{compression:?} {shuffle:?}");
            }
        }
    }

    #[test]
    fn incompressible_data_is_left_raw() {
        let mut x: u32 = 12345;
        let raw: Vec<u8> = (0..4096)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (x >> 16) as u8
            })
            .collect();
        let mut codec = ChunkCodec::new(Encoding::new(Compression::Lz4, Shuffle::Byte, 4), 4);
        assert_eq!(codec.encode(&raw).unwrap(), None);
        let mut none = ChunkCodec::new(Encoding::RAW, 4);
        assert_eq!(none.encode(&raw).unwrap(), None);
    }

    #[test]
    fn garbage_and_wrong_lengths_fail_to_decode_without_panicking() {
        let raw = smooth_f32(1000);
        for compression in [Compression::Lz4, Compression::Zlib { level: 6 }] {
            let mut codec = ChunkCodec::new(Encoding::new(compression, Shuffle::Byte, 4), 4);
            let stored = codec.encode(&raw).unwrap().unwrap();
            let mut short = vec![0; raw.len() - 4];
            assert!(
                codec.decode(&stored, &mut short).is_err(),
                "{compression:?} short"
            );
            let mut long = vec![0; raw.len() + 4];
            assert!(
                codec.decode(&stored, &mut long).is_err(),
                "{compression:?} long"
            );
            let mut out = vec![0; raw.len()];
            assert!(codec.decode(&stored[..stored.len() / 2], &mut out).is_err());
            for garbage in [&b""[..], b"\xff\xff\xff\xff", &[0u8; 64]] {
                assert!(
                    codec.decode(garbage, &mut out).is_err(),
                    "{compression:?} {garbage:?}"
                );
            }
        }
    }

    #[test]
    fn shuffle_is_normalised_away_where_it_cannot_apply() {
        assert_eq!(
            Encoding::new(Compression::None, Shuffle::Byte, 4).shuffle,
            Shuffle::None
        );
        assert_eq!(
            Encoding::new(Compression::Lz4, Shuffle::Byte, 1).shuffle,
            Shuffle::None
        );
        assert_eq!(
            Encoding::new(Compression::Lz4, Shuffle::Byte, 2).shuffle,
            Shuffle::Byte
        );
    }

    #[test]
    fn codes_round_trip() {
        for c in [
            Compression::None,
            Compression::Lz4,
            Compression::Zlib { level: 7 },
        ] {
            assert_eq!(
                Compression::from_code(c.code(), u64::from(c.level())),
                Ok(c)
            );
        }
        assert!(Compression::from_code(2, 10).is_err());
        assert!(Compression::from_code(3, 0).is_err());
        assert!(Shuffle::from_code(2).is_err());
    }
}
