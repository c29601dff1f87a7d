//! The chunk store: an array's C-order bytes cut into fixed-size chunks, each encoded on its own,
//! so that reading or rewriting a byte range only decodes the chunks it touches.

use super::chunk_list::{ChunkList, Slab};
pub use super::chunk_list::{ChunkRef, NPY_ROOM};
use super::error::{ArrayError, ArrayResult};
use super::heap::Allocation;
use crate::codec::{self, ChunkCodec, Encoding};
use std::ops::Range;
use std::sync::{Mutex, OnceLock};

/// One chunk as stored: either the raw bytes, or the codec's output when that was smaller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub bytes: Box<[u8]>,
    pub encoded: bool,
}

impl Chunk {
    /// The allocation of its bytes (for MEMORY USAGE).
    pub fn allocations(&self, visit: &mut dyn FnMut(Allocation)) {
        if let Some(a) = Allocation::at(self.bytes.as_ptr(), self.bytes.len()) {
            visit(a);
        }
    }
}

/// Chunks of `chunk_bytes` raw bytes each (the last one may be shorter). `chunk_bytes` is a whole
/// number of items, so no item straddles two chunks.
#[derive(Debug, Clone)]
pub struct ChunkStore {
    encoding: Encoding,
    chunk_bytes: u32,
    chunks: ChunkList,
}

/// Two stores are equal when they hold the same chunks in the same encoding, whatever their layout
/// in memory (a slab, or separate chunks) and whatever its spare bytes hold.
impl PartialEq for ChunkStore {
    fn eq(&self, other: &Self) -> bool {
        self.encoding == other.encoding
            && self.chunk_bytes == other.chunk_bytes
            && self.chunks.len() == other.chunks.len()
            && self.chunks.iter().eq(other.chunks.iter())
    }
}

impl Eq for ChunkStore {}

/// Largest chunk the store accepts (also the top of the `chunk-bytes` setting's range); bounds the
/// scratch buffer any single decode allocates, including for hostile RDB payloads.
pub const MAX_CHUNK_BYTES: u32 = 64 << 20;
/// Smallest chunk (the bottom of the `chunk-bytes` setting's range). Encoded input from any source
/// (RDB, DUMP, PUTENCODED) must respect it too: a 16 MiB array in 1-byte chunks took 513 MiB of
/// chunk overhead and stalled a one-element SETSLICE for seconds.
pub const MIN_CHUNK_BYTES: u32 = 4096;
/// The chunk size a write asks for when nothing was configured (`chunk-bytes`' default, and what
/// the Python extension encodes with).
pub const DEFAULT_CHUNK_BYTES: u32 = 256 * 1024;

/// Decodes stored chunk `index` into `target`, its raw bytes (an encoded chunk must decode to
/// exactly that length, a raw one be exactly that long).
pub fn decode_stored(
    encoding: Encoding,
    itemsize: usize,
    stored: ChunkRef<'_>,
    index: usize,
    target: &mut [u8],
) -> ArrayResult<()> {
    if stored.encoded {
        crate::codec::decode_chunk(encoding, itemsize, stored.bytes, target)
            .map_err(ArrayError::from)
    } else if stored.bytes.len() == target.len() {
        target.copy_from_slice(stored.bytes);
        Ok(())
    } else {
        Err(ArrayError::corrupt(format!(
            "chunk {index} has {} bytes, expected {}",
            stored.bytes.len(),
            target.len()
        )))
    }
}

/// Rounds a requested chunk size down to whole items (at least one item).
pub fn aligned_chunk_bytes(requested: usize, itemsize: usize) -> u32 {
    let itemsize = itemsize.max(1);
    let capped = requested.min(MAX_CHUNK_BYTES as usize);
    let aligned = (capped - capped % itemsize).max(itemsize);
    u32::try_from(aligned).unwrap_or(MAX_CHUNK_BYTES)
}

impl ChunkStore {
    /// Encodes `raw` with `encoding`. `chunk_bytes` must come from [`aligned_chunk_bytes`].
    pub fn encode(
        raw: &[u8],
        encoding: Encoding,
        itemsize: usize,
        chunk_bytes: u32,
    ) -> ArrayResult<Self> {
        let chunk = chunk_bytes.max(1) as usize;
        let chunks = if encoding.compression.is_none() && raw.len() > chunk {
            // Uncompressed and several chunks: one buffer, so that replies are one slice.
            ChunkList::Slab(Slab::new(raw, chunk))
        } else if raw.len() >= PARALLEL_MIN_BYTES && raw.len() > chunk {
            ChunkList::from(encode_in_parallel(raw, chunk, encoding, itemsize)?)
        } else {
            // A one-chunk array (every small array) is one allocation, its chunk's bytes (the
            // list keeps it inline); several are collected at their exact count.
            let mut codec = ChunkCodec::new(encoding, itemsize);
            let mut pieces = raw.chunks(chunk);
            match (pieces.len(), pieces.next()) {
                (1, Some(only)) => ChunkList::One(encode_chunk(only, &mut codec)?),
                _ => {
                    let mut chunks = Vec::with_capacity(pieces.len() + 1);
                    for piece in raw.chunks(chunk) {
                        chunks.push(std::sync::Arc::new(encode_chunk(piece, &mut codec)?));
                    }
                    ChunkList::Many(chunks)
                }
            }
        };
        Ok(ChunkStore {
            encoding,
            chunk_bytes,
            chunks,
        })
    }

