//! A payload read in place: its header and chunk table checked without copying a byte of it, then
//! its chunks decoded straight into memory the caller owns. This is how a client (the Python
//! extension) turns a `GET … FORMAT ENCODED` reply into an array with no copy besides the decode
//! itself, where [`super::from_payload`] would build a stored array (one copy of every chunk)
//! and decode each chunk twice (once to check it, once to read it).

use super::{client_fault, open_client_payload, read_body, Body};
use crate::array::ndarray::Meta;
use crate::array::store::{decode_stored, ChunkRef, PARALLEL_MIN_BYTES};
use crate::array::{ArrayError, ArrayResult, DType, Shape};
use crate::codec::Encoding;
use std::sync::Mutex;

/// A payload's fields, its chunks borrowed from it.
pub struct PayloadView<'a> {
    body: Body<&'a [u8]>,
}

/// Reads `payload`'s header, chunk table, attributes and end marker, each checked as a write
/// checks a client's payload (faults are `BADPAYLOAD`); nothing is decoded or copied.
pub fn view_payload(payload: &[u8]) -> ArrayResult<PayloadView<'_>> {
    let (mut r, version) = open_client_payload(payload)?;
    let body = read_body(&mut r, version, |r| r.get_slice(), |c| c.len()).map_err(client_fault)?;
    if !r.0.is_empty() {
        return Err(ArrayError::Payload(format!(
            "{} bytes after the end of the payload",
            r.0.len()
        )));
    }
    Ok(PayloadView { body })
}

