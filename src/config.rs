//! Module settings: `--loadmodule … name value` arguments and `CONFIG SET/GET ndarray.<name>`.

use crate::array::store::{MAX_CHUNK_BYTES, MIN_CHUNK_BYTES};
use crate::codec::registry::{self, DefaultLevels};
use crate::codec::{Codec, CodecName, Levels, Shuffle};
use crate::settings::{parse_module_args, Valid};
use redis_module::configuration::{
    register_i64_configuration, register_string_configuration, ConfigurationContext,
    ConfigurationFlags, ConfigurationValue,
};
use redis_module::{Context, RedisError, RedisString, Status};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// A setting that names one entry of a list (a codec, a filter): `CONFIG SET` accepts any case,
/// refuses other names with the list, and `CONFIG GET` shows the canonical name.
trait Choice: Copy + Send + 'static {
    fn parse(name: &str) -> Option<Self>;
    fn name(self) -> &'static str;
    /// Every accepted name, in order.
    fn names() -> Vec<&'static str>;
}

impl Choice for CodecName {
    fn parse(name: &str) -> Option<Self> {
        CodecName::parse(name)
    }
    fn name(self) -> &'static str {
        CodecName::name(self)
    }
    fn names() -> Vec<&'static str> {
        CodecName::all()
    }
}

impl Choice for Shuffle {
    fn parse(name: &str) -> Option<Self> {
        registry::filter_named(name).map(Shuffle::new)
    }
    fn name(self) -> &'static str {
        Shuffle::name(self)
    }
    fn names() -> Vec<&'static str> {
        registry::FILTERS.iter().map(|f| f.name()).collect()
    }
}

struct ChoiceSetting<T: Choice>(Mutex<T>);

impl<T: Choice> ChoiceSetting<T> {
    fn get(&self) -> Option<T> {
        self.0.lock().ok().map(|g| *g)
    }
}

/// Counts changes of the choice settings: a thread's copy of them (see [`choices`]) is good while
/// it matches. Bumped after the value changes, so a copy taken with an older count holds either
/// value and is replaced at the next read.
static CHOICE_GENERATION: AtomicU64 = AtomicU64::new(0);

/// The compression and shuffle settings, from this thread's copy unless they changed since it was
/// taken (locking both on every write showed in every small SET's profile).
fn choices() -> (Option<CodecName>, Option<Shuffle>) {
    type Copy = (u64, Option<CodecName>, Option<Shuffle>);
    thread_local! {
        static LAST: std::cell::Cell<Option<Copy>> = const { std::cell::Cell::new(None) };
    }
    let generation = CHOICE_GENERATION.load(Ordering::Acquire);
    if let Some((taken, compression, shuffle)) = LAST.get() {
        if taken == generation {
            return (compression, shuffle);
        }
    }
    let (compression, shuffle) = (COMPRESSION.get(), SHUFFLE.get());
    LAST.set(Some((generation, compression, shuffle)));
    (compression, shuffle)
}

impl<T: Choice> ConfigurationValue<RedisString> for ChoiceSetting<T> {
    fn get(&self, _ctx: &ConfigurationContext) -> RedisString {
        RedisString::create(None, self.get().map_or("", T::name))
    }
    fn set(&self, _ctx: &ConfigurationContext, value: RedisString) -> Result<(), RedisError> {
        let text = value.to_string_lossy();
        let Some(choice) = T::parse(&text) else {
            return Err(RedisError::String(format!(
                "unknown value '{text}' (expected {})",
                registry::or_list(T::names().into_iter())
            )));
        };
        if let Ok(mut guard) = self.0.lock() {
            *guard = choice;
        }
        CHOICE_GENERATION.fetch_add(1, Ordering::Release);
        Ok(())
    }
}

/// The encoding of a write that names none: zstd (level 1, the zstd-level default) with the bit
/// shuffle, chosen by measurement on real data (redis.conf.example has the figures).
use crate::codec::request::{DEFAULT_COMPRESSION, DEFAULT_SHUFFLE};
static COMPRESSION: ChoiceSetting<CodecName> = ChoiceSetting(Mutex::new(DEFAULT_COMPRESSION));
static SHUFFLE: ChoiceSetting<Shuffle> = ChoiceSetting(Mutex::new(DEFAULT_SHUFFLE));

