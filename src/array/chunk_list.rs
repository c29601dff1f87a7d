//! The list of a store's chunks. Every small array is one chunk, and a list allocation of its own
//! for it cost a small write an allocation and its free (about 250 instructions of a 512-byte
//! `NDARRAY.SET`, callgrind): one chunk is kept inline.

use super::store::Chunk;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkList {
    One(Chunk),
    /// None (an empty array) or several.
    Many(Vec<Chunk>),
}

impl ChunkList {
    pub fn as_slice(&self) -> &[Chunk] {
        match self {
            ChunkList::One(chunk) => std::slice::from_ref(chunk),
            ChunkList::Many(chunks) => chunks,
        }
    }

    pub fn as_mut_slice(&mut self) -> &mut [Chunk] {
        match self {
            ChunkList::One(chunk) => std::slice::from_mut(chunk),
            ChunkList::Many(chunks) => chunks,
        }
    }

    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Heap bytes of the list itself (not of the chunks' bytes).
    pub fn heap_bytes(&self) -> usize {
        match self {
            ChunkList::One(_) => 0,
            ChunkList::Many(chunks) => chunks.capacity() * std::mem::size_of::<Chunk>(),
        }
    }

    pub fn into_vec(self) -> Vec<Chunk> {
        match self {
            ChunkList::One(chunk) => vec![chunk],
            ChunkList::Many(chunks) => chunks,
        }
    }

    /// Removes the last chunk.
    pub fn pop(&mut self) {
        match self {
            ChunkList::One(_) => *self = ChunkList::Many(Vec::new()),
            ChunkList::Many(chunks) => {
                chunks.pop();
            }
        }
    }

    /// Adds `more` after the last chunk.
    pub fn extend(&mut self, more: Vec<Chunk>) {
        if more.is_empty() {
            return;
        }
        let list = std::mem::replace(self, ChunkList::Many(Vec::new()));
        let mut chunks = list.into_vec();
        chunks.extend(more);
        *self = ChunkList::from(chunks);
    }
}

impl From<Vec<Chunk>> for ChunkList {
    fn from(mut chunks: Vec<Chunk>) -> Self {
        match chunks.len() {
            1 => match chunks.pop() {
                Some(chunk) => ChunkList::One(chunk),
                None => ChunkList::Many(chunks),
            },
            _ => ChunkList::Many(chunks),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(byte: u8) -> Chunk {
        Chunk {
            bytes: vec![byte; 3].into_boxed_slice(),
            encoded: false,
        }
    }

    #[test]
    fn one_chunk_is_inline_and_grows_into_a_list() {
        let mut list = ChunkList::from(vec![chunk(1)]);
        assert!(matches!(list, ChunkList::One(_)));
        assert_eq!(list.heap_bytes(), 0);
        list.extend(vec![chunk(2), chunk(3)]);
        assert_eq!(list.len(), 3);
        assert_eq!(list.as_slice()[2], chunk(3));
        list.pop();
        list.pop();
        assert_eq!(list.as_slice(), &[chunk(1)]);
        list.pop();
        assert_eq!(list.len(), 0);
        list.extend(vec![chunk(4)]);
        assert!(matches!(list, ChunkList::One(_)));
        list.as_mut_slice()[0] = chunk(5);
        assert_eq!(list.into_vec(), vec![chunk(5)]);
    }
}
