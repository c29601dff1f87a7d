//! The extension's chunk pool: rayon's global pool (one thread per core, or `RAYON_NUM_THREADS`).
//! The core runs per-chunk jobs through the executor of the calling thread; each call of the
//! extension gives its thread this one.

use ndarray_core::parallel::{set_thread_executor, Executor};
use rayon::prelude::*;
use std::panic::{catch_unwind, AssertUnwindSafe};

struct Pool;

impl Executor for Pool {
    fn for_each_index(&self, count: usize, f: &(dyn Fn(usize) + Sync)) {
        (0..count).into_par_iter().for_each(|i| {
            // A panicking job counts as done (the core checks that every piece reported its
            // result): it must not take the interpreter down.
            let _ = catch_unwind(AssertUnwindSafe(|| f(i)));
        });
    }
}

static POOL: Pool = Pool;

/// Makes the core's per-chunk work started on this thread run on the pool.
pub fn use_pool() {
    set_thread_executor(&POOL);
}
