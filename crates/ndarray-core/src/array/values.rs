//! Elements as numbers: parsing `VALUES` arguments into little-endian bytes, and reading stored
//! bytes back as scalars for replies.

use super::dtype::{DType, Kind};
use super::error::{ArrayError, ArrayResult};
use half::{bf16, f16};

/// One element, widened to a type every dtype fits in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scalar {
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Complex(f64, f64),
}

/// Reads one element. `bytes` must be exactly `dtype.itemsize()` long; anything else reads as 0
/// (callers iterate with `chunks_exact(itemsize)`, so it does not happen).
pub fn scalar_at(dtype: DType, bytes: &[u8]) -> Scalar {
    match dtype.kind() {
        Kind::Bool => Scalar::Bool(bytes.first().is_some_and(|b| *b != 0)),
        Kind::Signed => Scalar::Int(read_int(dtype, bytes)),
        Kind::Unsigned => Scalar::UInt(read_uint(dtype, bytes)),
        Kind::Float => Scalar::Float(read_float(dtype, bytes)),
        Kind::Complex => {
            let half = bytes.len() / 2;
            let part = if dtype == DType::Complex64 {
                DType::Float32
            } else {
                DType::Float64
            };
            let (re, im) = bytes.split_at(half);
            Scalar::Complex(read_float(part, re), read_float(part, im))
        }
    }
}

fn le<const N: usize>(bytes: &[u8]) -> [u8; N] {
    bytes.try_into().unwrap_or([0; N])
}

pub fn read_int(dtype: DType, b: &[u8]) -> i64 {
    match dtype {
        DType::Int8 => i64::from(i8::from_le_bytes(le(b))),
        DType::Int16 => i64::from(i16::from_le_bytes(le(b))),
        DType::Int32 => i64::from(i32::from_le_bytes(le(b))),
        DType::Int64 => i64::from_le_bytes(le(b)),
        _ => 0,
    }
}

pub fn read_uint(dtype: DType, b: &[u8]) -> u64 {
    match dtype {
        DType::Bool | DType::UInt8 => u64::from(u8::from_le_bytes(le(b))),
        DType::UInt16 => u64::from(u16::from_le_bytes(le(b))),
        DType::UInt32 => u64::from(u32::from_le_bytes(le(b))),
        DType::UInt64 => u64::from_le_bytes(le(b)),
        _ => 0,
    }
}

pub fn read_float(dtype: DType, b: &[u8]) -> f64 {
    match dtype {
        DType::Float16 => f16::from_le_bytes(le(b)).to_f64(),
        DType::BFloat16 => bf16::from_le_bytes(le(b)).to_f64(),
        DType::Float32 => f64::from(f32::from_le_bytes(le(b))),
        DType::Float64 => f64::from_le_bytes(le(b)),
        _ => 0.0,
    }
}

/// Writes `v` as a float dtype, rounding to nearest even like NumPy (float16: straight from the
/// double, as NumPy does) and ml_dtypes (bfloat16: through float32, as ml_dtypes does).
pub fn write_float(dtype: DType, v: f64, out: &mut Vec<u8>) {
    match dtype {
        DType::Float16 => out.extend_from_slice(&f64_to_f16(v).to_le_bytes()),
        DType::BFloat16 => out.extend_from_slice(&bf16::from_f32(v as f32).to_le_bytes()),
        DType::Float32 => out.extend_from_slice(&(v as f32).to_le_bytes()),
        _ => out.extend_from_slice(&v.to_le_bytes()),
    }
}

/// Writes an integer as a float dtype, rounding once (NumPy converts int64 straight to float32,
/// and to float16 through float32, where every int of float16's range is exact).
pub fn write_int_as_float(dtype: DType, v: i128, out: &mut Vec<u8>) {
    match dtype {
        DType::Float16 => out.extend_from_slice(&f16::from_f32(v as f32).to_le_bytes()),
        DType::BFloat16 => out.extend_from_slice(&bf16::from_f32(v as f32).to_le_bytes()),
        DType::Float32 => out.extend_from_slice(&(v as f32).to_le_bytes()),
        _ => out.extend_from_slice(&(v as f64).to_le_bytes()),
    }
}

