//! The worker pool that runs heavy codec work off Redis' main thread. Redis-free: it runs boxed
//! jobs and counts them; `offload.rs` turns a command into a job (blocking the client, replying
//! through its thread-safe context).
//!
//! Plain threads pulling from one queue: jobs are few and long (a big array each), so a shared
//! channel costs nothing next to them, and no crate is needed.

use crate::budget;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

pub type Job = Box<dyn FnOnce() + Send + 'static>;

/// `INFO ndarray` counters: jobs waiting for a worker, running, finished; raw bytes of the arrays
/// the jobs worked on.
pub static JOBS_QUEUED: AtomicU64 = AtomicU64::new(0);
pub static JOBS_RUNNING: AtomicU64 = AtomicU64::new(0);
pub static JOBS_DONE: AtomicU64 = AtomicU64::new(0);
pub static BYTES_OFFLOADED: AtomicU64 = AtomicU64::new(0);
/// Chunks of big reads and writes that workers took over from the thread running the command
/// (`for_each_index`), apart from the jobs above: a command running inline (inside MULTI, say)
/// still spreads its chunks.
pub static CHUNK_JOBS_HELPED: AtomicU64 = AtomicU64::new(0);

/// What travels to a worker: a command's job (counted in `JOBS_*`, holding its bytes against the
/// budget while it runs) or a helper of `for_each_index` (part of a job already counted).
enum Task {
    Command { job: Job, bytes: u64 },
    Helper(Job),
}

impl Task {
    fn into_job(self) -> Job {
        match self {
            Task::Command { job, .. } | Task::Helper(job) => job,
        }
    }
}

/// Where jobs wait: the pool's shared queue, and the background lane (one thread of its own) for
/// work a client may ask for in bulk but nobody waits on for long (`NDARRAY.PROBE`): however many
/// probes are queued, they hold one thread, and the pool stays free for reads and writes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Lane {
    Pool,
    Background,
}

struct Pool {
    queue: Mutex<Sender<Task>>,
    background: Mutex<Sender<Task>>,
    threads: usize,
}

static POOL: OnceLock<Pool> = OnceLock::new();

/// Starts `threads` workers and the background lane's thread (once, at module load). With 0
/// there is no pool and every job runs inline. Returns how many workers run.
pub fn start(threads: usize) -> std::io::Result<usize> {
    if threads == 0 || POOL.get().is_some() {
        return Ok(threads_running());
    }
    let queue = spawn_threads("ndarray-worker", threads)?;
    let background = spawn_threads("ndarray-background", 1)?;
    let _ = POOL.set(Pool {
        queue: Mutex::new(queue),
        background: Mutex::new(background),
        threads,
    });
    // The core's per-chunk jobs run on this pool from now on.
    ndarray_core::parallel::set_executor(&PoolExecutor);
    Ok(threads)
}

fn spawn_threads(name: &str, count: usize) -> std::io::Result<Sender<Task>> {
    let (sender, receiver) = channel::<Task>();
    let receiver = Arc::new(Mutex::new(receiver));
    for index in 0..count {
        let receiver = Arc::clone(&receiver);
        std::thread::Builder::new()
            .name(format!("{name}-{index}"))
            .spawn(move || work(&receiver))?;
    }
    Ok(sender)
}

pub fn threads_running() -> usize {
    POOL.get().map_or(0, |p| p.threads)
}

/// Queues a command's `job`, which works on `bytes` of array data, on `lane`, or hands it back
/// when there is no pool (it must then run inline).
pub fn submit(job: Job, bytes: u64, lane: Lane) -> Result<(), Job> {
    JOBS_QUEUED.fetch_add(1, Ordering::SeqCst);
    match send(Task::Command { job, bytes }, lane) {
        Ok(()) => {
            BYTES_OFFLOADED.fetch_add(bytes, Ordering::Relaxed);
            Ok(())
        }
        Err(job) => {
            JOBS_QUEUED.fetch_sub(1, Ordering::Relaxed);
            Err(job)
        }
    }
}

fn send(task: Task, lane: Lane) -> Result<(), Job> {
    let Some(pool) = POOL.get() else {
        return Err(task.into_job());
    };
    let queue = match lane {
        Lane::Pool => &pool.queue,
        Lane::Background => &pool.background,
    };
    let Ok(queue) = queue.lock() else {
        return Err(task.into_job());
    };
    queue.send(task).map_err(|returned| returned.0.into_job())
}

