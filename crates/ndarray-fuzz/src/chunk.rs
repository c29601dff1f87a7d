//! The `chunk` target: one stored chunk through the codec its first bytes choose.

use crate::helpers::ITEMSIZES;
use ndarray_core::codec::{ChunkCodec, Compression, Encoding, Shuffle};

/// One stored chunk: bytes 0 and 1 choose the encoding and item size (`chunk_params`), bytes
/// 2..6 a claimed raw length (at most 1 MiB); the rest is the chunk. Decoding it must fail or
/// succeed, never panic. The rest is also encoded as raw data and must
/// decode back to itself, and only to its own length.
pub fn chunk(data: &[u8]) {
    let Some((head, rest)) = data.split_first_chunk::<6>() else {
        return;
    };
    let (compression, shuffle, itemsize) = chunk_params(head[0], head[1]);
    let claimed = u32::from_le_bytes([head[2], head[3], head[4], head[5]]) % ((1 << 20) + 1);
    let encoding = Encoding::new(compression, shuffle, itemsize);
    let mut codec = ChunkCodec::new(encoding, itemsize);
    let _ = codec.decode(rest, &mut vec![0; claimed as usize]);

    if let Some(stored) = codec.encode(rest).expect("encoding never fails") {
        assert!(stored.len() < rest.len(), "an encoded chunk is smaller");
        let mut back = vec![0; rest.len()];
        codec
            .decode(&stored, &mut back)
            .expect("an encoded chunk decodes");
        assert_eq!(back, rest, "chunk round trip");
        let mut long = vec![0; rest.len() + 1];
        assert!(codec.decode(&stored, &mut long).is_err(), "decoded short");
        if let Some(shorter) = rest.len().checked_sub(1) {
            let mut short = vec![0; shorter];
            assert!(codec.decode(&stored, &mut short).is_err(), "decoded long");
        }
    }
}

/// The encoding and item size the first two bytes of a `chunk` input choose. Byte 0: with bit 7
/// set, zstd at level `(b & 0x3f) % 30 - 7`; otherwise `(b & 0x3f) % 3` picks none, lz4 or zlib
/// (level `(b & 0x3f) / 3 % 10`); bit 6 makes the filter a bit shuffle. Byte 1: bit 0 turns the
/// filter on, the rest picks the item size. (Seeds from before zstd used bytes below 64.)
pub(crate) fn chunk_params(b0: u8, b1: u8) -> (Compression, Shuffle, usize) {
    let low = b0 & 0x3f;
    let compression = if b0 & 0x80 != 0 {
        Compression::named("zstd", Some(i32::from(low % 30) - 7))
    } else {
        match low % 3 {
            0 => Ok(Compression::NONE),
            1 => Compression::named("lz4", None),
            _ => Compression::named("zlib", Some(i32::from(low / 3 % 10))),
        }
    };
    let shuffle = match (b1 & 1 == 1, b0 & 0x40 != 0) {
        (false, _) => Shuffle::NONE,
        (true, false) => Shuffle::BYTE,
        (true, true) => Shuffle::BIT,
    };
    let itemsize = ITEMSIZES[usize::from(b1 >> 1) % ITEMSIZES.len()];
    (compression.expect("levels in range"), shuffle, itemsize)
}

/// The inverse of [`chunk_params`] for the seeds.
#[cfg(test)]
pub(crate) fn chunk_head0(compression: Compression, shuffle: Shuffle) -> u8 {
    let bit = if shuffle == Shuffle::BIT { 0x40 } else { 0 };
    let level = compression.level().unwrap_or(0);
    bit | match compression.name() {
        "none" => 0,
        "lz4" => 1,
        "zlib" => 2 + 3 * level as u8,
        _ => 0x80 | (level + 7) as u8,
    }
}
