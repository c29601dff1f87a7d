//! Valkey 9's atomic slot migration (`CLUSTER MIGRATESLOTS`), as this node sees it: whether a
//! slot export is running, and an epoch bumped when one starts (`host/server_events.rs` follows
//! Valkey's slot-migration event).
//!
//! An export sends the slots' keys as a snapshot, then the writes made to them meanwhile, taken
//! from what commands replicate *with the slot of the command that ran*. What an offloaded write
//! replicates when its worker installs it, under Redis' lock outside any command, carries no slot
//! and never reaches the target: an acknowledged write would be lost. So while an export runs,
//! writes run inline (on the main thread, replicated within their command, as a native write), and
//! an offloaded write admitted before an export started is not installed: it gets `TRYAGAIN`, as a
//! native multi-key write does during a resharding, and the client retries. Node-wide, not per
//! slot: exports are rare, operator-driven and short.

use std::sync::atomic::{AtomicU64, Ordering};

/// Exports running on this node (started, not yet completed or aborted).
static RUNNING: AtomicU64 = AtomicU64::new(0);
/// Exports started since the module loaded.
static EPOCH: AtomicU64 = AtomicU64::new(0);

/// An export started (main thread, server event).
pub fn export_started() {
    EPOCH.fetch_add(1, Ordering::SeqCst);
    RUNNING.fetch_add(1, Ordering::SeqCst);
}

/// An export completed or was aborted (main thread, server event).
pub fn export_ended() {
    let _ = RUNNING.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
}

/// Whether an export is running: writes then run inline.
pub fn exporting() -> bool {
    RUNNING.load(Ordering::SeqCst) > 0
}

/// The export epoch a write is admitted under.
pub fn epoch() -> u64 {
    EPOCH.load(Ordering::SeqCst)
}
