//! The heap allocations a value owns, listed for `MEMORY USAGE`: the host asks its allocator what
//! each one really holds, as Redis counts a string (`zmalloc_size`, the size class the allocation
//! was rounded up to), so figures compare across types. Redis-free: the core names allocations,
//! the host sizes them.

/// One allocation a value owns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allocation {
    /// The pointer the allocator returned, when the value holds it; `None` for a shared (`Arc`)
    /// block, whose counts come before what the value points at (the host sizes a block of the
    /// same request instead).
    pub start: Option<*const u8>,
    /// The bytes asked for.
    pub requested: usize,
}

impl Allocation {
    /// The allocation at `start` of `requested` bytes (nothing when `requested` is 0: an empty
    /// `Vec` or box allocates nothing).
    pub fn at<T>(start: *const T, requested: usize) -> Option<Allocation> {
        (requested > 0).then_some(Allocation {
            start: Some(start.cast()),
            requested,
        })
    }

    /// The block of an `Arc<T>`: its two counts and the `T`.
    pub fn shared<T>() -> Allocation {
        Allocation {
            start: None,
            requested: 2 * std::mem::size_of::<usize>() + std::mem::size_of::<T>(),
        }
    }
}
