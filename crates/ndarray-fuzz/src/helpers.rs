//! What several targets share: the item sizes an input picks from, test data, and the simple byte
//! format the `rdb` target reads RDB values in (with the save/load round trip every target that
//! builds an array checks).

use ndarray_core::array::{ArrayError, ArrayResult, NdArray};
use ndarray_core::persist::{self, RdbRead, RdbWrite};

/// The byte sizes of the dtypes: a fuzz input picks one by index.
pub(crate) const ITEMSIZES: [usize; 5] = [1, 2, 4, 8, 16];

/// Bytes that compress in some 64-byte chunks and not in others.
pub(crate) fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| {
            if (i / 48) % 3 == 0 {
                (i / 48) as u8
            } else {
                (i as u8).wrapping_mul(97) ^ (i / 7) as u8
            }
        })
        .collect()
}

/// Saves `array`, loads it back: must be equal, and saving that gives the same bytes.
pub(crate) fn assert_rdb_round_trip(array: &NdArray) {
    let bytes = rdb_bytes(array);
    let loaded = persist::load(&mut ByteReader { rest: &bytes }, persist::ENCODING_VERSION)
        .expect("a saved array loads");
    assert_eq!(&loaded, array, "RDB round trip");
    assert_eq!(rdb_bytes(&loaded), bytes, "RDB encoding is not canonical");
}

/// `array` saved in the byte format [`crate::rdb`] reads (for seed corpora and tests).
pub(crate) fn rdb_bytes(array: &NdArray) -> Vec<u8> {
    let mut w = ByteWriter(Vec::new());
    persist::save(array, &mut w);
    w.0
}

/// Writes the byte format: u64 = 8 bytes LE, bytes = u32 LE length then the bytes.
struct ByteWriter(Vec<u8>);

impl RdbWrite for ByteWriter {
    fn put_u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn put_bytes(&mut self, b: &[u8]) {
        let len = u32::try_from(b.len()).expect("chunks are under 4 GiB");
        self.0.extend_from_slice(&len.to_le_bytes());
        self.0.extend_from_slice(b);
    }
}

/// Reads the byte format of [`ByteWriter`]; running out is a short read, as in Redis.
pub(crate) struct ByteReader<'a> {
    pub(crate) rest: &'a [u8],
}

impl ByteReader<'_> {
    fn take(&mut self, n: usize) -> ArrayResult<&[u8]> {
        let Some((head, tail)) = self.rest.split_at_checked(n) else {
            return Err(ArrayError::corrupt("short read"));
        };
        self.rest = tail;
        Ok(head)
    }
}

impl RdbRead for ByteReader<'_> {
    fn get_u64(&mut self) -> ArrayResult<u64> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }
    fn get_bytes(&mut self) -> ArrayResult<Vec<u8>> {
        let len = self.take(4)?;
        let len = u32::from_le_bytes(len.try_into().expect("4 bytes"));
        Ok(self.take(len as usize)?.to_vec())
    }
}