    /// Rebuilds a store from persisted parts, checking that the chunk count and every raw chunk's
    /// length match `total_bytes`, and that every encoded chunk decodes to the right length.
    pub fn from_parts(
        encoding: Encoding,
        itemsize: usize,
        chunk_bytes: u32,
        total_bytes: u64,
        chunks: Vec<Chunk>,
    ) -> ArrayResult<Self> {
        if !(MIN_CHUNK_BYTES..=MAX_CHUNK_BYTES).contains(&chunk_bytes)
            || !(chunk_bytes as usize).is_multiple_of(itemsize.max(1))
        {
            return Err(ArrayError::corrupt(format!(
                "invalid chunk size {chunk_bytes}"
            )));
        }
        let store = ChunkStore {
            encoding,
            chunk_bytes,
            chunks: ChunkList::from(chunks),
        };
        let expected = expected_chunk_count(total_bytes, chunk_bytes);
        if store.chunks.len() as u64 != expected {
            return Err(ArrayError::corrupt(format!(
                "{} chunks stored, {total_bytes} bytes in chunks of {chunk_bytes} need {expected}",
                store.chunks.len()
            )));
        }
        store.check_chunks(itemsize, total_bytes)?;
        Ok(store)
    }

    /// Checks that every raw chunk has its length and every encoded one decodes to it. A big
    /// store's chunks are checked as separate jobs (this thread and idle workers): a load runs
    /// where Redis calls it (RESTORE, the replication stream, an RDB) and cannot leave it, but a
    /// decompression bomb then holds it for a fraction of the time.
    fn check_chunks(&self, itemsize: usize, total_bytes: u64) -> ArrayResult<()> {
        let check = |index: usize, codec: &mut ChunkCodec| {
            let (Some(chunk), raw_len) = (self.chunks.get(index), self.raw_len(index, total_bytes))
            else {
                return Ok(());
            };
            if chunk.encoded {
                codec.check(chunk.bytes, raw_len)?;
            } else if chunk.bytes.len() != raw_len {
                return Err(ArrayError::corrupt(format!(
                    "chunk {index} holds {} raw bytes, expected {raw_len}",
                    chunk.bytes.len()
                )));
            }
            Ok(())
        };
        let count = self.chunks.len();
        if total_bytes < PARALLEL_MIN_BYTES as u64 {
            let mut codec = ChunkCodec::new(self.encoding, itemsize);
            return (0..count).try_for_each(|i| check(i, &mut codec));
        }
        let first_error: OnceLock<ArrayError> = OnceLock::new();
        // A job that panicked checked nothing: only chunks counted here passed.
        let passed = std::sync::atomic::AtomicUsize::new(0);
        crate::parallel::for_each_index(count, &|i| {
            if first_error.get().is_none() {
                let mut codec = ChunkCodec::new(self.encoding, itemsize);
                match check(i, &mut codec) {
                    Ok(()) => {
                        passed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    Err(e) => {
                        let _ = first_error.set(e);
                    }
                }
            }
        });
        match first_error.into_inner() {
            Some(e) => Err(e),
            None if passed.into_inner() == count => Ok(()),
            None => Err(ArrayError::corrupt("a chunk could not be checked")),
        }
    }

    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    pub fn chunk_bytes(&self) -> u32 {
        self.chunk_bytes
    }

    /// How many chunks the store holds.
    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    /// Chunk `index` as stored.
    pub fn chunk(&self, index: usize) -> Option<ChunkRef<'_>> {
        self.chunks.get(index)
    }

