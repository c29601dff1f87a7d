//! Whether a write decided earlier may still be installed now.
//!
//! A native write is admitted, applied and propagated in one turn of the main thread: Redis
//! checks, before the command runs, that writes are not paused, that this node is a writable
//! primary, that it owns the keys' hash slot and that `maxmemory` allows it. An offloaded write
//! (`offload.rs`) is admitted when the command arrives but applied later, when its worker is done;
//! meanwhile a `CLIENT PAUSE`, a `FAILOVER`, a `SHUTDOWN` waiting for a replica, a demotion, a
//! resharding or OOM may have come. So the install asks the same questions again, under Redis'
//! lock (or on the main thread), in the order Redis does:
//!
//! 1. writes paused (`RM_AvoidReplicaTraffic`: `CLIENT PAUSE`, `FAILOVER`, `SHUTDOWN`): wait, as a
//!    paused client's command waits; propagating now would abort Redis;
//! 2. no longer a writable primary: `READONLY`, as Redis refuses a write on a read-only replica;
//!    any role change since the command was admitted: `UNBLOCKED`, the error Redis itself gives
//!    blocked clients when the role changes (the client already has it; nothing is installed);
//! 3. in a cluster, the slot has moved: `MOVED` / `ASK` / `TRYAGAIN` as a native write would get;
//!    and `TRYAGAIN` if a slot export (Valkey 9's `CLUSTER MIGRATESLOTS`) started since the command
//!    came: what an install replicates would not reach the target (`migration.rs`);
//! 4. over `maxmemory` with nothing to evict: `OOM`;
//! 5. the last RDB save or AOF write failed (`MISCONF`), or fewer good replicas than
//!    `min-replicas-to-write` are connected (`NOREPLICAS`): Redis refuses writes then too.

use crate::error::Error;
use crate::host::datatype::Key;
use crate::host::server;
use redis_module::{Context, ContextFlags, RedisString, RedisValue};
use std::sync::atomic::{AtomicU64, Ordering};

/// Bumped on every replication role change (server event, main thread).
static ROLE_EPOCH: AtomicU64 = AtomicU64::new(0);

/// A role change happened (`host/server_events.rs`).
pub fn role_changed() {
    ROLE_EPOCH.fetch_add(1, Ordering::Relaxed);
}

/// What may happen to an offloaded write's result now.
#[derive(Debug)]
pub enum Verdict {
    Install,
    /// Writes are paused: keep the client blocked and ask again later.
    Wait,
    /// The write would be refused as a new command now: this is the reply.
    Refuse(Error),
}

/// The facts a write was admitted under, taken on the main thread in the command.
pub struct Admission {
    keys: Vec<Vec<u8>>,
    role_epoch: u64,
    /// Slot exports started before the command came (`migration.rs`).
    export_epoch: u64,
    /// In a cluster: the keys' slot was importing into this node (not yet its own) when the
    /// command came, so the client had sent `ASKING` (Redis would have redirected it otherwise).
    asked: bool,
}

impl Admission {
    /// Records the facts for a write of `keys` (all in one slot: Redis checked that).
    pub fn new(ctx: &Context, keys: Vec<Vec<u8>>) -> Admission {
        let asked = ctx.get_flags().contains(ContextFlags::CLUSTER)
            && keys
                .first()
                .and_then(|k| SlotOwner::read(ctx, key_slot(k)))
                .is_some_and(|o| o.importing_here && o.this_node.is_none());
        Admission {
            keys,
            role_epoch: ROLE_EPOCH.load(Ordering::Relaxed),
            export_epoch: crate::migration::epoch(),
            asked,
        }
    }

    /// Asks the questions of the module doc. `ctx` holds Redis' lock or is the main thread's.
    pub fn verdict(&self, ctx: &Context) -> Verdict {
        if ctx.avoid_replication_traffic() {
            return Verdict::Wait;
        }
        let flags = ctx.get_flags();
        if flags.contains(ContextFlags::SLAVE) && flags.contains(ContextFlags::READONLY) {
            return refuse("READONLY You can't write against a read only replica.");
        }
        if self.role_epoch != ROLE_EPOCH.load(Ordering::Relaxed) {
            return refuse(
                "UNBLOCKED force unblock from blocking operation, instance state changed \
                 (master -> replica?)",
            );
        }
        if flags.contains(ContextFlags::CLUSTER) {
            if crate::migration::exporting() || self.export_epoch != crate::migration::epoch() {
                return refuse(
                    "TRYAGAIN a slot migration started while this write was prepared; retry it",
                );
            }
            if let Some(refusal) = self.slot_refusal(ctx) {
                return Verdict::Refuse(refusal);
            }
        }
        if flags.contains(ContextFlags::OOM) && !flags.contains(ContextFlags::EVICTED) {
            return refuse("OOM command not allowed when used memory > 'maxmemory'.");
        }
        match health_refusal(ctx) {
            Some(refusal) => refuse(refusal),
            None => Verdict::Install,
        }
    }

