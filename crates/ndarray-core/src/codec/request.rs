//! What a write asks for (`COMPRESS`, `LEVEL`, `SHUFFLE`, each optional) and how the rest is filled
//! in. The module fills it from its settings; the Python extension from the built-in defaults (or
//! what its caller passes). One function resolves both, so an array encoded in the client is
//! encoded exactly as the server would have encoded it.

use super::registry::{self, DefaultLevels};
use super::{CodecName, Compression, Encoding, EncodingChoice, Shuffle};

/// A write's storage options, as `COMPRESS`, `LEVEL` and `SHUFFLE` give them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EncodingRequest {
    pub codec: Option<CodecName>,
    pub level: Option<i32>,
    pub shuffle: Option<Shuffle>,
}

/// What a write that names no codec, level or filter gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodingDefaults {
    /// `ndarray.compression`.
    pub compression: CodecName,
    /// `ndarray.<codec>-level`.
    pub levels: DefaultLevels,
    /// `ndarray.shuffle`.
    pub shuffle: Shuffle,
}

/// The compression of a write that names none, when nothing was configured.
pub const DEFAULT_COMPRESSION: CodecName = CodecName::Codec("zstd");
/// The filter likewise: bit shuffle (with zstd it stores real data at or below Blosc's size).
pub const DEFAULT_SHUFFLE: Shuffle = Shuffle::BIT;

impl EncodingDefaults {
    /// The release's defaults (zstd at its default level, bit shuffle): the module's settings
    /// before anyone changes them, and what the Python extension encodes with.
    pub fn builtin() -> Self {
        EncodingDefaults {
            compression: DEFAULT_COMPRESSION,
            levels: DefaultLevels::builtin(),
            shuffle: DEFAULT_SHUFFLE,
        }
    }
}

impl EncodingRequest {
    /// The encoding this request stores items of `itemsize` bytes with, `defaults` filling in what
    /// it leaves out. `auto` picks codec, level and filter itself, so it takes neither a level nor
    /// a filter. The error is a usage message (the caller's `ERR`, or Python's `ValueError`).
    pub fn resolve(
        self,
        defaults: &EncodingDefaults,
        itemsize: usize,
    ) -> Result<EncodingChoice, String> {
        let name = self.codec.unwrap_or(defaults.compression);
        let Some(codec) = name.codec() else {
            if self.level.is_some() || self.shuffle.is_some() {
                let why = match self.codec {
                    Some(_) => "",
                    None => " (the compression setting is auto: name a codec with COMPRESS)",
                };
                return Err(format!(
                    "COMPRESS auto picks the level and the filter itself: LEVEL and SHUFFLE do not apply{why}"
                ));
            }
            return Ok(EncodingChoice::Auto);
        };
        let compression = match self.level {
            Some(_) if codec.levels().is_none() => {
                let with_levels = registry::CODECS.iter().filter(|c| c.levels().is_some());
                return Err(format!(
                    "LEVEL applies only to {} compression (this write uses {})",
                    registry::or_list(with_levels.map(|c| c.name())),
                    codec.name()
                ));
            }
            Some(level) => Compression::new(codec, Some(level)).map_err(|_| {
                let range = codec.levels().map_or((0, 0), |l| (l.min, l.max));
                format!(
                    "LEVEL must be {} to {} for {}, got {level}",
                    range.0,
                    range.1,
                    codec.name()
                )
            })?,
            None => {
                Compression::new(codec, defaults.levels.get(codec)).map_err(|e| e.to_string())?
            }
        };
        let shuffle = self.shuffle.unwrap_or(defaults.shuffle);
        Ok(EncodingChoice::Fixed(Encoding::new(
            compression,
            shuffle,
            itemsize,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str) -> Option<CodecName> {
        CodecName::parse(name)
    }

    #[test]
    fn the_builtin_default_is_zstd_1_with_bit_shuffle() {
        let choice = EncodingRequest::default().resolve(&EncodingDefaults::builtin(), 4);
        let Ok(EncodingChoice::Fixed(e)) = choice else {
            panic!("{choice:?}");
        };
        assert_eq!(
            (e.compression.name(), e.compression.level()),
            ("zstd", Some(1))
        );
        assert_eq!(e.shuffle, Shuffle::BIT);
        // One-byte items: a bit shuffle still applies; a byte shuffle would not.
        let bytes = EncodingRequest {
            shuffle: Some(Shuffle::BYTE),
            ..Default::default()
        };
        let Ok(EncodingChoice::Fixed(e)) = bytes.resolve(&EncodingDefaults::builtin(), 1) else {
            panic!()
        };
        assert_eq!(e.shuffle, Shuffle::NONE);
    }

    #[test]
    fn auto_takes_no_level_or_filter_and_levels_are_checked() {
        let defaults = EncodingDefaults::builtin();
        let auto = EncodingRequest {
            codec: named("auto"),
            ..Default::default()
        };
        assert_eq!(auto.resolve(&defaults, 4), Ok(EncodingChoice::Auto));
        let with_level = EncodingRequest {
            level: Some(3),
            ..auto
        };
        assert!(with_level
            .resolve(&defaults, 4)
            .unwrap_err()
            .contains("LEVEL and SHUFFLE"));
        let lz4_level = EncodingRequest {
            codec: named("lz4"),
            level: Some(3),
            ..Default::default()
        };
        assert!(lz4_level
            .resolve(&defaults, 4)
            .unwrap_err()
            .contains("applies only to"));
        let zstd_99 = EncodingRequest {
            codec: named("zstd"),
            level: Some(99),
            ..Default::default()
        };
        assert!(zstd_99
            .resolve(&defaults, 4)
            .unwrap_err()
            .starts_with("LEVEL must be"));
    }
}
