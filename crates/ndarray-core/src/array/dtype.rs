//! Element types: names users type, NumPy descr strings, sizes and the codes stored on disk.

use super::error::{ArrayError, ArrayResult};

/// An element type. The discriminant is the on-disk code: never renumber, only append.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DType {
    Bool = 0,
    Int8 = 1,
    Int16 = 2,
    Int32 = 3,
    Int64 = 4,
    UInt8 = 5,
    UInt16 = 6,
    UInt32 = 7,
    UInt64 = 8,
    Float16 = 9,
    BFloat16 = 10,
    Float32 = 11,
    Float64 = 12,
    Complex64 = 13,
    Complex128 = 14,
}

/// What kind of number an element is; drives parsing, formatting and the cast rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Signed,
    Unsigned,
    Float,
    Complex,
}

impl DType {
    pub const ALL: [DType; 15] = [
        DType::Bool,
        DType::Int8,
        DType::Int16,
        DType::Int32,
        DType::Int64,
        DType::UInt8,
        DType::UInt16,
        DType::UInt32,
        DType::UInt64,
        DType::Float16,
        DType::BFloat16,
        DType::Float32,
        DType::Float64,
        DType::Complex64,
        DType::Complex128,
    ];

    /// Bytes per element.
    pub const fn itemsize(self) -> usize {
        match self {
            DType::Bool | DType::Int8 | DType::UInt8 => 1,
            DType::Int16 | DType::UInt16 | DType::Float16 | DType::BFloat16 => 2,
            DType::Int32 | DType::UInt32 | DType::Float32 => 4,
            DType::Int64 | DType::UInt64 | DType::Float64 | DType::Complex64 => 8,
            DType::Complex128 => 16,
        }
    }

    pub const fn kind(self) -> Kind {
        match self {
            DType::Bool => Kind::Bool,
            DType::Int8 | DType::Int16 | DType::Int32 | DType::Int64 => Kind::Signed,
            DType::UInt8 | DType::UInt16 | DType::UInt32 | DType::UInt64 => Kind::Unsigned,
            DType::Float16 | DType::BFloat16 | DType::Float32 | DType::Float64 => Kind::Float,
            DType::Complex64 | DType::Complex128 => Kind::Complex,
        }
    }

    /// How many numbers `VALUES` takes per element: real and imaginary parts for complex dtypes.
    pub const fn values_per_element(self) -> u64 {
        match self.kind() {
            Kind::Complex => 2,
            _ => 1,
        }
    }

