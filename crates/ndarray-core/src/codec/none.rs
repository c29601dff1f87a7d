//! `none`: chunks stay raw. The store never calls it to compress (an uncompressed array keeps
//! every chunk raw), so its only job is to refuse a chunk a payload marks compressed.

use super::{Codec, CodecError, CodecResult, Levels};

/// The on-disk code of `none`, which [`super::Compression::is_none`] tests for.
pub const CODE: u64 = 0;

pub struct Uncompressed;

impl Codec for Uncompressed {
    fn name(&self) -> &'static str {
        "none"
    }
    fn code(&self) -> u64 {
        CODE
    }
    fn levels(&self) -> Option<Levels> {
        None
    }
    fn compress(&self, _level: i32, raw: &[u8], out: &mut Vec<u8>) -> CodecResult<()> {
        out.clear();
        out.extend_from_slice(raw);
        Ok(())
    }
    fn decompress(&self, _stored: &[u8], _out: &mut [u8]) -> CodecResult<()> {
        Err(CodecError::Corrupt(
            "chunk marked compressed in an uncompressed array".into(),
        ))
    }
}
