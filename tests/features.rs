//! Feature-store commands: attributes (ATTRSET/ATTRGET/ATTRDEL, SET … ATTR), `updated_at`,
//! NDARRAY.MSETEX and NDARRAY.STACK numkeys … [AS] [FORMAT] [MISSING FILL], keyspace events, and
//! how attributes and `updated_at` travel (RDB, DUMP/RESTORE, COPY, AOF, replicas).

mod common;
mod util;

use common::Server;
use redis::{Connection, Value};
use std::time::Duration;
use util::*;

fn set_f32(con: &mut Connection, key: &str, values: &[f32]) {
    let _: () = redis::cmd("NDARRAY.SET")
        .arg(key)
        .arg("float32")
        .arg(values.len())
        .arg("BLOB")
        .arg(f32_bytes(values))
        .query(con)
        .unwrap();
}

/// (field, value) pairs.
type AttrList = Vec<(Vec<u8>, Vec<u8>)>;

fn attrs_of(con: &mut Connection, key: &str) -> AttrList {
    let flat: Vec<Vec<u8>> = redis::cmd("NDARRAY.ATTRGET").arg(key).query(con).unwrap();
    flat.chunks(2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect()
}

fn updated_at(con: &mut Connection, key: &str) -> i64 {
    info_int(con, key, "updated_at")
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn attributes_reply_as_hset_hmget_and_hgetall_do() {
    let server = Server::start();
    let mut con = server.conn();
    let _: () = redis::cmd("NDARRAY.SET")
        .arg("e")
        .arg("float32")
        .arg(2)
        .arg("ATTR")
        .arg("model")
        .arg("v3")
        .arg("ATTR")
        .arg("src")
        .arg(&b"\x00\xff"[..])
        .arg("VALUES")
        .arg(&[1, 2])
        .query(&mut con)
        .unwrap();
    assert_eq!(
        attrs_of(&mut con, "e"),
        vec![
            (b"model".to_vec(), b"v3".to_vec()),
            (b"src".to_vec(), vec![0, 0xff])
        ]
    );
    let created: i64 = redis::cmd("NDARRAY.ATTRSET")
        .arg("e")
        .arg("model")
        .arg("v4")
        .arg("ver")
        .arg("7")
        .query(&mut con)
        .unwrap();
    assert_eq!(created, 1, "model existed, ver is new");
    let got: Vec<Option<String>> = redis::cmd("NDARRAY.ATTRGET")
        .arg("e")
        .arg("model")
        .arg("nope")
        .arg("ver")
        .query(&mut con)
        .unwrap();
    assert_eq!(got, [Some("v4".into()), None, Some("7".into())]);
    // Missing key: nil, or an array of nils.
    let none: Value = redis::cmd("NDARRAY.ATTRGET")
        .arg("gone")
        .query(&mut con)
        .unwrap();
    assert_eq!(none, Value::Nil);
    let nils: Vec<Option<String>> = redis::cmd("NDARRAY.ATTRGET")
        .arg("gone")
        .arg("a")
        .arg("b")
        .query(&mut con)
        .unwrap();
    assert_eq!(nils, [None, None]);
    // RESP3: a map.
    let mut con3 = server.conn_resp3();
    let map: Value = redis::cmd("NDARRAY.ATTRGET")
        .arg("e")
        .query(&mut con3)
        .unwrap();
    assert!(matches!(&map, Value::Map(m) if m.len() == 3), "{map:?}");
    let info: Value = redis::cmd("NDARRAY.INFO")
        .arg("e")
        .query(&mut con3)
        .unwrap();
    let Value::Map(fields) = info else {
        panic!("{info:?}")
    };
    let names: Vec<String> = fields
        .iter()
        .map(|(k, _)| redis::from_redis_value(k.clone()).unwrap())
        .collect();
    assert_eq!(names[names.len() - 2..], ["updated_at", "attrs"]);
    assert!(matches!(&fields.last().unwrap().1, Value::Map(m) if m.len() == 3));
    // ATTRDEL counts what was present.
    let removed: i64 = redis::cmd("NDARRAY.ATTRDEL")
        .arg("e")
        .arg("ver")
        .arg("nope")
        .query(&mut con)
        .unwrap();
    assert_eq!(removed, 1);
    let removed: i64 = redis::cmd("NDARRAY.ATTRDEL")
        .arg("gone")
        .arg("x")
        .query(&mut con)
        .unwrap();
    assert_eq!(removed, 0);
    // SETSLICE, APPEND and RESHAPE keep attributes; SET replaces them with its own (none here).
    let kept = attrs_of(&mut con, "e");
    let _: () = redis::cmd("NDARRAY.SETSLICE")
        .arg("e")
        .arg("0")
        .arg("VALUES")
        .arg(9)
        .query(&mut con)
        .unwrap();
    let _: i64 = redis::cmd("NDARRAY.APPEND")
        .arg("e")
        .arg("VALUES")
        .arg(&[3, 4])
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("NDARRAY.RESHAPE")
        .arg("e")
        .arg(2)
        .arg(2)
        .query(&mut con)
        .unwrap();
    assert_eq!(attrs_of(&mut con, "e"), kept);
    set_f32(&mut con, "e", &[1.0]);
    assert!(attrs_of(&mut con, "e").is_empty());
    // Errors: a missing key for ATTRSET, a wrong type, odd arguments.
    let e = error_of(
        redis::cmd("NDARRAY.ATTRSET")
            .arg("gone")
            .arg("a")
            .arg("b")
            .query(&mut con),
    );
    assert!(e.starts_with("NOKEY no such key"), "{e}");
    let _: () = redis::cmd("SET").arg("s").arg("x").query(&mut con).unwrap();
    for cmd in ["NDARRAY.ATTRGET", "NDARRAY.ATTRDEL"] {
        let e = error_of(redis::cmd(cmd).arg("s").arg("f").query(&mut con));
        assert!(e.starts_with("WRONGTYPE"), "{cmd}: {e}");
    }
    let e = error_of(
        redis::cmd("NDARRAY.ATTRSET")
            .arg("e")
            .arg("a")
            .arg("b")
            .arg("c")
            .query(&mut con),
    );
    assert!(e.contains("wrong number of arguments"), "{e}");
}

#[test]
fn attribute_limits_are_checked_before_anything_changes() {
    let server = Server::start();
    let mut con = server.conn();
    set_f32(&mut con, "e", &[1.0]);
    let _: i64 = redis::cmd("NDARRAY.ATTRSET")
        .arg("e")
        .arg("keep")
        .arg("me")
        .query(&mut con)
        .unwrap();
    let before = (
        attrs_of(&mut con, "e"),
        digest(&mut con, "e"),
        updated_at(&mut con, "e"),
    );
    let long_name = "n".repeat(257);
    let big = vec![b'x'; 64 * 1024];
    let many: Vec<String> = (0..256).map(|i| format!("f{i}")).collect();
    let cases: Vec<(redis::Cmd, &str)> = vec![
        (
            redis::cmd("NDARRAY.ATTRSET")
                .arg("e")
                .arg("ok")
                .arg("1")
                .arg(&long_name)
                .arg("v")
                .clone(),
            "attribute names are 1 to 256 bytes",
        ),
        (
            redis::cmd("NDARRAY.ATTRSET")
                .arg("e")
                .arg("")
                .arg("v")
                .clone(),
            "attribute names are 1 to 256 bytes",
        ),
        (
            redis::cmd("NDARRAY.ATTRSET")
                .arg("e")
                .arg("big")
                .arg(&big)
                .clone(),
            "over the limit of 65536",
        ),
        (
            {
                let mut c = redis::cmd("NDARRAY.ATTRSET");
                c.arg("e");
                for f in &many {
                    c.arg(f).arg("");
                }
                c
            },
            "at most 256 attributes",
        ),
    ];
    for (cmd, want) in cases {
        let e = error_of(cmd.query(&mut con));
        assert!(
            e.starts_with("LIMIT") && e.contains(want),
            "{e} lacks {want}"
        );
    }
    // SET with too many ATTR bytes stores nothing at all.
    let e = error_of(
        redis::cmd("NDARRAY.SET")
            .arg("e")
            .arg("int8")
            .arg(1)
            .arg("ATTR")
            .arg("big")
            .arg(&big)
            .arg("VALUES")
            .arg(1)
            .query(&mut con),
    );
    assert!(e.contains("over the limit"), "{e}");
    assert_eq!(
        (
            attrs_of(&mut con, "e"),
            digest(&mut con, "e"),
            updated_at(&mut con, "e")
        ),
        before
    );
    // Exactly at the limits is accepted: 255 more names (256 in all) of 256 bytes.
    let mut c = redis::cmd("NDARRAY.ATTRSET");
    c.arg("e");
    for i in 0..255 {
        c.arg(format!("{i:0>256}")).arg("");
    }
    let created: i64 = c.query(&mut con).unwrap();
    assert_eq!(created, 255);
}

#[test]
fn updated_at_moves_on_every_write_and_never_on_reads() {
    let server = Server::start();
    let mut con = server.conn();
    let t0 = now_ms();
    set_f32(&mut con, "e", &[1.0, 2.0]);
    let mut last = updated_at(&mut con, "e");
    assert!(
        last >= t0 - 1000 && last <= now_ms() + 1000,
        "{last} vs {t0}"
    );
    let writes: Vec<redis::Cmd> = vec![
        redis::cmd("NDARRAY.SETSLICE")
            .arg("e")
            .arg("0")
            .arg("VALUES")
            .arg(5)
            .clone(),
        redis::cmd("NDARRAY.APPEND")
            .arg("e")
            .arg("VALUES")
            .arg(3)
            .clone(),
        redis::cmd("NDARRAY.RESHAPE").arg("e").arg(3).arg(1).clone(),
        redis::cmd("NDARRAY.ATTRSET")
            .arg("e")
            .arg("a")
            .arg("1")
            .clone(),
        redis::cmd("NDARRAY.ATTRDEL").arg("e").arg("a").clone(),
    ];
    for w in writes {
        std::thread::sleep(Duration::from_millis(5));
        let _: Value = w.query(&mut con).unwrap();
        let now = updated_at(&mut con, "e");
        assert!(now > last, "{w:?}: {now} after {last}");
        last = now;
    }
    std::thread::sleep(Duration::from_millis(5));
    for r in [
        redis::cmd("NDARRAY.GET").arg("e").clone(),
        redis::cmd("NDARRAY.ATTRGET").arg("e").clone(),
        redis::cmd("NDARRAY.ATTRDEL").arg("e").arg("absent").clone(),
        redis::cmd("NDARRAY.STACK").arg(1).arg("e").clone(),
    ] {
        let _: Value = r.query(&mut con).unwrap();
    }
    assert_eq!(updated_at(&mut con, "e"), last, "reads do not move it");
}

fn args(words: &[&str]) -> Vec<Vec<u8>> {
    words.iter().map(|w| w.as_bytes().to_vec()).collect()
}

#[test]
fn internal_commands_are_refused_from_clients_and_applied_from_the_aof() {
    let mut server = Server::start_with(&["--appendonly", "yes"]);
    let mut con = server.conn();
    set_f32(&mut con, "e", &[1.0, 2.0]);
    let before = updated_at(&mut con, "e");
    // Redis 8 hides internal commands ("unknown command"); elsewhere the module refuses them.
    let e = error_of(
        redis::cmd("NDARRAY.STAMP")
            .arg("e")
            .arg(1234)
            .query(&mut con),
    );
    assert!(
        e.contains("is internal") || e.contains("unknown command"),
        "{e}"
    );
    let e = error_of(
        redis::cmd("NDARRAY.PUTENCODED")
            .arg("s")
            .arg("NEW")
            .arg("x")
            .query(&mut con),
    );
    assert!(
        e.contains("is internal") || e.contains("unknown command"),
        "{e}"
    );
    // Not even through a script or a transaction.
    let e = error_of(
        redis::cmd("EVAL")
            .arg("return redis.call('NDARRAY.STAMP', KEYS[1], '1234')")
            .arg(1)
            .arg("e")
            .query(&mut con),
    );
    // Redis 8: "This Redis command is not allowed from script" (internal commands are hidden).
    assert!(
        e.contains("is internal") || e.contains("not allowed from script"),
        "{e}"
    );
    assert_eq!(updated_at(&mut con, "e"), before);
    // From the AOF: STAMP sets the time, skipping missing keys; a bad one is refused and logged.
    server.replay_in_aof(&[
        args(&["NDARRAY.STAMP", "e", "gone", "1234"]),
        args(&["NDARRAY.STAMP", "e", "-5"]),
    ]);
    let mut con = server.conn();
    assert_eq!(updated_at(&mut con, "e"), 1234);
    let log = server.log();
    assert!(
        log.contains("NDARRAY.STAMP from the replication link or the AOF was refused")
            && log.contains("unix-ms must be"),
        "{log}"
    );
}

#[test]
fn msetex_is_all_or_nothing_with_nx_xx_ttl_and_storage_options() {
    let server = Server::start();
    let mut con = server.conn();
    let npy = npy_of(&mut con, "float32", &[4], &f32_bytes(&[1.0, 2.0, 3.0, 4.0]));
    let msetex = |keys: &[&str], opts: &[&str]| {
        let mut c = redis::cmd("NDARRAY.MSETEX");
        c.arg(keys.len());
        for k in keys {
            c.arg(*k).arg(&npy);
        }
        c.arg(opts);
        c
    };
    let r: i64 = msetex(
        &["a", "b"],
        &["NX", "EX", "100", "COMPRESS", "zlib", "LEVEL", "3"],
    )
    .query(&mut con)
    .unwrap();
    assert_eq!(r, 1);
    for k in ["a", "b"] {
        assert_eq!(info_str(&mut con, k, "compression"), "zlib");
        assert_eq!(info_int(&mut con, k, "level"), 3);
        let ttl: i64 = redis::cmd("TTL").arg(k).query(&mut con).unwrap();
        assert!(ttl > 90 && ttl <= 100, "{ttl}");
    }
    // NX with one key existing: nothing written.
    let db = db_digest(&mut con);
    let r: i64 = msetex(&["c", "a"], &["NX"]).query(&mut con).unwrap();
    assert_eq!(r, 0);
    assert_eq!(db_digest(&mut con), db);
    let exists: i64 = redis::cmd("EXISTS").arg("c").query(&mut con).unwrap();
    assert_eq!(exists, 0);
    // XX with one key missing: nothing; with all present: all, KEEPTTL keeps each TTL, AS casts.
    let r: i64 = msetex(&["a", "c"], &["XX"]).query(&mut con).unwrap();
    assert_eq!(r, 0);
    assert_eq!(db_digest(&mut con), db);
    let r: i64 = msetex(
        &["a", "b"],
        &["XX", "KEEPTTL", "AS", "float16", "SHUFFLE", "none"],
    )
    .query(&mut con)
    .unwrap();
    assert_eq!(r, 1);
    assert_eq!(info_str(&mut con, "a", "dtype"), "float16");
    let ttl: i64 = redis::cmd("TTL").arg("b").query(&mut con).unwrap();
    assert!(ttl > 90, "KEEPTTL: {ttl}");
    // PXAT in the past deletes, as SET does; the plain form clears TTLs.
    let r: i64 = msetex(&["a"], &["PXAT", "1000"]).query(&mut con).unwrap();
    assert_eq!(r, 1);
    assert_eq!(get_blob(&mut con, "a"), None);
    let _: i64 = msetex(&["b"], &[]).query(&mut con).unwrap();
    let ttl: i64 = redis::cmd("TTL").arg("b").query(&mut con).unwrap();
    assert_eq!(ttl, -1);
    // A bad value anywhere writes nothing, and the error names the argument and key.
    let db = db_digest(&mut con);
    let e = error_of(
        redis::cmd("NDARRAY.MSETEX")
            .arg(2)
            .arg("x")
            .arg(&npy)
            .arg("y")
            .arg("not a npy")
            .query(&mut con),
    );
    assert!(e.contains("argument 6 (the value of key 'y')"), "{e}");
    let e = error_of(msetex(&["x"], &["LEVEL", "3", "COMPRESS", "lz4"]).query(&mut con));
    assert!(e.contains("LEVEL applies only to zlib"), "{e}");
    let e = error_of(msetex(&["x"], &["AS", "bool"]).query(&mut con));
    assert!(e.starts_with("DTYPE cannot cast"), "{e}");
    assert_eq!(db_digest(&mut con), db);
    // numkeys must match the pairs given.
    for (args, want) in [
        (
            vec!["3", "x", "v", "y", "v"],
            "numkeys is 3 but 2 key/value pairs follow",
        ),
        (vec!["0", "x", "v"], "numkeys must be a positive integer"),
        (vec!["1", "x", "v", "y", "v"], "unknown option 'y'"),
    ] {
        let e = error_of(redis::cmd("NDARRAY.MSETEX").arg(&args).query(&mut con));
        assert!(e.contains(want), "{args:?}: {e}");
    }
    // MSET is unchanged: OK, no options.
    let ok: String = redis::cmd("NDARRAY.MSET")
        .arg("m")
        .arg(&npy)
        .query(&mut con)
        .unwrap();
    assert_eq!(ok, "OK");
    assert!(updated_at(&mut con, "m") > 0);
}

#[test]
fn stack_takes_numkeys_as_format_and_fills_missing_rows() {
    let server = Server::start();
    let mut con = server.conn();
    set_f32(&mut con, "a", &[1.0, 2.0]);
    set_f32(&mut con, "b", &[3.0, 4.0]);
    let blob: Vec<u8> = redis::cmd("NDARRAY.STACK")
        .arg(2)
        .arg("a")
        .arg("b")
        .arg("FORMAT")
        .arg("BLOB")
        .query(&mut con)
        .unwrap();
    assert_eq!(blob, f32_bytes(&[1.0, 2.0, 3.0, 4.0]));
    let f64s: Vec<u8> = redis::cmd("NDARRAY.STACK")
        .arg(2)
        .arg("a")
        .arg("b")
        .arg("AS")
        .arg("float64")
        .arg("FORMAT")
        .arg("BLOB")
        .query(&mut con)
        .unwrap();
    assert_eq!(f64s, f64_bytes(&[1.0, 2.0, 3.0, 4.0]));
    let npy: Vec<u8> = redis::cmd("NDARRAY.STACK")
        .arg(2)
        .arg("a")
        .arg("b")
        .query(&mut con)
        .unwrap();
    assert!(String::from_utf8_lossy(&npy).contains("'shape': (2, 2)"));
    // MISSING FILL: [stacked, filled positions], the value in the stacked dtype.
    let (data, filled): (Vec<u8>, Vec<i64>) = redis::cmd("NDARRAY.STACK")
        .arg(4)
        .arg("gone")
        .arg("a")
        .arg("gone2")
        .arg("b")
        .arg("AS")
        .arg("float64")
        .arg("FORMAT")
        .arg("BLOB")
        .arg("MISSING")
        .arg("FILL")
        .arg(-1.5)
        .query(&mut con)
        .unwrap();
    assert_eq!(
        data,
        f64_bytes(&[-1.5, -1.5, 1.0, 2.0, -1.5, -1.5, 3.0, 4.0])
    );
    assert_eq!(filled, [0, 2]);
    let (_, filled): (Vec<u8>, Vec<i64>) = redis::cmd("NDARRAY.STACK")
        .arg(2)
        .arg("a")
        .arg("b")
        .arg("MISSING")
        .arg("FILL")
        .arg(0)
        .query(&mut con)
        .unwrap();
    assert!(filled.is_empty());
    // Errors.
    let _: () = redis::cmd("SET").arg("s").arg("x").query(&mut con).unwrap();
    set_f32(&mut con, "odd", &[1.0, 2.0, 3.0]);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["2", "a", "gone"], "NOKEY no such key 'gone'"),
        (vec!["2", "a", "s", "MISSING", "FILL", "0"], "WRONGTYPE"),
        (
            vec!["2", "gone", "gone2", "MISSING", "FILL", "0"],
            "NOKEY every key is missing",
        ),
        (
            vec!["3", "gone", "a", "odd", "MISSING", "FILL", "0"],
            "SHAPE cannot stack: key 'odd' is float32 with shape (3,)",
        ),
        (
            vec!["2", "a", "b", "MISSING", "FILL", "abc"],
            "VALUE MISSING FILL value",
        ),
        (vec!["2", "a", "b", "AS", "bool"], "DTYPE"),
        (
            vec!["2", "a", "b", "FORMAT", "VALUES"],
            "STACK replies NPY or BLOB",
        ),
        (
            vec!["2", "a", "b", "MISSING", "DROP"],
            "MISSING FILL value or MISSING SKIP",
        ),
        (
            vec!["2", "a", "b", "MISSING", "SKIP", "MISSING", "FILL", "0"],
            "exclude each other",
        ),
        (
            vec!["2", "a", "b", "REDUCE", "var"],
            "unknown op 'var' (expected one of: sum, mean, min, max)",
        ),
        (vec!["3", "a", "b"], "numkeys is 3 but 2 arguments follow"),
        (vec!["a", "b"], "numkeys must be a positive integer"),
        (vec!["1", "a", "b"], "unknown option 'b'"),
    ];
    for (args, want) in cases {
        let e = error_of(redis::cmd("NDARRAY.STACK").arg(&args).query(&mut con));
        assert!(e.starts_with(want) || e.contains(want), "{args:?}: {e}");
    }
}

