//! Production behaviour: ACLs, maxmemory, keyspace notifications, and AOF durability across a
//! SIGKILL.

mod common;
mod util;

use common::{redis_server_version, Server};
use redis::{Connection, Value};
use util::*;

fn as_user(server: &Server, user: &str) -> Connection {
    let mut con = server.conn();
    let _: () = redis::cmd("AUTH")
        .arg(user)
        .arg("pw")
        .query(&mut con)
        .unwrap();
    con
}

const ALL_COMMANDS: &str = "+ndarray.set +ndarray.get +ndarray.info +ndarray.slice +ndarray.setslice +ndarray.append +ndarray.reshape +ndarray.mget +ndarray.mset +ndarray.stack";

#[test]
fn acl_key_patterns_apply_to_every_key_of_every_command() {
    let server = Server::start();
    let mut admin = server.conn();
    let file = npy_file("|i1", &[2], &[1, 2]);
    for key in ["feat:1", "feat:2", "other"] {
        let _: () = redis::cmd("NDARRAY.SET")
            .arg(key)
            .arg("int8")
            .arg(2)
            .arg("VALUES")
            .arg(1)
            .arg(2)
            .query(&mut admin)
            .unwrap();
    }
    let mut setuser = redis::cmd("ACL");
    setuser
        .arg("SETUSER")
        .arg("feat")
        .arg("on")
        .arg(">pw")
        .arg("~feat:*");
    for c in ALL_COMMANDS.split(' ') {
        setuser.arg(c);
    }
    let _: () = setuser.query(&mut admin).unwrap();
    let mut feat = as_user(&server, "feat");
    // Allowed on feat:*
    let ok: Vec<u8> = redis::cmd("NDARRAY.GET")
        .arg("feat:1")
        .query(&mut feat)
        .unwrap();
    assert!(!ok.is_empty());
    let _: () = redis::cmd("NDARRAY.SET")
        .arg("feat:3")
        .arg("NPY")
        .arg(&file)
        .query(&mut feat)
        .unwrap();
    let _: () = redis::cmd("NDARRAY.MSET")
        .arg("feat:1")
        .arg(&file)
        .arg("feat:2")
        .arg(&file)
        .query(&mut feat)
        .unwrap();
    let _: Vec<u8> = redis::cmd("NDARRAY.STACK")
        .arg(2)
        .arg("feat:1")
        .arg("feat:2")
        .query(&mut feat)
        .unwrap();
    // Refused anywhere else, including one key among several.
    let refused: Vec<redis::Cmd> = vec![
        redis::cmd("NDARRAY.GET").arg("other").clone(),
        redis::cmd("NDARRAY.INFO").arg("other").clone(),
        redis::cmd("NDARRAY.SLICE").arg("other").arg("0").clone(),
        redis::cmd("NDARRAY.SET")
            .arg("other")
            .arg("NPY")
            .arg(&file)
            .clone(),
        redis::cmd("NDARRAY.SETSLICE")
            .arg("other")
            .arg("0")
            .arg("VALUES")
            .arg(5)
            .clone(),
        redis::cmd("NDARRAY.APPEND")
            .arg("other")
            .arg("VALUES")
            .arg(5)
            .clone(),
        redis::cmd("NDARRAY.RESHAPE").arg("other").arg(2).clone(),
        redis::cmd("NDARRAY.MGET")
            .arg("feat:1")
            .arg("other")
            .clone(),
        redis::cmd("NDARRAY.STACK")
            .arg(2)
            .arg("feat:1")
            .arg("other")
            .clone(),
        redis::cmd("NDARRAY.MSET")
            .arg("feat:1")
            .arg(&file)
            .arg("other")
            .arg(&file)
            .clone(),
        redis::cmd("GET").arg("feat:1").clone(),
    ];
    for cmd in refused {
        let e = error_of(cmd.query(&mut feat));
        assert!(e.starts_with("NOPERM"), "{e}");
    }
    // A read-only selector: reads pass, writes do not.
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg("reader")
        .arg("on")
        .arg(">pw")
        .arg("%R~feat:*")
        .arg(ALL_COMMANDS.split(' ').collect::<Vec<_>>())
        .query(&mut admin)
        .unwrap();
    let mut reader = as_user(&server, "reader");
    let _: Vec<u8> = redis::cmd("NDARRAY.GET")
        .arg("feat:1")
        .query(&mut reader)
        .unwrap();
    let _: Vec<u8> = redis::cmd("NDARRAY.SLICE")
        .arg("feat:1")
        .arg("0:1")
        .query(&mut reader)
        .unwrap();
    let _: Value = redis::cmd("NDARRAY.INFO")
        .arg("feat:1")
        .query(&mut reader)
        .unwrap();
    let _: Value = redis::cmd("NDARRAY.MGET")
        .arg("feat:1")
        .arg("feat:2")
        .query(&mut reader)
        .unwrap();
    let _: Vec<u8> = redis::cmd("NDARRAY.STACK")
        .arg(2)
        .arg("feat:1")
        .arg("feat:2")
        .query(&mut reader)
        .unwrap();
    for cmd in [
        redis::cmd("NDARRAY.SET")
            .arg("feat:1")
            .arg("NPY")
            .arg(&file)
            .clone(),
        redis::cmd("NDARRAY.SETSLICE")
            .arg("feat:1")
            .arg("0")
            .arg("VALUES")
            .arg(5)
            .clone(),
        redis::cmd("NDARRAY.APPEND")
            .arg("feat:1")
            .arg("VALUES")
            .arg(5)
            .clone(),
        redis::cmd("NDARRAY.MSET").arg("feat:1").arg(&file).clone(),
        redis::cmd("NDARRAY.RESHAPE").arg("feat:1").arg(2).clone(),
    ] {
        let e = error_of(cmd.query(&mut reader));
        assert!(e.starts_with("NOPERM"), "{e}");
    }
}

