//! redis-ndarray: a native n-dimensional array type for Redis.
//!
//! Layout: `array/` and `codec/` are the Redis-free core; `commands/` parse → core → reply;
//! `datatype.rs` holds the type's callbacks; `persist.rs` and `aof.rs` the on-disk forms;
//! `error.rs` the one error boundary; `config.rs` the module settings. This file only registers.

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

pub mod aof;
pub mod array;
pub mod codec;
pub mod commands;
mod config;
mod datatype;
mod error;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
mod keyspec;
pub mod persist;
mod stats;

use datatype::NDARRAY_TYPE;
use redis_module::{redis_module, Context, ModuleOptions, RedisResult, RedisString, Status};

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
    // report, not a crash inside Redis.
    ctx.set_module_options(ModuleOptions::HANDLE_IO_ERRORS);
    stats::register(ctx);
    if keyspec::register(ctx) == Status::Err {
        return Status::Err;
    }
    config::register(ctx, args)
}

macro_rules! handler {
    ($name:ident, $target:path) => {
        fn $name(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
            commands::guard(ctx, args, $target)
        }
    };
}

handler!(cmd_set, commands::set);
handler!(cmd_get, commands::get);
handler!(cmd_info, commands::info);
handler!(cmd_append, commands::append);
handler!(cmd_reshape, commands::reshape);
handler!(cmd_slice, commands::slice);
handler!(cmd_setslice, commands::setslice);
handler!(cmd_mget, commands::mget);
handler!(cmd_mset, commands::mset);
handler!(cmd_stack, commands::stack);

redis_module! {
    name: "ndarray",
    version: 1,
    allocator: (Allocator, ALLOCATOR),
    data_types: [NDARRAY_TYPE],
    init: init,
    commands: [
        ["ndarray.set", cmd_set, "write deny-oom", 1, 1, 1, ""],
        ["ndarray.get", cmd_get, "readonly", 1, 1, 1, ""],
        ["ndarray.info", cmd_info, "readonly fast", 1, 1, 1, ""],
        ["ndarray.append", cmd_append, "write deny-oom", 1, 1, 1, ""],
        ["ndarray.reshape", cmd_reshape, "write fast", 1, 1, 1, ""],
        ["ndarray.slice", cmd_slice, "readonly", 1, 1, 1, ""],
        ["ndarray.setslice", cmd_setslice, "write deny-oom", 1, 1, 1, ""],
        ["ndarray.mget", cmd_mget, "readonly", 1, -1, 1, ""],
        ["ndarray.mset", cmd_mset, "write deny-oom", 1, -1, 2, ""],
        ["ndarray.stack", cmd_stack, "readonly", 1, -1, 1, ""],
    ],
}
