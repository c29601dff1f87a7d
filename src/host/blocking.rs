//! Blocked clients, their thread-safe contexts, Redis' lock and timers: how a worker replies to a
//! client and touches the keyspace. `offload.rs` decides when; this file is how.

use redis_module::{raw, Context};
use std::cell::Cell;
use std::ffi::{c_int, c_void};
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
    /// Whether this worker holds Redis' lock (inside [`BlockedClient::locked`]).
    static HOLDS_LOCK: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread may touch Redis' reference counts now: the main thread, or a worker
/// holding the lock.
pub fn holds_lock() -> bool {
    on_main_thread() || HOLDS_LOCK.with(Cell::get)
}

/// A blocked client and, once attached, the thread-safe context bound to it. Dropping it frees
/// the context and unblocks the client, whatever happened before: a client is unblocked exactly
/// once.
pub struct BlockedClient {
    blocked: *mut raw::RedisModuleBlockedClient,
    tsc: *mut raw::RedisModuleCtx,
    /// The client's database when it sent the command (the context must select it to open keys).
    db: c_int,
}

// SAFETY: the module API lets a blocked-client handle and its thread-safe context be used from
// any one thread at a time; the value moves to a single worker and is used only there.
unsafe impl Send for BlockedClient {}

impl BlockedClient {
    /// Blocks the command's client (main thread; no callbacks, no timeout), or `None` when Redis
    /// refuses.
    pub fn block(ctx: &Context) -> Option<BlockedClient> {
        // SAFETY: a live command context on the main thread.
        let blocked = unsafe {
            raw::RedisModule_BlockClient.map_or(std::ptr::null_mut(), |block| {
                block(ctx.ctx, None, None, None, 0)
            })
        };
        if blocked.is_null() {
            return None;
        }
        // SAFETY: as above.
        let db = unsafe { raw::RedisModule_GetSelectedDb.map_or(0, |f| f(ctx.ctx)) };
        Some(BlockedClient {
            blocked,
            tsc: std::ptr::null_mut(),
            db,
        })
    }

    /// Creates the thread-safe context bound to the client, once (on the worker: it allocates a
    /// client, which need not cost the main thread). False if Redis gave none.
    pub fn attach(&mut self) -> bool {
        if self.tsc.is_null() {
            // SAFETY: the blocked client is live until this value unblocks it.
            self.tsc = unsafe {
                raw::RedisModule_GetThreadSafeContext
                    .map_or(std::ptr::null_mut(), |f| f(self.blocked))
            };
        }
        !self.tsc.is_null()
    }

    /// The context replies go through (after [`attach`](Self::attach)). Replying needs no lock:
    /// the replies collect in a private buffer that Redis moves to the client when it is
    /// unblocked, without copying a big reply on the main thread.
    pub fn reply_context(&self) -> Context {
        Context::new(self.tsc)
    }

    /// Runs `f` holding Redis' lock, with the client's database selected: the keyspace may only be
    /// touched here. Never wait for another job inside `f` (the main thread may be waiting for the
    /// lock). The lock is released also if `f` panics.
    pub fn locked<T>(&self, f: impl FnOnce(&Context) -> T) -> T {
        with_lock(self.tsc, self.db, f)
    }

    /// As [`locked`](Self::locked), handing `f` the value that owns this client (`client` finds
    /// it there), so that `f` may move it (to park it for later). `f` must not drop it: the lock is
    /// released through its context after `f` returns.
    pub fn locked_moving<O, T>(
        owner: O,
        client: impl FnOnce(&O) -> &BlockedClient,
        f: impl FnOnce(&Context, O) -> T,
    ) -> T {
        let (tsc, db) = {
            let client = client(&owner);
            (client.tsc, client.db)
        };
        with_lock(tsc, db, |ctx| f(ctx, owner))
    }

    /// Selects the client's database on `ctx` (the main thread's: a timer's context).
    pub fn select_db_on(&self, ctx: &Context) {
        select_db(ctx, self.db);
    }
}

/// Runs `f` holding Redis' lock through the thread-safe context `tsc`, with database `db`
/// selected. The lock is released also if `f` panics.
fn with_lock<T>(tsc: *mut raw::RedisModuleCtx, db: c_int, f: impl FnOnce(&Context) -> T) -> T {
    struct Unlock(*mut raw::RedisModuleCtx);
    impl Drop for Unlock {
        fn drop(&mut self) {
            HOLDS_LOCK.with(|held| held.set(false));
            // SAFETY: the context was locked just below, by this thread, and is still live (the
            // callers' contract).
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
            lock(tsc);
        }
    }
    let _unlock = Unlock(tsc);
    HOLDS_LOCK.with(|held| held.set(true));
    let ctx = Context::new(tsc);
    select_db(&ctx, db);
    f(&ctx)
}

/// Selects database `db` on `ctx`, which holds the lock or is the main thread's.
fn select_db(ctx: &Context, db: c_int) {
    // SAFETY: a live context, used by a thread holding Redis' lock or the main thread.
    unsafe {
        if let Some(select) = raw::RedisModule_SelectDb {
            select(ctx.ctx, db);
        }
    }
}

impl Drop for BlockedClient {
    fn drop(&mut self) {
        // SAFETY: both were created by this value and are released once, here, in the documented
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

/// Calls `callback` on the main thread in `ms` milliseconds, with a timer's context. `ctx` holds
/// the lock or is the main thread's (creating a timer needs either).
pub fn call_later(ctx: &Context, ms: i64, callback: fn(&Context)) {
    extern "C" fn fire(ctx: *mut raw::RedisModuleCtx, data: *mut c_void) {
        // SAFETY: `data` is the box `call_later` leaked for this timer, which fires once.
        let callback = unsafe { Box::from_raw(data.cast::<fn(&Context)>()) };
        let _ = crate::panic::catch_panic(|| callback(&Context::new(ctx)));
    }
    // SAFETY: reading the API table Redis filled in when the module loaded.
    let Some(create) = (unsafe { raw::RedisModule_CreateTimer }) else {
        return;
    };
    let data = Box::into_raw(Box::new(callback)).cast::<c_void>();
    // SAFETY: a live context, under the lock or on the main thread; the trampoline lives as long
    // as the module, and `data` is freed by it when the timer fires.
    unsafe { create(ctx.ctx, ms, Some(fire), data) };
}
