//! Every command, declared once: name, handler, flags, arity, keys, ACL categories and the docs
//! `COMMAND DOCS` reports (summary, since, complexity, argument tree). Registration
//! (`crate::host::registration`) reads this table and nothing else; the README's syntax line of each
//! command is the one [`CommandSpec::syntax`] renders, and a test checks that it is.

use super::args::{block, command_syntax, integer, key, one_of, string, token, unix_time, Arg};
use super::{batch, compute, encoded, meta, probe, read, write};
use crate::error::Result;
use redis_module::{Context, RedisString, RedisValue};

/// A handler: parse → core → reply. The panic guard and the error boundary wrap it.
pub type Handler = fn(&Context, &[RedisString]) -> Result<RedisValue>;

/// The command flag of [`CommandSpec::is_internal`].
pub const INTERNAL: &str = "internal";

/// How a command touches its keys (the key spec's flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reads the value and returns data from it.
    Read,
    /// Reads only metadata (INFO).
    ReadMeta,
    /// Replaces the value whatever it held (SET, MSET).
    Overwrite,
    /// Modifies the existing value in place (SETSLICE, APPEND, RESHAPE).
    Update,
}

/// Where the keys are: from argument 1 to `last` (relative to the end when negative, -1 = the last
/// argument, as key specs and the legacy first/last/step positions both define it), every `step`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keys {
    pub access: Access,
    pub last: i32,
    pub step: i32,
    pub layout: KeyLayout,
}

/// How the key positions follow from the arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyLayout {
    /// `last` and `step` say it (a legacy range).
    Range,
    /// The keys follow a `numkeys` argument at 1 (`last` unused; `step` between keys).
    AfterNumkeys,
    /// Every argument from 1 on, except a trailing `FORMAT <format>` (MGET).
    BeforeFormat,
}

impl KeyLayout {
    /// No legacy range can say where the keys are: Redis asks the command (`getkeys-api`).
    pub const fn asks_the_command(self) -> bool {
        !matches!(self, KeyLayout::Range)
    }
}

/// The positions of the keys in `args` (the command name at 0) of a command whose layout is not a
/// plain range: what the command answers when Redis asks (cluster routing, ACL key patterns,
/// `COMMAND GETKEYS`). Malformed arguments report no key (the command itself then refuses them).
pub fn key_positions(keys: Keys, args: &[&[u8]]) -> Vec<usize> {
    match keys.layout {
        KeyLayout::Range => Vec::new(),
        KeyLayout::AfterNumkeys => {
            let numkeys = args
                .get(1)
                .and_then(|a| std::str::from_utf8(a).ok())
                .and_then(|s| s.parse::<usize>().ok())
                .unwrap_or(0);
            let step = usize::try_from(keys.step).unwrap_or(1).max(1);
            (0..numkeys)
                .map_while(|i| i.checked_mul(step).and_then(|p| p.checked_add(2)))
                .take_while(|&pos| pos < args.len())
                .collect()
        }
        KeyLayout::BeforeFormat => (1..super::parse::mget_keys_end(args)).collect(),
    }
}

const ONE_KEY_READ: Keys = Keys {
    access: Access::Read,
    last: 0,
    step: 1,
    layout: KeyLayout::Range,
};
/// MGET: every argument after the name is a key, up to a trailing `FORMAT <format>`.
const MGET_KEYS: Keys = Keys {
    access: Access::Read,
    last: -1,
    step: 1,
    layout: KeyLayout::BeforeFormat,
};
const ONE_KEY_UPDATE: Keys = Keys {
    access: Access::Update,
    last: 0,
    step: 1,
    layout: KeyLayout::Range,
};

pub struct CommandSpec {
    pub name: &'static str,
    pub handler: Handler,
    /// Redis command flags (`write deny-oom`, `readonly fast`, …). `internal` marks a command only
    /// the replication link and AOF loading may send ([`CommandSpec::is_internal`]).
    pub flags: &'static str,
    /// Redis' convention: N exactly, -N at least N (the command name counts).
    pub arity: i32,
    pub keys: Keys,
    /// ACL categories, applied where Redis has the API (7.2+, Valkey).
    pub acl: &'static str,
    pub summary: &'static str,
    pub complexity: &'static str,
    pub since: &'static str,
    pub args: &'static [Arg],
}