/// float64 to float16 rounded once to nearest even, as NumPy does. `half`'s own conversion goes
/// through float32 (rounding twice), so round to float32 *to odd* first: with 13 spare bits, a
/// final round to nearest even is then exact (the classic round-to-odd argument).
pub fn f64_to_f16(v: f64) -> f16 {
    let nearest = v as f32;
    if !nearest.is_finite() || f64::from(nearest) == v {
        return f16::from_f32(nearest);
    }
    // Truncate toward zero, then make the last bit odd to remember the bits dropped.
    let mut bits = nearest.to_bits();
    if f64::from(nearest).abs() > v.abs() {
        bits -= 1;
    }
    f16::from_f32(f32::from_bits(bits | 1))
}

/// Writes an integer known to fit `dtype` (an int dtype) as little-endian bytes.
pub fn write_int(dtype: DType, v: i128, out: &mut Vec<u8>) {
    let bytes = v.to_le_bytes();
    out.extend_from_slice(bytes.get(..dtype.itemsize()).unwrap_or_default());
}

/// Inclusive range of an integer dtype.
pub fn int_range(dtype: DType) -> (i128, i128) {
    match dtype {
        DType::Int8 => (i8::MIN.into(), i8::MAX.into()),
        DType::Int16 => (i16::MIN.into(), i16::MAX.into()),
        DType::Int32 => (i32::MIN.into(), i32::MAX.into()),
        DType::Int64 => (i64::MIN.into(), i64::MAX.into()),
        DType::UInt8 => (0, u8::MAX.into()),
        DType::UInt16 => (0, u16::MAX.into()),
        DType::UInt32 => (0, u32::MAX.into()),
        DType::UInt64 => (0, u64::MAX.into()),
        _ => (0, 1),
    }
}

/// Parses `VALUES` arguments (C order) into little-endian bytes of `dtype`. `expected` is the
/// number of numbers wanted (elements, or twice that for complex), known before allocating.
pub fn parse_values<'a>(
    dtype: DType,
    args: impl ExactSizeIterator<Item = &'a [u8]>,
    expected: usize,
) -> ArrayResult<Vec<u8>> {
    let per_element = dtype.values_per_element() as usize;
    if args.len() != expected {
        return Err(ArrayError::shape(format!(
            "got {} values, expected {expected}{}",
            args.len(),
            if per_element == 2 {
                " (real and imaginary parts alternate)"
            } else {
                ""
            }
        )));
    }
    let mut out = Vec::with_capacity(expected / per_element * dtype.itemsize());
    for (i, arg) in args.enumerate() {
        if let Err(e) = push_value(dtype, arg, &mut out) {
            return Err(refusal(dtype, arg)
                .unwrap_or_else(|| ArrayError::value(e))
                .context(format_args!("value {i}")));
        }
    }
    Ok(out)
}

/// A float literal into an int or bool array: NumPy's `same_kind` refusal (a Python float is a
/// float64), with its message; `None` for any other bad value.
fn refusal(dtype: DType, arg: &[u8]) -> Option<ArrayError> {
    let text = std::str::from_utf8(arg).ok()?.trim();
    let integral = matches!(dtype.kind(), Kind::Bool | Kind::Signed | Kind::Unsigned);
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    let int_literal = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    (integral && !int_literal && text.parse::<f64>().is_ok()).then(|| {
        ArrayError::dtype(format!(
            "Cannot cast scalar from dtype('float64') to dtype('{}') according to the rule 'same_kind'",
            dtype.name()
        ))
    })
}

fn push_value(dtype: DType, arg: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    let text = std::str::from_utf8(arg)
        .map_err(|_| "not valid UTF-8".to_string())?
        .trim();
    match dtype.kind() {
        Kind::Bool => {
            let v = match text.to_ascii_lowercase().as_str() {
                "1" | "true" => 1u8,
                "0" | "false" => 0u8,
                _ => return Err(format!("'{text}' is not a bool (use 0, 1, true or false)")),
            };
            out.push(v);
        }
        Kind::Signed | Kind::Unsigned => {
            let v: i128 = text
                .parse()
                .map_err(|_| format!("'{text}' is not an integer"))?;
            let (lo, hi) = int_range(dtype);
            if v < lo || v > hi {
                return Err(format!(
                    "{v} is out of range for {} ({lo} to {hi})",
                    dtype.name()
                ));
            }
            write_int(dtype, v, out);
        }
        // float32 parses straight from the text: through float64 would round twice.
        Kind::Float if dtype == DType::Float32 => {
            out.extend_from_slice(&parse_f32(text)?.to_le_bytes())
        }
        Kind::Float => write_float(dtype, parse_float(text)?, out),
        Kind::Complex => {
            let part = if dtype == DType::Complex64 {
                DType::Float32
            } else {
                DType::Float64
            };
            write_float(part, parse_float(text)?, out);
        }
    }
    Ok(())
}

