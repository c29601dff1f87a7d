//! NumPy `.npy` files: reading any C- or Fortran-order, little- or big-endian file of a supported dtype,
//! and writing C-order little-endian ones byte-for-byte as `np.save` does.
//!
//! Layout: `\x93NUMPY`, major, minor, header length (u16 LE in 1.0, u32 LE in 2.0/3.0), then a Python
//! dict literal `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }` padded with spaces and a
//! final `\n` so the data starts at a multiple of 64, then the raw elements.

use std::borrow::Cow;

use super::dtype::{
    numpy_name_of_unsupported, parse_descr, supported_names, ByteOrder, DType, Kind,
};
use super::error::{ArrayError, ArrayResult};
use super::shape::Shape;

const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// NumPy pads headers so the data starts at a multiple of this (`numpy.lib.format.ARRAY_ALIGN`).
const ARRAY_ALIGN: usize = 64;
/// NumPy leaves room after the dict for the growing axis to reach this many digits in place
/// (`GROWTH_AXIS_MAX_DIGITS`); we copy it so our headers are byte-identical to `np.save`'s.
const GROWTH_AXIS_MAX_DIGITS: usize = 21;
/// Longest header we parse. `np.load` stops at 10,000 bytes; a valid header of ours is under 1,000.
const MAX_HEADER_LEN: u32 = 65536;

/// A decoded .npy: dtype, shape, and C-order little-endian element bytes (borrowed when the file
/// already is C-order LE, owned otherwise).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpyArray<'a> {
    pub dtype: DType,
    pub shape: Shape,
    pub data: Cow<'a, [u8]>,
}

/// Parses and validates a whole .npy file. `max_bytes` is the module's max-array-bytes limit: the
/// shape's byte size is checked against it before anything is allocated.
pub fn decode_npy(file: &[u8], max_bytes: u64) -> ArrayResult<NpyArray<'_>> {
    let (header, data) = split_header(file)?;
    let header = parse_header(header)?;
    let (dtype, order) = dtype_of_descr(header.descr)?;
    let shape = Shape::new(header.dims, dtype).map_err(|e| e.context("npy shape"))?;
    let nbytes = shape.nbytes_within(dtype, max_bytes)?;
    if data.len() != nbytes {
        return Err(ArrayError::npy(format!(
            "npy data is {} bytes, {} with shape {shape} needs {nbytes}",
            data.len(),
            dtype.name()
        )));
    }
    // At most one copy, and only when the file is not already C-order little-endian.
    let transpose = header.fortran_order && !same_in_both_orders(shape.dims());
    let swap = order == ByteOrder::Big;
    let data = match (transpose, swap) {
        (false, false) => Cow::Borrowed(data),
        (false, true) => {
            let mut owned = data.to_vec();
            swap_to_little(&mut owned, dtype);
            Cow::Owned(owned)
        }
        (true, _) => {
            let mut owned = fortran_to_c(data, shape.dims(), dtype.itemsize())?;
            if swap {
                swap_to_little(&mut owned, dtype);
            }
            Cow::Owned(owned)
        }
    };
    Ok(NpyArray { dtype, shape, data })
}

/// The header of the previous file of a batch (MSET), with what it decoded to: a batch of
/// embeddings repeats one header, which then costs a comparison instead of a parse.
pub type LastHeader = Option<(Vec<u8>, DType, Shape)>;

/// [`decode_npy`] for one file of a batch: when `file` starts with the same header bytes as the
/// previous one (and was C-order little-endian, so its data is used in place), its dtype and
/// shape are taken from it; the data's length is checked as always.
pub fn decode_npy_repeated<'a>(
    file: &'a [u8],
    max_bytes: u64,
    last: &mut LastHeader,
) -> ArrayResult<NpyArray<'a>> {
    if let Some((header, dtype, shape)) = last {
        if let Some(data) = file.strip_prefix(header.as_slice()) {
            if data.len() as u64 == shape.size().saturating_mul(dtype.itemsize() as u64) {
                return Ok(NpyArray {
                    dtype: *dtype,
                    shape: shape.clone(),
                    data: Cow::Borrowed(data),
                });
            }
        }
    }
    let npy = decode_npy(file, max_bytes)?;
    if let Cow::Borrowed(data) = &npy.data {
        let header_len = file.len() - data.len();
        *last = file
            .get(..header_len)
            .map(|h| (h.to_vec(), npy.dtype, npy.shape.clone()));
    }
    Ok(npy)
}

/// The complete header (magic, version, header length, dict, padding, '\n') for a C-order
/// little-endian array; version 1.0 unless the dict needs more than a u16 length (then 2.0).
/// Its length is a multiple of 64.
pub fn npy_header(dtype: DType, shape: &Shape) -> Vec<u8> {
    let mut out = Vec::new();
    write_npy_header(&mut out, dtype, shape);
    out
}

/// Header + data in one Vec, allocated once with the exact capacity.
pub fn encode_npy(dtype: DType, shape: &Shape, data: &[u8]) -> Vec<u8> {
    let mut file = Vec::with_capacity(header_len(dtype, shape) + data.len());
    write_npy_header(&mut file, dtype, shape);
    file.extend_from_slice(data);
    file
}

/// Appends the header [`npy_header`] returns to `out`, with no allocation of its own: every
/// `NDARRAY.GET` of a small array writes one.
pub fn write_npy_header(out: &mut Vec<u8>, dtype: DType, shape: &Shape) {
    let dict_len = dict_len(dtype, shape);
    let (version, width) = header_version(dict_len);
    let preamble = MAGIC.len() + 2 + width;
    let len = padded_len(preamble, dict_len);
    out.reserve(preamble + len);
    let start = out.len();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[version, 0]);
    // Over 4 GiB cannot happen: a valid shape has at most 32 dims of 20 digits. For 1.0 the first
    // two little-endian bytes of the u32 are the u16.
    let len_bytes = u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes();
    out.extend_from_slice(len_bytes.get(..width).unwrap_or(&len_bytes));
    dict_pieces(dtype, shape, |piece| out.extend_from_slice(piece));
    out.resize(start + preamble + len - 1, b' ');
    out.push(b'\n');
}