    /// The canonical (NumPy) name, as shown by `NDARRAY.INFO`.
    pub const fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::Int8 => "int8",
            DType::Int16 => "int16",
            DType::Int32 => "int32",
            DType::Int64 => "int64",
            DType::UInt8 => "uint8",
            DType::UInt16 => "uint16",
            DType::UInt32 => "uint32",
            DType::UInt64 => "uint64",
            DType::Float16 => "float16",
            DType::BFloat16 => "bfloat16",
            DType::Float32 => "float32",
            DType::Float64 => "float64",
            DType::Complex64 => "complex64",
            DType::Complex128 => "complex128",
        }
    }

    /// The `descr` written into `.npy` headers (always little-endian).
    pub const fn npy_descr(self) -> &'static str {
        match self {
            DType::Bool => "|b1",
            DType::Int8 => "|i1",
            DType::Int16 => "<i2",
            DType::Int32 => "<i4",
            DType::Int64 => "<i8",
            DType::UInt8 => "|u1",
            DType::UInt16 => "<u2",
            DType::UInt32 => "<u4",
            DType::UInt64 => "<u8",
            DType::Float16 => "<f2",
            // ml_dtypes registers this name; np.load resolves it once ml_dtypes is imported.
            DType::BFloat16 => "bfloat16",
            DType::Float32 => "<f4",
            DType::Float64 => "<f8",
            DType::Complex64 => "<c8",
            DType::Complex128 => "<c16",
        }
    }

    /// The on-disk code (see the enum's discriminants).
    pub const fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u64) -> Option<DType> {
        DType::ALL
            .iter()
            .copied()
            .find(|d| u64::from(d.code()) == code)
    }

    /// Parses a user-facing dtype name: canonical names, RedisAI aliases and NumPy type strings,
    /// all case-insensitive. Byte order in a NumPy string must be little (`<`), native (`=`) or
    /// not applicable (`|`); big-endian data only arrives through `.npy`, see [`parse_descr`].
    pub fn parse(name: &[u8]) -> ArrayResult<DType> {
        match parse_descr(name) {
            Some((dtype, ByteOrder::Little)) => Ok(dtype),
            _ => Err(ArrayError::dtype(format!(
                "unknown dtype '{}' (expected one of: {})",
                name.escape_ascii(),
                DType::ALL.map(DType::name).join(", ")
            ))),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteOrder {
    Little,
    Big,
}

/// Parses a dtype name or NumPy type string and reports its byte order.
/// Returns `None` for anything we do not support (object, structured, strings, …).
pub fn parse_descr(text: &[u8]) -> Option<(DType, ByteOrder)> {
    // The names clients send most, spelt as the module prints them: no search.
    let common = match text {
        b"float32" => Some(DType::Float32),
        b"float64" => Some(DType::Float64),
        b"float16" => Some(DType::Float16),
        b"<f4" => Some(DType::Float32),
        b"<f8" => Some(DType::Float64),
        b"<f2" => Some(DType::Float16),
        _ => None,
    };
    if let Some(dtype) = common {
        return Some((dtype, ByteOrder::Little));
    }
    let text = std::str::from_utf8(text).ok()?.trim();
    // Names and aliases are case-insensitive; NumPy type strings are not ('<U2' is a unicode
    // string, not '<u2'). Compared in place: this runs on every NDARRAY.SET.
    let named = DType::ALL
        .iter()
        .map(|&d| (d.name(), d))
        // RedisAI tensor type names.
        .chain([
            ("float", DType::Float32),
            ("double", DType::Float64),
            ("half", DType::Float16),
        ])
        .find(|(name, _)| name.eq_ignore_ascii_case(text));
    if let Some((_, dtype)) = named {
        return Some((dtype, ByteOrder::Little));
    }
    let (order, code) = match text.as_bytes().first()? {
        b'<' | b'=' => (Some(ByteOrder::Little), text.get(1..)?),
        b'|' => (None, text.get(1..)?),
        b'>' => (Some(ByteOrder::Big), text.get(1..)?),
        _ => (None, text),
    };
    let dtype = match code {
        "?" | "b1" => DType::Bool,
        "i1" => DType::Int8,
        "i2" => DType::Int16,
        "i4" => DType::Int32,
        "i8" => DType::Int64,
        "u1" => DType::UInt8,
        "u2" => DType::UInt16,
        "u4" => DType::UInt32,
        "u8" => DType::UInt64,
        "f2" => DType::Float16,
        "f4" => DType::Float32,
        "f8" => DType::Float64,
        "c8" => DType::Complex64,
        "c16" => DType::Complex128,
        _ => return None,
    };
    // A byte order on a one-byte type means nothing; NumPy writes '|'.
    let order = match order {
        Some(o) if dtype.itemsize() > 1 => o,
        _ => ByteOrder::Little,
    };
    Some((dtype, order))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_names_numpy_strings_and_aliases_parse() {
        assert_eq!(DType::parse(b"float32"), Ok(DType::Float32));
        assert_eq!(DType::parse(b"FLOAT"), Ok(DType::Float32));
        assert_eq!(DType::parse(b"Double"), Ok(DType::Float64));
        assert_eq!(DType::parse(b"<f4"), Ok(DType::Float32));
        assert_eq!(DType::parse(b"f4"), Ok(DType::Float32));
        assert_eq!(DType::parse(b"|u1"), Ok(DType::UInt8));
        assert_eq!(DType::parse(b"<c8"), Ok(DType::Complex64));
        assert_eq!(DType::parse(b"UINT16"), Ok(DType::UInt16));
        assert_eq!(DType::parse(b"BOOL"), Ok(DType::Bool));
        assert_eq!(DType::parse(b"bfloat16"), Ok(DType::BFloat16));
        assert_eq!(DType::parse(b">i1"), Ok(DType::Int8));
    }

    #[test]
    fn unknown_and_big_endian_names_are_refused_with_the_list() {
        let err = DType::parse(b"float128").unwrap_err().to_string();
        assert!(err.contains("unknown dtype 'float128'"), "{err}");
        assert!(err.contains("complex128"), "{err}");
        assert!(DType::parse(b">f4").is_err());
        assert!(DType::parse(b"|O").is_err());
        assert!(DType::parse(b"").is_err());
        assert!(DType::parse(&[0xff, 0xfe]).is_err());
        assert!(
            DType::parse(b"<U2").is_err(),
            "unicode strings are not uint16"
        );
        assert!(DType::parse(b"F4").is_err());
    }

    #[test]
    fn codes_round_trip_and_descrs_reparse() {
        for d in DType::ALL {
            assert_eq!(DType::from_code(u64::from(d.code())), Some(d));
            assert_eq!(
                parse_descr(d.npy_descr().as_bytes()),
                Some((d, ByteOrder::Little))
            );
        }
        assert_eq!(DType::from_code(15), None);
        assert_eq!(parse_descr(b">f8"), Some((DType::Float64, ByteOrder::Big)));
    }
}
