//! Module arguments (`--loadmodule path name value …`), checked strictly and Redis-free: an
//! unknown name, a name without a value, a name given twice or a bad value is an error that names
//! the setting and lists what is valid. `config.rs` registers the settings from the result.

/// The values a setting accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Valid {
    /// An integer in `min..=max`.
    Int { min: i64, max: i64 },
    /// One of these names (matched case-insensitively, as `CONFIG SET` does).
    OneOf(Vec<String>),
}

/// Checks `args` (pairs of name and value) against `valid` and returns each given setting as
/// (its canonical name, its canonical value).
pub fn parse_module_args(
    args: &[&[u8]],
    valid: &[(&'static str, Valid)],
) -> Result<Vec<(&'static str, String)>, String> {
    let names = || valid.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ");
    let mut given: Vec<(&'static str, String)> = Vec::new();
    let mut pairs = args.chunks(2);
    for pair in pairs.by_ref() {
        let (name, value) = match pair {
            [name, value] => (*name, *value),
            [name] => {
                return Err(format!(
                    "module setting '{}' has no value (arguments are name value pairs; valid settings: {})",
                    name.escape_ascii(),
                    names()
                ))
            }
            _ => break,
        };
        let Some((canonical, accepts)) = valid
            .iter()
            .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name))
        else {
            return Err(format!(
                "unknown module setting '{}'{} (valid settings: {})",
                name.escape_ascii(),
                suggestion(name, valid),
                names()
            ));
        };
        if given.iter().any(|(n, _)| n == canonical) {
            return Err(format!("module setting '{canonical}' is given twice"));
        }
        let value = check_value(canonical, accepts, value)?;
        given.push((canonical, value));
    }
    Ok(given)
}

fn check_value(name: &str, accepts: &Valid, value: &[u8]) -> Result<String, String> {
    let text = std::str::from_utf8(value).unwrap_or("");
    match accepts {
        Valid::Int { min, max } => match text.parse::<i64>() {
            Ok(n) if (*min..=*max).contains(&n) => Ok(n.to_string()),
            _ => Err(format!(
                "module setting '{name}' must be an integer from {min} to {max}, got '{}'",
                value.escape_ascii()
            )),
        },
        Valid::OneOf(choices) => choices
            .iter()
            .find(|c| c.eq_ignore_ascii_case(text))
            .cloned()
            .ok_or_else(|| {
                format!(
                    "module setting '{name}' must be one of {}, got '{}'",
                    choices.join(", "),
                    value.escape_ascii()
                )
            }),
    }
}

/// ` (did you mean 'compression'?)` for a name within two edits of a valid one.
fn suggestion(name: &[u8], valid: &[(&'static str, Valid)]) -> String {
    let lower = name.to_ascii_lowercase();
    valid
        .iter()
        .map(|(n, _)| (edit_distance(&lower, n.as_bytes()), *n))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, n)| format!(" (did you mean '{n}'?)"))
        .unwrap_or_default()
}

/// Levenshtein distance, for the short names above.
fn edit_distance(a: &[u8], b: &[u8]) -> usize {
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous
                .get(j)
                .map_or(usize::MAX, |d| d + usize::from(ca != cb));
            let delete = previous.get(j + 1).map_or(usize::MAX, |d| d + 1);
            let insert = current.get(j).map_or(usize::MAX, |d| d + 1);
            current.push(substitute.min(delete).min(insert));
        }
        previous = current;
    }
    previous.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> Vec<(&'static str, Valid)> {
        vec![
            (
                "compression",
                Valid::OneOf(vec!["none".into(), "lz4".into(), "zlib".into()]),
            ),
            ("zlib-level", Valid::Int { min: 0, max: 9 }),
        ]
    }

    fn parse(args: &[&str]) -> Result<Vec<(&'static str, String)>, String> {
        let raw: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        parse_module_args(&raw, &valid())
    }

    #[test]
    fn known_settings_are_returned_in_canonical_form() {
        assert_eq!(parse(&[]), Ok(vec![]));
        assert_eq!(
            parse(&["COMPRESSION", "Zlib", "zlib-level", "09"]),
            Ok(vec![
                ("compression", "zlib".to_string()),
                ("zlib-level", "9".to_string())
            ])
        );
    }

    #[test]
    fn a_misspelt_name_is_refused_with_a_suggestion_and_the_valid_names() {
        let e = parse(&["compresion", "zlib"]).unwrap_err();
        assert_eq!(
            e,
            "unknown module setting 'compresion' (did you mean 'compression'?) \
             (valid settings: compression, zlib-level)"
        );
        let e = parse(&["frobnicate", "1"]).unwrap_err();
        assert!(!e.contains("did you mean"), "{e}");
    }

    #[test]
    fn a_name_without_a_value_is_refused() {
        let e = parse(&["compression", "lz4", "zlib-level"]).unwrap_err();
        assert!(
            e.starts_with("module setting 'zlib-level' has no value"),
            "{e}"
        );
    }

    #[test]
    fn bad_values_and_repeats_are_refused() {
        assert_eq!(
            parse(&["zlib-level", "10"]).unwrap_err(),
            "module setting 'zlib-level' must be an integer from 0 to 9, got '10'"
        );
        assert!(parse(&["zlib-level", "x"]).is_err());
        assert_eq!(
            parse(&["compression", "brotli"]).unwrap_err(),
            "module setting 'compression' must be one of none, lz4, zlib, got 'brotli'"
        );
        assert_eq!(
            parse(&["compression", "lz4", "compression", "zlib"]).unwrap_err(),
            "module setting 'compression' is given twice"
        );
    }

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance(b"compresion", b"compression"), 1);
        assert_eq!(edit_distance(b"", b"abc"), 3);
        assert_eq!(edit_distance(b"shuffel", b"shuffle"), 2);
    }
}