impl CommandSpec {
    /// Sent only by a primary to its replicas and by AOF loading: Redis 8 hides it from every
    /// other client (its `internal` flag); on every server the dispatcher refuses it from them.
    pub const fn is_internal(&self) -> bool {
        has_flag(self.flags, INTERNAL)
    }

    /// The one-line syntax, as the README shows it.
    pub fn syntax(&self) -> String {
        command_syntax(self.name, self.args)
    }
}

/// The syntax line of command `name` (lower case, `ndarray.set`), for errors that show usage:
/// the grammar is written once, in the table.
pub fn usage(name: &str) -> String {
    COMMANDS
        .iter()
        .find(|c| c.name == name)
        .map_or_else(|| name.to_ascii_uppercase(), CommandSpec::syntax)
}

/// The data argument of SET, APPEND and SETSLICE as the syntax shows it.
pub fn data_usage() -> String {
    DATA.syntax()
}

/// The version that introduced the commands of the first release.
const FIRST_RELEASE: &str = "0.1.0";
/// The version that introduced attributes, `updated_at`, MSETEX and STACK's numkeys (issue 11).
const FEATURES_RELEASE: &str = "0.2.0";
/// The version that introduced REDUCE, APPLY and STACK's REDUCE and MISSING SKIP (issue 24).
const COMPUTE_RELEASE: &str = "0.3.0";

// ---- argument pieces shared by several commands ----

const FORMAT: Arg = one_of("format", &[token("NPY"), token("BLOB"), token("VALUES")])
    .with_token("FORMAT")
    .optional();
/// GET's formats: SLICE's, and the stored form of the whole array.
const GET_FORMAT: Arg = one_of(
    "format",
    &[
        token("NPY"),
        token("BLOB"),
        token("VALUES"),
        token("ENCODED"),
    ],
)
.with_token("FORMAT")
.optional();
/// MGET's formats, after its keys: a trailing `FORMAT <format>` is always the option.
const MGET_FORMAT: Arg = one_of("format", &[token("NPY"), token("ENCODED")])
    .with_token("FORMAT")
    .optional();
const READ_AS: Arg = string("dtype").with_token("AS").optional();
const DATA: Arg = one_of(
    "data",
    &[
        string("data").with_token("BLOB"),
        string("value").with_token("VALUES").multiple(),
        string("npy").with_token("NPY"),
    ],
);
/// SET's data: APPEND's and SETSLICE's, or an array already encoded (README, "The encoded form").
const SET_DATA: Arg = one_of(
    "data",
    &[
        string("data").with_token("BLOB"),
        string("value").with_token("VALUES").multiple(),
        string("npy").with_token("NPY"),
        string("payload").with_token("ENCODED"),
    ],
);
const DIMS: Arg = integer("dim").optional().multiple();

// The registry's names (a test checks that they are all here), then `auto`.
const CODEC: Arg = one_of(
    "codec",
    &[
        token("none"),
        token("lz4"),
        token("zlib"),
        token("zstd"),
        token("auto"),
    ],
)
.with_token("COMPRESS")
.optional();
const LEVEL: Arg = integer("level").with_token("LEVEL").optional();
const SHUFFLE: Arg = one_of("filter", &[token("none"), token("byte"), token("bit")])
    .with_token("SHUFFLE")
    .optional();
const EXPIRATION: Arg = one_of(
    "expiration",
    &[
        integer("seconds").with_token("EX"),
        integer("milliseconds").with_token("PX"),
        unix_time("unix-time-seconds").with_token("EXAT"),
        unix_time("unix-time-milliseconds").with_token("PXAT"),
        token("KEEPTTL"),
    ],
)
.optional();

const SET_ARGS: &[Arg] = &[
    key("key"),
    block("type", &[string("dtype"), DIMS]).optional(),
    CODEC,
    LEVEL,
    SHUFFLE,
    string("dtype").with_token("AS").optional(),
    EXPIRATION,
    one_of("condition", &[token("NX"), token("XX")]).optional(),
    block("attr", &[string("field"), string("value")])
        .with_token("ATTR")
        .optional()
        .multiple_token(),
    SET_DATA,
];

