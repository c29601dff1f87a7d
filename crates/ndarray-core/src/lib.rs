//! The Redis-free core of redis-ndarray: what an array is and how it is stored, with no Redis in
//! its dependency tree (`cargo build -p ndarray-core` proves it).
//!
//! `array/`: dtype, shape, selection, values and casts, `.npy`, input decoding, the chunk store and
//! its layouts, the array with its attributes; `codec/`: every codec and filter behind one trait,
//! and their registry; `persist.rs`: the versioned encoded form of an array (RDB, DUMP, the
//! replication payload); `aof.rs`: AOF rewrite into bounded commands; `parallel.rs`: how per-chunk
//! jobs run (through the executor the host registers, else serially).

// The core runs inside redis-server: a panic there aborts the server. Outside tests, nothing may
// unwrap, expect, panic or index unchecked.
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
pub mod parallel;
pub mod persist;
