//! The `rdb` target: RDB values, in the byte format of [`crate::helpers`], of each encoding
//! version.

use crate::helpers::{assert_rdb_round_trip, ByteReader};
use ndarray_core::aof;
use ndarray_core::array::input::canonical;
use ndarray_core::array::store::aligned_chunk_bytes;
use ndarray_core::array::NdArray;
use ndarray_core::persist;
use std::borrow::Cow;

/// An RDB payload in a simple byte format: u64 = 8 bytes LE, bytes = u32 LE length then the bytes,
/// read as each encoding version (1: no metadata; 2: `updated_at` and attributes; 3: the block
/// size after the chunk size). Whatever loads
/// must save and load back to an equal array, read, hold only elements a write would store, and
/// have an AOF rewrite that carries exactly its elements.
pub fn rdb(data: &[u8]) {
    for version in [
        persist::ENCODING_V1,
        persist::ENCODING_V2,
        persist::ENCODING_V3,
    ] {
        let mut reader = ByteReader { rest: data };
        let Ok(array) = persist::load(&mut reader, version) else {
            continue;
        };
        if version == persist::ENCODING_V1 {
            assert_eq!(array.meta(), &Default::default(), "v1 has no metadata");
        }
        assert_rdb_round_trip(&array);
        let mut out = Vec::new();
        array.read_all(&mut out).expect("a loaded array reads");
        assert_eq!(out.len() as u64, array.nbytes());
        // An AOF rewrite replays the elements through SET and APPEND, which store them canonical
        // (bool as 0/1): a loaded array holding anything else would come back different.
        assert!(
            matches!(
                canonical(array.dtype(), Cow::Borrowed(&out)),
                Cow::Borrowed(_)
            ),
            "a loaded array holds elements no write stores"
        );
        assert_aof_rewrite_carries(&array, &out);
    }
}

/// The AOF rewrite of a small array (in 256-byte pieces, so big ones take the SET + APPEND +
/// RESHAPE path), checked on the core's side: the BLOB pieces, each within the bound, are the
/// array's `elements` in order, and a STAMP restores its `updated_at`. Replaying the commands
/// through the module's parsers is the `set_args` target's part (the parsers are the module's).
fn assert_aof_rewrite_carries(array: &NdArray, elements: &[u8]) {
    const PIECE_BYTES: usize = 256;
    if array.nbytes() > 1 << 16 {
        return;
    }
    let bound = aligned_chunk_bytes(PIECE_BYTES, array.dtype().itemsize()) as usize;
    let mut pieces = Vec::new();
    let mut stamp = None;
    aof::rewrite(array, PIECE_BYTES, |command| {
        match command.first().map(Vec::as_slice) {
            Some(b"NDARRAY.SET" | b"NDARRAY.APPEND") => {
                let [.., keyword, piece] = command else {
                    panic!("a write without data");
                };
                assert_eq!(keyword, b"BLOB", "a write of other than BLOB data");
                assert!(
                    piece.len() <= bound,
                    "an AOF piece of {} bytes",
                    piece.len()
                );
                pieces.extend_from_slice(piece);
            }
            Some(b"NDARRAY.RESHAPE") => {}
            Some(b"NDARRAY.STAMP") => stamp = command.get(1).cloned(),
            _ => panic!("AOF rewrite emitted {:?}", command.first()),
        }
    })
    .expect("AOF rewrite");
    assert!(pieces == elements, "AOF rewrite carries other elements");
    let want = (array.updated_at() != 0).then(|| array.updated_at().to_string().into_bytes());
    assert_eq!(stamp, want, "AOF rewrite restores another updated_at");
}
