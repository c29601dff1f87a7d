//! The chunks of a store, in one of three layouts:
//! - `One`: every small array is one chunk, kept inline (a list allocation of its own cost a small
//!   write an allocation and its free, which showed in every small `NDARRAY.SET`'s profile).
//! - `Many`: each chunk in its own allocation (compressed arrays; what a load rebuilds), shared
//!   (`Arc`) so that a write to a store a reader's snapshot still holds copies the list of
//!   pointers and the chunks it touches, never the others.
//! - `Slab`: an uncompressed array of several chunks, back to back in one buffer after a few
//!   spare bytes that hold its `.npy` header, so that `NDARRAY.GET` replies BLOB or NPY with one
//!   copy of the bytes (Redis' own, into the client's buffer), as a plain `GET` does.
//!
//! Readers see every layout the same way, as [`ChunkRef`]s.

use super::heap::Allocation;
use super::store::Chunk;
use std::sync::Arc;

/// Spare bytes in front of a slab's elements for its `.npy` header: a header (magic, version,
/// length and the dict, padded to 64) of up to 128 bytes covers every dtype with up to 6 dims of
/// any size. A longer one does not fit, and NPY replies then copy the elements after it.
pub const NPY_ROOM: usize = 128;

/// A chunk as stored, borrowed from any layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkRef<'a> {
    pub bytes: &'a [u8],
    pub encoded: bool,
}

impl ChunkRef<'_> {
    /// An owned copy (a replication piece, or a slab turned back into separate chunks).
    pub fn to_owned(self) -> Chunk {
        Chunk {
            bytes: self.bytes.into(),
            encoded: self.encoded,
        }
    }
}

/// Raw elements in one buffer: `NPY_ROOM` spare bytes, then the elements, cut into chunks of
/// `chunk_bytes` (the last may be shorter) only as readers see them. Not comparable: its spare
/// bytes may hold an older header (stores compare by their chunks).
#[derive(Debug, Clone)]
pub struct Slab {
    buf: Vec<u8>,
    chunk_bytes: usize,
    /// Length of the `.npy` header that ends where the elements start (0: none written).
    header_len: usize,
}

impl Slab {
    /// A slab of `raw` (the one copy of the elements into the store). A big one is copied in
    /// pieces on this thread and idle workers, which shortens a big SET.
    pub fn new(raw: &[u8], chunk_bytes: usize) -> Slab {
        let mut buf = buffer_with_room(raw.len());
        if raw.len() < PARALLEL_COPY_BYTES || !copy_in_parallel(&mut buf, raw) {
            buf.extend_from_slice(raw);
        }
        Slab::of(buf, chunk_bytes)
    }

    /// A slab of the raw chunks `pieces` (`total` bytes in all), copied once each (a load, or an
    /// array that outgrew one chunk).
    pub fn from_pieces<'a>(
        pieces: impl Iterator<Item = &'a [u8]>,
        total: usize,
        chunk_bytes: usize,
    ) -> Slab {
        let mut buf = buffer_with_room(total);
        for piece in pieces {
            buf.extend_from_slice(piece);
        }
        Slab::of(buf, chunk_bytes)
    }

    fn of(buf: Vec<u8>, chunk_bytes: usize) -> Slab {
        Slab {
            buf,
            chunk_bytes: chunk_bytes.max(1),
            header_len: 0,
        }
    }

    /// The elements.
    pub fn elements(&self) -> &[u8] {
        self.buf.get(NPY_ROOM..).unwrap_or_default()
    }

    /// The `.npy` header then the elements, when a header was written.
    pub fn npy_file(&self) -> Option<&[u8]> {
        if self.header_len == 0 {
            return None;
        }
        self.buf.get(NPY_ROOM.checked_sub(self.header_len)?..)
    }

    /// Writes `header` in front of the elements; false (and none kept) when it does not fit.
    pub fn set_npy_header(&mut self, header: &[u8]) -> bool {
        self.header_len = 0;
        let start = NPY_ROOM.checked_sub(header.len());
        if let Some(room) = start.and_then(|start| self.buf.get_mut(start..NPY_ROOM)) {
            room.copy_from_slice(header);
            self.header_len = header.len();
        }
        self.header_len != 0
    }

    fn len(&self) -> usize {
        self.elements().len().div_ceil(self.chunk_bytes)
    }

    fn get(&self, index: usize) -> Option<ChunkRef<'_>> {
        let elements = self.elements();
        let start = index.checked_mul(self.chunk_bytes)?;
        if start >= elements.len() {
            return None;
        }
        let end = start.saturating_add(self.chunk_bytes).min(elements.len());
        Some(ChunkRef {
            bytes: elements.get(start..end)?,
            encoded: false,
        })
    }

    /// Overwrites chunk `index` with `raw` of the same length; false when it is not.
    fn overwrite(&mut self, index: usize, raw: &[u8]) -> bool {
        let Some(start) = index
            .checked_mul(self.chunk_bytes)
            .and_then(|s| s.checked_add(NPY_ROOM))
        else {
            return false;
        };
        let same_len = self.get(index).is_some_and(|c| c.bytes.len() == raw.len());
        match self.buf.get_mut(start..start.saturating_add(raw.len())) {
            Some(target) if same_len => {
                target.copy_from_slice(raw);
                true
            }
            _ => false,
        }
    }

    /// Appends raw bytes. Grows by at least an eighth, so that many small appends stay linear
    /// while the spare capacity stays within 12.5%.
    pub fn extend(&mut self, raw: &[u8]) {
        let spare = self.buf.capacity() - self.buf.len();
        if spare < raw.len() {
            self.buf.reserve_exact(raw.len().max(self.buf.len() / 8));
        }
        self.buf.extend_from_slice(raw);
        // The header described the old shape; the array writes a new one.
        self.header_len = 0;
    }
}

