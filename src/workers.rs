//! The threads that run heavy codec work off Redis' main thread. Redis-free: it runs boxed jobs
//! and counts them; `offload.rs` turns a command into a job (blocking the client, replying
//! through its thread-safe context).
//!
//! Two kinds of thread, so that no wait ever runs somebody else's work:
//! - **Command workers** (plain threads pulling from one queue) each run one command's job at a
//!   time: jobs are few and long (a big array each), so a shared channel costs nothing next to
//!   them. A rayon pool would run them too, but a rayon thread waiting for its own chunks steals
//!   whatever is queued, so one client's 8 MiB GET could end up waiting for another's 1 GiB SET.
//! - **The chunk pool** (rayon) runs the per-chunk jobs of the core's plans
//!   (`ndarray_core::parallel`): decode these chunks into these slices, encode those. Command
//!   workers hand their chunks to it and wait; its threads never run a whole command.

use crate::budget;
use ndarray_core::parallel::{self, Executor};
use rayon::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock};

pub type Job = Box<dyn FnOnce() + Send + 'static>;

/// `INFO ndarray` counters: jobs waiting for a worker, running, finished; raw bytes of the arrays
/// the jobs worked on.
pub static JOBS_QUEUED: AtomicU64 = AtomicU64::new(0);
pub static JOBS_RUNNING: AtomicU64 = AtomicU64::new(0);
pub static JOBS_DONE: AtomicU64 = AtomicU64::new(0);
pub static BYTES_OFFLOADED: AtomicU64 = AtomicU64::new(0);
/// Per-chunk jobs of big reads and writes run on the chunk pool (apart from the jobs above: a
/// command running inline, inside MULTI say, may spread its chunks too).
pub static CHUNK_JOBS_HELPED: AtomicU64 = AtomicU64::new(0);

/// Where jobs wait: the command workers' shared queue, and the background lane (one thread of its
/// own) for work a client may ask for in bulk but nobody waits on for long (`NDARRAY.PROBE`):
/// however many probes are queued, they hold one thread, and the workers stay free for reads and
/// writes. Background jobs run their chunks serially, so they never occupy the chunk pool either.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Lane {
    Pool,
    Background,
}

struct Pool {
    queue: Mutex<Sender<(Job, u64)>>,
    background: Mutex<Sender<(Job, u64)>>,
    chunks: rayon::ThreadPool,
    threads: usize,
    /// The process that started the threads (a forked child inherits none of them).
    pid: u32,
}

static POOL: OnceLock<Pool> = OnceLock::new();

/// Starts `threads` command workers, as many chunk-pool threads, and the background lane's
/// thread (once, at module load, on Redis' main thread). With 0 there is no pool and every job
/// runs inline, serially. Returns how many workers run.
pub fn start(threads: usize) -> std::io::Result<usize> {
    if threads == 0 || POOL.get().is_some() {
        return Ok(threads_running());
    }
    let chunks = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|index| format!("ndarray-chunks-{index}"))
        .start_handler(|_| crate::host::thread::lower_this_threads_priority())
        // Every chunk job runs behind `catch_panic` (below); a panic reaching rayon is ignored
        // rather than aborting the server.
        .panic_handler(|_| {})
        .build()
        .map_err(std::io::Error::other)?;
    let queue = spawn_threads("ndarray-worker", threads, Some(&CHUNK_POOL))?;
    let background = spawn_threads("ndarray-background", 1, None)?;
    let _ = POOL.set(Pool {
        queue: Mutex::new(queue),
        background: Mutex::new(background),
        chunks,
        threads,
        pid: std::process::id(),
    });
    // Inline work on this (the main) thread spreads its chunks only when the pool is idle.
    parallel::set_thread_executor(&MAIN_THREAD);
    Ok(threads)
}

fn spawn_threads(
    name: &str,
    count: usize,
    executor: Option<&'static dyn Executor>,
) -> std::io::Result<Sender<(Job, u64)>> {
    let (sender, receiver) = channel::<(Job, u64)>();
    let receiver = Arc::new(Mutex::new(receiver));
    for index in 0..count {
        let receiver = Arc::clone(&receiver);
        std::thread::Builder::new()
            .name(format!("{name}-{index}"))
            .spawn(move || {
                crate::host::thread::lower_this_threads_priority();
                if let Some(executor) = executor {
                    parallel::set_thread_executor(executor);
                }
                work(&receiver)
            })?;
    }
    Ok(sender)
}

pub fn threads_running() -> usize {
    POOL.get().map_or(0, |p| p.threads)
}