#[test]
fn attrset_attrdel_and_msetex_fire_keyspace_events() {
    let server = Server::start_with(&["--notify-keyspace-events", "KEA"]);
    let mut con = server.conn();
    let npy = npy_of(&mut con, "uint8", &[2], &[1, 2]);
    let mut sub_con = server.conn();
    let mut sub = sub_con.as_pubsub();
    sub.psubscribe("__keyevent@0__:ndarray.*").unwrap();
    sub.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _: i64 = redis::cmd("NDARRAY.MSETEX")
        .arg(2)
        .arg("x")
        .arg(&npy)
        .arg("y")
        .arg(&npy)
        .query(&mut con)
        .unwrap();
    let _: i64 = redis::cmd("NDARRAY.ATTRSET")
        .arg("x")
        .arg("f")
        .arg("v")
        .query(&mut con)
        .unwrap();
    let _: i64 = redis::cmd("NDARRAY.ATTRDEL")
        .arg("x")
        .arg("f")
        .query(&mut con)
        .unwrap();
    let events: Vec<(String, String)> = (0..4)
        .map(|_| {
            let m = sub.get_message().unwrap();
            (m.get_channel_name().to_string(), m.get_payload().unwrap())
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("ndarray.msetex", "x"),
        ("ndarray.msetex", "y"),
        ("ndarray.attrset", "x"),
        ("ndarray.attrdel", "x"),
    ]
    .iter()
    .map(|(e, k)| (format!("__keyevent@0__:{e}"), k.to_string()))
    .collect();
    assert_eq!(events, want);
}

/// Arrays with attributes and known `updated_at` values, plus (key → expected) for checking.
fn populate_meta(con: &mut Connection) -> Vec<(String, i64, AttrList)> {
    let mut out = Vec::new();
    for (i, codec) in ["none", "lz4", "zlib"].iter().enumerate() {
        let key = format!("m:{codec}");
        let _: () = redis::cmd("NDARRAY.SET")
            .arg(&key)
            .arg("float32")
            .arg(100)
            .arg(100)
            .arg("COMPRESS")
            .arg(*codec)
            .arg("ATTR")
            .arg("model")
            .arg(format!("v{i}"))
            .arg("ATTR")
            .arg(&b"bin\xff"[..])
            .arg(&b"\x00\x01"[..])
            .arg("BLOB")
            .arg(smooth_f32(10_000))
            .query(con)
            .unwrap();
        out.push((key.clone(), updated_at(con, &key), attrs_of(con, &key)));
    }
    set_f32(con, "m:plain", &[1.0]);
    out.push(("m:plain".into(), updated_at(con, "m:plain"), vec![]));
    out
}

fn check_meta(con: &mut Connection, expect: &[(String, i64, AttrList)], what: &str) {
    for (key, at, attrs) in expect {
        assert_eq!(updated_at(con, key), *at, "{what}: {key} updated_at");
        assert_eq!(&attrs_of(con, key), attrs, "{what}: {key} attrs");
    }
}

#[test]
fn attributes_and_updated_at_survive_restart_reload_dump_and_copy() {
    let mut server = Server::start();
    let mut con = server.conn();
    let expect = populate_meta(&mut con);
    std::thread::sleep(Duration::from_millis(20));
    let db = db_digest(&mut con);
    let _: () = redis::cmd("DEBUG").arg("RELOAD").query(&mut con).unwrap();
    check_meta(&mut con, &expect, "DEBUG RELOAD");
    server.restart();
    let mut con = server.conn();
    check_meta(&mut con, &expect, "restart");
    assert_eq!(db_digest(&mut con), db);
    for (key, at, attrs) in &expect {
        let dump: Vec<u8> = redis::cmd("DUMP").arg(key).query(&mut con).unwrap();
        let copy = format!("{key}:restored");
        let _: () = redis::cmd("RESTORE")
            .arg(&copy)
            .arg(0)
            .arg(dump)
            .query(&mut con)
            .unwrap();
        let copied = format!("{key}:copied");
        let _: i64 = redis::cmd("COPY")
            .arg(key)
            .arg(&copied)
            .query(&mut con)
            .unwrap();
        for k in [copy, copied] {
            assert_eq!(updated_at(&mut con, &k), *at, "{k}");
            assert_eq!(&attrs_of(&mut con, &k), attrs, "{k}");
            assert_eq!(digest(&mut con, &k), digest(&mut con, key), "{k}");
        }
    }
    // The digest covers attributes (but not updated_at: two keys written alike digest alike).
    let d = digest(&mut con, "m:lz4");
    let _: i64 = redis::cmd("NDARRAY.ATTRSET")
        .arg("m:lz4")
        .arg("model")
        .arg("other")
        .query(&mut con)
        .unwrap();
    assert_ne!(digest(&mut con, "m:lz4"), d);
    // MEMORY USAGE counts them.
    let before: i64 = redis::cmd("MEMORY")
        .arg("USAGE")
        .arg("m:plain")
        .query(&mut con)
        .unwrap();
    let _: i64 = redis::cmd("NDARRAY.ATTRSET")
        .arg("m:plain")
        .arg("big")
        .arg(vec![b'x'; 10_000])
        .query(&mut con)
        .unwrap();
    let after: i64 = redis::cmd("MEMORY")
        .arg("USAGE")
        .arg("m:plain")
        .query(&mut con)
        .unwrap();
    assert!(after >= before + 10_000, "{before} -> {after}");
}

/// Every kind of write, so that the AOF (or a replica) receives each replicated form: SET (small,
/// with EX), big SET and MSETEX (offloaded, replicated as PUTENCODED), MSET, MSETEX, SETSLICE,
/// APPEND, RESHAPE, ATTRSET, ATTRDEL.
fn write_everything(con: &mut Connection) {
    let _ = populate_meta(con);
    let _: () = redis::cmd("NDARRAY.SET")
        .arg("ttl")
        .arg("int8")
        .arg(1)
        .arg("EX")
        .arg(1000)
        .arg("ATTR")
        .arg("a")
        .arg("b")
        .arg("VALUES")
        .arg(1)
        .query(con)
        .unwrap();
    let big = npy_of(con, "float32", &[600, 1000], &smooth_f32(600_000));
    let small = npy_of(con, "uint8", &[3], &[1, 2, 3]);
    let _: i64 = redis::cmd("NDARRAY.MSETEX")
        .arg(2)
        .arg("big1")
        .arg(&big)
        .arg("big2")
        .arg(&big)
        .arg("PX")
        .arg(500_000)
        .query(con)
        .unwrap();
    let _: () = redis::cmd("NDARRAY.SET")
        .arg("big3")
        .arg("ATTR")
        .arg("k")
        .arg("v")
        .arg("NPY")
        .arg(&big)
        .query(con)
        .unwrap();
    let _: () = redis::cmd("NDARRAY.MSET")
        .arg("s1")
        .arg(&small)
        .arg("s2")
        .arg(&small)
        .query(con)
        .unwrap();
    let _: i64 = redis::cmd("NDARRAY.MSETEX")
        .arg(1)
        .arg("s3")
        .arg(&small)
        .arg("EX")
        .arg(1000)
        .query(con)
        .unwrap();
    for (i, cmd) in [
        redis::cmd("NDARRAY.SETSLICE")
            .arg("s1")
            .arg("0")
            .arg("VALUES")
            .arg(9)
            .clone(),
        redis::cmd("NDARRAY.APPEND")
            .arg("s2")
            .arg("VALUES")
            .arg(4)
            .clone(),
        redis::cmd("NDARRAY.RESHAPE")
            .arg("s3")
            .arg(3)
            .arg(1)
            .clone(),
        redis::cmd("NDARRAY.ATTRSET")
            .arg("m:plain")
            .arg("f")
            .arg("v")
            .clone(),
        redis::cmd("NDARRAY.ATTRDEL")
            .arg("m:lz4")
            .arg("model")
            .clone(),
    ]
    .into_iter()
    .enumerate()
    {
        std::thread::sleep(Duration::from_millis(3 + i as u64));
        let _: Value = cmd.query(con).unwrap();
    }
}

const WRITTEN: [&str; 11] = [
    "m:none", "m:lz4", "m:zlib", "m:plain", "ttl", "big1", "big2", "big3", "s1", "s2", "s3",
];

/// (updated_at, attrs, digest) of every written key.
fn meta_snapshot(con: &mut Connection) -> Vec<(String, i64, AttrList, String)> {
    WRITTEN
        .iter()
        .map(|k| {
            (
                k.to_string(),
                updated_at(con, k),
                attrs_of(con, k),
                digest(con, k),
            )
        })
        .collect()
}

fn aof_replays_the_primarys_time(preamble: &str, rewrite: bool) {
    let mut server = Server::builder()
        .args(&["--appendonly", "yes", "--aof-use-rdb-preamble", preamble])
        .module_args(&["offload-bytes", "65536"])
        .start();
    let mut con = server.conn();
    write_everything(&mut con);
    if rewrite {
        let _: Value = redis::cmd("BGREWRITEAOF").query(&mut con).unwrap();
        wait_for_rewrite(&mut con);
    }
    let before = meta_snapshot(&mut con);
    assert!(before.iter().all(|(_, at, ..)| *at > 0));
    let jobs = info_ndarray(&mut con, "jobs_done");
    assert!(jobs > 0, "the big writes ran on workers");
    std::thread::sleep(Duration::from_millis(50));
    server.kill();
    // Remove any RDB so that only the AOF rebuilds the data.
    let _ = std::fs::remove_file(server.dir.join("dump.rdb"));
    server.start_again();
    let mut con = server.conn();
    assert_eq!(
        meta_snapshot(&mut con),
        before,
        "preamble {preamble}, rewrite {rewrite}"
    );
}

fn info_ndarray(con: &mut Connection, field: &str) -> i64 {
    let info: String = redis::cmd("INFO").arg("ndarray").query(con).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("ndarray_{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {info}"))
}

