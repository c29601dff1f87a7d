//! Element types: the spellings users type and `.npy` descrs hold (NumPy's, meaning what they mean
//! in NumPy 2), sizes and the codes stored on disk.

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

    /// Parses a user-facing dtype spelling: every string `np.dtype()` (NumPy 2) reads as one of
    /// ours, meaning what it means there (`float` is float64, `f` float32, `?` bool), plus
    /// ml_dtypes' `bfloat16`; see [`parse_descr`]. The byte order must be little (`<`), native
    /// (`=`) or not applicable (`|`): big-endian data only arrives through `.npy`.
    pub fn parse(name: &[u8]) -> ArrayResult<DType> {
        match parse_descr(name) {
            Some((dtype, ByteOrder::Little)) => Ok(dtype),
            Some((dtype, ByteOrder::Big)) => Err(ArrayError::dtype(format!(
                "dtype '{}' is big-endian, which only a .npy file may hold (the server stores \
                 little-endian {}: pass '{}' or '{}')",
                name.escape_ascii(),
                dtype.name(),
                dtype.name(),
                dtype.npy_descr()
            ))),
            None => {
                let numpy = std::str::from_utf8(name)
                    .ok()
                    .and_then(numpy_name_of_unsupported)
                    .map(|numpy| format!("NumPy's {numpy} is not supported; "))
                    .unwrap_or_default();
                Err(ArrayError::dtype(format!(
                    "unknown dtype '{}' ({numpy}expected one of: {})",
                    name.escape_ascii(),
                    supported_names()
                )))
            }
        }
    }
}

/// The supported dtypes' names, for error messages.
pub(crate) fn supported_names() -> String {
    DType::ALL.map(DType::name).join(", ")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteOrder {
    Little,
    Big,
}

/// C's `long` (`'l'`, `'long'`): 64 bits on Linux and macOS, 32 on Windows, as in NumPy there.
const C_LONG: DType = signed_of_size(std::mem::size_of::<std::ffi::c_long>());
const C_ULONG: DType = unsigned_of_size(std::mem::size_of::<std::ffi::c_ulong>());
/// NumPy's `intp`, which NumPy 2's `int_`, `int`, `'p'` and `'n'` name: pointer-sized.
const INTP: DType = signed_of_size(std::mem::size_of::<isize>());
const UINTP: DType = unsigned_of_size(std::mem::size_of::<usize>());

const fn signed_of_size(bytes: usize) -> DType {
    match bytes {
        1 => DType::Int8,
        2 => DType::Int16,
        4 => DType::Int32,
        _ => DType::Int64,
    }
}

const fn unsigned_of_size(bytes: usize) -> DType {
    match bytes {
        1 => DType::UInt8,
        2 => DType::UInt16,
        4 => DType::UInt32,
        _ => DType::UInt64,
    }
}

/// NumPy's names of our dtypes (`np.sctypeDict`'s keys) and ml_dtypes' `bfloat16`. Compared
/// case-insensitively (`FLOAT32`: an extension; no name is a type code in another case).
/// NumPy 2 removed `float_`, `complex_`, `cfloat` and `bool8`: refused here too.
const NAMES: [(&str, DType); 38] = [
    ("bool", DType::Bool),
    ("bool_", DType::Bool),
    ("int8", DType::Int8),
    ("byte", DType::Int8),
    ("int16", DType::Int16),
    ("short", DType::Int16),
    ("int32", DType::Int32),
    ("intc", DType::Int32),
    ("int64", DType::Int64),
    ("longlong", DType::Int64),
    ("long", C_LONG),
    ("intp", INTP),
    ("int_", INTP),
    ("int", INTP),
    ("uint8", DType::UInt8),
    ("ubyte", DType::UInt8),
    ("uint16", DType::UInt16),
    ("ushort", DType::UInt16),
    ("uint32", DType::UInt32),
    ("uintc", DType::UInt32),
    ("uint64", DType::UInt64),
    ("ulonglong", DType::UInt64),
    ("ulong", C_ULONG),
    ("uintp", UINTP),
    ("uint", UINTP),
    ("float16", DType::Float16),
    ("half", DType::Float16),
    ("bfloat16", DType::BFloat16),
    ("float32", DType::Float32),
    ("single", DType::Float32),
    ("float64", DType::Float64),
    ("double", DType::Float64),
    ("float", DType::Float64),
    ("complex64", DType::Complex64),
    ("csingle", DType::Complex64),
    ("complex128", DType::Complex128),
    ("cdouble", DType::Complex128),
    ("complex", DType::Complex128),
];

/// Parses a dtype spelling or NumPy type string and reports its byte order: what `np.dtype()`
/// reads (a name such as `float64` or `single`; a type code such as `d`, `?` or `F`; a kind and
/// size such as `f8` or `b1`; a code or kind+size after `<`, `=`, `|` or `>`), and `bfloat16`.
/// Type codes are case-sensitive as in NumPy (`F` is complex64, `f` float32); names are not.
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
    if let Some(found) = parse_type_string(text) {
        return Some(found);
    }
    // No surrounding spaces: NumPy refuses ' f4' and 'float32 ' too.
    let text = std::str::from_utf8(text).ok()?;
    NAMES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(text))
        .map(|&(_, dtype)| (dtype, ByteOrder::Little))
}

