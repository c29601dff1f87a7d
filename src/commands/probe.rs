//! `NDARRAY.PROBE key [SAMPLE bytes]`: the server measures, on a sample of the stored array,
//! what each codec, level and filter would store and how fast, best ratio first.

use super::parse::parse_probe;
use super::reply::{self, Field};
use super::{arg, rest};
use crate::array::NdArray;
use crate::codec::auto::{self, Trial};
use crate::error::{Error, Result};
use crate::host::datatype::Key;
use crate::offload;
use redis_module::{Context, RedisString, RedisValue};

/// Runs `sample` in this many pieces spread over the array, so one region does not decide.
const SAMPLE_PIECES: usize = 8;
/// Where the trials must run on the main thread (MULTI, Lua, `threads 0`, …), the sample is at
/// most this and each trial runs once: the 24 trials then hold the main thread for tens of
/// milliseconds (zlib-9 is the slow one), not seconds.
const INLINE_MAX_SAMPLE: u64 = 64 << 10;

pub fn probe(ctx: &Context, args: &[RedisString]) -> Result<RedisValue> {
    let sample_bytes = parse_probe(&rest(args, 2))?;
    let key = Key::open(ctx, arg(args, 1)?, false);
    let Some(array) = key.array()? else {
        return Err(Error::no_key("no such key"));
    };
    // The trials compress and decompress the sample once per encoding: that is the work that
    // decides whether it leaves the main thread.
    let work = sample_bytes
        .min(array.nbytes())
        .saturating_mul(auto::probe_encodings(array.dtype().itemsize()).len() as u64);
    if offload::should_offload(ctx, work) {
        let snapshot = array.clone();
        // What the job holds while it runs: the sample and one trial's output.
        let held = sample_bytes.min(array.nbytes()).saturating_mul(2);
        // Probes run on the background lane: four maximal ones queued at once hold one thread,
        // not the pool that other clients' reads and writes need.
        return offload::run_in_background(ctx, held, move |job| {
            reply_probe(&job.reply_context(), &snapshot, sample_bytes, 8)
        });
    }
    reply_probe(ctx, array, sample_bytes.min(INLINE_MAX_SAMPLE), 1)
}

fn reply_probe(
    ctx: &Context,
    array: &NdArray,
    sample_bytes: u64,
    max_repeats: usize,
) -> Result<RedisValue> {
    let sample = array.sample(sample_bytes, SAMPLE_PIECES)?;
    let trials = auto::probe(array.dtype().itemsize(), &sample, max_repeats)
        .map_err(crate::array::ArrayError::from)?;
    crate::host::reply::array(ctx, trials.len());
    for t in &trials {
        reply::map(ctx, &row(t));
    }
    Ok(RedisValue::NoReply)
}

/// One row: codec, level (nil for codecs without levels), filter, ratio, encode and decode
/// speed in MB/s (10^6 bytes of raw data per second, one thread).
fn row(t: &Trial) -> [(&'static str, Field<'static>); 6] {
    let mbps = |seconds: f64| significant(t.raw_bytes as f64 / seconds.max(1e-9) / 1e6, 3);
    let level = t.encoding.compression.level();
    [
        ("codec", Field::Str(t.encoding.compression.name().into())),
        (
            "level",
            level.map_or(Field::Null, |l| Field::Int(i64::from(l))),
        ),
        ("filter", Field::Str(t.encoding.shuffle.name().into())),
        ("ratio", Field::Float(significant(t.ratio(), 4))),
        ("encode_mbps", Field::Float(mbps(t.encode_seconds))),
        ("decode_mbps", Field::Float(mbps(t.decode_seconds))),
    ]
}

/// `x` to `digits` significant digits: a tiny array's speed (a small fraction of one MB/s) stays
/// readable instead of rounding to 0.
fn significant(x: f64, digits: i32) -> f64 {
    if !x.is_finite() || x == 0.0 {
        return x;
    }
    let scale = 10f64.powi(digits - 1 - x.abs().log10().floor() as i32);
    (x * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::significant;

    #[test]
    fn figures_keep_their_significant_digits() {
        assert_eq!(significant(1234.567, 3), 1230.0);
        assert_eq!(significant(0.034567, 3), 0.0346);
        assert_eq!(significant(3.69421, 4), 3.694);
        assert_eq!(significant(0.0, 3), 0.0);
    }
}