#[test]
fn aof_replay_shows_the_primarys_updated_at() {
    aof_replays_the_primarys_time("no", false);
}

#[test]
fn aof_rewrite_without_rdb_preamble_keeps_attributes_and_updated_at() {
    aof_replays_the_primarys_time("no", true);
}

#[test]
fn aof_rewrite_with_rdb_preamble_keeps_attributes_and_updated_at() {
    aof_replays_the_primarys_time("yes", true);
}

#[test]
fn a_replica_stores_the_primarys_updated_at() {
    let primary = Server::builder()
        .args(&["--repl-diskless-sync-delay", "0"])
        .module_args(&["offload-bytes", "65536"])
        .start();
    let replica = Server::start();
    let mut p = primary.conn();
    let mut r = replica.conn();
    // Attach, then write: everything reaches the replica as the replication stream.
    replica.replicate(&primary);
    // The replica's clock must not be what it shows: it would be later than the primary's.
    std::thread::sleep(Duration::from_millis(20));
    write_everything(&mut p);
    let _: Value = redis::cmd("WAIT").arg(1).arg(5000).query(&mut p).unwrap();
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(meta_snapshot(&mut r), meta_snapshot(&mut p));
}

/// Small writes on many keys from another client, until `stop`: SET, ATTRSET and SETSLICE, the
/// writes that replicate as themselves followed by their time (NDARRAY.STAMP). Returns the keys.
fn keep_writing(addr: String, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) -> Vec<String> {
    let mut con = redis::Client::open(addr).unwrap().get_connection().unwrap();
    let mut keys = Vec::new();
    let mut i = 0u32;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) || i < 20 {
        let key = format!("live:{}", i % 400);
        let _: () = redis::cmd("NDARRAY.SET")
            .arg(&key)
            .arg("float32")
            .arg(4)
            .arg("VALUES")
            .arg(&[i, 1, 2, 3])
            .query(&mut con)
            .unwrap();
        let _: i64 = redis::cmd("NDARRAY.ATTRSET")
            .arg(&key)
            .arg("n")
            .arg(i)
            .query(&mut con)
            .unwrap();
        if i.is_multiple_of(3) {
            let _: () = redis::cmd("NDARRAY.SETSLICE")
                .arg(&key)
                .arg("1:2")
                .arg("VALUES")
                .arg(i)
                .query(&mut con)
                .unwrap();
        }
        if i < 400 {
            keys.push(key);
        }
        i += 1;
        // Spread the writes over the sync, so that some land before the fork, some during the
        // transfer and some after the link is up.
        std::thread::sleep(Duration::from_micros(200));
    }
    keys
}

