//! Every way Redis persists or moves a value keeps NDARRAY values exact: RDB restart, DEBUG RELOAD,
//! DUMP/RESTORE, COPY, RENAME, AOF rewrite (with and without the RDB preamble), replication.

mod common;
mod util;

use common::Server;
use redis::{Connection, Value};
use std::time::{Duration, Instant};
use util::*;

/// Writes a varied set of arrays and returns their keys.
fn populate(con: &mut Connection) -> Vec<String> {
    let mut keys = Vec::new();
    let mut put = |key: &str, args: Vec<Vec<u8>>| {
        let r: Value = redis::cmd("NDARRAY.SET")
            .arg(key)
            .arg(args)
            .query(con)
            .unwrap();
        assert_eq!(r, Value::Okay, "{key}");
        keys.push(key.to_string());
    };
    let b = |s: &str| s.as_bytes().to_vec();
    for (dtype, itemsize) in DTYPES {
        for codec in ["none", "lz4", "zlib", "zstd"] {
            let data = valid_bytes(dtype, itemsize, 60, itemsize as u64);
            put(
                &format!("{dtype}:{codec}"),
                vec![
                    b(dtype),
                    b("3"),
                    b("4"),
                    b("5"),
                    b("COMPRESS"),
                    b(codec),
                    b("BLOB"),
                    data,
                ],
            );
        }
    }
    put("scalar", vec![b("float64"), b("VALUES"), b("3.25")]);
    put("empty", vec![b("int32"), b("0"), b("7"), b("BLOB"), vec![]]);
    // 3 MiB, many chunks, smooth (compressed) and noisy (raw) parts.
    let mut big = smooth_f32(512 * 1024);
    big.extend(noise(1 << 20, 3));
    put(
        "big:lz4",
        vec![
            b("float32"),
            b("768"),
            b("1024"),
            b("COMPRESS"),
            b("lz4"),
            b("BLOB"),
            big.clone(),
        ],
    );
    put(
        "big:zlib",
        vec![
            b("float32"),
            b("768"),
            b("1024"),
            b("COMPRESS"),
            b("zlib"),
            b("LEVEL"),
            b("6"),
            b("BLOB"),
            big.clone(),
        ],
    );
    put(
        "big:zstd:bit",
        vec![
            b("float32"),
            b("768"),
            b("1024"),
            b("COMPRESS"),
            b("zstd"),
            b("LEVEL"),
            b("-3"),
            b("SHUFFLE"),
            b("bit"),
            b("BLOB"),
            big.clone(),
        ],
    );
    put(
        "big:none",
        vec![
            b("uint8"),
            b(&big.len().to_string()),
            b("COMPRESS"),
            b("none"),
            b("BLOB"),
            big,
        ],
    );
    let n: i64 = redis::cmd("NDARRAY.APPEND")
        .arg("big:lz4")
        .arg("BLOB")
        .arg(smooth_f32(2048))
        .query(con)
        .unwrap();
    assert_eq!(n, 770);
    let _: () = redis::cmd("NDARRAY.SETSLICE")
        .arg("big:zlib")
        .arg("100:110, ::3")
        .arg("VALUES")
        .arg("0.5")
        .query(con)
        .unwrap();
    let _: () = redis::cmd("NDARRAY.SETSLICE")
        .arg("float32:lz4")
        .arg("1, ..., 2")
        .arg("VALUES")
        .arg(&[1, 2, 3, 4])
        .query(con)
        .unwrap();
    keys
}

/// Key → (GET FORMAT BLOB, INFO dtype, INFO shape, digest) for comparing before and after.
fn snapshot(con: &mut Connection, keys: &[String]) -> Vec<(Vec<u8>, String, Value, String)> {
    keys.iter()
        .map(|k| {
            let blob = get_blob(con, k).unwrap_or_else(|| panic!("{k} is missing"));
            (
                blob,
                info_str(con, k, "dtype"),
                info(con, k)["shape"].clone(),
                digest(con, k),
            )
        })
        .collect()
}