/// Total length of the header of an array of `dtype` and `shape`.
fn header_len(dtype: DType, shape: &Shape) -> usize {
    let dict_len = dict_len(dtype, shape);
    let preamble = MAGIC.len() + 2 + header_version(dict_len).1;
    preamble + padded_len(preamble, dict_len)
}

/// (version, width of the length field): 1.0 stores the header length as a u16 (10-byte
/// preamble), 2.0 as a u32 (12 bytes).
fn header_version(dict_len: usize) -> (u8, usize) {
    if padded_len(10, dict_len) <= usize::from(u16::MAX) {
        (1, 2)
    } else {
        (2, 4)
    }
}

fn dict_len(dtype: DType, shape: &Shape) -> usize {
    let mut len = 0;
    dict_pieces(dtype, shape, |piece| len += piece.len());
    len
}

/// The dict as `np.save` writes it, piece by piece: keys sorted, `repr` values, a trailing `, `,
/// then room for the first axis to grow to [`GROWTH_AXIS_MAX_DIGITS`] digits (none for 0-d
/// arrays).
fn dict_pieces(dtype: DType, shape: &Shape, mut emit: impl FnMut(&[u8])) {
    emit(b"{'descr': '");
    emit(dtype.npy_descr().as_bytes());
    emit(b"', 'fortran_order': False, 'shape': (");
    let dims = shape.dims();
    let mut digits = [0u8; 20];
    for (i, &d) in dims.iter().enumerate() {
        if i > 0 {
            emit(b", ");
        }
        emit(decimal(d, &mut digits));
    }
    if dims.len() == 1 {
        emit(b",");
    }
    emit(b"), }");
    if let Some(first) = dims.first() {
        let digits = first.checked_ilog10().map_or(1, |log| log as usize + 1);
        let room = GROWTH_AXIS_MAX_DIGITS.saturating_sub(digits);
        emit(SPACES.get(..room).unwrap_or_default());
    }
}

const SPACES: [u8; GROWTH_AXIS_MAX_DIGITS] = [b' '; GROWTH_AXIS_MAX_DIGITS];

/// `n` in decimal, written at the end of `buf`.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut start = buf.len();
    loop {
        start -= 1;
        if let Some(slot) = buf.get_mut(start) {
            *slot = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || start == 0 {
            break;
        }
    }
    buf.get(start..).unwrap_or_default()
}

/// Bytes after a preamble of `preamble` bytes: the dict, 1 to 64 spaces and `\n`, ending on a
/// multiple of 64 (NumPy's `_wrap_header` pads an already aligned dict by a whole 64).
fn padded_len(preamble: usize, dict_len: usize) -> usize {
    let unpadded = preamble + dict_len + 1;
    dict_len + 1 + ARRAY_ALIGN - unpadded % ARRAY_ALIGN
}

/// Splits a file into its header text and the bytes after it.
fn split_header(file: &[u8]) -> ArrayResult<(&str, &[u8])> {
    let Some((magic, rest)) = file.split_first_chunk::<6>() else {
        return Err(ArrayError::npy(format!(
            "npy file is only {} bytes: too short to be a .npy file",
            file.len()
        )));
    };
    if magic != MAGIC {
        return Err(ArrayError::npy(
            "npy magic is missing: a .npy file starts with \\x93NUMPY",
        ));
    }
    let truncated =
        || ArrayError::npy("npy header is truncated: the file ends before its length field");
    let (&[major, minor], rest) = rest.split_first_chunk::<2>().ok_or_else(truncated)?;
    let (len, rest) = match (major, minor) {
        (1, 0) => {
            let (len, rest) = rest.split_first_chunk::<2>().ok_or_else(truncated)?;
            (u32::from(u16::from_le_bytes(*len)), rest)
        }
        (2, 0) | (3, 0) => {
            let (len, rest) = rest.split_first_chunk::<4>().ok_or_else(truncated)?;
            (u32::from_le_bytes(*len), rest)
        }
        _ => {
            return Err(ArrayError::npy(format!(
                "npy version {major}.{minor} is not supported (expected 1.0, 2.0 or 3.0)"
            )))
        }
    };
    if len > MAX_HEADER_LEN {
        return Err(ArrayError::npy(format!(
            "npy header is {len} bytes, over the limit of {MAX_HEADER_LEN}"
        )));
    }
    // Lossless: len <= MAX_HEADER_LEN.
    let len = len as usize;
    let (header, data) = rest.split_at_checked(len).ok_or_else(|| {
        ArrayError::npy(format!(
            "npy header is truncated: its length field says {len} bytes, the file has {} after it",
            rest.len()
        ))
    })?;
    // 3.0 is UTF-8 and 1.0/2.0 latin-1; NumPy only writes ASCII in headers we can load, so
    // requiring UTF-8 for all refuses nothing we could use.
    let header = std::str::from_utf8(header)
        .map_err(|_| ArrayError::npy("npy header is not valid UTF-8 text"))?;
    Ok((header, data))
}

/// The three values a header must hold.
struct Header<'h> {
    descr: &'h str,
    fortran_order: bool,
    dims: Vec<u64>,
}

/// Parses the header dict: exactly the keys `descr`, `fortran_order` and `shape`, in any order,
/// each once, with an optional trailing comma; only whitespace may follow the closing brace.
fn parse_header(text: &str) -> ArrayResult<Header<'_>> {
    if let Some(header) = parse_canonical(text) {
        return Ok(header);
    }
    let mut lexer = Lexer { rest: text };
    let (mut descr, mut fortran_order, mut dims) = (None, None, None);
    lexer.expect(Token::Punct('{'))?;
    loop {
        let key = match lexer.next()? {
            Token::Punct('}') => break,
            Token::Str(key) => key,
            other => return Err(unexpected(other, "a quoted key or '}'")),
        };
        lexer.expect(Token::Punct(':'))?;
        let duplicate = match key {
            "descr" => descr.replace(parse_descr_value(&mut lexer)?).is_some(),
            "fortran_order" => fortran_order.replace(parse_bool(&mut lexer)?).is_some(),
            "shape" => dims.replace(parse_shape(&mut lexer)?).is_some(),
            _ => {
                return Err(ArrayError::npy(format!(
                    "npy header has unknown key '{key}' (expected 'descr', 'fortran_order' and 'shape')"
                )))
            }
        };
        if duplicate {
            return Err(ArrayError::npy(format!("npy header has key '{key}' twice")));
        }
        match lexer.next()? {
            Token::Punct(',') => {}
            Token::Punct('}') => break,
            other => return Err(unexpected(other, "',' or '}'")),
        }
    }
    lexer.expect(Token::End)?;
    let missing = |key: &str| ArrayError::npy(format!("npy header has no '{key}' key"));
    Ok(Header {
        descr: descr.ok_or_else(|| missing("descr"))?,
        fortran_order: fortran_order.ok_or_else(|| missing("fortran_order"))?,
        dims: dims.ok_or_else(|| missing("shape"))?,
    })
}

