//! The entry point of the `set_args` fuzz target (`fuzz/`), and the unit tests that replay its
//! saved inputs. It feeds arbitrary `NDARRAY.SET` arguments to the module's own argument parsers
//! and write steps (`commands::parse`, `commands::steps`, which the handlers call), so it lives
//! here, beside them, and they stay crate-private. Compiled only for that target (feature
//! `fuzzing`) and the unit tests, never into the module.
//!
//! The other targets fuzz the core crate directly: their entry points are the `ndarray-fuzz`
//! crate (`crates/ndarray-fuzz`). As there, errors are ignored and an accepted input must survive
//! its round trips, checked with `assert!` so that libFuzzer reports a violated invariant as a
//! crash.
//!
//! `make fuzz` runs the target; `fuzz/regressions/set_args/` holds every input that once crashed,
//! replayed by the unit tests below, as are its seeds (`fuzz/seeds/set_args/`, written with the
//! other targets' by `cargo test -p ndarray-fuzz -- --ignored`).

// These are test entry points, never called by the module: a panic here is how a broken invariant
// is reported to the fuzzer, so the crate's no-panic lints do not apply to this file.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use crate::array::npy::{decode_npy, encode_npy};
use crate::array::{DType, NdArray, Shape};
use crate::codec::Encoding;
use crate::commands::parse::{parse_data, parse_new_shape, parse_read, parse_set, DataArg};
use crate::commands::steps::{
    append_new, append_rows, mset_value, reshape_to, SetData, SetValue, WriteSettings,
};
use crate::persist;

/// Size limit of the arrays the target writes.
const SET_MAX_BYTES: u64 = 1 << 20;
/// The settings the target writes with: the module's defaults (config.rs), except the smallest
/// chunks any store may have (4 KiB: inputs over that have several chunks; smaller ones are refused
/// by every loader) and a limit of [`SET_MAX_BYTES`].
fn settings() -> WriteSettings {
    WriteSettings {
        chunk_bytes: crate::array::store::MIN_CHUNK_BYTES as usize,
        block_bytes: crate::codec::blocks::MIN_BLOCK_BYTES,
        max_array_bytes: SET_MAX_BYTES,
        ..WriteSettings::current()
    }
}

/// `NDARRAY.SET` arguments (after the key), split on 0x00 ([`split_args`]): an accepted request
/// runs SET's own steps (decode, cast, resolve the encoding, encode in 4 KiB chunks) and must read
/// back exactly the decoded bytes, survive RDB, `.npy` and AOF round trips. The other argument
/// parsers get the same arguments; data they accept is appended (APPEND's steps) to the SET array
/// or to a sample one.
pub fn set_args(data: &[u8]) {
    let args = split_args(data);
    let _ = parse_read(&args);
    let _ = parse_new_shape(&args);
    // MSETEX's and STACK's options, and their numkeys, from the same arguments.
    let _ = crate::commands::parse::parse_msetex_options(&args);
    let _ = crate::commands::parse::parse_stack_options(&args);
    // REDUCE's options and APPLY's arguments, from the same arguments.
    let _ = crate::commands::parse::parse_reduce_options(&args);
    let _ = crate::commands::parse::parse_apply(&args);
    if let Some(first) = args.first() {
        let _ = crate::commands::parse::parse_numkeys(first, 2, args.len().saturating_sub(1));
    }
    let settings = settings();
    let appended = parse_data(&args).ok();
    let Ok(req) = parse_set(&args) else {
        if let Some(data) = appended {
            append_to_sample(data, &settings);
        }
        return;
    };
    let Ok(mut value) = SetValue::prepare(req.input, req.cast, req.store, &settings) else {
        return;
    };
    // ATTR options: within the limits or refused, as the handler does.
    let Ok(attrs) = crate::array::attrs::Attrs::from_pairs(req.attrs.iter().copied()) else {
        return;
    };
    value.attrs = attrs;
    let SetData::Elements(elements, _) = value.data.clone() else {
        // ENCODED data: a payload that loads is stored as it is, one that does not is refused.
        let _ = value.encode(&settings);
        return;
    };
    let array = value
        .encode(&settings)
        .expect("decoded elements always encode");
    let mut back = Vec::new();
    array.read_all(&mut back).expect("read_all");
    assert!(
        back == *elements.data,
        "SET pipeline did not read back its data"
    );
    assert_saves_and_loads(&array);
    // GET's default reply is a .npy file of the same array.
    let file = encode_npy(array.dtype(), array.shape(), &back);
    let npy = decode_npy(&file, u64::MAX).expect("GET's .npy decodes");
    assert!(npy.data == back && npy.shape == *array.shape() && npy.dtype == array.dtype());
    assert_aof_rewrite_rebuilds(&array);
    // `SET key NPY file` (no options): `file` is also APPEND and MSET data.
    if let Some(DataArg::Npy(file)) = appended {
        assert_npy_appends(&array, &back, file, &settings);
    }
}

