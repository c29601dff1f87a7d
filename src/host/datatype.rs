//! The NDARRAY Redis data type: its callbacks (RDB, AOF, free, copy, memory, digest) and the one
//! place where raw value pointers are cast to and from `NdArray`.

use crate::array::heap::Allocation;
use crate::array::{ArrayError, ArrayResult, NdArray};
use crate::error::{Error, Result};
use crate::persist::{self, RdbRead, RdbWrite, ENCODING_VERSION};
use redis_module::native_types::RedisType;
use redis_module::{raw, Context, RedisString};
use std::ffi::{c_char, c_int, c_void, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Redis requires exactly 9 characters; `TYPE key` shows this name. Never change it: RDB files
/// identify values by it.
pub const TYPE_NAME: &str = "ndarray01";

pub static NDARRAY_TYPE: RedisType = RedisType::new(
    TYPE_NAME,
    ENCODING_VERSION,
    raw::RedisModuleTypeMethods {
        version: raw::REDISMODULE_TYPE_METHOD_VERSION as u64,
        rdb_load: Some(rdb_load),
        rdb_save: Some(rdb_save),
        aof_rewrite: Some(aof_rewrite),
        free: Some(free),
        mem_usage: Some(mem_usage),
        digest: Some(digest),
        aux_load: None,
        aux_save: None,
        aux_save2: None,
        aux_save_triggers: 0,
        free_effort: Some(free_effort),
        unlink: None,
        copy: Some(copy),
        defrag: None,
        copy2: None,
        free_effort2: None,
        mem_usage2: None,
        unlink2: None,
    },
);

// ---- the raw pointer casts, and nowhere else ----

fn into_raw(array: NdArray) -> *mut c_void {
    Box::into_raw(Box::new(array)).cast()
}

/// # Safety
/// `value` is null or was produced by [`into_raw`] and not yet freed.
unsafe fn borrow_raw<'a>(value: *const c_void) -> Option<&'a NdArray> {
    // SAFETY: by the contract above, a non-null pointer points to a live NdArray.
    unsafe { value.cast::<NdArray>().as_ref() }
}

/// # Safety
/// As [`borrow_raw`], and no other reference to the value is live.
unsafe fn borrow_raw_mut<'a>(value: *mut c_void) -> Option<&'a mut NdArray> {
    // SAFETY: by the contract above.
    unsafe { value.cast::<NdArray>().as_mut() }
}

// ---- key access used by the commands ----

/// A key opened through the module API, closed on drop. Reads and writes of NDARRAY values go
/// through here so that the type checks and pointer casts stay in this file.
pub struct Key {
    inner: *mut raw::RedisModuleKey,
}

impl Key {
    /// Opens `name` for reading, or for reading and writing.
    pub fn open(ctx: &Context, name: &RedisString, write: bool) -> Key {
        let mode = if write {
            raw::KeyMode::READ | raw::KeyMode::WRITE
        } else {
            raw::KeyMode::READ
        };
        // SAFETY: ctx and name are live for the command; OpenKey returns NULL for a missing key
        // opened read-only, which every method below handles.
        let inner = unsafe {
            match raw::RedisModule_OpenKey {
                Some(open) => open(ctx.ctx, name.inner, mode.bits()).cast::<raw::RedisModuleKey>(),
                None => std::ptr::null_mut(),
            }
        };
        Key { inner }
    }

    fn key_type(&self) -> c_int {
        if self.inner.is_null() {
            return raw::REDISMODULE_KEYTYPE_EMPTY as c_int;
        }
        // SAFETY: an open key.
        unsafe { raw::RedisModule_KeyType.map_or(0, |f| f(self.inner)) }
    }

    pub fn exists(&self) -> bool {
        self.key_type() != raw::REDISMODULE_KEYTYPE_EMPTY as c_int
    }

    /// The value pointer if the key holds an NDARRAY; `WRONGTYPE` if it holds anything else.
    fn value_ptr(&self) -> Result<Option<*mut c_void>> {
        match self.key_type() {
            t if t == raw::REDISMODULE_KEYTYPE_EMPTY as c_int => Ok(None),
            t if t == raw::REDISMODULE_KEYTYPE_MODULE as c_int => {
                // SAFETY: an open key holding a module value.
                let (ty, value) = unsafe {
                    (
                        raw::RedisModule_ModuleTypeGetType
                            .map_or(std::ptr::null_mut(), |f| f(self.inner)),
                        raw::RedisModule_ModuleTypeGetValue
                            .map_or(std::ptr::null_mut(), |f| f(self.inner)),
                    )
                };
                if ty == *NDARRAY_TYPE.raw_type.borrow() && !value.is_null() {
                    Ok(Some(value))
                } else {
                    Err(Error::WrongType)
                }
            }
            _ => Err(Error::WrongType),
        }
    }

    /// The array under the key: `None` when missing, `WRONGTYPE` when another type.
    pub fn array(&self) -> Result<Option<&NdArray>> {
        // SAFETY: the pointer is our value (checked by type), alive while the key is open.
        Ok(self.value_ptr()?.and_then(|p| unsafe { borrow_raw(p) }))
    }

    /// The array, mutable in place (the key's TTL is kept). Needs a key opened for writing.
    pub fn array_mut(&mut self) -> Result<Option<&mut NdArray>> {
        // SAFETY: as `array`; `&mut self` makes this the only reference handed out.
        Ok(self.value_ptr()?.and_then(|p| unsafe { borrow_raw_mut(p) }))
    }

    /// Stores `array`, replacing a value of any type and, as `SET` does, its TTL.
    pub fn set_array(&self, array: NdArray) -> Result<()> {
        let value = into_raw(array);
        // SAFETY: a key opened for writing; the type was created in OnLoad. On success Redis owns
        // `value` and frees it through `free`.
        let status = unsafe {
            match raw::RedisModule_ModuleTypeSetValue {
                Some(set) if !self.inner.is_null() => {
                    set(self.inner, *NDARRAY_TYPE.raw_type.borrow(), value)
                }
                _ => raw::REDISMODULE_ERR as c_int,
            }
        };
        if status == raw::REDISMODULE_OK as c_int {
            Ok(())
        } else {
            // SAFETY: Redis did not take the value, so it is still ours to free.
            unsafe { free(value) };
            Err(Error::Redis(
                "could not store the value (is the key open for writing?)".into(),
            ))
        }
    }

    /// Stores `array` as [`Key::set_array`] does (the key's TTL is cleared), but when the key already
    /// holds an array, hands the old one back instead of freeing it: a worker installing under
    /// Redis' lock frees it after releasing the lock.
    pub fn replace_array(&self, array: NdArray) -> Result<Option<NdArray>> {
        let (Ok(Some(value)), Some(set_expire)) =
            (self.value_ptr(), unsafe { raw::RedisModule_SetExpire })
        else {
            self.set_array(array)?;
            return Ok(None);
        };
        // The new array takes the old one's place in the value Redis holds (no allocation for it,
        // no free of the old box: both showed in every small SET's profile). Redis sees the same
        // value pointer, as after any in-place write; closing the key signals the change.
        // SAFETY: our value (checked by type), alive while the key is open, and this `&self`'s
        // only reference into it.
        let Some(slot) = (unsafe { borrow_raw_mut(value) }) else {
            self.set_array(array)?;
            return Ok(None);
        };
        let old = std::mem::replace(slot, array);
        // SAFETY: an open, writable key; SET replaces the TTL with the new value (the caller sets a
        // new one). Asked first: clearing a TTL the key does not have costs a hash of its name.
        unsafe {
            let has_ttl = raw::RedisModule_GetExpire
                .is_none_or(|get| get(self.inner) != raw::REDISMODULE_NO_EXPIRE as i64);
            if has_ttl {
                set_expire(self.inner, raw::REDISMODULE_NO_EXPIRE as i64);
            }
        }
        Ok(Some(old))
    }

    /// Deletes the key (a write expiring in the past, as `SET … PXAT <past>`, deletes at once).
    pub fn delete(&self) {
        if self.exists() {
            // SAFETY: an open, non-empty key (no module API call is made on an empty key).
            unsafe {
                if let Some(delete) = raw::RedisModule_DeleteKey {
                    delete(self.inner);
                }
            }
        }
    }

    /// Remaining time to live in milliseconds, `None` without one.
    pub fn ttl_ms(&self) -> Option<i64> {
        // Never ask an empty key: Redis 8.2.3 dereferences the missing value inside
        // RM_GetExpire and crashes (7.0, 7.4 and Valkey answer "no expiry").
        if !self.exists() {
            return None;
        }
        // SAFETY: an open key holding a value.
        let ttl = unsafe { raw::RedisModule_GetExpire.map_or(-1, |f| f(self.inner)) };
        (ttl >= 0).then_some(ttl)
    }

    /// Sets the time to live in milliseconds (positive: callers delete keys whose time is past).
    pub fn set_ttl_ms(&self, ms: i64) -> Result<()> {
        if !self.exists() {
            return Err(Error::Redis(
                "cannot set the expiry of a missing key".into(),
            ));
        }
        // SAFETY: an open, writable, non-empty key (checked above).
        let status = unsafe {
            raw::RedisModule_SetExpire
                .map_or(raw::REDISMODULE_ERR as c_int, |f| f(self.inner, ms.max(0)))
        };
        if status == raw::REDISMODULE_OK as c_int {
            Ok(())
        } else {
            Err(Error::Redis("could not set the key's expiry".into()))
        }
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        if !self.inner.is_null() {
            // SAFETY: opened by `open`, closed once.
            unsafe {
                if let Some(close) = raw::RedisModule_CloseKey {
                    close(self.inner);
                }
            }
        }
    }
}

// ---- RDB I/O adapters ----

struct RdbIo(*mut raw::RedisModuleIO);

impl RdbWrite for RdbIo {
    fn put_u64(&mut self, v: u64) {
        raw::save_unsigned(self.0, v);
    }
    fn put_bytes(&mut self, b: &[u8]) {
        raw::save_slice(self.0, b);
    }
}

impl RdbRead for RdbIo {
    fn get_u64(&mut self) -> ArrayResult<u64> {
        raw::load_unsigned(self.0).map_err(|_| ArrayError::corrupt("short read"))
    }
    fn get_bytes(&mut self) -> ArrayResult<Vec<u8>> {
        let buf = raw::load_string_buffer(self.0).map_err(|_| ArrayError::corrupt("short read"))?;
        Ok(buf.as_ref().to_vec())
    }
}

fn log_io_error(rdb: *mut raw::RedisModuleIO, message: &str) {
    let text = CString::new(message.replace('\0', " ")).unwrap_or_default();
    // SAFETY: `rdb` is the live IO handle Redis passed to the callback; "%s" consumes one C string.
    unsafe {
        if let Some(log) = raw::RedisModule_LogIOError {
            log(
                rdb,
                c"warning".as_ptr(),
                c"NDARRAY: %s".as_ptr(),
                text.as_ptr(),
            );
        }
    }
}

// ---- callbacks: every one guards against panics, which would abort redis-server ----

unsafe extern "C" fn rdb_load(rdb: *mut raw::RedisModuleIO, encver: c_int) -> *mut c_void {
    let loaded = catch_unwind(AssertUnwindSafe(|| persist::load(&mut RdbIo(rdb), encver)));
    match loaded {
        Ok(Ok(array)) => into_raw(array),
        Ok(Err(e)) => {
            log_io_error(rdb, &format!("cannot load value: {e}"));
            std::ptr::null_mut()
        }
        Err(_) => {
            log_io_error(rdb, "internal error while loading a value");
            std::ptr::null_mut()
        }
    }
}

unsafe extern "C" fn rdb_save(rdb: *mut raw::RedisModuleIO, value: *mut c_void) {
    // SAFETY: Redis passes a value this module created.
    if let Some(array) = unsafe { borrow_raw(value) } {
        let _ = catch_unwind(AssertUnwindSafe(|| persist::save(array, &mut RdbIo(rdb))));
    }
}

unsafe extern "C" fn free(value: *mut c_void) {
    if !value.is_null() {
        // SAFETY: Redis frees each value exactly once, and it came from `into_raw`.
        drop(unsafe { Box::from_raw(value.cast::<NdArray>()) });
    }
}

unsafe extern "C" fn copy(
    _from: *mut raw::RedisModuleString,
    _to: *mut raw::RedisModuleString,
    value: *const c_void,
) -> *mut c_void {
    // SAFETY: Redis passes a value this module created.
    match unsafe { borrow_raw(value) } {
        Some(array) => catch_unwind(AssertUnwindSafe(|| into_raw(array.clone())))
            .unwrap_or(std::ptr::null_mut()),
        None => std::ptr::null_mut(),
    }
}

/// The block Redis allocates around every module value (its type and the value's pointer), which
/// no server's MEMORY USAGE counts for a module type. The object header (16 bytes more) is left
/// out too: Redis 7 leaves it out of a module value's MEMORY USAGE while it counts a string's, but
/// Valkey 9 counts it, and a count must not claim memory twice.
const REDIS_WRAPPER_BLOCKS: [usize; 1] = [16];

/// What the allocator holds for the value: each allocation's size class, as Redis counts a
/// string's (the bytes asked for are 3-20% less for small arrays), and Redis' module value block.
unsafe extern "C" fn mem_usage(value: *const c_void) -> usize {
    // SAFETY: Redis passes a value this module created.
    let Some(array) = (unsafe { borrow_raw(value) }) else {
        return 0;
    };
    let own_box = Allocation::at(value, std::mem::size_of::<NdArray>());
    let wrapper = REDIS_WRAPPER_BLOCKS.map(|requested| Allocation {
        start: None,
        requested,
    });
    let mut total = own_box.into_iter().chain(wrapper).map(allocated_size).sum();
    array.allocations(&mut |a| total += allocated_size(a));
    total
}

/// The bytes the allocator holds for `allocation`: its size (Redis' `zmalloc_size`, as used_memory
/// counts it) when we hold its start, else the size of a block allocated for the same request
/// (asked once per request size on this thread: only the `Arc` blocks, of two sizes).
fn allocated_size(allocation: Allocation) -> usize {
    // Only a module that allocates through Redis may ask Redis about its pointers.
    if cfg!(any(test, feature = "system-alloc")) {
        return allocation.requested;
    }
    // SAFETY: reading the API function pointers filled in at load.
    let api = unsafe {
        (
            raw::RedisModule_MallocSize,
            raw::RedisModule_Alloc,
            raw::RedisModule_Free,
        )
    };
    let (Some(size_of), Some(alloc), Some(free)) = api else {
        return allocation.requested;
    };
    if let Some(start) = allocation.start {
        // SAFETY: a live allocation of the module's global allocator (RedisModule_Alloc) that
        // starts at `start`, owned by the value Redis passed.
        return unsafe { size_of(start.cast_mut().cast()) };
    }
    thread_local! {
        static BY_REQUEST: std::cell::RefCell<Vec<(usize, usize)>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BY_REQUEST.with_borrow_mut(|known| {
        if let Some(&(_, size)) = known
            .iter()
            .find(|(request, _)| *request == allocation.requested)
        {
            return size;
        }
        // SAFETY: a fresh block from Redis' allocator, sized and freed at once.
        let size = unsafe {
            let block = alloc(allocation.requested);
            let size = size_of(block);
            free(block);
            size
        };
        known.push((allocation.requested, size));
        size
    })
}

unsafe extern "C" fn free_effort(_key: *mut raw::RedisModuleString, value: *const c_void) -> usize {
    // One allocation per chunk: Redis frees values with more than a few in the background (UNLINK,
    // lazyfree) instead of blocking.
    // SAFETY: Redis passes a value this module created.
    unsafe { borrow_raw(value) }.map_or(1, |a| a.store().chunk_count() + 1)
}

/// Pieces the digest hashes: a fixed size, so the digest depends only on dtype, shape, elements
/// and attributes, not on chunking or compression. `updated_at` is left out: it is when the value
/// was written, not what it holds (two keys written alike digest alike).
const DIGEST_PIECE_BYTES: usize = 64 * 1024;

unsafe extern "C" fn digest(md: *mut raw::RedisModuleDigest, value: *mut c_void) {
    // SAFETY: Redis passes a value this module created.
    let Some(array) = (unsafe { borrow_raw(value) }) else {
        return;
    };
    let add = |bytes: &[u8]| {
        // SAFETY: `md` is live for the callback; the buffer outlives the call.
        unsafe {
            if let Some(f) = raw::RedisModule_DigestAddStringBuffer {
                f(md, bytes.as_ptr().cast::<c_char>(), bytes.len());
            }
        }
    };
    let _ = catch_unwind(AssertUnwindSafe(|| {
        add(array.dtype().name().as_bytes());
        add(array.shape().to_string().as_bytes());
        let _ = array.for_each_raw_piece(DIGEST_PIECE_BYTES, |piece| {
            add(piece);
            Ok(())
        });
        if !array.attrs().is_empty() {
            add(b"attrs");
            for (field, value) in array.attrs().iter() {
                add(field);
                add(value);
            }
        }
    }));
    // SAFETY: as above.
    unsafe {
        if let Some(end) = raw::RedisModule_DigestEndSequence {
            end(md);
        }
    }
}

/// Largest argument the AOF rewrite emits: 1 MiB, the smallest `proto-max-bulk-len` Redis allows,
/// so any server and client can replay the file.
pub const AOF_PIECE_BYTES: usize = 1 << 20;

unsafe extern "C" fn aof_rewrite(
    aof: *mut raw::RedisModuleIO,
    key: *mut raw::RedisModuleString,
    value: *mut c_void,
) {
    // SAFETY: Redis passes a value this module created.
    let Some(array) = (unsafe { borrow_raw(value) }) else {
        return;
    };
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let result = crate::aof::rewrite(array, AOF_PIECE_BYTES, |command| {
            emit_aof(aof, key, command)
        });
        if let Err(e) = result {
            log_io_error(aof, &format!("cannot rewrite value: {e}"));
        }
    }));
}

