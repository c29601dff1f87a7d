//! The worker pool that runs heavy codec work off Redis' main thread. Redis-free: it runs boxed
//! jobs and counts them; `offload.rs` turns a command into a job (blocking the client, replying
//! through its thread-safe context).
//!
//! Plain threads pulling from one queue: jobs are few and long (a big array each), so a shared
//! channel costs nothing next to them, and no crate is needed.

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

struct Pool {
    queue: Mutex<Sender<Job>>,
    threads: usize,
}

static POOL: OnceLock<Pool> = OnceLock::new();

/// Starts `threads` workers (once, at module load). With 0 there is no pool and every job runs
/// inline. Returns how many workers run.
pub fn start(threads: usize) -> std::io::Result<usize> {
    if threads == 0 || POOL.get().is_some() {
        return Ok(threads_running());
    }
    let (sender, receiver) = channel::<Job>();
    let receiver = Arc::new(Mutex::new(receiver));
    for index in 0..threads {
        let receiver = Arc::clone(&receiver);
        std::thread::Builder::new()
            .name(format!("ndarray-worker-{index}"))
            .spawn(move || work(&receiver))?;
    }
    let _ = POOL.set(Pool {
        queue: Mutex::new(sender),
        threads,
    });
    Ok(threads)
}

pub fn threads_running() -> usize {
    POOL.get().map_or(0, |p| p.threads)
}

/// Queues `job` for a worker, or hands it back when there is no pool (it must then run inline).
pub fn submit(job: Job, bytes: u64) -> Result<(), Job> {
    let Some(pool) = POOL.get() else {
        return Err(job);
    };
    let Ok(queue) = pool.queue.lock() else {
        return Err(job);
    };
    JOBS_QUEUED.fetch_add(1, Ordering::Relaxed);
    match queue.send(job) {
        Ok(()) => {
            BYTES_OFFLOADED.fetch_add(bytes, Ordering::Relaxed);
            Ok(())
        }
        Err(returned) => {
            JOBS_QUEUED.fetch_sub(1, Ordering::Relaxed);
            Err(returned.0)
        }
    }
}

fn work(receiver: &Mutex<Receiver<Job>>) {
    loop {
        // The lock is held only while waiting for the next job, never while running one.
        let next = match receiver.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        let Ok(job) = next else { return };
        JOBS_QUEUED.fetch_sub(1, Ordering::Relaxed);
        JOBS_RUNNING.fetch_add(1, Ordering::Relaxed);
        // Jobs reply to their client themselves, also when they fail (offload.rs); this only keeps
        // the worker alive should one panic anyway.
        let _ = crate::commands::catch_panic(job);
        JOBS_RUNNING.fetch_sub(1, Ordering::Relaxed);
        JOBS_DONE.fetch_add(1, Ordering::Relaxed);
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
        assert!(submit(panicking, 0).is_ok());
        for i in 0..8u32 {
            let done = done.clone();
            let job: Job = Box::new(move || {
                let name = std::thread::current().name().unwrap_or("").to_string();
                done.send((i, name)).unwrap();
            });
            assert!(submit(job, 10).is_ok());
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
    }
}
