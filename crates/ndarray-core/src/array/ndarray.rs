//! `NdArray`: the value stored under an NDARRAY key.

use super::attrs::Attrs;
use super::dtype::DType;
use super::error::{ArrayError, ArrayResult};
use super::heap::Allocation;
use super::shape::{element_count, Shape};
use super::slice::Selection;
use super::store::{aligned_chunk_bytes, Chunk, ChunkStore, RunReader, RunWriter, MIN_CHUNK_BYTES};
use crate::codec::Encoding;
use std::sync::{Arc, Weak};

/// dtype + shape + C-order little-endian elements kept in a chunk store.
///
/// The store is shared (`Arc`): cloning an array is a snapshot that costs a reference count, not
/// a copy of its bytes. A worker reading a snapshot keeps its chunks alive whatever happens to the
/// key meanwhile (a write, DEL, FLUSHALL); a write to an array whose store a snapshot still holds
/// copies the store first ([`Arc::make_mut`]), so the snapshot never changes under the reader.
///
/// Beside the elements it keeps its attributes and `updated_at`, the Unix time in milliseconds of
/// the last write to its data, shape or attributes on the primary (0: unknown, for values written
/// before encoding version 2). The core never reads a clock: the commands stamp it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NdArray {
    dtype: DType,
    shape: Shape,
    store: Arc<ChunkStore>,
    meta: Meta,
}

/// A write into an array computed from one state of it (see [`NdArray::plan_write`]).
pub struct PlannedWrite {
    base: Weak<ChunkStore>,
    shape: Shape,
    chunks: Vec<(usize, Chunk)>,
    /// The whole new store, built where the plan was made (see [`NdArray::plan_write_copy`]).
    store: Option<Arc<ChunkStore>>,
}

/// What an array keeps besides its elements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    pub updated_at: u64,
    pub attrs: Attrs,
}

impl NdArray {
    /// Builds an array from raw C-order little-endian bytes, which must match the shape exactly.
    /// `chunk_bytes` is the requested chunk size (at least `MIN_CHUNK_BYTES`, which every loader
    /// requires too, then rounded down to whole items).
    pub fn encode(
        dtype: DType,
        shape: Shape,
        raw: &[u8],
        encoding: Encoding,
        chunk_bytes: usize,
    ) -> ArrayResult<Self> {
        check_len(dtype, &shape, raw.len())?;
        let chunk_bytes =
            aligned_chunk_bytes(chunk_bytes.max(MIN_CHUNK_BYTES as usize), dtype.itemsize());
        // Normalised for this dtype, its blocks within the chunk: what a load of it rebuilds.
        let encoding = Encoding::new(encoding.compression, encoding.shuffle, dtype.itemsize())
            .with_block_bytes(encoding.block_bytes, dtype.itemsize(), chunk_bytes);
        let store = ChunkStore::encode(raw, encoding, dtype.itemsize(), chunk_bytes)?;
        let mut array = NdArray {
            dtype,
            shape,
            store: Arc::new(store),
            meta: Meta::default(),
        };
        array.write_npy_header();
        Ok(array)
    }

    /// Rebuilds a persisted array; every part is validated (see [`ChunkStore::from_parts`]).
    pub fn from_parts(
        dtype: DType,
        shape: Shape,
        encoding: Encoding,
        chunk_bytes: u32,
        chunks: Vec<Chunk>,
    ) -> ArrayResult<Self> {
        let total = shape.size().saturating_mul(dtype.itemsize() as u64);
        let store = ChunkStore::from_parts(encoding, dtype.itemsize(), chunk_bytes, total, chunks)?
            .into_slab_if_raw();
        let mut array = NdArray {
            dtype,
            shape,
            store: Arc::new(store),
            meta: Meta::default(),
        };
        if dtype == DType::Bool {
            array = array.with_canonical_bools()?;
        }
        array.write_npy_header();
        Ok(array)
    }

