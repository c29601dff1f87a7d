//! The on-disk encoding of an array (RDB, DUMP/RESTORE, replication), written against two small
//! traits so it is unit-tested without Redis. The module's `host/datatype.rs` plugs in Redis' RDB
//! I/O.
//!
//! Encoding version 1, all integers as RDB unsigned:
//! `dtype, ndim, dim × ndim, compression, level, shuffle, chunk_bytes, nchunks,
//!  (encoded flag, bytes) × nchunks, END_MARKER`.
//!
//! Encoding version 2 adds, before the end marker, what the array keeps besides its elements:
//! `updated_at (Unix ms), nattrs, (name bytes, value bytes) × nattrs` (names sorted, unique).
//! A version-1 value loads with `updated_at` 0 ("unknown": the primary recorded no time, and the
//! loader does not invent one) and no attributes.
//!
//! Encoding version 3 adds `block_bytes` after `chunk_bytes`: when it is not 0, every encoded
//! chunk is an index and independently decodable blocks of that many raw bytes (see
//! `codec::blocks`); 0 (and every version-1 or 2 value) means each encoded chunk is one frame.
//!
//! The end marker means a payload cut short (even with a recomputed checksum) never loads.

pub mod view;

use crate::array::attrs::{self, Attrs, MAX_ATTRS, MAX_ATTR_BYTES};
use crate::array::ndarray::Meta;
use crate::array::shape::MAX_NDIM;
use crate::array::store::{
    expected_chunk_count, Chunk, ChunkRef, MAX_CHUNK_BYTES, MIN_CHUNK_BYTES,
};
use crate::array::{ArrayError, ArrayResult, DType, NdArray, Shape};
use crate::codec::blocks::MIN_BLOCK_BYTES;
use crate::codec::{Compression, Encoding, Shuffle};

/// The encoding version Redis stores beside every NDARRAY value. Bump it when the layout changes,
/// and keep loading every older one (tests/fixtures hold a payload of each).
pub const ENCODING_VERSION: i32 = ENCODING_V3;

/// The first release's encoding: no attributes, no `updated_at`.
pub const ENCODING_V1: i32 = 1;
/// Attributes and `updated_at` after the chunks.
pub const ENCODING_V2: i32 = 2;
/// `block_bytes` after `chunk_bytes`: encoded chunks in independently decodable blocks.
pub const ENCODING_V3: i32 = 3;

/// "ndarray!" in ASCII: closes every encoded value.
pub const END_MARKER: u64 = 0x6e64_6172_7261_7921;

pub trait RdbWrite {
    fn put_u64(&mut self, v: u64);
    fn put_bytes(&mut self, b: &[u8]);
}

pub trait RdbRead {
    fn get_u64(&mut self) -> ArrayResult<u64>;
    fn get_bytes(&mut self) -> ArrayResult<Vec<u8>>;
}

pub fn save(array: &NdArray, w: &mut impl RdbWrite) {
    save_parts(
        w,
        array.dtype(),
        array.shape().dims(),
        array.encoding(),
        array.store().chunk_bytes(),
        &array.store().chunk_refs(),
        array.meta(),
    );
}

/// Writes an array given as its parts (the chunks of a replication piece are a run of another
/// array's chunks, written without copying them into an array first).
fn save_parts(
    w: &mut impl RdbWrite,
    dtype: DType,
    dims: &[u64],
    encoding: Encoding,
    chunk_bytes: u32,
    chunks: &[ChunkRef],
    meta: &Meta,
) {
    w.put_u64(u64::from(dtype.code()));
    w.put_u64(dims.len() as u64);
    for &d in dims {
        w.put_u64(d);
    }
    let (code, level) = encoding.compression.to_code();
    w.put_u64(code);
    w.put_u64(level);
    w.put_u64(encoding.shuffle.code());
    w.put_u64(u64::from(chunk_bytes));
    w.put_u64(u64::from(encoding.block_bytes));
    w.put_u64(chunks.len() as u64);
    for chunk in chunks {
        w.put_u64(u64::from(chunk.encoded));
        w.put_bytes(chunk.bytes);
    }
    w.put_u64(meta.updated_at);
    w.put_u64(meta.attrs.len() as u64);
    for (name, value) in meta.attrs.iter() {
        w.put_bytes(name);
        w.put_bytes(value);
    }
    w.put_u64(END_MARKER);
}

