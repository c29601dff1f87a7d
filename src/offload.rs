//! Running a command's heavy part on a worker (`workers.rs`): the client is blocked, the worker
//! does the codec work on data it owns (an array snapshot, or the argument bytes copied out), then
//! replies through the blocked client's thread-safe context. A write's result is installed only
//! when the same write would be accepted as a new command at that moment (`admission.rs`): under
//! Redis' lock on the worker, or, when writes were paused meanwhile, later on the main thread
//! (the client stays blocked, as a paused client's command waits). The commands decide *what*
//! runs where (read.rs, write.rs, batch.rs); this file is the one place that blocks clients and
//! touches thread-safe contexts.

use crate::admission::{Admission, Verdict};
use crate::config;
use crate::error::{Error, Result};
use crate::host::blocking::{call_later, BlockedClient};
use crate::panic::catch_panic;
use crate::workers::{self, Lane};
use redis_module::{Context, ContextFlags, RedisError, RedisValue};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

pub use crate::host::held::{HeldStrings, ValuesOnArgs};

/// [`should_offload`] for a write: never while a slot export runs (`migration.rs`), whose stream
/// only carries what commands replicate themselves.
pub fn should_offload_write(ctx: &Context, bytes: u64) -> bool {
    should_offload(ctx, bytes) && !crate::migration::exporting()
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

/// A blocked client with its one reply to give. Dropping it replies an error if nothing was
/// replied yet (a job that never ran, a panic), then unblocks the client: every blocked client
/// gets exactly one reply and is unblocked exactly once.
pub struct Job {
    client: BlockedClient,
    replied: bool,
}

impl Job {
    /// The context replies go through (see [`BlockedClient::reply_context`]).
    pub fn reply_context(&self) -> Context {
        self.client.reply_context()
    }

    /// Runs `f` holding Redis' lock, with the client's database selected (see
    /// [`BlockedClient::locked`]).
    pub fn locked<T>(&self, f: impl FnOnce(&Context) -> T) -> T {
        self.client.locked(f)
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
                crate::host::stats::PANICS_CAUGHT.fetch_add(1, Ordering::Relaxed);
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

impl Drop for Job {
    fn drop(&mut self) {
        if !self.replied && self.client.attach() {
            self.reply_context().reply(Err(RedisError::Str(
                "ERR internal error in ndarray: the background job did not run",
            )));
        }
        // Dropping the client frees its context, then unblocks it.
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
    let Some(client) = BlockedClient::block(ctx) else {
        return Err(Error::Redis("could not block the client".into()));
    };
    // The thread-safe context is created on the worker (`attach`).
    let job = Job {
        client,
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
    if !job.client.attach() {
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
        if !job.client.attach() {
            return; // dropping the job unblocks the client (with no context, no reply is possible)
        }
        match catch_panic(|| work(&job)) {
            Ok(Ok(install)) => {
                let pending = Pending {
                    job,
                    admission,
                    install,
                };
                let settled = BlockedClient::locked_moving(pending, |p| &p.job.client, settle);
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
        call_later(ctx, RETRY_MS, retry_parked);
    }
}

/// The retry timer (main thread): every parked write asks again; those still paused park again.
fn retry_parked(ctx: &Context) {
    RETRY_ARMED.store(false, Ordering::Relaxed);
    let parked = std::mem::take(&mut *PARKED.lock().unwrap_or_else(|p| p.into_inner()));
    INSTALLS_WAITING.store(0, Ordering::Relaxed);
    for pending in parked {
        pending.job.client.select_db_on(ctx);
        // Dropped here, on the main thread: the job unblocks its client.
        drop(settle(ctx, pending));
    }
}