    /// Every chunk as stored, in order.
    pub fn chunk_refs(&self) -> Vec<ChunkRef<'_>> {
        self.chunks.iter().collect()
    }

    /// The elements as one slice, when they are stored raw in one place (one raw chunk, or an
    /// uncompressed slab).
    pub fn contiguous_raw(&self) -> Option<&[u8]> {
        match &self.chunks {
            ChunkList::One(only) if !only.encoded => Some(&only.bytes),
            ChunkList::Many(chunks) if chunks.is_empty() => Some(&[]),
            ChunkList::Slab(slab) => Some(slab.elements()),
            _ => None,
        }
    }

    /// The `.npy` header and elements as one slice, when the store is a slab that holds the
    /// header (see [`ChunkStore::set_npy_header`]).
    pub fn npy_file(&self) -> Option<&[u8]> {
        match &self.chunks {
            ChunkList::Slab(slab) => slab.npy_file(),
            _ => None,
        }
    }

    /// Whether the store keeps a `.npy` header in front of its elements (a slab).
    pub fn keeps_npy_header(&self) -> bool {
        matches!(self.chunks, ChunkList::Slab(_))
    }

    /// Writes the array's `.npy` header in front of a slab's elements (nothing for other layouts,
    /// or a header too long for the room: NPY replies then copy).
    pub fn set_npy_header(&mut self, header: &[u8]) {
        if let ChunkList::Slab(slab) = &mut self.chunks {
            slab.set_npy_header(header);
        }
    }

    /// Turns an uncompressed store of several chunks into a slab (after a load: one copy of the
    /// elements, so that the replies of a reloaded or replicated array are one slice too).
    pub fn into_slab_if_raw(self) -> Self {
        let raw = self.encoding.compression.is_none()
            && self.chunks.len() > 1
            && self.chunks.iter().all(|c| !c.encoded);
        if !raw || matches!(self.chunks, ChunkList::Slab(_)) {
            return self;
        }
        let total: usize = self.chunks.iter().map(|c| c.bytes.len()).sum();
        let pieces = self.chunks.iter().map(|c| c.bytes);
        let slab = Slab::from_pieces(pieces, total, self.chunk_bytes as usize);
        ChunkStore {
            chunks: ChunkList::Slab(slab),
            ..self
        }
    }

    /// An uncompressed store that grew past one chunk (APPEND, or the pieces of a replicated
    /// write) becomes a slab: one copy, once.
    fn settle_layout(&mut self) {
        if self.encoding.compression.is_none()
            && self.chunks.len() > 1
            && !matches!(self.chunks, ChunkList::Slab(_))
        {
            let chunks = std::mem::replace(&mut self.chunks, ChunkList::Many(Vec::new()));
            self.chunks = ChunkStore { chunks, ..*self }.into_slab_if_raw().chunks;
        }
    }

    /// Bytes of all chunks as stored.
    pub fn stored_bytes(&self) -> usize {
        self.chunks.iter().map(|c| c.bytes.len()).sum()
    }

    /// The allocations of the store's chunks (for MEMORY USAGE).
    pub fn allocations(&self, visit: &mut dyn FnMut(Allocation)) {
        self.chunks.allocations(visit);
    }

    /// Raw length of chunk `index` of an array of `total_bytes`.
    fn raw_len(&self, index: usize, total_bytes: u64) -> usize {
        let start = index as u64 * u64::from(self.chunk_bytes);
        total_bytes
            .saturating_sub(start)
            .min(u64::from(self.chunk_bytes)) as usize
    }

    /// Appends raw bytes to an array currently holding `total_bytes`. Only the last, partial chunk
    /// is decoded and re-encoded. On error the store is unchanged.
    pub fn append(&mut self, raw: &[u8], itemsize: usize, total_bytes: u64) -> ArrayResult<()> {
        if let ChunkList::Slab(slab) = &mut self.chunks {
            slab.extend(raw);
            return Ok(());
        }
        let mut codec = ChunkCodec::new(self.encoding, itemsize);
        let chunk = self.chunk_bytes as usize;
        let tail_len = (total_bytes % u64::from(self.chunk_bytes)) as usize;
        let mut new_chunks = Vec::with_capacity(raw.len() / chunk + 2);
        let mut rest = raw;
        let mut replaces_tail = false;
        if tail_len > 0 && !raw.is_empty() {
            // Refill the partial last chunk: decode it, add bytes up to a whole chunk, re-encode.
            let mut merged = Vec::with_capacity(chunk);
            self.decode_chunk(
                self.chunks.len().saturating_sub(1),
                tail_len,
                &mut codec,
                &mut merged,
            )?;
            let (head, tail) = raw.split_at(rest.len().min(chunk - tail_len));
            merged.extend_from_slice(head);
            new_chunks.push(encode_chunk(&merged, &mut codec)?);
            rest = tail;
            replaces_tail = true;
        }
        if rest.len() >= PARALLEL_MIN_BYTES && rest.len() > chunk {
            // A big append (an AOF rewrite replays arrays as 1 MiB appends) spreads its chunks.
            new_chunks.extend(encode_in_parallel(rest, chunk, self.encoding, itemsize)?);
        } else {
            for piece in rest.chunks(chunk) {
                new_chunks.push(encode_chunk(piece, &mut codec)?);
            }
        }
        if replaces_tail {
            self.chunks.pop();
        }
        self.chunks.extend(new_chunks);
        self.settle_layout();
        Ok(())
    }

    /// Appends the raw bytes of chunk `index` (whose raw length is `raw_len`) to `out`.
    fn decode_chunk(
        &self,
        index: usize,
        raw_len: usize,
        codec: &mut ChunkCodec,
        out: &mut Vec<u8>,
    ) -> ArrayResult<()> {
        let chunk = self
            .chunks
            .get(index)
            .ok_or_else(|| ArrayError::corrupt(format!("chunk {index} is missing")))?;
        if chunk.encoded {
            let start = out.len();
            out.resize(start + raw_len, 0);
            let tail = out.get_mut(start..).unwrap_or_default();
            Ok(codec.decode(chunk.bytes, tail)?)
        } else if chunk.bytes.len() == raw_len {
            out.extend_from_slice(chunk.bytes);
            Ok(())
        } else {
            Err(ArrayError::corrupt(format!(
                "chunk {index} has {} bytes, expected {raw_len}",
                chunk.bytes.len()
            )))
        }
    }

    /// The chunks, as stored.
    pub fn into_chunks(self) -> Vec<Chunk> {
        self.chunks.into_vec()
    }

    /// Adds whole chunks after the last one (the caller checked that the last one is whole).
    pub fn extend_chunks(&mut self, chunks: Vec<Chunk>) {
        self.chunks.extend(chunks);
        self.settle_layout();
    }

    /// Puts re-encoded chunks (from [`RunWriter::finish`]) in place.
    pub fn replace_chunks(&mut self, chunks: Vec<(usize, Chunk)>) {
        for (index, chunk) in chunks {
            self.chunks.replace(index, chunk);
        }
    }

    /// Appends the whole array (`total_bytes`) to `out`: a big array decodes its chunks as
    /// separate jobs (this thread and idle workers), each straight into its place in `out`.
    pub fn read_all(
        &self,
        itemsize: usize,
        total_bytes: u64,
        out: &mut Vec<u8>,
    ) -> ArrayResult<()> {
        let chunk = self.chunk_bytes.max(1) as usize;
        let total = usize::try_from(total_bytes)
            .map_err(|_| ArrayError::TooLarge("array too large for this machine".into()))?;
        if total < PARALLEL_MIN_BYTES || self.chunks.len() < 2 {
            return self
                .read_range(0..total_bytes, itemsize, total_bytes, out)
                .map(|_| ());
        }
        if expected_chunk_count(total_bytes, self.chunk_bytes) != self.chunks.len() as u64 {
            return Err(ArrayError::corrupt(
                "chunk count does not match the array's size",
            ));
        }
        let start = out.len();
        let failure: Mutex<Option<ArrayError>> = Mutex::new(None);
        // Each job zeroes its piece of the output just before decoding into it (in parallel,
        // and while those bytes are in its cache), instead of one thread zeroing it all first.
        let filled = crate::parallel::fill_in_parallel(out, total, chunk, |i, target| {
            let stored = self.chunks.get(i)?;
            let target = crate::parallel::zeroed(target);
            let result = decode_stored(self.encoding, itemsize, stored, i, target);
            if let (Err(e), Ok(mut first)) = (result, failure.lock()) {
                first.get_or_insert(e);
            }
            Some(target)
        });
        if !filled {
            return Err(ArrayError::corrupt(
                "internal error: a chunk was not decoded",
            ));
        }
        match failure.into_inner() {
            Ok(None) => Ok(()),
            Ok(Some(e)) => {
                out.truncate(start);
                Err(e)
            }
            Err(_) => Err(ArrayError::corrupt("internal error while decoding")),
        }
    }

    /// Appends the raw bytes `range` of an array of `total_bytes` to `out`, decoding only the chunks
    /// that hold them. Returns how many chunks were decompressed.
    pub fn read_range(
        &self,
        range: Range<u64>,
        itemsize: usize,
        total_bytes: u64,
        out: &mut Vec<u8>,
    ) -> ArrayResult<usize> {
        let len = range.end.checked_sub(range.start).ok_or_else(|| {
            ArrayError::OutOfBounds(format!(
                "byte range {}..{} is reversed",
                range.start, range.end
            ))
        })?;
        out.reserve(usize::try_from(len).unwrap_or(0));
        let mut reader = RunReader::new(self, itemsize, total_bytes);
        reader.read(range.start, len, out)?;
        Ok(reader.decoded)
    }

    /// The chunks holding bytes `offset..offset + len` of an array of `total_bytes`, each with the
    /// part of it that is covered. Refuses a run that leaves the array.
    pub(super) fn spans(
        &self,
        offset: u64,
        len: u64,
        total_bytes: u64,
    ) -> ArrayResult<impl Iterator<Item = Span> + '_> {
        let end = offset
            .checked_add(len)
            .filter(|e| *e <= total_bytes)
            .ok_or_else(|| {
                ArrayError::OutOfBounds(format!(
                    "byte run {offset}+{len} outside an array of {total_bytes} bytes"
                ))
            })?;
        let chunk = u64::from(self.chunk_bytes.max(1));
        let raw_len = move |index: usize| self.raw_len(index, total_bytes);
        let mut pos = offset;
        Ok(std::iter::from_fn(move || {
            if pos >= end {
                return None;
            }
            let index = (pos / chunk) as usize;
            let chunk_start = index as u64 * chunk;
            let raw_len = raw_len(index);
            let lo = (pos - chunk_start) as usize;
            let hi = (end - chunk_start).min(raw_len as u64) as usize;
            pos = chunk_start + hi as u64;
            Some(Span {
                index,
                raw_len,
                lo,
                hi,
            })
        }))
    }
}