/// Loads a value written by [`save`] at encoding version `version`. Every field is checked before
/// use; nothing is allocated from a claimed count before the data behind it has been read.
pub fn load(r: &mut impl RdbRead, version: i32) -> ArrayResult<NdArray> {
    let body = read_body(r, version, |r| r.get_bytes(), Vec::len)?;
    let chunks = body
        .chunks
        .into_iter()
        .map(|(encoded, bytes)| Chunk {
            bytes: bytes.into_boxed_slice(),
            encoded,
        })
        .collect();
    let mut array = NdArray::from_parts(
        body.dtype,
        body.shape,
        body.encoding,
        body.chunk_bytes,
        chunks,
    )?;
    array.set_meta(body.meta);
    Ok(array)
}

/// Everything an encoded value holds, its chunks as `C`: owned bytes for a load, slices of the
/// payload for a client's [`view::PayloadView`]. Every field checked; no chunk decoded yet.
struct Body<C> {
    dtype: DType,
    shape: Shape,
    encoding: Encoding,
    chunk_bytes: u32,
    /// (encoded flag, stored bytes) of each chunk.
    chunks: Vec<(bool, C)>,
    meta: Meta,
}

/// Reads a value's fields in order, each chunk's bytes through `take_chunk` (whose result is
/// `chunk_len` bytes long), up to and including the end marker.
fn read_body<R: RdbRead, C>(
    r: &mut R,
    version: i32,
    mut take_chunk: impl FnMut(&mut R) -> ArrayResult<C>,
    chunk_len: impl Fn(&C) -> usize,
) -> ArrayResult<Body<C>> {
    let (dtype, dims) = load_header(r, version)?;
    let shape = Shape::new(dims, dtype).map_err(|e| ArrayError::corrupt(e.to_string()))?;
    let compression = r.get_u64()?;
    let level = r.get_u64()?;
    let compression = Compression::from_code(compression, level)?;
    let shuffle = Shuffle::from_code(r.get_u64()?)?;
    // Normalised as for a fresh write (no shuffle without compression or for one-byte items), so
    // INFO and AOF rewrites report the same encoding whatever the payload claimed.
    let encoding = Encoding::new(compression, shuffle, dtype.itemsize());
    let chunk_bytes = r.get_u64()?;
    // Whole items per chunk: what every reader of the chunks (a load, a client's view) assumes.
    let chunk_bytes = u32::try_from(chunk_bytes)
        .ok()
        .filter(|c| (MIN_CHUNK_BYTES..=MAX_CHUNK_BYTES).contains(c))
        .filter(|c| (*c as usize).is_multiple_of(dtype.itemsize().max(1)))
        .ok_or_else(|| ArrayError::corrupt(format!("invalid chunk size {chunk_bytes}")))?;
    let encoding = match version {
        ENCODING_V1 | ENCODING_V2 => encoding.with_block_bytes(0, dtype.itemsize(), chunk_bytes),
        _ => with_stored_blocks(encoding, r.get_u64()?, dtype.itemsize(), chunk_bytes)?,
    };
    let nchunks = r.get_u64()?;
    let total = shape.size().saturating_mul(dtype.itemsize() as u64);
    let expected = expected_chunk_count(total, chunk_bytes);
    if nchunks != expected {
        return Err(ArrayError::corrupt(format!(
            "{nchunks} chunks stored, shape {shape} needs {expected}"
        )));
    }
    // Grow as chunks actually arrive: a hostile count must not reserve memory up front.
    let mut chunks = Vec::with_capacity(nchunks.min(1024) as usize);
    for index in 0..nchunks {
        let encoded = match r.get_u64()? {
            0 => false,
            1 => true,
            flag => {
                return Err(ArrayError::corrupt(format!(
                    "chunk {index} has flag {flag}"
                )))
            }
        };
        let bytes = take_chunk(r)?;
        if chunk_len(&bytes) > chunk_bytes as usize {
            return Err(ArrayError::corrupt(format!(
                "chunk {index} is {} bytes, over the chunk size",
                chunk_len(&bytes)
            )));
        }
        chunks.push((encoded, bytes));
    }
    let meta = if version >= ENCODING_V2 {
        load_meta(r)?
    } else {
        Meta::default()
    };
    let marker = r.get_u64()?;
    if marker != END_MARKER {
        return Err(ArrayError::corrupt(
            "missing end marker (truncated or foreign payload)",
        ));
    }
    Ok(Body {
        dtype,
        shape,
        encoding,
        chunk_bytes,
        chunks,
        meta,
    })
}