fn parse_f32(text: &str) -> Result<f32, String> {
    text.parse::<f32>()
        .map_err(|_| format!("'{text}' is not a number (nan, inf and -inf are accepted)"))
}

/// Rust's float grammar plus the spellings people type: `nan`, `inf`, `-inf`, `+inf`.
fn parse_float(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .map_err(|_| format!("'{text}' is not a number (nan, inf and -inf are accepted)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&'static str]) -> impl ExactSizeIterator<Item = &'static [u8]> {
        v.iter()
            .copied()
            .map(str::as_bytes)
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn values_parse_for_every_kind() {
        assert_eq!(
            parse_values(DType::Int16, args(&["-2", "300"]), 2).unwrap(),
            [0xfe, 0xff, 0x2c, 0x01]
        );
        assert_eq!(
            parse_values(DType::Bool, args(&["true", "0", "1", "FALSE"]), 4).unwrap(),
            [1, 0, 1, 0]
        );
        let f = parse_values(DType::Float32, args(&["nan", "-inf", "1.5"]), 3).unwrap();
        assert!(f32::from_le_bytes(f[..4].try_into().unwrap()).is_nan());
        assert_eq!(
            f32::from_le_bytes(f[4..8].try_into().unwrap()),
            f32::NEG_INFINITY
        );
        let c = parse_values(DType::Complex64, args(&["1", "2"]), 2).unwrap();
        assert_eq!(scalar_at(DType::Complex64, &c), Scalar::Complex(1.0, 2.0));
        let u = parse_values(DType::UInt64, args(&["18446744073709551615"]), 1).unwrap();
        assert_eq!(scalar_at(DType::UInt64, &u), Scalar::UInt(u64::MAX));
    }

    #[test]
    fn bad_values_are_refused_with_their_position() {
        let e = parse_values(DType::Int8, args(&["1", "128"]), 2)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("value 1") && e.contains("out of range for int8"),
            "{e}"
        );
        assert!(parse_values(DType::UInt8, args(&["-1"]), 1).is_err());
        let e = parse_values(DType::Int32, args(&["1.5"]), 1).unwrap_err();
        assert_eq!(
            e.to_string(),
            "value 0: Cannot cast scalar from dtype('float64') to dtype('int32') according to the rule 'same_kind'"
        );
        assert_eq!(e.code(), "DTYPE");
        assert!(parse_values(DType::Float32, args(&["x"]), 1).is_err());
        assert!(parse_values(DType::Bool, args(&["2"]), 1).is_err());
        let e = parse_values(DType::Float32, args(&["1"]), 2)
            .unwrap_err()
            .to_string();
        assert!(e.contains("got 1 values, expected 2"), "{e}");
    }

    #[test]
    fn float64_to_float16_rounds_once() {
        // Just above a tie: rounding through float32 would make it a tie and round to even.
        assert_eq!(
            f64_to_f16(1.0 + 2f64.powi(-11) + 2f64.powi(-40)).to_bits(),
            0x3c01
        );
        assert_eq!(f64_to_f16(2049.0 + 2f64.powi(-30)).to_bits(), 0x6801);
        assert_eq!(f64_to_f16(2049.0).to_bits(), 0x6800);
        assert_eq!(
            f64_to_f16(-(1.0 + 2f64.powi(-11) + 2f64.powi(-40))).to_bits(),
            0xbc01
        );
        assert_eq!(f64_to_f16(1e10).to_bits(), 0x7c00);
        assert!(f64_to_f16(f64::NAN).is_nan());
        assert_eq!(
            f64_to_f16(2f64.powi(-25) + 2f64.powi(-60)).to_bits(),
            0x0001,
            "subnormal above a tie"
        );
    }

    #[test]
    fn half_precision_rounds_to_nearest_even() {
        let mut out = Vec::new();
        write_float(DType::Float16, 2049.0, &mut out);
        assert_eq!(read_float(DType::Float16, &out), 2048.0);
        out.clear();
        write_float(DType::BFloat16, 1.0 + 1.0 / 256.0, &mut out);
        assert_eq!(read_float(DType::BFloat16, &out), 1.0);
    }
}
