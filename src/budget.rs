//! The byte budget of the worker pool: how many bytes of array data the running jobs work on
//! together (decoded replies, encoded writes, probe samples). A job that would go past it waits
//! for running ones to finish, in arrival order, so a burst of big reads cannot push the server
//! into OOM or eviction with memory that belongs to no key. A job bigger than the whole budget
//! runs alone. Redis-free.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};

/// The `worker-bytes` setting (`config.rs` declares it): the budget in bytes.
pub static WORKER_BYTES: AtomicI64 = AtomicI64::new(DEFAULT_WORKER_BYTES);
pub const DEFAULT_WORKER_BYTES: i64 = 1 << 30;

/// `INFO ndarray`: bytes the running jobs hold against the budget, and jobs waiting for it.
pub static BYTES_IN_USE: AtomicU64 = AtomicU64::new(0);
pub static JOBS_WAITING_FOR_BYTES: AtomicU64 = AtomicU64::new(0);

/// Tickets keep the waiting jobs in arrival order: a big job is not starved by small ones that
/// keep fitting beside the running work.
struct Queue {
    in_use: u64,
    next_ticket: u64,
    serving: u64,
}

static QUEUE: Mutex<Queue> = Mutex::new(Queue {
    in_use: 0,
    next_ticket: 0,
    serving: 0,
});
static CHANGED: Condvar = Condvar::new();

/// Bytes held until dropped.
pub struct Grant {
    bytes: u64,
}

fn limit() -> u64 {
    u64::try_from(WORKER_BYTES.load(Ordering::Relaxed)).unwrap_or(u64::MAX)
}

/// Waits until `bytes` fit in the budget beside the running jobs (or nothing runs), then holds
/// them. A poisoned lock (a panic while holding it, which nothing here can do) grants at once
/// rather than blocking a worker forever.
pub fn acquire(bytes: u64) -> Grant {
    let Ok(mut queue) = QUEUE.lock() else {
        return Grant { bytes: 0 };
    };
    let ticket = queue.next_ticket;
    queue.next_ticket += 1;
    let mut waited = false;
    loop {
        let fits = queue.in_use == 0 || queue.in_use.saturating_add(bytes) <= limit();
        if queue.serving == ticket && fits {
            break;
        }
        if !waited {
            waited = true;
            JOBS_WAITING_FOR_BYTES.fetch_add(1, Ordering::SeqCst);
        }
        queue = match CHANGED.wait(queue) {
            Ok(q) => q,
            Err(_) => return Grant { bytes: 0 },
        };
    }
    if waited {
        JOBS_WAITING_FOR_BYTES.fetch_sub(1, Ordering::SeqCst);
    }
    queue.serving += 1;
    queue.in_use = queue.in_use.saturating_add(bytes);
    BYTES_IN_USE.store(queue.in_use, Ordering::SeqCst);
    CHANGED.notify_all();
    Grant { bytes }
}

impl Drop for Grant {
    fn drop(&mut self) {
        if let Ok(mut queue) = QUEUE.lock() {
            queue.in_use = queue.in_use.saturating_sub(self.bytes);
            BYTES_IN_USE.store(queue.in_use, Ordering::SeqCst);
        }
        CHANGED.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;
    use std::time::Duration;

    #[test]
    fn jobs_past_the_budget_wait_in_order_and_a_huge_one_runs_alone() {
        WORKER_BYTES.store(100, Ordering::Relaxed);
        let first = acquire(60);
        let (started, order) = channel();
        let big = {
            let started = started.clone();
            std::thread::spawn(move || {
                let g = acquire(1000);
                started.send("big").unwrap();
                std::thread::sleep(Duration::from_millis(50));
                drop(g);
            })
        };
        // The big job is waiting; a small one that would fit beside `first` waits behind it.
        while JOBS_WAITING_FOR_BYTES.load(Ordering::SeqCst) == 0 {
            std::thread::yield_now();
        }
        let small = std::thread::spawn(move || {
            let _g = acquire(10);
            started.send("small").unwrap();
        });
        assert!(order.recv_timeout(Duration::from_millis(100)).is_err());
        assert_eq!(BYTES_IN_USE.load(Ordering::SeqCst), 60);
        drop(first);
        assert_eq!(order.recv_timeout(Duration::from_secs(5)).unwrap(), "big");
        assert_eq!(order.recv_timeout(Duration::from_secs(5)).unwrap(), "small");
        big.join().unwrap();
        small.join().unwrap();
        assert_eq!(BYTES_IN_USE.load(Ordering::SeqCst), 0);
        assert_eq!(JOBS_WAITING_FOR_BYTES.load(Ordering::SeqCst), 0);
        WORKER_BYTES.store(DEFAULT_WORKER_BYTES, Ordering::Relaxed);
    }
}