/// A buffer holding the header room, with capacity for `elements` bytes more: the kept spare
/// if it fits (see `spare.rs`: fresh buffers of 8 MiB and more page-fault on every page).
fn buffer_with_room(elements: usize) -> Vec<u8> {
    let bytes = NPY_ROOM.saturating_add(elements);
    let mut buf = super::spare::take(bytes).unwrap_or_else(|| Vec::with_capacity(bytes));
    buf.resize(NPY_ROOM, b' ');
    buf
}

/// Bytes from which a slab's copy is spread over the workers.
const PARALLEL_COPY_BYTES: usize = 1 << 20;

/// Appends `raw` to `buf` in 1 MiB pieces copied on this thread and idle workers. Returns
/// false, having appended nothing, if a piece was not copied.
fn copy_in_parallel(buf: &mut Vec<u8>, raw: &[u8]) -> bool {
    const PIECE: usize = 1 << 20;
    crate::parallel::fill_in_parallel(buf, raw.len(), PIECE, |i, target| {
        let source = raw.get(i * PIECE..)?.get(..target.len())?;
        Some(target.write_copy_of_slice(source))
    })
}

impl Drop for Slab {
    fn drop(&mut self) {
        super::spare::give(std::mem::take(&mut self.buf));
    }
}

#[derive(Debug, Clone)]
pub enum ChunkList {
    One(Chunk),
    /// None (an empty array) or several.
    Many(Vec<Arc<Chunk>>),
    Slab(Slab),
}