/// Emits one command (`args[0]` is the command name, the key is inserted as its first argument).
fn emit_aof(aof: *mut raw::RedisModuleIO, key: *mut raw::RedisModuleString, args: &[Vec<u8>]) {
    let Some((name, rest)) = args.split_first() else {
        return;
    };
    let Ok(name) = CString::new(name.clone()) else {
        return;
    };
    // SAFETY: strings are created with a null context and freed by us below. The key Redis hands
    // the callback lives on its stack (a static refcount that Redis may not retain), so we pass a
    // copy. Format "v" takes (RedisModuleString **, size_t).
    unsafe {
        let (Some(create), Some(copy), Some(free_string), Some(emit)) = (
            raw::RedisModule_CreateString,
            raw::RedisModule_CreateStringFromString,
            raw::RedisModule_FreeString,
            raw::RedisModule_EmitAOF,
        ) else {
            return;
        };
        let mut argv: Vec<*mut raw::RedisModuleString> = Vec::with_capacity(rest.len() + 1);
        argv.push(copy(std::ptr::null_mut(), key));
        for a in rest {
            argv.push(create(
                std::ptr::null_mut(),
                a.as_ptr().cast::<c_char>(),
                a.len(),
            ));
        }
        emit(
            aof,
            name.as_ptr(),
            c"v".as_ptr(),
            argv.as_mut_ptr(),
            argv.len(),
        );
        for s in argv {
            free_string(std::ptr::null_mut(), s);
        }
    }
}