/// The part `lo..hi` of chunk `index` (whose raw length is `raw_len`) that a byte run covers.
pub(super) struct Span {
    pub(super) index: usize,
    pub(super) raw_len: usize,
    pub(super) lo: usize,
    pub(super) hi: usize,
}

/// The unit a read decodes at once: one block of an encoded chunk (see `codec::blocks`), the whole
/// chunk when it is one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Unit {
    pub(super) chunk: usize,
    pub(super) block: usize,
    /// Its raw bytes within the chunk.
    pub(super) range: Range<usize>,
}

impl ChunkStore {
    /// The units of an encoded chunk that `span` covers, each with the part `lo..hi` of the chunk
    /// it holds.
    pub(super) fn units_of<'s>(
        &'s self,
        span: &'s Span,
    ) -> impl Iterator<Item = (Unit, Range<usize>)> + 's {
        let mut pos = span.lo;
        std::iter::from_fn(move || {
            if pos >= span.hi {
                return None;
            }
            let block = codec::block_holding(self.encoding, pos);
            let range = codec::block_range(self.encoding, span.raw_len, block);
            let end = span.hi.min(range.end).max(pos + 1);
            let part = pos..end;
            pos = end;
            let unit = Unit {
                chunk: span.index,
                block,
                range,
            };
            Some((unit, part))
        })
    }

    /// Decodes `unit` of an encoded chunk of `raw_len` bytes into `out` (the unit's raw length).
    pub(super) fn decode_unit(
        &self,
        unit: &Unit,
        itemsize: usize,
        raw_len: usize,
        out: &mut [u8],
    ) -> ArrayResult<()> {
        let index = unit.chunk;
        let stored = self
            .chunks
            .get(index)
            .ok_or_else(|| ArrayError::corrupt(format!("chunk {index} is missing")))?;
        codec::decode_chunk_block(
            self.encoding,
            itemsize,
            stored.bytes,
            raw_len,
            unit.block,
            out,
        )
        .map_err(ArrayError::from)
    }
}

