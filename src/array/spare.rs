//! One big freed buffer kept for the next big slab.
//!
//! A buffer of 8 MiB or more comes from the allocator's "oversize" arena (jemalloc, as Redis
//! uses it), which returns freed pages to the system at once: every new one is touched page by
//! page, and those page faults cost more than copying into it (about 4.5 ms per 8 MB here: plain
//! Redis pays them once per 8 MB `SET`, for the argument it keeps as the value). Overwriting a
//! big uncompressed array frees its slab just before the next one is needed; keeping that buffer
//! for it halves the faults of `NDARRAY.SET … COMPRESS none`. At most one buffer is kept, and for
//! at most about a second (`release_idle`, on Redis' cron): it counts in `used_memory` meanwhile.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Smallest buffer worth keeping: from about 7 MiB the allocator rounds up to its 8 MiB class,
/// which is oversize; below 4 MiB it reuses freed memory itself.
pub const MIN_BYTES: usize = 4 << 20;
/// Largest buffer kept.
pub const MAX_BYTES: usize = 256 << 20;
/// How long a kept buffer waits for a slab before it is freed.
pub const IDLE: Duration = Duration::from_secs(1);

static SPARE: Mutex<Option<(Vec<u8>, Instant)>> = Mutex::new(None);

/// An empty buffer with room for `bytes` (at most twice that), if one is kept.
pub fn take(bytes: usize) -> Option<Vec<u8>> {
    if bytes < MIN_BYTES {
        return None;
    }
    let mut spare = SPARE.lock().ok()?;
    let fits = spare
        .as_ref()
        .is_some_and(|(buf, _)| buf.capacity() >= bytes && buf.capacity() / 2 <= bytes);
    if !fits {
        return None;
    }
    let (mut buf, _) = spare.take()?;
    buf.clear();
    Some(buf)
}

/// Keeps `buf` for the next slab if its size is worth it (it replaces any kept one); frees it
/// otherwise.
pub fn give(buf: Vec<u8>) {
    if !(MIN_BYTES..=MAX_BYTES).contains(&buf.capacity()) {
        return;
    }
    let previous = match SPARE.lock() {
        Ok(mut spare) => spare.replace((buf, Instant::now())),
        Err(_) => None,
    };
    // Freed outside the lock.
    drop(previous);
}

/// Frees the kept buffer if it waited longer than `IDLE`. Returns whether one was freed.
pub fn release_idle() -> bool {
    let idle = match SPARE.lock() {
        Ok(mut spare) if spare.as_ref().is_some_and(|(_, at)| at.elapsed() >= IDLE) => spare.take(),
        _ => None,
    };
    idle.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_big_freed_buffer_is_reused_once_and_only_for_a_similar_size() {
        // The only test touching the spare (it is process-wide).
        give(Vec::with_capacity(MIN_BYTES / 2));
        assert!(take(MIN_BYTES / 2).is_none(), "small buffers are not kept");
        give(Vec::with_capacity(MIN_BYTES * 2));
        assert!(
            take(MIN_BYTES / 2).is_none(),
            "below the minimum nothing is taken"
        );
        assert!(take(MIN_BYTES * 3).is_none(), "too small for this");
        let buf = take(MIN_BYTES + 1).expect("kept");
        assert!(buf.capacity() >= MIN_BYTES * 2 && buf.is_empty());
        assert!(take(MIN_BYTES + 1).is_none(), "taken once");
        give(buf);
        assert!(!release_idle(), "not idle yet");
        std::thread::sleep(IDLE);
        assert!(release_idle());
        assert!(take(MIN_BYTES + 1).is_none());
    }
}
