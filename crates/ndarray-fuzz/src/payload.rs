//! The `payload` target: `NDARRAY.PUTENCODED` payloads, and the pieces they travel to replicas in.

use ndarray_core::array::{NdArray, Shape};
use ndarray_core::persist::{self, view};

/// The largest array the client's decode is tried on (it allocates the whole array).
const MAX_VIEW_BYTES: u64 = 64 << 20;

/// The client's reader (`persist::view`, what the Python extension decodes replies with) agrees
/// with the server's loader: it decodes exactly the payloads that load, to the same bytes.
fn client_view_agrees(data: &[u8], loaded: Option<&NdArray>) {
    let Ok(view) = view::view_payload(data) else {
        assert!(
            loaded.is_none(),
            "the client refuses a payload the server loads"
        );
        return;
    };
    if view.nbytes() > MAX_VIEW_BYTES {
        return;
    }
    let mut out = vec![0u8; view.nbytes() as usize];
    let decoded = view.decode_into(&mut out);
    match loaded {
        Some(array) => {
            decoded.expect("the client decodes what the server loads");
            let mut raw = Vec::new();
            array.read_all(&mut raw).expect("a loaded payload reads");
            assert!(
                raw == out,
                "the client decodes other bytes than the server reads"
            );
        }
        None => assert!(
            decoded.is_err(),
            "the client decodes a payload the server refuses"
        ),
    }
}

/// An `NDARRAY.PUTENCODED` payload, as any client may send one. Whatever loads must save to a
/// canonical payload that loads back equal, read, and travel as replication pieces (appended chunk
/// runs, then reshaped) to an equal array.
pub fn payload(data: &[u8]) {
    let loaded = persist::from_payload(data);
    client_view_agrees(data, loaded.as_ref().ok());
    let Ok(array) = loaded else {
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
