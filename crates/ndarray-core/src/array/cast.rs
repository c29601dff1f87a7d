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
        (Kind::Complex, Kind::Complex) => to.itemsize() > from.itemsize(),
        // A real to a complex dtype whose parts take it.
        (_, Kind::Complex) => {
            let part = if to == DType::Complex64 {
                DType::Float32
            } else {
                DType::Float64
            };
            can_cast(from, part)
        }
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
        "cannot cast {} to {}: {} casts only to {} (any int or float casts to any float, an int to a wider int, to complex where the parts take it)",
        from.name(),
        to.name(),
        from.name(),
        allowed.join(", ")
    )))
}

/// NumPy's `same_kind` rule, for writes into an existing array (APPEND, SETSLICE, APPLY): a safe
/// cast, or one within the order bool < unsigned < signed < float < complex (float64 to float32
/// and int64 to int8 are allowed, wrapping or rounding as NumPy does; float to int is not).
/// bfloat16 is a float here, as ml_dtypes registers it.
pub fn can_cast_same_kind(from: DType, to: DType) -> bool {
    let order = |d: DType| match d.kind() {
        Kind::Bool => 0,
        Kind::Unsigned => 1,
        Kind::Signed => 2,
        Kind::Float => 4,
        Kind::Complex => 5,
    };
    order(from) <= order(to)
}

/// How NumPy names a dtype in its messages (`dtype('float32')`).
pub fn numpy_repr(d: DType) -> String {
    match d {
        // An ml_dtypes type: NumPy shows its name unquoted.
        DType::BFloat16 => "dtype(bfloat16)".to_string(),
        _ => format!("dtype('{}')", d.name()),
    }
}

/// Refuses a write that [`can_cast_same_kind`] does not allow, with NumPy's own message.
pub fn check_same_kind(from: DType, to: DType) -> ArrayResult<()> {
    if can_cast_same_kind(from, to) {
        return Ok(());
    }
    Err(ArrayError::dtype(format!(
        "Cannot cast array data from {} to {} according to the rule 'same_kind'",
        numpy_repr(from),
        numpy_repr(to)
    )))
}

/// Converts little-endian elements of `from` to `to`, appending to `out`. The cast must have been
/// checked ([`check_cast`] or [`check_same_kind`]); `src` holds whole elements. Integers narrow
/// by wrapping, floats round to nearest even, as NumPy's casts do.
pub fn cast_into(from: DType, to: DType, src: &[u8], out: &mut Vec<u8>) {
    if from == to {
        out.extend_from_slice(src);
        return;
    }
    let count = src.len() / from.itemsize();
    out.reserve(count.saturating_mul(to.itemsize()));
    if to.kind() == Kind::Complex {
        cast_to_complex(from, to, src, out);
        return;
    }
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

/// Any element to a complex dtype: the real part converted as to the part's float dtype, the
/// imaginary part from a complex source or 0.
fn cast_to_complex(from: DType, to: DType, src: &[u8], out: &mut Vec<u8>) {
    let part = if to == DType::Complex64 {
        DType::Float32
    } else {
        DType::Float64
    };
    let zero = if part == DType::Float32 {
        &[0u8; 4][..]
    } else {
        &[0u8; 8][..]
    };
    if from.kind() == Kind::Complex {
        let from_part = if from == DType::Complex64 {
            DType::Float32
        } else {
            DType::Float64
        };
        cast_into(from_part, part, src, out);
        return;
    }
    for item in src.chunks_exact(from.itemsize()) {
        cast_into(from, part, item, out);
        out.extend_from_slice(zero);
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
        assert!(can_cast(DType::Float32, DType::Complex64));
        assert!(can_cast(DType::Complex64, DType::Complex128));
        assert!(!can_cast(DType::Complex128, DType::Complex64));
        let e = check_cast(DType::Float32, DType::Int8)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("cannot cast float32 to int8") && e.contains("float16"),
            "{e}"
        );
    }

    #[test]
    fn same_kind_follows_numpys_kind_order() {
        assert!(can_cast_same_kind(DType::Float64, DType::Float32));
        assert!(can_cast_same_kind(DType::Int64, DType::Int8));
        assert!(can_cast_same_kind(DType::UInt64, DType::Int8));
        assert!(can_cast_same_kind(DType::Bool, DType::UInt8));
        assert!(can_cast_same_kind(DType::Complex128, DType::Complex64));
        assert!(can_cast_same_kind(DType::Float64, DType::Complex64));
        assert!(can_cast_same_kind(DType::Int64, DType::BFloat16));
        assert!(!can_cast_same_kind(DType::Int8, DType::UInt64));
        assert!(!can_cast_same_kind(DType::Float32, DType::Int64));
        assert!(!can_cast_same_kind(DType::Complex64, DType::Float64));
        assert!(!can_cast_same_kind(DType::Int8, DType::Bool));
        let e = check_same_kind(DType::Float64, DType::Int32).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Cannot cast array data from dtype('float64') to dtype('int32') according to the rule 'same_kind'"
        );
    }

    #[test]
    fn narrowing_ints_wrap_and_reals_become_complex() {
        let src: Vec<u8> = [300i64, -1].iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut out = Vec::new();
        cast_into(DType::Int64, DType::Int8, &src, &mut out);
        assert_eq!(out, [44u8, 255]);
        out.clear();
        cast_into(DType::Int64, DType::Complex64, &src, &mut out);
        let expect: Vec<u8> = [300f32, 0.0, -1.0, 0.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert_eq!(out, expect);
        out.clear();
        let c: Vec<u8> = [1.5f64, -2.5]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        cast_into(DType::Complex128, DType::Complex64, &c, &mut out);
        assert_eq!(
            out,
            [1.5f32.to_le_bytes(), (-2.5f32).to_le_bytes()].concat()
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