/// Reads arbitrary byte runs of a store, decompressing each unit (a block, or a chunk of one frame)
/// at most once while consecutive runs stay inside it (row, column and strided selections all
/// do), and unfiltering only the items each run takes.
pub struct RunReader<'a> {
    store: &'a ChunkStore,
    itemsize: usize,
    total_bytes: u64,
    /// The unit last decompressed, its bytes, and whether they still need the inverse filter.
    held: Option<(Unit, Vec<u8>, bool)>,
    /// The buffer a first unit is decompressed into: this thread's, kept between commands, since
    /// a fresh one cost a tiny slice a memset of a whole block.
    spare: Vec<u8>,
    /// Units decompressed so far (exposed for benchmarks and tests).
    pub decoded: usize,
}

/// Largest buffer a thread keeps for its next reader (a chunk of one frame may be 64 MiB).
const KEPT_BUFFER_BYTES: usize = 1 << 20;

thread_local! {
    static READER_BUFFER: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

impl Drop for RunReader<'_> {
    fn drop(&mut self) {
        let buffer = match self.held.take() {
            Some((_, bytes, _)) => bytes,
            None => std::mem::take(&mut self.spare),
        };
        if buffer.capacity() <= KEPT_BUFFER_BYTES {
            READER_BUFFER.set(buffer);
        }
    }
}

impl<'a> RunReader<'a> {
    pub fn new(store: &'a ChunkStore, itemsize: usize, total_bytes: u64) -> Self {
        RunReader {
            store,
            itemsize,
            total_bytes,
            held: None,
            spare: READER_BUFFER.take(),
            decoded: 0,
        }
    }

    /// Appends bytes `offset..offset + len` of the array to `out`.
    pub fn read(&mut self, offset: u64, len: u64, out: &mut Vec<u8>) -> ArrayResult<()> {
        for span in self.store.spans(offset, len, self.total_bytes)? {
            let index = span.index;
            let stored = self
                .store
                .chunk(index)
                .ok_or_else(|| ArrayError::corrupt(format!("chunk {index} is missing")))?;
            if !stored.encoded {
                let piece = stored
                    .bytes
                    .get(span.lo..span.hi)
                    .ok_or_else(|| ArrayError::corrupt(format!("chunk {index} is short")))?;
                out.extend_from_slice(piece);
                continue;
            }
            for (unit, part) in self.store.units_of(&span) {
                let start = out.len();
                out.resize(start + part.len(), 0);
                let target = out.get_mut(start..).unwrap_or_default();
                let result = self.read_unit(unit, part, span.raw_len, stored.bytes, target);
                if result.is_err() {
                    out.truncate(start);
                }
                result?;
            }
        }
        Ok(())
    }

    /// Bytes `part` of an encoded chunk (of `raw_len` bytes, stored as `stored`), which `unit`
    /// holds, into `out`.
    fn read_unit(
        &mut self,
        unit: Unit,
        part: Range<usize>,
        raw_len: usize,
        stored: &[u8],
        out: &mut [u8],
    ) -> ArrayResult<()> {
        let encoding = self.store.encoding;
        let held = self.held.as_ref().is_some_and(|(u, _, _)| *u == unit);
        if part == unit.range && !held {
            // A whole unit not held: decode straight into the output.
            self.decoded += 1;
            return self.store.decode_unit(&unit, self.itemsize, raw_len, out);
        }
        if !held {
            let mut bytes = match self.held.take() {
                Some((_, bytes, _)) => bytes,
                None => std::mem::take(&mut self.spare),
            };
            let filtered =
                codec::decompress_chunk_block(encoding, stored, raw_len, unit.block, &mut bytes)?;
            self.decoded += 1;
            self.held = Some((unit, bytes, filtered));
        }
        let Some((unit, bytes, filtered)) = &self.held else {
            return Err(ArrayError::corrupt("internal error: no block held"));
        };
        let within = part.start - unit.range.start..part.end - unit.range.start;
        codec::take_from_block(encoding, self.itemsize, bytes, *filtered, within, out)?;
        Ok(())
    }
}

/// Collects writes to byte runs of a store without changing it: the touched blocks of encoded
/// chunks (whole chunks where they are raw or one frame) are decoded once, patched, and
/// re-encoded by [`RunWriter::finish`]; the caller then swaps the chunks in with
/// [`ChunkStore::replace_chunks`], so a failed write changes nothing.
pub struct RunWriter<'a> {
    store: &'a ChunkStore,
    codec: ChunkCodec,
    itemsize: usize,
    total_bytes: u64,
    touched: std::collections::BTreeMap<usize, Touched>,
}

/// What a write holds of one chunk: the whole of it raw, or some of its blocks.
enum Touched {
    Whole(Vec<u8>),
    Blocks {
        raw_len: usize,
        blocks: std::collections::BTreeMap<usize, Vec<u8>>,
    },
}

impl<'a> RunWriter<'a> {
    pub fn new(store: &'a ChunkStore, itemsize: usize, total_bytes: u64) -> Self {
        RunWriter {
            store,
            codec: ChunkCodec::new(store.encoding, itemsize),
            itemsize,
            total_bytes,
            touched: Default::default(),
        }
    }

