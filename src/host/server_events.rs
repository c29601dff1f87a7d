//! The server events the module follows, in one place (Redis keeps one callback per event and
//! module): fork, cron, role and replica changes keep `propagation.rs`' cache right; a role change
//! also tells `admission.rs` (offloaded writes admitted before it are not installed); the cron
//! also frees the big buffer `array::spare` may keep; Valkey 9's slot exports tell `migration.rs`.

use crate::admission;
use crate::array::spare;
use crate::migration;
use crate::propagation;
use redis_module::{raw, Context, ContextFlags};
use std::ffi::{c_int, c_void};

/// Valkey 9's atomic slot migration event and its subevents (valkeymodule.h): this node started,
/// aborted or completed exporting slots.
const VALKEY_EVENT_ATOMIC_SLOT_MIGRATION: u64 = 19;
const VALKEY_SUBEVENT_EXPORT_STARTED: u64 = 1;
const VALKEY_SUBEVENT_EXPORT_ABORTED: u64 = 3;
const VALKEY_SUBEVENT_EXPORT_COMPLETED: u64 = 5;

/// Subscribes to the events, then reads the replication state once. Called from `OnLoad`;
/// `slot_migrations`: the server migrates slots atomically (Valkey 9+), whose event is followed
/// too. If a subscription fails, the replication cache stays "a stream may exist" (every write
/// replicates its time) and a kept buffer is still reused, just freed later; if the slot-migration
/// one fails, the module refuses to load (it declared that it handles migrations).
pub fn subscribe(ctx: &Context, slot_migrations: bool) -> bool {
    let events: [(u64, raw::RedisModuleEventCallback); 4] = [
        (raw::REDISMODULE_EVENT_FORK_CHILD, Some(on_fork)),
        (raw::REDISMODULE_EVENT_CRON_LOOP, Some(on_cron)),
        (
            raw::REDISMODULE_EVENT_REPLICATION_ROLE_CHANGED,
            Some(on_replication_change),
        ),
        (
            raw::REDISMODULE_EVENT_REPLICA_CHANGE,
            Some(on_replication_change),
        ),
    ];
    // SAFETY: reading the API table Redis filled in when the module loaded.
    let Some(subscribe) = (unsafe { raw::RedisModule_SubscribeToServerEvent }) else {
        return !slot_migrations;
    };
    if slot_migrations {
        let event = raw::RedisModuleEvent {
            id: VALKEY_EVENT_ATOMIC_SLOT_MIGRATION,
            dataver: 1,
        };
        // SAFETY: as below.
        if unsafe { subscribe(ctx.ctx, event, Some(on_slot_migration)) }
            != raw::REDISMODULE_OK as c_int
        {
            ctx.log_warning("ndarray: cannot follow slot migrations");
            return false;
        }
    }
    let mut all = true;
    for (id, callback) in events {
        let event = raw::RedisModuleEvent { id, dataver: 1 };
        // SAFETY: the module context of OnLoad and a callback that lives as long as the module.
        all &= unsafe { subscribe(ctx.ctx, event, callback) } == raw::REDISMODULE_OK as c_int;
    }
    if all {
        propagation::refresh(ctx);
    } else {
        ctx.log_warning("ndarray: cannot follow server events; every write replicates its time");
    }
    true
}

extern "C" fn on_slot_migration(
    _ctx: *mut raw::RedisModuleCtx,
    _event: raw::RedisModuleEvent,
    subevent: u64,
    _data: *mut c_void,
) {
    match subevent {
        VALKEY_SUBEVENT_EXPORT_STARTED => migration::export_started(),
        VALKEY_SUBEVENT_EXPORT_ABORTED | VALKEY_SUBEVENT_EXPORT_COMPLETED => {
            migration::export_ended()
        }
        _ => {}
    }
}

extern "C" fn on_fork(
    _ctx: *mut raw::RedisModuleCtx,
    _event: raw::RedisModuleEvent,
    subevent: u64,
    _data: *mut c_void,
) {
    if subevent == raw::REDISMODULE_SUBEVENT_FORK_CHILD_BORN {
        propagation::forked();
    }
}

extern "C" fn on_cron(
    ctx: *mut raw::RedisModuleCtx,
    _event: raw::RedisModuleEvent,
    _subevent: u64,
    _data: *mut c_void,
) {
    // Server events run on the main thread with a live context.
    let ctx = Context::new(ctx);
    propagation::refresh(&ctx);
    // With maxmemory set, memory no key owns is not kept (it would cause OOM or evictions).
    spare::keep_buffers(!ctx.get_flags().contains(ContextFlags::MAXMEMORY));
    spare::release_idle();
    crate::commands::scratch::release_idle();
}

extern "C" fn on_replication_change(
    ctx: *mut raw::RedisModuleCtx,
    event: raw::RedisModuleEvent,
    _subevent: u64,
    _data: *mut c_void,
) {
    if event.id == raw::REDISMODULE_EVENT_REPLICATION_ROLE_CHANGED {
        admission::role_changed();
    }
    propagation::refresh(&Context::new(ctx));
}
