//! The `payload` target: `NDARRAY.PUTENCODED` payloads, and the pieces they travel to replicas in.

use ndarray_core::array::Shape;
use ndarray_core::persist;

/// An `NDARRAY.PUTENCODED` payload, as any client may send one. Whatever loads must save to a
/// canonical payload that loads back equal, read, and travel as replication pieces (appended chunk
/// runs, then reshaped) to an equal array.
pub fn payload(data: &[u8]) {
    let Ok(array) = persist::from_payload(data) else {
        return;
    };
    // Loading normalises fields that do not apply (a level or a shuffle without compression):
    // once saved, the payload is canonical and loads back equal.
    let saved = persist::to_payload(&array);
    let again = persist::from_payload(&saved).expect("a saved payload loads");
    assert!(again == array, "payload round trip");
    assert!(
        persist::to_payload(&again) == saved,
        "payload is not canonical"
    );
    let mut out = Vec::new();
    array.read_all(&mut out).expect("a loaded payload reads");
    assert_eq!(out.len() as u64, array.nbytes());
    // Pieces of at most one chunk each: the most appends.
    let pieces = persist::replication_pieces(&array, 1);
    let mut payloads = pieces.payloads.iter();
    let first = payloads.next().expect("at least one piece");
    let mut rebuilt = persist::from_payload(first).expect("a piece loads");
    for piece in payloads {
        let piece = persist::from_payload(piece).expect("a piece loads");
        rebuilt.append_chunks(piece).expect("pieces append");
    }
    if let Some(dims) = pieces.reshape {
        let shape = Shape::new(dims, array.dtype()).expect("the final shape is valid");
        rebuilt.reshape(shape).expect("pieces reshape");
    }
    assert!(rebuilt == array, "pieces rebuild the array");
}