#[test]
fn arrays_survive_save_and_restart() {
    let mut server = Server::start();
    let mut con = server.conn();
    let keys = populate(&mut con);
    let before = snapshot(&mut con, &keys);
    let db = db_digest(&mut con);
    server.restart();
    let mut con = server.conn();
    assert_eq!(snapshot(&mut con, &keys), before);
    assert_eq!(db_digest(&mut con), db);
}

#[test]
fn arrays_survive_debug_reload() {
    let server = Server::start();
    let mut con = server.conn();
    let keys = populate(&mut con);
    let before = snapshot(&mut con, &keys);
    let _: () = redis::cmd("DEBUG").arg("RELOAD").query(&mut con).unwrap();
    assert_eq!(snapshot(&mut con, &keys), before);
}

#[test]
fn dump_restore_copy_and_rename_keep_the_value() {
    let server = Server::start();
    let mut con = server.conn();
    let keys = populate(&mut con);
    for key in &keys {
        let dump: Vec<u8> = redis::cmd("DUMP").arg(key).query(&mut con).unwrap();
        let copy = format!("{key}:restored");
        let _: () = redis::cmd("RESTORE")
            .arg(&copy)
            .arg(0)
            .arg(&dump)
            .query(&mut con)
            .unwrap();
        assert_eq!(get_blob(&mut con, &copy), get_blob(&mut con, key), "{key}");
        assert_eq!(digest(&mut con, &copy), digest(&mut con, key));
    }
    let d = digest(&mut con, "big:zlib");
    let copied: i64 = redis::cmd("COPY")
        .arg("big:zlib")
        .arg("c")
        .query(&mut con)
        .unwrap();
    assert_eq!(copied, 1);
    let _: () = redis::cmd("NDARRAY.APPEND")
        .arg("c")
        .arg("BLOB")
        .arg(smooth_f32(1024))
        .query(&mut con)
        .unwrap();
    assert_eq!(
        digest(&mut con, "big:zlib"),
        d,
        "COPY is deep: changing the copy leaves the original"
    );
    let _: () = redis::cmd("RENAME")
        .arg("big:zlib")
        .arg("renamed")
        .query(&mut con)
        .unwrap();
    assert_eq!(digest(&mut con, "renamed"), d);
}

#[test]
fn truncated_or_extended_dump_payloads_are_refused() {
    let server = Server::start();
    let mut con = server.conn();
    let keys = populate(&mut con);
    let db = db_digest(&mut con);
    let mut tried = 0;
    for key in keys
        .iter()
        .filter(|k| k.contains("lz4") || k.contains("scalar") || k.contains("empty"))
    {
        let dump: Vec<u8> = redis::cmd("DUMP").arg(key).query(&mut con).unwrap();
        let body = dump_body(&dump);
        let cuts = [1, 2, 3, 8, 9, body.len() / 2, body.len() - 1];
        for cut in cuts.into_iter().filter(|c| *c < body.len()) {
            let forged = reseal_dump(&dump, &body[..body.len() - cut]);
            let r: redis::RedisResult<Value> = redis::cmd("RESTORE")
                .arg("victim")
                .arg(0)
                .arg(&forged)
                .query(&mut con);
            assert!(r.is_err(), "{key} cut by {cut} bytes was accepted");
            tried += 1;
        }
        let mut longer = body.to_vec();
        longer.extend_from_slice(b"\x00\x01");
        let r: redis::RedisResult<Value> = redis::cmd("RESTORE")
            .arg("victim")
            .arg(0)
            .arg(reseal_dump(&dump, &longer))
            .query(&mut con);
        // Redis itself may refuse trailing bytes; either way no bogus value appears.
        if r.is_ok() {
            assert_eq!(get_blob(&mut con, "victim"), get_blob(&mut con, key));
            let _: () = redis::cmd("DEL").arg("victim").query(&mut con).unwrap();
        }
    }
    assert!(tried > 20);
    let exists: i64 = redis::cmd("EXISTS").arg("victim").query(&mut con).unwrap();
    assert_eq!(exists, 0);
    assert_eq!(db_digest(&mut con), db, "other keys are intact");
    let log = server.log();
    assert!(
        log.contains("NDARRAY: cannot load value"),
        "loader explains refusals in the log"
    );
}

