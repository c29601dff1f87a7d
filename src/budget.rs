//! The byte budget of the worker pool: how many bytes of array data the running jobs work on
//! together (decoded replies, encoded writes, probe samples). A job that would go past it waits
//! for running ones to finish, in arrival order, so a burst of big reads cannot push the server
//! into OOM or eviction with memory that belongs to no key. A job bigger than the whole budget
//! runs alone. Redis-free.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};

pub const DEFAULT_WORKER_BYTES: i64 = 1 << 30;

/// The pool's budget. Its limit is the `worker-bytes` setting (`config.rs` declares it); its
/// gauges are in `INFO ndarray`.
pub static BUDGET: Budget = Budget::new(DEFAULT_WORKER_BYTES);

pub struct Budget {
    /// The limit in bytes.
    pub limit: AtomicI64,
    /// Bytes the running jobs hold, and jobs waiting for room (gauges for INFO).
    pub in_use: AtomicU64,
    pub waiting: AtomicU64,
    queue: Mutex<Queue>,
    changed: Condvar,
}

/// Tickets keep the waiting jobs in arrival order: a big job is not starved by small ones that
/// keep fitting beside the running work.
struct Queue {
    in_use: u64,
    next_ticket: u64,
    serving: u64,
}

/// Bytes held until dropped.
pub struct Grant<'a> {
    budget: &'a Budget,
    bytes: u64,
}

impl Budget {
    pub const fn new(limit: i64) -> Budget {
        Budget {
            limit: AtomicI64::new(limit),
            in_use: AtomicU64::new(0),
            waiting: AtomicU64::new(0),
            queue: Mutex::new(Queue {
                in_use: 0,
                next_ticket: 0,
                serving: 0,
            }),
            changed: Condvar::new(),
        }
    }

    fn limit(&self) -> u64 {
        u64::try_from(self.limit.load(Ordering::Relaxed)).unwrap_or(u64::MAX)
    }

    /// Waits until `bytes` fit beside the running jobs (or nothing runs), then holds them. A
    /// poisoned lock (a panic while holding it, which nothing here can do) grants at once rather
    /// than blocking a worker forever.
    pub fn acquire(&self, bytes: u64) -> Grant<'_> {
        let unheld = Grant {
            budget: self,
            bytes: 0,
        };
        let Ok(mut queue) = self.queue.lock() else {
            return unheld;
        };
        let ticket = queue.next_ticket;
        queue.next_ticket += 1;
        let mut waited = false;
        loop {
            let fits = queue.in_use == 0 || queue.in_use.saturating_add(bytes) <= self.limit();
            if queue.serving == ticket && fits {
                break;
            }
            if !waited {
                waited = true;
                self.waiting.fetch_add(1, Ordering::SeqCst);
            }
            queue = match self.changed.wait(queue) {
                Ok(q) => q,
                Err(_) => return unheld,
            };
        }
        if waited {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
        }
        queue.serving += 1;
        queue.in_use = queue.in_use.saturating_add(bytes);
        self.in_use.store(queue.in_use, Ordering::SeqCst);
        self.changed.notify_all();
        Grant {
            budget: self,
            bytes,
        }
    }
}

impl Drop for Grant<'_> {
    fn drop(&mut self) {
        let budget = self.budget;
        if let Ok(mut queue) = budget.queue.lock() {
            queue.in_use = queue.in_use.saturating_sub(self.bytes);
            budget.in_use.store(queue.in_use, Ordering::SeqCst);
        }
        budget.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;
    use std::time::Duration;

    #[test]
    fn jobs_past_the_budget_wait_in_order_and_a_huge_one_runs_alone() {
        let budget = Budget::new(100);
        let first = budget.acquire(60);
        let (started, order) = channel();
        std::thread::scope(|scope| {
            let big_started = started.clone();
            let budget = &budget;
            scope.spawn(move || {
                let g = budget.acquire(1000);
                big_started.send("big").unwrap();
                std::thread::sleep(Duration::from_millis(50));
                drop(g);
            });
            // The big job is waiting; a small one that would fit beside `first` waits behind it.
            while budget.waiting.load(Ordering::SeqCst) == 0 {
                std::thread::yield_now();
            }
            scope.spawn(move || {
                let _g = budget.acquire(10);
                started.send("small").unwrap();
            });
            assert!(order.recv_timeout(Duration::from_millis(100)).is_err());
            assert_eq!(budget.in_use.load(Ordering::SeqCst), 60);
            drop(first);
            assert_eq!(order.recv_timeout(Duration::from_secs(5)).unwrap(), "big");
            assert_eq!(order.recv_timeout(Duration::from_secs(5)).unwrap(), "small");
        });
        assert_eq!(budget.in_use.load(Ordering::SeqCst), 0);
        assert_eq!(budget.waiting.load(Ordering::SeqCst), 0);
    }
}