/// (key, updated_at, digest) of `keys`.
fn times_and_digests(con: &mut Connection, keys: &[String]) -> Vec<(String, i64, String)> {
    keys.iter()
        .map(|k| (k.clone(), updated_at(con, k), digest(con, k)))
        .collect()
}

/// A primary that had no replica skips the time of its small writes (nothing would receive
/// it). A replica attaching while writes go on must still get every write's time: those before
/// the sync's fork through the RDB, the others through the stream.
fn a_replica_attaching_mid_writes_gets_every_time(diskless: &str) {
    let primary = Server::builder()
        .args(&[
            "--repl-diskless-sync",
            diskless,
            "--repl-diskless-sync-delay",
            "0",
        ])
        .start();
    let replica = Server::start();
    let mut p = primary.conn();
    let mut r = replica.conn();
    let info: String = redis::cmd("INFO").arg("replication").query(&mut p).unwrap();
    assert!(info.contains("repl_backlog_active:0"), "{info}");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (addr, stop) = (primary.url(), stop.clone());
        std::thread::spawn(move || keep_writing(addr, stop))
    };
    std::thread::sleep(Duration::from_millis(150));
    replica.replicate(&primary);
    std::thread::sleep(Duration::from_millis(150));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let keys = writer.join().unwrap();
    // WAIT waits for this connection's last write: make one after all of the writer's.
    let _: () = redis::cmd("SET")
        .arg("marker")
        .arg(1)
        .query(&mut p)
        .unwrap();
    let acked: i64 = redis::cmd("WAIT").arg(1).arg(10_000).query(&mut p).unwrap();
    assert_eq!(acked, 1, "the replica did not catch up");
    let on_primary = times_and_digests(&mut p, &keys);
    assert!(on_primary.iter().all(|(_, at, _)| *at > 0));
    let on_replica = times_and_digests(&mut r, &keys);
    let differ: Vec<_> = on_replica
        .iter()
        .zip(&on_primary)
        .filter(|(r, p)| r != p)
        .collect();
    assert!(
        differ.is_empty(),
        "diskless {diskless}: (replica, primary) {differ:?}\nreplica log:\n{}",
        replica.log()
    );
}