#[test]
fn memory_usage_counts_the_heap_and_ttls_apply() {
    let server = Server::start();
    let mut con = server.conn();
    let _: () = redis::cmd("NDARRAY.SET")
        .arg("e")
        .arg("float32")
        .arg(128)
        .arg("COMPRESS")
        .arg("none")
        .arg("BLOB")
        .arg(noise(512, 1))
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("NDARRAY.SET")
        .arg("big")
        .arg("float32")
        .arg(1 << 20)
        .arg("COMPRESS")
        .arg("none")
        .arg("BLOB")
        .arg(noise(4 << 20, 1))
        .query(&mut con)
        .unwrap();
    let small: i64 = redis::cmd("MEMORY")
        .arg("USAGE")
        .arg("e")
        .query(&mut con)
        .unwrap();
    let big: i64 = redis::cmd("MEMORY")
        .arg("USAGE")
        .arg("big")
        .query(&mut con)
        .unwrap();
    assert!(
        (512..1024).contains(&small),
        "MEMORY USAGE of a 512-byte embedding: {small}"
    );
    // At least the elements; at most the allocator's next size class above them (5 MiB: the room
    // for a .npy header in front of the elements takes the block past 4 MiB).
    assert!(
        (4 << 20..(5 << 20) + 4096).contains(&big),
        "MEMORY USAGE of 4 MiB: {big}"
    );
    let _: () = redis::cmd("PEXPIRE")
        .arg("e")
        .arg(150)
        .query(&mut con)
        .unwrap();
    let ttl: i64 = redis::cmd("PTTL").arg("e").query(&mut con).unwrap();
    assert!(ttl > 0 && ttl <= 150);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(get_blob(&mut con, "e"), None, "expired");
}

/// The longest bulk argument in a RESP command file.
fn longest_bulk(aof: &[u8]) -> usize {
    let mut longest = 0;
    let mut rest = aof;
    while let Some(pos) = rest.iter().position(|b| *b == b'$') {
        let after = &rest[pos + 1..];
        let end = after.iter().position(|b| *b == b'\r').unwrap_or(0);
        let len: usize = std::str::from_utf8(&after[..end])
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        longest = longest.max(len);
        let skip = (end + 2 + len).min(after.len());
        rest = &after[skip..];
    }
    longest
}

fn aof_rewrite_replays(preamble: &str) {
    let mut server = Server::start_with(&[
        "--appendonly",
        "yes",
        "--aof-use-rdb-preamble",
        preamble,
        "--appendfsync",
        "always",
    ]);
    let mut con = server.conn();
    let keys = populate(&mut con);
    let before = snapshot(&mut con, &keys);
    let _: () = redis::cmd("BGREWRITEAOF").query(&mut con).unwrap();
    wait_for_rewrite(&mut con);
    if preamble == "no" {
        let dir = server.dir.join("appendonlydir");
        let base = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().contains(".base.aof"))
            .unwrap();
        let text = std::fs::read(&base).unwrap();
        assert!(
            text.windows(11).any(|w| w == b"NDARRAY.SET"),
            "the base file is commands"
        );
        assert!(
            text.windows(15).any(|w| w == b"NDARRAY.RESHAPE"),
            "big arrays are rebuilt in pieces"
        );
        assert!(
            longest_bulk(&text) <= 1 << 20,
            "no argument over 1 MiB: {}",
            longest_bulk(&text)
        );
    }
    // Writes after the rewrite land in the incremental file.
    let _: i64 = redis::cmd("NDARRAY.APPEND")
        .arg("empty")
        .arg("VALUES")
        .arg(&[1, 2, 3, 4, 5, 6, 7])
        .query(&mut con)
        .unwrap();
    let after_append = get_blob(&mut con, "empty");
    server.kill();
    server.start_again();
    let mut con = server.conn();
    let mut expect = before;
    let idx = keys.iter().position(|k| k == "empty").unwrap();
    expect[idx].0 = after_append.unwrap();
    expect[idx].2 = Value::Array(vec![Value::Int(1), Value::Int(7)]);
    expect[idx].3 = digest(&mut con, "empty");
    assert_eq!(snapshot(&mut con, &keys), expect);
}

