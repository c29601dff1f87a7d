//! The server's own advice: `COMPRESS auto` picks an encoding for an array from a sample of its
//! bytes, and `NDARRAY.PROBE` measures a table of encodings on a sample so that users can choose
//! with real numbers. Both run the same trials ([`trial`]).

use super::{decode_frame, encode_frame, registry, CodecResult, Compression, Encoding, Shuffle};
use std::time::Instant;

/// What `auto` looks at: up to this many bytes of the array, in [`AUTO_PIECES`] pieces spread
/// over it. Its trials compress at most 6 x 64 KiB whatever the array's size: a small, bounded
/// cost (lz4 and zstd-1 are fast on it), done where the write encodes (on a worker for a big
/// write).
pub const AUTO_SAMPLE_BYTES: usize = 64 << 10;
pub const AUTO_PIECES: usize = 4;

/// `auto` keeps lz4 (which decodes faster than zstd) unless zstd stores at least this much
/// less: lz4's result may be up to 10% larger than the best.
const LZ4_SLACK: f64 = 1.10;
/// ... and compresses nothing that does not save at least 3%: every read would pay for nothing.
const WORTH_IT: f64 = 0.97;

/// One encoding measured on a sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trial {
    pub encoding: Encoding,
    pub raw_bytes: usize,
    pub stored_bytes: usize,
    pub encode_seconds: f64,
    pub decode_seconds: f64,
}

impl Trial {
    pub fn ratio(&self) -> f64 {
        self.raw_bytes as f64 / self.stored_bytes.max(1) as f64
    }
}

/// Encodes and decodes `sample` with `encoding`, `repeats` times each, and keeps the fastest.
/// The decoded bytes are checked against the sample: a trial never reports a broken codec.
pub fn trial(
    encoding: Encoding,
    itemsize: usize,
    sample: &[u8],
    repeats: usize,
) -> CodecResult<Trial> {
    let mut scratch = Vec::new();
    let mut stored = Vec::new();
    let mut back = vec![0u8; sample.len()];
    let (mut encode_seconds, mut decode_seconds) = (f64::MAX, f64::MAX);
    for _ in 0..repeats.max(1) {
        let start = Instant::now();
        encode_frame(encoding, itemsize, sample, &mut scratch, &mut stored)?;
        encode_seconds = encode_seconds.min(start.elapsed().as_secs_f64());
        let start = Instant::now();
        decode_frame(encoding, itemsize, &stored, &mut scratch, &mut back)?;
        decode_seconds = decode_seconds.min(start.elapsed().as_secs_f64());
    }
    if back != sample {
        return Err(super::CodecError::Failed(format!(
            "{encoding:?} did not round-trip the sample"
        )));
    }
    Ok(Trial {
        encoding,
        raw_bytes: sample.len(),
        stored_bytes: stored.len(),
        encode_seconds,
        decode_seconds,
    })
}

/// The filters worth trying for items of `itemsize` bytes (`none` first).
fn filters_for(itemsize: usize) -> impl Iterator<Item = Shuffle> {
    registry::FILTERS
        .iter()
        .map(|f| Shuffle::new(*f))
        .filter(move |s| *s == Shuffle::NONE || s.filter().applies_to(itemsize))
}

