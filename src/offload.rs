//! Running a command's heavy part on a worker (`workers.rs`): the client is blocked, the worker
//! does the codec work on data it owns (an array snapshot, or the argument bytes copied out), then
//! replies through the blocked client's thread-safe context. A write's result is installed only
//! when the same write would be accepted as a new command at that moment (`admission.rs`): under
//! Redis' lock on the worker, or, when writes were paused meanwhile, later on the main thread
//! (the client stays blocked, as a paused client's command waits). The commands decide *what*
//! runs where (read.rs, write.rs, batch.rs); this file is the one place that blocks clients and
//! touches thread-safe contexts.

use crate::admission::{Admission, Verdict};
use crate::commands::steps::SetValue;
use crate::config;
use crate::error::{Error, Result};
use crate::panic::catch_panic;
use crate::workers::{self, Lane};
use redis_module::{raw, Context, ContextFlags, RedisError, RedisString, RedisValue};
use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
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
        with_lock(self.tsc, self.db, f)
    }

    fn reply(&mut self, outcome: std::result::Result<Result<RedisValue>, String>) {
        self.replied = true;
        let reply_ctx = self.reply_context();
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
                reply_ctx.log_warning(&format!(
                    "ndarray: internal error on a worker (panic caught): {what}"
                ));
                reply_ctx.reply(Err(RedisError::String(format!(
                    "ERR internal error in ndarray, please report it: {}",
                    what.replace(['\r', '\n'], " ")
                ))));
            }
        }
    }
}

/// Runs `f` holding Redis' lock through the thread-safe context `tsc`, with database `db`
/// selected. The lock is released also if `f` panics.
fn with_lock<T>(tsc: *mut raw::RedisModuleCtx, db: c_int, f: impl FnOnce(&Context) -> T) -> T {
    {
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
                lock(tsc);
            }
            select_db(tsc, db);
        }
        let _unlock = Unlock(tsc);
        HOLDS_LOCK.with(|held| held.set(true));
        f(&Context::new(tsc))
    }
}

/// # Safety
/// `ctx` is live, and this thread holds Redis' lock or is the main thread.
unsafe fn select_db(ctx: *mut raw::RedisModuleCtx, db: c_int) {
    // SAFETY: as the caller promises.
    unsafe {
        if let Some(select) = raw::RedisModule_SelectDb {
            select(ctx, db);
        }
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
    spawn(ctx, bytes, Lane::Pool, move |job| finish(job, work))
}

/// As [`run`], on the background lane: for work a client may queue in bulk (`NDARRAY.PROBE`),
/// which must not hold the pool's workers that reads and writes need.
pub fn run_in_background(
    ctx: &Context,
    bytes: u64,
    work: impl FnOnce(&Job) -> Result<RedisValue> + Send + 'static,
) -> Result<RedisValue> {
    spawn(ctx, bytes, Lane::Background, move |job| finish(job, work))
}

/// Blocks the client and runs `task` on a worker of `lane` with the job.
fn spawn(
    ctx: &Context,
    bytes: u64,
    lane: Lane,
    task: impl FnOnce(Job) + Send + 'static,
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
    let task: workers::Job = Box::new(move || task(job));
    // If the pool refuses the task (it never stops while the module is loaded), dropping the task
    // drops the job, which replies an error and unblocks: it must not run here, as it would take
    // Redis' lock, which this thread holds.
    drop(workers::submit(task, bytes, lane));
    Ok(RedisValue::NoReply)
}

/// The worker's side of [`run`]: exactly one reply, then unblock (on drop).
fn finish(mut job: Job, work: impl FnOnce(&Job) -> Result<RedisValue>) {
    job.attach();
    if job.tsc.is_null() {
        return; // dropping the job unblocks the client (with no context, no reply is possible)
    }
    let outcome = catch_panic(|| work(&job));
    job.reply(outcome);
}

/// What a write's install did: its reply, and what it replaced (values, stores), freed outside
/// Redis' lock.
pub struct Installed {
    pub reply: RedisValue,
    pub replaced: Vec<Box<dyn Send>>,
}

/// `items` (replaced values or stores) as [`Installed::replaced`].
pub fn to_free<T: Send + 'static>(items: impl IntoIterator<Item = T>) -> Vec<Box<dyn Send>> {
    items
        .into_iter()
        .map(|item| Box::new(item) as Box<dyn Send>)
        .collect()
}

/// A write's last step, run when [`Admission::verdict`] allows it: on the worker under Redis'
/// lock, or on the main thread after a pause. It must not reply itself (its context may be a
/// timer's): it returns the reply.
pub type Install = Box<dyn FnOnce(&Context) -> Result<Installed> + Send>;

