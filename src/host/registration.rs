//! Registers every command of `commands::table::COMMANDS` with Redis: the command itself (with the
//! legacy first/last/step key positions, which Redis 7.0's cluster routing uses), then through
//! `RedisModule_SetCommandInfo` (7.0+) its arity, key spec and docs, so that `COMMAND DOCS`,
//! `COMMAND GETKEYS`, redis-cli's hints and ACL read/write selectors work, then its ACL categories
//! where the API exists (Redis 7.2+, Valkey). The raw FFI for commands lives here and nowhere else.

use crate::commands::args::{Arg, ArgKind};
use crate::commands::guard;
use crate::commands::table::{
    is_internal_at, key_positions, Access, CommandSpec, KeyLayout, COMMANDS, INTERNAL,
};
use redis_module::{raw, Context, ContextFlags, RedisError, RedisResult, RedisString, Status};
use std::ffi::{c_char, c_int, CString};

type CommandFn = unsafe extern "C" fn(
    *mut raw::RedisModuleCtx,
    *mut *mut raw::RedisModuleString,
    c_int,
) -> c_int;

/// Redis calls back without user data, so each table row gets its own entry point, `dispatch::<I>`.
extern "C" fn dispatch<const I: usize>(
    ctx: *mut raw::RedisModuleCtx,
    argv: *mut *mut raw::RedisModuleString,
    argc: c_int,
) -> c_int {
    if let Some(spec) = COMMANDS.get(I) {
        if spec.keys.layout.asks_the_command() && is_keys_position_request(ctx) {
            answer_key_positions(ctx, argv, argc, spec);
            return raw::REDISMODULE_OK as c_int;
        }
    }
    let context = Context::new(ctx);
    let args = BorrowedArgs::new(argv, argc);
    let result = match COMMANDS.get(I) {
        Some(spec) if const { is_internal_at(I) } => run_internal(&context, args.as_slice(), spec),
        Some(spec) => guard(&context, args.as_slice(), spec.handler),
        None => Err(redis_module::RedisError::Str("ERR unknown ndarray command")),
    };
    context.reply(result) as c_int
}

/// An internal command runs only when it comes from the replication link or AOF loading; from
/// them, a refusal is logged (a replica refusing its primary's write, or an AOF line skipped, is
/// something an operator must see: Redis discards those replies).
fn run_internal(ctx: &Context, args: &[RedisString], spec: &CommandSpec) -> RedisResult {
    let trusted = ContextFlags::REPLICATED | ContextFlags::LOADING;
    if !ctx.get_flags().intersects(trusted) {
        return Err(RedisError::String(format!(
            "ERR {} is internal: only a primary's replication stream and AOF loading may send it",
            spec.name.to_uppercase()
        )));
    }
    let result = guard(ctx, args, spec.handler);
    if let Err(e) = &result {
        ctx.log_warning(&format!(
            "ndarray: {} from the replication link or the AOF was refused: {e}",
            spec.name.to_uppercase()
        ));
    }
    result
}

fn is_keys_position_request(ctx: *mut raw::RedisModuleCtx) -> bool {
    // SAFETY: a live command context.
    unsafe { raw::RedisModule_IsKeysPositionRequest.is_some_and(|f| f(ctx) != 0) }
}

/// Answers Redis' question "where are the keys?" for a command whose keys no range can say
/// (`getkeys-api`): cluster routing and CROSSSLOT on Redis 7.0, ACL key patterns and
/// `COMMAND GETKEYS`. `table::key_positions` finds them.
fn answer_key_positions(
    ctx: *mut raw::RedisModuleCtx,
    argv: *mut *mut raw::RedisModuleString,
    argc: c_int,
    spec: &CommandSpec,
) {
    let borrowed = BorrowedArgs::new(argv, argc);
    let args: Vec<&[u8]> = borrowed.as_slice().iter().map(|a| a.as_slice()).collect();
    let flags = key_flags(spec.keys.access);
    // SAFETY: reading API function pointers filled in at load; `ctx` is a key-position request.
    let (with_flags, plain) = unsafe {
        (
            raw::RedisModule_KeyAtPosWithFlags,
            raw::RedisModule_KeyAtPos,
        )
    };
    for pos in key_positions(spec.keys, &args) {
        let Ok(pos) = c_int::try_from(pos) else {
            break;
        };
        // SAFETY: a key-position request context and an argument index below argc.
        unsafe {
            match (with_flags, plain) {
                (Some(f), _) => f(ctx, pos, flags as c_int),
                (None, Some(f)) => f(ctx, pos),
                (None, None) => {}
            }
        }
    }
}