/// Whether the space-separated `flags` hold `flag`; a `const fn`, so that the dispatcher knows at
/// compile time which entry points are internal (a runtime scan showed in every small command's
/// profile).
pub const fn has_flag(flags: &str, flag: &str) -> bool {
    let mut rest = flags.as_bytes();
    loop {
        // Does the word `rest` starts with equal `flag`?
        let (mut word, mut wanted) = (rest, flag.as_bytes());
        let matched = loop {
            match (word.split_first(), wanted.split_first()) {
                (Some((&have, more)), Some((&want, left))) if have == want => {
                    word = more;
                    wanted = left;
                }
                (None | Some((&b' ', _)), None) => break true,
                _ => break false,
            }
        };
        if matched {
            return true;
        }
        // On to the next word.
        loop {
            match rest.split_first() {
                None => return false,
                Some((&b' ', more)) => {
                    rest = more;
                    break;
                }
                Some((_, more)) => rest = more,
            }
        }
    }
}

/// Whether command `index` of the table is internal (false past the end), at compile time.
pub const fn is_internal_at(index: usize) -> bool {
    let (mut rest, mut left): (&[CommandSpec], usize) = (&TABLE, index);
    while let Some((spec, more)) = rest.split_first() {
        if left == 0 {
            return spec.is_internal();
        }
        (rest, left) = (more, left - 1);
    }
    false
}

pub static COMMANDS: [CommandSpec; 19] = TABLE;