#[test]
fn acl_categories_group_the_commands_where_redis_supports_it() {
    let server = Server::start();
    let mut admin = server.conn();
    let _: () = redis::cmd("NDARRAY.SET")
        .arg("k")
        .arg("int8")
        .arg(1)
        .arg("VALUES")
        .arg(1)
        .query(&mut admin)
        .unwrap();
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg("r")
        .arg("on")
        .arg(">pw")
        .arg("~*")
        .arg("+@read")
        .query(&mut admin)
        .unwrap();
    let mut r = as_user(&server, "r");
    let get = redis::cmd("NDARRAY.GET").arg("k").query::<Value>(&mut r);
    let set = redis::cmd("NDARRAY.SET")
        .arg("k")
        .arg("int8")
        .arg(1)
        .arg("VALUES")
        .arg(2)
        .query::<Value>(&mut r);
    if redis_server_version() >= (7, 2, 0) {
        assert!(get.is_ok(), "+@read grants NDARRAY.GET on 7.2+: {get:?}");
        assert!(error_of(set).starts_with("NOPERM"));
        // COMMAND INFO's seventh field lists the ACL categories.
        let categories = |admin: &mut Connection, name: &str| -> Vec<String> {
            let info: Vec<Vec<Value>> = redis::cmd("COMMAND")
                .arg("INFO")
                .arg(name)
                .query(admin)
                .unwrap();
            redis::from_redis_value(info[0][6].clone()).unwrap()
        };
        assert_eq!(categories(&mut admin, "ndarray.info"), ["@read", "@fast"]);
        assert_eq!(categories(&mut admin, "ndarray.get"), ["@read"]);
        assert_eq!(categories(&mut admin, "ndarray.mset"), ["@write"]);
    } else {
        // Redis 7.0 has no API to categorise module commands: they are granted by name.
        assert!(error_of(get).starts_with("NOPERM"));
        assert!(error_of(set).starts_with("NOPERM"));
    }
}

