//! `AS dtype` conversions: which casts are allowed, and the element conversion itself.

use super::dtype::{DType, Kind};
use super::error::{ArrayError, ArrayResult};
use super::values::{read_float, read_int, read_uint, write_float, write_int, write_int_as_float};

/// Whether `from` may be converted to `to`: the same dtype; bool, any int or any float to any float;
/// bool or an int to an int that holds every value of it (NumPy's "safe" integer casts).
pub fn can_cast(from: DType, to: DType) -> bool {
    if from == to {
        return true;
    }
    match (from.kind(), to.kind()) {
        (Kind::Bool | Kind::Signed | Kind::Unsigned | Kind::Float, Kind::Float) => true,
        (Kind::Bool, Kind::Signed | Kind::Unsigned) => true,
        (Kind::Signed, Kind::Signed) | (Kind::Unsigned, Kind::Unsigned) => {
            to.itemsize() > from.itemsize()
        }
        (Kind::Unsigned, Kind::Signed) => to.itemsize() > from.itemsize(),
        _ => false,
    }
}

/// Refuses a cast that [`can_cast`] does not allow, naming the allowed targets.
pub fn check_cast(from: DType, to: DType) -> ArrayResult<()> {
    if can_cast(from, to) {
        return Ok(());
    }
    let allowed: Vec<&str> = DType::ALL
        .iter()
        .filter(|d| can_cast(from, **d))
        .map(|d| d.name())
        .collect();
    Err(ArrayError::dtype(format!(
        "cannot cast {} to {}: {} casts only to {} (any int or float casts to any float, an int to a wider int)",
        from.name(),
        to.name(),
        from.name(),
        allowed.join(", ")
    )))
}

/// Converts little-endian elements of `from` to `to`, appending to `out`. The cast must have been
/// checked; `src` holds whole elements.
pub fn cast_into(from: DType, to: DType, src: &[u8], out: &mut Vec<u8>) {
    if from == to {
        out.extend_from_slice(src);
        return;
    }
    let count = src.len() / from.itemsize();
    out.reserve(count.saturating_mul(to.itemsize()));
    for item in src.chunks_exact(from.itemsize()) {
        match to.kind() {
            Kind::Float => match from.kind() {
                Kind::Signed => write_int_as_float(to, i128::from(read_int(from, item)), out),
                Kind::Bool => write_int_as_float(to, i128::from(read_uint(from, item) != 0), out),
                Kind::Unsigned => write_int_as_float(to, i128::from(read_uint(from, item)), out),
                _ => write_float(to, read_float(from, item), out),
            },
            _ => {
                let v = match from.kind() {
                    Kind::Signed => i128::from(read_int(from, item)),
                    // NumPy's bool is True for any nonzero byte.
                    Kind::Bool => i128::from(read_uint(from, item) != 0),
                    _ => i128::from(read_uint(from, item)),
                };
                write_int(to, v, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::array::values::{scalar_at, Scalar};

    #[test]
    fn any_nonzero_bool_casts_to_one_as_in_numpy() {
        let mut out = Vec::new();
        cast_into(DType::Bool, DType::Int32, &[0, 5, 255, 1], &mut out);
        let ints: Vec<i32> = out
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(ints, [0, 1, 1, 1]);
        let mut out = Vec::new();
        cast_into(DType::Bool, DType::Float32, &[0, 200], &mut out);
        assert_eq!(out, [0f32.to_le_bytes(), 1f32.to_le_bytes()].concat());
    }

    #[test]
    fn allowed_casts_follow_the_rules() {
        assert!(can_cast(DType::Float32, DType::Float16));
        assert!(can_cast(DType::Int64, DType::BFloat16));
        assert!(can_cast(DType::Int8, DType::Int64));
        assert!(can_cast(DType::UInt16, DType::Int32));
        assert!(can_cast(DType::Bool, DType::UInt8));
        assert!(!can_cast(DType::Int64, DType::Int32));
        assert!(!can_cast(DType::Int8, DType::UInt16));
        assert!(!can_cast(DType::UInt64, DType::Int64));
        assert!(!can_cast(DType::Float32, DType::Int32));
        assert!(!can_cast(DType::Complex64, DType::Float64));
        assert!(!can_cast(DType::Float32, DType::Complex64));
        let e = check_cast(DType::Float32, DType::Int8)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("cannot cast float32 to int8") && e.contains("float16"),
            "{e}"
        );
    }

    #[test]
    fn int64_to_float32_rounds_once() {
        let src = (1i64 << 60 | 1 << 36 | 1).to_le_bytes();
        let mut out = Vec::new();
        cast_into(DType::Int64, DType::Float32, &src, &mut out);
        assert_eq!(u32::from_le_bytes(out.try_into().unwrap()), 0x5d80_0001);
    }

    #[test]
    fn conversions_keep_values() {
        let src: Vec<u8> = [-3i16, 300].iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut out = Vec::new();
        cast_into(DType::Int16, DType::Int64, &src, &mut out);
        assert_eq!(scalar_at(DType::Int64, &out[8..]), Scalar::Int(300));
        assert_eq!(scalar_at(DType::Int64, &out[..8]), Scalar::Int(-3));
        out.clear();
        cast_into(DType::Int16, DType::Float16, &src, &mut out);
        assert_eq!(out.len(), 4);
        assert_eq!(scalar_at(DType::Float16, &out[2..]), Scalar::Float(300.0));
        out.clear();
        let f: Vec<u8> = 0.1f64.to_le_bytes().to_vec();
        cast_into(DType::Float64, DType::Float32, &f, &mut out);
        assert_eq!(out, 0.1f32.to_le_bytes());
    }
}