/// Like [`run`] for a write of `keys`: `work` prepares the value on the worker and returns its
/// [`Install`], which runs only when the write would be accepted as a new command at that
/// moment; otherwise the client gets the error Redis would give (nothing is installed), or, while
/// writes are paused, stays blocked until they resume.
pub fn run_write(
    ctx: &Context,
    bytes: u64,
    keys: Vec<Vec<u8>>,
    work: impl FnOnce(&Job) -> Result<Install> + Send + 'static,
) -> Result<RedisValue> {
    let admission = Admission::new(ctx, keys);
    spawn(ctx, bytes, Lane::Pool, move |mut job| {
        job.attach();
        if job.tsc.is_null() {
            return; // dropping the job unblocks the client (with no context, no reply is possible)
        }
        match catch_panic(|| work(&job)) {
            Ok(Ok(install)) => {
                let pending = Pending {
                    job,
                    admission,
                    install,
                };
                let (tsc, db) = (pending.job.tsc, pending.job.db);
                let settled = with_lock(tsc, db, |ctx| settle(ctx, pending));
                if settled.is_none() {
                    INSTALLS_DEFERRED.fetch_add(1, Ordering::Relaxed);
                }
                // The job (its context, which was locked) and the replaced values are freed
                // after the lock is released.
                drop(settled);
            }
            Ok(Err(e)) => job.reply(Ok(Err(e))),
            Err(what) => job.reply(Err(what)),
        }
    })
}

/// A write whose result waits for its install.
struct Pending {
    job: Job,
    admission: Admission,
    install: Install,
}

/// Writes parked while writes are paused, retried by a timer on the main thread.
static PARKED: Mutex<Vec<Pending>> = Mutex::new(Vec::new());
/// A retry timer is armed.
static RETRY_ARMED: AtomicBool = AtomicBool::new(false);
/// How often parked writes ask again (ms): a paused client's command resumes at the next event
/// loop turn; 10 ms is within a turn's noise and costs nothing while nothing is parked.
const RETRY_MS: i64 = 10;

/// Installs waiting for a pause to end (INFO), installs that ever waited, and installs refused
/// because the server's state changed meanwhile.
pub static INSTALLS_WAITING: AtomicU64 = AtomicU64::new(0);
pub static INSTALLS_DEFERRED: AtomicU64 = AtomicU64::new(0);
pub static INSTALLS_REFUSED: AtomicU64 = AtomicU64::new(0);

/// What [`settle`] leaves to free once Redis' lock is released (nothing when it parked).
struct Settled {
    _job: Job,
    _replaced: Vec<Box<dyn Send>>,
}

/// Installs, refuses or parks a pending write. `ctx` holds Redis' lock or is the main thread's,
/// with the client's database selected.
fn settle(ctx: &Context, pending: Pending) -> Option<Settled> {
    let Pending {
        mut job,
        admission,
        install,
    } = pending;
    let (outcome, replaced) = match admission.verdict(ctx) {
        Verdict::Wait => {
            let pending = Pending {
                job,
                admission,
                install,
            };
            park(ctx, pending);
            return None;
        }
        Verdict::Refuse(refusal) => {
            INSTALLS_REFUSED.fetch_add(1, Ordering::Relaxed);
            (Ok(Err(refusal)), Vec::new())
        }
        Verdict::Install => match catch_panic(|| install(ctx)) {
            Ok(Ok(installed)) => (Ok(Ok(installed.reply)), installed.replaced),
            Ok(Err(e)) => (Ok(Err(e)), Vec::new()),
            Err(what) => (Err(what), Vec::new()),
        },
    };
    job.reply(outcome);
    Some(Settled {
        _job: job,
        _replaced: replaced,
    })
}

/// Keeps a write for later and makes sure a retry timer runs. Under the lock or on the main
/// thread (creating a timer needs either).
fn park(ctx: &Context, pending: Pending) {
    let mut parked = PARKED.lock().unwrap_or_else(|p| p.into_inner());
    parked.push(pending);
    INSTALLS_WAITING.store(parked.len() as u64, Ordering::Relaxed);
    drop(parked);
    if !RETRY_ARMED.swap(true, Ordering::Relaxed) {
        // SAFETY: a live context, under the lock or on the main thread; the callback lives as
        // long as the module.
        unsafe {
            if let Some(create) = raw::RedisModule_CreateTimer {
                create(ctx.ctx, RETRY_MS, Some(retry_parked), std::ptr::null_mut());
            }
        }
    }
}

/// The retry timer (main thread): every parked write asks again; those still paused park again.
extern "C" fn retry_parked(ctx: *mut raw::RedisModuleCtx, _data: *mut c_void) {
    RETRY_ARMED.store(false, Ordering::Relaxed);
    let parked = std::mem::take(&mut *PARKED.lock().unwrap_or_else(|p| p.into_inner()));
    INSTALLS_WAITING.store(0, Ordering::Relaxed);
    for pending in parked {
        // SAFETY: the timer's live context, on the main thread.
        unsafe { select_db(ctx, pending.job.db) };
        // Dropped here, on the main thread: the job unblocks its client.
        drop(settle(&Context::new(ctx), pending));
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