/// Arguments up to this count are borrowed on the stack (every small command): the list's own
/// allocation and free showed in every small GET's profile.
const INLINE_ARGS: usize = 8;

/// The command's arguments as `RedisString`s that borrow Redis' argv for the call, without the
/// retain and release per argument of `redis_module::decode_args`. Redis keeps argv alive until
/// the command returns; a worker that needs an argument longer retains it itself
/// (`offload::HeldStrings`). The strings are never dropped (that would release them).
struct BorrowedArgs {
    inline: [std::mem::MaybeUninit<RedisString>; INLINE_ARGS],
    /// More than `INLINE_ARGS` arguments; emptied without dropping its strings.
    spilled: Vec<RedisString>,
    len: usize,
}

impl BorrowedArgs {
    fn new(argv: *mut *mut raw::RedisModuleString, argc: c_int) -> Self {
        let mut args = BorrowedArgs {
            inline: [const { std::mem::MaybeUninit::uninit() }; INLINE_ARGS],
            spilled: Vec::new(),
            len: 0,
        };
        let count = usize::try_from(argc).unwrap_or(0);
        if argv.is_null() || count == 0 {
            return args;
        }
        // SAFETY: Redis passes `argc` valid string pointers in `argv` for the call.
        let strings = unsafe { std::slice::from_raw_parts(argv, count) };
        let borrow = |s: *mut raw::RedisModuleString| {
            RedisString::from_redis_module_string(std::ptr::null_mut(), s)
        };
        if count <= INLINE_ARGS {
            for (slot, &s) in args.inline.iter_mut().zip(strings) {
                slot.write(borrow(s));
            }
        } else {
            args.spilled = strings.iter().map(|&s| borrow(s)).collect();
        }
        args.len = count;
        args
    }

    fn as_slice(&self) -> &[RedisString] {
        if self.len > INLINE_ARGS {
            return &self.spilled;
        }
        // SAFETY: the first `len` (at most INLINE_ARGS) slots were initialised in `new`;
        // `MaybeUninit<T>` has `T`'s layout.
        unsafe { std::slice::from_raw_parts(self.inline.as_ptr().cast::<RedisString>(), self.len) }
    }
}

impl Drop for BorrowedArgs {
    fn drop(&mut self) {
        // SAFETY: the strings were never retained: forget them without the release their drop
        // would do (the inline ones are `MaybeUninit`, never dropped). Only the list is freed.
        unsafe { self.spilled.set_len(0) };
    }
}

/// One entry point per row of `COMMANDS`, in the same order (checked at compile time).
static DISPATCH: [CommandFn; 19] = [
    dispatch::<0>,
    dispatch::<1>,
    dispatch::<2>,
    dispatch::<3>,
    dispatch::<4>,
    dispatch::<5>,
    dispatch::<6>,
    dispatch::<7>,
    dispatch::<8>,
    dispatch::<9>,
    dispatch::<10>,
    dispatch::<11>,
    dispatch::<12>,
    dispatch::<13>,
    dispatch::<14>,
    dispatch::<15>,
    dispatch::<16>,
    dispatch::<17>,
    dispatch::<18>,
];
const _: () = assert!(DISPATCH.len() == COMMANDS.len());

/// Registers every command; `Status::Err` (the module refuses to load) if Redis refuses one.
pub fn register_commands(ctx: &Context) -> Status {
    for (spec, entry) in COMMANDS.iter().zip(DISPATCH) {
        if let Err(why) = register(ctx, spec, entry) {
            ctx.log_warning(&format!("ndarray: cannot register {}: {why}", spec.name));
            return Status::Err;
        }
    }
    Status::Ok
}