#[test]
fn aof_rewrite_without_rdb_preamble_replays_exactly() {
    aof_rewrite_replays("no");
}

#[test]
fn aof_rewrite_with_rdb_preamble_replays_exactly() {
    aof_rewrite_replays("yes");
}

fn wait_for_replica(primary: &mut Connection, replica: &mut Connection) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let p: String = redis::cmd("INFO")
            .arg("replication")
            .query(primary)
            .unwrap();
        let r: String = redis::cmd("INFO")
            .arg("replication")
            .query(replica)
            .unwrap();
        let offset = |s: &str, field: &str| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .map(|v| v.trim().to_string())
        };
        let synced = r.contains("master_link_status:up")
            && offset(&p, "master_repl_offset:") == offset(&r, "slave_repl_offset:");
        if synced {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "replica did not catch up:\n{p}\n{r}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn writes_reach_a_replica_and_a_late_replica_full_syncs() {
    // No 5 s wait for more replicas before a full sync.
    let primary = Server::start_with(&["--repl-diskless-sync-delay", "0"]);
    let replica = Server::start();
    let mut p = primary.conn();
    let mut r = replica.conn();
    let _: () = redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg(primary.port)
        .query(&mut r)
        .unwrap();
    let keys = populate(&mut p);
    let _: () = redis::cmd("NDARRAY.SET")
        .arg("ttl")
        .arg("int8")
        .arg(1)
        .arg("EX")
        .arg(1000)
        .arg("VALUES")
        .arg(1)
        .query(&mut p)
        .unwrap();
    let _: () = redis::cmd("NDARRAY.RESHAPE")
        .arg("big:zlib")
        .arg(1024)
        .arg(768)
        .query(&mut p)
        .unwrap();
    let npy: Vec<u8> = redis::cmd("NDARRAY.GET")
        .arg("scalar")
        .query(&mut p)
        .unwrap();
    let _: () = redis::cmd("NDARRAY.MSET")
        .arg("m1")
        .arg(&npy)
        .arg("m2")
        .arg(&npy)
        .query(&mut p)
        .unwrap();
    let _: () = redis::cmd("NDARRAY.SET")
        .arg("short")
        .arg("int8")
        .arg(1)
        .arg("PX")
        .arg(50)
        .arg("VALUES")
        .arg(1)
        .query(&mut p)
        .unwrap();
    wait_for_replica(&mut p, &mut r);
    assert_eq!(get_blob(&mut r, "m2"), get_blob(&mut p, "m2"));
    // The primary expires the short-lived key and replicates the deletion.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(get_blob(&mut p, "short"), None);
    wait_for_replica(&mut p, &mut r);
    let on_replica: i64 = redis::cmd("EXISTS").arg("short").query(&mut r).unwrap();
    assert_eq!(on_replica, 0, "expiry reached the replica");
    assert_eq!(snapshot(&mut r, &keys), snapshot(&mut p, &keys));
    assert_eq!(db_digest(&mut r), db_digest(&mut p));
    let ttl: i64 = redis::cmd("TTL").arg("ttl").query(&mut r).unwrap();
    assert!((990..=1000).contains(&ttl), "replica TTL {ttl}");
    // A replica that connects after the writes gets them through a full sync (RDB).
    let late = Server::start();
    let mut l = late.conn();
    let _: () = redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg(primary.port)
        .query(&mut l)
        .unwrap();
    wait_for_replica(&mut p, &mut l);
    assert_eq!(db_digest(&mut l), db_digest(&mut p));
}