/// The arguments of a [`set_args`] input: split on 0x00, except that the argument after an `NPY`
/// keyword is the rest of the input (a `.npy` file holds zero bytes).
fn split_args(data: &[u8]) -> Vec<&[u8]> {
    let mut args = Vec::new();
    let mut rest = data;
    while let Some(at) = rest.iter().position(|&b| b == 0) {
        let arg = &rest[..at];
        rest = &rest[at + 1..];
        args.push(arg);
        if arg.eq_ignore_ascii_case(b"NPY") {
            break;
        }
    }
    args.push(rest);
    args
}

/// `array` was SET from the `.npy` `file` (whose elements read back as `raw`) without options:
/// MSET must store the same array, APPEND on a missing key too (unless 0-d), and APPEND of `file`
/// to `array` must double axis 0.
fn assert_npy_appends(array: &NdArray, raw: &[u8], file: &[u8], settings: &WriteSettings) {
    let stored = mset_value(3, b"key", file, settings).expect("MSET takes what SET took");
    assert_eq!(&stored, array, "MSET stores another array than SET");
    let dims = array.shape().dims();
    match (append_new(DataArg::Npy(file), settings), dims.first()) {
        (Ok((created, len0)), Some(&want)) => {
            assert_eq!(len0, want, "APPEND created an array of another length");
            assert_eq!(&created, array, "APPEND creates another array than SET");
        }
        (Err(_), None) => {}
        (Ok(_), None) => panic!("APPEND created an array from 0-d data"),
        (Err(e), Some(_)) => panic!("APPEND refused to create from SET's data: {e:?}"),
    }
    let mut doubled = array.clone();
    let Ok(new_len) = append_rows(&mut doubled, DataArg::Npy(file), settings.max_array_bytes)
    else {
        // A 0-d array, rows of no bytes, or over the size limit.
        assert_eq!(&doubled, array, "a refused APPEND changed the array");
        return;
    };
    let len0 = dims
        .first()
        .copied()
        .expect("APPEND to a 0-d array is refused");
    assert_eq!(new_len, 2 * len0, "APPEND of the array's own file");
    assert_eq!(doubled.shape().dims().first(), Some(&new_len));
    let mut got = Vec::new();
    doubled.read_all(&mut got).expect("read_all after APPEND");
    assert!(got == [raw, raw].concat(), "APPEND wrote other rows");
    assert_saves_and_loads(&doubled);
}

/// The elements of [`append_sample`]: float32 0.0 to 5.0.
fn append_sample_raw() -> Vec<u8> {
    (0..6u8).flat_map(|i| f32::from(i).to_le_bytes()).collect()
}

/// The array [`set_args`] appends data-only inputs to: float32 of shape (2, 3).
fn append_sample(settings: &WriteSettings) -> NdArray {
    let shape = Shape::new(vec![2, 3], DType::Float32).expect("shape");
    let encoding = settings
        .default_encoding(4)
        .expect("the fixed settings name a codec")
        .for_data(&append_sample_raw(), 4);
    NdArray::encode(
        DType::Float32,
        shape,
        &append_sample_raw(),
        encoding,
        settings.chunk_bytes,
    )
    .expect("encode")
}