    /// Overwrites bytes `offset..offset + data.len()` of the array.
    pub fn write(&mut self, offset: u64, data: &[u8]) -> ArrayResult<()> {
        let mut rest = data;
        let store = self.store;
        for span in store.spans(offset, data.len() as u64, self.total_bytes)? {
            let (piece, tail) = rest.split_at(rest.len().min(span.hi - span.lo));
            rest = tail;
            let in_blocks = store.encoding.block_bytes != 0
                && store.chunk(span.index).is_some_and(|c| c.encoded);
            if !in_blocks {
                self.write_whole(&span, piece)?;
                continue;
            }
            let mut piece = piece;
            for (unit, part) in store.units_of(&span) {
                let (here, later) = piece.split_at(piece.len().min(part.len()));
                piece = later;
                let touched = self.touched.entry(span.index).or_insert(Touched::Blocks {
                    raw_len: span.raw_len,
                    blocks: Default::default(),
                });
                let Touched::Blocks { blocks, .. } = touched else {
                    continue;
                };
                if let std::collections::btree_map::Entry::Vacant(slot) = blocks.entry(unit.block) {
                    let mut raw = vec![0u8; unit.range.len()];
                    store.decode_unit(&unit, self.itemsize, span.raw_len, &mut raw)?;
                    slot.insert(raw);
                }
                let lo = part.start - unit.range.start;
                if let Some(target) = blocks
                    .get_mut(&unit.block)
                    .and_then(|b| b.get_mut(lo..lo + here.len()))
                {
                    target.copy_from_slice(here);
                }
            }
        }
        Ok(())
    }

    /// Writes `piece` at `span` of a chunk held whole (raw, or one frame).
    fn write_whole(&mut self, span: &Span, piece: &[u8]) -> ArrayResult<()> {
        if !self.touched.contains_key(&span.index) {
            let mut buf = Vec::with_capacity(span.raw_len);
            self.store
                .decode_chunk(span.index, span.raw_len, &mut self.codec, &mut buf)?;
            self.touched.insert(span.index, Touched::Whole(buf));
        }
        if let Some(Touched::Whole(buf)) = self.touched.get_mut(&span.index) {
            if let Some(target) = buf.get_mut(span.lo..span.hi) {
                target.copy_from_slice(piece);
            }
        }
        Ok(())
    }

    /// Re-encodes every touched chunk: (chunk index, new chunk). A chunk in blocks re-encodes
    /// only the blocks it touched; the others are copied as stored.
    pub fn finish(mut self) -> ArrayResult<Vec<(usize, Chunk)>> {
        let touched = std::mem::take(&mut self.touched);
        let mut out = Vec::with_capacity(touched.len());
        for (index, held) in touched {
            let chunk = match held {
                Touched::Whole(raw) => encode_chunk(&raw, &mut self.codec)?,
                Touched::Blocks { raw_len, blocks } => self.splice(index, raw_len, &blocks)?,
            };
            out.push((index, chunk));
        }
        Ok(out)
    }

    /// Chunk `index` with `fresh` blocks in place of its own; stored raw instead when that is
    /// not bigger (every encoded chunk is smaller than its raw bytes, as a fresh encode keeps it).
    fn splice(
        &mut self,
        index: usize,
        raw_len: usize,
        fresh: &std::collections::BTreeMap<usize, Vec<u8>>,
    ) -> ArrayResult<Chunk> {
        let stored = self
            .store
            .chunk(index)
            .ok_or_else(|| ArrayError::corrupt(format!("chunk {index} is missing")))?;
        let encoding = self.store.encoding;
        let bytes = codec::blocks::splice(encoding, self.itemsize, stored.bytes, raw_len, fresh)?;
        if bytes.len() < raw_len {
            return Ok(Chunk {
                bytes: bytes.into_boxed_slice(),
                encoded: true,
            });
        }
        let mut raw = vec![0u8; raw_len];
        self.codec.decode(&bytes, &mut raw)?;
        Ok(Chunk {
            bytes: raw.into_boxed_slice(),
            encoded: false,
        })
    }
}

/// Raw bytes from which a whole-array encode or decode spreads its chunks over the worker pool
/// (`parallel::for_each_index`); below it, waking a worker costs more than it saves.
pub const PARALLEL_MIN_BYTES: usize = 1 << 20;

/// The chunks of `raw`, each encoded as one job (on this thread and idle workers), in order.
fn encode_in_parallel(
    raw: &[u8],
    chunk: usize,
    encoding: Encoding,
    itemsize: usize,
) -> ArrayResult<Vec<Chunk>> {
    let count = raw.len().div_ceil(chunk);
    let slots: Vec<OnceLock<ArrayResult<Chunk>>> = (0..count).map(|_| OnceLock::new()).collect();
    crate::parallel::for_each_index(count, &|i| {
        let start = i.saturating_mul(chunk);
        let piece = raw.get(start..start.saturating_add(chunk).min(raw.len()));
        if let (Some(piece), Some(slot)) = (piece, slots.get(i)) {
            let mut codec = ChunkCodec::new(encoding, itemsize);
            let _ = slot.set(encode_chunk(piece, &mut codec));
        }
    });
    slots
        .into_iter()
        .map(|slot| {
            slot.into_inner().unwrap_or_else(|| {
                Err(ArrayError::invalid(
                    "internal error: a chunk was not encoded",
                ))
            })
        })
        .collect()
}

