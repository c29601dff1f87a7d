//! Command metadata Redis needs beyond the `redis_module!` table: arity, key specs and (Redis 7.2+)
//! ACL categories. Key specs let Redis Cluster route every command and ACL key selectors tell reads
//! from writes: with only the legacy first/last/step positions, a `%R~pattern` user is refused
//! even a read.

use redis_module::{raw, Context, Status};
use std::ffi::{c_int, CStr};

/// How a command touches its keys.
#[derive(Clone, Copy)]
enum Access {
    /// Reads the value and returns data from it.
    Read,
    /// Reads only metadata (INFO).
    ReadMeta,
    /// Replaces the value whatever it held (SET, MSET).
    Overwrite,
    /// Modifies the existing value in place (SETSLICE, APPEND, RESHAPE).
    Update,
}

struct CommandMeta {
    name: &'static CStr,
    /// Redis' convention: N exactly, -N at least N (the command name counts).
    arity: c_int,
    access: Access,
    /// Keys run from argument 1 to `last_key` (relative to the end when negative, as Redis' key
    /// specs define it), every `key_step` arguments.
    last_key: c_int,
    key_step: c_int,
    /// ACL categories, applied where Redis supports them (7.2+).
    acl: &'static CStr,
}

const COMMANDS: [CommandMeta; 10] = [
    CommandMeta {
        name: c"ndarray.set",
        arity: -4,
        access: Access::Overwrite,
        last_key: 0,
        key_step: 1,
        acl: c"write",
    },
    CommandMeta {
        name: c"ndarray.get",
        arity: -2,
        access: Access::Read,
        last_key: 0,
        key_step: 1,
        acl: c"read",
    },
    CommandMeta {
        name: c"ndarray.info",
        arity: 2,
        access: Access::ReadMeta,
        last_key: 0,
        key_step: 1,
        acl: c"read fast",
    },
    CommandMeta {
        name: c"ndarray.slice",
        arity: -3,
        access: Access::Read,
        last_key: 0,
        key_step: 1,
        acl: c"read",
    },
    CommandMeta {
        name: c"ndarray.setslice",
        arity: -5,
        access: Access::Update,
        last_key: 0,
        key_step: 1,
        acl: c"write",
    },
    CommandMeta {
        name: c"ndarray.append",
        arity: -4,
        access: Access::Update,
        last_key: 0,
        key_step: 1,
        acl: c"write",
    },
    CommandMeta {
        name: c"ndarray.reshape",
        arity: -2,
        access: Access::Update,
        last_key: 0,
        key_step: 1,
        acl: c"write fast",
    },
    CommandMeta {
        name: c"ndarray.mget",
        arity: -2,
        access: Access::Read,
        last_key: -1,
        key_step: 1,
        acl: c"read",
    },
    CommandMeta {
        name: c"ndarray.mset",
        arity: -3,
        access: Access::Overwrite,
        last_key: -1,
        key_step: 2,
        acl: c"write",
    },
    CommandMeta {
        name: c"ndarray.stack",
        arity: -2,
        access: Access::Read,
        last_key: -1,
        key_step: 1,
        acl: c"read",
    },
];

fn key_flags(access: Access) -> u64 {
    let flags = match access {
        Access::Read => raw::REDISMODULE_CMD_KEY_RO | raw::REDISMODULE_CMD_KEY_ACCESS,
        Access::ReadMeta => raw::REDISMODULE_CMD_KEY_RO,
        Access::Overwrite => raw::REDISMODULE_CMD_KEY_OW | raw::REDISMODULE_CMD_KEY_UPDATE,
        Access::Update => raw::REDISMODULE_CMD_KEY_RW | raw::REDISMODULE_CMD_KEY_UPDATE,
    };
    u64::from(flags)
}

/// Sets arity and key specs for every command (Redis 7.0+), and ACL categories where the API exists.
pub fn register(ctx: &Context) -> Status {
    // SAFETY: reading function pointers the module API filled in at load.
    let (get_command, set_info, set_acl) = unsafe {
        (
            raw::RedisModule_GetCommand,
            raw::RedisModule_SetCommandInfo,
            raw::RedisModule_SetCommandACLCategories,
        )
    };
    let (Some(get_command), Some(set_info)) = (get_command, set_info) else {
        ctx.log_warning("ndarray: this Redis has no key-spec API; ACL selectors may refuse reads");
        return Status::Ok;
    };
    let version = raw::RedisModuleCommandInfoVersion {
        version: 1,
        sizeof_historyentry: std::mem::size_of::<raw::RedisModuleCommandHistoryEntry>(),
        sizeof_keyspec: std::mem::size_of::<raw::RedisModuleCommandKeySpec>(),
        sizeof_arg: std::mem::size_of::<raw::RedisModuleCommandArg>(),
    };
    for meta in &COMMANDS {
        // SAFETY: the command was registered by `redis_module!` before init runs.
        let command = unsafe { get_command(ctx.ctx, meta.name.as_ptr()) };
        if command.is_null() {
            ctx.log_warning(&format!(
                "ndarray: command {meta:?} not found",
                meta = meta.name
            ));
            return Status::Err;
        }
        // SAFETY: all-zero is the documented "unset" value of these C structs (null pointers, 0).
        let mut specs: [raw::RedisModuleCommandKeySpec; 2] = unsafe { std::mem::zeroed() };
        specs[0].flags = key_flags(meta.access);
        specs[0].begin_search_type =
            raw::RedisModuleKeySpecBeginSearchType_REDISMODULE_KSPEC_BS_INDEX;
        specs[0].bs.index.pos = 1;
        specs[0].find_keys_type = raw::RedisModuleKeySpecFindKeysType_REDISMODULE_KSPEC_FK_RANGE;
        specs[0].fk.range = raw::RedisModuleCommandKeySpec__bindgen_ty_2__bindgen_ty_1 {
            lastkey: meta.last_key,
            keystep: meta.key_step,
            limit: 0,
        };
        // SAFETY: as above.
        let mut info: raw::RedisModuleCommandInfo = unsafe { std::mem::zeroed() };
        info.version = &version;
        info.arity = meta.arity;
        info.key_specs = specs.as_mut_ptr();
        // SAFETY: `info`, `version` and `specs` outlive the call, which copies what it keeps.
        if unsafe { set_info(command, &info) } != raw::REDISMODULE_OK as c_int {
            ctx.log_warning(&format!(
                "ndarray: Redis refused the key specs of {:?}",
                meta.name
            ));
            return Status::Err;
        }
        if let Some(set_acl) = set_acl {
            // SAFETY: a registered command and a static C string.
            if unsafe { set_acl(command, meta.acl.as_ptr()) } != raw::REDISMODULE_OK as c_int {
                ctx.log_warning(&format!(
                    "ndarray: Redis refused ACL categories for {:?}",
                    meta.name
                ));
            }
        }
    }
    Status::Ok
}
