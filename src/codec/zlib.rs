//! zlib (RFC 1950) via `flate2`.

use super::{Codec, CodecError, CodecResult, Levels};
use flate2::{Compress, Decompress, FlushCompress, FlushDecompress, Status};
use std::cell::RefCell;

pub struct Zlib;

const LEVELS: Levels = Levels {
    min: 0,
    max: 9,
    // Level 1: several times faster than 6 on float data, and the shuffle does most of the work.
    default: 1,
};
/// Deflate states kept per thread: one per level.
const STATES: usize = LEVELS.max as usize + 1;

thread_local! {
    // A deflate state is a few hundred KiB that `new` allocates and zeroes: creating one per chunk
    // made a 512-byte SET 13x slower than a plain SET. Keep one per level (and one inflater) per
    // thread and `reset` it instead.
    static COMPRESSORS: RefCell<Vec<Option<Compress>>> = RefCell::new((0..STATES).map(|_| None).collect());
    static DECOMPRESSOR: RefCell<Option<Decompress>> = const { RefCell::new(None) };
}

impl Codec for Zlib {
    fn name(&self) -> &'static str {
        "zlib"
    }
    fn code(&self) -> u64 {
        2
    }
    fn levels(&self) -> Option<Levels> {
        Some(LEVELS)
    }

    fn compress(&self, level: i32, raw: &[u8], out: &mut Vec<u8>) -> CodecResult<()> {
        let bad_level = || CodecError::BadLevel(format!("zlib level {level} out of range"));
        let index = usize::try_from(level).map_err(|_| bad_level())?;
        COMPRESSORS.with_borrow_mut(|slots| {
            let slot = slots.get_mut(index).ok_or_else(bad_level)?;
            let z = slot
                .get_or_insert_with(|| Compress::new(flate2::Compression::new(index as u32), true));
            z.reset();
            deflate(z, raw, out)
        })
    }

    fn decompress(&self, stored: &[u8], out: &mut [u8]) -> CodecResult<()> {
        DECOMPRESSOR.with_borrow_mut(|slot| {
            let z = slot.get_or_insert_with(|| Decompress::new(true));
            z.reset(true);
            inflate(z, stored, out)
        })
    }
}

fn deflate(z: &mut Compress, raw: &[u8], out: &mut Vec<u8>) -> CodecResult<()> {
    out.clear();
    // Worst case zlib output is a little over the input; reserve it so one call usually finishes.
    out.reserve(raw.len() + raw.len() / 1000 + 64);
    loop {
        let consumed = usize::try_from(z.total_in()).unwrap_or(usize::MAX);
        let rest = raw.get(consumed..).unwrap_or_default();
        let status = z
            .compress_vec(rest, out, FlushCompress::Finish)
            .map_err(|e| CodecError::Failed(format!("zlib compression failed: {e}")))?;
        match status {
            Status::StreamEnd => return Ok(()),
            _ => out.reserve(out.capacity().max(64)),
        }
    }
}

fn inflate(z: &mut Decompress, stored: &[u8], out: &mut [u8]) -> CodecResult<()> {
    let status = z
        .decompress(stored, out, FlushDecompress::Finish)
        .map_err(|e| CodecError::Corrupt(format!("zlib chunk: {e}")))?;
    // Complete means: the stream ended, filled `out` exactly and used every stored byte.
    let ended = matches!(status, Status::StreamEnd);
    if ended && z.total_out() == out.len() as u64 && z.total_in() == stored.len() as u64 {
        return Ok(());
    }
    Err(CodecError::Corrupt(format!(
        "zlib chunk decodes to at least {} bytes from {} of {} stored, expected {} (stream end: {ended})",
        z.total_out(),
        z.total_in(),
        stored.len(),
        out.len(),
    )))
}
