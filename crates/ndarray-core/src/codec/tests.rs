use super::*;

fn smooth_f32(n: usize) -> Vec<u8> {
    // Runs of equal values: compressible with or without a filter.
    (0..n)
        .flat_map(|i| ((i / 16) as f32).to_le_bytes())
        .collect()
}

fn every_compression() -> Vec<Compression> {
    let mut out = Vec::new();
    for codec in registry::CODECS {
        if codec.name() == "none" {
            continue;
        }
        match codec.levels() {
            None => out.push(Compression::new(codec, None).unwrap()),
            Some(l) => {
                for level in [l.min, l.default, l.max] {
                    out.push(Compression::new(codec, Some(level)).unwrap());
                }
            }
        }
    }
    out
}

fn every_filter() -> Vec<Shuffle> {
    registry::FILTERS.iter().map(|f| Shuffle::new(*f)).collect()
}

#[test]
fn chunks_below_the_threshold_are_stored_raw_without_an_attempt() {
    let small = vec![0u8; MIN_COMPRESS_BYTES - 4];
    let large = vec![0u8; MIN_COMPRESS_BYTES];
    let lz4 = Compression::named("lz4", None).unwrap();
    let mut codec = ChunkCodec::new(Encoding::new(lz4, Shuffle::BYTE, 4), 4);
    assert_eq!(
        codec.encode(&small).unwrap(),
        None,
        "zeros, yet not compressed"
    );
    assert!(codec.encode(&large).unwrap().is_some());
}

#[test]
fn every_codec_and_filter_round_trips_every_item_size_with_odd_tails() {
    for compression in every_compression() {
        for shuffle in every_filter() {
            for itemsize in [1, 2, 3, 4, 8, 16] {
                // Odd item counts (not a multiple of 8 or 16) and a partial-item tail.
                for extra in [0, 5 * itemsize + 1] {
                    let mut raw = smooth_f32(1000 + itemsize);
                    raw.truncate(raw.len() - raw.len() % itemsize + extra % itemsize);
                    raw.extend(std::iter::repeat_n(7u8, extra));
                    let encoding = Encoding::new(compression, shuffle, itemsize);
                    let mut codec = ChunkCodec::new(encoding, itemsize);
                    let what = format!("{compression:?} {shuffle:?} itemsize {itemsize}");
                    let Some(stored) = codec.encode(&raw).unwrap() else {
                        // zlib level 0 stores deflate blocks uncompressed: never smaller.
                        assert_eq!(compression.to_code(), (2, 0), "{what} did not compress");
                        continue;
                    };
                    assert!(stored.len() < raw.len(), "{what}");
                    let mut back = vec![0; raw.len()];
                    codec.decode(&stored, &mut back).unwrap();
                    assert_eq!(back, raw, "{what}");
                }
            }
        }
    }
}

#[test]
fn incompressible_data_is_left_raw() {
    let mut x: u32 = 12345;
    let raw: Vec<u8> = (0..4096)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (x >> 16) as u8
        })
        .collect();
    for compression in every_compression() {
        let mut codec = ChunkCodec::new(Encoding::new(compression, Shuffle::BYTE, 4), 4);
        assert_eq!(codec.encode(&raw).unwrap(), None, "{compression:?}");
    }
    let mut none = ChunkCodec::new(Encoding::RAW, 4);
    assert_eq!(none.encode(&raw).unwrap(), None);
}

#[test]
fn garbage_and_wrong_lengths_fail_to_decode_without_panicking() {
    let raw = smooth_f32(1000);
    for compression in every_compression() {
        for shuffle in every_filter() {
            let mut codec = ChunkCodec::new(Encoding::new(compression, shuffle, 4), 4);
            let what = format!("{compression:?} {shuffle:?}");
            let Some(stored) = codec.encode(&raw).unwrap() else {
                continue;
            };
            let mut short = vec![0; raw.len() - 4];
            assert!(codec.decode(&stored, &mut short).is_err(), "{what} short");
            let mut long = vec![0; raw.len() + 4];
            assert!(codec.decode(&stored, &mut long).is_err(), "{what} long");
            let mut out = vec![0; raw.len()];
            assert!(
                codec.decode(&stored[..stored.len() / 2], &mut out).is_err(),
                "{what} cut"
            );
            for garbage in [
                &b""[..],
                b"\xff\xff\xff\xff",
                &[0u8; 64],
                b"\x28\xb5\x2f\xfd\0",
            ] {
                assert!(
                    codec.decode(garbage, &mut out).is_err(),
                    "{what} {garbage:?}"
                );
            }
        }
    }
    let mut none = ChunkCodec::new(Encoding::RAW, 4);
    assert!(none.decode(&raw, &mut vec![0; raw.len()]).is_err());
}

#[test]
fn a_filter_is_normalised_away_where_it_cannot_apply() {
    let lz4 = Compression::named("lz4", None).unwrap();
    assert_eq!(
        Encoding::new(Compression::NONE, Shuffle::BYTE, 4).shuffle,
        Shuffle::NONE
    );
    assert_eq!(Encoding::new(lz4, Shuffle::BYTE, 1).shuffle, Shuffle::NONE);
    assert_eq!(Encoding::new(lz4, Shuffle::BYTE, 2).shuffle, Shuffle::BYTE);
    assert_eq!(Encoding::new(lz4, Shuffle::BIT, 1).shuffle, Shuffle::BIT);
}

#[test]
fn codes_round_trip_and_bad_codes_or_levels_are_corrupt() {
    for c in every_compression().into_iter().chain([Compression::NONE]) {
        let (code, level) = c.to_code();
        assert_eq!(Compression::from_code(code, level), Ok(c));
    }
    assert_eq!(
        Compression::named("zstd", Some(-3)).unwrap().to_code(),
        (3, (-3i64) as u64)
    );
    assert!(Compression::from_code(2, 10).is_err());
    assert!(Compression::from_code(3, 23).is_err());
    assert!(Compression::from_code(3, (-8i64) as u64).is_err());
    assert!(Compression::from_code(3, u64::MAX / 2).is_err());
    assert!(Compression::from_code(99, 0).is_err());
    // Codecs without levels ignore the stored level.
    assert_eq!(
        Compression::from_code(1, 5),
        Compression::named("lz4", None)
    );
    assert!(Shuffle::from_code(3).is_err());
}

#[test]
fn levels_are_checked_when_asked_for() {
    assert!(Compression::named("lz4", Some(1)).is_err());
    assert!(Compression::named("zlib", Some(10)).is_err());
    assert!(Compression::named("zstd", Some(22)).is_ok());
    assert_eq!(Compression::named("zstd", None).unwrap().level(), Some(1));
    assert_eq!(Compression::named("lz4", None).unwrap().level(), None);
    assert!(Compression::named("brotli", None).is_err());
}

/// The settings' level checks, where the codec is known (a write's LEVEL is checked when its
/// codec is resolved; see commands::steps).
#[test]
fn a_level_outside_the_codecs_range_names_the_range() {
    let e = Compression::named("zlib", Some(10))
        .unwrap_err()
        .to_string();
    assert_eq!(e, "zlib level must be 0 to 9, got 10");
    let e = Compression::named("zstd", Some(-8))
        .unwrap_err()
        .to_string();
    assert_eq!(e, "zstd level must be -7 to 22, got -8");
    let e = Compression::named("lz4", Some(1)).unwrap_err().to_string();
    assert_eq!(e, "lz4 takes no level");
}
