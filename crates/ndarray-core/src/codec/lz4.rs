//! LZ4 block format via `lz4_flex` (pure Rust, bounds-checked decoder).

use super::{Codec, CodecError, CodecResult, Levels};

pub struct Lz4;

impl Codec for Lz4 {
    fn name(&self) -> &'static str {
        "lz4"
    }
    fn code(&self) -> u64 {
        1
    }
    fn levels(&self) -> Option<Levels> {
        None
    }

    fn compress(&self, _level: i32, raw: &[u8], out: &mut Vec<u8>) -> CodecResult<()> {
        out.clear();
        out.resize(lz4_flex::block::get_maximum_output_size(raw.len()), 0);
        let written = lz4_flex::block::compress_into(raw, out)
            .map_err(|e| CodecError::Failed(format!("lz4 compression failed: {e}")))?;
        out.truncate(written);
        Ok(())
    }

    fn decompress(&self, stored: &[u8], out: &mut [u8]) -> CodecResult<()> {
        // The block format does not record the raw length; we know it from the shape, and a
        // stream that decodes to fewer bytes is as corrupt as one that overflows.
        match lz4_flex::block::decompress_into(stored, out) {
            Ok(n) if n == out.len() => Ok(()),
            Ok(n) => Err(CodecError::Corrupt(format!(
                "lz4 chunk decodes to {n} bytes, expected {}",
                out.len()
            ))),
            Err(e) => Err(CodecError::Corrupt(format!("lz4 chunk: {e}"))),
        }
    }
}
