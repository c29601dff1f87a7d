//! Reading byte runs in any order (a selection with an integer list: rows gathered by index,
//! repeats allowed): each chunk they touch is decoded once, whatever the order of the runs, and
//! the compressed ones of a batch as separate jobs of the thread's executor.

use super::error::{ArrayError, ArrayResult};
use super::store::{decode_stored, ChunkStore};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// Raw bytes of the chunks one batch decodes at once: bounds the memory a big gather holds.
const BATCH_BYTES: usize = 16 << 20;

/// Where one piece of a run goes: bytes `lo..hi` of its chunk, to `at` in the output.
struct Piece {
    lo: usize,
    hi: usize,
    at: usize,
}

impl ChunkStore {
    /// Appends the bytes of `runs` (offset, length), in order, to `out`. Returns how many
    /// compressed chunks were decoded (each touched one, once).
    pub fn gather(
        &self,
        runs: &[(u64, u64)],
        itemsize: usize,
        total_bytes: u64,
        out: &mut Vec<u8>,
    ) -> ArrayResult<usize> {
        let mut by_chunk: BTreeMap<usize, (usize, Vec<Piece>)> = BTreeMap::new();
        let mut len = 0usize;
        for &(offset, run) in runs {
            for span in self.spans(offset, run, total_bytes)? {
                let entry = by_chunk
                    .entry(span.index)
                    .or_insert((span.raw_len, Vec::new()));
                entry.1.push(Piece {
                    lo: span.lo,
                    hi: span.hi,
                    at: len,
                });
                len = len.saturating_add(span.hi - span.lo);
            }
        }
        let start = out.len();
        out.resize(start.saturating_add(len), 0);
        let target = out.get_mut(start..).unwrap_or_default();
        let chunks: Vec<(usize, (usize, Vec<Piece>))> = by_chunk.into_iter().collect();
        let mut decoded = 0;
        let mut rest = chunks.as_slice();
        while !rest.is_empty() {
            // The next batch: chunks up to BATCH_BYTES of raw bytes (at least one).
            let mut take = 0;
            let mut bytes = 0usize;
            while let Some((_, (raw_len, _))) = rest.get(take) {
                if take > 0 && bytes.saturating_add(*raw_len) > BATCH_BYTES {
                    break;
                }
                bytes = bytes.saturating_add(*raw_len);
                take += 1;
            }
            let (batch, later) = rest.split_at(take);
            rest = later;
            decoded += self.copy_batch(batch, itemsize, target)?;
        }
        Ok(decoded)
    }

    /// Decodes the compressed chunks of `batch` (in parallel) and copies every piece into `target`.
    fn copy_batch(
        &self,
        batch: &[(usize, (usize, Vec<Piece>))],
        itemsize: usize,
        target: &mut [u8],
    ) -> ArrayResult<usize> {
        let slots: Vec<OnceLock<ArrayResult<Vec<u8>>>> =
            batch.iter().map(|_| OnceLock::new()).collect();
        let encoded = |index: usize| self.chunk(index).is_some_and(|c| c.encoded);
        crate::parallel::for_each_index(batch.len(), &|i| {
            let (Some((index, (raw_len, _))), Some(slot)) = (batch.get(i), slots.get(i)) else {
                return;
            };
            if let Some(chunk) = self.chunk(*index).filter(|c| c.encoded) {
                let mut raw = vec![0u8; *raw_len];
                let result = decode_stored(self.encoding(), itemsize, chunk, *index, &mut raw);
                let _ = slot.set(result.map(|()| raw));
            }
        });
        let mut decoded = 0;
        for ((index, (_, pieces)), slot) in batch.iter().zip(slots) {
            let chunk = self
                .chunk(*index)
                .ok_or_else(|| ArrayError::corrupt(format!("chunk {index} is missing")))?;
            let decoded_bytes;
            let bytes: &[u8] = if encoded(*index) {
                decoded_bytes = slot.into_inner().unwrap_or_else(|| {
                    Err(ArrayError::corrupt(format!(
                        "chunk {index} was not decoded"
                    )))
                })?;
                decoded += 1;
                &decoded_bytes
            } else {
                chunk.bytes
            };
            for piece in pieces {
                let from = bytes.get(piece.lo..piece.hi);
                let to = target.get_mut(piece.at..piece.at + (piece.hi - piece.lo));
                match (from, to) {
                    (Some(from), Some(to)) => to.copy_from_slice(from),
                    _ => return Err(ArrayError::corrupt(format!("chunk {index} is short"))),
                }
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