#[test]
fn a_replica_attaching_mid_writes_gets_every_time_diskless() {
    a_replica_attaching_mid_writes_gets_every_time("yes");
}

#[test]
fn a_replica_attaching_mid_writes_gets_every_time_through_disk() {
    a_replica_attaching_mid_writes_gets_every_time("no");
}

/// Small writes on a server without AOF skip their time; once `CONFIG SET appendonly yes`
/// switches the AOF on, the rewrite records the values (with their times) and later writes
/// carry theirs: a restart from the AOF alone shows the same times.
#[test]
fn an_aof_switched_on_at_runtime_keeps_every_time() {
    let mut server = Server::start();
    let mut con = server.conn();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let before_aof = keep_writing(server.url(), stop.clone());
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("appendonly")
        .arg("yes")
        .query(&mut con)
        .unwrap();
    wait_for_rewrite(&mut con);
    std::thread::sleep(Duration::from_millis(20));
    let _: () = redis::cmd("NDARRAY.SET")
        .arg("after")
        .arg("int8")
        .arg(2)
        .arg("VALUES")
        .arg(&[1, 2])
        .query(&mut con)
        .unwrap();
    let mut keys = before_aof;
    keys.push("after".to_string());
    let before = times_and_digests(&mut con, &keys);
    std::thread::sleep(Duration::from_millis(50));
    server.kill();
    let _ = std::fs::remove_file(server.dir.join("dump.rdb"));
    server.start_again_with(Server::builder().args(&["--appendonly", "yes"]));
    let mut con = server.conn();
    assert_eq!(times_and_digests(&mut con, &keys), before);
}

