//! Reply buffers, reused from command to command. A reply is built in one and then copied by
//! Redis into the client's output buffers; reusing it spares an allocation per reply and, for big
//! replies, the page faults of touching fresh memory (on a VM, as costly as the copy itself).
//!
//! Memory that belongs to no key stays small: each thread keeps at most [`KEEP_BYTES`] for good;
//! one bigger buffer is shared by all threads and kept for about a second (`array::spare`, freed
//! by Redis' cron), and not at all when `maxmemory` is set. Everything kept is allocated through
//! Redis, so `used_memory` counts it, and INFO shows it (`buffers_kept_bytes`).

use crate::array::spare::{Spare, KEPT_BYTES};
use std::cell::Cell;
use std::sync::atomic::Ordering;

/// The largest buffer a thread keeps between replies.
pub const KEEP_BYTES: usize = 1 << 20;

thread_local! {
    static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// The one bigger reply buffer kept for a while.
static BIG: Spare = Spare::new();

/// Runs `f` with an empty reply buffer for a reply of about `bytes` bytes, then keeps the buffer
/// for the next reply if the rules above allow.
pub fn with_buffer<T>(bytes: usize, f: impl FnOnce(&mut Vec<u8>) -> T) -> T {
    if bytes > KEEP_BYTES {
        let mut buf = BIG.take(bytes).unwrap_or_default();
        buf.clear();
        let result = f(&mut buf);
        buf.clear();
        BIG.give(buf);
        return result;
    }
    // Taken out, not borrowed: a nested call (none today) would get a fresh buffer, not a panic.
    let mut buf = SCRATCH.take();
    let held = buf.capacity();
    buf.clear();
    let result = f(&mut buf);
    buf.clear();
    let now = buf.capacity();
    if now <= KEEP_BYTES {
        // The gauge moves only when the buffer grew, not on every small reply.
        if now != held {
            KEPT_BYTES.fetch_add(now as u64, Ordering::Relaxed);
            KEPT_BYTES.fetch_sub(held as u64, Ordering::Relaxed);
        }
        SCRATCH.set(buf);
    } else {
        KEPT_BYTES.fetch_sub(held as u64, Ordering::Relaxed);
        BIG.give(buf);
    }
    result
}

/// Frees the big buffer once idle (Redis' cron).
pub fn release_idle() {
    BIG.release_idle();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_buffer_is_reused_empty_and_big_ones_are_not_kept_per_thread() {
        let first = with_buffer(1000, |b| {
            b.extend_from_slice(&[1; 1000]);
            b.as_ptr()
        });
        let (again, len) = with_buffer(10, |b| (b.as_ptr(), b.len()));
        assert_eq!((again, len), (first, 0));
        with_buffer(KEEP_BYTES + 1, |b| b.reserve(KEEP_BYTES + 1));
        assert!(with_buffer(10, |b| b.capacity()) <= KEEP_BYTES);
    }
}
