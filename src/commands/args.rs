//! The documented argument tree of a command, as `COMMAND DOCS` reports it for native commands
//! (names, types, tokens, optional blocks, `oneof` choices), and the one-line syntax rendered from
//! it (the form the README shows under each command). Redis-free: registration turns it into
//! `RedisModuleCommandArg`s.

/// What an argument is, in `COMMAND DOCS` terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    Key,
    String,
    Integer,
    /// A Unix time (EXAT, PXAT).
    UnixTime,
    /// A keyword that is the whole argument (NX, KEEPTTL); its token is its name.
    PureToken,
    /// Exactly one of the sub-arguments.
    OneOf(&'static [Arg]),
    /// The sub-arguments in order.
    Block(&'static [Arg]),
}

/// One argument of a command. Built with the `const fn`s below so the table reads like the syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arg {
    pub name: &'static str,
    pub kind: ArgKind,
    /// The keyword in front of the value (`COMPRESS` in `COMPRESS codec`).
    pub token: Option<&'static str>,
    pub optional: bool,
    pub multiple: bool,
    /// Repeats with its token (`ATTR field value [ATTR field value ...]`).
    pub multiple_token: bool,
}

const fn arg(name: &'static str, kind: ArgKind) -> Arg {
    Arg {
        name,
        kind,
        token: None,
        optional: false,
        multiple: false,
        multiple_token: false,
    }
}

pub const fn key(name: &'static str) -> Arg {
    arg(name, ArgKind::Key)
}

pub const fn string(name: &'static str) -> Arg {
    arg(name, ArgKind::String)
}

pub const fn integer(name: &'static str) -> Arg {
    arg(name, ArgKind::Integer)
}

pub const fn unix_time(name: &'static str) -> Arg {
    arg(name, ArgKind::UnixTime)
}

/// A bare keyword: `NX`.
pub const fn token(word: &'static str) -> Arg {
    arg(word, ArgKind::PureToken).with_token(word)
}

pub const fn one_of(name: &'static str, choices: &'static [Arg]) -> Arg {
    arg(name, ArgKind::OneOf(choices))
}

pub const fn block(name: &'static str, parts: &'static [Arg]) -> Arg {
    arg(name, ArgKind::Block(parts))
}

impl Arg {
    /// The keyword that precedes the value: `integer("seconds").with_token("EX")` is `EX seconds`.
    pub const fn with_token(mut self, word: &'static str) -> Arg {
        self.token = Some(word);
        self
    }

    pub const fn optional(mut self) -> Arg {
        self.optional = true;
        self
    }

    pub const fn multiple(mut self) -> Arg {
        self.multiple = true;
        self
    }

    /// Repeatable, the token before each repetition (`multiple_token` in `COMMAND DOCS`).
    pub const fn multiple_token(mut self) -> Arg {
        self.multiple = true;
        self.multiple_token = true;
        self
    }

    /// The argument in the syntax Redis' documentation uses: `[x]` optional, `x [x ...]` multiple,
    /// `<a | b>` a choice (`[a | b]` when optional), `TOKEN x` a keyword and its value.
    pub fn syntax(&self) -> String {
        let one = match self.kind {
            ArgKind::PureToken => self.name.to_string(),
            ArgKind::OneOf(choices) => {
                let inner = join(choices, " | ");
                if self.optional && self.token.is_none() {
                    inner
                } else {
                    format!("<{inner}>")
                }
            }
            ArgKind::Block(parts) => join(parts, " "),
            _ => self.name.to_string(),
        };
        let with_token = match self.token {
            Some(word) if self.kind != ArgKind::PureToken && self.multiple_token => {
                format!("{word} {one} [{word} {one} ...]")
            }
            Some(word) if self.kind != ArgKind::PureToken && self.multiple => {
                format!("{word} {one} [{one} ...]")
            }
            Some(word) if self.kind != ArgKind::PureToken => format!("{word} {one}"),
            _ if self.multiple => format!("{one} [{one} ...]"),
            _ => one,
        };
        if self.optional {
            format!("[{with_token}]")
        } else {
            with_token
        }
    }
}

fn join(args: &[Arg], separator: &str) -> String {
    args.iter()
        .map(Arg::syntax)
        .collect::<Vec<_>>()
        .join(separator)
}

/// The whole command line: `NDARRAY.GET key [FORMAT <NPY | BLOB | VALUES>] [AS dtype]`.
pub fn command_syntax(name: &str, args: &[Arg]) -> String {
    let mut line = name.to_ascii_uppercase();
    for a in args {
        line.push(' ');
        line.push_str(&a.syntax());
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_follows_redis_documentation_conventions() {
        const FORMATS: &[Arg] = &[token("NPY"), token("BLOB")];
        const TTL: &[Arg] = &[
            integer("seconds").with_token("EX"),
            unix_time("unix-time-milliseconds").with_token("PXAT"),
            token("KEEPTTL"),
        ];
        const DIMS: &[Arg] = &[string("dtype"), integer("dim").optional().multiple()];
        let args = [
            key("key").multiple(),
            block("type", DIMS).optional(),
            one_of("format", FORMATS).with_token("FORMAT").optional(),
            one_of("expiration", TTL).optional(),
            one_of("data", FORMATS),
            string("value").with_token("VALUES").multiple(),
        ];
        assert_eq!(
            command_syntax("ndarray.x", &args),
            "NDARRAY.X key [key ...] [dtype [dim [dim ...]]] [FORMAT <NPY | BLOB>] \
             [EX seconds | PXAT unix-time-milliseconds | KEEPTTL] <NPY | BLOB> \
             VALUES value [value ...]"
        );
    }
}