#[test]
fn an_aof_of_the_previous_version_still_replays() {
    // Plain commands as the previous version wrote them (no STAMP), and a PUTENCODED payload of
    // encoding version 1: they load, with updated_at 0 (unknown) where no time was recorded.
    let mut server = Server::builder()
        .args(&["--appendonly", "yes", "--aof-use-rdb-preamble", "no"])
        .start();
    let v1_payload = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/payload/v1_u8_raw"),
    )
    .unwrap();
    let npy = npy_file("|u1", &[2], &[7, 8]);
    let commands: Vec<Vec<&[u8]>> = vec![
        vec![b"SELECT", b"0"],
        vec![b"NDARRAY.SET", b"old", b"int8", b"2", b"VALUES", b"1", b"2"],
        vec![b"NDARRAY.MSET", b"o1", &npy, b"o2", &npy],
        vec![b"NDARRAY.SETSLICE", b"old", b"0", b"VALUES", b"5"],
        vec![b"NDARRAY.PUTENCODED", b"enc", b"NEW", &v1_payload],
    ];
    let commands: Vec<Vec<Vec<u8>>> = commands
        .into_iter()
        .map(|c| c.into_iter().map(<[u8]>::to_vec).collect())
        .collect();
    server.replay_in_aof(&commands);
    let mut con = server.conn();
    assert_eq!(get_blob(&mut con, "old").unwrap(), [5, 2]);
    assert_eq!(get_blob(&mut con, "o2").unwrap(), [7, 8]);
    assert!(get_blob(&mut con, "enc").is_some());
    for k in ["old", "o1", "o2", "enc"] {
        assert_eq!(updated_at(&mut con, k), 0, "{k}: no time was recorded");
        assert!(attrs_of(&mut con, k).is_empty());
    }
}

