//! Reading byte runs in any order (a selection with an integer list: rows gathered by index,
//! repeats allowed): each unit they touch (a block of an encoded chunk, or a chunk of one frame)
//! is decoded once, whatever the order of the runs, and those of a batch as separate jobs of the
//! thread's executor.

use super::error::{ArrayError, ArrayResult};
use super::store::{ChunkStore, Unit};
use crate::codec;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// Raw bytes of the units one batch decodes at once: bounds the memory a big gather holds.
const BATCH_BYTES: usize = 16 << 20;

/// Where one piece of a run goes: bytes `lo..hi` of its unit (of its chunk, when the chunk is
/// raw), to `at` in the output.
struct Piece {
    lo: usize,
    hi: usize,
    at: usize,
}

/// What the pieces of one (chunk, block) come from.
struct Source {
    chunk: usize,
    /// The unit to decode; `None` for a raw chunk, read in place.
    unit: Option<Unit>,
    /// Raw length of the chunk.
    raw_len: usize,
    pieces: Vec<Piece>,
}

impl Source {
    /// Bytes a decode of it holds.
    fn decoded_len(&self) -> usize {
        self.unit.as_ref().map_or(0, |u| u.range.len())
    }
}

impl ChunkStore {
    /// Appends the bytes of `runs` (offset, length), in order, to `out`. Returns how many units
    /// were decoded (each touched one, once).
    pub fn gather(
        &self,
        runs: &[(u64, u64)],
        itemsize: usize,
        total_bytes: u64,
        out: &mut Vec<u8>,
    ) -> ArrayResult<usize> {
        let mut sources: BTreeMap<(usize, usize), Source> = BTreeMap::new();
        let mut len = 0usize;
        let mut piece_to = |key: (usize, usize), unit: Option<Unit>, raw_len, lo, hi| {
            let source = sources.entry(key).or_insert(Source {
                chunk: key.0,
                unit,
                raw_len,
                pieces: Vec::new(),
            });
            source.pieces.push(Piece { lo, hi, at: len });
            len = len.saturating_add(hi - lo);
        };
        for &(offset, run) in runs {
            for span in self.spans(offset, run, total_bytes)? {
                if !self.chunk(span.index).is_some_and(|c| c.encoded) {
                    piece_to((span.index, 0), None, span.raw_len, span.lo, span.hi);
                    continue;
                }
                for (unit, part) in self.units_of(&span) {
                    let (lo, hi) = (part.start - unit.range.start, part.end - unit.range.start);
                    piece_to((span.index, unit.block), Some(unit), span.raw_len, lo, hi);
                }
            }
        }
        let start = out.len();
        out.resize(start.saturating_add(len), 0);
        let target = out.get_mut(start..).unwrap_or_default();
        let sources: Vec<Source> = sources.into_values().collect();
        let mut decoded = 0;
        let mut rest = sources.as_slice();
        while !rest.is_empty() {
            // The next batch: units up to BATCH_BYTES of raw bytes (at least one).
            let mut take = 0;
            let mut bytes = 0usize;
            while let Some(source) = rest.get(take) {
                if take > 0 && bytes.saturating_add(source.decoded_len()) > BATCH_BYTES {
                    break;
                }
                bytes = bytes.saturating_add(source.decoded_len());
                take += 1;
            }
            let (batch, later) = rest.split_at(take);
            rest = later;
            decoded += self.copy_batch(batch, itemsize, target)?;
        }
        Ok(decoded)
    }

    /// Decodes the units of `batch` (in parallel) and copies every piece into `target`.
    fn copy_batch(
        &self,
        batch: &[Source],
        itemsize: usize,
        target: &mut [u8],
    ) -> ArrayResult<usize> {
        // Each unit decompressed (not unfiltered: only the pieces taken are) as one job.
        type Held = ArrayResult<(Vec<u8>, bool)>;
        let slots: Vec<OnceLock<Held>> = batch.iter().map(|_| OnceLock::new()).collect();
        crate::parallel::for_each_index(batch.len(), &|i| {
            let (Some(source), Some(slot)) = (batch.get(i), slots.get(i)) else {
                return;
            };
            if let (Some(unit), Some(chunk)) = (&source.unit, self.chunk(source.chunk)) {
                let mut bytes = Vec::new();
                let encoding = self.encoding();
                let result = codec::decompress_chunk_block(
                    encoding,
                    chunk.bytes,
                    source.raw_len,
                    unit.block,
                    &mut bytes,
                );
                let _ = slot.set(result.map(|filtered| (bytes, filtered)).map_err(Into::into));
            }
        });
        let mut decoded = 0;
        for (source, slot) in batch.iter().zip(slots) {
            let missing = || ArrayError::corrupt(format!("chunk {} was not read", source.chunk));
            let held;
            let (bytes, filtered): (&[u8], bool) = match &source.unit {
                Some(_) => {
                    held = slot.into_inner().unwrap_or_else(|| Err(missing()))?;
                    decoded += 1;
                    (&held.0, held.1)
                }
                None => (self.chunk(source.chunk).ok_or_else(missing)?.bytes, false),
            };
            for piece in &source.pieces {
                let to = target
                    .get_mut(piece.at..piece.at + (piece.hi - piece.lo))
                    .ok_or_else(|| ArrayError::corrupt("a gather reaches past its output"))?;
                let encoding = self.encoding();
                codec::take_from_block(
                    encoding,
                    itemsize,
                    bytes,
                    filtered,
                    piece.lo..piece.hi,
                    to,
                )?;
            }
        }
        Ok(decoded)
    }
}

#[cfg(test)]
mod tests {
    use crate::array::slice::Selection;
    use crate::array::{DType, NdArray, Shape};
    use crate::codec::{Compression, Encoding, Shuffle};

    #[test]
    fn a_gather_reads_what_numpy_would_decoding_each_chunk_once() {
        let rows = 3000u64;
        let raw: Vec<u8> = (0..rows * 16)
            .flat_map(|i| (i as f32).to_le_bytes())
            .collect();
        let shape = Shape::new(vec![rows, 16], DType::Float32).unwrap();
        let zstd = Compression::named("zstd", Some(1)).unwrap();
        for encoding in [Encoding::RAW, Encoding::new(zstd, Shuffle::BIT, 4)] {
            let a =
                NdArray::encode(DType::Float32, shape.clone(), &raw, encoding, 16 << 10).unwrap();
            let picks = [2999i64, 0, 1500, 0, -1, 64, 65];
            let text = format!(
                "[{}], 1:3",
                picks
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            );
            let sel = Selection::resolve(text.as_bytes(), a.shape()).unwrap();
            let mut out = Vec::new();
            let decoded = a.read_selection(&sel, &mut out).unwrap();
            let want: Vec<u8> = picks
                .iter()
                .map(|&p| {
                    if p < 0 {
                        (rows as i64 + p) as u64
                    } else {
                        p as u64
                    }
                })
                .flat_map(|r| (1..3).map(move |c| (r * 16 + c) as f32))
                .flat_map(f32::to_le_bytes)
                .collect();
            assert_eq!(out, want, "{encoding:?}");
            if encoding != Encoding::RAW {
                // Rows 0, 64, 65 share chunk 0; 1500 and 2999 have their own: 3 chunks, once each.
                assert_eq!(decoded, 3);
            }
        }
    }
}
