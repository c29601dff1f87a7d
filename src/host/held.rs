//! Redis strings kept past the command that received them, and the one type that lets prepared
//! values borrow them on a worker.

use super::blocking::holds_lock;
use crate::commands::steps::SetValue;
use redis_module::{raw, Context, RedisString};
use std::ffi::CStr;

/// Redis strings a worker keeps: a command's arguments, retained so that the worker reads their
/// bytes where they are instead of a copy, or strings it created for replication. Either way they
/// are released under Redis' lock (Redis' reference counts are not atomic, so they change only
/// while the lock is held). Redis never changes the bytes of a string it shares, and a client that
/// disconnects meanwhile only drops its own reference.
pub struct HeldStrings {
    strings: Vec<*mut raw::RedisModuleString>,
}

// SAFETY: the strings are only read on the worker; their reference counts change on the main
// thread (`hold`) and under the lock (`release`, `drop`); `create` makes strings no one else sees.
unsafe impl Send for HeldStrings {}

impl HeldStrings {
    /// New strings holding copies of `buffers`. Creating a string only allocates, so any thread may.
    pub fn create(buffers: &[Vec<u8>]) -> HeldStrings {
        let strings = buffers
            .iter()
            .filter_map(|b| {
                // SAFETY: a plain allocation and copy of `b`; no context, no shared state.
                let s = unsafe {
                    raw::RedisModule_CreateString?(std::ptr::null_mut(), b.as_ptr().cast(), b.len())
                };
                (!s.is_null()).then_some(s)
            })
            .collect();
        HeldStrings { strings }
    }

    /// Replicates `command key word(i) string` for each string `i`, the strings themselves
    /// (Redis retains them, no copy). `ctx` holds the lock or is the main thread's.
    pub fn replicate_each(
        &self,
        ctx: &Context,
        command: &CStr,
        key: &RedisString,
        word: impl Fn(usize) -> &'static CStr,
    ) {
        for (i, string) in self.strings.iter().enumerate() {
            super::server::replicate_key_word_raw(ctx, command, key, word(i), *string);
        }
    }

    /// Retains every argument (on the main thread, in the command).
    pub fn hold(args: &[RedisString]) -> HeldStrings {
        let strings = args
            .iter()
            .map(|a| {
                // SAFETY: a live argument string; the main thread holds the lock.
                unsafe {
                    if let Some(retain) = raw::RedisModule_RetainString {
                        retain(std::ptr::null_mut(), a.inner);
                    }
                }
                a.inner
            })
            .collect();
        HeldStrings { strings }
    }

    /// Releases the strings; `_locked` is the command's context or that of `BlockedClient::locked`, proof
    /// that the lock is held.
    pub fn release(mut self, _locked: &Context) {
        self.free_all();
    }

    fn free_all(&mut self) {
        for s in std::mem::take(&mut self.strings) {
            // SAFETY: retained by `hold`, released once; the caller holds the lock.
            unsafe {
                if let Some(free) = raw::RedisModule_FreeString {
                    free(std::ptr::null_mut(), s);
                }
            }
        }
    }
}

impl Drop for HeldStrings {
    /// Not released (a job that failed or never ran, an install that failed): release now,
    /// taking the lock unless this thread holds it already.
    fn drop(&mut self) {
        if self.strings.is_empty() {
            return;
        }
        if holds_lock() {
            self.free_all();
            return;
        }
        // SAFETY: a detached thread-safe context, locked, used and freed by this thread.
        unsafe {
            let (Some(get), Some(lock), Some(unlock), Some(free_ctx)) = (
                raw::RedisModule_GetThreadSafeContext,
                raw::RedisModule_ThreadSafeContextLock,
                raw::RedisModule_ThreadSafeContextUnlock,
                raw::RedisModule_FreeThreadSafeContext,
            ) else {
                return;
            };
            let ctx = get(std::ptr::null_mut());
            lock(ctx);
            self.free_all();
            unlock(ctx);
            free_ctx(ctx);
        }
    }
}

/// Prepared SET/MSET values that read the command's argument bytes in place (no copy), handed to
/// a worker together with the arguments, which stay retained until the install releases them.
///
/// The one place the arguments' lifetime is stretched. Sound because:
/// - [`ValuesOnArgs::new`] takes values that live for `'a`, the borrow of the handler's
///   arguments: whatever they borrow outlives the handler call, so it is the arguments' bytes
///   (retained here: Redis never changes or frees a string while it is retained) or static data;
///   `SetValue` borrows only bytes, never the `RedisString` wrappers;
/// - the values are only reachable inside [`ValuesOnArgs::consume`], whose closure works for any
///   lifetime, so nothing borrowing them can leave it; the strings are handed out only after.
pub struct ValuesOnArgs {
    values: Vec<SetValue<'static>>,
    held: HeldStrings,
}

impl ValuesOnArgs {
    /// Retains `args` (on the main thread, in the command) for `values`, which borrow them.
    pub fn new<'a>(args: &'a [RedisString], values: Vec<SetValue<'a>>) -> ValuesOnArgs {
        let held = HeldStrings::hold(args);
        // SAFETY: only the lifetime changes; see the type's comment for why the bytes stay valid.
        let values =
            unsafe { std::mem::transmute::<Vec<SetValue<'a>>, Vec<SetValue<'static>>>(values) };
        ValuesOnArgs { values, held }
    }

    /// Runs `use_values` on the values (on the worker: it encodes them), then hands back the
    /// arguments, to be released under the lock at install (or when dropped).
    pub fn consume<R>(
        self,
        use_values: impl for<'x> FnOnce(Vec<SetValue<'x>>) -> R,
    ) -> (R, HeldStrings) {
        let ValuesOnArgs { values, held } = self;
        (use_values(values), held)
    }
}