#[test]
fn the_readme_read_only_rule_leaves_no_write_through_internal_commands() {
    let server = Server::start();
    let mut admin = server.conn();
    let _: () = redis::cmd("SET")
        .arg("text")
        .arg("x")
        .query(&mut admin)
        .unwrap();
    let mut rule = redis::cmd("ACL");
    rule.arg("SETUSER")
        .arg("reader")
        .arg("on")
        .arg(">pw")
        .arg("~*");
    // The README's rule for every server, word for word.
    for word in "+@all -@write -ndarray.set -ndarray.mset -ndarray.msetex -ndarray.append \
                 -ndarray.setslice -ndarray.reshape -ndarray.attrset -ndarray.attrdel"
        .split_whitespace()
    {
        rule.arg(word);
    }
    let _: () = rule.query(&mut admin).unwrap();
    let mut reader = as_user(&server, "reader");
    let payload = b"NDAE\x02\x00\x00\x00\x00\x00\x00\x00".to_vec();
    for cmd in [
        redis::cmd("NDARRAY.PUTENCODED")
            .arg("text")
            .arg("NEW")
            .arg(&payload)
            .clone(),
        redis::cmd("NDARRAY.STAMP").arg("text").arg(1).clone(),
    ] {
        let e = error_of(cmd.query(&mut reader));
        assert!(
            e.contains("is internal") || e.contains("unknown command") || e.contains("NOPERM"),
            "{e}"
        );
    }
    let text: String = redis::cmd("GET").arg("text").query(&mut admin).unwrap();
    assert_eq!(text, "x");
}

/// The backquoted rule of the README's ACL warning that starts with `start`.
fn readme_rule(start: &str) -> Vec<String> {
    let readme = include_str!("../README.md");
    let from = readme
        .find(&format!("`{start}"))
        .unwrap_or_else(|| panic!("README has no rule starting {start}"));
    let rule = &readme[from + 1..];
    let end = rule.find('`').unwrap();
    rule[..end].split_whitespace().map(str::to_string).collect()
}

/// The module's commands (`COMMAND INFO`) that carry `flag`, with their arity; internal ones left out.
fn commands_flagged(con: &mut Connection, flag: &str) -> Vec<(String, i64)> {
    let list: Vec<String> = redis::cmd("COMMAND")
        .arg("LIST")
        .arg("FILTERBY")
        .arg("MODULE")
        .arg("ndarray")
        .query(con)
        .unwrap();
    let mut found = Vec::new();
    for name in list {
        if matches!(name.as_str(), "ndarray.putencoded" | "ndarray.stamp") {
            continue;
        }
        let info: Vec<Vec<Value>> = redis::cmd("COMMAND")
            .arg("INFO")
            .arg(&name)
            .query(con)
            .unwrap();
        let arity: i64 = redis::from_redis_value(info[0][1].clone()).unwrap();
        let flags: Vec<String> = redis::from_redis_value(info[0][2].clone()).unwrap();
        if flags.iter().any(|f| f == flag) {
            found.push((name, arity));
        }
    }
    found
}

#[test]
fn the_readme_acl_rules_cover_every_write_and_every_read_command() {
    let server = Server::start();
    let mut admin = server.conn();
    for (user, rule) in [
        ("reader", readme_rule("+@all -@write -ndarray.set")),
        ("granted", readme_rule("+ndarray.get")),
    ] {
        let _: () = redis::cmd("ACL")
            .arg("SETUSER")
            .arg(user)
            .arg("on")
            .arg(">pw")
            .arg("~*")
            .arg(rule)
            .query(&mut admin)
            .unwrap();
    }
    let (writes, reads) = (
        commands_flagged(&mut admin, "write"),
        commands_flagged(&mut admin, "readonly"),
    );
    assert!(
        writes.iter().any(|(n, _)| n == "ndarray.apply"),
        "{writes:?}"
    );
    assert!(
        reads.iter().any(|(n, _)| n == "ndarray.reduce"),
        "{reads:?}"
    );
    // Enough arguments for the arity check, which Redis runs before the ACL check.
    let call = |con: &mut Connection, name: &str, arity: i64| {
        let mut cmd = redis::cmd(name);
        for _ in 1..arity.unsigned_abs() {
            cmd.arg("1");
        }
        cmd.query::<Value>(con)
    };
    let mut reader = as_user(&server, "reader");
    for (name, arity) in &writes {
        let e = error_of(call(&mut reader, name, *arity));
        assert!(
            e.starts_with("NOPERM"),
            "the read-only rule lets {name} through: {e}"
        );
    }
    let mut granted = as_user(&server, "granted");
    for (name, arity) in &reads {
        let outcome = call(&mut granted, name, *arity);
        assert!(
            !matches!(&outcome, Err(e) if e.to_string().contains("NOPERM")),
            "the read grant misses {name}: {outcome:?}"
        );
    }
}