/// APPEND (its own steps) of `data` to [`append_sample`]: accepted rows keep the old ones, extend
/// axis 0 by whole rows and survive RDB and AOF round trips.
fn append_to_sample(data: DataArg, settings: &WriteSettings) {
    const ROW: usize = 3 * 4;
    let raw = append_sample_raw();
    let sample = append_sample(settings);
    let mut array = sample.clone();
    let Ok(new_len) = append_rows(&mut array, data, settings.max_array_bytes) else {
        assert_eq!(array, sample, "a refused APPEND changed the array");
        return;
    };
    assert!(new_len >= 2, "APPEND shortened the array");
    assert_eq!(array.shape().dims(), [new_len, 3]);
    let mut got = Vec::new();
    array.read_all(&mut got).expect("read_all after APPEND");
    assert_eq!(got.len() as u64, new_len * ROW as u64);
    assert!(got[..2 * ROW] == raw, "APPEND changed the old rows");
    assert_saves_and_loads(&array);
    assert_aof_rewrite_rebuilds(&array);
}

/// Replays the AOF rewrite of a small array (in 256-byte pieces, so big ones take the
/// SET + APPEND + RESHAPE path) through the command parsers and the commands' own steps: it must
/// rebuild the same dtype, shape, encoding and elements.
fn assert_aof_rewrite_rebuilds(array: &NdArray) {
    if array.nbytes() > 1 << 16 {
        return;
    }
    let mut commands: Vec<Vec<Vec<u8>>> = Vec::new();
    crate::aof::rewrite(array, 256, |c| commands.push(c.to_vec())).expect("AOF rewrite");
    // The server replaying the file has the default settings and the array's chunk size.
    let settings = WriteSettings {
        chunk_bytes: array.store().chunk_bytes() as usize,
        max_array_bytes: u64::MAX,
        ..WriteSettings::current()
    };
    let mut rebuilt: Option<NdArray> = None;
    for command in &commands {
        let (name, args) = command.split_first().expect("a command has a name");
        let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        let name = String::from_utf8_lossy(name);
        match name.as_ref() {
            "NDARRAY.SET" => {
                let req = parse_set(&args).expect("rewritten SET parses");
                let mut value = SetValue::prepare(req.input, req.cast, req.store, &settings)
                    .expect("rewritten SET is valid");
                value.attrs = crate::array::attrs::Attrs::from_pairs(req.attrs.iter().copied())
                    .expect("rewritten attributes are within the limits");
                rebuilt = Some(value.encode(&settings).expect("rewritten SET encodes"));
            }
            "NDARRAY.APPEND" => {
                let data = parse_data(&args).expect("rewritten APPEND parses");
                assert!(matches!(data, DataArg::Blob(_)), "APPEND of BLOB data");
                let target = rebuilt.as_mut().expect("APPEND after SET");
                append_rows(target, data, settings.max_array_bytes)
                    .expect("rewritten APPEND applies");
            }
            "NDARRAY.RESHAPE" => {
                let dims = parse_new_shape(&args).expect("rewritten RESHAPE parses");
                let target = rebuilt.as_mut().expect("RESHAPE after SET");
                reshape_to(target, dims).expect("rewritten RESHAPE applies");
            }
            "NDARRAY.STAMP" => {
                let at: u64 = std::str::from_utf8(args.first().copied().unwrap_or_default())
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .expect("rewritten STAMP has a time");
                rebuilt
                    .as_mut()
                    .expect("STAMP after SET")
                    .set_updated_at(at);
            }
            other => panic!("AOF rewrite emitted {other}"),
        }
    }
    let rebuilt = rebuilt.expect("AOF rewrite emitted a SET");
    assert_eq!(rebuilt.dtype(), array.dtype());
    assert_eq!(rebuilt.shape(), array.shape());
    // An AOF rewrite names the codec, level and filter; the chunk and block sizes are the
    // replaying server's settings.
    let normal = |e: Encoding| {
        Encoding::new(e.compression, e.shuffle, array.dtype().itemsize()).with_block_bytes(0, 1, 0)
    };
    assert_eq!(
        normal(rebuilt.encoding()),
        normal(array.encoding()),
        "AOF encoding"
    );
    let (mut want, mut got) = (Vec::new(), Vec::new());
    array.read_all(&mut want).expect("read_all");
    rebuilt
        .read_all(&mut got)
        .expect("read_all of the rebuilt array");
    assert!(got == want, "AOF rewrite rebuilt other elements");
    assert_eq!(
        rebuilt.meta(),
        array.meta(),
        "AOF rewrite rebuilt other metadata"
    );
}