fn register(ctx: &Context, spec: &CommandSpec, entry: CommandFn) -> Result<(), &'static str> {
    let mut c = CStrings::default();
    let name = c.get(spec.name);
    // Legacy key positions: first key 1; last absolute (1 for one key) or -1 for "to the end".
    // A command whose keys no range says has none (0, 0, 0) and answers key-position requests.
    let (first_key, last_key, step) = if spec.keys.layout.asks_the_command() {
        (0, 0, 0)
    } else if spec.keys.last < 0 {
        (1, spec.keys.last, spec.keys.step)
    } else {
        (1, 1 + spec.keys.last, spec.keys.step)
    };
    let flags = if spec.keys.layout.asks_the_command() {
        format!("{} getkeys-api", spec.flags)
    } else {
        spec.flags.to_string()
    };
    // SAFETY: reading a function pointer the module API filled in at load.
    let create = unsafe { raw::RedisModule_CreateCommand }.ok_or("no CreateCommand API")?;
    let mut create_with = |flags: &str| {
        // SAFETY: called from OnLoad with the module context; Redis copies the name and flags.
        let status = unsafe {
            create(
                ctx.ctx,
                name,
                Some(entry),
                c.get(flags),
                first_key,
                last_key,
                step,
            )
        };
        status == raw::REDISMODULE_OK as c_int
    };
    if !create_with(&flags) {
        // Servers before Redis 8 (and Valkey) have no `internal` flag and refuse it: the
        // dispatcher's check (`run_internal`) is then the only fence.
        let without_internal: Vec<&str> = flags
            .split_whitespace()
            .filter(|f| *f != INTERNAL)
            .collect();
        if !spec.is_internal() || !create_with(&without_internal.join(" ")) {
            return Err("Redis refused the command");
        }
    }
    // SAFETY: reading function pointers the module API filled in at load.
    let (get_command, set_info, set_acl) = unsafe {
        (
            raw::RedisModule_GetCommand,
            raw::RedisModule_SetCommandInfo,
            raw::RedisModule_SetCommandACLCategories,
        )
    };
    let (Some(get_command), Some(set_info)) = (get_command, set_info) else {
        ctx.log_warning("ndarray: this server has no command-info API: no docs or key specs");
        return Ok(());
    };
    // SAFETY: the command was created just above.
    let command = unsafe { get_command(ctx.ctx, name) };
    if command.is_null() {
        return Err("the command was not found after creating it");
    }
    let version = raw::RedisModuleCommandInfoVersion {
        version: 1,
        sizeof_historyentry: std::mem::size_of::<raw::RedisModuleCommandHistoryEntry>(),
        sizeof_keyspec: std::mem::size_of::<raw::RedisModuleCommandKeySpec>(),
        sizeof_arg: std::mem::size_of::<raw::RedisModuleCommandArg>(),
    };
    let mut key_specs = key_specs(spec);
    // SAFETY: all-zero is the documented "unset" value of this C struct (null pointers, 0).
    let mut info: raw::RedisModuleCommandInfo = unsafe { std::mem::zeroed() };
    info.version = &version;
    info.summary = c.get(spec.summary);
    info.complexity = c.get(spec.complexity);
    info.since = c.get(spec.since);
    info.arity = spec.arity;
    info.key_specs = key_specs.as_mut_ptr();
    info.args = c.args(spec.args);
    // SAFETY: `info` and everything it points to (`version`, `key_specs`, the strings and argument
    // arrays owned by `c`) outlive the call; Redis validates and copies what it keeps.
    if unsafe { set_info(command, &info) } != raw::REDISMODULE_OK as c_int {
        return Err("Redis refused the command info (see the log line before this one)");
    }
    if let Some(set_acl) = set_acl {
        // SAFETY: a registered command and a C string that outlives the call.
        if unsafe { set_acl(command, c.get(spec.acl)) } != raw::REDISMODULE_OK as c_int {
            ctx.log_warning(&format!(
                "ndarray: Redis refused ACL categories for {}",
                spec.name
            ));
        }
    }
    Ok(())
}

fn key_flags(access: Access) -> u32 {
    match access {
        Access::Read => raw::REDISMODULE_CMD_KEY_RO | raw::REDISMODULE_CMD_KEY_ACCESS,
        Access::ReadMeta => raw::REDISMODULE_CMD_KEY_RO,
        Access::Overwrite => raw::REDISMODULE_CMD_KEY_OW | raw::REDISMODULE_CMD_KEY_UPDATE,
        Access::Update => raw::REDISMODULE_CMD_KEY_RW | raw::REDISMODULE_CMD_KEY_UPDATE,
    }
}