/// A NumPy type string: an optional byte order, then a one-character type code (`d`) or a kind
/// letter and an item size (`f8`), as NumPy's `_convert_from_str` reads it.
fn parse_type_string(text: &[u8]) -> Option<(DType, ByteOrder)> {
    let (order, code) = match text.split_first()? {
        (b'<' | b'=' | b'|', code) => (ByteOrder::Little, code),
        (b'>', code) => (ByteOrder::Big, code),
        _ => (ByteOrder::Little, text),
    };
    let (&kind, size) = code.split_first()?;
    let dtype = if size.is_empty() {
        type_code(kind)?
    } else {
        sized_type(kind, item_size(size)?)?
    };
    // A byte order on a one-byte type means nothing; NumPy writes '|'.
    let order = if dtype.itemsize() == 1 {
        ByteOrder::Little
    } else {
        order
    };
    Some((dtype, order))
}

/// NumPy's one-character type codes (`np.typecodes['All']`) of our dtypes.
fn type_code(code: u8) -> Option<DType> {
    Some(match code {
        b'?' => DType::Bool,
        b'b' => DType::Int8,
        b'B' => DType::UInt8,
        b'h' => DType::Int16,
        b'H' => DType::UInt16,
        b'i' => DType::Int32,
        b'I' => DType::UInt32,
        b'l' => C_LONG,
        b'L' => C_ULONG,
        b'q' => DType::Int64,
        b'Q' => DType::UInt64,
        b'n' | b'p' => INTP,
        b'N' | b'P' => UINTP,
        b'e' => DType::Float16,
        b'f' => DType::Float32,
        b'd' => DType::Float64,
        b'F' => DType::Complex64,
        b'D' => DType::Complex128,
        _ => return None,
    })
}

/// A kind letter and an item size in bytes (`PyArray_TypestrConvert`): `b1` is bool, `i`/`u`
/// sized ints, `f` and `c` floats and complex.
fn sized_type(kind: u8, size: u64) -> Option<DType> {
    Some(match (kind, size) {
        (b'b', 1) => DType::Bool,
        (b'i', 1) => DType::Int8,
        (b'i', 2) => DType::Int16,
        (b'i', 4) => DType::Int32,
        (b'i', 8) => DType::Int64,
        (b'u', 1) => DType::UInt8,
        (b'u', 2) => DType::UInt16,
        (b'u', 4) => DType::UInt32,
        (b'u', 8) => DType::UInt64,
        (b'f', 2) => DType::Float16,
        (b'f', 4) => DType::Float32,
        (b'f', 8) => DType::Float64,
        (b'c', 8) => DType::Complex64,
        (b'c', 16) => DType::Complex128,
        _ => return None,
    })
}

