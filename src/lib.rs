//! redis-ndarray: a native n-dimensional array type for Redis.
//!
//! Layout: the Redis-free core (dtype, shape, selection, chunk store, codecs, `.npy`, the encoded
//! form, AOF rewrite) is the `ndarray-core` crate, used here under the same module names;
//! `commands/` parse → core → reply; `host/` is the facade that holds every raw module API call
//! (replies, blocking, the type's callbacks, command registration); `error.rs` the one error
//! boundary; `config.rs` the module settings; `offload.rs` runs commands on `workers.rs`' threads.
//! This file only wires them together.

// A panic in a module aborts redis-server: outside tests, nothing may unwrap, expect or panic.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod admission;
// The core crate's modules, under the names the module's code uses.
use ndarray_core::{aof, array, codec, persist};
mod budget;
mod commands;
mod config;
mod error;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
mod host;
mod migration;
mod offload;
mod panic;
mod propagation;
mod settings;
mod workers;

use host::datatype::NDARRAY_TYPE;
use host::{registration, server_events, stats};
use redis_module::{redis_module, Context, RedisString, Status};

// Inside Redis, allocate through Redis (so INFO memory and maxmemory see our bytes). Unit tests and
// fuzz targets run without a server, so they use the system allocator.
#[cfg(not(any(test, feature = "system-alloc")))]
type Allocator = redis_module::alloc::RedisAlloc;
#[cfg(not(any(test, feature = "system-alloc")))]
const ALLOCATOR: Allocator = redis_module::alloc::RedisAlloc;
#[cfg(any(test, feature = "system-alloc"))]
type Allocator = std::alloc::System;
#[cfg(any(test, feature = "system-alloc"))]
const ALLOCATOR: Allocator = std::alloc::System;

fn init(ctx: &Context, args: &[RedisString]) -> Status {
    // A short read while loading (e.g. a truncated RESTORE payload) must be an error we can
    // report, not a crash inside Redis; Valkey 9 may migrate slots atomically.
    let slot_migrations = host::server::set_module_options(ctx);
    host::blocking::note_main_thread();
    stats::register(ctx);
    if !server_events::subscribe(ctx, slot_migrations) {
        return Status::Err;
    }
    if registration::register_commands(ctx) == Status::Err {
        return Status::Err;
    }
    if config::register(ctx, args) == Status::Err {
        return Status::Err;
    }
    // After the settings: their `threads` sizes the pool.
    if let Err(e) = workers::start(config::threads()) {
        ctx.log_warning(&format!("ndarray: cannot start the worker threads: {e}"));
        return Status::Err;
    }
    Status::Ok
}

// Commands are registered by `init` from `commands::table::COMMANDS`, their one declaration.
redis_module! {
    name: "ndarray",
    version: 1,
    allocator: (Allocator, ALLOCATOR),
    data_types: [NDARRAY_TYPE],
    init: init,
}