/// Saves `array` in its encoded form (the one RDB and DUMP hold) and loads it back: must be equal,
/// and saving that gives the same bytes.
fn assert_saves_and_loads(array: &NdArray) {
    let saved = persist::to_payload(array);
    let loaded = persist::from_payload(&saved).expect("a saved array loads");
    assert_eq!(&loaded, array, "save/load round trip");
    assert!(
        persist::to_payload(&loaded) == saved,
        "the encoded form is not canonical"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replay(kind: &str) -> usize {
        ndarray_fuzz::replay_saved(kind, "set_args", set_args)
    }

    // A wrong path to `fuzz/` would replay nothing and pass: the replays check that they found
    // inputs.
    #[test]
    fn every_saved_crash_stays_fixed() {
        assert!(
            replay("regressions") > 0,
            "no inputs in fuzz/regressions/set_args/"
        );
    }

    /// The crashes the fuzzer found, minimised by hand (their raw inputs are in
    /// fuzz/regressions/set_args/).
    #[test]
    fn minimal_crashes_stay_fixed() {
        // VALUES with no values multiplied the dims unchecked (overflow panic in parse_source).
        set_args(b"int8\x004294967296\x004294967296\x00VALUES");
    }

    #[test]
    fn every_seed_runs_clean() {
        assert!(replay("seeds") > 0, "no inputs in fuzz/seeds/set_args/");
    }

    /// The seeds (written by ndarray-fuzz's `write_seed_corpora`) reach past the parsers.
    #[test]
    fn checked_in_seeds_take_the_accepting_paths() {
        let files = ndarray_fuzz::saved_inputs("seeds", "set_args");
        assert!(!files.is_empty(), "no inputs in fuzz/seeds/set_args/");
        for file in files {
            let bytes = std::fs::read(&file).unwrap();
            let args = split_args(&bytes);
            let name = file.file_name().unwrap().to_string_lossy();
            let accepted = match name.as_ref() {
                "read_options" => parse_read(&args).is_ok(),
                "dims" => parse_new_shape(&args).is_ok(),
                _ if name.starts_with("append_") => {
                    let data = parse_data(&args).unwrap();
                    let max = settings().max_array_bytes;
                    append_rows(&mut append_sample(&settings()), data, max).is_ok()
                }
                _ => parse_set(&args).is_ok_and(|r| {
                    SetValue::prepare(r.input, r.cast, r.store, &settings()).is_ok()
                }),
            };
            assert!(accepted, "seed {} is refused", file.display());
        }
    }

    #[test]
    fn truncated_and_garbage_inputs_are_refused_quietly() {
        // The checked-in seeds of every target, so that set_args also gets the others' inputs.
        let targets = ["npy", "selection", "set_args", "chunk", "rdb", "payload"];
        let checked_in: Vec<Vec<u8>> = targets
            .iter()
            .flat_map(|target| ndarray_fuzz::saved_inputs("seeds", target))
            .map(|file| std::fs::read(file).unwrap())
            .collect();
        assert!(!checked_in.is_empty(), "no inputs in fuzz/seeds/");
        for bytes in checked_in {
            for cut in [
                0,
                1,
                5,
                6,
                9,
                bytes.len() / 2,
                bytes.len().saturating_sub(1),
            ] {
                set_args(&bytes[..cut.min(bytes.len())]);
            }
        }
        set_args(&[0xff; 64]);
        set_args(&[0; 64]);
    }
}