/// `encoding` with the block size a version-3 value declares: 0, or whole items of at least
/// `MIN_BLOCK_BYTES` and at most `MAX_CHUNK_BYTES`.
fn with_stored_blocks(
    encoding: Encoding,
    block_bytes: u64,
    itemsize: usize,
    chunk_bytes: u32,
) -> ArrayResult<Encoding> {
    let valid = u32::try_from(block_bytes).ok().filter(|b| {
        *b == 0
            || ((MIN_BLOCK_BYTES..=MAX_CHUNK_BYTES).contains(b)
                && (*b as usize).is_multiple_of(itemsize.max(1)))
    });
    let block_bytes =
        valid.ok_or_else(|| ArrayError::corrupt(format!("invalid block size {block_bytes}")))?;
    Ok(encoding.with_block_bytes(block_bytes, itemsize, chunk_bytes))
}

/// The fields before the encoding: the version (given: RDB keeps it beside the value), dtype and
/// dims, each checked (the dims against the shape rules by the caller).
fn load_header(r: &mut impl RdbRead, version: i32) -> ArrayResult<(DType, Vec<u64>)> {
    if !(ENCODING_V1..=ENCODING_VERSION).contains(&version) {
        return Err(ArrayError::corrupt(format!(
            "unknown NDARRAY encoding version {version} (this module reads versions {ENCODING_V1} to {ENCODING_VERSION})"
        )));
    }
    let code = r.get_u64()?;
    let dtype = DType::from_code(code)
        .ok_or_else(|| ArrayError::corrupt(format!("unknown dtype code {code}")))?;
    let ndim = r.get_u64()?;
    if ndim > MAX_NDIM as u64 {
        return Err(ArrayError::corrupt(format!(
            "{ndim} dimensions (at most {MAX_NDIM})"
        )));
    }
    // At most MAX_NDIM: a small allocation whatever the payload claims.
    let dims = (0..ndim).map(|_| r.get_u64()).collect::<ArrayResult<_>>()?;
    Ok((dtype, dims))
}

/// `updated_at` and the attributes of a version-2 value, each checked against the limits a write
/// is held to (names 1 to 256 bytes, sorted and unique; at most 256 of them and 64 KiB in all).
fn load_meta(r: &mut impl RdbRead) -> ArrayResult<Meta> {
    let updated_at = r.get_u64()?;
    if i64::try_from(updated_at).is_err() {
        return Err(ArrayError::corrupt(format!(
            "updated_at {updated_at} is out of range"
        )));
    }
    let nattrs = r.get_u64()?;
    if nattrs > MAX_ATTRS as u64 {
        return Err(ArrayError::corrupt(format!(
            "{nattrs} attributes (at most {MAX_ATTRS})"
        )));
    }
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(nattrs as usize);
    let mut total = 0usize;
    for index in 0..nattrs {
        let name = r.get_bytes()?;
        attrs::check_name(&name)
            .map_err(|e| ArrayError::corrupt(format!("attribute {index}: {e}")))?;
        if pairs.last().is_some_and(|(last, _)| *last >= name) {
            return Err(ArrayError::corrupt(format!(
                "attribute {index} is out of order or repeated"
            )));
        }
        let value = r.get_bytes()?;
        total = total.saturating_add(name.len()).saturating_add(value.len());
        if total > MAX_ATTR_BYTES {
            return Err(ArrayError::corrupt(format!(
                "attributes take over {MAX_ATTR_BYTES} bytes"
            )));
        }
        pairs.push((name, value));
    }
    let attrs = Attrs::from_pairs(pairs.iter().map(|(k, v)| (&k[..], &v[..])))
        .map_err(|e| ArrayError::corrupt(e.to_string()))?;
    Ok(Meta { updated_at, attrs })
}

