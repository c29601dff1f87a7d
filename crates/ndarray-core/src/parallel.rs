//! How the core runs per-chunk work: as independent jobs `0..count` with disjoint outputs,
//! through the executor the host gave the calling thread ([`set_thread_executor`]), or serially
//! on this thread when it gave none.
//!
//! The core never starts or picks threads. The host decides per thread: the module gives its
//! command workers a rayon pool and Redis' main thread an executor that never waits behind other
//! clients' work; a test or a tool gives nothing and runs serially. An executor guarantees that
//! `for_each_index` returns only when every index ran (or panicked: a panicking job counts as
//! done, and callers check that every piece reported its result).

use std::cell::Cell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Runs `f(i)` for every `i` in `0..count`, returning when all are done.
pub trait Executor: Sync {
    fn for_each_index(&self, count: usize, f: &(dyn Fn(usize) + Sync));
}

/// Every index in order on the calling thread: what the core does when given nothing.
pub struct Serial;

impl Executor for Serial {
    fn for_each_index(&self, count: usize, f: &(dyn Fn(usize) + Sync)) {
        (0..count).for_each(f);
    }
}

thread_local! {
    static THREAD_EXECUTOR: Cell<&'static dyn Executor> = const { Cell::new(&Serial) };
}

/// Makes `executor` run the core's per-chunk work started on this thread from now on (until
/// set again).
pub fn set_thread_executor(executor: &'static dyn Executor) {
    THREAD_EXECUTOR.with(|current| current.set(executor));
}

/// Calls `f(i)` for every `i` in `0..count` through this thread's executor.
pub fn for_each_index(count: usize, f: &(dyn Fn(usize) + Sync)) {
    match count {
        0 => {}
        1 => f(0),
        _ => THREAD_EXECUTOR.with(Cell::get).for_each_index(count, f),
    }
}

/// Appends `len` bytes to `out` in pieces of `piece` bytes (the last may be shorter), each one
/// written by `write(i, piece)` as a job of [`for_each_index`], into memory not zeroed first. A
/// piece counts as written when `write` hands back the same memory as initialised bytes (from
/// `write_copy_of_slice`, or [`zeroed`]). Returns false, leaving `out` as it was, unless every
/// piece was written.
pub fn fill_in_parallel<F>(out: &mut Vec<u8>, len: usize, piece: usize, write: F) -> bool
where
    F: for<'a> Fn(usize, &'a mut [MaybeUninit<u8>]) -> Option<&'a mut [u8]> + Sync,
{
    let start = out.len();
    out.reserve(len);
    let Some(spare) = out.spare_capacity_mut().get_mut(..len) else {
        return false;
    };
    let pieces: Vec<Mutex<&mut [MaybeUninit<u8>]>> =
        spare.chunks_mut(piece.max(1)).map(Mutex::new).collect();
    let count = pieces.len();
    let written = AtomicUsize::new(0);
    for_each_index(count, &|i| {
        let Some(Ok(mut target)) = pieces.get(i).map(Mutex::lock) else {
            return;
        };
        let (at, n) = (target.as_ptr().cast::<u8>(), target.len());
        if write(i, &mut target).is_some_and(|done| done.as_ptr() == at && done.len() == n) {
            written.fetch_add(1, Ordering::Relaxed);
        }
    });
    drop(pieces);
    if written.into_inner() != count {
        return false;
    }
    // SAFETY: the pieces cover `start..start + len`, within the reserved capacity, and each was
    // handed back as initialised bytes (checked above: same address and length).
    unsafe { out.set_len(start + len) };
    true
}

/// `target`, zeroed, as bytes (for a writer that cannot write into uninitialised memory).
pub fn zeroed(target: &mut [MaybeUninit<u8>]) -> &mut [u8] {
    target.fill(MaybeUninit::new(0));
    // SAFETY: every byte was initialised just above; `MaybeUninit<u8>` has `u8`'s layout.
    unsafe { &mut *(target as *mut [MaybeUninit<u8>] as *mut [u8]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts the calls made through it, then runs them in reverse order.
    struct Counting(AtomicUsize);

    impl Executor for Counting {
        fn for_each_index(&self, count: usize, f: &(dyn Fn(usize) + Sync)) {
            self.0.fetch_add(count, Ordering::Relaxed);
            (0..count).rev().for_each(f);
        }
    }

    #[test]
    fn work_runs_through_the_executor_its_thread_was_given_else_serially() {
        static COUNTING: Counting = Counting(AtomicUsize::new(0));
        let order = Mutex::new(Vec::new());
        let record = |i| order.lock().unwrap().push(i);
        for_each_index(3, &record);
        set_thread_executor(&COUNTING);
        for_each_index(3, &record);
        for_each_index(1, &record); // one index runs here, without the executor
                                    // Another thread was given nothing: serial.
        std::thread::scope(|s| s.spawn(|| for_each_index(2, &record)).join().unwrap());
        set_thread_executor(&Serial);
        assert_eq!(*order.lock().unwrap(), [0, 1, 2, 2, 1, 0, 0, 0, 1]);
        assert_eq!(COUNTING.0.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn a_parallel_fill_appends_only_when_every_piece_was_written() {
        let mut out = vec![7u8];
        let raw: Vec<u8> = (0..10).collect();
        assert!(fill_in_parallel(&mut out, 10, 4, |i, t| {
            Some(t.write_copy_of_slice(raw.get(i * 4..)?.get(..t.len())?))
        }));
        assert_eq!(out, [7, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        // A piece not written, or other memory handed back, leaves `out` as it was.
        assert!(!fill_in_parallel(&mut out, 8, 4, |i, t| (i == 0).then(|| zeroed(t))));
        assert!(!fill_in_parallel(&mut out, 4, 4, |_, _| {
            Some(Box::leak(vec![1u8; 4].into_boxed_slice()))
        }));
        assert_eq!(out.len(), 11);
        assert!(fill_in_parallel(&mut out, 3, 2, |_, t| Some(zeroed(t))));
        assert_eq!(&out[11..], [0, 0, 0]);
    }
}