#[test]
fn maxmemory_refuses_writes_and_keeps_serving_reads() {
    let server = Server::start_with(&["--maxmemory-policy", "noeviction"]);
    let mut con = server.conn();
    let file = npy_file("|i1", &[2], &[1, 2]);
    let _: () = redis::cmd("NDARRAY.SET")
        .arg("big")
        .arg("uint8")
        .arg(4 << 20)
        .arg("COMPRESS")
        .arg("none")
        .arg("BLOB")
        .arg(noise(4 << 20, 1))
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("NDARRAY.SET")
        .arg("b")
        .arg("int8")
        .arg(2)
        .arg("VALUES")
        .arg(1)
        .arg(2)
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg("1mb")
        .query(&mut con)
        .unwrap();
    for cmd in [
        redis::cmd("NDARRAY.SET")
            .arg("x")
            .arg("int8")
            .arg(1)
            .arg("VALUES")
            .arg(1)
            .clone(),
        redis::cmd("NDARRAY.SETSLICE")
            .arg("b")
            .arg("0")
            .arg("VALUES")
            .arg(5)
            .clone(),
        redis::cmd("NDARRAY.APPEND")
            .arg("b")
            .arg("VALUES")
            .arg(5)
            .clone(),
        redis::cmd("NDARRAY.MSET").arg("x").arg(&file).clone(),
    ] {
        let e = error_of(cmd.query(&mut con));
        assert!(e.starts_with("OOM"), "{e}");
    }
    let v: Vec<i64> = redis::cmd("NDARRAY.GET")
        .arg("b")
        .arg("FORMAT")
        .arg("VALUES")
        .query(&mut con)
        .unwrap();
    assert_eq!(v, [1, 2]);
    let _: Vec<u8> = redis::cmd("NDARRAY.SLICE")
        .arg("big")
        .arg("0:100")
        .query(&mut con)
        .unwrap();
    let _: Value = redis::cmd("NDARRAY.INFO")
        .arg("big")
        .query(&mut con)
        .unwrap();
    let _: Value = redis::cmd("NDARRAY.MGET")
        .arg("b")
        .arg("big")
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg("0")
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("NDARRAY.SET")
        .arg("x")
        .arg("int8")
        .arg(1)
        .arg("VALUES")
        .arg(1)
        .query(&mut con)
        .unwrap();
}

#[test]
fn every_write_notifies_keyspace_subscribers() {
    let server = Server::start_with(&["--notify-keyspace-events", "KEA"]);
    let mut con = server.conn();
    let file = npy_file("|i1", &[2], &[1, 2]);
    let mut sub_con = server.conn();
    let mut sub = sub_con.as_pubsub();
    sub.psubscribe("__keyspace@0__:n*").unwrap();
    sub.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let _: () = redis::cmd("NDARRAY.SET")
        .arg("n")
        .arg("int8")
        .arg(2)
        .arg("VALUES")
        .arg(1)
        .arg(2)
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("NDARRAY.SETSLICE")
        .arg("n")
        .arg("0")
        .arg("VALUES")
        .arg(7)
        .query(&mut con)
        .unwrap();
    let _: i64 = redis::cmd("NDARRAY.APPEND")
        .arg("n")
        .arg("VALUES")
        .arg(3)
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("NDARRAY.RESHAPE")
        .arg("n")
        .arg(3)
        .arg(1)
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("NDARRAY.MSET")
        .arg("n2")
        .arg(&file)
        .query(&mut con)
        .unwrap();
    let events: Vec<(String, String)> = (0..5)
        .map(|_| {
            let m = sub.get_message().unwrap();
            (
                m.get_channel_name().to_string(),
                m.get_payload::<String>().unwrap(),
            )
        })
        .collect();
    let expect = [
        ("__keyspace@0__:n", "ndarray.set"),
        ("__keyspace@0__:n", "ndarray.setslice"),
        ("__keyspace@0__:n", "ndarray.append"),
        ("__keyspace@0__:n", "ndarray.reshape"),
        ("__keyspace@0__:n2", "ndarray.mset"),
    ];
    let got: Vec<(&str, &str)> = events
        .iter()
        .map(|(c, p)| (c.as_str(), p.as_str()))
        .collect();
    assert_eq!(got, expect);
}