/// How many chunks of `chunk_bytes` hold `total_bytes`.
pub fn expected_chunk_count(total_bytes: u64, chunk_bytes: u32) -> u64 {
    total_bytes.div_ceil(u64::from(chunk_bytes.max(1)))
}

fn encode_chunk(raw: &[u8], codec: &mut ChunkCodec) -> ArrayResult<Chunk> {
    Ok(match codec.encode(raw)? {
        Some(bytes) => Chunk {
            bytes: bytes.into_boxed_slice(),
            encoded: true,
        },
        None => Chunk {
            bytes: raw.into(),
            encoded: false,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Compression, Shuffle};

    fn ramp(n: usize) -> Vec<u8> {
        (0..n as u32).flat_map(|i| (i / 7).to_le_bytes()).collect()
    }

    fn lz4() -> Encoding {
        Encoding::new(Compression::named("lz4", None).unwrap(), Shuffle::BYTE, 4)
    }

    #[test]
    fn uncompressed_stores_past_one_chunk_are_one_slab_however_they_grew() {
        let raw = ramp(3000);
        let store = ChunkStore::encode(&raw, Encoding::RAW, 4, 4096).unwrap();
        assert!(matches!(store.chunks, ChunkList::Slab(_)));
        assert_eq!(store.contiguous_raw(), Some(&raw[..]));
        assert_eq!(store.chunk_count(), 3);

        let mut appended = ChunkStore::encode(&raw[..4000], Encoding::RAW, 4, 4096).unwrap();
        assert!(matches!(appended.chunks, ChunkList::One(_)));
        appended.append(&raw[4000..], 4, 4000).unwrap();
        assert!(matches!(appended.chunks, ChunkList::Slab(_)));
        assert_eq!(appended.contiguous_raw(), Some(&raw[..]));

        let mut pieces = ChunkStore::encode(&raw[..4096], Encoding::RAW, 4, 4096).unwrap();
        let rest = ChunkStore::encode(&raw[4096..], Encoding::RAW, 4, 4096).unwrap();
        pieces.extend_chunks(rest.into_chunks());
        assert!(matches!(pieces.chunks, ChunkList::Slab(_)));
        assert_eq!(pieces.contiguous_raw(), Some(&raw[..]));

        let loaded = ChunkStore::from_parts(
            Encoding::RAW,
            4,
            4096,
            raw.len() as u64,
            store
                .chunk_refs()
                .into_iter()
                .map(|c| c.to_owned())
                .collect(),
        )
        .unwrap()
        .into_slab_if_raw();
        assert_eq!(loaded, store);

        let compressed = ChunkStore::encode(&raw, lz4(), 4, 4096).unwrap();
        assert!(matches!(compressed.chunks, ChunkList::Many(_)));
        assert_eq!(compressed.contiguous_raw(), None);
    }

    #[test]
    fn small_arrays_carry_no_spare_chunk_slots() {
        let store = ChunkStore::encode(&[0u8; 512], Encoding::RAW, 4, 262144).unwrap();
        assert!(matches!(store.chunks, ChunkList::One(_)));
    }

    #[test]
    fn chunk_sizes_are_whole_items() {
        assert_eq!(aligned_chunk_bytes(1000, 3), 999);
        assert_eq!(aligned_chunk_bytes(2, 16), 16);
        assert_eq!(aligned_chunk_bytes(usize::MAX, 8), MAX_CHUNK_BYTES);
    }

    #[test]
    fn ranges_read_back_and_decode_only_touched_chunks() {
        let raw = ramp(10_000);
        let store = ChunkStore::encode(&raw, lz4(), 4, 4096).unwrap();
        assert_eq!(store.chunk_count(), 10);
        assert!(store.chunk_refs().iter().all(|c| c.encoded));
        let mut out = Vec::new();
        let decoded = store
            .read_range(4100..4200, 4, raw.len() as u64, &mut out)
            .unwrap();
        assert_eq!(out, &raw[4100..4200]);
        assert_eq!(decoded, 1);
        out.clear();
        assert_eq!(
            store
                .read_range(0..raw.len() as u64, 4, raw.len() as u64, &mut out)
                .unwrap(),
            10
        );
        assert_eq!(out, raw);
        assert!(store
            .read_range(0..raw.len() as u64 + 1, 4, raw.len() as u64, &mut out)
            .is_err());
    }

    fn zstd_blocks(block: u32) -> Encoding {
        let zstd = Compression::named("zstd", Some(1)).unwrap();
        Encoding::new(zstd, Shuffle::BIT, 4).with_block_bytes(block, 4, 65536)
    }

    #[test]
    fn reads_decode_only_the_blocks_they_touch() {
        let raw = ramp(40_000); // 160,000 bytes: chunks of 65,536 in blocks of 4,096
        let total = raw.len() as u64;
        let store = ChunkStore::encode(&raw, zstd_blocks(4096), 4, 65536).unwrap();
        assert!(store.chunk_refs().iter().all(|c| c.encoded));
        let mut out = Vec::new();
        // 10 items inside one block; then a run across a block and a chunk boundary.
        assert_eq!(
            store
                .read_range(70_000..70_040, 4, total, &mut out)
                .unwrap(),
            1
        );
        assert_eq!(out, &raw[70_000..70_040]);
        out.clear();
        assert_eq!(
            store
                .read_range(65_000..66_000, 4, total, &mut out)
                .unwrap(),
            2
        );
        assert_eq!(out, &raw[65_000..66_000]);
        out.clear();
        assert_eq!(store.read_range(0..total, 4, total, &mut out).unwrap(), 40);
        assert_eq!(out, raw);
        let runs = [(70_000, 40), (4, 8), (70_040, 4), (159_996, 4)];
        out.clear();
        assert_eq!(store.gather(&runs, 4, total, &mut out).unwrap(), 3);
        let want: Vec<u8> = runs
            .iter()
            .flat_map(|&(o, n)| raw[o as usize..(o + n) as usize].to_vec())
            .collect();
        assert_eq!(out, want);
    }

    #[test]
    fn writes_re_encode_only_the_blocks_they_touch() {
        let raw = ramp(40_000);
        let total = raw.len() as u64;
        let mut store = ChunkStore::encode(&raw, zstd_blocks(4096), 4, 65536).unwrap();
        let mut patched = raw.clone();
        patched[70_000..70_008].copy_from_slice(&[9; 8]);
        patched[100..104].copy_from_slice(&[7; 4]);
        let mut writer = RunWriter::new(&store, 4, total);
        writer.write(70_000, &[9; 8]).unwrap();
        writer.write(100, &[7; 4]).unwrap();
        let decoded_here = || codec::blocks::BLOCKS_DECODED_HERE.with(|n| n.get());
        let before = decoded_here();
        let chunks = writer.finish().unwrap();
        assert_eq!(chunks.len(), 2);
        store.replace_chunks(chunks);
        // Exactly what a fresh encode of the new bytes stores: each block is encoded alone.
        assert_eq!(
            store,
            ChunkStore::encode(&patched, zstd_blocks(4096), 4, 65536).unwrap()
        );
        assert_eq!(decoded_here(), before, "finishing decodes nothing more");
    }

    #[test]
    fn appends_refill_the_partial_tail_and_match_a_fresh_encode() {
        let raw = ramp(5_000);
        let mut store = ChunkStore::encode(&raw[..1000], lz4(), 4, 4096).unwrap();
        let mut len = 1000u64;
        for piece in raw[1000..].chunks(3333) {
            store.append(piece, 4, len).unwrap();
            len += piece.len() as u64;
        }
        assert_eq!(store, ChunkStore::encode(&raw, lz4(), 4, 4096).unwrap());
        let mut out = Vec::new();
        store.read_range(0..len, 4, len, &mut out).unwrap();
        assert_eq!(out, raw);
    }

    #[test]
    fn persisted_parts_are_validated() {
        let raw = ramp(3_000);
        let store = ChunkStore::encode(&raw, lz4(), 4, 4096).unwrap();
        let n = raw.len() as u64;
        let parts = store
            .chunk_refs()
            .into_iter()
            .map(|c| c.to_owned())
            .collect::<Vec<_>>();
        assert!(ChunkStore::from_parts(lz4(), 4, 4096, n, parts.clone()).is_ok());
        assert!(ChunkStore::from_parts(lz4(), 4, 4096, n + 4096, parts.clone()).is_err());
        assert!(ChunkStore::from_parts(lz4(), 4, 4098, n, parts.clone()).is_err());
        assert!(ChunkStore::from_parts(lz4(), 4, 0, n, parts.clone()).is_err());
        let mut broken = parts.clone();
        broken[1].bytes = vec![0xff; 10].into();
        assert!(ChunkStore::from_parts(lz4(), 4, 4096, n, broken).is_err());
        let mut raw_short = parts;
        raw_short[2] = Chunk {
            bytes: vec![0; 7].into(),
            encoded: false,
        };
        assert!(ChunkStore::from_parts(lz4(), 4, 4096, n, raw_short).is_err());
    }

    #[test]
    fn big_stores_encode_and_decode_alike_in_parallel_jobs() {
        let raw = ramp((3 << 20) / 4 + 1234);
        let parallel = ChunkStore::encode(&raw, lz4(), 4, 65536).unwrap();
        let mut serial = ChunkStore::encode(&raw[..65536], lz4(), 4, 65536).unwrap();
        serial.append(&raw[65536..], 4, 65536).unwrap();
        assert_eq!(parallel, serial);
        let mut appended = ChunkStore::encode(&raw[..1000], lz4(), 4, 65536).unwrap();
        appended.append(&raw[1000..], 4, 1000).unwrap();
        assert_eq!(appended, parallel, "a big append matches a fresh encode");
        let mut out = vec![9];
        parallel.read_all(4, raw.len() as u64, &mut out).unwrap();
        assert_eq!(&out[1..], &raw[..]);
        let mut broken = parallel.clone();
        let mut chunks = broken.chunks.into_vec();
        chunks[5].bytes = vec![1; 10].into();
        broken.chunks = ChunkList::from(chunks);
        let mut out = vec![9];
        assert!(broken.read_all(4, raw.len() as u64, &mut out).is_err());
        assert_eq!(out, [9], "nothing appended on error");
        // A load checks a big store's chunks as parallel jobs: a bad one anywhere is refused.
        let total = raw.len() as u64;
        let good = parallel.clone().into_chunks();
        assert!(ChunkStore::from_parts(lz4(), 4, 65536, total, good.clone()).is_ok());
        for bad in [0, 7, good.len() - 1] {
            let mut chunks = good.clone();
            chunks[bad].bytes = vec![1; 10].into();
            let e = ChunkStore::from_parts(lz4(), 4, 65536, total, chunks).unwrap_err();
            assert!(e.to_string().contains("corrupt"), "{e}");
        }
    }
}