/// Queues a command's `job`, which works on `bytes` of array data, on `lane`, or hands it back
/// when there is no pool (it must then run inline).
pub fn submit(job: Job, bytes: u64, lane: Lane) -> Result<(), Job> {
    let Some(pool) = POOL.get() else {
        return Err(job);
    };
    let queue = match lane {
        Lane::Pool => &pool.queue,
        Lane::Background => &pool.background,
    };
    let Ok(queue) = queue.lock() else {
        return Err(job);
    };
    JOBS_QUEUED.fetch_add(1, Ordering::SeqCst);
    match queue.send((job, bytes)) {
        Ok(()) => {
            BYTES_OFFLOADED.fetch_add(bytes, Ordering::Relaxed);
            Ok(())
        }
        Err(returned) => {
            JOBS_QUEUED.fetch_sub(1, Ordering::Relaxed);
            Err(returned.0 .0)
        }
    }
}

fn work(receiver: &Mutex<Receiver<(Job, u64)>>) {
    loop {
        // The lock is held only while waiting for the next job, never while running one.
        let next = match receiver.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        let Ok((job, bytes)) = next else {
            return;
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

/// The command workers' executor: their chunks run on the chunk pool, the worker waiting.
struct ChunkPool;

static CHUNK_POOL: ChunkPool = ChunkPool;

impl Executor for ChunkPool {
    fn for_each_index(&self, count: usize, f: &(dyn Fn(usize) + Sync)) {
        match POOL.get() {
            Some(pool) => run_on_chunk_pool(&pool.chunks, count, f),
            None => parallel::Serial.for_each_index(count, f),
        }
    }
}

/// Redis' main thread's executor (inline commands: inside MULTI or scripts, replicated, loaded):
/// the chunk pool while no command job is queued or running, else serially. Jobs are queued only
/// by this thread, so a pool found idle stays free of other clients' work until this returns:
/// the main thread never waits behind it.
struct MainThread;

static MAIN_THREAD: MainThread = MainThread;

impl Executor for MainThread {
    fn for_each_index(&self, count: usize, f: &(dyn Fn(usize) + Sync)) {
        let idle =
            JOBS_QUEUED.load(Ordering::SeqCst) == 0 && JOBS_RUNNING.load(Ordering::SeqCst) == 0;
        match POOL.get() {
            // A forked child (BGSAVE, AOF rewrite) has none of the pool's threads: the pool would
            // never run the work there.
            Some(pool) if idle && std::process::id() == pool.pid => {
                run_on_chunk_pool(&pool.chunks, count, f)
            }
            _ => parallel::Serial.for_each_index(count, f),
        }
    }
}

/// Runs `f(i)` for every `i` in `0..count` on the chunk pool, one index per job, and returns when
/// all are done. A panicking call counts as done: `f` reports its results (and their absence)
/// itself.
fn run_on_chunk_pool(chunks: &rayon::ThreadPool, count: usize, f: &(dyn Fn(usize) + Sync)) {
    chunks.install(|| {
        (0..count)
            .into_par_iter()
            .with_max_len(1)
            .for_each(|index| {
                let _ = crate::panic::catch_panic(|| f(index));
            })
    });
    CHUNK_JOBS_HELPED.fetch_add(count as u64, Ordering::Relaxed);
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

    use std::sync::atomic::AtomicUsize;
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

        // A worker's per-chunk work runs on the chunk pool and returns only when every index is
        // done; a panicking index counts as done.
        let (done, result) = channel();
        let job: Job = Box::new(move || {
            let counts: Vec<AtomicUsize> = (0..1000).map(|_| AtomicUsize::new(0)).collect();
            let threads = Mutex::new(std::collections::BTreeSet::new());
            parallel::for_each_index(counts.len(), &|i| {
                counts[i].fetch_add(1, Ordering::Relaxed);
                let name = std::thread::current().name().unwrap_or("").to_string();
                threads.lock().unwrap().insert(name);
            });
            parallel::for_each_index(3, &|i| assert!(i != 1, "a panicking index"));
            let all_once = counts.iter().all(|c| c.load(Ordering::Relaxed) == 1);
            done.send((all_once, threads.into_inner().unwrap()))
                .unwrap();
        });
        assert!(submit(job, 0, Lane::Pool).is_ok());
        let (all_once, threads) = result.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(all_once);
        assert!(
            threads.iter().all(|n| n.starts_with("ndarray-chunks-")),
            "{threads:?}"
        );
    }
}
