//! Replicating a big write by its result: `NDARRAY.PUTENCODED key NEW|APPEND payload`.
//!
//! A big NDARRAY.SET or MSET does not reach replicas and the AOF as itself (each would compress
//! the array again, on its main thread) but as the encoded array: payloads of whole chunks, as
//! stored (`persist::replication_pieces`), then `NDARRAY.RESHAPE` and `PEXPIREAT` where needed.
//! Redis wraps the commands of one write in MULTI/EXEC, so no client ever sees a partial array;
//! every intermediate state is a valid array anyway. Any client may send PUTENCODED, so its
//! payload is validated exactly as an RDB value is (every field, every chunk decoded).

use super::{arg, notify};
use crate::array::NdArray;
use crate::config;
use crate::error::{Error, Result};
use crate::host::datatype::Key;
use crate::offload::HeldStrings;
use crate::persist::{self, Pieces};
use redis_module::{Context, RedisString, RedisValue};

/// Largest payload one PUTENCODED carries (a chunk larger than this travels alone): 1 MiB, the
/// smallest `proto-max-bulk-len` Redis accepts, as for AOF rewrites.
pub const PIECE_BYTES: usize = crate::host::datatype::AOF_PIECE_BYTES;

/// A write's encoded form, ready to replicate: the payloads already in Redis strings, built off
/// Redis' lock (the copy of the encoded chunks into them happens on the worker), so that
/// replicating under the lock only hands Redis references.
pub struct Replication {
    payloads: HeldStrings,
    reshape: Option<Vec<u64>>,
    /// The `updated_at` the payloads carry.
    updated_at: u64,
}

/// The replication of `array` (two copies of its stored bytes: into the payloads, then into
/// Redis strings; a worker makes them for a big write).
pub fn prepare(array: &NdArray) -> Replication {
    let Pieces { payloads, reshape } = persist::replication_pieces(array, PIECE_BYTES);
    Replication {
        payloads: HeldStrings::create(&payloads),
        reshape,
        updated_at: array.updated_at(),
    }
}

/// How a write reaches replicas and the AOF.
pub enum Propagation {
    /// As the command itself (small writes).
    Command,
    /// As its encoded value (big writes).
    Encoded(Replication),
    /// Not at all: no AOF, and no replication backlog (no replica has ever attached), so Redis
    /// would drop whatever we replicate. A replica attaching later gets a full sync (RDB).
    Nobody,
}

/// The propagation of a big write about to install: its encoded value if anything consumes it
/// (`propagation::consumed_now`, asked once per command where it installs, so a replica
/// attaching meanwhile is not missed; `prepared` off the lock by a worker, or
/// prepared now), else none.
pub fn big_write(
    ctx: &Context,
    wanted: bool,
    array: &NdArray,
    prepared: Option<Replication>,
) -> Propagation {
    if !wanted {
        if let Some(unneeded) = prepared {
            unneeded.release(ctx);
        }
        return Propagation::Nobody;
    }
    Propagation::Encoded(prepared.unwrap_or_else(|| prepare(array)))
}

impl Replication {
    /// Drops a replication that is not needed (a write that deleted its key), under the lock.
    pub fn release(self, ctx: &Context) {
        self.payloads.release(ctx);
    }
}

/// Replicates `replication` as the value now under `name`, expiring at `expire_at` (Unix ms) if
/// set, with `updated_at` (a STAMP follows when the payloads, prepared on a worker before the
/// install, carry another time). Runs on the main thread or under the lock (`ctx` is then the
/// locked context).
pub fn replicate(
    ctx: &Context,
    name: &RedisString,
    replication: Replication,
    expire_at: Option<i64>,
    updated_at: Option<u64>,
) {
    let stale = updated_at.filter(|t| *t != replication.updated_at);
    let mode = |i: usize| if i == 0 { c"NEW" } else { c"APPEND" };
    replication
        .payloads
        .replicate_each(ctx, c"NDARRAY.PUTENCODED", name, mode);
    replication.payloads.release(ctx);
    let key = name;
    let name = name.as_slice();
    if let Some(dims) = &replication.reshape {
        let dims: Vec<Vec<u8>> = dims.iter().map(|d| d.to_string().into_bytes()).collect();
        let mut args: Vec<&[u8]> = vec![name];
        args.extend(dims.iter().map(Vec::as_slice));
        ctx.replicate("NDARRAY.RESHAPE", &args[..]);
    }
    if let Some(at) = expire_at {
        let at = at.to_string();
        ctx.replicate("PEXPIREAT", &[name, at.as_bytes()][..]);
    }
    super::meta::replicate_stamp(ctx, &[key], stale);
}

/// `NDARRAY.PUTENCODED key NEW|APPEND payload`: NEW stores the payload's array, replacing any
/// value (and its TTL, as SET does); APPEND adds its chunks to the flat array under the key.
pub fn put_encoded(ctx: &Context, args: &[RedisString]) -> Result<RedisValue> {
    if args.len() != 4 {
        return Err(Error::Arity);
    }
    let name = arg(args, 1)?;
    let mode = arg(args, 2)?.as_slice();
    let piece = persist::from_payload(arg(args, 3)?.as_slice())?;
    let max = config::max_array_bytes();
    let mut key = Key::open(ctx, name, true);
    if mode.eq_ignore_ascii_case(b"NEW") {
        check_size(piece.nbytes(), max)?;
        key.set_array(piece)?;
        notify(ctx, c"ndarray.set", name);
    } else if mode.eq_ignore_ascii_case(b"APPEND") {
        let Some(array) = key.array_mut()? else {
            return Err(Error::no_key("no such key"));
        };
        check_size(array.nbytes().saturating_add(piece.nbytes()), max)?;
        // The chunks join the array; its attributes stay; the piece carries the write's time.
        let updated_at = piece.updated_at();
        array.append_chunks(piece)?;
        array.set_updated_at(updated_at);
        notify(ctx, c"ndarray.append", name);
    } else {
        return Err(Error::usage(format!(
            "unknown mode '{}' (expected NEW or APPEND)",
            mode.escape_ascii()
        )));
    }
    ctx.replicate_verbatim();
    Ok(super::reply::ok(ctx))
}

fn check_size(nbytes: u64, max: u64) -> Result<()> {
    if nbytes > max {
        return Err(crate::array::ArrayError::TooLarge(format!(
            "the array would be {nbytes} bytes, over the max-array-bytes limit of {max}"
        ))
        .into());
    }
    Ok(())
}