const TABLE: [CommandSpec; 19] = [
    CommandSpec {
        name: "ndarray.set",
        handler: write::set,
        flags: "write deny-oom",
        arity: -4,
        keys: Keys {
            access: Access::Overwrite,
            last: 0,
            step: 1,
            layout: KeyLayout::Range,
        },
        acl: "write",
        summary: "Stores an array (raw bytes with a dtype and dims, numbers, or a .npy file), \
                  replacing any value, compressed in the server.",
        complexity: "O(N) where N is the size of the array in bytes.",
        since: FIRST_RELEASE,
        args: SET_ARGS,
    },
    CommandSpec {
        name: "ndarray.get",
        handler: read::get,
        flags: "readonly",
        arity: -2,
        keys: ONE_KEY_READ,
        acl: "read",
        summary: "Returns the whole array as a .npy file, raw bytes or nested values, \
                  optionally converted to another dtype.",
        complexity: "O(N) where N is the size of the array in bytes.",
        since: FIRST_RELEASE,
        args: &[key("key"), GET_FORMAT, READ_AS],
    },
    CommandSpec {
        name: "ndarray.info",
        handler: read::info,
        flags: "readonly fast",
        arity: 2,
        keys: Keys {
            access: Access::ReadMeta,
            last: 0,
            step: 1,
            layout: KeyLayout::Range,
        },
        acl: "read fast",
        summary: "Describes the array: dtype, shape, sizes, compression and chunks.",
        complexity: "O(1)",
        since: FIRST_RELEASE,
        args: &[key("key")],
    },
    CommandSpec {
        name: "ndarray.append",
        handler: write::append,
        flags: "write deny-oom",
        arity: -4,
        keys: ONE_KEY_UPDATE,
        acl: "write",
        summary: "Appends rows along axis 0 and returns the new length of axis 0; \
                  NPY data creates a missing key.",
        complexity: "O(N) where N is the size of the appended rows in bytes.",
        since: FIRST_RELEASE,
        args: &[key("key"), DATA],
    },
    CommandSpec {
        name: "ndarray.reshape",
        handler: write::reshape,
        flags: "write fast",
        arity: -2,
        keys: ONE_KEY_UPDATE,
        acl: "write fast",
        summary: "Gives the array a new shape with the same number of elements (no data moves).",
        complexity: "O(D) where D is the number of dimensions.",
        since: FIRST_RELEASE,
        args: &[key("key"), DIMS],
    },
    CommandSpec {
        name: "ndarray.slice",
        handler: read::slice,
        flags: "readonly",
        arity: -3,
        keys: ONE_KEY_READ,
        acl: "read",
        summary: "Returns a NumPy basic-indexing selection of the array, decoding only the \
                  chunks it touches.",
        complexity: "O(N) where N is the size in bytes of the chunks the selection touches.",
        since: FIRST_RELEASE,
        args: &[key("key"), string("selection"), FORMAT, READ_AS],
    },
    CommandSpec {
        name: "ndarray.setslice",
        handler: write::setslice,
        flags: "write deny-oom",
        arity: -5,
        keys: ONE_KEY_UPDATE,
        acl: "write",
        summary: "Writes values into a NumPy basic-indexing selection of the array, \
                  re-encoding only the chunks it touches.",
        complexity: "O(N) where N is the size in bytes of the chunks the selection touches.",
        since: FIRST_RELEASE,
        args: &[key("key"), string("selection"), DATA],
    },
    CommandSpec {
        name: "ndarray.mget",
        handler: batch::mget,
        flags: "readonly",
        arity: -2,
        keys: MGET_KEYS,
        acl: "read",
        summary: "Returns the .npy file of each key (or with FORMAT ENCODED its stored form), nil \
                  where a key is missing or holds another type.",
        complexity: "O(N) where N is the total size of the arrays in bytes (stored bytes with \
                     FORMAT ENCODED).",
        since: FIRST_RELEASE,
        args: &[key("key").multiple(), MGET_FORMAT],
    },
    CommandSpec {
        name: "ndarray.mset",
        handler: batch::mset,
        flags: "write deny-oom",
        arity: -3,
        keys: Keys {
            access: Access::Overwrite,
            last: -1,
            step: 2,
            layout: KeyLayout::Range,
        },
        acl: "write",
        summary: "Stores several arrays from .npy files, all or nothing.",
        complexity: "O(N) where N is the total size of the arrays in bytes.",
        since: FIRST_RELEASE,
        args: &[block("data", &[key("key"), string("npy")]).multiple()],
    },
    CommandSpec {
        name: "ndarray.stack",
        handler: batch::stack,
        flags: "readonly",
        arity: -3,
        keys: Keys {
            access: Access::Read,
            last: 0,
            step: 1,
            layout: KeyLayout::AfterNumkeys,
        },
        acl: "read",
        summary: "Stacks arrays of the same dtype and shape into one array of shape \
                  (n, *shape), like np.stack; MISSING FILL fills the rows of missing keys, \
                  MISSING SKIP leaves them out; REDUCE replies the sum, mean, min or max over \
                  the stacked axis instead.",
        complexity: "O(N) where N is the total size of the arrays in bytes.",
        since: FIRST_RELEASE,
        args: &[
            integer("numkeys"),
            key("key").multiple(),
            READ_AS,
            one_of("format", &[token("NPY"), token("BLOB")])
                .with_token("FORMAT")
                .optional(),
            one_of(
                "missing",
                &[string("value").with_token("FILL"), token("SKIP")],
            )
            .with_token("MISSING")
            .optional(),
            one_of(
                "op",
                &[token("sum"), token("mean"), token("min"), token("max")],
            )
            .with_token("REDUCE")
            .optional(),
        ],
    },
    CommandSpec {
        name: "ndarray.putencoded",
        handler: encoded::put_encoded,
        flags: "write deny-oom internal",
        arity: 4,
        keys: ONE_KEY_UPDATE,
        acl: "write",
        summary: "Internal (replication and AOF loading only): stores (NEW) or appends the \
                  chunks of (APPEND) an array in its encoded form, validated as an RDB value; \
                  what replicas and the AOF receive for big writes.",
        complexity: "O(N) where N is the size of the payload in bytes.",
        since: "0.2.0",
        args: &[
            key("key"),
            one_of("mode", &[token("NEW"), token("APPEND")]),
            string("payload"),
        ],
    },
    CommandSpec {
        name: "ndarray.probe",
        handler: probe::probe,
        flags: "readonly",
        arity: -2,
        keys: ONE_KEY_READ,
        acl: "read",
        summary: "Measures each codec, level and filter on a sample of the array and replies \
                  a table (codec, level, filter, ratio, encode and decode MB/s), best ratio first.",
        complexity: "O(S) where S is the sample size (default 1 MiB), times the encodings tried.",
        since: "0.2.0",
        args: &[key("key"), integer("bytes").with_token("SAMPLE").optional()],
    },
    CommandSpec {
        name: "ndarray.attrset",
        handler: meta::attrset,
        flags: "write deny-oom fast",
        arity: -4,
        keys: ONE_KEY_UPDATE,
        acl: "write fast",
        summary: "Sets attributes (small binary-safe field/value strings) of an array; replies \
                  how many fields are new.",
        complexity: "O(A) where A is the number of the array's attributes.",
        since: FEATURES_RELEASE,
        args: &[
            key("key"),
            block("data", &[string("field"), string("value")]).multiple(),
        ],
    },
    CommandSpec {
        name: "ndarray.attrget",
        handler: meta::attrget,
        flags: "readonly fast",
        arity: -2,
        keys: Keys {
            access: Access::ReadMeta,
            last: 0,
            step: 1,
            layout: KeyLayout::Range,
        },
        acl: "read fast",
        summary: "Returns every attribute of an array as a map, or the values of the fields \
                  given (nil where absent).",
        complexity: "O(A) where A is the number of attributes returned.",
        since: FEATURES_RELEASE,
        args: &[key("key"), string("field").optional().multiple()],
    },
    CommandSpec {
        name: "ndarray.attrdel",
        handler: meta::attrdel,
        flags: "write fast",
        arity: -3,
        keys: ONE_KEY_UPDATE,
        acl: "write fast",
        summary: "Removes attributes of an array; replies how many were present.",
        complexity: "O(A) where A is the number of the array's attributes.",
        since: FEATURES_RELEASE,
        args: &[key("key"), string("field").multiple()],
    },
    CommandSpec {
        name: "ndarray.msetex",
        handler: batch::msetex,
        flags: "write deny-oom",
        arity: -4,
        keys: Keys {
            access: Access::Overwrite,
            last: 0,
            step: 2,
            layout: KeyLayout::AfterNumkeys,
        },
        acl: "write",
        summary: "Stores several arrays from .npy files, all or nothing, with NX / XX, a TTL \
                  and storage options for every key.",
        complexity: "O(N) where N is the total size of the arrays in bytes.",
        since: FEATURES_RELEASE,
        args: &[
            integer("numkeys"),
            block("data", &[key("key"), string("npy")]).multiple(),
            one_of("condition", &[token("NX"), token("XX")]).optional(),
            EXPIRATION,
            CODEC,
            LEVEL,
            SHUFFLE,
            string("dtype").with_token("AS").optional(),
        ],
    },
    CommandSpec {
        name: "ndarray.stamp",
        handler: meta::stamp_command,
        flags: "write fast internal",
        arity: -3,
        keys: Keys {
            access: Access::Update,
            last: -2,
            step: 1,
            layout: KeyLayout::Range,
        },
        acl: "write fast",
        summary: "Internal (replication and AOF loading only): sets the updated_at of arrays \
                  (Unix ms); what replicas and the AOF receive after a write so that they keep \
                  the primary's time.",
        complexity: "O(N) where N is the number of keys.",
        since: FEATURES_RELEASE,
        args: &[key("key").multiple(), integer("unix-ms")],
    },
    CommandSpec {
        name: "ndarray.reduce",
        handler: compute::reduce,
        flags: "readonly",
        arity: -3,
        keys: ONE_KEY_READ,
        acl: "read",
        summary: "Reduces the array (or a selection of it) over axes with NumPy's sum, prod, \
                  mean, min, max, var, std, argmin, argmax, count_nonzero, any or all, in the \
                  server.",
        complexity: "O(N) where N is the size in bytes of the chunks the selection touches.",
        since: COMPUTE_RELEASE,
        args: &[
            key("key"),
            one_of(
                "op",
                &[
                    token("sum"),
                    token("prod"),
                    token("mean"),
                    token("min"),
                    token("max"),
                    token("var"),
                    token("std"),
                    token("argmin"),
                    token("argmax"),
                    token("count_nonzero"),
                    token("any"),
                    token("all"),
                ],
            ),
            integer("axis").multiple().with_token("AXIS").optional(),
            token("KEEPDIMS").optional(),
            string("selection").with_token("SELECT").optional(),
            string("dtype").with_token("AS").optional(),
            FORMAT,
        ],
    },
    CommandSpec {
        name: "ndarray.apply",
        handler: compute::apply,
        flags: "write deny-oom",
        arity: -5,
        keys: ONE_KEY_UPDATE,
        acl: "write",
        summary: "Applies a NumPy ufunc (add, subtract, multiply, divide, minimum, maximum) of \
                  the array (or a selection of it) and an operand in place, atomically, with \
                  NumPy's broadcasting and same_kind casting.",
        complexity: "O(N) where N is the size in bytes of the chunks the selection touches.",
        since: COMPUTE_RELEASE,
        args: &[
            key("key"),
            one_of(
                "ufunc",
                &[
                    token("add"),
                    token("subtract"),
                    token("multiply"),
                    token("divide"),
                    token("minimum"),
                    token("maximum"),
                ],
            ),
            string("selection").with_token("SELECT").optional(),
            token("RETURN").optional(),
            one_of(
                "operand",
                &[
                    string("value").with_token("VALUES").multiple(),
                    string("npy").with_token("NPY"),
                    string("payload").with_token("ENCODED"),
                ],
            ),
        ],
    },
];