fn work(receiver: &Mutex<Receiver<Task>>) {
    loop {
        // The lock is held only while waiting for the next job, never while running one.
        let next = match receiver.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        let (job, bytes) = match next {
            Ok(Task::Helper(job)) => {
                let _ = crate::panic::catch_panic(job);
                continue;
            }
            Ok(Task::Command { job, bytes }) => (job, bytes),
            Err(_) => return,
        };
        // Still queued while it waits for room in the byte budget.
        let grant = budget::BUDGET.acquire(bytes);
        // Running before no longer queued, so the job is never in neither count.
        JOBS_RUNNING.fetch_add(1, Ordering::SeqCst);
        JOBS_QUEUED.fetch_sub(1, Ordering::SeqCst);
        // Jobs reply to their client themselves, also when they fail (offload.rs); this only keeps
        // the worker alive should one panic anyway.
        let _ = crate::panic::catch_panic(job);
        drop(grant);
        // Done before no longer running: a pool seen idle has counted all its jobs.
        JOBS_DONE.fetch_add(1, Ordering::SeqCst);
        JOBS_RUNNING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One call of [`for_each_index`]: indexes are claimed one at a time by the calling thread and by
/// idle workers.
struct Parts {
    next: AtomicUsize,
    done: AtomicUsize,
    count: usize,
    /// The caller's closure, its lifetime erased: it is only called for a claimed index, and every
    /// claimed index finishes before `for_each_index` returns (see `claim`).
    f: *const (dyn Fn(usize) + Sync),
    finished: (Mutex<bool>, Condvar),
}

// SAFETY: `f` is `Sync` and outlives every call made through it (see `Parts::f`).
unsafe impl Send for Parts {}
unsafe impl Sync for Parts {}

impl Parts {
    /// Runs claimed indexes until none is left; returns how many it ran. A thread that claims
    /// nothing never touches `f`.
    fn claim(&self) -> u64 {
        let mut ran = 0;
        loop {
            let index = self.next.fetch_add(1, Ordering::AcqRel);
            if index >= self.count {
                return ran;
            }
            ran += 1;
            // SAFETY: `index` was claimed before the caller could return: it waits for it.
            let f = unsafe { &*self.f };
            let _ = crate::panic::catch_panic(|| f(index));
            if self.done.fetch_add(1, Ordering::AcqRel) + 1 == self.count {
                let (lock, all_done) = &self.finished;
                if let Ok(mut finished) = lock.lock() {
                    *finished = true;
                    all_done.notify_all();
                }
            }
        }
    }
}

/// The pool as the core's executor (`ndarray_core::parallel`): per-chunk jobs go through
/// [`for_each_index`].
struct PoolExecutor;

impl ndarray_core::parallel::Executor for PoolExecutor {
    fn for_each_index(&self, count: usize, f: &(dyn Fn(usize) + Sync)) {
        for_each_index(count, f);
    }
}

/// Calls `f(i)` for every `i` in `0..count`, spread over this thread and idle workers (the
/// per-chunk jobs of a big read or write), and returns when all calls are done. Without a pool,
/// or for one index, the calls run here in order. A panicking call counts as done: `f` reports
/// its results (and their absence) itself. Never deadlocks: this thread waits only for indexes
/// that other threads are running.
pub fn for_each_index(count: usize, f: &(dyn Fn(usize) + Sync)) {
    let helpers = threads_running().min(count).saturating_sub(1);
    if helpers == 0 {
        (0..count).for_each(f);
        return;
    }
    // SAFETY: only the lifetime is erased; see `Parts::f`.
    let f: *const (dyn Fn(usize) + Sync + 'static) = unsafe { std::mem::transmute(f) };
    let parts = Arc::new(Parts {
        next: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        count,
        f,
        finished: (Mutex::new(false), Condvar::new()),
    });
    for _ in 0..helpers {
        let parts = Arc::clone(&parts);
        // A refused job is fine: this thread claims whatever nobody else does.
        let helper = move || {
            CHUNK_JOBS_HELPED.fetch_add(parts.claim(), Ordering::Relaxed);
        };
        let _ = send(Task::Helper(Box::new(helper)), Lane::Pool);
    }
    parts.claim();
    let (lock, all_done) = &parts.finished;
    let Ok(mut finished) = lock.lock() else {
        return;
    };
    while !*finished && parts.done.load(Ordering::Acquire) < count {
        finished = match all_done.wait(finished) {
            Ok(guard) => guard,
            Err(_) => return,
        };
    }
}

/// The default of the `threads` setting: the machine's cores, at most 4.
pub fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(4)
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::mpsc::channel;
    use std::time::Duration;

    #[test]
    fn jobs_run_on_workers_and_survive_a_panicking_job() {
        assert_eq!(start(2).unwrap(), 2);
        assert_eq!(start(3).unwrap(), 2, "the pool starts once");
        let (done, results) = channel();
        let panicking: Job = Box::new(|| panic!("a job that panics"));
        assert!(submit(panicking, 0, Lane::Pool).is_ok());
        for i in 0..8u32 {
            let done = done.clone();
            let job: Job = Box::new(move || {
                let name = std::thread::current().name().unwrap_or("").to_string();
                done.send((i, name)).unwrap();
            });
            assert!(submit(job, 10, Lane::Pool).is_ok());
        }
        let mut seen: Vec<(u32, String)> = (0..8)
            .map(|_| results.recv_timeout(Duration::from_secs(10)).unwrap())
            .collect();
        seen.sort();
        assert_eq!(
            seen.iter().map(|s| s.0).collect::<Vec<_>>(),
            (0..8).collect::<Vec<_>>()
        );
        assert!(seen.iter().all(|(_, n)| n.starts_with("ndarray-worker-")));
        assert!(BYTES_OFFLOADED.load(Ordering::Relaxed) >= 80);

        // Per-index work spreads over the workers and returns only when every index is done.
        let counts: Vec<AtomicUsize> = (0..1000).map(|_| AtomicUsize::new(0)).collect();
        for_each_index(counts.len(), &|i| {
            counts[i].fetch_add(1, Ordering::Relaxed);
        });
        assert!(counts.iter().all(|c| c.load(Ordering::Relaxed) == 1));
        for_each_index(3, &|i| assert!(i != 1, "a panicking index counts as done"));
    }
}
