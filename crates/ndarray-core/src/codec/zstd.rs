//! Zstandard via the `zstd` crate (libzstd 1.5, bundled and built with the module). Chosen over
//! the pure-Rust `ruzstd` by measurement: on byte-shuffled float32 photographs ruzstd decodes
//! several times slower than libzstd, and its encoder has no levels.
//!
//! One frame per chunk, or per block of a chunk. A block's frame leaves out the magic number and
//! the content size (zstd's magicless format, 5 bytes less per block: 0.2% of the digits data set
//! stored in 32 KiB blocks), since the chunk's index records the block's lengths. The decoder is libzstd's, which is fuzzed upstream and checks every
//! length against the output buffer it is given: a frame that would write past the chunk's raw
//! length fails instead.

use super::{Codec, CodecError, CodecResult, Levels};
use std::cell::RefCell;
use zstd::bulk::{Compressor, Decompressor};
use zstd::zstd_safe::{CParameter, DParameter, FrameFormat};

pub struct Zstd;

/// zstd's fast levels go down to -131072, but past -7 the ratio approaches raw, which the store
/// then keeps instead; -7 is as fast as lz4 here.
const LEVELS: Levels = Levels {
    min: -7,
    max: 22,
    default: 1,
};

thread_local! {
    // A compression context is a few hundred KiB to set up; one per thread, re-levelled per call,
    // makes a small chunk cost what its bytes cost.
    static COMPRESSOR: RefCell<Option<Compressor<'static>>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<Decompressor<'static>>> = const { RefCell::new(None) };
}

impl Codec for Zstd {
    fn name(&self) -> &'static str {
        "zstd"
    }
    fn code(&self) -> u64 {
        3
    }
    fn levels(&self) -> Option<Levels> {
        Some(LEVELS)
    }

    fn compress(&self, level: i32, raw: &[u8], out: &mut Vec<u8>) -> CodecResult<()> {
        compress(level, raw, out, FrameFormat::One)
    }

    fn decompress(&self, stored: &[u8], out: &mut [u8]) -> CodecResult<()> {
        decompress(stored, out, FrameFormat::One)
    }

    fn compress_block(&self, level: i32, raw: &[u8], out: &mut Vec<u8>) -> CodecResult<()> {
        compress(level, raw, out, FrameFormat::Magicless)
    }

    fn decompress_block(&self, stored: &[u8], out: &mut [u8]) -> CodecResult<()> {
        decompress(stored, out, FrameFormat::Magicless)
    }
}

/// Compresses `raw` into `out` as one frame of `format`, with this thread's context (its
/// parameters are sticky: each call sets all it depends on).
fn compress(level: i32, raw: &[u8], out: &mut Vec<u8>, format: FrameFormat) -> CodecResult<()> {
    let failed = |e: std::io::Error| CodecError::Failed(format!("zstd compression failed: {e}"));
    COMPRESSOR.with_borrow_mut(|slot| {
        let z = match slot {
            Some(z) => {
                z.set_compression_level(level).map_err(failed)?;
                z
            }
            None => slot.insert(Compressor::new(level).map_err(failed)?),
        };
        let standalone = format == FrameFormat::One;
        z.set_parameter(CParameter::Format(format))
            .map_err(failed)?;
        z.set_parameter(CParameter::ContentSizeFlag(standalone))
            .map_err(failed)?;
        out.clear();
        out.reserve(zstd::zstd_safe::compress_bound(raw.len()));
        z.compress_to_buffer(raw, out).map_err(failed)?;
        Ok(())
    })
}

/// Decompresses one frame of `format` into `out`, which it must fill exactly.
fn decompress(stored: &[u8], out: &mut [u8], format: FrameFormat) -> CodecResult<()> {
    DECOMPRESSOR.with_borrow_mut(|slot| {
        let z = match slot {
            Some(z) => z,
            None => slot.insert(
                Decompressor::new()
                    .map_err(|e| CodecError::Failed(format!("zstd decompressor: {e}")))?,
            ),
        };
        z.set_parameter(DParameter::Format(format))
            .map_err(|e| CodecError::Failed(format!("zstd decompressor: {e}")))?;
        match z.decompress_to_buffer(stored, out) {
            Ok(n) if n == out.len() => Ok(()),
            Ok(n) => Err(CodecError::Corrupt(format!(
                "zstd chunk decodes to {n} bytes, expected {}",
                out.len()
            ))),
            Err(e) => Err(CodecError::Corrupt(format!("zstd chunk: {e}"))),
        }
    })
}
