//! Module counters, shown by `INFO ndarray` (section `ndarray_stats`): how much chunk work the
//! server does, so users and benchmarks can see that a slice decodes only what it touches, and
//! what the worker pool does (jobs queued, running, done; raw bytes of the arrays offloaded).

use crate::array::spare::KEPT_BYTES;
use crate::budget::BUDGET;
use crate::codec::blocks::BLOCKS_DECODED;
use crate::codec::{CHUNKS_DECODED, CHUNKS_ENCODED, CHUNKS_TOO_SMALL};
use crate::offload::{INSTALLS_DEFERRED, INSTALLS_REFUSED, INSTALLS_WAITING};
use crate::workers::{BYTES_OFFLOADED, CHUNK_JOBS_HELPED, JOBS_DONE, JOBS_QUEUED, JOBS_RUNNING};
use redis_module::{raw, Context};
use std::ffi::{c_char, c_int};
use std::sync::atomic::{AtomicU64, Ordering};

/// Panics the command guard turned into error replies (should stay 0).
pub static PANICS_CAUGHT: AtomicU64 = AtomicU64::new(0);

/// Replaces the crate's default INFO callback with ours.
pub fn register(ctx: &Context) {
    // SAFETY: called from OnLoad with the module context.
    unsafe {
        if let Some(register) = raw::RedisModule_RegisterInfoFunc {
            register(ctx.ctx, Some(info));
        }
    }
}

extern "C" fn info(ctx: *mut raw::RedisModuleInfoCtx, _for_crash_report: c_int) {
    let fields: [(&std::ffi::CStr, &AtomicU64); 16] = [
        (c"chunks_decoded", &CHUNKS_DECODED),
        (c"blocks_decoded", &BLOCKS_DECODED),
        (c"chunks_encoded", &CHUNKS_ENCODED),
        (c"chunks_too_small_to_compress", &CHUNKS_TOO_SMALL),
        (c"panics_caught", &PANICS_CAUGHT),
        (c"jobs_queued", &JOBS_QUEUED),
        (c"jobs_running", &JOBS_RUNNING),
        (c"jobs_done", &JOBS_DONE),
        (c"bytes_offloaded", &BYTES_OFFLOADED),
        (c"chunk_jobs_helped", &CHUNK_JOBS_HELPED),
        (c"installs_waiting", &INSTALLS_WAITING),
        (c"installs_deferred", &INSTALLS_DEFERRED),
        (c"installs_refused", &INSTALLS_REFUSED),
        (c"buffers_kept_bytes", &KEPT_BYTES),
        (c"worker_bytes_in_use", &BUDGET.in_use),
        (c"jobs_waiting_for_bytes", &BUDGET.waiting),
    ];
    // SAFETY: `ctx` is the live info context Redis passed; names are static C strings.
    unsafe {
        let (Some(section), Some(field)) = (
            raw::RedisModule_InfoAddSection,
            raw::RedisModule_InfoAddFieldULongLong,
        ) else {
            return;
        };
        section(ctx, c"stats".as_ptr().cast::<c_char>());
        for (name, counter) in fields {
            field(ctx, name.as_ptr(), counter.load(Ordering::Relaxed));
        }
    }
}
