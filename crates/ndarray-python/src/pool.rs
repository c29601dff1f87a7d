//! The extension's chunk pool: rayon's global pool (one thread per core, or `RAYON_NUM_THREADS`).
//! The core runs per-chunk jobs through the executor of the calling thread; each call of the
//! extension gives its thread this one.

use ndarray_core::parallel::{set_thread_executor, Executor};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Pool;

impl Executor for Pool {
    /// The calling thread takes indices from a shared counter itself, and so does each pool thread
    /// as it wakes: a call never waits for a pool thread to start (`into_par_iter` from a thread
    /// outside the pool only waited, and the network bench saw encodes take one core's time after
    /// an idle pause while the pool threads woke).
    fn for_each_index(&self, count: usize, f: &(dyn Fn(usize) + Sync)) {
        let next = AtomicUsize::new(0);
        let work = || loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= count {
                break;
            }
            // A panicking job counts as done (the core checks that every piece reported its
            // result): it must not take the interpreter down.
            let _ = catch_unwind(AssertUnwindSafe(|| f(i)));
        };
        let helpers = rayon::current_num_threads().min(count.saturating_sub(1));
        rayon::in_place_scope(|scope| {
            for _ in 0..helpers {
                scope.spawn(|_| work());
            }
            work();
        });
    }
}

static POOL: Pool = Pool;

/// Makes the core's per-chunk work started on this thread run on the pool.
pub fn use_pool() {
    set_thread_executor(&POOL);
}