#[cfg(test)]
mod tests {

    #[test]
    fn flags_are_found_as_whole_words_at_compile_time() {
        assert!(has_flag("write deny-oom internal", "internal"));
        assert!(has_flag("internal", "internal"));
        assert!(!has_flag("write internalx", "internal"));
        assert!(!has_flag("write fast", "internal"));
        assert!(!has_flag("", "internal"));
        let internal: Vec<&str> = (0..COMMANDS.len() + 1)
            .filter(|&i| is_internal_at(i))
            .map(|i| COMMANDS[i].name)
            .collect();
        assert_eq!(internal, ["ndarray.putencoded", "ndarray.stamp"]);
    }
    use super::*;

    #[test]
    fn names_are_unique_lowercase_and_prefixed() {
        let mut names: Vec<&str> = COMMANDS.iter().map(|c| c.name).collect();
        assert!(names
            .iter()
            .all(|n| n.starts_with("ndarray.") && *n == n.to_lowercase()));
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), COMMANDS.len());
    }

    #[test]
    fn every_command_documents_its_arguments() {
        for c in &COMMANDS {
            assert!(
                !c.summary.is_empty() && !c.complexity.is_empty(),
                "{}",
                c.name
            );
            // The first documented argument is the (first) key.
            assert_eq!(
                c.args.first().map(|a| a.name),
                Some(match c.name {
                    "ndarray.mset" => "data",
                    "ndarray.stack" | "ndarray.msetex" => "numkeys",
                    _ => "key",
                }),
                "{}",
                c.name
            );
            // Every command declares an arity (0 would leave Redis' arity check off).
            assert!(c.arity != 0, "{}", c.name);
        }
    }

    #[test]
    fn syntax_lines_read_as_the_readme_shows_them() {
        let get = COMMANDS
            .iter()
            .find(|c| c.name == "ndarray.get")
            .map(|c| c.syntax());
        assert_eq!(
            get.as_deref(),
            Some("NDARRAY.GET key [FORMAT <NPY | BLOB | VALUES | ENCODED>] [AS dtype]")
        );
        let mset = COMMANDS
            .iter()
            .find(|c| c.name == "ndarray.mset")
            .map(|c| c.syntax());
        assert_eq!(mset.as_deref(), Some("NDARRAY.MSET key npy [key npy ...]"));
    }

    #[test]
    fn the_readme_shows_every_commands_syntax_as_the_table_renders_it() {
        let readme = include_str!("../../README.md");
        for c in &COMMANDS {
            let block = format!("```text\n{}\n", c.syntax());
            assert!(readme.contains(&block), "README lacks:\n{block}");
        }
    }

    /// The tokens a `one_of` argument of NDARRAY.SET named `name` documents.
    fn set_choices(name: &str) -> Vec<&'static str> {
        let set = COMMANDS.iter().find(|c| c.name == "ndarray.set");
        let arg = set.and_then(|c| c.args.iter().find(|a| a.name == name));
        match arg.map(|a| a.kind) {
            Some(super::super::args::ArgKind::OneOf(choices)) => {
                choices.iter().map(|c| c.name).collect()
            }
            _ => Vec::new(),
        }
    }

    #[test]
    fn the_documented_codecs_and_filters_are_the_registrys() {
        assert_eq!(set_choices("codec"), crate::codec::CodecName::all());
        let filters: Vec<&str> = crate::codec::registry::FILTERS
            .iter()
            .map(|f| f.name())
            .collect();
        assert_eq!(set_choices("filter"), filters);
    }
}
