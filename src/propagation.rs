//! Whether anything consumes what a write replicates: the AOF, or a replication stream (a
//! replica, or the backlog a later partial resync would read). Redis itself drops what a command
//! replicates when neither exists (`shouldPropagate`); a small write asks this before building the
//! `NDARRAY.STAMP` that carries its time, a large share of a small `NDARRAY.SET`'s cost
//! (`RM_Replicate` looks the command name up and builds its arguments, and Redis then wraps the
//! write in MULTI/EXEC; figures: README, Performance, Measurements behind the code).
//!
//! The AOF is read from the context flags on every call (cheap). Asking for the replication state
//! (`INFO replication`) costs more than the write, so it is cached and kept safe like this:
//! - A replica only receives writes made after its sync forked (the RDB holds everything
//!   before): Redis sets up a replica's stream and forks in one step on the main thread, and fires
//!   `fork child born` in between, before any other command runs. That event sets the cache.
//! - Every cron tick (10 per second by default), a role change and a replica coming or going
//!   re-read the real state, which is how the cache learns that the backlog was freed
//!   (`repl-backlog-ttl` after the last replica left), and how it stays right if a server event
//!   were ever missed in a way we did not foresee: for at most one tick.
//!
//! A write that skips its STAMP here reaches no one, so no replica or AOF ever misses a time.
//! A slot export (Valkey 9's `CLUSTER MIGRATESLOTS`) streams what commands replicate too: while
//! one runs, writes replicate everything.

use redis_module::{Context, ContextFlags};
use std::sync::atomic::{AtomicBool, Ordering};

/// A replication stream may exist. Starts true; the first refresh (at load, once the server
/// events that keep it right are subscribed: `host/server_events.rs`) sets it right.
static REPLICATION_STREAM: AtomicBool = AtomicBool::new(true);

/// Whether a write replicated now would reach a replica, the backlog or the AOF.
pub fn consumed(ctx: &Context) -> bool {
    REPLICATION_STREAM.load(Ordering::Relaxed)
        || crate::migration::exporting()
        || ctx.get_flags().contains(ContextFlags::AOF)
}

/// The same, read from the server's state now (not cached): for a big write, where this costs
/// nothing next to the encode.
pub fn consumed_now(ctx: &Context) -> bool {
    ctx.get_flags().contains(ContextFlags::AOF)
        || crate::migration::exporting()
        || replication_stream_now(ctx)
}

/// Whether this server keeps a replication backlog or has replicas, from `INFO replication`
/// (true when it cannot tell).
fn replication_stream_now(ctx: &Context) -> bool {
    let fields = [c"repl_backlog_active", c"connected_slaves"];
    crate::host::server::info_unsigned(ctx, c"replication", fields)
        .is_none_or(|[backlog, replicas]| backlog != 0 || replicas != 0)
}

/// Re-reads the replication state (server events: cron ticks, role and replica changes).
pub fn refresh(ctx: &Context) {
    REPLICATION_STREAM.store(replication_stream_now(ctx), Ordering::Relaxed);
}

/// A fork was born: it may be a replica's full sync, whose stream starts now (the next refresh
/// tells).
pub fn forked() {
    REPLICATION_STREAM.store(true, Ordering::Relaxed);
}