/// A burst of acknowledged writes, then SIGKILL: with `appendfsync always` every one is back after
/// restart. Returns nothing; asserts.
fn acknowledged_writes_survive_sigkill(preamble: &str) {
    let mut server = Server::start_with(&[
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--aof-use-rdb-preamble",
        preamble,
    ]);
    let mut con = server.conn();
    let file = npy_file("|i1", &[2], &[1, 2]);
    let mut keys = Vec::new();
    for i in 0..60 {
        let key = format!("w:{i}");
        let codec = ["none", "lz4", "zlib"][i % 3];
        let data = smooth_f32(1000 + i * 10);
        let _: () = redis::cmd("NDARRAY.SET")
            .arg(&key)
            .arg("float32")
            .arg(data.len() / 4)
            .arg("COMPRESS")
            .arg(codec)
            .arg("BLOB")
            .arg(&data)
            .query(&mut con)
            .unwrap();
        keys.push(key.clone());
        if i == 30 {
            // A rewrite in the middle: later writes go to the incremental file.
            let _: () = redis::cmd("BGREWRITEAOF").query(&mut con).unwrap();
        }
        match i % 5 {
            0 => {
                let _: i64 = redis::cmd("NDARRAY.APPEND")
                    .arg(&key)
                    .arg("VALUES")
                    .arg(&[1.5, 2.5])
                    .query(&mut con)
                    .unwrap();
            }
            1 => {
                let _: () = redis::cmd("NDARRAY.SETSLICE")
                    .arg(&key)
                    .arg("::7")
                    .arg("VALUES")
                    .arg(-1)
                    .query(&mut con)
                    .unwrap();
            }
            2 => {
                let _: () = redis::cmd("NDARRAY.MSET")
                    .arg(format!("m:{i}"))
                    .arg(&file)
                    .query(&mut con)
                    .unwrap();
                keys.push(format!("m:{i}"));
            }
            3 => {
                let _: () = redis::cmd("EXPIRE")
                    .arg(&key)
                    .arg(10_000)
                    .query(&mut con)
                    .unwrap();
            }
            _ => {}
        }
    }
    let before: Vec<(Option<Vec<u8>>, String)> = keys
        .iter()
        .map(|k| (get_blob(&mut con, k), digest(&mut con, k)))
        .collect();
    let db = db_digest(&mut con);
    server.kill();
    server.start_again();
    let mut con = server.conn();
    let after: Vec<(Option<Vec<u8>>, String)> = keys
        .iter()
        .map(|k| (get_blob(&mut con, k), digest(&mut con, k)))
        .collect();
    assert_eq!(after, before);
    assert_eq!(db_digest(&mut con), db);
    let ttl: i64 = redis::cmd("TTL").arg("w:3").query(&mut con).unwrap();
    assert!(ttl > 9000, "{ttl}");
}

#[test]
fn acknowledged_writes_survive_sigkill_with_plain_aof() {
    acknowledged_writes_survive_sigkill("no");
}

#[test]
fn acknowledged_writes_survive_sigkill_with_rdb_preamble() {
    acknowledged_writes_survive_sigkill("yes");
}