// ---- payloads: the same encoding as a byte string, for NDARRAY.PUTENCODED ----

/// First bytes of every payload: "NDAE" (NDARRAY encoded), then the encoding version as a u64.
pub const PAYLOAD_MAGIC: &[u8; 4] = b"NDAE";

/// The RDB encoding laid out in a byte string: integers as u64 little-endian, byte strings as
/// their u64 length then the bytes.
struct PayloadWriter(Vec<u8>);

impl RdbWrite for PayloadWriter {
    fn put_u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn put_bytes(&mut self, b: &[u8]) {
        self.put_u64(b.len() as u64);
        self.0.extend_from_slice(b);
    }
}

struct PayloadReader<'a>(&'a [u8]);

impl<'a> PayloadReader<'a> {
    fn take(&mut self, n: u64) -> ArrayResult<&'a [u8]> {
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        if n > self.0.len() {
            return Err(ArrayError::corrupt("payload is truncated"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    /// A length-prefixed byte string, in place.
    fn get_slice(&mut self) -> ArrayResult<&'a [u8]> {
        let len = self.get_u64()?;
        self.take(len)
    }
}

impl RdbRead for PayloadReader<'_> {
    fn get_u64(&mut self) -> ArrayResult<u64> {
        let bytes = self.take(8)?;
        let mut le = [0u8; 8];
        le.copy_from_slice(bytes);
        Ok(u64::from_le_bytes(le))
    }
    fn get_bytes(&mut self) -> ArrayResult<Vec<u8>> {
        // The length is checked against what remains before anything is allocated.
        Ok(self.get_slice()?.to_vec())
    }
}

fn payload_of(write: impl FnOnce(&mut PayloadWriter)) -> Vec<u8> {
    let mut out = Vec::new();
    payload_into(&mut out, write);
    out
}

/// Appends a payload to `out` (taken and given back: the writer owns its buffer).
fn payload_into(out: &mut Vec<u8>, write: impl FnOnce(&mut PayloadWriter)) {
    let mut w = PayloadWriter(std::mem::take(out));
    w.0.extend_from_slice(PAYLOAD_MAGIC);
    w.put_u64(ENCODING_VERSION as u64);
    write(&mut w);
    *out = w.0;
}

/// A client's payload past its magic, and the version it declares (faults are `BADPAYLOAD`).
fn open_client_payload(payload: &[u8]) -> ArrayResult<(PayloadReader<'_>, i32)> {
    let body = payload
        .strip_prefix(PAYLOAD_MAGIC.as_slice())
        .ok_or_else(|| ArrayError::Payload("not an encoded array: it starts with NDAE".into()))?;
    let mut r = PayloadReader(body);
    let version = r.get_u64().map_err(client_fault)?;
    Ok((r, i32::try_from(version).unwrap_or(i32::MAX)))
}

/// The dtype and shape a payload declares, read without touching its chunks: what a write checks
/// against its limits before the payload is loaded. Errors are the client's (`BADPAYLOAD`).
pub fn payload_header(payload: &[u8]) -> ArrayResult<(DType, Shape)> {
    let (mut r, version) = open_client_payload(payload)?;
    let (dtype, dims) = load_header(&mut r, version).map_err(client_fault)?;
    // A shape past NumPy's int64 rule is a limit (LIMIT), as for any write.
    Shape::new(dims, dtype).map(|shape| (dtype, shape))
}

/// Loads an encoded array a client sent, exactly as [`from_payload`] (every field checked, every
/// chunk decoded), its faults reported as the client's (`BADPAYLOAD`), not as corrupt storage.
pub fn from_client_payload(payload: &[u8]) -> ArrayResult<NdArray> {
    from_payload(payload).map_err(client_fault)
}

/// What a loader calls corrupt storage is, in a payload a client sent, the client's fault.
fn client_fault(e: ArrayError) -> ArrayError {
    match e {
        ArrayError::Corrupt(m) => ArrayError::Payload(m),
        other => other,
    }
}

/// `array` as one payload (the chunks are copied into it as stored: no re-encoding).
pub fn to_payload(array: &NdArray) -> Vec<u8> {
    let mut out = Vec::new();
    write_payload(array, &mut out);
    out
}

/// Appends `array` as one payload to `out` (a reply buffer kept between replies), room reserved
/// once: the chunks are copied into it as stored, and never moved again by its growth.
pub fn write_payload(array: &NdArray, out: &mut Vec<u8>) {
    out.reserve(payload_len(array));
    payload_into(out, |w| save(array, w));
}

/// The exact length of `array`'s payload: magic, then u64s and length-prefixed byte strings.
pub fn payload_len(array: &NdArray) -> usize {
    let chunks = array.store().chunk_count();
    let attrs: usize = array
        .attrs()
        .iter()
        .map(|(k, v)| 16 + k.len() + v.len())
        .sum();
    // magic; version, dtype, ndim, dims, compression, level, shuffle, chunk size, block size,
    // count;
    // flag and length per chunk; updated_at, attribute count; end marker.
    PAYLOAD_MAGIC.len()
        + 8 * (9 + array.shape().dims().len())
        + 16 * chunks
        + array.store().stored_bytes()
        + 16
        + attrs
        + 8
}

/// Loads a payload, validated exactly as an RDB value is (every field, every chunk decoded),
/// and refusing trailing bytes.
pub fn from_payload(payload: &[u8]) -> ArrayResult<NdArray> {
    let body = payload
        .strip_prefix(PAYLOAD_MAGIC.as_slice())
        .ok_or_else(|| ArrayError::corrupt("not an NDARRAY payload (bad magic)"))?;
    let mut r = PayloadReader(body);
    let version = r.get_u64()?;
    let version = i32::try_from(version).unwrap_or(i32::MAX);
    let array = load(&mut r, version)?;
    if !r.0.is_empty() {
        return Err(ArrayError::corrupt(format!(
            "{} bytes after the end of the payload",
            r.0.len()
        )));
    }
    Ok(array)
}

/// How an array travels to replicas and the AOF without being compressed again: payloads of at
/// most about `piece_bytes` stored bytes each (a chunk larger than that travels alone). With one
/// piece it is the array itself; with several, each is a flat (1-d) array of a run of whole
/// chunks, appended in order, and `reshape` gives the final shape when it is not 1-d.
#[derive(Debug)]
pub struct Pieces {
    pub payloads: Vec<Vec<u8>>,
    pub reshape: Option<Vec<u64>>,
}

pub fn replication_pieces(array: &NdArray, piece_bytes: usize) -> Pieces {
    let chunks = array.store().chunk_refs();
    // What a payload adds to its chunks: the header fields (at most 9 + MAX_NDIM integers, plus
    // the magic and version) and a flag and a length per chunk.
    let header = PAYLOAD_MAGIC.len()
        + 8 * (13 + MAX_NDIM)
        + array.attrs().heap_bytes()
        + 16 * array.attrs().len();
    let cost = |c: &ChunkRef| c.bytes.len() + 16;
    let budget = piece_bytes.saturating_sub(header);
    if chunks.iter().map(cost).sum::<usize>() <= budget {
        return Pieces {
            payloads: vec![to_payload(array)],
            reshape: None,
        };
    }
    let itemsize = array.dtype().itemsize().max(1) as u64;
    let chunk_bytes = u64::from(array.store().chunk_bytes());
    let total = array.nbytes();
    let mut payloads = Vec::new();
    let mut start = 0usize;
    while start < chunks.len() {
        let mut end = start + 1;
        let mut size = chunks.get(start).map_or(0, cost);
        while let Some(next) = chunks.get(end) {
            if size + cost(next) > budget {
                break;
            }
            size += cost(next);
            end += 1;
        }
        let first_byte = start as u64 * chunk_bytes;
        let end_byte = (end as u64 * chunk_bytes).min(total);
        let items = (end_byte - first_byte) / itemsize;
        let run = chunks.get(start..end).unwrap_or_default();
        // The first piece carries the attributes; every piece carries `updated_at` (APPEND takes
        // it), so each intermediate state shows the primary's time.
        let meta = if start == 0 {
            array.meta().clone()
        } else {
            Meta {
                updated_at: array.updated_at(),
                attrs: Attrs::default(),
            }
        };
        payloads.push(payload_of(|w| {
            save_parts(
                w,
                array.dtype(),
                &[items],
                array.encoding(),
                array.store().chunk_bytes(),
                run,
                &meta,
            )
        }));
        start = end;
    }
    let reshape = (array.shape().ndim() != 1).then(|| array.shape().dims().to_vec());
    Pieces { payloads, reshape }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's table of the encoded form, followed by hand: the example it gives is exactly
    /// what the core writes, and loads back.
    #[test]
    fn the_encoded_form_is_the_documented_byte_layout() {
        let mut doc = b"NDAE".to_vec();
        let mut u = |v: u64| doc.extend_from_slice(&v.to_le_bytes());
        // version, int16, ndim, dim, none, level, no shuffle, chunk size, no blocks, one chunk,
        // raw, its length
        for v in [3, 2, 1, 3, 0, 0, 0, 4096, 0, 1, 0, 6] {
            u(v);
        }
        doc.extend_from_slice(&[1, 0, 2, 0, 3, 0]);
        for v in [0, 0, 0x6e64_6172_7261_7921] {
            doc.extend_from_slice(&u64::to_le_bytes(v));
        }
        assert_eq!(doc.len(), 130);
        let shape = Shape::new(vec![3], DType::Int16).unwrap();
        let array = NdArray::encode(
            DType::Int16,
            shape,
            &[1, 0, 2, 0, 3, 0],
            Encoding::RAW,
            4096,
        )
        .unwrap();
        assert_eq!(to_payload(&array), doc);
        assert_eq!(payload_len(&array), doc.len());
        assert_eq!(
            from_payload(&doc).unwrap().store().contiguous_raw(),
            Some(&[1u8, 0, 2, 0, 3, 0][..])
        );
        assert_eq!(&END_MARKER.to_be_bytes(), b"ndarray!");
        // A client's payload: its header read alone, and its faults the client's.
        let (dtype, shape) = payload_header(&doc).unwrap();
        assert_eq!((dtype, shape.dims()), (DType::Int16, &[3u64][..]));
        assert_eq!(payload_header(&doc[..30]).unwrap_err().code(), "BADPAYLOAD");
        assert_eq!(payload_header(b"NDAX").unwrap_err().code(), "BADPAYLOAD");
        let mut huge = doc.clone();
        huge[28..36].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(payload_header(&huge).unwrap_err().code(), "LIMIT");
        let mut cut = doc.clone();
        cut.truncate(108);
        assert_eq!(from_client_payload(&cut).unwrap_err().code(), "BADPAYLOAD");
        assert_eq!(from_payload(&cut).unwrap_err().code(), "CORRUPT");
    }

    #[derive(Debug, Clone, PartialEq)]
    enum Item {
        U(u64),
        B(Vec<u8>),
    }

    #[derive(Default)]
    struct Mem {
        items: Vec<Item>,
        pos: usize,
    }

    impl RdbWrite for Mem {
        fn put_u64(&mut self, v: u64) {
            self.items.push(Item::U(v));
        }
        fn put_bytes(&mut self, b: &[u8]) {
            self.items.push(Item::B(b.to_vec()));
        }
    }

    impl RdbRead for Mem {
        fn get_u64(&mut self) -> ArrayResult<u64> {
            self.pos += 1;
            match self.items.get(self.pos - 1) {
                Some(Item::U(v)) => Ok(*v),
                _ => Err(ArrayError::corrupt("short read")),
            }
        }
        fn get_bytes(&mut self) -> ArrayResult<Vec<u8>> {
            self.pos += 1;
            match self.items.get(self.pos - 1) {
                Some(Item::B(v)) => Ok(v.clone()),
                _ => Err(ArrayError::corrupt("short read")),
            }
        }
    }

    fn sample() -> NdArray {
        sample_in_blocks(Encoding::new(
            Compression::named("zlib", Some(3)).unwrap(),
            Shuffle::BYTE,
            4,
        ))
    }

    /// The sample with each encoded chunk one frame, as versions 1 and 2 stored them.
    fn sample_in_frames() -> NdArray {
        let sample = sample();
        sample_in_blocks(sample.encoding().with_block_bytes(0, 4, 4096))
    }

    fn sample_in_blocks(enc: Encoding) -> NdArray {
        let raw: Vec<u8> = (0..3000u32)
            .flat_map(|i| (i as f32).sqrt().to_le_bytes())
            .collect();
        let shape = Shape::new(vec![30, 100], DType::Float32).unwrap();
        let mut a = NdArray::encode(DType::Float32, shape, &raw, enc, 4096).unwrap();
        a.attrs_mut()
            .set_all([(&b"model"[..], &b"v3"[..]), (b"src", b"\x00\xff")])
            .unwrap();
        a.set_updated_at(1_767_225_600_123);
        a
    }

    #[test]
    fn version_1_values_load_with_no_attributes_and_unknown_time() {
        let a = sample_in_frames();
        let mut m = Mem::default();
        save(&a, &mut m);
        // A version-1 value is the same without the block size (item 8), updated_at, nattrs and
        // the two attributes.
        let n = m.items.len();
        let mut items = m.items[..n - 7].to_vec();
        assert_eq!(items.remove(8), Item::U(0));
        items.push(Item::U(END_MARKER));
        let loaded = load(&mut Mem { items, pos: 0 }, ENCODING_V1).unwrap();
        assert_eq!(loaded.updated_at(), 0);
        assert!(loaded.attrs().is_empty());
        let mut out = Vec::new();
        loaded.read_all(&mut out).unwrap();
        let mut want = Vec::new();
        a.read_all(&mut want).unwrap();
        assert_eq!(out, want);
        // A version-2 value read as version 1 (or the reverse) is refused.
        assert!(load(
            &mut Mem {
                items: m.items.clone(),
                pos: 0
            },
            ENCODING_V1
        )
        .is_err());
    }

    #[test]
    fn version_2_metadata_is_validated() {
        let mut m = Mem::default();
        save(&sample(), &mut m);
        let n = m.items.len();
        // From the end: marker, value 2, name 2, value 1, name 1, nattrs, updated_at.
        let (updated_at, nattrs, name1, name2) = (n - 7, n - 6, n - 5, n - 3);
        let bad: [(usize, Item); 7] = [
            (updated_at, Item::U(u64::MAX)),
            (nattrs, Item::U(3)),
            (nattrs, Item::U(1 << 40)),
            (name1, Item::B(vec![])),
            (name1, Item::B(vec![b'x'; 257])),
            (name2, Item::B(b"model".to_vec())),
            (name2, Item::B(b"a".to_vec())),
        ];
        for (field, value) in bad {
            let mut items = m.items.clone();
            items[field] = value.clone();
            assert!(
                load(&mut Mem { items, pos: 0 }, ENCODING_VERSION).is_err(),
                "field {field} = {value:?}"
            );
        }
        let mut items = m.items.clone();
        items[n - 2] = Item::B(vec![0; MAX_ATTR_BYTES]);
        assert!(load(&mut Mem { items, pos: 0 }, ENCODING_VERSION).is_err());
    }

    #[test]
    fn saved_arrays_load_back_identically() {
        let a = sample();
        let mut m = Mem::default();
        save(&a, &mut m);
        assert_eq!(load(&mut m, ENCODING_VERSION).unwrap(), a);
    }

    #[test]
    fn every_truncation_and_unknown_version_is_refused() {
        let mut m = Mem::default();
        save(&sample(), &mut m);
        for cut in 0..m.items.len() {
            let mut short = Mem {
                items: m.items[..cut].to_vec(),
                pos: 0,
            };
            assert!(load(&mut short, ENCODING_VERSION).is_err(), "cut at {cut}");
        }
        let mut again = Mem {
            items: m.items.clone(),
            pos: 0,
        };
        assert!(load(&mut again, 4)
            .unwrap_err()
            .to_string()
            .contains("unknown NDARRAY encoding version 4"));
    }

    #[test]
    fn every_field_is_validated() {
        let mut m = Mem::default();
        save(&sample(), &mut m);
        // Positions for shape (30, 100): dtype 0, ndim 1, dims 2-3, compression 4, level 5,
        // shuffle 6, chunk_bytes 7, block_bytes 8, nchunks 9, first chunk flag 10.
        let bad: [(usize, u64); 14] = [
            (0, 99),
            (1, 33),
            (2, 1 << 62),
            (3, 101),
            (4, 7),
            (5, 10),
            (6, 3),
            (7, 0),
            (7, 4094),
            (8, 1020),
            (8, 4098),
            (8, (64 << 20) + 4),
            (9, 5),
            (10, 2),
        ];
        for (field, value) in bad {
            let mut items = m.items.clone();
            items[field] = Item::U(value);
            let mut broken = Mem { items, pos: 0 };
            assert!(
                load(&mut broken, ENCODING_VERSION).is_err(),
                "field {field} = {value}"
            );
        }
    }

    #[test]
    fn payloads_round_trip_and_refuse_every_cut_and_trailing_bytes() {
        let a = sample();
        let payload = to_payload(&a);
        assert_eq!(from_payload(&payload).unwrap(), a);
        assert_eq!(payload.len(), payload_len(&a), "reserved exactly");
        for cut in 0..payload.len() {
            assert!(from_payload(&payload[..cut]).is_err(), "cut at {cut}");
        }
        let mut long = payload.clone();
        long.push(0);
        assert!(from_payload(&long).is_err());
        let mut foreign = payload;
        foreign[0] = b'X';
        assert!(from_payload(&foreign).is_err());
    }

    #[test]
    fn payloads_with_chunks_outside_the_settings_range_are_refused() {
        let payload = to_payload(&sample()); // chunks of 4,096 bytes
        let field = 4096u64.to_le_bytes();
        let at = payload
            .windows(8)
            .position(|w| w == field)
            .expect("the chunk size field");
        for bad in [1u64, 8, 4095, (64 << 20) + 8] {
            let mut hostile = payload.clone();
            hostile[at..at + 8].copy_from_slice(&bad.to_le_bytes());
            let e = from_payload(&hostile).unwrap_err().to_string();
            assert!(e.contains("chunk size"), "{bad}: {e}");
        }
    }

    #[test]
    fn pieces_rebuild_the_array_by_appending_whole_chunks() {
        let a = sample(); // 12,000 bytes in chunks of 4,096: three chunks, the last partial
        let one = replication_pieces(&a, 1 << 20);
        assert_eq!(one.payloads.len(), 1);
        assert!(one.reshape.is_none());
        let pieces = replication_pieces(&a, 1);
        assert_eq!(pieces.payloads.len(), 3);
        let mut rebuilt = from_payload(&pieces.payloads[0]).unwrap();
        assert_eq!(rebuilt.shape().dims(), [1024]);
        for p in &pieces.payloads[1..] {
            rebuilt.append_chunks(from_payload(p).unwrap()).unwrap();
        }
        let dims = pieces.reshape.unwrap();
        assert_eq!(dims, [30, 100]);
        rebuilt
            .reshape(Shape::new(dims, DType::Float32).unwrap())
            .unwrap();
        assert_eq!(rebuilt, a);
    }
}