/// The encoding `COMPRESS auto` stores `sample` with: the smallest result among lz4 and zstd-1
/// with each filter, lz4 kept when within [`LZ4_SLACK`] of the best, and no compression when
/// nothing saves 3%.
pub fn choose(itemsize: usize, sample: &[u8]) -> Encoding {
    if sample.len() < super::MIN_COMPRESS_BYTES {
        // The store keeps chunks this small raw anyway.
        return Encoding::RAW;
    }
    let lz4 = Compression::named("lz4", None);
    let zstd = Compression::named("zstd", Some(1));
    let (Ok(lz4), Ok(zstd)) = (lz4, zstd) else {
        return Encoding::RAW;
    };
    let mut best_lz4: Option<Trial> = None;
    let mut best: Option<Trial> = None;
    for compression in [lz4, zstd] {
        for shuffle in filters_for(itemsize) {
            let encoding = Encoding::new(compression, shuffle, itemsize);
            let Ok(t) = trial(encoding, itemsize, sample, 1) else {
                continue;
            };
            let smaller = |b: &Option<Trial>| b.is_none_or(|b| t.stored_bytes < b.stored_bytes);
            if compression == lz4 && smaller(&best_lz4) {
                best_lz4 = Some(t);
            }
            if smaller(&best) {
                best = Some(t);
            }
        }
    }
    let Some(best) = best else {
        return Encoding::RAW;
    };
    if (best.stored_bytes as f64) > WORTH_IT * sample.len() as f64 {
        return Encoding::RAW;
    }
    match best_lz4 {
        Some(l) if l.stored_bytes as f64 <= LZ4_SLACK * best.stored_bytes as f64 => l.encoding,
        _ => best.encoding,
    }
}

/// [`choose`] on a sample of `raw`: [`AUTO_PIECES`] pieces spread over it, [`AUTO_SAMPLE_BYTES`]
/// in all (one copy of at most that many bytes).
pub fn choose_for(raw: &[u8], itemsize: usize) -> Encoding {
    let piece = (AUTO_SAMPLE_BYTES / AUTO_PIECES) as u64;
    // Pieces start on whole groups of 8 items, where a bit shuffle's blocks start.
    let align = (itemsize.max(1) * 8) as u64;
    let mut sample = Vec::with_capacity(AUTO_SAMPLE_BYTES.min(raw.len()));
    for (start, len) in spread(raw.len() as u64, AUTO_PIECES, piece, align) {
        let (start, len) = (start as usize, len as usize);
        if let Some(bytes) = raw.get(start..start.saturating_add(len)) {
            sample.extend_from_slice(bytes);
        }
    }
    choose(itemsize, &sample)
}

/// The encodings `NDARRAY.PROBE` measures: every codec at a few levels, with every filter that
/// applies.
pub fn probe_encodings(itemsize: usize) -> Vec<Encoding> {
    let mut out = Vec::new();
    for codec in registry::CODECS.iter().copied() {
        let levels: Vec<Option<i32>> = match codec.name() {
            "none" => continue,
            "zlib" => vec![Some(1), Some(6), Some(9)],
            "zstd" => vec![Some(-3), Some(1), Some(3), Some(9)],
            _ => match codec.levels() {
                Some(l) => vec![Some(l.default)],
                None => vec![None],
            },
        };
        for level in levels {
            let Ok(compression) = Compression::new(codec, level) else {
                continue;
            };
            for shuffle in filters_for(itemsize) {
                out.push(Encoding::new(compression, shuffle, itemsize));
            }
        }
    }
    out
}

/// Every encoding of [`probe_encodings`] measured on `sample`, best ratio first (then fastest
/// decode). A small sample is timed over up to `max_repeats` repeats, so the speeds are not one
/// cold run.
pub fn probe(itemsize: usize, sample: &[u8], max_repeats: usize) -> CodecResult<Vec<Trial>> {
    if sample.is_empty() {
        return Ok(Vec::new());
    }
    let repeats = (PROBE_TIMED_BYTES / sample.len()).clamp(1, max_repeats.max(1));
    let mut trials = probe_encodings(itemsize)
        .into_iter()
        .map(|e| trial(e, itemsize, sample, repeats))
        .collect::<CodecResult<Vec<Trial>>>()?;
    trials.sort_by(|a, b| {
        b.ratio()
            .total_cmp(&a.ratio())
            .then(a.decode_seconds.total_cmp(&b.decode_seconds))
    });
    Ok(trials)
}

/// Each PROBE trial is repeated until it has handled about this many bytes (at most 8 times).
const PROBE_TIMED_BYTES: usize = 1 << 20;