impl PayloadView<'_> {
    pub fn dtype(&self) -> DType {
        self.body.dtype
    }

    pub fn shape(&self) -> &Shape {
        &self.body.shape
    }

    pub fn encoding(&self) -> Encoding {
        self.body.encoding
    }

    pub fn chunk_bytes(&self) -> u32 {
        self.body.chunk_bytes
    }

    /// `updated_at` and the attributes the payload carries.
    pub fn meta(&self) -> &Meta {
        &self.body.meta
    }

    /// The array's size in bytes (shape × itemsize; fits in memory only if `usize` holds it).
    pub fn nbytes(&self) -> u64 {
        self.body
            .shape
            .size()
            .saturating_mul(self.body.dtype.itemsize() as u64)
    }

    /// Decodes every chunk into `out`, which must be exactly [`Self::nbytes`] long: each chunk into
    /// its place, as separate jobs of the thread's executor for a big array. Every chunk is
    /// checked as it decodes (an undecodable chunk, or one of the wrong length, is an error, and
    /// `out` then holds no meaningful data). Bools come out as 0 or 1, as every load makes them.
    pub fn decode_into(&self, out: &mut [u8]) -> ArrayResult<()> {
        if out.len() as u64 != self.nbytes() {
            return Err(ArrayError::invalid(format!(
                "the output holds {} bytes, the array {}",
                out.len(),
                self.nbytes()
            )));
        }
        let (encoding, itemsize) = (self.body.encoding, self.body.dtype.itemsize());
        let chunk = self.body.chunk_bytes.max(1) as usize;
        let decode = |i: usize, target: &mut [u8]| -> ArrayResult<()> {
            let (encoded, bytes) = self
                .body
                .chunks
                .get(i)
                .copied()
                .ok_or_else(|| ArrayError::Payload(format!("chunk {i} is missing")))?;
            decode_stored(encoding, itemsize, ChunkRef { bytes, encoded }, i, target)
                .map_err(client_fault)
        };
        if out.len() < PARALLEL_MIN_BYTES {
            for (i, target) in out.chunks_mut(chunk).enumerate() {
                decode(i, target)?;
            }
        } else {
            let targets: Vec<Mutex<&mut [u8]>> = out.chunks_mut(chunk).map(Mutex::new).collect();
            let failure: Mutex<Option<ArrayError>> = Mutex::new(None);
            let done = std::sync::atomic::AtomicUsize::new(0);
            crate::parallel::for_each_index(targets.len(), &|i| {
                let result = match targets.get(i).map(Mutex::lock) {
                    Some(Ok(mut target)) => decode(i, &mut target),
                    _ => Err(ArrayError::Payload(format!(
                        "chunk {i} could not be decoded"
                    ))),
                };
                match result {
                    Ok(()) => {
                        done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    Err(e) => {
                        if let Ok(mut first) = failure.lock() {
                            first.get_or_insert(e);
                        }
                    }
                }
            });
            if let Ok(Some(e)) = failure.into_inner() {
                return Err(e);
            }
            // A job that panicked decoded nothing.
            if done.into_inner() != targets.len() {
                return Err(ArrayError::Payload("a chunk could not be decoded".into()));
            }
        }
        if self.body.dtype == DType::Bool {
            out.iter_mut().for_each(|b| *b = u8::from(*b != 0));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::array::NdArray;
    use crate::codec::{Compression, Shuffle};
    use crate::persist::to_payload;

    fn floats(n: usize) -> Vec<u8> {
        (0..n)
            .flat_map(|i| ((i % 97) as f32 * 0.5).to_le_bytes())
            .collect()
    }

    fn payload_of(raw: &[u8], encoding: Encoding, chunk: usize) -> Vec<u8> {
        let dims = vec![(raw.len() / 4) as u64];
        let shape = Shape::new(dims, DType::Float32).unwrap();
        to_payload(&NdArray::encode(DType::Float32, shape, raw, encoding, chunk).unwrap())
    }

    #[test]
    fn decodes_every_encoding_and_size_into_the_callers_buffer() {
        let zstd = Compression::named("zstd", Some(1)).unwrap();
        let encodings = [
            Encoding::RAW,
            Encoding::new(zstd, Shuffle::BIT, 4),
            Encoding::new(Compression::named("lz4", None).unwrap(), Shuffle::NONE, 4),
        ];
        for encoding in encodings {
            // One chunk, several, and several past the parallel threshold.
            for n in [0, 10, 5_000, 700_000] {
                let raw = floats(n);
                let payload = payload_of(&raw, encoding, 16 << 10);
                let view = view_payload(&payload).unwrap();
                assert_eq!(view.nbytes(), raw.len() as u64);
                let mut out = vec![0xAAu8; raw.len()];
                view.decode_into(&mut out).unwrap();
                assert_eq!(out, raw, "{encoding:?} n={n}");
                assert_eq!(
                    view.encoding(),
                    encoding.with_block_bytes(32768, 4, 16 << 10)
                );
            }
        }
    }

    #[test]
    fn refuses_a_wrong_output_size_trailing_bytes_and_corrupt_chunks() {
        let zstd = Compression::named("zstd", Some(1)).unwrap();
        let raw = floats(5_000);
        let mut payload = payload_of(&raw, Encoding::new(zstd, Shuffle::BIT, 4), 4096);
        let view = view_payload(&payload).unwrap();
        assert!(view.decode_into(&mut vec![0; raw.len() - 1]).is_err());
        let mut longer = payload.clone();
        longer.push(0);
        assert_eq!(
            view_payload(&longer).err().map(|e| e.code()),
            Some("BADPAYLOAD")
        );
        // The first chunk's zstd frame magic broken (after the header, the chunk's flag and
        // length, and its one-block index): the table still reads, the decode refuses it.
        let first_chunk = 4 + 8 * 10 + 16 + 4;
        payload[first_chunk] ^= 0xFF;
        let view = view_payload(&payload).unwrap();
        let error = view.decode_into(&mut vec![0; raw.len()]).unwrap_err();
        assert_eq!(error.code(), "BADPAYLOAD");
        assert!(view_payload(b"NDAE").is_err());
        assert!(view_payload(b"XXXX").is_err());
    }
}
