//! Valkey 9's atomic slot migration (`CLUSTER MIGRATESLOTS`) of slots holding arrays, on a real
//! three-node cluster: under a client's writes (small ones inline, big ones on workers) every
//! acknowledged write ends on the slot's new owner, as a serial model of the acknowledged writes
//! says; values, attributes, `updated_at` and TTLs move; nothing stays on the source. A cancelled
//! migration leaves the source as it was. Other servers have no atomic slot migration: the tests
//! check that and stop.

mod common;
mod util;

use redis::{Connection, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use util::*;

const MIB: usize = 1 << 20;

/// The slot of `tag`, the node owning it and another node, and the nodes' ids.
fn slot_and_nodes(nodes: &[common::Server], tag: &str) -> (u16, usize, usize, Vec<String>) {
    let (slot, ids, owner) = common::slot_owner(nodes, tag);
    (slot, owner, (owner + 1) % nodes.len(), ids)
}

fn set_blob(
    con: &mut Connection,
    key: &str,
    bytes: &[u8],
    extra: &[&str],
) -> redis::RedisResult<Value> {
    redis::cmd("NDARRAY.SET")
        .arg(key)
        .arg("uint8")
        .arg(bytes.len())
        .arg(extra)
        .arg("BLOB")
        .arg(bytes)
        .query(con)
}

/// Arrays of every kind in the slot of `tag`: small, compressed and bigger than
/// proto-max-bulk-len (lowered to 1 MiB on every node afterwards, so the snapshot must carry them
/// in pieces), uncompressed, with attributes and a TTL. Returns their names.
fn fill_slot(con: &mut Connection, tag: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut add = |name: String, bytes: Vec<u8>, extra: &[&str]| {
        set_blob(con, &name, &bytes, extra).unwrap();
        names.push(name);
    };
    add(format!("{{{tag}}}small"), noise(512, 1), &[]);
    add(
        format!("{{{tag}}}attrs"),
        noise(4096, 2),
        &["ATTR", "model", "m1", "EX", "600"],
    );
    let smooth: Vec<u8> = (0..6 * MIB).map(|i| ((i / 4096) % 251) as u8).collect();
    add(format!("{{{tag}}}zstd"), smooth, &["COMPRESS", "zstd"]);
    add(
        format!("{{{tag}}}none"),
        noise(3 * MIB, 4),
        &["COMPRESS", "none"],
    );
    for i in 0..12 {
        add(
            format!("{{{tag}}}bulk{i}"),
            noise(8 * MIB, 10 + i),
            &["COMPRESS", "none"],
        );
    }
    names
}

fn config_set_all(nodes: &[common::Server], name: &str, value: &str) {
    for node in nodes {
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg(name)
            .arg(value)
            .query(&mut node.conn())
            .unwrap();
    }
}

#[test]
fn migrating_a_slot_under_writes_keeps_every_acknowledged_write() {
    let (nodes, _cluster) = common::start_cluster();
    if !has_atomic_slot_migration(&mut nodes[0].conn()) {
        eprintln!("skipped: this server has no CLUSTER MIGRATESLOTS");
        return;
    }
    let tag = "m";
    let (slot, a, b, ids) = slot_and_nodes(&nodes, tag);
    let mut source = nodes[a].conn();
    let kept = fill_slot(&mut source, tag);
    // The snapshot must carry arrays bigger than proto-max-bulk-len in pieces (the writer's 2 MiB
    // arguments still fit on the source).
    config_set_all(&nodes[b..=b], "proto-max-bulk-len", "1mb");
    let before: Vec<(String, Value, Value)> = kept
        .iter()
        .map(|k| {
            (
                digest(&mut source, k),
                info(&mut source, k)["updated_at"].clone(),
                info(&mut source, k)["dtype"].clone(),
            )
        })
        .collect();
    let ttl_before: i64 = redis::cmd("PTTL")
        .arg(format!("{{{tag}}}attrs"))
        .query(&mut source)
        .unwrap();

    // The writer: SETs of 2 MiB (on a worker) and 512 bytes (inline) to ten keys, and
    // SETSLICEs, until the slot has moved. `model` holds each key's last acknowledged bytes.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let mut con = nodes[a].conn();
        std::thread::spawn(move || {
            let mut model: HashMap<String, Vec<u8>> = HashMap::new();
            let (mut refused, mut i) = (0u64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                // Big and small writes go to keys of their own, so a big write's loss would not
                // be hidden by a later small write of the same key.
                let big = i % 2 == 0;
                let key = format!("{{{tag}}}{}{}", if big { "big" } else { "small" }, i % 5);
                let reply = match (i % 3, model.get(&key)) {
                    (0, Some(old)) if old.len() >= 64 => {
                        let patch = noise(64, i);
                        let reply = redis::cmd("NDARRAY.SETSLICE")
                            .arg(&key)
                            .arg("0:64")
                            .arg("BLOB")
                            .arg(&patch)
                            .query::<Value>(&mut con);
                        reply.map(|v| (v, None, Some(patch)))
                    }
                    _ => {
                        // Big: 2 MiB that compress (a worker encodes them for milliseconds).
                        let bytes = if big {
                            (0..2 * MIB)
                                .map(|j| ((j / 64 + i as usize) % 251) as u8)
                                .collect()
                        } else {
                            noise(512, i)
                        };
                        set_blob(&mut con, &key, &bytes, &[]).map(|v| (v, Some(bytes), None))
                    }
                };
                match reply {
                    Ok((_, Some(bytes), _)) => {
                        model.insert(key, bytes);
                    }
                    Ok((_, None, Some(patch))) => {
                        if let Some(old) = model.get_mut(&key) {
                            old[..64].copy_from_slice(&patch);
                        }
                    }
                    Ok(_) => {}
                    Err(e) if e.code() == Some("MOVED") => break,
                    Err(e) => {
                        assert_eq!(e.code(), Some("TRYAGAIN"), "{e}");
                        refused += 1;
                    }
                }
            }
            (model, refused, i)
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(300));
    migrate_slot(&mut source, slot, &ids[b]);
    let (state, message) = wait_for_slot_migration(&mut source, slot);
    assert_eq!(state, "success", "{message}");
    stop.store(true, Ordering::Relaxed);
    let (model, refused, writes) = writer.join().unwrap();
    eprintln!(
        "{writes} writes, {} keys acknowledged, {refused} TRYAGAIN, {} jobs",
        model.len(),
        ndarray_stat(&mut source, "jobs_done")
    );
    assert!(!model.is_empty());

    let mut target = nodes[b].conn();
    for (key, bytes) in &model {
        assert_eq!(
            get_blob(&mut target, key).as_deref(),
            Some(&bytes[..]),
            "{key}"
        );
    }
    for (key, (digest_before, updated_at, dtype)) in kept.iter().zip(&before) {
        assert_eq!(&digest(&mut target, key), digest_before, "{key}");
        assert_eq!(&info(&mut target, key)["updated_at"], updated_at, "{key}");
        assert_eq!(&info(&mut target, key)["dtype"], dtype, "{key}");
    }
    let model_attr: Value = redis::cmd("NDARRAY.ATTRGET")
        .arg(format!("{{{tag}}}attrs"))
        .arg("model")
        .query(&mut target)
        .unwrap();
    assert_eq!(
        model_attr,
        Value::Array(vec![Value::BulkString(b"m1".to_vec())])
    );
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("{{{tag}}}attrs"))
        .query(&mut target)
        .unwrap();
    assert!(ttl > 0 && ttl <= ttl_before, "{ttl} after {ttl_before}");
    assert_eq!(keys_in_slot(&mut source, slot), 0);
    assert_eq!(
        keys_in_slot(&mut target, slot),
        (kept.len() + model.len()) as i64
    );
}

#[test]
fn a_cancelled_migration_leaves_the_source_as_it_was() {
    let (nodes, _cluster) = common::start_cluster();
    if !has_atomic_slot_migration(&mut nodes[0].conn()) {
        eprintln!("skipped: this server has no CLUSTER MIGRATESLOTS");
        return;
    }
    let tag = "c";
    let (slot, a, b, ids) = slot_and_nodes(&nodes, tag);
    let mut source = nodes[a].conn();
    let kept = fill_slot(&mut source, tag);
    let before: Vec<String> = kept.iter().map(|k| digest(&mut source, k)).collect();
    migrate_slot(&mut source, slot, &ids[b]);
    let _: () = redis::cmd("CLUSTER")
        .arg("CANCELSLOTMIGRATIONS")
        .query(&mut source)
        .unwrap();
    let (state, message) = wait_for_slot_migration(&mut source, slot);
    assert_eq!(state, "cancelled", "{message}");
    for (key, digest_before) in kept.iter().zip(&before) {
        assert_eq!(&digest(&mut source, key), digest_before, "{key}");
    }
    let mut target = nodes[b].conn();
    // The target drops what it imported (in the background).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while keys_in_slot(&mut target, slot) != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the target kept the slot's keys"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // The source still takes writes to the slot, on workers again (no export runs any more).
    let jobs = ndarray_stat(&mut source, "jobs_done");
    let after = format!("{{{tag}}}after");
    set_blob(&mut source, &after, &noise(2 * MIB, 9), &[]).unwrap();
    assert!(
        ndarray_stat(&mut source, "jobs_done") > jobs,
        "the write ran inline"
    );
}