#[test]
fn msetex_and_stack_declare_their_keys_for_getkeys_and_acl() {
    let server = Server::start();
    let mut con = server.conn();
    let keys: Vec<String> = redis::cmd("COMMAND")
        .arg("GETKEYS")
        .arg("NDARRAY.MSETEX")
        .arg(3)
        .arg("k1")
        .arg("v1")
        .arg("k2")
        .arg("v2")
        .arg("k3")
        .arg("v3")
        .arg("NX")
        .arg("EX")
        .arg(10)
        .query(&mut con)
        .unwrap();
    assert_eq!(keys, ["k1", "k2", "k3"]);
    let keys: Vec<String> = redis::cmd("COMMAND")
        .arg("GETKEYS")
        .arg("NDARRAY.STACK")
        .arg(2)
        .arg("a")
        .arg("b")
        .arg("MISSING")
        .arg("FILL")
        .arg(0)
        .query(&mut con)
        .unwrap();
    assert_eq!(keys, ["a", "b"]);
    let npy = npy_of(&mut con, "uint8", &[1], &[1]);
    // A writer of feat:* and a read-only user of feat:* (granted by name: on Redis 7.0 module
    // commands belong to no ACL category).
    let cmds = "+ndarray.msetex +ndarray.stack +ndarray.get";
    let mut acl = |args: &str| {
        let mut c = redis::cmd("ACL");
        c.arg("SETUSER");
        for a in args.split_whitespace() {
            c.arg(a);
        }
        let _: () = c.query(&mut con).unwrap();
    };
    acl(&format!("writer on >pw ~feat:* {cmds}"));
    acl(&format!("reader on >pw %R~feat:* {cmds}"));
    let user = |name: &str| {
        let mut c = server.conn();
        let _: () = redis::cmd("AUTH")
            .arg(name)
            .arg("pw")
            .query(&mut c)
            .unwrap();
        c
    };
    let (mut writer, mut reader) = (user("writer"), user("reader"));
    let r: i64 = redis::cmd("NDARRAY.MSETEX")
        .arg(2)
        .arg("feat:1")
        .arg(&npy)
        .arg("feat:2")
        .arg(&npy)
        .arg("EX")
        .arg(100)
        .query(&mut writer)
        .unwrap();
    assert_eq!(r, 1);
    let e = error_of(
        redis::cmd("NDARRAY.MSETEX")
            .arg(2)
            .arg("feat:3")
            .arg(&npy)
            .arg("other")
            .arg(&npy)
            .query(&mut writer),
    );
    assert!(e.starts_with("NOPERM"), "{e}");
    let _: Value = redis::cmd("NDARRAY.STACK")
        .arg(3)
        .arg("feat:1")
        .arg("feat:2")
        .arg("feat:9")
        .arg("MISSING")
        .arg("FILL")
        .arg(0)
        .query(&mut reader)
        .unwrap();
    let e = error_of(
        redis::cmd("NDARRAY.STACK")
            .arg(2)
            .arg("feat:1")
            .arg("other")
            .query(&mut reader),
    );
    assert!(e.starts_with("NOPERM"), "{e}");
    let e = error_of(
        redis::cmd("NDARRAY.MSETEX")
            .arg(1)
            .arg("feat:1")
            .arg(&npy)
            .query(&mut reader),
    );
    assert!(e.starts_with("NOPERM"), "read-only user: {e}");
}

#[test]
fn cluster_routes_msetex_and_stack_by_numkeys_and_fills_missing_rows() {
    let (nodes, mut con) = common::start_cluster();
    let npy = {
        let mut file = Vec::new();
        // Build the .npy on whichever node owns the temporary key.
        let _: () = redis::cmd("NDARRAY.SET")
            .arg("{tmp}")
            .arg("float32")
            .arg(2)
            .arg("VALUES")
            .arg(&[1, 2])
            .query(&mut con)
            .unwrap();
        file.extend(
            redis::cmd("NDARRAY.GET")
                .arg("{tmp}")
                .query::<Vec<u8>>(&mut con)
                .unwrap(),
        );
        file
    };
    // Hash-tagged batches, on each of several tags so that every node serves some.
    let mut served = std::collections::BTreeSet::new();
    for tag in 0..12 {
        let keys: Vec<String> = (0..10).map(|i| format!("{{u{tag}}}:{i}")).collect();
        let mut cmd = redis::cmd("NDARRAY.MSETEX");
        cmd.arg(9);
        for k in &keys[..9] {
            cmd.arg(k).arg(&npy);
        }
        cmd.arg("EX").arg(100).arg("COMPRESS").arg("lz4");
        let r: i64 = cmd.query(&mut con).unwrap();
        assert_eq!(r, 1);
        // keys[9] is missing: filled.
        let (stacked, filled): (Vec<u8>, Vec<i64>) = redis::cmd("NDARRAY.STACK")
            .arg(10)
            .arg(&keys)
            .arg("FORMAT")
            .arg("BLOB")
            .arg("MISSING")
            .arg("FILL")
            .arg(-1)
            .query(&mut con)
            .unwrap();
        assert_eq!(filled, [9]);
        assert_eq!(stacked.len(), 10 * 8);
        assert_eq!(&stacked[72..], &f32_bytes(&[-1.0, -1.0])[..]);
        for (i, node) in nodes.iter().enumerate() {
            let n: i64 = redis::cmd("EXISTS")
                .arg(&keys[0])
                .query(&mut node.conn())
                .unwrap_or(0);
            if n == 1 {
                served.insert(i);
            }
        }
    }
    assert!(
        served.len() > 1,
        "batches landed on several nodes: {served:?}"
    );
    // Keys in different slots: CROSSSLOT, for each command, from the node owning the first key.
    let e = error_of(
        redis::cmd("NDARRAY.MSETEX")
            .arg(2)
            .arg("a:1")
            .arg(&npy)
            .arg("b:2")
            .arg(&npy)
            .query(&mut con),
    );
    assert!(e.starts_with("CROSSSLOT"), "{e}");
    let e = error_of(
        redis::cmd("NDARRAY.STACK")
            .arg(3)
            .arg("a:1")
            .arg("b:2")
            .arg("c:3")
            .arg("MISSING")
            .arg("FILL")
            .arg(0)
            .query(&mut con),
    );
    assert!(e.starts_with("CROSSSLOT"), "{e}");
    // A plain connection to a node that does not own the keys is redirected.
    let moved = nodes
        .iter()
        .map(|n| {
            redis::cmd("NDARRAY.STACK")
                .arg(1)
                .arg("{u0}:0")
                .query::<Value>(&mut n.conn())
        })
        .find_map(|r| r.err())
        .expect("two nodes do not own {u0}");
    assert_eq!(moved.code(), Some("MOVED"), "{moved}");
}

