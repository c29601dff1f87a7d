//! Every codec and every filter, listed once. Parsing (`COMPRESS`, `SHUFFLE`), the settings, the
//! command docs, INFO, AOF rewrites and the loaders all read these lists: adding a codec is its
//! file and one line here. Codes are on-disk values: a new entry takes a new code.

use super::{filters, lz4, none, zlib, zstd, Codec, Filter};

pub const CODEC_COUNT: usize = 4;

/// The compressors, in the order `COMMAND DOCS` and error messages list them.
pub static CODECS: [&dyn Codec; CODEC_COUNT] =
    [&none::Uncompressed, &lz4::Lz4, &zlib::Zlib, &zstd::Zstd];

/// The filters, likewise.
pub static FILTERS: [&dyn Filter; 3] = [
    &filters::NoFilter,
    &filters::ByteShuffle,
    &filters::BitShuffle,
];

/// The level of each codec that a write naming none uses (the `<codec>-level` settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefaultLevels([i32; CODEC_COUNT]);

impl DefaultLevels {
    /// Each codec's own default.
    pub fn builtin() -> Self {
        DefaultLevels(CODECS.map(|c| c.levels().map_or(0, |l| l.default)))
    }

    /// With `codec`'s level set to `level` (ignored when out of its range).
    pub fn with(mut self, codec: &dyn Codec, level: i32) -> Self {
        let in_range = codec
            .levels()
            .is_some_and(|l| (l.min..=l.max).contains(&level));
        if let (true, Some(slot)) = (in_range, self.slot(codec)) {
            *slot = level;
        }
        self
    }

    /// `codec`'s level, for codecs that take one.
    pub fn get(&self, codec: &dyn Codec) -> Option<i32> {
        codec.levels()?;
        let index = CODECS.iter().position(|c| c.code() == codec.code())?;
        self.0.get(index).copied()
    }

    fn slot(&mut self, codec: &dyn Codec) -> Option<&mut i32> {
        let index = CODECS.iter().position(|c| c.code() == codec.code())?;
        self.0.get_mut(index)
    }
}

/// The codec at `index` of [`CODECS`] (`none` for an index the registry does not have, which
/// [`super::Compression`] never holds).
pub fn codec_at(index: u8) -> &'static dyn Codec {
    CODECS
        .get(usize::from(index))
        .copied()
        .unwrap_or(&none::Uncompressed)
}

pub fn index_of(codec: &dyn Codec) -> Option<u8> {
    let index = CODECS.iter().position(|c| c.code() == codec.code())?;
    u8::try_from(index).ok()
}

/// The filter at `index` of [`FILTERS`] (no filter for one it does not have).
pub fn filter_at(index: u8) -> &'static dyn Filter {
    FILTERS
        .get(usize::from(index))
        .copied()
        .unwrap_or(&filters::NoFilter)
}

pub fn filter_index_of(filter: &dyn Filter) -> Option<u8> {
    let index = FILTERS.iter().position(|f| f.code() == filter.code())?;
    u8::try_from(index).ok()
}

/// The codec `name` (any case).
pub fn codec_named(name: &str) -> Option<&'static dyn Codec> {
    CODECS
        .iter()
        .copied()
        .find(|c| c.name().eq_ignore_ascii_case(name))
}

pub fn codec_by_code(code: u64) -> Option<&'static dyn Codec> {
    CODECS.iter().copied().find(|c| c.code() == code)
}

/// The filter `name` (any case).
pub fn filter_named(name: &str) -> Option<&'static dyn Filter> {
    FILTERS
        .iter()
        .copied()
        .find(|f| f.name().eq_ignore_ascii_case(name))
}

pub fn filter_by_code(code: u64) -> Option<&'static dyn Filter> {
    FILTERS.iter().copied().find(|f| f.code() == code)
}

/// "none, byte or bit".
pub fn filter_names() -> String {
    or_list(FILTERS.iter().map(|f| f.name()))
}

pub fn or_list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => (*last).to_string(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_are_unique() {
        for (i, a) in CODECS.iter().enumerate() {
            for b in CODECS.iter().skip(i + 1) {
                assert_ne!(a.code(), b.code(), "{} and {}", a.name(), b.name());
                assert_ne!(a.name(), b.name());
            }
        }
        for (i, a) in FILTERS.iter().enumerate() {
            for b in FILTERS.iter().skip(i + 1) {
                assert_ne!(a.code(), b.code(), "{} and {}", a.name(), b.name());
                assert_ne!(a.name(), b.name());
            }
        }
    }

    #[test]
    fn the_on_disk_codes_of_released_encodings_never_change() {
        let codes: Vec<(&str, u64)> = CODECS.iter().map(|c| (c.name(), c.code())).collect();
        assert_eq!(
            codes,
            [("none", 0), ("lz4", 1), ("zlib", 2), ("zstd", 3)],
            "codes are on-disk values"
        );
        let codes: Vec<(&str, u64)> = FILTERS.iter().map(|f| (f.name(), f.code())).collect();
        assert_eq!(codes, [("none", 0), ("byte", 1), ("bit", 2)]);
    }

    #[test]
    fn none_comes_first_and_levels_fit_the_compact_form() {
        assert_eq!(CODECS[0].code(), none::CODE);
        assert_eq!(FILTERS[0].name(), "none");
        assert_eq!(FILTERS[1].name(), "byte");
        assert_eq!(FILTERS[2].name(), "bit");
        for c in CODECS {
            if let Some(l) = c.levels() {
                assert!(i8::try_from(l.min).is_ok() && i8::try_from(l.max).is_ok());
            }
        }
    }

    #[test]
    fn lookups_ignore_case_and_lists_read_as_english() {
        assert_eq!(codec_named("ZSTD").map(|c| c.code()), Some(3));
        assert!(codec_named("snappy").is_none());
        assert_eq!(filter_named("Bit").map(|f| f.code()), Some(2));
        assert_eq!(
            or_list(CODECS.iter().map(|c| c.name())),
            "none, lz4, zlib or zstd"
        );
        assert_eq!(filter_names(), "none, byte or bit");
    }
}