/// The command's one key spec and the zeroed terminator.
fn key_specs(spec: &CommandSpec) -> [raw::RedisModuleCommandKeySpec; 2] {
    // SAFETY: all-zero is the documented "unset" value of this C struct.
    let mut specs: [raw::RedisModuleCommandKeySpec; 2] = unsafe { std::mem::zeroed() };
    let [first, _terminator] = &mut specs;
    first.flags = u64::from(key_flags(spec.keys.access));
    first.begin_search_type = raw::RedisModuleKeySpecBeginSearchType_REDISMODULE_KSPEC_BS_INDEX;
    first.bs.index.pos = 1;
    if spec.keys.layout == KeyLayout::AfterNumkeys {
        // `numkeys` at 1, the first key right after it. A KEYNUM spec counts `numkeys` in
        // arguments (its last key is first + numkeys - 1), so MSETEX's pairs (step 2) cannot be
        // said exactly: its spec is marked VARIABLE_FLAGS, which makes servers that read specs
        // ask the command (getkeys-api) instead.
        first.find_keys_type = raw::RedisModuleKeySpecFindKeysType_REDISMODULE_KSPEC_FK_KEYNUM;
        first.fk.keynum = raw::RedisModuleCommandKeySpec__bindgen_ty_2__bindgen_ty_2 {
            keynumidx: 0,
            firstkey: 1,
            keystep: spec.keys.step,
        };
        if spec.keys.step != 1 {
            first.flags |= u64::from(raw::REDISMODULE_CMD_KEY_VARIABLE_FLAGS);
        }
    } else {
        first.find_keys_type = raw::RedisModuleKeySpecFindKeysType_REDISMODULE_KSPEC_FK_RANGE;
        first.fk.range = raw::RedisModuleCommandKeySpec__bindgen_ty_2__bindgen_ty_1 {
            lastkey: spec.keys.last,
            keystep: spec.keys.step,
            limit: 0,
        };
        if spec.keys.layout == KeyLayout::BeforeFormat {
            // "To the last argument" overshoots by a trailing FORMAT option: INCOMPLETE makes
            // servers that read specs ask the command (getkeys-api) instead.
            first.flags |= u64::from(raw::REDISMODULE_CMD_KEY_INCOMPLETE);
        }
    }
    specs
}

/// Owns the C strings and argument arrays handed to Redis until the registration call returns
/// (moving a `CString` or `Vec` into the lists does not move its heap buffer, so pointers stay valid).
#[derive(Default)]
struct CStrings {
    strings: Vec<CString>,
    arrays: Vec<Vec<raw::RedisModuleCommandArg>>,
}

impl CStrings {
    fn get(&mut self, text: &str) -> *const c_char {
        // The table's strings are static text without NUL bytes.
        let owned = CString::new(text).unwrap_or_default();
        let ptr = owned.as_ptr();
        self.strings.push(owned);
        ptr
    }

    /// The argument tree as a zero-terminated C array (recursively for ONEOF and BLOCK).
    fn args(&mut self, args: &[Arg]) -> *mut raw::RedisModuleCommandArg {
        let mut out = Vec::with_capacity(args.len() + 1);
        for a in args {
            // SAFETY: all-zero is the documented "unset" value of this C struct.
            let mut c: raw::RedisModuleCommandArg = unsafe { std::mem::zeroed() };
            c.name = self.get(a.name);
            c.key_spec_index = -1;
            c.type_ = match a.kind {
                ArgKind::Key => {
                    c.key_spec_index = 0;
                    raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_KEY
                }
                ArgKind::String => raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_STRING,
                ArgKind::Integer => raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_INTEGER,
                ArgKind::UnixTime => raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_UNIX_TIME,
                ArgKind::PureToken => {
                    raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_PURE_TOKEN
                }
                ArgKind::OneOf(choices) => {
                    c.subargs = self.args(choices);
                    raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_ONEOF
                }
                ArgKind::Block(parts) => {
                    c.subargs = self.args(parts);
                    raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_BLOCK
                }
            };
            if let Some(word) = a.token {
                c.token = self.get(word);
            }
            let mut flags = raw::REDISMODULE_CMD_ARG_NONE;
            if a.optional {
                flags |= raw::REDISMODULE_CMD_ARG_OPTIONAL;
            }
            if a.multiple {
                flags |= raw::REDISMODULE_CMD_ARG_MULTIPLE;
            }
            if a.multiple_token {
                flags |= raw::REDISMODULE_CMD_ARG_MULTIPLE_TOKEN;
            }
            c.flags = flags as c_int;
            out.push(c);
        }
        // SAFETY: the zeroed terminator (name NULL) ends the array.
        out.push(unsafe { std::mem::zeroed() });
        let ptr = out.as_mut_ptr();
        self.arrays.push(out);
        ptr
    }
}
