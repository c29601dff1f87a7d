//! Entry points of the fuzz targets under `fuzz/` that exercise the core crate (and of the unit
//! tests that replay their saved inputs). Each feeds arbitrary bytes to one decoder; none may
//! panic.
//!
//! A decoder may refuse any input with an error; what it must never do is panic, overflow or
//! accept something it cannot give back. So each function here ignores errors, and when the input
//! is accepted it checks a round trip (decode → encode → decode gives the same value) with
//! `assert!`, so that libFuzzer reports a violated invariant as a crash.
//!
//! They call `ndarray-core` directly: nothing here knows Redis or the module. The `set_args`
//! target fuzzes the module's command-argument parsers, so its entry point lives with them, in the
//! module's `src/fuzzing.rs`.
//!
//! `make fuzz` runs the targets; `fuzz/regressions/<target>/` holds every input that once crashed,
//! replayed by the unit tests (`src/tests.rs`). `cargo test -p ndarray-fuzz -- --ignored` rewrites
//! the seed corpora of these targets in `fuzz/seeds/`.

// Fuzz entry points, never linked into the module: a panic here is how a broken invariant is
// reported to the fuzzer, so the no-panic lints of the module and the core do not apply.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};

mod chunk;
mod compute;
mod helpers;
mod npy;
mod payload;
mod rdb;
mod selection;
#[cfg(test)]
mod tests;

/// The cargo-fuzz project: `fuzz/` at the root of the repository.
pub fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The saved inputs of `fuzz/<kind>/<target>/` (`kind`: `regressions` or `seeds`), sorted for
/// stable failures; none when the folder is missing.
pub fn saved_inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(fuzz_dir().join(kind).join(target)) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Replays the saved inputs of `fuzz/<kind>/<target>/` through `entry`, naming the file that
/// fails; returns how many it replayed. Used by these tests and by the module's replay of its own
/// target.
pub fn replay_saved(kind: &str, target: &str, entry: fn(&[u8])) -> usize {
    let files = saved_inputs(kind, target);
    for file in &files {
        let data = std::fs::read(file).unwrap();
        let outcome = std::panic::catch_unwind(|| entry(&data));
        assert!(outcome.is_ok(), "{target} fails on {}", file.display());
    }
    files.len()
}

pub use chunk::chunk;
pub use compute::compute;
pub use npy::npy;
pub use payload::payload;
pub use rdb::rdb;
pub use selection::selection;