/// [`dataset_memory`] once it holds still for 100 ms (big values are freed in the background).
fn settled_dataset_memory(con: &mut Connection) -> i64 {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut last = dataset_memory(con);
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let now = dataset_memory(con);
        if now == last || std::time::Instant::now() > deadline {
            return now;
        }
        last = now;
    }
}

/// `INFO memory`'s used_memory less what clients' buffers hold (a big command's query buffer is
/// kept for a while after it ran).
fn dataset_memory(con: &mut Connection) -> i64 {
    let info: String = redis::cmd("INFO").arg("memory").query(con).unwrap();
    let field = |name: &str| -> i64 {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {info}"))
    };
    field("used_memory") - field("mem_clients_normal")
}

/// Writes `commands` (each to its own fresh key `k<i>`) and returns how many bytes per key
/// used_memory grew by and MEMORY USAGE does not count (negative: counts more than it grew).
fn uncounted_per_key(con: &mut Connection, commands: &[Vec<Vec<u8>>]) -> f64 {
    // The first command once first, so per-thread buffers and codec contexts exist already.
    let mut warm = redis::cmd(std::str::from_utf8(&commands[0][0]).unwrap());
    warm.arg("warm").arg(&commands[0][2..]);
    let _: Value = warm.query(con).unwrap();
    let _: () = redis::cmd("FLUSHALL").arg("SYNC").query(con).unwrap();
    let before = settled_dataset_memory(con);
    for (i, command) in commands.iter().enumerate() {
        let mut cmd = redis::cmd(std::str::from_utf8(&command[0]).unwrap());
        cmd.arg(format!("k{i}")).arg(&command[2..]);
        let _: Value = cmd.query(con).unwrap();
    }
    let grew = settled_dataset_memory(con) - before;
    let counted: i64 = (0..commands.len())
        .map(|i| -> i64 {
            redis::cmd("MEMORY")
                .arg("USAGE")
                .arg(format!("k{i}"))
                .arg("SAMPLES")
                .arg(0)
                .query(con)
                .unwrap()
        })
        .sum();
    (grew - counted) as f64 / commands.len() as f64
}

/// MEMORY USAGE of an array counts what the allocator holds (each allocation's size class, and
/// the block Redis wraps a module value in), as it does for a string: over many fresh keys, what
/// it leaves out of used_memory's growth is within 16 bytes per key (the object header Redis 7
/// leaves out for a module type) of what it leaves out for strings of the same bytes, and it
/// counts at most 12 bytes per key more than the growth. Before, a 512-byte embedding left out
/// 48 bytes per key, a string 16-20 (Redis 7.0).
#[test]
fn memory_usage_accounts_for_used_memory_as_a_strings_does() {
    let server = Server::start();
    let mut con = server.conn();
    let mut rng = Rng(23);
    let keys = 2000;
    // `keys` commands: the words of `template` (the key's place left empty, `{i}` the command's
    // number), then the payload `tail` makes, if any.
    let mut commands = |template: &str, tail: &mut dyn FnMut(&mut Rng) -> Vec<u8>| {
        (0..keys)
            .map(|i| {
                let mut words: Vec<Vec<u8>> = template
                    .split(' ')
                    .map(|w| {
                        w.replace("{i}", &i.to_string())
                            .replace("_", "")
                            .into_bytes()
                    })
                    .collect();
                let payload = tail(&mut rng);
                if !payload.is_empty() {
                    words.push(payload);
                }
                words
            })
            .collect::<Vec<_>>()
    };
    let random = |n: usize| move |rng: &mut Rng| (0..n).map(|_| rng.next() as u8).collect();
    let strings: Vec<f64> = [512, 3000, 5]
        .into_iter()
        .map(|size| uncounted_per_key(&mut con, &commands("SET _", &mut random(size))))
        .collect();
    let worst_string = strings.iter().copied().fold(f64::MIN, f64::max);
    let arrays = [
        (
            "512-byte embedding",
            commands("NDARRAY.SET _ float32 128 BLOB", &mut random(512)),
        ),
        (
            "embedding with attributes",
            commands(
                "NDARRAY.SET _ float32 128 ATTR model m1 ATTR v {i} BLOB",
                &mut random(512),
            ),
        ),
        (
            "3000 bytes uncompressed",
            commands(
                "NDARRAY.SET _ float32 750 COMPRESS none BLOB",
                &mut random(3000),
            ),
        ),
        (
            "5 bytes",
            commands("NDARRAY.SET _ uint8 5 VALUES 1 2 3 4 5", &mut |_| {
                Vec::new()
            }),
        ),
    ];
    for (label, commands) in &arrays {
        let uncounted = uncounted_per_key(&mut con, commands);
        assert!(
            (-12.0..=worst_string + 16.0).contains(&uncounted),
            "{label}: MEMORY USAGE leaves out {uncounted:.1} bytes per key of used_memory's growth \
             (strings: {strings:?})"
        );
    }
    // Compressed arrays of 256 KiB (written on the main thread, whose codec contexts the first
    // write makes): a chunk of blocks and its index, to within 1%.
    let compressed: Vec<Vec<Vec<u8>>> = (0..40u32)
        .map(|i| {
            // Half of each element random: it compresses to about half.
            let raw: Vec<u8> = (0..1u32 << 16)
                .flat_map(|j| {
                    (0x3f80_0000 | (j % (97 + i)) << 16 | (rng.next() as u32 & 0xffff))
                        .to_le_bytes()
                })
                .collect();
            let words = [
                "NDARRAY.SET",
                "",
                "float32",
                "65536",
                "COMPRESS",
                "zstd",
                "BLOB",
            ];
            let mut command: Vec<Vec<u8>> = words.iter().map(|w| w.as_bytes().to_vec()).collect();
            command.push(raw);
            command
        })
        .collect();
    let uncounted = uncounted_per_key(&mut con, &compressed);
    let per_key: i64 = redis::cmd("MEMORY")
        .arg("USAGE")
        .arg("k0")
        .query(&mut con)
        .unwrap();
    assert!(
        uncounted.abs() <= per_key as f64 / 100.0,
        "compressed: {uncounted:.1} bytes per key uncounted of {per_key}"
    );
}