/// The header exactly as `np.save` (and this module) writes it,
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }` then padding, read without the
/// lexer: a batch of embeddings spends most of its decoding time in headers. Anything else, or
/// anything doubtful (a dimension that is not plain digits), is left to the full parser, which
/// gives the same result for every header this accepts (a unit test checks).
fn parse_canonical(text: &str) -> Option<Header<'_>> {
    let rest = text.strip_prefix("{'descr': '")?;
    let (descr, rest) = rest.split_once('\'')?;
    let (fortran_order, rest) = match rest.strip_prefix(", 'fortran_order': False, 'shape': (") {
        Some(rest) => (false, rest),
        None => (
            true,
            rest.strip_prefix(", 'fortran_order': True, 'shape': (")?,
        ),
    };
    let (dims_text, rest) = rest.split_once(')')?;
    let padding = rest.strip_prefix(", }")?;
    if !padding.bytes().all(|b| b.is_ascii_whitespace()) {
        return None;
    }
    let mut dims = Vec::with_capacity(4);
    if !dims_text.is_empty() {
        // One dimension is written "(n,)", several "(a, b)".
        let one = dims_text.strip_suffix(',');
        let body = one.unwrap_or(dims_text);
        for (i, part) in body.split(',').enumerate() {
            let digits = if i == 0 {
                part
            } else {
                part.strip_prefix(' ')?
            };
            if digits.is_empty() || digits.len() > 19 || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return None;
            }
            dims.push(digits.parse().ok()?);
        }
        if (dims.len() == 1) != one.is_some() {
            return None;
        }
    }
    Some(Header {
        descr,
        fortran_order,
        dims,
    })
}

fn parse_descr_value<'h>(lexer: &mut Lexer<'h>) -> ArrayResult<&'h str> {
    match lexer.next()? {
        Token::Str(descr) => Ok(descr),
        // NumPy writes a structured dtype's descr as a list of (name, type) fields.
        Token::Punct('[') => Err(ArrayError::dtype(
            "npy descr is a list: structured dtypes are not supported",
        )),
        other => Err(unexpected(other, "a quoted descr such as '<f4'")),
    }
}

fn parse_bool(lexer: &mut Lexer<'_>) -> ArrayResult<bool> {
    match lexer.next()? {
        Token::Word("True") => Ok(true),
        Token::Word("False") => Ok(false),
        other => Err(unexpected(other, "True or False for 'fortran_order'")),
    }
}

/// A Python tuple of non-negative ints: `()`, `(3,)`, `(2, 3)`. `(3)` is an int in Python, not a
/// tuple, and NumPy refuses it, so we do too.
fn parse_shape(lexer: &mut Lexer<'_>) -> ArrayResult<Vec<u64>> {
    lexer.expect(Token::Punct('('))?;
    let mut dims = Vec::new();
    loop {
        match lexer.next()? {
            Token::Punct(')') => return Ok(dims),
            Token::Word(word) => dims.push(parse_dim(word)?),
            other => return Err(unexpected(other, "a dimension or ')' in 'shape'")),
        }
        match lexer.next()? {
            Token::Punct(',') => {}
            Token::Punct(')') if dims.len() > 1 => return Ok(dims),
            Token::Punct(')') => {
                return Err(ArrayError::npy(
                    "npy shape is not a tuple: a 1-d shape is written (n,)",
                ))
            }
            other => return Err(unexpected(other, "',' or ')' in 'shape'")),
        }
    }
}

/// A non-negative decimal int, with the `L` suffix Python 2 wrote on longs.
fn parse_dim(word: &str) -> ArrayResult<u64> {
    let digits = word.strip_suffix(['L', 'l']).unwrap_or(word);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        let what = if digits
            .strip_prefix('-')
            .is_some_and(|d| d.bytes().all(|b| b.is_ascii_digit()))
        {
            "negative"
        } else {
            "not an integer"
        };
        return Err(ArrayError::npy(format!(
            "npy shape has dimension {word}: {what}"
        )));
    }
    digits.parse().map_err(|_| {
        ArrayError::npy(format!(
            "npy shape has dimension {word}: it does not fit in 64 bits"
        ))
    })
}

/// Maps a descr string to a dtype and its byte order, explaining refusals. `np.load` reads a
/// string descr with `np.dtype(descr)`, so every spelling of it names the same type here: what
/// `np.save` writes ('<f4', '|b1'), and what a header written by hand may hold ('float64', 'd',
/// '?', '>f8'); plus 'bfloat16', which np.load reads once ml_dtypes is imported.
fn dtype_of_descr(descr: &str) -> ArrayResult<(DType, ByteOrder)> {
    if let Some(found) = parse_descr(descr.as_bytes()) {
        return Ok(found);
    }
    let numpy = numpy_name_of_unsupported(descr);
    if numpy == Some("object") {
        return Err(ArrayError::dtype(format!(
            "npy descr '{descr}': object arrays are not supported"
        )));
    }
    let code = descr.strip_prefix(['<', '>', '|', '=']).unwrap_or(descr);
    // ml_dtypes' bfloat16 saved by np.save: the type is lost, only the size survives.
    let hint = if code == "V2" {
        " ('V2' is how np.save writes ml_dtypes bfloat16; a 'bfloat16' descr is accepted)"
    } else {
        ""
    };
    let numpy = numpy
        .filter(|_| hint.is_empty())
        .map(|numpy| format!("it is NumPy's {numpy}; "))
        .unwrap_or_default();
    Err(ArrayError::dtype(format!(
        "npy descr '{descr}' is not a supported dtype{hint} ({numpy}supported: {})",
        supported_names()
    )))
}

/// True when C and Fortran order lay the elements out identically: the array is empty, or at most
/// one axis is longer than 1 (0-d, 1-d, or shapes like (1, 5, 1)). Saves a copy.
fn same_in_both_orders(dims: &[u64]) -> bool {
    dims.contains(&0) || dims.iter().filter(|&&d| d > 1).count() <= 1
}

/// Reorders Fortran-order elements (first axis fastest) into C order (last axis fastest): walks the
/// C-order index with an odometer and gathers each element from its Fortran offset. The caller has
/// checked that `src` holds exactly the shape's elements, so the checked operations never fail.
fn fortran_to_c(src: &[u8], dims: &[u64], itemsize: usize) -> ArrayResult<Vec<u8>> {
    let overflow = || ArrayError::npy("npy shape does not fit in memory");
    let dims = dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| overflow()))
        .collect::<ArrayResult<Vec<usize>>>()?;
    // Byte stride of each axis in the Fortran layout.
    let mut strides = Vec::with_capacity(dims.len());
    let mut stride = itemsize;
    for &d in &dims {
        strides.push(stride);
        stride = stride.checked_mul(d).ok_or_else(overflow)?;
    }
    let count = src.len().checked_div(itemsize).ok_or_else(overflow)?;
    let mut out = Vec::with_capacity(src.len());
    let mut index = vec![0usize; dims.len()];
    let mut offset = 0usize;
    for _ in 0..count {
        let end = offset.checked_add(itemsize).ok_or_else(overflow)?;
        out.extend_from_slice(src.get(offset..end).ok_or_else(overflow)?);
        // Advance the odometer: bump the last axis; one that wraps goes back to 0 and carries left.
        for ((i, &d), &s) in index.iter_mut().zip(&dims).zip(&strides).rev() {
            if *i + 1 < d {
                *i += 1;
                offset = offset.checked_add(s).ok_or_else(overflow)?;
                break;
            }
            let back = s.checked_mul(*i).ok_or_else(overflow)?;
            offset = offset.checked_sub(back).ok_or_else(overflow)?;
            *i = 0;
        }
    }
    Ok(out)
}

/// Byte-swaps big-endian elements in place. A complex number is two floats, each swapped on its own.
fn swap_to_little(data: &mut [u8], dtype: DType) {
    let unit = match dtype.kind() {
        Kind::Complex => dtype.itemsize() / 2,
        _ => dtype.itemsize(),
    };
    for value in data.chunks_exact_mut(unit) {
        value.reverse();
    }
}

/// A token of the header dict. Words are runs of `[A-Za-z0-9_.+-]`: ints (`3`, `3L`, `-1`),
/// `True`/`False`, and anything else (`2.5`, `None`) so errors can quote it whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token<'h> {
    Punct(char),
    Str(&'h str),
    Word(&'h str),
    End,
}

impl std::fmt::Display for Token<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Token::Punct(c) => write!(f, "'{c}'"),
            Token::Str(s) => write!(f, "the string '{s}'"),
            Token::Word(w) => write!(f, "{w}"),
            Token::End => f.write_str("the end of the header"),
        }
    }
}

fn unexpected(found: Token<'_>, expected: &str) -> ArrayError {
    ArrayError::npy(format!("npy header: expected {expected}, found {found}"))
}

struct Lexer<'h> {
    rest: &'h str,
}

impl<'h> Lexer<'h> {
    fn next(&mut self) -> ArrayResult<Token<'h>> {
        self.rest = self
            .rest
            .trim_start_matches(|c: char| c.is_ascii_whitespace());
        let mut chars = self.rest.chars();
        let Some(first) = chars.next() else {
            return Ok(Token::End);
        };
        let after = chars.as_str();
        let token = match first {
            '{' | '}' | '(' | ')' | '[' | ']' | ':' | ',' => {
                self.rest = after;
                Token::Punct(first)
            }
            '\'' | '"' => {
                let Some((text, rest)) = after.split_once(first) else {
                    return Err(ArrayError::npy("npy header has an unterminated string"));
                };
                // NumPy never escapes anything in a header we could load.
                if text.contains('\\') {
                    return Err(ArrayError::npy(format!(
                        "npy header string '{text}' has an escape, which is not supported"
                    )));
                }
                self.rest = rest;
                Token::Str(text)
            }
            c if is_word_char(c) => {
                let end = self
                    .rest
                    .find(|c| !is_word_char(c))
                    .unwrap_or(self.rest.len());
                let (word, rest) = self.rest.split_at_checked(end).unwrap_or((self.rest, ""));
                self.rest = rest;
                Token::Word(word)
            }
            other => {
                return Err(ArrayError::npy(format!(
                    "npy header has unexpected character {other:?}"
                )))
            }
        };
        Ok(token)
    }

    fn expect(&mut self, want: Token<'_>) -> ArrayResult<()> {
        let found = self.next()?;
        if found == want {
            Ok(())
        } else {
            Err(unexpected(found, &want.to_string()))
        }
    }
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '+' | '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_LIMIT: u64 = u64::MAX;

    fn shape(dims: &[u64], dtype: DType) -> Shape {
        Shape::new(dims.to_vec(), dtype).unwrap()
    }

    /// Concatenates fixed-size byte arrays: `bytes([1.5f32, 2.0].map(f32::to_be_bytes))`.
    fn bytes<const N: usize>(items: impl IntoIterator<Item = [u8; N]>) -> Vec<u8> {
        items.into_iter().flatten().collect()
    }

    /// A .npy file of the given version whose header is `dict` and a newline (unpadded: readers
    /// must not depend on the padding), followed by `data`.
    fn file_with(version: u8, dict: &str, data: &[u8]) -> Vec<u8> {
        let header = format!("{dict}\n");
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&[version, 0]);
        if version == 1 {
            out.extend_from_slice(&u16::try_from(header.len()).unwrap().to_le_bytes());
        } else {
            out.extend_from_slice(&u32::try_from(header.len()).unwrap().to_le_bytes());
        }
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    fn npy(dict: &str, data: &[u8]) -> Vec<u8> {
        file_with(1, dict, data)
    }

    /// The dict NumPy would write for `descr`, `fortran_order` and `shape` (a Python tuple).
    fn dict(descr: &str, fortran: bool, shape: &str) -> String {
        let fortran = if fortran { "True" } else { "False" };
        format!("{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape}, }}")
    }

    /// Decodes a 1.0 file and returns its C-order little-endian data, owned.
    fn load(dict: &str, data: &[u8]) -> Vec<u8> {
        decode_npy(&npy(dict, data), NO_LIMIT)
            .unwrap()
            .data
            .into_owned()
    }

    /// Decodes a 1.0 file and returns its dtype and dims.
    fn load_meta(dict: &str, data: &[u8]) -> (DType, Vec<u64>) {
        let file = npy(dict, data);
        let a = decode_npy(&file, NO_LIMIT).unwrap();
        (a.dtype, a.shape.dims().to_vec())
    }

    /// Asserts the file is refused as a malformed `.npy` (or, for its descr, an unsupported
    /// dtype) with a message naming .npy and containing `needle`.
    fn assert_invalid(file: &[u8], needle: &str) {
        match decode_npy(file, NO_LIMIT) {
            Err(e @ (ArrayError::Npy(_) | ArrayError::Dtype(_) | ArrayError::Shape(_))) => {
                let m = e.to_string();
                assert!(m.starts_with("npy "), "message should name .npy: {m}");
                assert!(m.contains(needle), "{m:?} should contain {needle:?}");
            }
            other => panic!("expected an NPY error containing {needle:?}, got {other:?}"),
        }
    }

    #[test]
    fn every_dtype_and_shape_round_trips_without_copying() {
        let shapes: [&[u64]; 5] = [&[], &[0], &[3], &[2, 3], &[2, 0, 4]];
        for dtype in DType::ALL {
            for dims in shapes {
                let shape = shape(dims, dtype);
                let n = shape.size() as usize * dtype.itemsize();
                let data: Vec<u8> = (0..n).map(|i| (i * 7 + 1) as u8).collect();
                let file = encode_npy(dtype, &shape, &data);
                assert_eq!(file.len(), file.capacity(), "encode_npy allocates exactly");
                let header = npy_header(dtype, &shape);
                assert_eq!(header.len() % 64, 0);
                assert!(file.starts_with(&header));
                let decoded = decode_npy(&file, NO_LIMIT).unwrap();
                assert_eq!((decoded.dtype, &decoded.shape), (dtype, &shape));
                assert_eq!(&decoded.data[..], &data[..]);
                assert!(
                    matches!(decoded.data, Cow::Borrowed(_)),
                    "{dtype:?} {dims:?}"
                );
            }
        }
    }

    /// The header np.save writes (NumPy 2.4): `dict`, then `spaces` spaces and a newline.
    fn numpy_header(dict: &str, spaces: usize) -> Vec<u8> {
        let mut header = b"\x93NUMPY\x01\x00".to_vec();
        let len = u16::try_from(dict.len() + spaces + 1).unwrap();
        header.extend_from_slice(&len.to_le_bytes());
        header.extend_from_slice(dict.as_bytes());
        header.resize(header.len() + spaces, b' ');
        header.push(b'\n');
        header
    }

    #[test]
    fn header_is_byte_identical_to_numpys() {
        // Byte counts read off np.save's output. A (2, 3) float32 header is 128 bytes, not 64:
        // NumPy leaves 20 spaces for axis 0 to grow in place before padding to a multiple of 64.
        let f4 = npy_header(DType::Float32, &shape(&[2, 3], DType::Float32));
        assert_eq!(f4, numpy_header(&dict("<f4", false, "(2, 3)"), 58));
        assert_eq!(
            (f4.len(), &f4[..10]),
            (128, &b"\x93NUMPY\x01\x00\x76\x00"[..])
        );
        // np.float64(0): a 0-d array gets no growth room, and still needs 128 bytes.
        let f8 = npy_header(DType::Float64, &shape(&[], DType::Float64));
        assert_eq!(f8, numpy_header(&dict("<f8", false, "()"), 62));
        // np.zeros(3, bool)
        let b1 = npy_header(DType::Bool, &shape(&[3], DType::Bool));
        assert_eq!(b1, numpy_header(&dict("|b1", false, "(3,)"), 60));
        // np.zeros((5,) + (1,) * 11 + (10, 0), '<f4'): dict, 20 spaces of growth room and '\n' end
        // one byte short of 128, so NumPy pads with a single space.
        let dims = [5, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 10, 0];
        let tight = npy_header(DType::Float32, &shape(&dims, DType::Float32));
        let tuple = "(5, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 10, 0)";
        assert_eq!(tight, numpy_header(&dict("<f4", false, tuple), 21));
        // np.zeros((1,) * 16, '<f4'): the dict alone would fit in 128 bytes, the growth room makes 192.
        let ones = npy_header(DType::Float32, &shape(&[1; 16], DType::Float32));
        let tuple = format!("({})", ["1"; 16].join(", "));
        assert_eq!(ones, numpy_header(&dict("<f4", false, &tuple), 80));
    }

    #[test]
    fn an_already_aligned_dict_still_gets_64_bytes_of_padding() {
        assert_eq!(10 + padded_len(10, 64 - 10 - 1), 128);
    }

    #[test]
    fn a_dict_too_long_for_a_u16_length_gets_a_version_2_header() {
        assert_eq!(header_version(1000), (1, 2));
        assert_eq!(header_version(70_000), (2, 4));
        assert_eq!((12 + padded_len(12, 70_000)) % 64, 0);
        // Every real header fits 1.0: at most 32 dims of 20 digits.
        let widest = shape(&[0, 1 << 30, 1 << 30], DType::Float32);
        let header = npy_header(DType::Float32, &widest);
        assert_eq!(&header[..8], b"\x93NUMPY\x01\x00");
        assert_eq!(header.len(), header_len(DType::Float32, &widest));
    }

    #[test]
    fn version_2_and_3_headers_are_read() {
        for version in [2, 3] {
            let file = file_with(version, &dict("<u2", false, "(2,)"), &[1, 0, 2, 0]);
            let a = decode_npy(&file, NO_LIMIT).unwrap();
            assert_eq!((a.dtype, a.shape.dims()), (DType::UInt16, &[2u64][..]));
            assert_eq!(&a.data[..], &[1, 0, 2, 0]);
        }
    }

    #[test]
    fn header_dicts_are_read_in_any_python_spelling() {
        for dict in [
            "{\"shape\": (2, 3), \"descr\": \"|u1\", \"fortran_order\": False}",
            "  {  'fortran_order' :False,'shape':( 2 ,3 , ),'descr':'u1'  }    ",
            "{'descr': '|u1', 'fortran_order': False, 'shape': (2L, 3L), }",
            "{'descr':'=u1','fortran_order':False,'shape':(2,3)}\t\r",
        ] {
            assert_eq!(
                load_meta(dict, &[0; 6]),
                (DType::UInt8, vec![2, 3]),
                "{dict}"
            );
        }
        let bf16 = load_meta(&dict("bfloat16", false, "(1,)"), &[1, 2]);
        assert_eq!(bf16, (DType::BFloat16, vec![1]));
    }

    #[test]
    fn fortran_order_2d_is_transposed_to_c_order() {
        // np.asfortranarray([[1, 2, 3], [4, 5, 6]], '<u2') stores the columns: 1 4 2 5 3 6.
        let data = bytes([1u16, 4, 2, 5, 3, 6].map(u16::to_le_bytes));
        let file = npy(&dict("<u2", true, "(2, 3)"), &data);
        let a = decode_npy(&file, NO_LIMIT).unwrap();
        assert_eq!(
            a.data.into_owned(),
            bytes([1u16, 2, 3, 4, 5, 6].map(u16::to_le_bytes))
        );
    }

    #[test]
    fn fortran_order_3d_is_transposed_to_c_order() {
        // Each element holds its C-order position, stored at its Fortran (first axis fastest) offset.
        let (d0, d1, d2) = (2, 3, 4);
        let mut fortran = [0u16; 24];
        for i in 0..d0 {
            for j in 0..d1 {
                for k in 0..d2 {
                    fortran[i + d0 * (j + d1 * k)] = (i * d1 * d2 + j * d2 + k) as u16;
                }
            }
        }
        let data = load(
            &dict("<u2", true, "(2, 3, 4)"),
            &bytes(fortran.map(u16::to_le_bytes)),
        );
        assert_eq!(data, bytes((0..24u16).map(u16::to_le_bytes)));
    }

    #[test]
    fn fortran_order_laid_out_like_c_order_is_borrowed() {
        for (dims, data) in [
            ("()", &[1u8][..]),
            ("(4,)", &[1, 2, 3, 4]),
            ("(1, 4, 1)", &[1, 2, 3, 4]),
            ("(0, 3)", &[]),
        ] {
            let file = npy(&dict("|u1", true, dims), data);
            let a = decode_npy(&file, NO_LIMIT).unwrap();
            assert_eq!(&a.data[..], data, "{dims}");
            assert!(matches!(a.data, Cow::Borrowed(_)), "{dims}");
        }
    }

    #[test]
    fn big_endian_float32_and_int16_are_swapped_to_little_endian() {
        let floats = [1.5f32, -2.25, 1e30];
        let file = npy(
            &dict(">f4", false, "(3,)"),
            &bytes(floats.map(f32::to_be_bytes)),
        );
        let a = decode_npy(&file, NO_LIMIT).unwrap();
        assert_eq!(&a.data[..], bytes(floats.map(f32::to_le_bytes)));
        assert!(matches!(a.data, Cow::Owned(_)));

        let ints = [1i16, -2, 0x1234];
        let data = load(
            &dict(">i2", false, "(3,)"),
            &bytes(ints.map(i16::to_be_bytes)),
        );
        assert_eq!(data, bytes(ints.map(i16::to_le_bytes)));
    }

    #[test]
    fn big_endian_complex_swaps_real_and_imaginary_parts_separately() {
        // np.array([1-2j, 3+4j], '>c8'): real then imaginary, each a big-endian float32. Reversing
        // whole 8-byte elements would swap the parts.
        let parts = [1.0f32, -2.0, 3.0, 4.0];
        let data = load(
            &dict(">c8", false, "(2,)"),
            &bytes(parts.map(f32::to_be_bytes)),
        );
        assert_eq!(data, bytes(parts.map(f32::to_le_bytes)));

        let parts = [0.5f64, -7.0];
        let data = load(
            &dict(">c16", false, "()"),
            &bytes(parts.map(f64::to_be_bytes)),
        );
        assert_eq!(data, bytes(parts.map(f64::to_le_bytes)));
    }

    #[test]
    fn big_endian_fortran_order_is_swapped_and_transposed() {
        let data = bytes([1i16, 4, 2, 5, 3, -6].map(i16::to_be_bytes));
        let data = load(&dict(">i2", true, "(2, 3)"), &data);
        assert_eq!(data, bytes([1i16, 2, 3, 4, 5, -6].map(i16::to_le_bytes)));
    }

    #[test]
    fn bad_magic_short_files_and_truncated_headers_are_refused() {
        let good = encode_npy(DType::UInt8, &shape(&[2], DType::UInt8), &[1, 2]);
        assert_invalid(b"", "too short");
        assert_invalid(b"\x93NUM", "too short");
        assert_invalid(b"PK\x03\x04\x14\x00\x00\x00\x00\x00", "magic");
        assert_invalid(&good[..7], "ends before its length field");
        assert_invalid(&good[..9], "ends before its length field");
        assert_invalid(
            b"\x93NUMPY\x02\x00\x10\x00\x00",
            "ends before its length field",
        );
        assert_invalid(
            &good[..40],
            "its length field says 118 bytes, the file has 30",
        );
    }

    #[test]
    fn bad_versions_oversized_and_non_utf8_headers_are_refused() {
        let mut file = npy(&dict("|u1", false, "()"), &[0]);
        file[6] = 4;
        assert_invalid(&file, "version 4.0 is not supported");
        file[6] = 1;
        file[7] = 1;
        assert_invalid(&file, "version 1.1 is not supported");

        let mut huge = b"\x93NUMPY\x02\x00".to_vec();
        huge.extend_from_slice(&65537u32.to_le_bytes());
        huge.resize(huge.len() + 65537, b' ');
        assert_invalid(&huge, "header is 65537 bytes, over the limit of 65536");

        let mut latin1 = npy(&dict("<f4", false, "()"), &[0; 4]);
        latin1[20] = 0xe9;
        assert_invalid(&latin1, "not valid UTF-8");
    }

    #[test]
    fn every_truncation_or_extension_of_a_valid_file_is_an_error() {
        let file = encode_npy(DType::Float32, &shape(&[2, 3], DType::Float32), &[7; 24]);
        for len in 0..file.len() {
            assert_invalid(&file[..len], "");
        }
        let mut longer = file.clone();
        longer.push(0);
        assert_invalid(&longer, "npy data is 25 bytes");
    }

    #[test]
    fn keys_must_be_exactly_descr_fortran_order_and_shape() {
        for (dict, needle) in [
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (), 'x': 1}",
                "unknown key 'x'",
            ),
            ("{'descr': '<f4', 'shape': (), }", "no 'fortran_order' key"),
            ("{'fortran_order': False, 'shape': (), }", "no 'descr' key"),
            ("{'descr': '<f4', 'fortran_order': False}", "no 'shape' key"),
            ("{}", "no 'descr' key"),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (), 'shape': ()}",
                "'shape' twice",
            ),
        ] {
            assert_invalid(&npy(dict, &[0; 4]), needle);
        }
    }

    #[test]
    fn malformed_dict_syntax_is_refused() {
        for (dict, needle) in [
            ("", "expected '{', found the end of the header"),
            ("['descr']", "expected '{', found '['"),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (), } x",
                "expected the end",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (), } ;",
                "unexpected character ';'",
            ),
            (
                "{'descr': '<f4' 'fortran_order': False, 'shape': ()}",
                "expected ',' or '}'",
            ),
            (
                "{'descr': '<f4',, 'fortran_order': False, 'shape': ()}",
                "expected a quoted key",
            ),
            (
                "{'descr' '<f4', 'fortran_order': False, 'shape': ()}",
                "expected ':'",
            ),
            (
                "{'descr': '<f4, 'fortran_order': False, 'shape': ()}",
                "found fortran_order",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (), ",
                "found the end",
            ),
            ("{'descr': '<f4}", "unterminated string"),
            (
                "{'descr': '\\x3cf4', 'fortran_order': False, 'shape': ()}",
                "escape",
            ),
            (
                "{'descr': 4, 'fortran_order': False, 'shape': ()}",
                "quoted descr",
            ),
            (
                "{'descr': '<f4', 'fortran_order': 0, 'shape': ()}",
                "True or False",
            ),
            (
                "{'descr': '<f4', 'fortran_order': false, 'shape': ()}",
                "True or False",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': [2]}",
                "expected '('",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (1), }",
                "not a tuple",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, }",
                "found '}'",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (,), }",
                "found ','",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (1 2), }",
                "found 2",
            ),
        ] {
            assert_invalid(&npy(dict, &[0; 4]), needle);
        }
    }

    #[test]
    fn every_descr_np_load_reads_as_a_supported_dtype_is_read_the_same() {
        // np.load reads a string descr with np.dtype(descr): names, type codes and sizes alike.
        for (descr, dtype) in [
            ("float64", DType::Float64),
            ("float", DType::Float64),
            ("double", DType::Float64),
            ("d", DType::Float64),
            ("=f8", DType::Float64),
            ("|f8", DType::Float64),
            ("f", DType::Float32),
            ("single", DType::Float32),
            ("e", DType::Float16),
            ("?", DType::Bool),
            ("|?", DType::Bool),
            ("bool", DType::Bool),
            ("b1", DType::Bool),
            ("b", DType::Int8),
            ("B", DType::UInt8),
            ("q", DType::Int64),
            ("Q", DType::UInt64),
            ("uint8", DType::UInt8),
            ("F", DType::Complex64),
            ("complex", DType::Complex128),
        ] {
            let n = dtype.itemsize();
            let data: Vec<u8> = (0..2 * n).map(|i| u8::from(i % n == 0)).collect();
            let file = npy(&dict(descr, false, "(2,)"), &data);
            let decoded = decode_npy(&file, NO_LIMIT).unwrap_or_else(|e| panic!("{descr}: {e}"));
            assert_eq!(decoded.dtype, dtype, "{descr}");
            assert_eq!(decoded.data.as_ref(), data.as_slice(), "{descr}");
        }
        // Big-endian codes are swapped, as '>f8' always was.
        let file = npy(&dict(">d", false, "(1,)"), &1.5f64.to_be_bytes());
        let decoded = decode_npy(&file, NO_LIMIT).unwrap();
        assert_eq!(decoded.dtype, DType::Float64);
        assert_eq!(decoded.data.as_ref(), 1.5f64.to_le_bytes());
    }

    #[test]
    fn unsupported_descrs_are_refused_by_name() {
        let structured = "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': ()}";
        assert_invalid(
            &npy(structured, &[0; 4]),
            "structured dtypes are not supported",
        );
        assert_invalid(
            &npy(&dict("|O", false, "()"), &[0; 8]),
            "object arrays are not supported",
        );
        // '<U2' (a 2-char string) must not be read as '<u2' (uint16): type codes keep their case.
        for descr in [
            "<U2", "<U5", "<V2", "<M8[ns]", "|S3", ">f16", "<F4", "<B1", "", " <f4", "<f4 ",
            "float_", "<float32",
        ] {
            let file = npy(&dict(descr, false, "()"), &[0; 4]);
            assert_invalid(&file, &format!("descr '{descr}' is not a supported dtype"));
            assert_invalid(&file, "bool, int8, int16, int32, int64, uint8");
        }
        assert_invalid(
            &npy(&dict("<U2", false, "()"), &[0; 8]),
            "descr '<U2' is not a supported dtype (it is NumPy's str; supported: bool,",
        );
        assert_invalid(
            &npy(&dict("<V2", false, "()"), &[0; 2]),
            "ml_dtypes bfloat16",
        );
    }

    #[test]
    fn data_must_be_exactly_the_shapes_size() {
        let dict = dict("<f4", false, "(2, 3)");
        assert_invalid(
            &npy(&dict, &[0; 10]),
            "npy data is 10 bytes, float32 with shape (2, 3) needs 24",
        );
        assert_invalid(
            &npy(&dict, &[0; 25]),
            "npy data is 25 bytes, float32 with shape (2, 3) needs 24",
        );
        assert_invalid(&npy(&dict, &[]), "npy data is 0 bytes");
        assert_eq!(load(&dict, &[9; 24]), [9; 24]);
    }

    #[test]
    fn bad_dimensions_are_refused() {
        let with_shape = |s: &str| npy(&dict("|u1", false, s), &[]);
        assert_invalid(&with_shape("(-1,)"), "dimension -1: negative");
        assert_invalid(&with_shape("(2, -3L)"), "dimension -3L: negative");
        for dim in ["2.5", "None", "1e3", "0x10", "L", "+1"] {
            assert_invalid(
                &with_shape(&format!("({dim},)")),
                &format!("dimension {dim}: not an integer"),
            );
        }
        assert_invalid(
            &with_shape("('3',)"),
            "expected a dimension or ')' in 'shape', found the string '3'",
        );
        assert_invalid(
            &with_shape("(18446744073709551616,)"),
            "does not fit in 64 bits",
        );
        let many = format!("({})", ["1"; 33].join(", "));
        assert_invalid(&with_shape(&many), "at most 32 dimensions, got 33");
    }

    #[test]
    fn shapes_numpy_cannot_represent_are_too_large() {
        // np.load refuses these too: the product of the non-zero dims times the item size must fit
        // in int64.
        for s in ["(0, 9223372036854775808)", "(0, 4611686018427387904, 4)"] {
            match decode_npy(&npy(&dict("|u1", false, s), &[]), NO_LIMIT) {
                Err(ArrayError::TooLarge(m)) => assert!(m.starts_with("npy shape"), "{m}"),
                other => panic!("{s}: expected TooLarge, got {other:?}"),
            }
        }
        let file = npy(&dict("|u1", false, "(0, 4611686018427387904)"), &[]);
        assert_eq!(decode_npy(&file, NO_LIMIT).unwrap().shape.size(), 0);
    }

    #[test]
    fn arrays_over_the_byte_limit_are_refused_before_the_data_is_read() {
        let file = encode_npy(DType::Float32, &shape(&[2, 3], DType::Float32), &[0; 24]);
        assert!(decode_npy(&file, 24).is_ok());
        assert!(matches!(
            decode_npy(&file, 23),
            Err(ArrayError::TooLarge(_))
        ));
        // A 80 GB shape with no data: refused for its size, not for the missing data.
        let file = npy(&dict("<f8", true, "(100000, 100000)"), &[]);
        assert!(matches!(
            decode_npy(&file, 1 << 30),
            Err(ArrayError::TooLarge(_))
        ));
    }

    #[test]
    fn corrupting_any_header_byte_never_panics() {
        let file = encode_npy(
            DType::Complex64,
            &shape(&[2, 1, 3], DType::Complex64),
            &[5; 48],
        );
        for i in 0..128 {
            for b in [0u8, b' ', b'(', b')', b',', b'\'', b'9', b'-', b'T', 0xff] {
                let mut bad = file.clone();
                bad[i] = b;
                let _ = decode_npy(&bad, NO_LIMIT);
            }
        }
    }

    #[test]
    fn the_canonical_fast_path_agrees_with_the_full_parser() {
        let full = |text: &str| {
            let mut lexer_only = String::from(" ");
            lexer_only.push_str(text); // a leading space defeats the fast path
            parse_header(&lexer_only).map(|h| (h.descr.to_string(), h.fortran_order, h.dims))
        };
        let cases = [
            "{'descr': '<f4', 'fortran_order': False, 'shape': (128,), }     \n",
            "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }\n",
            "{'descr': '|u1', 'fortran_order': False, 'shape': (), }",
            "{'descr': '<c16', 'fortran_order': False, 'shape': (0, 5, 7), }  ",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (3), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3,), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1,2), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1, , 2), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), } x",
            "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (4,), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (4L,), }",
        ];
        for text in cases {
            if let Some(fast) = parse_canonical(text) {
                let fast = (fast.descr.to_string(), fast.fortran_order, fast.dims);
                assert_eq!(full(text).ok(), Some(fast), "{text}");
            }
        }
        assert!(parse_canonical(cases[0]).is_some());
        assert!(parse_canonical(cases[1]).is_some());
        assert!(parse_canonical(cases[4]).is_none());
        assert!(parse_canonical(cases[5]).is_none());
        // What the module writes takes the fast path.
        let header = npy_header(DType::Float32, &shape(&[3, 4], DType::Float32));
        let text = std::str::from_utf8(&header[10..]).unwrap();
        assert!(parse_canonical(text).is_some(), "{text}");
    }

    #[test]
    fn a_repeated_header_decodes_as_the_first_did() {
        let a = npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
            &[1; 8],
        );
        let b = npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
            &[2; 8],
        );
        let short = npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
            &[2; 4],
        );
        let other = npy(
            "{'descr': '<i2', 'fortran_order': False, 'shape': (4,), }",
            &[3; 8],
        );
        let mut last = None;
        for file in [&a, &b, &other, &b] {
            assert_eq!(
                decode_npy_repeated(file, 1 << 20, &mut last).unwrap(),
                decode_npy(file, 1 << 20).unwrap()
            );
        }
        assert!(decode_npy_repeated(&short, 1 << 20, &mut last).is_err());
    }
}