/// `lazyfreed_objects` from `INFO memory`.
fn lazyfreed_objects(con: &mut Connection) -> u64 {
    let info: String = redis::cmd("INFO").arg("memory").query(con).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("lazyfreed_objects:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("INFO memory has lazyfreed_objects")
}

/// An array of many chunks reports a free effort that makes Redis free it in the background on
/// UNLINK (and lazyfree-lazy-user-del), so deleting a big array does not stall other clients; a
/// small array, like a small string, is freed at once. Only counters are checked, no timings.
#[test]
fn unlink_frees_arrays_of_many_chunks_in_the_background() {
    let server = Server::builder()
        .module_args(&["chunk-bytes", "4096"])
        .start();
    let mut con = server.conn();
    // 1 MiB in 4 KiB chunks: 256 chunks, over Redis' lazy-free threshold of 64 allocations.
    let big = noise(1 << 20, 7);
    let set = |con: &mut Connection, key: &str, bytes: &[u8]| {
        let _: () = redis::cmd("NDARRAY.SET")
            .arg(key)
            .arg("uint8")
            .arg(bytes.len())
            .arg("COMPRESS")
            .arg("none")
            .arg("BLOB")
            .arg(bytes)
            .query(con)
            .unwrap();
    };
    set(&mut con, "big", &big);
    set(&mut con, "small", &big[..1000]);
    let before = lazyfreed_objects(&mut con);
    let _: i64 = redis::cmd("UNLINK").arg("small").query(&mut con).unwrap();
    assert_eq!(
        lazyfreed_objects(&mut con),
        before,
        "a one-chunk array is freed at once"
    );
    let _: i64 = redis::cmd("UNLINK").arg("big").query(&mut con).unwrap();
    // The background free may still be running: wait for the counter (bounded).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while lazyfreed_objects(&mut con) == before && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(
        lazyfreed_objects(&mut con),
        before + 1,
        "UNLINK freed the big array in the background"
    );
    let exists: i64 = redis::cmd("EXISTS").arg("big").query(&mut con).unwrap();
    assert_eq!(exists, 0);
}

fn config_set(con: &mut Connection, name: &str, value: &str) {
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg(name)
        .arg(value)
        .query(con)
        .unwrap();
}

#[test]
fn every_reply_that_materialises_arrays_is_bounded_before_decoding() {
    let server = Server::start();
    let mut con = server.conn();
    for key in ["a", "b", "c"] {
        let _: () = redis::cmd("NDARRAY.SET")
            .arg(key)
            .arg("uint8")
            .arg(1 << 20)
            .arg("COMPRESS")
            .arg("none")
            .arg("BLOB")
            .arg(vec![0u8; 1 << 20])
            .query(&mut con)
            .unwrap();
    }
    // MGET's keys count together.
    config_set(&mut con, "ndarray.max-reply-bytes", &(2 << 20).to_string());
    let e = error_of(
        redis::cmd("NDARRAY.MGET")
            .arg("a")
            .arg("b")
            .arg("c")
            .query(&mut con),
    );
    assert!(e.contains("max-reply-bytes"), "{e}");
    let two: Vec<Value> = redis::cmd("NDARRAY.MGET")
        .arg("a")
        .arg("b")
        .query(&mut con)
        .unwrap();
    assert_eq!(two.len(), 2);
    let e = error_of(
        redis::cmd("NDARRAY.STACK")
            .arg(3)
            .arg("a")
            .arg("b")
            .arg("c")
            .query(&mut con),
    );
    assert!(e.contains("max-reply-bytes"), "{e}");
    // max-array-bytes applies to GET of an uncompressed array (replied from the store) too.
    config_set(&mut con, "ndarray.max-reply-bytes", "0");
    config_set(&mut con, "ndarray.max-array-bytes", "65536");
    for format in ["BLOB", "NPY"] {
        let e = error_of(
            redis::cmd("NDARRAY.GET")
                .arg("a")
                .arg("FORMAT")
                .arg(format)
                .query(&mut con),
        );
        assert!(e.contains("max-array-bytes"), "{format}: {e}");
    }
}