    /// The redirection a native write of these keys would get now, if any.
    fn slot_refusal(&self, ctx: &Context) -> Option<Error> {
        let first = self.keys.first()?;
        let slot = key_slot(first);
        let Some(owner) = SlotOwner::read(ctx, slot) else {
            return Some(Error::Refused(
                "TRYAGAIN cannot read the cluster's slot map to install the write".into(),
            ));
        };
        let present = self
            .keys
            .iter()
            .filter(|k| {
                let name = RedisString::create_from_slice(ctx.ctx, k);
                Key::open(ctx, &name, false).exists()
            })
            .count();
        let partial = present > 0 && present < self.keys.len();
        let try_again = || {
            Some(Error::Refused(
                "TRYAGAIN Multiple keys request during rehashing of slot".into(),
            ))
        };
        match owner.this_node {
            Some(None) => None,
            // Migrating away: keys still here are written here; missing ones are asked there.
            Some(Some(target)) if present == 0 => {
                Some(Error::Refused(format!("ASK {slot} {target}")))
            }
            Some(Some(_)) if partial => try_again(),
            Some(Some(_)) => None,
            None if owner.importing_here && self.asked => partial.then(try_again).flatten(),
            None => Some(Error::Refused(match owner.elsewhere {
                Some(addr) => format!("MOVED {slot} {addr}"),
                None => "CLUSTERDOWN Hash slot not served".into(),
            })),
        }
    }
}

/// Redis' refusals of writes that depend on the server's health (its `writeCommandsDeniedBy
/// DiskError` and `min-replicas-to-write` checks), read from `INFO` as a client would see them.
fn health_refusal(ctx: &Context) -> Option<&'static str> {
    let info = server::call_text(ctx, "INFO", &["persistence", "replication"])?;
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .map(str::trim)
    };
    let setting = |name: &str| -> Option<String> {
        match ctx.call("CONFIG", &["GET", name]).ok()? {
            RedisValue::Array(pair) => match pair.get(1)? {
                RedisValue::SimpleString(s) | RedisValue::BulkString(s) => Some(s.clone()),
                RedisValue::BulkRedisString(s) => s.try_as_str().ok().map(str::to_string),
                _ => None,
            },
            _ => None,
        }
    };
    if field("aof_last_write_status") == Some("err") {
        return Some("MISCONF Errors writing to the AOF file");
    }
    // Redis refuses only when saving is configured and stop-writes-on-bgsave-error is on.
    if field("rdb_last_bgsave_status") == Some("err")
        && setting("stop-writes-on-bgsave-error").as_deref() == Some("yes")
        && setting("save").is_some_and(|save| !save.trim().is_empty())
    {
        return Some(
            "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to \
             persist to disk. Commands that may modify the data set are disabled, because this \
             instance is configured to report errors during writes if RDB snapshotting fails \
             (stop-writes-on-bgsave-error option). Please check the Redis logs for details about \
             the RDB error.",
        );
    }
    // INFO shows the count of good replicas only when min-replicas-to-write is on.
    let good: u64 = field("min_slaves_good_slaves")?.parse().ok()?;
    let wanted: u64 = setting("min-replicas-to-write")?.parse().ok()?;
    (good < wanted).then_some("NOREPLICAS Not enough good replicas to write.")
}

fn refuse(message: &str) -> Verdict {
    Verdict::Refuse(Error::Refused(message.into()))
}

/// Who serves a slot, from `CLUSTER NODES` (the one view every server version shares that shows
/// migrations: `[slot->-target]` and `[slot-<-source]` on this node's line).
#[derive(Debug, PartialEq, Eq)]
struct SlotOwner {
    /// `Some` when this node owns the slot, with the address it is migrating to, if it is.
    this_node: Option<Option<String>>,
    /// This node is importing the slot.
    importing_here: bool,
    /// The address (`ip:port`) of the primary that owns it, when another node does.
    elsewhere: Option<String>,
}

