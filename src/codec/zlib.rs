//! zlib (RFC 1950) via `flate2`.

use super::Compressor;
use crate::array::error::{ArrayError, ArrayResult};
use flate2::{Compress, Decompress, FlushCompress, FlushDecompress, Status};

pub struct Zlib {
    pub level: u8,
}

impl Compressor for Zlib {
    fn compress(&self, raw: &[u8], out: &mut Vec<u8>) -> ArrayResult<()> {
        let mut z = Compress::new(flate2::Compression::new(u32::from(self.level)), true);
        out.clear();
        // Worst case zlib output is a little over the input; reserve it so one call finishes.
        out.reserve(raw.len() + raw.len() / 1000 + 64);
        loop {
            let consumed = usize::try_from(z.total_in()).unwrap_or(usize::MAX);
            let rest = raw.get(consumed..).unwrap_or_default();
            let status = z
                .compress_vec(rest, out, FlushCompress::Finish)
                .map_err(|e| ArrayError::corrupt(format!("zlib compression failed: {e}")))?;
            match status {
                Status::StreamEnd => return Ok(()),
                _ => out.reserve(out.capacity().max(64)),
            }
        }
    }

    fn decompress(&self, stored: &[u8], out: &mut [u8]) -> ArrayResult<()> {
        let mut z = Decompress::new(true);
        let status = z
            .decompress(stored, out, FlushDecompress::Finish)
            .map_err(|e| ArrayError::corrupt(format!("zlib chunk: {e}")))?;
        // Complete means: the stream ended, filled `out` exactly and used every stored byte.
        let complete = matches!(status, Status::StreamEnd)
            && z.total_out() == out.len() as u64
            && z.total_in() == stored.len() as u64;
        if complete {
            Ok(())
        } else {
            Err(ArrayError::corrupt(format!(
                "zlib chunk decodes to at least {} bytes from {} of {} stored, expected {} (stream end: {})",
                z.total_out(),
                z.total_in(),
                stored.len(),
                out.len(),
                matches!(status, Status::StreamEnd)
            )))
        }
    }
}