    /// A bool array whose bytes are all 0 or 1, as every write stores them (NumPy's bool: any
    /// nonzero byte is True). A payload written before that rule, or forged, may hold other
    /// nonzero bytes: they become 1, re-encoded in the same encoding and chunk size.
    fn with_canonical_bools(self) -> ArrayResult<Self> {
        let mut raw = Vec::new();
        self.read_all(&mut raw)?;
        if raw.iter().all(|&b| b <= 1) {
            return Ok(self);
        }
        raw.iter_mut().for_each(|b| *b = u8::from(*b != 0));
        let store = ChunkStore::encode(&raw, self.encoding(), 1, self.store.chunk_bytes())?;
        Ok(NdArray {
            store: Arc::new(store),
            ..self
        })
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    pub fn encoding(&self) -> Encoding {
        self.store.encoding()
    }

    pub fn store(&self) -> &ChunkStore {
        &self.store
    }

    pub fn attrs(&self) -> &Attrs {
        &self.meta.attrs
    }

    pub fn attrs_mut(&mut self) -> &mut Attrs {
        &mut self.meta.attrs
    }

    /// Unix milliseconds of the last write on the primary; 0 when unknown.
    pub fn updated_at(&self) -> u64 {
        self.meta.updated_at
    }

    pub fn set_updated_at(&mut self, unix_ms: u64) {
        self.meta.updated_at = unix_ms;
    }

    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    pub fn set_meta(&mut self, meta: Meta) {
        self.meta = meta;
    }

    /// Raw bytes of the elements. Fits in memory: the shape was checked when the array was made.
    pub fn nbytes(&self) -> u64 {
        self.shape
            .size()
            .saturating_mul(self.dtype.itemsize() as u64)
    }

    /// Appends all elements (C order, little-endian) to `out`.
    pub fn read_all(&self, out: &mut Vec<u8>) -> ArrayResult<()> {
        self.store
            .read_all(self.dtype.itemsize(), self.nbytes(), out)
    }

    /// The elements as one borrowed slice when they are stored raw in one place (a single raw
    /// chunk, as small arrays are, or an uncompressed slab), so replies can skip a copy.
    pub fn as_contiguous(&self) -> Option<&[u8]> {
        self.store.contiguous_raw()
    }

    /// The array as a `.npy` file in one borrowed slice, when the store keeps the header in front
    /// of its elements (uncompressed arrays of several chunks).
    pub fn as_npy_file(&self) -> Option<&[u8]> {
        self.store.npy_file()
    }

    /// Keeps the `.npy` header in front of a slab's elements describing the current shape: after
    /// every change of shape. (A slab a reader's snapshot shares is copied first: rare, as a
    /// RESHAPE while a worker reads the array.)
    fn write_npy_header(&mut self) {
        if !self.store.keeps_npy_header() {
            return;
        }
        let mut header = Vec::with_capacity(super::store::NPY_ROOM);
        super::npy::write_npy_header(&mut header, self.dtype, &self.shape);
        Arc::make_mut(&mut self.store).set_npy_header(&header);
    }

    /// Feeds the raw elements to `visit` a chunk at a time (digest, AOF rewrite) without
    /// materialising the whole array.
    pub fn for_each_raw_piece(
        &self,
        piece_bytes: usize,
        mut visit: impl FnMut(&[u8]) -> ArrayResult<()>,
    ) -> ArrayResult<()> {
        let piece = aligned_chunk_bytes(piece_bytes, self.dtype.itemsize()) as u64;
        let total = self.nbytes();
        let mut buf = Vec::new();
        let mut start = 0;
        while start < total {
            let end = (start + piece).min(total);
            buf.clear();
            self.store
                .read_range(start..end, self.dtype.itemsize(), total, &mut buf)?;
            visit(&buf)?;
            start = end;
        }
        Ok(())
    }

    /// About `max_bytes` of the array's elements for codec trials (`NDARRAY.PROBE`): all of them
    /// when the array is no larger, else `pieces` runs spread over it, each starting on a whole
    /// group of 8 items (where a bit shuffle's blocks start). Decodes only the chunks it reads.
    pub fn sample(&self, max_bytes: u64, pieces: usize) -> ArrayResult<Vec<u8>> {
        let itemsize = self.dtype.itemsize();
        let piece = max_bytes / pieces.max(1) as u64;
        let runs = crate::codec::auto::spread(self.nbytes(), pieces, piece, 8 * itemsize as u64);
        let total: u64 = runs.iter().map(|(_, len)| len).sum();
        let mut out = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
        let mut reader = RunReader::new(&self.store, itemsize, self.nbytes());
        for (offset, len) in runs {
            reader.read(offset, len, &mut out)?;
        }
        Ok(out)
    }

    /// At most how many raw bytes a read of `sel` decodes: the selected bytes, plus for a
    /// compressed array one decoded unit (a block, or a chunk stored as one frame) per run of
    /// contiguous bytes; never more than the whole array. Computed without visiting the runs: what
    /// decides whether a read runs on a worker (a gather of 256 rows returns 64 KiB but may decode
    /// 256 blocks).
    pub fn read_work(&self, sel: &Selection) -> u64 {
        let itemsize = self.dtype.itemsize();
        let selected = sel.size().saturating_mul(itemsize as u64);
        let encoding = self.store.encoding();
        if encoding.compression.is_none() {
            return selected;
        }
        let unit = match encoding.block_bytes {
            0 => self.store.chunk_bytes(),
            block => block,
        };
        let decoded = sel
            .runs_bound(&self.shape, itemsize)
            .saturating_mul(u64::from(unit));
        selected.saturating_add(decoded).min(self.nbytes())
    }

    /// Appends the selected elements (C order of the result) to `out`, decoding only the chunks
    /// that hold them, each once. Returns how many compressed chunks were decoded.
    pub fn read_selection(&self, sel: &Selection, out: &mut Vec<u8>) -> ArrayResult<usize> {
        if sel.gathers() {
            // Runs in any order: collected first, then each touched chunk decoded once.
            let mut runs = Vec::new();
            sel.for_each_run(&self.shape, self.dtype.itemsize(), |offset, len| {
                runs.push((offset, len));
                Ok(())
            })?;
            return self
                .store
                .gather(&runs, self.dtype.itemsize(), self.nbytes(), out);
        }
        let mut reader = RunReader::new(&self.store, self.dtype.itemsize(), self.nbytes());
        sel.for_each_run(&self.shape, self.dtype.itemsize(), |offset, len| {
            reader.read(offset, len, out)
        })?;
        Ok(reader.decoded)
    }

    /// Writes `data` (C order of the selection, or a single element to broadcast) into the selected
    /// elements. Only touched chunks are decoded and re-encoded; on error nothing changes.
    pub fn write_selection(&mut self, sel: &Selection, data: &[u8]) -> ArrayResult<()> {
        let plan = self.plan_write(sel, data)?;
        // Planned against this very state: it applies.
        let _ = self.apply_write(plan);
        Ok(())
    }

    /// The chunks a write of `data` into `sel` produces, computed from this state of the array
    /// without changing it (on a worker, from a snapshot); [`NdArray::apply_write`] puts them in.
    pub fn plan_write(&self, sel: &Selection, data: &[u8]) -> ArrayResult<PlannedWrite> {
        let itemsize = self.dtype.itemsize();
        let need = sel.size().saturating_mul(itemsize as u64);
        let broadcast = data.len() == itemsize && need != itemsize as u64;
        if !broadcast && data.len() as u64 != need {
            return Err(ArrayError::shape(format!(
                "data is {} bytes, the selection of shape {} needs {need} ({} elements of {})",
                data.len(),
                Shape::new(sel.dims().to_vec(), self.dtype)?,
                sel.size(),
                self.dtype.name()
            )));
        }
        let mut writer = RunWriter::new(&self.store, itemsize, self.nbytes());
        let mut rest = data;
        let mut fill = Vec::new();
        sel.for_each_run(&self.shape, itemsize, |offset, len| {
            let len = len as usize;
            if broadcast {
                fill.clear();
                for _ in 0..len / itemsize {
                    fill.extend_from_slice(data);
                }
                writer.write(offset, &fill)
            } else {
                let (piece, tail) = rest.split_at(rest.len().min(len));
                rest = tail;
                writer.write(offset, piece)
            }
        })?;
        Ok(PlannedWrite {
            base: Arc::downgrade(&self.store),
            shape: self.shape.clone(),
            chunks: writer.finish()?,
            store: None,
        })
    }

    /// As [`NdArray::plan_write`], and for a store held as one buffer (an uncompressed slab), the
    /// whole new store too: copy 1 of the elements, made here (on a worker), so that installing
    /// it under a reader's snapshot costs a pointer swap instead of copying the buffer there.
    pub fn plan_write_copy(&self, sel: &Selection, data: &[u8]) -> ArrayResult<PlannedWrite> {
        let mut plan = self.plan_write(sel, data)?;
        if self.store.keeps_npy_header() {
            let mut store = (*self.store).clone();
            store.replace_chunks(std::mem::take(&mut plan.chunks));
            plan.store = Some(Arc::new(store));
        }
        Ok(plan)
    }

    /// Whether a snapshot (a running read, or a planned write) holds this array's store too: a
    /// write would then copy it (for an uncompressed slab, its whole buffer).
    pub fn store_is_shared(&self) -> bool {
        Arc::strong_count(&self.store) > 1
    }

    /// Puts in the chunks of `plan` if the array is still in the state it was planned from (same
    /// store, same shape); otherwise hands the plan back and changes nothing. Returns the store a
    /// planned copy replaced, for the caller to free where it costs nobody (not under Redis' lock).
    pub fn apply_write(
        &mut self,
        plan: PlannedWrite,
    ) -> Result<Option<Arc<ChunkStore>>, PlannedWrite> {
        // Every change of the store moves it (`Arc::make_mut` with the plan's `Weak` outstanding
        // copies or moves the value), and the `Weak` keeps the old address from being reused.
        if !std::ptr::eq(plan.base.as_ptr(), Arc::as_ptr(&self.store)) || plan.shape != self.shape {
            return Err(plan);
        }
        let PlannedWrite {
            base,
            chunks,
            store,
            ..
        } = plan;
        // Without the `Weak`, a store no snapshot holds is changed in place.
        drop(base);
        match store {
            Some(store) => Ok(Some(std::mem::replace(&mut self.store, store))),
            None => {
                Arc::make_mut(&mut self.store).replace_chunks(chunks);
                Ok(None)
            }
        }
    }

    /// Appends `rows` (raw bytes of whole rows along axis 0) and returns the new length of axis 0.
    pub fn append_rows(&mut self, raw: &[u8]) -> ArrayResult<u64> {
        let Some(&len0) = self.shape.dims().first() else {
            return Err(ArrayError::shape("cannot append to a 0-d array"));
        };
        let row_bytes = element_count(self.shape.dims().get(1..).unwrap_or_default())
            .saturating_mul(self.dtype.itemsize() as u64);
        let raw_len = raw.len() as u64;
        if row_bytes == 0 || !raw_len.is_multiple_of(row_bytes) {
            return Err(ArrayError::shape(format!(
                "appended data is {raw_len} bytes, not a whole number of {}-byte rows of shape {}",
                row_bytes, self.shape
            )));
        }
        let new_len = len0
            .checked_add(raw_len / row_bytes)
            .ok_or_else(|| ArrayError::TooLarge("axis 0 would overflow".into()))?;
        let new_shape = self.shape.with_first_dim(new_len, self.dtype)?;
        let (itemsize, nbytes) = (self.dtype.itemsize(), self.nbytes());
        Arc::make_mut(&mut self.store).append(raw, itemsize, nbytes)?;
        self.shape = new_shape;
        self.write_npy_header();
        Ok(new_len)
    }

    /// Appends the chunks of `piece`, a flat array in the same dtype, encoding and chunk size, to
    /// this flat array whose length is a whole number of chunks (a replication piece, see
    /// `persist::replication_pieces`). The chunks move as stored: nothing is decoded or encoded.
    /// On error nothing changes.
    pub fn append_chunks(&mut self, piece: NdArray) -> ArrayResult<()> {
        let chunk_bytes = self.store.chunk_bytes();
        let compatible = self.shape.ndim() == 1
            && piece.shape.ndim() == 1
            && piece.dtype == self.dtype
            && piece.encoding() == self.encoding()
            && piece.store.chunk_bytes() == chunk_bytes
            && self.nbytes().is_multiple_of(u64::from(chunk_bytes));
        if !compatible {
            return Err(ArrayError::shape(format!(
                "cannot append chunks of a {} array of shape {} (chunk size {}) to a {} array of shape {} (chunk size {chunk_bytes}): \
                 both must be 1-d in the same dtype, encoding and chunk size, the first a whole number of chunks",
                piece.dtype.name(),
                piece.shape,
                piece.store.chunk_bytes(),
                self.dtype.name(),
                self.shape
            )));
        }
        let len0 = self.shape.size();
        let new_len = len0
            .checked_add(piece.shape.size())
            .ok_or_else(|| ArrayError::TooLarge("axis 0 would overflow".into()))?;
        let new_shape = self.shape.with_first_dim(new_len, self.dtype)?;
        let chunks = Arc::try_unwrap(piece.store)
            .map(ChunkStore::into_chunks)
            .unwrap_or_else(|shared| {
                let refs = shared.chunk_refs();
                refs.into_iter().map(|c| c.to_owned()).collect()
            });
        Arc::make_mut(&mut self.store).extend_chunks(chunks);
        self.shape = new_shape;
        self.write_npy_header();
        Ok(())
    }

    /// Gives the array a new shape with the same number of elements (C order is unchanged, so no
    /// data moves).
    pub fn reshape(&mut self, shape: Shape) -> ArrayResult<()> {
        if shape.size() != self.shape.size() {
            return Err(ArrayError::shape(format!(
                "cannot reshape an array of {} elements {} into shape {shape}",
                self.shape.size(),
                self.shape
            )));
        }
        self.shape = shape;
        self.write_npy_header();
        Ok(())
    }

    /// The allocations this value owns besides itself (the host sizes its own box): its dims,
    /// its store's shared block and chunks, its attributes. For MEMORY USAGE.
    pub fn allocations(&self, visit: &mut dyn FnMut(Allocation)) {
        let dims = self.shape.dims();
        if let Some(a) = Allocation::at(dims.as_ptr(), std::mem::size_of_val(dims)) {
            visit(a);
        }
        visit(Allocation::shared::<ChunkStore>());
        self.store.allocations(visit);
        self.meta.attrs.allocations(visit);
    }

    /// Bytes this value asked the heap for, its own box included (what [`Self::allocations`]
    /// lists, before the allocator's rounding).
    pub fn heap_bytes(&self) -> usize {
        let mut bytes = std::mem::size_of::<Self>();
        self.allocations(&mut |a| bytes += a.requested);
        bytes
    }
}

/// Refuses data whose length does not match the shape, with the numbers the user needs.
pub fn check_len(dtype: DType, shape: &Shape, len: usize) -> ArrayResult<()> {
    let need = shape.size().saturating_mul(dtype.itemsize() as u64);
    if len as u64 != need {
        return Err(ArrayError::shape(format!(
            "blob is {len} bytes, {} with shape {shape} needs {need}",
            dtype.name()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Compression, Shuffle};

    fn shape(d: &[u64]) -> Shape {
        Shape::new(d.to_vec(), DType::Float32).unwrap()
    }

    #[test]
    fn read_work_counts_a_block_per_run_of_a_compressed_array() {
        let rows = 4096u64;
        let raw: Vec<u8> = (0..rows * 64)
            .flat_map(|i| ((i % 977) as f32).to_le_bytes())
            .collect();
        let zstd = Compression::named("zstd", Some(1)).unwrap();
        let blocked = Encoding::new(zstd, Shuffle::BIT, 4);
        let block = u64::from(blocked.block_bytes);
        let whole = blocked.with_block_bytes(0, 4, 256 << 10);
        for (encoding, unit) in [
            (Encoding::RAW, 0),
            (blocked, block),
            (whole, u64::from(256u32 << 10)),
        ] {
            let a = NdArray::encode(
                DType::Float32,
                shape(&[rows, 64]),
                &raw,
                encoding,
                256 << 10,
            )
            .unwrap();
            let s = |text: &str| Selection::resolve(text.as_bytes(), a.shape()).unwrap();
            // Ten elements: one run.
            assert_eq!(a.read_work(&s("5, 0:10")), 40 + unit);
            // 256 rows gathered: a run each, whatever the reply's size.
            let rows_256 = (0..256).map(|i| (i * 13).to_string()).collect::<Vec<_>>();
            let gather = s(&format!("[{}], :", rows_256.join(",")));
            assert_eq!(
                a.read_work(&gather),
                (256 * 256 + 256 * unit).min(a.nbytes())
            );
            // Never more than the whole array.
            assert_eq!(
                a.read_work(&s(":, ::2")),
                if unit == 0 {
                    a.nbytes() / 2
                } else {
                    a.nbytes()
                }
            );
        }
    }

    #[test]
    fn blob_of_wrong_length_is_refused_with_sizes() {
        let e = NdArray::encode(
            DType::Float32,
            shape(&[2, 3]),
            &[0; 12],
            Encoding::RAW,
            4096,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "blob is 12 bytes, float32 with shape (2, 3) needs 24"
        );
    }

    #[test]
    fn small_raw_arrays_are_one_contiguous_chunk() {
        let a = NdArray::encode(
            DType::Float32,
            shape(&[128]),
            &[7; 512],
            Encoding::RAW,
            1 << 18,
        )
        .unwrap();
        assert_eq!(a.as_contiguous(), Some(&[7u8; 512][..]));
        let empty =
            NdArray::encode(DType::Float32, shape(&[0, 5]), &[], Encoding::RAW, 1 << 18).unwrap();
        assert_eq!(empty.as_contiguous(), Some(&[][..]));
        assert_eq!(empty.store().chunk_count(), 0);
    }

    #[test]
    fn an_array_value_stays_within_a_48_byte_allocation() {
        // MEMORY USAGE of a small array is a few allocations: keep the value's own small.
        assert!(std::mem::size_of::<NdArray>() <= 48);
    }

    #[test]
    fn append_rows_grows_axis_zero_and_reshape_keeps_bytes() {
        let enc = Encoding::new(Compression::named("lz4", None).unwrap(), Shuffle::BYTE, 4);
        let mut a = NdArray::encode(DType::Float32, shape(&[1, 2]), &[1; 8], enc, 4096).unwrap();
        assert_eq!(a.append_rows(&[2; 16]).unwrap(), 3);
        assert!(a.append_rows(&[2; 4]).is_err());
        let mut out = Vec::new();
        a.read_all(&mut out).unwrap();
        assert_eq!(out, [[1u8; 8].as_slice(), &[2; 16]].concat());
        a.reshape(shape(&[6])).unwrap();
        assert!(a.reshape(shape(&[5])).is_err());
        let mut scalar = NdArray::encode(DType::Float32, shape(&[]), &[0; 4], enc, 4096).unwrap();
        assert!(scalar.append_rows(&[0; 4]).is_err());
    }

    #[test]
    fn a_write_under_a_snapshot_copies_only_the_chunks_it_touches() {
        let enc = Encoding::new(Compression::named("lz4", None).unwrap(), Shuffle::BYTE, 4);
        let raw: Vec<u8> = (0..4096u32 * 8)
            .flat_map(|i| (i as f32).to_le_bytes())
            .collect();
        let mut a = NdArray::encode(DType::Float32, shape(&[4096 * 8]), &raw, enc, 4096).unwrap();
        let snapshot = a.clone();
        let sel = Selection::resolve(b"5", a.shape()).unwrap();
        a.write_selection(&sel, &7f32.to_le_bytes()).unwrap();
        let at = |x: &NdArray, i: usize| x.store().chunk(i).unwrap().bytes.as_ptr();
        assert_ne!(at(&a, 0), at(&snapshot, 0), "the touched chunk is new");
        for i in 1..a.store().chunk_count() {
            assert_eq!(
                at(&a, i),
                at(&snapshot, i),
                "chunk {i} is shared, not copied"
            );
        }
        let (mut before, mut after) = (Vec::new(), Vec::new());
        snapshot.read_all(&mut before).unwrap();
        a.read_all(&mut after).unwrap();
        assert_eq!(before, raw, "the snapshot never changes");
        assert_eq!(after[20..24], 7f32.to_le_bytes());
    }

    #[test]
    fn a_write_planned_with_its_copy_installs_by_swapping_the_store() {
        let raw: Vec<u8> = (0..4096u32 * 4)
            .flat_map(|i| (i as f32).to_le_bytes())
            .collect();
        let mut a = NdArray::encode(
            DType::Float32,
            shape(&[4096 * 4]),
            &raw,
            Encoding::RAW,
            4096,
        )
        .unwrap();
        assert!(a.store().keeps_npy_header(), "an uncompressed slab");
        let reader = a.clone();
        assert!(a.store_is_shared());
        let sel = Selection::resolve(b"1:3", a.shape()).unwrap();
        let plan = a.plan_write_copy(&sel, &9f32.to_le_bytes()).unwrap();
        a.apply_write(plan).map_err(|_| "stale").unwrap();
        assert!(!a.store_is_shared(), "the new store is the key's alone");
        let (mut seen, mut now) = (Vec::new(), Vec::new());
        reader.read_all(&mut seen).unwrap();
        a.read_all(&mut now).unwrap();
        assert_eq!(seen, raw);
        assert_eq!(
            now[4..12],
            [9f32.to_le_bytes(), 9f32.to_le_bytes()].concat()
        );
        assert_eq!(now[12..], raw[12..]);
        // A plan made before another write is handed back.
        let stale = a.plan_write_copy(&sel, &1f32.to_le_bytes()).unwrap();
        a.write_selection(&sel, &2f32.to_le_bytes()).unwrap();
        assert!(a.apply_write(stale).is_err());
    }
}