#[test]
fn values_of_a_zero_size_array_with_huge_dims_are_refused_at_once() {
    let server = Server::start();
    let mut con = server.conn();
    let _: () = redis::cmd("NDARRAY.SET")
        .arg("z")
        .arg("uint8")
        .arg(268_435_455)
        .arg(0)
        .arg("BLOB")
        .arg("")
        .query(&mut con)
        .unwrap();
    let e = error_of(
        redis::cmd("NDARRAY.GET")
            .arg("z")
            .arg("FORMAT")
            .arg("VALUES")
            .query(&mut con),
    );
    assert!(e.contains("too large for FORMAT VALUES"), "{e}");
    // A small zero-size array still replies its nested empty lists, as tolist() does.
    let _: () = redis::cmd("NDARRAY.SET")
        .arg("small")
        .arg("uint8")
        .arg(3)
        .arg(0)
        .arg("BLOB")
        .arg("")
        .query(&mut con)
        .unwrap();
    let v: Vec<Vec<i64>> = redis::cmd("NDARRAY.GET")
        .arg("small")
        .arg("FORMAT")
        .arg("VALUES")
        .query(&mut con)
        .unwrap();
    assert_eq!(v, vec![Vec::<i64>::new(); 3]);
}

#[test]
fn bool_is_numpys_bool_in_every_reply_and_cast() {
    let server = Server::start();
    let mut con = server.conn();
    let _: () = redis::cmd("NDARRAY.SET")
        .arg("b")
        .arg("bool")
        .arg(3)
        .arg("BLOB")
        .arg(&b"\x00\x05\xff"[..])
        .query(&mut con)
        .unwrap();
    let values: Vec<i64> = redis::cmd("NDARRAY.GET")
        .arg("b")
        .arg("FORMAT")
        .arg("VALUES")
        .query(&mut con)
        .unwrap();
    assert_eq!(values, [0, 1, 1]);
    let ints: Vec<i64> = redis::cmd("NDARRAY.GET")
        .arg("b")
        .arg("FORMAT")
        .arg("VALUES")
        .arg("AS")
        .arg("int32")
        .query(&mut con)
        .unwrap();
    assert_eq!(ints, [0, 1, 1]);
    let blob: Vec<u8> = redis::cmd("NDARRAY.GET")
        .arg("b")
        .arg("FORMAT")
        .arg("BLOB")
        .query(&mut con)
        .unwrap();
    assert_eq!(blob, [0, 1, 1]);
    let _: () = redis::cmd("NDARRAY.SETSLICE")
        .arg("b")
        .arg("0")
        .arg("BLOB")
        .arg(&b"\x07"[..])
        .query(&mut con)
        .unwrap();
    let blob: Vec<u8> = redis::cmd("NDARRAY.GET")
        .arg("b")
        .arg("FORMAT")
        .arg("BLOB")
        .query(&mut con)
        .unwrap();
    assert_eq!(blob, [1, 1, 1]);
}

fn info_field(con: &mut Connection, section: &str, field: &str) -> i64 {
    let info: String = redis::cmd("INFO").arg(section).query(con).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {info}"))
}

#[test]
fn reads_leave_no_memory_behind_that_would_refuse_writes_under_maxmemory() {
    let server = Server::start_with(&["--maxmemory", "64mb", "--maxmemory-policy", "noeviction"]);
    let mut con = server.conn();
    set_blob_f32(&mut con, "big", &noise(15 << 20, 3));
    for _ in 0..4 {
        assert!(get_blob(&mut con, "big").is_some());
    }
    let _: () = redis::cmd("FLUSHALL").query(&mut con).unwrap();
    // At most the small per-thread buffers stay (1 MiB each; a cron tick has passed).
    std::thread::sleep(std::time::Duration::from_millis(300));
    let kept = ndarray_stat(&mut con, "buffers_kept_bytes");
    assert!(kept <= 5 << 20, "{kept} bytes kept");
    let used = info_field(&mut con, "memory", "used_memory");
    assert!(used < 16 << 20, "used_memory {used} after FLUSHALL");
    let _: () = redis::cmd("SET")
        .arg("after")
        .arg("x")
        .query(&mut con)
        .unwrap();
}

#[test]
fn reads_under_allkeys_lru_evict_no_other_key() {
    let server = Server::start_with(&["--maxmemory", "50mb", "--maxmemory-policy", "allkeys-lru"]);
    let mut con = server.conn();
    let value = vec![b'v'; 1024];
    for i in 0..4000 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(&value)
            .query(&mut con)
            .unwrap();
    }
    set_blob_f32(&mut con, "big", &noise(15 << 20, 5));
    for round in 0..8 {
        assert!(get_blob(&mut con, "big").is_some());
        // A write after each read: the moment Redis evicts, if memory is over the limit.
        let _: () = redis::cmd("SET")
            .arg(format!("after{round}"))
            .arg("x")
            .query(&mut con)
            .unwrap();
    }
    assert_eq!(info_field(&mut con, "stats", "evicted_keys"), 0);
    let keys: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(keys, 4000 + 1 + 8);
}