impl ChunkList {
    pub fn get(&self, index: usize) -> Option<ChunkRef<'_>> {
        match self {
            ChunkList::One(chunk) => (index == 0).then(|| chunk.as_ref()),
            ChunkList::Many(chunks) => chunks.get(index).map(|c| Chunk::as_ref(c)),
            ChunkList::Slab(slab) => slab.get(index),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            ChunkList::One(_) => 1,
            ChunkList::Many(chunks) => chunks.len(),
            ChunkList::Slab(slab) => slab.len(),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = ChunkRef<'_>> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    /// The allocations of the layout (for a slab, its whole buffer; a shared chunk's block and
    /// bytes for every list that shares it).
    pub fn allocations(&self, visit: &mut dyn FnMut(Allocation)) {
        match self {
            ChunkList::One(chunk) => chunk.allocations(visit),
            ChunkList::Many(chunks) => {
                let list = chunks.capacity() * std::mem::size_of::<Arc<Chunk>>();
                if let Some(a) = Allocation::at(chunks.as_ptr(), list) {
                    visit(a);
                }
                for chunk in chunks {
                    visit(Allocation::shared::<Chunk>());
                    chunk.allocations(visit);
                }
            }
            ChunkList::Slab(slab) => {
                if let Some(a) = Allocation::at(slab.buf.as_ptr(), slab.buf.capacity()) {
                    visit(a);
                }
            }
        }
    }

    /// Heap bytes asked for by the layout.
    #[cfg(test)]
    pub fn heap_bytes(&self) -> usize {
        let mut bytes = 0;
        self.allocations(&mut |a| bytes += a.requested);
        bytes
    }

    /// The chunks, owned: a chunk a snapshot still shares is copied.
    pub fn into_vec(self) -> Vec<Chunk> {
        match self {
            ChunkList::One(chunk) => vec![chunk],
            ChunkList::Many(chunks) => chunks
                .into_iter()
                .map(|c| Arc::try_unwrap(c).unwrap_or_else(|shared| (*shared).clone()))
                .collect(),
            ChunkList::Slab(slab) => slab_chunks(&slab),
        }
    }

    /// The chunks as a shared list (a slab's are copied out of it).
    fn into_shared(self) -> Vec<Arc<Chunk>> {
        match self {
            ChunkList::Many(chunks) => chunks,
            other => other.into_vec().into_iter().map(Arc::new).collect(),
        }
    }

    /// Removes the last chunk.
    pub fn pop(&mut self) {
        let mut chunks = std::mem::replace(self, ChunkList::Many(Vec::new())).into_shared();
        chunks.pop();
        *self = ChunkList::from_shared(chunks);
    }

    /// Adds `more` after the last chunk (a slab takes raw chunks as bytes; an encoded one, which
    /// only a hostile payload could bring, turns it into separate chunks).
    pub fn extend(&mut self, more: Vec<Chunk>) {
        if more.is_empty() {
            return;
        }
        if let ChunkList::Slab(slab) = self {
            if more.iter().all(|c| !c.encoded) {
                for chunk in &more {
                    slab.extend(&chunk.bytes);
                }
                return;
            }
        }
        let mut chunks = std::mem::replace(self, ChunkList::Many(Vec::new())).into_shared();
        chunks.extend(more.into_iter().map(Arc::new));
        *self = ChunkList::from_shared(chunks);
    }

    /// Puts `chunk` at `index` (an index past the end is ignored).
    pub fn replace(&mut self, index: usize, chunk: Chunk) {
        if let ChunkList::Slab(slab) = self {
            if chunk.encoded || !slab.overwrite(index, &chunk.bytes) {
                let chunks = slab_chunks(slab);
                *self = ChunkList::Many(chunks.into_iter().map(Arc::new).collect());
            } else {
                return;
            }
        }
        let slot = match self {
            ChunkList::One(only) => (index == 0).then_some(only),
            ChunkList::Many(chunks) => {
                if let Some(slot) = chunks.get_mut(index) {
                    *slot = Arc::new(chunk);
                }
                return;
            }
            ChunkList::Slab(_) => None,
        };
        if let Some(slot) = slot {
            *slot = chunk;
        }
    }
}

fn slab_chunks(slab: &Slab) -> Vec<Chunk> {
    (0..slab.len())
        .filter_map(|i| slab.get(i).map(ChunkRef::to_owned))
        .collect()
}

impl Chunk {
    pub fn as_ref(&self) -> ChunkRef<'_> {
        ChunkRef {
            bytes: &self.bytes,
            encoded: self.encoded,
        }
    }
}

impl From<Vec<Chunk>> for ChunkList {
    fn from(mut chunks: Vec<Chunk>) -> Self {
        match (chunks.len(), chunks.pop()) {
            (1, Some(chunk)) => ChunkList::One(chunk),
            (_, last) => {
                let mut shared: Vec<Arc<Chunk>> = Vec::with_capacity(chunks.len() + 1);
                shared.extend(chunks.into_iter().map(Arc::new));
                shared.extend(last.map(Arc::new));
                ChunkList::Many(shared)
            }
        }
    }
}

