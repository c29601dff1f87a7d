//! Module settings: `--loadmodule … name value` arguments and `CONFIG SET/GET ndarray.<name>`.

use crate::codec::{Compression, Encoding, Shuffle};
use redis_module::configuration::{
    get_enum_default_config_value, get_i64_default_config_value, register_enum_configuration,
    register_i64_configuration, ConfigurationFlags,
};
use redis_module::{enum_configuration, raw, Context, RedisString, Status};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

enum_configuration! {
    /// Codec used when NDARRAY.SET has no COMPRESS. Variant names are the setting's values.
    #[allow(non_camel_case_types)]
    #[derive(Debug, PartialEq, Eq, Copy)]
    pub enum CompressionSetting {
        none = 0,
        lz4 = 1,
        zlib = 2,
    }
}

/// In its own module: each `enum_configuration!` imports the same trait name.
mod shuffle_setting {
    redis_module::enum_configuration! {
        /// Filter used before compressing items wider than one byte when NDARRAY.SET has no SHUFFLE.
        #[allow(non_camel_case_types)]
        #[derive(Debug, PartialEq, Eq, Copy)]
        pub enum ShuffleSetting {
            none = 0,
            byte = 1,
        }
    }
}
use shuffle_setting::ShuffleSetting;

pub const DEFAULT_CHUNK_BYTES: i64 = 256 * 1024;
pub const DEFAULT_MAX_ARRAY_BYTES: i64 = 512 * 1024 * 1024;
/// zlib level 1: several times faster than 6 on float data, and byte-shuffle does most of the work.
pub const DEFAULT_ZLIB_LEVEL: i64 = 1;

static COMPRESSION: Mutex<CompressionSetting> = Mutex::new(CompressionSetting::lz4);
static SHUFFLE: Mutex<ShuffleSetting> = Mutex::new(ShuffleSetting::byte);
static ZLIB_LEVEL: AtomicI64 = AtomicI64::new(DEFAULT_ZLIB_LEVEL);
static CHUNK_BYTES: AtomicI64 = AtomicI64::new(DEFAULT_CHUNK_BYTES);
static MAX_ARRAY_BYTES: AtomicI64 = AtomicI64::new(DEFAULT_MAX_ARRAY_BYTES);

/// Registers every setting (taking defaults from the module arguments) and loads them.
pub fn register(ctx: &Context, args: &[RedisString]) -> Status {
    let i64_settings: [(&str, &'static AtomicI64, i64, i64, i64); 3] = [
        ("zlib-level", &ZLIB_LEVEL, DEFAULT_ZLIB_LEVEL, 0, 9),
        (
            "chunk-bytes",
            &CHUNK_BYTES,
            DEFAULT_CHUNK_BYTES,
            4096,
            64 << 20,
        ),
        (
            "max-array-bytes",
            &MAX_ARRAY_BYTES,
            DEFAULT_MAX_ARRAY_BYTES,
            1,
            i64::MAX,
        ),
    ];
    for (name, var, default, min, max) in i64_settings {
        let Ok(value) = get_i64_default_config_value(args, name, default) else {
            ctx.log_warning(&format!(
                "ndarray: invalid value for module argument {name}"
            ));
            return Status::Err;
        };
        register_i64_configuration(
            ctx,
            name,
            var,
            value,
            min,
            max,
            ConfigurationFlags::DEFAULT,
            None,
        );
    }
    let Ok(compression) =
        get_enum_default_config_value(args, "compression", CompressionSetting::lz4)
    else {
        ctx.log_warning("ndarray: compression must be one of none, lz4, zlib");
        return Status::Err;
    };
    register_enum_configuration(
        ctx,
        "compression",
        &COMPRESSION,
        compression,
        ConfigurationFlags::DEFAULT,
        None,
    );
    let Ok(shuffle) = get_enum_default_config_value(args, "shuffle", ShuffleSetting::byte) else {
        ctx.log_warning("ndarray: shuffle must be one of none, byte");
        return Status::Err;
    };
    register_enum_configuration(
        ctx,
        "shuffle",
        &SHUFFLE,
        shuffle,
        ConfigurationFlags::DEFAULT,
        None,
    );
    // SAFETY: called from OnLoad with the module context, as the API requires.
    match unsafe { raw::RedisModule_LoadConfigs } {
        Some(load) if unsafe { load(ctx.ctx) } == raw::REDISMODULE_OK as i32 => Status::Ok,
        Some(_) => {
            ctx.log_warning("ndarray: module settings failed to load");
            Status::Err
        }
        None => Status::Ok,
    }
}

/// The encoding NDARRAY.SET uses when the command names none.
pub fn default_compression() -> Compression {
    let setting = COMPRESSION
        .lock()
        .map(|g| *g)
        .unwrap_or(CompressionSetting::lz4);
    match setting {
        CompressionSetting::none => Compression::None,
        CompressionSetting::lz4 => Compression::Lz4,
        CompressionSetting::zlib => Compression::Zlib {
            level: zlib_level(),
        },
    }
}

pub fn zlib_level() -> u8 {
    u8::try_from(ZLIB_LEVEL.load(Ordering::Relaxed)).unwrap_or(1)
}

pub fn default_shuffle() -> Shuffle {
    match SHUFFLE.lock().map(|g| *g).unwrap_or(ShuffleSetting::byte) {
        ShuffleSetting::none => Shuffle::None,
        ShuffleSetting::byte => Shuffle::Byte,
    }
}

pub fn default_encoding(itemsize: usize) -> Encoding {
    Encoding::new(default_compression(), default_shuffle(), itemsize)
}

pub fn chunk_bytes() -> usize {
    usize::try_from(CHUNK_BYTES.load(Ordering::Relaxed)).unwrap_or(DEFAULT_CHUNK_BYTES as usize)
}

pub fn max_array_bytes() -> u64 {
    u64::try_from(MAX_ARRAY_BYTES.load(Ordering::Relaxed)).unwrap_or(DEFAULT_MAX_ARRAY_BYTES as u64)
}
