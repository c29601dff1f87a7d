//! One big freed buffer kept for the next big slab.
//!
//! A buffer of 8 MiB or more comes from the allocator's "oversize" arena (jemalloc, as Redis
//! uses it), which returns freed pages to the system at once: every new one is touched page by
//! page, and those page faults cost more than copying into it (plain Redis pays them once per
//! 8 MB `SET`, for the argument it keeps as the value). Overwriting a
//! big uncompressed array frees its slab just before the next one is needed; keeping that buffer
//! for it halves the faults of `NDARRAY.SET … COMPRESS none`. At most one buffer is kept, and for
//! at most about a second (`release_idle`, on Redis' cron): it counts in `used_memory` meanwhile.
//! When `maxmemory` is set nothing is kept ([`keep_buffers`]): memory no key owns must not push
//! the server into OOM or evict users' keys.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Smallest buffer worth keeping: from about 7 MiB the allocator rounds up to its 8 MiB class,
/// which is oversize; below 4 MiB it reuses freed memory itself.
pub const MIN_BYTES: usize = 4 << 20;
/// Largest buffer kept.
pub const MAX_BYTES: usize = 256 << 20;
/// How long a kept buffer waits for a slab before it is freed.
pub const IDLE: Duration = Duration::from_secs(1);

/// Whether freed buffers may be kept (no `maxmemory`; set from Redis' cron).
static KEEPING: AtomicBool = AtomicBool::new(true);
/// Bytes kept by every spare and per-thread buffer, for INFO (`buffers_kept_bytes`).
pub static KEPT_BYTES: AtomicU64 = AtomicU64::new(0);

/// Allows or forbids keeping freed buffers from now on; forbidding frees what is kept at the next
/// [`Spare::release_idle`].
pub fn keep_buffers(allowed: bool) {
    KEEPING.store(allowed, Ordering::Relaxed);
}

/// Whether freed buffers may be kept now.
pub fn keeping() -> bool {
    KEEPING.load(Ordering::Relaxed)
}

/// The kept buffer, and when it was freed.
pub struct Spare(Mutex<Option<(Vec<u8>, Instant)>>);

static SPARE: Spare = Spare::new();

/// An empty buffer with room for `bytes`, from the process' spare (see [`Spare::take`]).
pub fn take(bytes: usize) -> Option<Vec<u8>> {
    SPARE.take(bytes)
}

/// Offers a freed buffer to the process' spare (see [`Spare::give`]).
pub fn give(buf: Vec<u8>) {
    SPARE.give(buf)
}

/// Frees the process' spare if idle (see [`Spare::release_idle`]).
pub fn release_idle() -> bool {
    SPARE.release_idle()
}

impl Default for Spare {
    fn default() -> Self {
        Spare::new()
    }
}

impl Spare {
    pub const fn new() -> Spare {
        Spare(Mutex::new(None))
    }

    /// An empty buffer with room for `bytes`, if one is kept that is at most an eighth larger
    /// (the array keeps the whole buffer, and `MEMORY USAGE` counts it).
    pub fn take(&self, bytes: usize) -> Option<Vec<u8>> {
        if bytes < MIN_BYTES {
            return None;
        }
        let mut spare = self.0.lock().ok()?;
        let fits = spare
            .as_ref()
            .is_some_and(|(buf, _)| buf.capacity() >= bytes && buf.capacity() - bytes <= bytes / 8);
        if !fits {
            return None;
        }
        let (mut buf, _) = spare.take()?;
        KEPT_BYTES.fetch_sub(buf.capacity() as u64, Ordering::Relaxed);
        buf.clear();
        Some(buf)
    }

    /// Keeps `buf` for the next slab if its size is worth it (it replaces any kept one); frees
    /// it otherwise.
    pub fn give(&self, buf: Vec<u8>) {
        if !keeping() || !(MIN_BYTES..=MAX_BYTES).contains(&buf.capacity()) {
            return;
        }
        let capacity = buf.capacity() as u64;
        let previous = match self.0.lock() {
            Ok(mut spare) => spare.replace((buf, Instant::now())),
            Err(_) => return,
        };
        KEPT_BYTES.fetch_add(capacity, Ordering::Relaxed);
        if let Some((old, _)) = &previous {
            KEPT_BYTES.fetch_sub(old.capacity() as u64, Ordering::Relaxed);
        }
        // Freed outside the lock.
        drop(previous);
    }

    /// Frees the kept buffer if it waited longer than `IDLE`, or if keeping is no longer
    /// allowed. Returns whether one was freed.
    pub fn release_idle(&self) -> bool {
        let idle = match self.0.lock() {
            Ok(mut spare)
                if spare
                    .as_ref()
                    .is_some_and(|(_, at)| !keeping() || at.elapsed() >= IDLE) =>
            {
                spare.take()
            }
            _ => None,
        };
        if let Some((buf, _)) = &idle {
            KEPT_BYTES.fetch_sub(buf.capacity() as u64, Ordering::Relaxed);
        }
        idle.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_big_freed_buffer_is_reused_once_and_only_for_a_similar_size() {
        let spare = Spare::new();
        spare.give(Vec::with_capacity(MIN_BYTES / 2));
        assert!(
            spare.take(MIN_BYTES / 2).is_none(),
            "small buffers are not kept"
        );
        spare.give(Vec::with_capacity(MIN_BYTES * 2));
        assert!(
            spare.take(MIN_BYTES / 2).is_none(),
            "below the minimum nothing is taken"
        );
        assert!(spare.take(MIN_BYTES * 3).is_none(), "too small for this");
        assert!(
            spare.take(MIN_BYTES + 1).is_none(),
            "too big for this: the array would keep all of it"
        );
        let buf = spare.take(MIN_BYTES * 2 - 1000).expect("kept");
        assert!(buf.capacity() >= MIN_BYTES * 2 && buf.is_empty());
        assert!(spare.take(MIN_BYTES * 2).is_none(), "taken once");
        spare.give(buf);
        assert!(!spare.release_idle(), "not idle yet");
        std::thread::sleep(IDLE);
        assert!(spare.release_idle());
        assert!(spare.take(MIN_BYTES * 2).is_none());
    }
}
