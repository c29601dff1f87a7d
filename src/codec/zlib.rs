//! zlib (RFC 1950) via `flate2`.

use super::Compressor;
use crate::array::error::{ArrayError, ArrayResult};
use flate2::{Compress, Decompress, FlushCompress, FlushDecompress, Status};
use std::cell::RefCell;

pub struct Zlib {
    pub level: u8,
}

thread_local! {
    // A deflate state is a few hundred KiB that `new` allocates and zeroes: creating one per chunk
    // made a 512-byte SET 13x slower than a plain SET. Keep one per level (and one inflater) per
    // thread and `reset` it instead.
    static COMPRESSORS: RefCell<Vec<Option<Compress>>> = RefCell::new((0..=super::ZLIB_MAX_LEVEL).map(|_| None).collect());
    static DECOMPRESSOR: RefCell<Option<Decompress>> = const { RefCell::new(None) };
}

impl Compressor for Zlib {
    fn compress(&self, raw: &[u8], out: &mut Vec<u8>) -> ArrayResult<()> {
        COMPRESSORS.with_borrow_mut(|slots| {
            let slot = slots.get_mut(usize::from(self.level)).ok_or_else(|| {
                ArrayError::corrupt(format!("zlib level {} out of range", self.level))
            })?;
            let z = slot.get_or_insert_with(|| {
                Compress::new(flate2::Compression::new(u32::from(self.level)), true)
            });
            z.reset();
            deflate(z, raw, out)
        })
    }

    fn decompress(&self, stored: &[u8], out: &mut [u8]) -> ArrayResult<()> {
        DECOMPRESSOR.with_borrow_mut(|slot| {
            let z = slot.get_or_insert_with(|| Decompress::new(true));
            z.reset(true);
            inflate(z, stored, out)
        })
    }
}

fn deflate(z: &mut Compress, raw: &[u8], out: &mut Vec<u8>) -> ArrayResult<()> {
    out.clear();
    // Worst case zlib output is a little over the input; reserve it so one call usually finishes.
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

fn inflate(z: &mut Decompress, stored: &[u8], out: &mut [u8]) -> ArrayResult<()> {
    let status = z
        .decompress(stored, out, FlushDecompress::Finish)
        .map_err(|e| ArrayError::corrupt(format!("zlib chunk: {e}")))?;
    // Complete means: the stream ended, filled `out` exactly and used every stored byte.
    let ended = matches!(status, Status::StreamEnd);
    if ended && z.total_out() == out.len() as u64 && z.total_in() == stored.len() as u64 {
        return Ok(());
    }
    Err(ArrayError::corrupt(format!(
        "zlib chunk decodes to at least {} bytes from {} of {} stored, expected {} (stream end: {ended})",
        z.total_out(),
        z.total_in(),
        stored.len(),
        out.len(),
    )))
}
