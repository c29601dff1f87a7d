//! The on-disk encoding of an array (RDB, DUMP/RESTORE, replication), written against two small
//! traits so it is unit-tested without Redis. `datatype.rs` plugs in Redis' RDB I/O.
//!
//! Encoding version 1, all integers as RDB unsigned:
//! `dtype, ndim, dim × ndim, compression, level, shuffle, chunk_bytes, nchunks,
//!  (encoded flag, bytes) × nchunks, END_MARKER`.
//! The end marker means a payload cut short (even with a recomputed checksum) never loads.

use crate::array::shape::MAX_NDIM;
use crate::array::store::{expected_chunk_count, Chunk, MAX_CHUNK_BYTES};
use crate::array::{ArrayError, ArrayResult, DType, NdArray, Shape};
use crate::codec::{Compression, Encoding, Shuffle};

/// The encoding version Redis stores beside every NDARRAY value. Bump it when the layout changes,
/// and keep loading every older one (tests/fixtures hold a payload of each).
pub const ENCODING_VERSION: i32 = 1;

/// "ndarray!" in ASCII: closes every encoded value.
pub const END_MARKER: u64 = 0x6e64_6172_7261_7921;

pub trait RdbWrite {
    fn put_u64(&mut self, v: u64);
    fn put_bytes(&mut self, b: &[u8]);
}

pub trait RdbRead {
    fn get_u64(&mut self) -> ArrayResult<u64>;
    fn get_bytes(&mut self) -> ArrayResult<Vec<u8>>;
}

pub fn save(array: &NdArray, w: &mut impl RdbWrite) {
    let encoding = array.encoding();
    w.put_u64(u64::from(array.dtype().code()));
    w.put_u64(array.shape().ndim() as u64);
    for &d in array.shape().dims() {
        w.put_u64(d);
    }
    w.put_u64(encoding.compression.code());
    w.put_u64(u64::from(encoding.compression.level()));
    w.put_u64(encoding.shuffle.code());
    w.put_u64(u64::from(array.store().chunk_bytes()));
    w.put_u64(array.store().chunks().len() as u64);
    for chunk in array.store().chunks() {
        w.put_u64(u64::from(chunk.encoded));
        w.put_bytes(&chunk.bytes);
    }
    w.put_u64(END_MARKER);
}