impl SlotOwner {
    fn read(ctx: &Context, slot: u16) -> Option<SlotOwner> {
        let nodes = server::call_text(ctx, "CLUSTER", &["NODES"])?;
        Some(SlotOwner::parse(&nodes, slot))
    }

    fn parse(nodes: &str, slot: u16) -> SlotOwner {
        let mut owner = SlotOwner {
            this_node: None,
            importing_here: false,
            elsewhere: None,
        };
        let lines: Vec<Vec<&str>> = nodes
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        let address_of = |id: &str| {
            lines
                .iter()
                .find(|f| f.first() == Some(&id))
                .and_then(|f| f.get(1))
                .map(|a| endpoint(a))
        };
        for fields in &lines {
            let (Some(flags), Some(slots)) = (fields.get(2), fields.get(8..)) else {
                continue;
            };
            let myself = flags.split(',').any(|f| f == "myself");
            for entry in slots {
                if let Some(migration) = entry.strip_prefix('[').and_then(|e| e.strip_suffix(']')) {
                    if !myself {
                        continue;
                    }
                    if let Some((s, target)) = migration.split_once("->-") {
                        if s.parse() == Ok(slot) {
                            owner.this_node = Some(address_of(target));
                        }
                    } else if let Some((s, _source)) = migration.split_once("-<-") {
                        owner.importing_here |= s.parse() == Ok(slot);
                    }
                    continue;
                }
                let (lo, hi) = entry.split_once('-').unwrap_or((entry, entry));
                let (Ok(lo), Ok(hi)) = (lo.parse::<u16>(), hi.parse::<u16>()) else {
                    continue;
                };
                if (lo..=hi).contains(&slot) {
                    if myself {
                        owner.this_node.get_or_insert(None);
                    } else {
                        owner.elsewhere = fields.get(1).map(|a| endpoint(a));
                    }
                }
            }
        }
        owner
    }
}

/// `ip:port` from a `CLUSTER NODES` address (`ip:port@cport[,hostname]`).
fn endpoint(address: &str) -> String {
    address
        .split(['@', ','])
        .next()
        .unwrap_or(address)
        .to_string()
}

/// The hash slot of a key, as Redis Cluster computes it: CRC16 (XMODEM) of the key, or of the
/// part between the first `{` and the next `}` when that is not empty, modulo 16384.
pub fn key_slot(key: &[u8]) -> u16 {
    let tagged = key.iter().position(|&b| b == b'{').and_then(|open| {
        let after = key.get(open + 1..)?;
        let close = after.iter().position(|&b| b == b'}')?;
        (close > 0).then(|| after.get(..close)).flatten()
    });
    crc16(tagged.unwrap_or(key)) & 0x3fff
}

fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_slots_match_redis_cluster() {
        // Values from `CLUSTER KEYSLOT`.
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"foo{}{bar}"), key_slot(b"foo{}{bar}"));
        assert_ne!(key_slot(b"foo{}{bar}"), key_slot(b"bar"));
        assert_eq!(key_slot(b"foo{{bar}}zap"), key_slot(b"{bar"));
        assert_eq!(crc16(b"123456789"), 0x31c3);
    }

    const NODES: &str = "\
aaa 127.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-5460 [7000-<-bbb]
bbb 127.0.0.1:7002@17002,host-b master - 0 0 2 connected 5461-10922
ccc 127.0.0.1:7003@17003 master - 0 0 3 connected 10923-16383
";

    #[test]
    fn cluster_nodes_tell_who_owns_a_slot_and_migrations() {
        let mine = SlotOwner::parse(NODES, 100);
        assert_eq!(mine.this_node, Some(None));
        let moved = SlotOwner::parse(NODES, 12000);
        assert_eq!(moved.this_node, None);
        assert_eq!(moved.elsewhere.as_deref(), Some("127.0.0.1:7003"));
        let importing = SlotOwner::parse(NODES, 7000);
        assert!(importing.importing_here);
        assert_eq!(importing.elsewhere.as_deref(), Some("127.0.0.1:7002"));
        let own_migrating = "aaa 1.2.3.4:1@2 myself,master - 0 0 1 connected 0-16383 [5->-bbb]\n\
                             bbb 5.6.7.8:9@10 master - 0 0 2 connected\n";
        assert_eq!(
            SlotOwner::parse(own_migrating, 5).this_node,
            Some(Some("5.6.7.8:9".to_string()))
        );
    }
}
