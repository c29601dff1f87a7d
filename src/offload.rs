//! Running a command's heavy part on a worker (`workers.rs`): the client is blocked, the worker
//! does the codec work on data it owns (an array snapshot, or the argument bytes copied out), then
//! replies through the blocked client's thread-safe context; writes install their result under
//! Redis' lock. The commands decide *what* runs where (read.rs, write.rs, batch.rs); this file is
//! the one place that blocks clients and touches thread-safe contexts.

use crate::commands::catch_panic;
use crate::commands::steps::SetValue;
use crate::config;
use crate::error::{Error, Result};
use crate::workers;
use redis_module::{raw, Context, ContextFlags, RedisError, RedisString, RedisValue};
use std::ffi::c_int;
use std::sync::atomic::Ordering;
use std::sync::OnceLock;
use std::thread::ThreadId;

static MAIN_THREAD: OnceLock<ThreadId> = OnceLock::new();

/// Records the thread Redis runs commands on (called from the module's load).
pub fn note_main_thread() {
    let _ = MAIN_THREAD.set(std::thread::current().id());
}

fn on_main_thread() -> bool {
    MAIN_THREAD.get() == Some(&std::thread::current().id())
}

thread_local! {
    /// Whether this worker holds Redis' lock (inside [`Job::locked`]).
    static HOLDS_LOCK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this thread may touch Redis' reference counts now: the main thread, or a worker
/// inside [`Job::locked`].
fn holds_lock() -> bool {
    on_main_thread() || HOLDS_LOCK.with(std::cell::Cell::get)
}

/// Whether a command whose codec work covers `bytes` raw bytes runs it on a worker: the pool
/// runs, the work is at least `offload-bytes`, and the client may block. Inside MULTI/EXEC, Lua
/// and functions, `RM_Call`, on the replication link and while loading, Redis does not let a
/// command block (`BlockClient` would answer an error while our side effects still happen), so
/// the same work runs inline there, with the same result.
pub fn should_offload(ctx: &Context, bytes: u64) -> bool {
    bytes >= config::offload_bytes() && workers::threads_running() > 0 && !blocking_denied(ctx)
}

/// Whether a command of `bytes` raw bytes is big enough that replicas and the AOF get its
/// encoded result rather than the command (so they do not compress it again).
pub fn replicate_encoded(bytes: u64) -> bool {
    bytes >= config::offload_bytes()
}

fn blocking_denied(ctx: &Context) -> bool {
    let denied = ContextFlags::MULTI
        | ContextFlags::LUA
        | ContextFlags::DENY_BLOCKING
        | ContextFlags::REPLICATED
        | ContextFlags::LOADING;
    ctx.get_flags().intersects(denied)
}

/// A blocked client and the thread-safe context bound to it. Dropping it frees the context and
/// unblocks the client, whatever happened before (a job that never ran, a panic): every blocked
/// client gets exactly one reply and is unblocked exactly once.
pub struct Job {
    blocked: *mut raw::RedisModuleBlockedClient,
    tsc: *mut raw::RedisModuleCtx,
    /// The client's database when it sent the command (the context must select it to open keys).
    db: c_int,
    replied: bool,
}

// SAFETY: the module API lets a blocked-client handle and its thread-safe context be used from
// any one thread at a time; the job moves to a single worker and is used only there.
unsafe impl Send for Job {}

impl Job {
    /// Creates the thread-safe context bound to the blocked client, once.
    fn attach(&mut self) {
        if self.tsc.is_null() {
            // SAFETY: the blocked client is live until this job unblocks it.
            self.tsc = unsafe {
                raw::RedisModule_GetThreadSafeContext
                    .map_or(std::ptr::null_mut(), |f| f(self.blocked))
            };
        }
    }

    /// The context replies go through. Replying needs no lock: the replies collect in a private
    /// buffer that Redis moves to the client when it is unblocked, without copying a big reply
    /// on the main thread.
    pub fn reply_context(&self) -> Context {
        Context::new(self.tsc)
    }

    /// Runs `f` holding Redis' lock, with the client's database selected: the keyspace may only be
    /// touched here. Never wait for another job inside `f` (the main thread may be waiting for the
    /// lock). The lock is released also if `f` panics.
    pub fn locked<T>(&self, f: impl FnOnce(&Context) -> T) -> T {
        struct Unlock(*mut raw::RedisModuleCtx);
        impl Drop for Unlock {
            fn drop(&mut self) {
                HOLDS_LOCK.with(|held| held.set(false));
                // SAFETY: the context was locked just below, by this thread.
                unsafe {
                    if let Some(unlock) = raw::RedisModule_ThreadSafeContextUnlock {
                        unlock(self.0);
                    }
                }
            }
        }
        // SAFETY: a live thread-safe context, locked and unlocked by this thread only.
        unsafe {
            if let Some(lock) = raw::RedisModule_ThreadSafeContextLock {
                lock(self.tsc);
            }
            if let Some(select) = raw::RedisModule_SelectDb {
                select(self.tsc, self.db);
            }
        }
        let _unlock = Unlock(self.tsc);
        HOLDS_LOCK.with(|held| held.set(true));
        f(&Context::new(self.tsc))
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        if !self.replied {
            self.attach();
            if !self.tsc.is_null() {
                self.reply_context().reply(Err(RedisError::Str(
                    "ERR internal error in ndarray: the background job did not run",
                )));
            }
        }
        // SAFETY: both were created by this job and are released once, here, in the documented
        // order (the context, then the client).
        unsafe {
            if let Some(free) =
                raw::RedisModule_FreeThreadSafeContext.filter(|_| !self.tsc.is_null())
            {
                free(self.tsc);
            }
            if let Some(unblock) = raw::RedisModule_UnblockClient {
                unblock(self.blocked, std::ptr::null_mut());
            }
        }
    }
}

/// Blocks the client and runs `work` on a worker; `work` replies (returning `NoReply`) or returns
/// the reply. An error, or a panic, becomes the client's error reply. Call only when
/// [`should_offload`] said so.
pub fn run(
    ctx: &Context,
    bytes: u64,
    work: impl FnOnce(&Job) -> Result<RedisValue> + Send + 'static,
) -> Result<RedisValue> {
    // SAFETY: a live command context on the main thread; no callbacks, no timeout.
    let blocked = unsafe {
        raw::RedisModule_BlockClient.map_or(std::ptr::null_mut(), |block| {
            block(ctx.ctx, None, None, None, 0)
        })
    };
    if blocked.is_null() {
        return Err(Error::Redis("could not block the client".into()));
    }
    // SAFETY: as above.
    let db = unsafe { raw::RedisModule_GetSelectedDb.map_or(0, |f| f(ctx.ctx)) };
    // The thread-safe context is created on the worker (`attach`): it allocates a client, which
    // need not cost the main thread.
    let job = Job {
        blocked,
        tsc: std::ptr::null_mut(),
        db,
        replied: false,
    };
    let task: workers::Job = Box::new(move || finish(job, work));
    // If the pool refuses the task (it never stops while the module is loaded), dropping the task
    // drops the job, which replies an error and unblocks: it must not run here, as it would take
    // Redis' lock, which this thread holds.
    drop(workers::submit(task, bytes));
    Ok(RedisValue::NoReply)
}

/// The worker's side of [`run`]: exactly one reply, then unblock (on drop).
fn finish(mut job: Job, work: impl FnOnce(&Job) -> Result<RedisValue>) {
    job.attach();
    if job.tsc.is_null() {
        return; // dropping the job unblocks the client (with no context, no reply is possible)
    }
    let outcome = catch_panic(|| work(&job));
    job.replied = true;
    let reply_ctx = job.reply_context();
    match outcome {
        Ok(Ok(RedisValue::NoReply)) => {}
        Ok(Ok(value)) => {
            reply_ctx.reply(Ok(value));
        }
        Ok(Err(e)) => {
            reply_ctx.reply(Err(e.into_reply()));
        }
        Err(what) => {
            crate::stats::PANICS_CAUGHT.fetch_add(1, Ordering::Relaxed);
            job.locked(|ctx| {
                ctx.log_warning(&format!(
                    "ndarray: internal error on a worker (panic caught): {what}"
                ))
            });
            reply_ctx.reply(Err(RedisError::String(format!(
                "ERR internal error in ndarray, please report it: {}",
                what.replace(['\r', '\n'], " ")
            ))));
        }
    }
}

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

    pub fn strings(&self) -> &[*mut raw::RedisModuleString] {
        &self.strings
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

    /// Releases the strings; `_locked` is the command's context or that of [`Job::locked`], proof
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

/// A prepared SET/MSET value whose bytes may borrow the command's arguments, given the lifetime of
/// a worker job.
///
/// # Safety
/// `held` must hold the arguments the value borrows from, and the value must be consumed
/// (encoded) or dropped before `held` is released or dropped.
pub unsafe fn detach(value: SetValue<'_>, _held: &HeldStrings) -> SetValue<'static> {
    // SAFETY: only the lifetime changes; the caller keeps the borrowed bytes alive (above).
    unsafe { std::mem::transmute::<SetValue<'_>, SetValue<'static>>(value) }
}