/// `<codec>-level` for each codec of the registry that takes levels (`zlib-level`,
/// `zstd-level`): the level of a write that names the codec without LEVEL.
struct LevelSetting {
    name: &'static str,
    codec: &'static dyn Codec,
    value: AtomicI64,
}

fn level_settings() -> &'static [LevelSetting] {
    static SETTINGS: OnceLock<Vec<LevelSetting>> = OnceLock::new();
    SETTINGS.get_or_init(|| {
        registry::CODECS
            .iter()
            .filter_map(|codec| {
                let levels = codec.levels()?;
                // Leaked once per codec at load: the setting's name lives as long as the module.
                let name: &'static str =
                    Box::leak(format!("{}-level", codec.name()).into_boxed_str());
                Some(LevelSetting {
                    name,
                    codec: *codec,
                    value: AtomicI64::new(i64::from(levels.default)),
                })
            })
            .collect()
    })
}

pub const DEFAULT_CHUNK_BYTES: i64 = crate::array::store::DEFAULT_CHUNK_BYTES as i64;
pub const DEFAULT_MAX_ARRAY_BYTES: i64 = 512 * 1024 * 1024;
static CHUNK_BYTES: AtomicI64 = AtomicI64::new(DEFAULT_CHUNK_BYTES);
/// Raw bytes per independently decodable block of a compressed chunk (0: a chunk is one frame).
pub const DEFAULT_BLOCK_BYTES: i64 = crate::codec::blocks::DEFAULT_BLOCK_BYTES as i64;
static BLOCK_BYTES: AtomicI64 = AtomicI64::new(DEFAULT_BLOCK_BYTES);
static MAX_ARRAY_BYTES: AtomicI64 = AtomicI64::new(DEFAULT_MAX_ARRAY_BYTES);
/// The most array bytes one command may decode into its reply (MGET of many arrays included);
/// 0 means max-array-bytes. Redis' output-buffer limits cannot bound it: the reply is built
/// before Redis sees it.
static MAX_REPLY_BYTES: AtomicI64 = AtomicI64::new(0);
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

static INT_SETTINGS: [IntSetting; 7] = [
    IntSetting {
        name: "chunk-bytes",
        value: &CHUNK_BYTES,
        default: || DEFAULT_CHUNK_BYTES,
        min: MIN_CHUNK_BYTES as i64,
        max: MAX_CHUNK_BYTES as i64,
        load_time_only: false,
    },
    // 0, or from 1 KiB: a write raises a smaller one to 1 KiB and caps it at its chunk size.
    IntSetting {
        name: "block-bytes",
        value: &BLOCK_BYTES,
        default: || DEFAULT_BLOCK_BYTES,
        min: 0,
        max: MAX_CHUNK_BYTES as i64,
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
    IntSetting {
        name: "max-reply-bytes",
        value: &MAX_REPLY_BYTES,
        default: || 0,
        min: 0,
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
        name: "worker-bytes",
        value: &crate::budget::BUDGET.limit,
        default: || crate::budget::DEFAULT_WORKER_BYTES,
        min: 1,
        max: i64::MAX,
        load_time_only: false,
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
        (COMPRESSION_NAME, one_of::<CodecName>()),
        (SHUFFLE_NAME, one_of::<Shuffle>()),
    ];
    valid.extend(level_settings().iter().map(|s| {
        let levels = s.codec.levels().unwrap_or(Levels {
            min: 0,
            max: 0,
            default: 0,
        });
        (
            s.name,
            Valid::Int {
                min: i64::from(levels.min),
                max: i64::from(levels.max),
            },
        )
    }));
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
    for s in level_settings() {
        let default = s.value.load(Ordering::Relaxed);
        let value = value_of(s.name)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default);
        let range = s.codec.levels().map_or((0, 0), |l| (l.min, l.max));
        register_i64_configuration(
            ctx,
            s.name,
            &s.value,
            value,
            i64::from(range.0),
            i64::from(range.1),
            ConfigurationFlags::DEFAULT,
            None,
        );
    }
    register_choice(
        ctx,
        COMPRESSION_NAME,
        &COMPRESSION,
        value_of(COMPRESSION_NAME),
    );
    register_choice(ctx, SHUFFLE_NAME, &SHUFFLE, value_of(SHUFFLE_NAME));
    let loaded = crate::host::server::load_configs(ctx);
    if loaded == Status::Err {
        ctx.log_warning("ndarray: module settings failed to load");
    }
    loaded
}

