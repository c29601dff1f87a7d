//! zlib (RFC 1950): one stream format, two encoders chosen by level, one decoder.
//!
//! Measured on byte-shuffled scikit-learn photographs and digits (figures: README, Performance,
//! Measurements behind the code):
//! - `flate2` with zlib-rs decodes faster than with its default backend, miniz_oxide, and encodes
//!   level 6 faster at the same ratio;
//! - at level 1 zlib-rs uses the quick strategy of zlib-ng: no faster here, and its output is
//!   larger. Levels 0 and 1 (1 is the default) therefore encode with miniz_oxide directly.
//!
//! Every stream is standard zlib, so chunks written by either (or by older versions) decode alike.

use super::{Codec, CodecError, CodecResult, Levels};
use flate2::{Compress, Decompress, FlushCompress, FlushDecompress, Status};
use miniz_oxide::deflate::core::{create_comp_flags_from_zip_params, CompressorOxide};
use miniz_oxide::{MZFlush, MZStatus};
use std::cell::RefCell;

/// Levels up to this one encode with miniz_oxide.
const MINIZ_MAX_LEVEL: usize = 1;

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
    // made a 512-byte SET many times slower than a plain SET. Keep one per level (and one
    // inflater) per thread and `reset` it instead.
    static COMPRESSORS: RefCell<Vec<Option<Compress>>> = RefCell::new((0..STATES).map(|_| None).collect());
    static DECOMPRESSOR: RefCell<Option<Decompress>> = const { RefCell::new(None) };
    static MINIZ: RefCell<[Option<Box<CompressorOxide>>; MINIZ_MAX_LEVEL + 1]> = const { RefCell::new([None, None]) };
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
        if index <= MINIZ_MAX_LEVEL {
            return MINIZ.with_borrow_mut(|slots| {
                let slot = slots.get_mut(index).ok_or_else(bad_level)?;
                let z = slot.get_or_insert_with(|| {
                    // window bits 15: the zlib wrapper (header and Adler-32), as flate2 writes.
                    let flags = create_comp_flags_from_zip_params(index as i32, 15, 0);
                    Box::new(CompressorOxide::new(flags))
                });
                z.reset();
                deflate_miniz(z, raw, out)
            });
        }
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

fn deflate_miniz(z: &mut CompressorOxide, raw: &[u8], out: &mut Vec<u8>) -> CodecResult<()> {
    out.clear();
    out.resize(raw.len() + raw.len() / 1000 + 64, 0);
    let (mut consumed, mut written) = (0, 0);
    loop {
        let (Some(input), Some(output)) = (raw.get(consumed..), out.get_mut(written..)) else {
            return Err(CodecError::Failed(
                "zlib compression overran its buffers".into(),
            ));
        };
        let r = miniz_oxide::deflate::stream::deflate(z, input, output, MZFlush::Finish);
        consumed += r.bytes_consumed;
        written += r.bytes_written;
        match r.status {
            Ok(MZStatus::StreamEnd) => {
                out.truncate(written);
                return Ok(());
            }
            Ok(_) => {
                let grown = out.len().saturating_mul(2).max(64);
                out.resize(grown, 0);
            }
            Err(e) => {
                return Err(CodecError::Failed(format!(
                    "zlib compression failed: {e:?}"
                )))
            }
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
