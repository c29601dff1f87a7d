//! Calls into the server that are neither replies nor blocking: its clock, keyspace events,
//! replication of commands the module writes itself, `INFO` fields, and the module's settings.

use redis_module::{raw, Context, NotifyEvent, RedisString, RedisValue, Status};
use std::ffi::{c_int, c_longlong, CStr};

/// The server's clock in Unix milliseconds (the cached time inside a command, as Redis' own
/// commands see it).
pub fn now_ms() -> i64 {
    // SAFETY: a plain call into the module API, which any thread may make.
    unsafe { raw::RedisModule_Milliseconds.map_or(0, |f| f()) }
}

/// Fires the keyspace event `event` (class `d`, module) for `key`. A static C string: the crate's
/// `notify_keyspace_event` allocates a `CString` for the event name on every write.
pub fn notify(ctx: &Context, event: &CStr, key: &RedisString) {
    // SAFETY: a live command context, a static NUL-terminated event name and a key name that
    // outlives the call (Redis copies what it keeps).
    unsafe {
        if let Some(notify) = raw::RedisModule_NotifyKeyspaceEvent {
            notify(
                ctx.ctx,
                NotifyEvent::MODULE.bits(),
                event.as_ptr(),
                key.inner,
            );
        }
    }
}

/// Replicates `command key number`, with the key string itself (Redis retains it): the crate's
/// `replicate` copies every argument, which was a large share of a small SET's cost.
pub fn replicate_key_and_number(ctx: &Context, command: &CStr, key: &RedisString, number: i64) {
    // SAFETY: a live context (main thread or locked); "sl" takes a string Redis retains and a
    // long long.
    unsafe {
        if let Some(replicate) = raw::RedisModule_Replicate {
            replicate(
                ctx.ctx,
                command.as_ptr(),
                c"sl".as_ptr(),
                key.inner,
                c_longlong::from(number),
            );
        }
    }
}

/// Replicates `command key word string`, the strings themselves (Redis retains them, no copy);
/// `string` is one of `held.rs`' strings.
pub(super) fn replicate_key_word_raw(
    ctx: &Context,
    command: &CStr,
    key: &RedisString,
    word: &CStr,
    string: *mut raw::RedisModuleString,
) {
    // SAFETY: a live context holding the lock; "scs" takes a key string, a C string and a
    // string, which Redis retains for as long as it needs them.
    unsafe {
        if let Some(replicate) = raw::RedisModule_Replicate {
            replicate(
                ctx.ctx,
                command.as_ptr(),
                c"scs".as_ptr(),
                key.inner,
                word.as_ptr(),
                string,
            );
        }
    }
}

/// Replicates `command args…`, the strings themselves (each retained by Redis).
pub fn replicate_strings(ctx: &Context, command: &CStr, args: &[&RedisString]) {
    let mut argv: Vec<*mut raw::RedisModuleString> = args.iter().map(|a| a.inner).collect();
    // SAFETY: as above; "v" takes an array of strings and its length.
    unsafe {
        if let Some(replicate) = raw::RedisModule_Replicate {
            replicate(
                ctx.ctx,
                command.as_ptr(),
                c"v".as_ptr(),
                argv.as_mut_ptr(),
                argv.len(),
            );
        }
    }
}

/// Unsigned `fields` of `INFO section`, read through the module API (no reply to parse); `None`
/// when the server cannot tell, or a field is missing.
pub fn info_unsigned<const N: usize>(
    ctx: &Context,
    section: &CStr,
    fields: [&CStr; N],
) -> Option<[u64; N]> {
    // SAFETY: a live context on the main thread or holding the lock; the info data is freed below.
    unsafe {
        let (Some(get), Some(field), Some(free)) = (
            raw::RedisModule_GetServerInfo,
            raw::RedisModule_ServerInfoGetFieldUnsigned,
            raw::RedisModule_FreeServerInfo,
        ) else {
            return None;
        };
        let info = get(ctx.ctx, section.as_ptr());
        if info.is_null() {
            return None;
        }
        let mut values = [0u64; N];
        let mut missing = false;
        for (value, name) in values.iter_mut().zip(fields) {
            let mut err: c_int = 0;
            *value = field(info, name.as_ptr(), &mut err);
            missing |= err != 0;
        }
        free(ctx.ctx, info);
        (!missing).then_some(values)
    }
}

/// Applies the `ndarray.*` settings given in the configuration file or the load arguments, once
/// every setting is registered. Succeeds on a server without the call (nothing to apply).
pub fn load_configs(ctx: &Context) -> Status {
    // SAFETY: called from OnLoad with the module context, as the API requires.
    match unsafe { raw::RedisModule_LoadConfigs } {
        Some(load) if unsafe { load(ctx.ctx) } != raw::REDISMODULE_OK as c_int => Status::Err,
        _ => Status::Ok,
    }
}

/// Valkey's module option declaring that the module handles atomic slot migration (`CLUSTER
/// MIGRATESLOTS`, valkey#2593): without it Valkey 9 refuses to migrate any slot while the module
/// is loaded. No Redis defines it (the bit may come to mean something else there), so it is set
/// only on Valkey 9 or later.
const VALKEY_HANDLE_ATOMIC_SLOT_MIGRATION: c_int = 1 << 5;

/// Sets the module's options: short reads while loading are errors we report (a truncated
/// RESTORE payload), and, on Valkey 9+, atomic slot migration is handled. Returns whether it is
/// (then the slot-migration event must be followed: `server_events.rs`).
pub fn set_module_options(ctx: &Context) -> bool {
    let mut options = raw::REDISMODULE_OPTIONS_HANDLE_IO_ERRORS as c_int;
    let migrations = valkey_major(ctx).is_some_and(|major| major >= 9);
    if migrations {
        options |= VALKEY_HANDLE_ATOMIC_SLOT_MIGRATION;
    }
    // SAFETY: called from OnLoad with the module context.
    if let Some(set) = unsafe { raw::RedisModule_SetModuleOptions } {
        unsafe { set(ctx.ctx, options) };
    }
    migrations
}

/// The major version of a Valkey server (`server_name:valkey` in `INFO server`), None on Redis.
fn valkey_major(ctx: &Context) -> Option<u32> {
    let info = call_text(ctx, "INFO", &["server"])?;
    let field = |name: &str| {
        info.lines()
            .find_map(|line| line.strip_prefix(name))
            .map(str::trim)
    };
    if field("server_name:") != Some("valkey") {
        return None;
    }
    field("valkey_version:")?.split('.').next()?.parse().ok()
}

/// The text of a command's reply (INFO, CLUSTER NODES), whichever string form it came in.
pub fn call_text(ctx: &Context, command: &str, args: &[&str]) -> Option<String> {
    match ctx.call(command, args).ok()? {
        RedisValue::SimpleString(s) | RedisValue::BulkString(s) => Some(s),
        RedisValue::StringBuffer(b) => String::from_utf8(b).ok(),
        RedisValue::BulkRedisString(s) => s.try_as_str().ok().map(str::to_string),
        _ => None,
    }
}