fn one_of<T: Choice>() -> Valid {
    Valid::OneOf(T::names().into_iter().map(String::from).collect())
}

/// Registers a choice setting, starting from the module argument `given` (already validated).
fn register_choice<T: Choice>(
    ctx: &Context,
    name: &str,
    setting: &'static ChoiceSetting<T>,
    given: Option<&str>,
) {
    if let (Some(choice), Ok(mut guard)) = (given.and_then(T::parse), setting.0.lock()) {
        *guard = choice;
    }
    CHOICE_GENERATION.fetch_add(1, Ordering::Release);
    let default = setting.get().map_or("", T::name);
    register_string_configuration(
        ctx,
        name,
        setting,
        default,
        ConfigurationFlags::DEFAULT,
        None,
    );
}

/// The compression NDARRAY.SET uses when the command names none (a codec, or auto).
pub fn default_compression() -> CodecName {
    choices().0.unwrap_or(DEFAULT_COMPRESSION)
}

/// The level each codec uses when a write names it without LEVEL.
pub fn default_levels() -> DefaultLevels {
    // Every write reads these: the settings' raw values are compared with the last ones this
    // thread turned into levels (building them anew showed in every small SET's profile).
    thread_local! {
        static LAST: std::cell::Cell<Option<([i64; registry::CODEC_COUNT], DefaultLevels)>> =
            const { std::cell::Cell::new(None) };
    }
    let mut raw = [i64::MIN; registry::CODEC_COUNT];
    for (slot, s) in raw.iter_mut().zip(level_settings()) {
        *slot = s.value.load(Ordering::Relaxed);
    }
    if let Some((last, levels)) = LAST.get() {
        if last == raw {
            return levels;
        }
    }
    let levels = level_settings()
        .iter()
        .fold(DefaultLevels::builtin(), |levels, s| {
            let level = i32::try_from(s.value.load(Ordering::Relaxed)).unwrap_or(i32::MIN);
            levels.with(s.codec, level)
        });
    LAST.set(Some((raw, levels)));
    levels
}

pub fn default_shuffle() -> Shuffle {
    choices().1.unwrap_or(DEFAULT_SHUFFLE)
}

pub fn chunk_bytes() -> usize {
    usize::try_from(CHUNK_BYTES.load(Ordering::Relaxed)).unwrap_or(DEFAULT_CHUNK_BYTES as usize)
}

pub fn block_bytes() -> u32 {
    u32::try_from(BLOCK_BYTES.load(Ordering::Relaxed)).unwrap_or(DEFAULT_BLOCK_BYTES as u32)
}

pub fn max_array_bytes() -> u64 {
    u64::try_from(MAX_ARRAY_BYTES.load(Ordering::Relaxed)).unwrap_or(DEFAULT_MAX_ARRAY_BYTES as u64)
}

/// The most array bytes one command may decode into its reply (`ndarray.max-reply-bytes`, or
/// max-array-bytes when that is 0).
pub fn max_reply_bytes() -> u64 {
    match u64::try_from(MAX_REPLY_BYTES.load(Ordering::Relaxed)) {
        Ok(0) | Err(_) => max_array_bytes(),
        Ok(n) => n,
    }
}

/// Size of the worker pool (`ndarray.threads`; 0 runs everything on the main thread).
pub fn threads() -> usize {
    usize::try_from(THREADS.load(Ordering::Relaxed)).unwrap_or(0)
}

/// Raw bytes from which a command's codec work runs on a worker (`ndarray.offload-bytes`).
pub fn offload_bytes() -> u64 {
    u64::try_from(OFFLOAD_BYTES.load(Ordering::Relaxed)).unwrap_or(u64::MAX)
}
