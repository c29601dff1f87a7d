//! The one operating-system call outside the module API: worker threads give way to Redis' main
//! thread.

/// How much lower than Redis' main thread the module's worker threads run (nice). On a machine
/// with as many cores as workers, decoding on every core otherwise keeps the main thread, which
/// serves every client, waiting for a core when it wakes (a stall measured in milliseconds at
/// 2 cores); with a lower priority the scheduler hands the main thread a core at once and the
/// workers the rest.
pub const WORKER_NICE: i32 = 5;

/// Lowers the calling thread's priority by [`WORKER_NICE`] (Linux: nice is per thread). Best
/// effort: a failure leaves the thread as it was.
pub fn lower_this_threads_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `gettid` takes no arguments; `setpriority` on a thread id of this process with
        // an int priority reads nothing from memory. Both only return a status.
        unsafe {
            let tid = libc::gettid();
            let now = libc::getpriority(libc::PRIO_PROCESS, tid as libc::id_t);
            let _ = libc::setpriority(
                libc::PRIO_PROCESS,
                tid as libc::id_t,
                now.saturating_add(WORKER_NICE),
            );
        }
    }
}