impl ChunkList {
    /// A list of shared chunks; one chunk is kept inline (copied out if a snapshot shares it).
    fn from_shared(mut chunks: Vec<Arc<Chunk>>) -> Self {
        if chunks.len() == 1 {
            if let Some(only) = chunks.pop() {
                return ChunkList::One(Arc::try_unwrap(only).unwrap_or_else(|s| (*s).clone()));
            }
        }
        ChunkList::Many(chunks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_big_slab_dropped_leaves_its_buffer_for_the_next() {
        let raw = vec![1u8; crate::array::spare::MIN_BYTES * 2];
        let first = Slab::new(&raw, 262144);
        let at = first.buf.as_ptr();
        drop(first);
        let second = Slab::new(&raw, 262144);
        assert_eq!(second.buf.as_ptr(), at, "the freed buffer was reused");
        assert_eq!(second.elements(), &raw[..]);
    }

    fn chunk(byte: u8) -> Chunk {
        Chunk {
            bytes: vec![byte; 3].into_boxed_slice(),
            encoded: false,
        }
    }

    fn bytes(list: &ChunkList) -> Vec<Vec<u8>> {
        list.iter().map(|c| c.bytes.to_vec()).collect()
    }

    #[test]
    fn one_chunk_is_inline_and_grows_into_a_list() {
        let mut list = ChunkList::from(vec![chunk(1)]);
        assert!(matches!(list, ChunkList::One(_)));
        assert_eq!(list.heap_bytes(), 3);
        list.extend(vec![chunk(2), chunk(3)]);
        assert_eq!(list.len(), 3);
        assert_eq!(list.get(2), Some(chunk(3).as_ref()));
        assert_eq!(list.get(3), None);
        list.pop();
        list.pop();
        assert_eq!(bytes(&list), vec![vec![1; 3]]);
        list.pop();
        assert_eq!(list.len(), 0);
        list.extend(vec![chunk(4)]);
        assert!(matches!(list, ChunkList::One(_)));
        list.replace(0, chunk(5));
        assert_eq!(list.into_vec(), vec![chunk(5)]);
    }

    #[test]
    fn a_slab_reads_as_chunks_with_a_short_last_one() {
        let raw: Vec<u8> = (0..10).collect();
        let list = ChunkList::Slab(Slab::new(&raw, 4));
        assert_eq!(list.len(), 3);
        assert_eq!(
            bytes(&list),
            vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]
        );
        assert_eq!(list.get(3), None);
        assert!(list.iter().all(|c| !c.encoded));
        let empty = ChunkList::Slab(Slab::new(&[], 4));
        assert_eq!(empty.len(), 0);
    }

    #[test]
    fn a_slab_keeps_its_npy_header_right_before_the_elements() {
        let mut slab = Slab::new(&[7, 8, 9], 2);
        assert_eq!(slab.npy_file(), None);
        assert!(slab.set_npy_header(b"HEAD"));
        assert_eq!(slab.npy_file(), Some(&b"HEAD\x07\x08\x09"[..]));
        assert_eq!(slab.elements(), &[7, 8, 9]);
        assert!(!slab.set_npy_header(&[b'h'; NPY_ROOM + 1]));
        assert_eq!(slab.npy_file(), None);
        assert!(slab.set_npy_header(b"H"));
        slab.extend(&[10]);
        assert_eq!(slab.npy_file(), None, "an append invalidates the header");
        assert_eq!(slab.elements(), &[7, 8, 9, 10]);
    }

    #[test]
    fn slab_writes_and_appends_stay_in_place_unless_a_chunk_is_encoded() {
        let mut list = ChunkList::Slab(Slab::new(&[0; 6], 4));
        list.replace(
            1,
            Chunk {
                bytes: vec![5, 5].into(),
                encoded: false,
            },
        );
        list.extend(vec![Chunk {
            bytes: vec![1, 2, 3, 4].into(),
            encoded: false,
        }]);
        assert!(matches!(list, ChunkList::Slab(_)));
        assert_eq!(bytes(&list), vec![vec![0; 4], vec![5, 5, 1, 2], vec![3, 4]]);
        // A chunk of the wrong length, or an encoded one, cannot live in a slab.
        list.replace(2, chunk(9));
        assert!(matches!(list, ChunkList::Many(_)));
        assert_eq!(bytes(&list), vec![vec![0; 4], vec![5, 5, 1, 2], vec![9; 3]]);
    }

    #[test]
    fn many_small_appends_to_a_slab_keep_its_spare_capacity_small() {
        let mut slab = Slab::new(&[0; 1 << 16], 4096);
        for _ in 0..1000 {
            slab.extend(&[1; 64]);
        }
        let len = slab.buf.len();
        assert!(
            slab.buf.capacity() <= len + len / 8 + 64,
            "{len} {}",
            slab.buf.capacity()
        );
    }
}