/// The size after a kind letter as NumPy reads it, with C's `strtol` over the whole rest: leading
/// whitespace, an optional `+` and decimal digits, so `f04` and `f +4` are float32 there and here.
/// A negative or overflowing size names no type.
fn item_size(text: &[u8]) -> Option<u64> {
    let start = text
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))?;
    let unsigned = text.get(start..)?;
    let digits = unsigned.strip_prefix(b"+").unwrap_or(unsigned);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// NumPy's name of the type a type code spells when it is one we do not store (`g` is
/// longdouble, `<U5` str), for error messages; `None` for names (they say it themselves) and for
/// anything NumPy does not read either.
pub(crate) fn numpy_name_of_unsupported(text: &str) -> Option<&'static str> {
    let code = text.strip_prefix(['<', '>', '=', '|']).unwrap_or(text);
    let (&kind, rest) = code.as_bytes().split_first()?;
    let sized = rest.iter().all(u8::is_ascii_digit);
    Some(match kind {
        b'g' if rest.is_empty() => "longdouble",
        b'f' if rest == b"16" => "longdouble",
        b'G' if rest.is_empty() => "clongdouble",
        b'c' if rest == b"32" => "clongdouble",
        b'c' if rest.is_empty() => "bytes",
        b'S' | b'a' if sized => "bytes",
        b'U' if sized => "str",
        b'V' if sized => "void",
        b'O' if matches!(rest, b"" | b"4" | b"8") => "object",
        b'M' if rest.is_empty() || rest.starts_with(b"8") => "datetime64",
        b'm' if rest.is_empty() || rest.starts_with(b"8") => "timedelta64",
        b'T' if rest.is_empty() => "StringDType",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every string `np.dtype()` reads as one of our dtypes, with its `.name` and whether it is
    /// big-endian, generated from NumPy 2.4 on x86-64 Linux (without ml_dtypes, whose names are not
    /// NumPy's): `np.sctypeDict`'s keys, and `np.typecodes['All']` and the kinds `biufc?` with sizes
    /// 1, 2, 4, 8, 16, each bare and after `<`, `=`, `|` and `>`; the 207 that `np.dtype()` accepts
    /// with a supported `.name`.
    const NUMPY_SPELLINGS: [(&str, &str, bool); 207] = [
        ("<?", "bool", false),
        ("<B", "uint8", false),
        ("<D", "complex128", false),
        ("<F", "complex64", false),
        ("<H", "uint16", false),
        ("<I", "uint32", false),
        ("<L", "uint64", false),
        ("<N", "uint64", false),
        ("<P", "uint64", false),
        ("<Q", "uint64", false),
        ("<b", "int8", false),
        ("<b1", "bool", false),
        ("<c16", "complex128", false),
        ("<c8", "complex64", false),
        ("<d", "float64", false),
        ("<e", "float16", false),
        ("<f", "float32", false),
        ("<f2", "float16", false),
        ("<f4", "float32", false),
        ("<f8", "float64", false),
        ("<h", "int16", false),
        ("<i", "int32", false),
        ("<i1", "int8", false),
        ("<i2", "int16", false),
        ("<i4", "int32", false),
        ("<i8", "int64", false),
        ("<l", "int64", false),
        ("<n", "int64", false),
        ("<p", "int64", false),
        ("<q", "int64", false),
        ("<u1", "uint8", false),
        ("<u2", "uint16", false),
        ("<u4", "uint32", false),
        ("<u8", "uint64", false),
        ("=?", "bool", false),
        ("=B", "uint8", false),
        ("=D", "complex128", false),
        ("=F", "complex64", false),
        ("=H", "uint16", false),
        ("=I", "uint32", false),
        ("=L", "uint64", false),
        ("=N", "uint64", false),
        ("=P", "uint64", false),
        ("=Q", "uint64", false),
        ("=b", "int8", false),
        ("=b1", "bool", false),
        ("=c16", "complex128", false),
        ("=c8", "complex64", false),
        ("=d", "float64", false),
        ("=e", "float16", false),
        ("=f", "float32", false),
        ("=f2", "float16", false),
        ("=f4", "float32", false),
        ("=f8", "float64", false),
        ("=h", "int16", false),
        ("=i", "int32", false),
        ("=i1", "int8", false),
        ("=i2", "int16", false),
        ("=i4", "int32", false),
        ("=i8", "int64", false),
        ("=l", "int64", false),
        ("=n", "int64", false),
        ("=p", "int64", false),
        ("=q", "int64", false),
        ("=u1", "uint8", false),
        ("=u2", "uint16", false),
        ("=u4", "uint32", false),
        ("=u8", "uint64", false),
        (">?", "bool", false),
        (">B", "uint8", false),
        (">D", "complex128", true),
        (">F", "complex64", true),
        (">H", "uint16", true),
        (">I", "uint32", true),
        (">L", "uint64", true),
        (">N", "uint64", true),
        (">P", "uint64", true),
        (">Q", "uint64", true),
        (">b", "int8", false),
        (">b1", "bool", false),
        (">c16", "complex128", true),
        (">c8", "complex64", true),
        (">d", "float64", true),
        (">e", "float16", true),
        (">f", "float32", true),
        (">f2", "float16", true),
        (">f4", "float32", true),
        (">f8", "float64", true),
        (">h", "int16", true),
        (">i", "int32", true),
        (">i1", "int8", false),
        (">i2", "int16", true),
        (">i4", "int32", true),
        (">i8", "int64", true),
        (">l", "int64", true),
        (">n", "int64", true),
        (">p", "int64", true),
        (">q", "int64", true),
        (">u1", "uint8", false),
        (">u2", "uint16", true),
        (">u4", "uint32", true),
        (">u8", "uint64", true),
        ("?", "bool", false),
        ("B", "uint8", false),
        ("D", "complex128", false),
        ("F", "complex64", false),
        ("H", "uint16", false),
        ("I", "uint32", false),
        ("L", "uint64", false),
        ("N", "uint64", false),
        ("P", "uint64", false),
        ("Q", "uint64", false),
        ("b", "int8", false),
        ("b1", "bool", false),
        ("bool", "bool", false),
        ("bool_", "bool", false),
        ("byte", "int8", false),
        ("c16", "complex128", false),
        ("c8", "complex64", false),
        ("cdouble", "complex128", false),
        ("complex", "complex128", false),
        ("complex128", "complex128", false),
        ("complex64", "complex64", false),
        ("csingle", "complex64", false),
        ("d", "float64", false),
        ("double", "float64", false),
        ("e", "float16", false),
        ("f", "float32", false),
        ("f2", "float16", false),
        ("f4", "float32", false),
        ("f8", "float64", false),
        ("float", "float64", false),
        ("float16", "float16", false),
        ("float32", "float32", false),
        ("float64", "float64", false),
        ("h", "int16", false),
        ("half", "float16", false),
        ("i", "int32", false),
        ("i1", "int8", false),
        ("i2", "int16", false),
        ("i4", "int32", false),
        ("i8", "int64", false),
        ("int", "int64", false),
        ("int16", "int16", false),
        ("int32", "int32", false),
        ("int64", "int64", false),
        ("int8", "int8", false),
        ("int_", "int64", false),
        ("intc", "int32", false),
        ("intp", "int64", false),
        ("l", "int64", false),
        ("long", "int64", false),
        ("longlong", "int64", false),
        ("n", "int64", false),
        ("p", "int64", false),
        ("q", "int64", false),
        ("short", "int16", false),
        ("single", "float32", false),
        ("u1", "uint8", false),
        ("u2", "uint16", false),
        ("u4", "uint32", false),
        ("u8", "uint64", false),
        ("ubyte", "uint8", false),
        ("uint", "uint64", false),
        ("uint16", "uint16", false),
        ("uint32", "uint32", false),
        ("uint64", "uint64", false),
        ("uint8", "uint8", false),
        ("uintc", "uint32", false),
        ("uintp", "uint64", false),
        ("ulong", "uint64", false),
        ("ulonglong", "uint64", false),
        ("ushort", "uint16", false),
        ("|?", "bool", false),
        ("|B", "uint8", false),
        ("|D", "complex128", false),
        ("|F", "complex64", false),
        ("|H", "uint16", false),
        ("|I", "uint32", false),
        ("|L", "uint64", false),
        ("|N", "uint64", false),
        ("|P", "uint64", false),
        ("|Q", "uint64", false),
        ("|b", "int8", false),
        ("|b1", "bool", false),
        ("|c16", "complex128", false),
        ("|c8", "complex64", false),
        ("|d", "float64", false),
        ("|e", "float16", false),
        ("|f", "float32", false),
        ("|f2", "float16", false),
        ("|f4", "float32", false),
        ("|f8", "float64", false),
        ("|h", "int16", false),
        ("|i", "int32", false),
        ("|i1", "int8", false),
        ("|i2", "int16", false),
        ("|i4", "int32", false),
        ("|i8", "int64", false),
        ("|l", "int64", false),
        ("|n", "int64", false),
        ("|p", "int64", false),
        ("|q", "int64", false),
        ("|u1", "uint8", false),
        ("|u2", "uint16", false),
        ("|u4", "uint32", false),
        ("|u8", "uint64", false),
    ];

    #[test]
    fn every_numpy_spelling_of_a_supported_dtype_means_what_numpy_says() {
        for (spelling, name, big) in NUMPY_SPELLINGS {
            let order = if big {
                ByteOrder::Big
            } else {
                ByteOrder::Little
            };
            let found = parse_descr(spelling.as_bytes()).map(|(d, o)| (d.name(), o));
            assert_eq!(found, Some((name, order)), "{spelling}");
            let parsed = DType::parse(spelling.as_bytes()).map(DType::name);
            if big {
                assert!(parsed.is_err(), "{spelling}");
            } else {
                assert_eq!(parsed, Ok(name), "{spelling}");
            }
        }
    }

    #[test]
    fn float_is_float64_and_single_letter_codes_are_case_sensitive() {
        assert_eq!(DType::parse(b"float"), Ok(DType::Float64));
        assert_eq!(DType::parse(b"FLOAT"), Ok(DType::Float64));
        assert_eq!(DType::parse(b"f"), Ok(DType::Float32));
        assert_eq!(DType::parse(b"F"), Ok(DType::Complex64));
        assert_eq!(DType::parse(b"d"), Ok(DType::Float64));
        assert_eq!(DType::parse(b"D"), Ok(DType::Complex128));
        assert_eq!(DType::parse(b"b"), Ok(DType::Int8));
        assert_eq!(DType::parse(b"B"), Ok(DType::UInt8));
        assert_eq!(DType::parse(b"complex"), Ok(DType::Complex128));
        assert_eq!(DType::parse(b"int"), Ok(DType::Int64));
        for refused in [
            "F4", "B1", "I4", "U2", "<U2", "E", "?1", "b2", "i16", "f12", "c4",
        ] {
            assert!(DType::parse(refused.as_bytes()).is_err(), "{refused}");
        }
    }

    #[test]
    fn names_are_case_insensitive_and_never_a_type_code_in_another_case() {
        for (name, dtype) in NAMES {
            assert_eq!(DType::parse(name.as_bytes()), Ok(dtype), "{name}");
            let upper = name.to_ascii_uppercase();
            assert_eq!(DType::parse(upper.as_bytes()), Ok(dtype), "{upper}");
            assert!(parse_type_string(upper.as_bytes()).is_none(), "{upper}");
            assert!(parse_type_string(name.as_bytes()).is_none(), "{name}");
        }
        for d in DType::ALL {
            assert_eq!(DType::parse(d.name().as_bytes()), Ok(d));
        }
        assert_eq!(DType::parse(b"BFloat16"), Ok(DType::BFloat16));
    }

    #[test]
    fn item_sizes_are_read_as_numpy_reads_them() {
        for spelling in ["f04", "<f+4", "f 4", "f\t+4", "i0008", "b01"] {
            assert!(DType::parse(spelling.as_bytes()).is_ok(), "{spelling}");
        }
        assert_eq!(DType::parse(b"i0008"), Ok(DType::Int64));
        for spelling in [
            "f-4",
            "f+ 4",
            "f4 ",
            " f4",
            "float32 ",
            "f4294967300",
            "f99999999999999999999",
            "<",
        ] {
            assert!(DType::parse(spelling.as_bytes()).is_err(), "{spelling:?}");
        }
    }

    #[test]
    fn names_numpy_2_removed_and_prefixed_names_are_refused() {
        for refused in [
            "float_", "complex_", "cfloat", "bool8", "int0", "uint0", "<float32", ">int16", "|bool",
        ] {
            assert!(parse_descr(refused.as_bytes()).is_none(), "{refused}");
        }
    }

    #[test]
    fn numpy_spellings_of_unsupported_types_are_refused_naming_the_supported() {
        // Strings np.dtype() accepts for types we do not store (same generation as above).
        for spelling in [
            "<G",
            "<M",
            "<M8[ns]",
            "<O",
            "<S",
            "<U",
            "<U5",
            "<V",
            "<f16",
            "<g",
            "<m",
            "<m8[s]",
            ">G",
            ">M",
            ">O",
            ">S",
            ">U",
            ">V",
            ">c32",
            ">g",
            ">m",
            "G",
            "M",
            "M8[ns]",
            "O",
            "O8",
            "S",
            "S5",
            "U",
            "U5",
            "V",
            "V2",
            "a",
            "a5",
            "bytes",
            "bytes_",
            "c32",
            "clongdouble",
            "complex256",
            "datetime64",
            "f16",
            "float128",
            "g",
            "longdouble",
            "m",
            "m8",
            "object",
            "object_",
            "str",
            "str_",
            "timedelta64",
            "unicode",
            "void",
            "|O",
            "|S5",
            "|V2",
            "T",
            "c",
        ] {
            assert_eq!(parse_descr(spelling.as_bytes()), None, "{spelling}");
            let err = DType::parse(spelling.as_bytes()).unwrap_err().to_string();
            assert!(err.contains("expected one of: bool, int8, int16, int32, int64, uint8, uint16, uint32, uint64, float16, bfloat16, float32, float64, complex64, complex128"), "{err}");
        }
        let err = DType::parse(b"float128").unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "unknown dtype 'float128' (expected one of: {})",
                supported_names()
            )
        );
        let err = DType::parse(b"g").unwrap_err().to_string();
        assert!(
            err.starts_with(
                "unknown dtype 'g' (NumPy's longdouble is not supported; expected one of: bool,"
            ),
            "{err}"
        );
        let err = DType::parse(b"<U5").unwrap_err().to_string();
        assert!(err.contains("NumPy's str is not supported"), "{err}");
        let err = DType::parse(b"M8[ns]").unwrap_err().to_string();
        assert!(err.contains("NumPy's datetime64 is not supported"), "{err}");
    }

    #[test]
    fn unknown_and_big_endian_names_are_refused_with_the_list() {
        let err = DType::parse(b">f4").unwrap_err().to_string();
        assert!(err.contains("big-endian"), "{err}");
        assert!(err.contains("'float32' or '<f4'"), "{err}");
        assert_eq!(DType::parse(b">i1"), Ok(DType::Int8));
        assert_eq!(DType::parse(b">?"), Ok(DType::Bool));
        assert!(DType::parse(b"").is_err());
        let err = DType::parse(&[0xff, 0xfe]).unwrap_err().to_string();
        assert!(
            err.starts_with("unknown dtype '\\xff\\xfe' (expected"),
            "{err}"
        );
        assert!(DType::parse(b"nope").is_err());
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