/// Loads a value written by [`save`] at encoding version `version`. Every field is checked before
/// use; nothing is allocated from a claimed count before the data behind it has been read.
pub fn load(r: &mut impl RdbRead, version: i32) -> ArrayResult<NdArray> {
    if version != ENCODING_VERSION {
        return Err(ArrayError::corrupt(format!(
            "unknown NDARRAY encoding version {version} (this module reads version {ENCODING_VERSION})"
        )));
    }
    let code = r.get_u64()?;
    let dtype = DType::from_code(code)
        .ok_or_else(|| ArrayError::corrupt(format!("unknown dtype code {code}")))?;
    let ndim = r.get_u64()?;
    if ndim > MAX_NDIM as u64 {
        return Err(ArrayError::corrupt(format!(
            "{ndim} dimensions (at most {MAX_NDIM})"
        )));
    }
    let mut dims = Vec::with_capacity(ndim as usize);
    for _ in 0..ndim {
        dims.push(r.get_u64()?);
    }
    let shape = Shape::new(dims, dtype).map_err(|e| ArrayError::corrupt(e.to_string()))?;
    let compression = r.get_u64()?;
    let level = r.get_u64()?;
    let compression = Compression::from_code(compression, level)?;
    let shuffle = Shuffle::from_code(r.get_u64()?)?;
    // Normalised as for a fresh write (no shuffle without compression or for one-byte items), so
    // INFO and AOF rewrites report the same encoding whatever the payload claimed.
    let encoding = Encoding::new(compression, shuffle, dtype.itemsize());
    let chunk_bytes = r.get_u64()?;
    let chunk_bytes = u32::try_from(chunk_bytes)
        .ok()
        .filter(|c| *c > 0 && *c <= MAX_CHUNK_BYTES)
        .ok_or_else(|| ArrayError::corrupt(format!("invalid chunk size {chunk_bytes}")))?;
    let nchunks = r.get_u64()?;
    let total = shape.size().saturating_mul(dtype.itemsize() as u64);
    let expected = expected_chunk_count(total, chunk_bytes);
    if nchunks != expected {
        return Err(ArrayError::corrupt(format!(
            "{nchunks} chunks stored, shape {shape} needs {expected}"
        )));
    }
    // Grow as chunks actually arrive: a hostile count must not reserve memory up front.
    let mut chunks = Vec::with_capacity(nchunks.min(1024) as usize);
    for index in 0..nchunks {
        let encoded = match r.get_u64()? {
            0 => false,
            1 => true,
            flag => {
                return Err(ArrayError::corrupt(format!(
                    "chunk {index} has flag {flag}"
                )))
            }
        };
        let bytes = r.get_bytes()?;
        if bytes.len() > chunk_bytes as usize {
            return Err(ArrayError::corrupt(format!(
                "chunk {index} is {} bytes, over the chunk size",
                bytes.len()
            )));
        }
        chunks.push(Chunk {
            bytes: bytes.into_boxed_slice(),
            encoded,
        });
    }
    let marker = r.get_u64()?;
    if marker != END_MARKER {
        return Err(ArrayError::corrupt(
            "missing end marker (truncated or foreign payload)",
        ));
    }
    NdArray::from_parts(dtype, shape, encoding, chunk_bytes, chunks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq)]
    enum Item {
        U(u64),
        B(Vec<u8>),
    }

    #[derive(Default)]
    struct Mem {
        items: Vec<Item>,
        pos: usize,
    }

    impl RdbWrite for Mem {
        fn put_u64(&mut self, v: u64) {
            self.items.push(Item::U(v));
        }
        fn put_bytes(&mut self, b: &[u8]) {
            self.items.push(Item::B(b.to_vec()));
        }
    }

    impl RdbRead for Mem {
        fn get_u64(&mut self) -> ArrayResult<u64> {
            self.pos += 1;
            match self.items.get(self.pos - 1) {
                Some(Item::U(v)) => Ok(*v),
                _ => Err(ArrayError::corrupt("short read")),
            }
        }
        fn get_bytes(&mut self) -> ArrayResult<Vec<u8>> {
            self.pos += 1;
            match self.items.get(self.pos - 1) {
                Some(Item::B(v)) => Ok(v.clone()),
                _ => Err(ArrayError::corrupt("short read")),
            }
        }
    }

    fn sample() -> NdArray {
        let raw: Vec<u8> = (0..3000u32)
            .flat_map(|i| (i as f32).sqrt().to_le_bytes())
            .collect();
        let shape = Shape::new(vec![30, 100], DType::Float32).unwrap();
        let enc = Encoding::new(Compression::Zlib { level: 3 }, Shuffle::Byte, 4);
        NdArray::encode(DType::Float32, shape, &raw, enc, 4096).unwrap()
    }

    #[test]
    fn saved_arrays_load_back_identically() {
        let a = sample();
        let mut m = Mem::default();
        save(&a, &mut m);
        assert_eq!(load(&mut m, ENCODING_VERSION).unwrap(), a);
    }

    #[test]
    fn every_truncation_and_unknown_version_is_refused() {
        let mut m = Mem::default();
        save(&sample(), &mut m);
        for cut in 0..m.items.len() {
            let mut short = Mem {
                items: m.items[..cut].to_vec(),
                pos: 0,
            };
            assert!(load(&mut short, ENCODING_VERSION).is_err(), "cut at {cut}");
        }
        let mut again = Mem {
            items: m.items.clone(),
            pos: 0,
        };
        assert!(load(&mut again, 2)
            .unwrap_err()
            .to_string()
            .contains("unknown NDARRAY encoding version 2"));
    }

    #[test]
    fn every_field_is_validated() {
        let mut m = Mem::default();
        save(&sample(), &mut m);
        // Positions for shape (30, 100): dtype 0, ndim 1, dims 2-3, compression 4, level 5,
        // shuffle 6, chunk_bytes 7, nchunks 8, first chunk flag 9.
        let bad: [(usize, u64); 11] = [
            (0, 99),
            (1, 33),
            (2, 1 << 62),
            (3, 101),
            (4, 7),
            (5, 10),
            (6, 2),
            (7, 0),
            (7, 4094),
            (8, 5),
            (9, 2),
        ];
        for (field, value) in bad {
            let mut items = m.items.clone();
            items[field] = Item::U(value);
            let mut broken = Mem { items, pos: 0 };
            assert!(
                load(&mut broken, ENCODING_VERSION).is_err(),
                "field {field} = {value}"
            );
        }
    }
}