/// `count` ranges of about `piece` bytes each, whole multiples of `align`, spread evenly over
/// `len` bytes (all of it when it is no longer than `count * piece`).
pub fn spread(len: u64, count: usize, piece: u64, align: u64) -> Vec<(u64, u64)> {
    let align = align.max(1);
    let total = piece.saturating_mul(count as u64);
    if len <= total {
        return vec![(0, len)];
    }
    let piece = (piece - piece % align).max(align);
    let step = len / count as u64;
    (0..count as u64)
        .map(|i| {
            let start = i * step;
            let start = start - start % align;
            (start, piece.min(len - start))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smooth_f32(n: usize) -> Vec<u8> {
        (0..n)
            .flat_map(|i| (1.0f32 + (i as f32 * 0.001).sin()).to_le_bytes())
            .collect()
    }

    fn noise(n: usize) -> Vec<u8> {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn auto_compresses_smooth_floats_with_a_filter() {
        let e = choose(4, &smooth_f32(16 << 10));
        assert!(!e.compression.is_none(), "{e:?}");
        assert_ne!(e.shuffle, Shuffle::NONE, "{e:?}");
    }

    #[test]
    fn auto_never_picks_a_codec_whose_output_is_larger_than_raw() {
        for itemsize in [1, 2, 4, 8] {
            let sample = noise(64 << 10);
            assert_eq!(
                choose(itemsize, &sample),
                Encoding::RAW,
                "itemsize {itemsize}"
            );
            let e = choose(itemsize, &smooth_f32(8 << 10));
            let t = trial(e, itemsize, &smooth_f32(8 << 10), 1).unwrap();
            assert!(t.stored_bytes < t.raw_bytes, "{e:?}");
        }
    }

    #[test]
    fn auto_of_empty_and_tiny_samples_is_raw() {
        assert_eq!(choose(4, &[]), Encoding::RAW);
        assert_eq!(choose(8, &[1, 2, 3]), Encoding::RAW);
    }

    #[test]
    fn probe_lists_every_codec_and_only_filters_that_apply() {
        let one_byte = probe_encodings(1);
        assert!(one_byte.iter().all(|e| e.shuffle != Shuffle::BYTE));
        assert!(one_byte.iter().any(|e| e.shuffle == Shuffle::BIT));
        let floats = probe_encodings(4);
        for name in ["lz4", "zlib", "zstd"] {
            assert!(
                floats.iter().any(|e| e.compression.name() == name),
                "{name}"
            );
        }
        assert!(floats.iter().all(|e| !e.compression.is_none()));
        assert_eq!(floats.len(), (1 + 3 + 4) * 3);
    }

    #[test]
    fn trials_round_trip_and_report_sizes() {
        let sample = smooth_f32(4096);
        for e in probe_encodings(4) {
            let t = trial(e, 4, &sample, 2).unwrap();
            assert_eq!(t.raw_bytes, sample.len());
            assert!(t.ratio() > 0.0);
        }
    }

    #[test]
    fn probe_sorts_by_ratio_and_handles_empty_and_tiny_samples() {
        assert!(probe(4, &[], 8).unwrap().is_empty());
        let tiny = probe(8, &[1, 2, 3, 4, 5, 6, 7, 8], 8).unwrap();
        assert_eq!(tiny.len(), probe_encodings(8).len());
        let rows = probe(4, &smooth_f32(4096), 1).unwrap();
        assert!(rows.windows(2).all(|w| w[0].ratio() >= w[1].ratio()));
        assert!(rows[0].ratio() > 1.5, "{:?}", rows[0]);
    }

    #[test]
    fn spread_covers_small_inputs_whole_and_aligns_pieces() {
        assert_eq!(spread(100, 4, 64, 4), vec![(0, 100)]);
        let pieces = spread(1 << 20, 4, 1003, 8);
        assert_eq!(pieces.len(), 4);
        for (start, len) in pieces {
            assert_eq!(start % 8, 0);
            assert_eq!(len, 1000);
            assert!(start + len <= 1 << 20);
        }
    }
}
