//! One reply buffer per thread, reused from command to command. A reply is built in it and then
//! copied by Redis into the client's output buffers; reusing it spares an allocation per reply
//! and, for big replies, the page faults of touching fresh memory (on a VM, as costly as the copy
//! itself) and the unmapping afterwards.

use std::cell::Cell;

/// The largest buffer a thread keeps between replies (bigger ones are freed after use): at most
/// this much memory per thread (the main thread and each worker) stays allocated while idle. It
/// is allocated through Redis, so `used_memory` counts it.
pub const KEEP_BYTES: usize = 16 << 20;

thread_local! {
    static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// Runs `f` with this thread's empty reply buffer, then keeps the buffer for the next reply.
pub fn with_buffer<T>(f: impl FnOnce(&mut Vec<u8>) -> T) -> T {
    // Taken out, not borrowed: a nested call (none today) would get a fresh buffer, not a panic.
    let mut buf = SCRATCH.take();
    buf.clear();
    let result = f(&mut buf);
    if buf.capacity() <= KEEP_BYTES {
        buf.clear();
        SCRATCH.set(buf);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_buffer_is_reused_empty_and_big_ones_are_not_kept() {
        let first = with_buffer(|b| {
            b.extend_from_slice(&[1; 1000]);
            b.as_ptr()
        });
        let (again, len) = with_buffer(|b| (b.as_ptr(), b.len()));
        assert_eq!((again, len), (first, 0));
        with_buffer(|b| b.reserve(KEEP_BYTES + 1));
        assert!(with_buffer(|b| b.capacity()) <= KEEP_BYTES);
    }
}
