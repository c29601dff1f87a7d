//! AOF rewrite: the commands that rebuild an array, in pieces no larger than a bound so that any
//! server (whatever its `proto-max-bulk-len`) and any client can replay them. Redis-free.
//!
//! An array that fits in one piece is one `NDARRAY.SET … BLOB`. A larger one is built flat:
//! `NDARRAY.SET key dtype n0 … BLOB piece`, then `NDARRAY.APPEND key BLOB piece` per piece, then
//! `NDARRAY.RESHAPE key dims…`. APPEND only re-encodes the partial last chunk, so replay is linear.
//! The first SET carries the attributes (`ATTR field value`, at most 64 KiB in all); a final
//! `NDARRAY.STAMP key unix-ms` restores `updated_at` (none when it is 0, unknown: a replayed
//! write records 0 itself).

use crate::array::store::aligned_chunk_bytes;
use crate::array::{ArrayResult, NdArray};

/// Calls `emit` with each command (name first; the key is inserted by the caller after it).
pub fn rewrite(
    array: &NdArray,
    piece_bytes: usize,
    mut emit: impl FnMut(&[Vec<u8>]),
) -> ArrayResult<()> {
    let itemsize = array.dtype().itemsize();
    let piece_bytes = aligned_chunk_bytes(piece_bytes, itemsize) as usize;
    let single = array.nbytes() <= piece_bytes as u64;
    let mut first = true;
    let mut result = Ok(());
    let mut visit = |piece: &[u8]| {
        let mut cmd: Vec<Vec<u8>>;
        if first {
            cmd = vec![b"NDARRAY.SET".to_vec(), array.dtype().name().into()];
            if single {
                cmd.extend(
                    array
                        .shape()
                        .dims()
                        .iter()
                        .map(|d| d.to_string().into_bytes()),
                );
            } else {
                cmd.push((piece.len() / itemsize).to_string().into_bytes());
            }
            cmd.extend(encoding_args(array));
            for (field, value) in array.attrs().iter() {
                cmd.push(b"ATTR".to_vec());
                cmd.push(field.to_vec());
                cmd.push(value.to_vec());
            }
        } else {
            cmd = vec![b"NDARRAY.APPEND".to_vec()];
        }
        cmd.push(b"BLOB".to_vec());
        cmd.push(piece.to_vec());
        emit(&cmd);
        first = false;
        Ok(())
    };
    if array.nbytes() == 0 {
        result = visit(&[]);
    } else {
        array.for_each_raw_piece(piece_bytes, &mut visit)?;
    }
    if !single && array.shape().ndim() != 1 {
        let mut cmd = vec![b"NDARRAY.RESHAPE".to_vec()];
        cmd.extend(
            array
                .shape()
                .dims()
                .iter()
                .map(|d| d.to_string().into_bytes()),
        );
        emit(&cmd);
    }
    if array.updated_at() != 0 {
        emit(&[
            b"NDARRAY.STAMP".to_vec(),
            array.updated_at().to_string().into_bytes(),
        ]);
    }
    result
}

/// The array's encoding as NDARRAY.SET options.
fn encoding_args(array: &NdArray) -> Vec<Vec<u8>> {
    let enc = array.encoding();
    let mut args = vec![b"COMPRESS".to_vec(), enc.compression.name().into()];
    if let Some(level) = enc.compression.level() {
        args.push(b"LEVEL".to_vec());
        args.push(level.to_string().into_bytes());
    }
    args.push(b"SHUFFLE".to_vec());
    args.push(enc.shuffle.name().into());
    args
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::array::{DType, Shape};
    use crate::codec::{Compression, Encoding, Shuffle};

    fn commands(array: &NdArray, piece: usize) -> Vec<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        rewrite(array, piece, |c| out.push(c.to_vec())).unwrap();
        out
    }

    #[test]
    fn small_arrays_are_one_set() {
        let shape = Shape::new(vec![2, 2], DType::Int16).unwrap();
        let enc = Encoding::new(
            Compression::named("zlib", Some(4)).unwrap(),
            Shuffle::BYTE,
            2,
        );
        let a = NdArray::encode(DType::Int16, shape, &[1, 0, 2, 0, 3, 0, 4, 0], enc, 4096).unwrap();
        let cmds = commands(&a, 1 << 20);
        assert_eq!(cmds.len(), 1);
        let text: Vec<String> = cmds[0]
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        assert_eq!(
            text[..10],
            [
                "NDARRAY.SET",
                "int16",
                "2",
                "2",
                "COMPRESS",
                "zlib",
                "LEVEL",
                "4",
                "SHUFFLE",
                "byte"
            ]
        );
        assert_eq!(text[10], "BLOB");
        assert_eq!(cmds[0][11], [1, 0, 2, 0, 3, 0, 4, 0]);
    }

    #[test]
    fn large_arrays_are_set_flat_appended_in_bounded_pieces_and_reshaped() {
        let shape = Shape::new(vec![10, 100], DType::Float64).unwrap();
        let raw: Vec<u8> = (0..8000u32).map(|i| i as u8).collect();
        let a = NdArray::encode(DType::Float64, shape, &raw, Encoding::RAW, 4096).unwrap();
        let cmds = commands(&a, 3000);
        assert!(cmds.iter().all(|c| c.iter().all(|arg| arg.len() <= 3000)));
        assert_eq!(cmds[0][0], b"NDARRAY.SET");
        assert_eq!(cmds[0][2], b"375"); // 3000 bytes rounded down to whole float64s
        assert!(cmds[1..cmds.len() - 1]
            .iter()
            .all(|c| c[0] == b"NDARRAY.APPEND"));
        assert_eq!(
            cmds.last().unwrap(),
            &[b"NDARRAY.RESHAPE".to_vec(), b"10".to_vec(), b"100".to_vec()]
        );
        let rebuilt: Vec<u8> = cmds[..cmds.len() - 1]
            .iter()
            .flat_map(|c| c.last().unwrap().clone())
            .collect();
        assert_eq!(rebuilt, raw);
    }

    #[test]
    fn empty_and_scalar_arrays_rewrite_to_one_set() {
        let empty = NdArray::encode(
            DType::Int8,
            Shape::new(vec![0, 3], DType::Int8).unwrap(),
            &[],
            Encoding::RAW,
            4096,
        )
        .unwrap();
        let cmds = commands(&empty, 1 << 20);
        assert_eq!(cmds.len(), 1);
        assert_eq!(cmds[0][2..4], [b"0".to_vec(), b"3".to_vec()]);
        let scalar = NdArray::encode(
            DType::Int8,
            Shape::new(vec![], DType::Int8).unwrap(),
            &[5],
            Encoding::RAW,
            4096,
        )
        .unwrap();
        assert_eq!(commands(&scalar, 1 << 20)[0][2], b"COMPRESS");
    }
}