/// Sends `NDARRAY.PROBE key SAMPLE bytes` on a connection of its own without waiting for the reply.
fn start_probe(server: &Server, key: &str, sample: u64) -> Connection {
    let mut con = server.conn();
    let packed = redis::cmd("NDARRAY.PROBE")
        .arg(key)
        .arg("SAMPLE")
        .arg(sample)
        .get_packed_command();
    con.send_packed_command(&packed).unwrap();
    con
}

fn finish_probe(mut con: Connection) {
    match con.recv_response().unwrap() {
        Value::Array(rows) => assert!(!rows.is_empty()),
        other => panic!("PROBE replied {other:?}"),
    }
}

#[test]
fn jobs_past_the_worker_byte_budget_wait_and_then_run() {
    let server = Server::start_with_module_args(&["worker-bytes", "1"], &[]);
    let mut con = server.conn();
    let data = noise(8 << 20, 7);
    set_blob_f32(&mut con, "a", &data);
    // The probe holds its sample against a budget of 1 byte: the GET's job waits for it.
    let probe = start_probe(&server, "a", 8 << 20);
    wait_for_stat(&mut con, "jobs_running", 1);
    assert!(ndarray_stat(&mut con, "worker_bytes_in_use") >= 8 << 20);
    let mut reader = server.conn();
    reader
        .send_packed_command(
            &redis::cmd("NDARRAY.GET")
                .arg("a")
                .arg("FORMAT")
                .arg("BLOB")
                .get_packed_command(),
        )
        .unwrap();
    wait_for_stat(&mut con, "jobs_waiting_for_bytes", 1);
    let got: Vec<u8> = redis::from_redis_value(reader.recv_response().unwrap()).unwrap();
    assert_eq!(got, data, "the waiting job ran, with the right bytes");
    finish_probe(probe);
    wait_until_idle(&mut con);
    assert_eq!(ndarray_stat(&mut con, "worker_bytes_in_use"), 0);
    assert_eq!(ndarray_stat(&mut con, "jobs_waiting_for_bytes"), 0);
}

#[test]
fn probes_run_on_their_own_lane_and_never_hold_back_reads() {
    let server = Server::start();
    let mut con = server.conn();
    let data = noise(8 << 20, 9);
    set_blob_f32(&mut con, "a", &data);
    // Four probes queued at once: one runs on the background lane, three wait there.
    let probes: Vec<Connection> = (0..4).map(|_| start_probe(&server, "a", 8 << 20)).collect();
    wait_for_stat(&mut con, "jobs_queued", 3);
    let done_before = ndarray_stat(&mut con, "jobs_done");
    let got: Vec<u8> = redis::cmd("NDARRAY.GET")
        .arg("a")
        .arg("FORMAT")
        .arg("BLOB")
        .query(&mut con)
        .unwrap();
    assert_eq!(got, data);
    // The GET did not wait for probes: besides it, at most the one running probe finished
    // meanwhile (in the shared pool it would have waited for at least two).
    let done = ndarray_stat(&mut con, "jobs_done") - done_before;
    assert!(done <= 2, "{done} jobs finished while the GET waited");
    probes.into_iter().for_each(finish_probe);
}

fn set_blob_f32(con: &mut Connection, key: &str, data: &[u8]) {
    let _: () = redis::cmd("NDARRAY.SET")
        .arg(key)
        .arg("float32")
        .arg(data.len() / 4)
        .arg("BLOB")
        .arg(data)
        .query(con)
        .unwrap();
}

fn wait_until_idle(con: &mut Connection) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while ndarray_stat(con, "jobs_queued") + ndarray_stat(con, "jobs_running") > 0 {
        assert!(std::time::Instant::now() < deadline, "jobs never finished");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}
