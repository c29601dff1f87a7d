//! Module settings: `--loadmodule … name value` arguments and `CONFIG SET/GET ndarray.<name>`.

use crate::codec::{Compression, Shuffle};
use crate::settings::{parse_module_args, Valid};
use redis_module::configuration::{
    register_enum_configuration, register_i64_configuration, ConfigurationFlags,
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
static THREADS: AtomicI64 = AtomicI64::new(0);
/// Raw bytes from which a command's codec work leaves the main thread. Chosen by measurement
/// (`make bench`, section offload-threshold): below about 1 MiB, blocking the client and the
/// thread hop cost more main-thread time than the work they move away.
pub const DEFAULT_OFFLOAD_BYTES: i64 = 1 << 20;
static OFFLOAD_BYTES: AtomicI64 = AtomicI64::new(DEFAULT_OFFLOAD_BYTES);

/// A numeric setting: name, where its value lives, default and range, and whether it can only be
/// given when the module loads.
struct IntSetting {
    name: &'static str,
    value: &'static AtomicI64,
    default: fn() -> i64,
    min: i64,
    max: i64,
    load_time_only: bool,
}

static INT_SETTINGS: [IntSetting; 5] = [
    IntSetting {
        name: "zlib-level",
        value: &ZLIB_LEVEL,
        default: || DEFAULT_ZLIB_LEVEL,
        min: 0,
        max: 9,
        load_time_only: false,
    },
    IntSetting {
        name: "chunk-bytes",
        value: &CHUNK_BYTES,
        default: || DEFAULT_CHUNK_BYTES,
        min: 4096,
        max: 64 << 20,
        load_time_only: false,
    },
    IntSetting {
        name: "max-array-bytes",
        value: &MAX_ARRAY_BYTES,
        default: || DEFAULT_MAX_ARRAY_BYTES,
        min: 1,
        max: i64::MAX,
        load_time_only: false,
    },
    // The worker pool starts with the module: its size cannot change at run time.
    IntSetting {
        name: "threads",
        value: &THREADS,
        default: || crate::workers::default_threads() as i64,
        min: 0,
        max: 64,
        load_time_only: true,
    },
    IntSetting {
        name: "offload-bytes",
        value: &OFFLOAD_BYTES,
        default: || DEFAULT_OFFLOAD_BYTES,
        min: 0,
        max: i64::MAX,
        load_time_only: false,
    },
];

/// The choice settings' names; their values come from the enum types above.
const COMPRESSION_NAME: &str = "compression";
const SHUFFLE_NAME: &str = "shuffle";

/// What the module arguments may hold: every setting with the values it accepts.
fn valid_settings() -> Vec<(&'static str, Valid)> {
    let mut valid: Vec<(&'static str, Valid)> = vec![
        (
            COMPRESSION_NAME,
            Valid::OneOf(CompressionSetting::lz4.get_options().0),
        ),
        (
            SHUFFLE_NAME,
            Valid::OneOf(ShuffleSetting::byte.get_options().0),
        ),
    ];
    valid.extend(INT_SETTINGS.iter().map(|s| {
        (
            s.name,
            Valid::Int {
                min: s.min,
                max: s.max,
            },
        )
    }));
    valid
}

/// Registers every setting, with defaults taken from the module arguments, and loads them. A
/// misspelt name, a name without a value or a bad value makes the module refuse to load, with a
/// log line naming the setting: a server must not run on defaults the user did not choose.
pub fn register(ctx: &Context, args: &[RedisString]) -> Status {
    let raw_args: Vec<&[u8]> = args.iter().map(RedisString::as_slice).collect();
    let given = match parse_module_args(&raw_args, &valid_settings()) {
        Ok(given) => given,
        Err(why) => {
            ctx.log_warning(&format!("ndarray: refusing to load: {why}"));
            return Status::Err;
        }
    };
    let value_of = |name: &str| {
        given
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    };
    for s in &INT_SETTINGS {
        let value = value_of(s.name)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(s.default);
        let flags = if s.load_time_only {
            ConfigurationFlags::IMMUTABLE
        } else {
            ConfigurationFlags::DEFAULT
        };
        register_i64_configuration(ctx, s.name, s.value, value, s.min, s.max, flags, None);
    }
    let compression = enum_value(value_of(COMPRESSION_NAME), CompressionSetting::lz4);
    register_enum_configuration(
        ctx,
        COMPRESSION_NAME,
        &COMPRESSION,
        compression,
        ConfigurationFlags::DEFAULT,
        None,
    );
    let shuffle = enum_value(value_of(SHUFFLE_NAME), ShuffleSetting::byte);
    register_enum_configuration(
        ctx,
        SHUFFLE_NAME,
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

/// The enum variant named `name` (already validated), or `default`.
fn enum_value<G: redis_module::configuration::EnumConfigurationValue>(
    name: Option<&str>,
    default: G,
) -> G {
    let (names, values) = default.get_options();
    name.and_then(|name| names.iter().position(|n| n == name))
        .and_then(|i| values.get(i).copied())
        .and_then(|v| G::try_from(v).ok())
        .unwrap_or(default)
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

pub fn chunk_bytes() -> usize {
    usize::try_from(CHUNK_BYTES.load(Ordering::Relaxed)).unwrap_or(DEFAULT_CHUNK_BYTES as usize)
}

pub fn max_array_bytes() -> u64 {
    u64::try_from(MAX_ARRAY_BYTES.load(Ordering::Relaxed)).unwrap_or(DEFAULT_MAX_ARRAY_BYTES as u64)
}

/// Size of the worker pool (`ndarray.threads`; 0 runs everything on the main thread).
pub fn threads() -> usize {
    usize::try_from(THREADS.load(Ordering::Relaxed)).unwrap_or(0)
}

/// Raw bytes from which a command's codec work runs on a worker (`ndarray.offload-bytes`).
pub fn offload_bytes() -> u64 {
    u64::try_from(OFFLOAD_BYTES.load(Ordering::Relaxed)).unwrap_or(u64::MAX)
}
