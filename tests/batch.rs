//! NDARRAY.MGET / MSET / STACK, including a real three-node Redis Cluster.

mod common;
mod util;

use common::Server;
use redis::{Connection, Value};
use util::*;

#[test]
fn mset_then_mget_round_trips_mixed_dtypes_and_shapes() {
    let server = Server::start();
    let mut con = server.conn();
    let mut args: Vec<Vec<u8>> = Vec::new();
    let mut expected = Vec::new();
    for (i, (dtype, itemsize)) in DTYPES.iter().enumerate() {
        let dims: Vec<u64> = match i % 4 {
            0 => vec![],
            1 => vec![5],
            2 => vec![2, 3],
            _ => vec![0, 4],
        };
        let count: u64 = dims.iter().product();
        let npy = npy_of(
            &mut con,
            dtype,
            &dims,
            &valid_bytes(dtype, *itemsize, count as usize, i as u64),
        );
        args.push(format!("k{i}").into_bytes());
        args.push(npy.clone());
        expected.push(Value::BulkString(npy));
    }
    let ok: Value = redis::cmd("NDARRAY.MSET")
        .arg(&args)
        .query(&mut con)
        .unwrap();
    assert_eq!(ok, Value::Okay);
    let _: () = redis::cmd("SET")
        .arg("plain")
        .arg("x")
        .query(&mut con)
        .unwrap();
    let mut keys: Vec<String> = (0..DTYPES.len()).map(|i| format!("k{i}")).collect();
    keys.push("missing".into());
    keys.push("plain".into());
    keys.push("k1".into());
    expected.push(Value::Nil);
    expected.push(Value::Nil);
    expected.push(expected[1].clone());
    let got: Value = redis::cmd("NDARRAY.MGET")
        .arg(&keys)
        .query(&mut con)
        .unwrap();
    assert_eq!(got, Value::Array(expected));
    let one: Vec<Option<Vec<u8>>> = redis::cmd("NDARRAY.MGET")
        .arg("missing")
        .query(&mut con)
        .unwrap();
    assert_eq!(one, [None]);
}

#[test]
fn mset_is_all_or_nothing_and_replaces_any_type() {
    let server = Server::start();
    let mut con = server.conn();
    let good = npy_of(&mut con, "int32", &[2], &[1, 0, 0, 0, 2, 0, 0, 0]);
    let _: () = redis::cmd("RPUSH")
        .arg("a")
        .arg("x")
        .query(&mut con)
        .unwrap();
    let db = db_digest(&mut con);
    let e = error_of(
        redis::cmd("NDARRAY.MSET")
            .arg("a")
            .arg(&good)
            .arg("b")
            .arg("not npy")
            .arg("c")
            .arg(&good)
            .query(&mut con),
    );
    assert!(
        e.starts_with("BADNPY argument 5 (the value of key 'b'): npy"),
        "{e}"
    );
    assert_eq!(db_digest(&mut con), db, "nothing was written");
    let e = error_of(
        redis::cmd("NDARRAY.MSET")
            .arg("a")
            .arg(&good)
            .arg("b")
            .query(&mut con),
    );
    assert!(e.contains("wrong number of arguments"), "{e}");
    let _: () = redis::cmd("EXPIRE")
        .arg("a")
        .arg(100)
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("NDARRAY.MSET")
        .arg("a")
        .arg(&good)
        .arg("b")
        .arg(&good)
        .query(&mut con)
        .unwrap();
    assert_eq!(get_blob(&mut con, "a").unwrap(), [1, 0, 0, 0, 2, 0, 0, 0]);
    let ttl: i64 = redis::cmd("TTL").arg("a").query(&mut con).unwrap();
    assert_eq!(ttl, -1, "MSET replaces the value and its TTL");
    // Duplicate keys: the last one wins, as MSET does.
    let other = npy_of(&mut con, "int8", &[1], &[9]);
    let _: () = redis::cmd("NDARRAY.MSET")
        .arg("d")
        .arg(&good)
        .arg("d")
        .arg(&other)
        .query(&mut con)
        .unwrap();
    assert_eq!(get_blob(&mut con, "d").unwrap(), [9]);
}

#[test]
fn stack_builds_one_array_in_key_order() {
    let server = Server::start();
    let mut con = server.conn();
    let mut expect = Vec::new();
    let mut keys = Vec::new();
    for i in 0..10_000u32 {
        let row = f32_bytes(&[i as f32, -(i as f32), 0.5]);
        keys.push(format!("e:{i}"));
        expect.extend_from_slice(&row);
        let _: () = redis::cmd("NDARRAY.SET")
            .arg(format!("e:{i}"))
            .arg("float32")
            .arg(3)
            .arg("COMPRESS")
            .arg(if i % 2 == 0 { "none" } else { "lz4" })
            .arg("BLOB")
            .arg(row)
            .query(&mut con)
            .unwrap();
    }
    let npy: Vec<u8> = redis::cmd("NDARRAY.STACK")
        .arg(keys.len())
        .arg(&keys)
        .query(&mut con)
        .unwrap();
    let header_len = npy.len() - expect.len();
    assert!(String::from_utf8_lossy(&npy[..header_len]).contains("'shape': (10000, 3)"));
    assert_eq!(&npy[header_len..], &expect[..]);
    let all: Vec<Option<Vec<u8>>> = redis::cmd("NDARRAY.MGET")
        .arg(&keys)
        .query(&mut con)
        .unwrap();
    assert_eq!(all.len(), 10_000);
    assert!(all.iter().all(Option::is_some));
    // one key, duplicates
    let one: Vec<u8> = redis::cmd("NDARRAY.STACK")
        .arg(2)
        .arg("e:7")
        .arg("e:7")
        .query(&mut con)
        .unwrap();
    assert!(String::from_utf8_lossy(&one).contains("'shape': (2, 3)"));
    // errors name the key
    let _: () = redis::cmd("NDARRAY.SET")
        .arg("odd")
        .arg("float32")
        .arg(4)
        .arg("VALUES")
        .arg(&[1, 2, 3, 4])
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("NDARRAY.SET")
        .arg("int")
        .arg("int32")
        .arg(3)
        .arg("VALUES")
        .arg(&[1, 2, 3])
        .query(&mut con)
        .unwrap();
    let e = error_of(
        redis::cmd("NDARRAY.STACK")
            .arg(2)
            .arg("e:1")
            .arg("odd")
            .query(&mut con),
    );
    assert_eq!(e, "SHAPE cannot stack: key 'odd' is float32 with shape (4,), the first key is float32 with shape (3,)");
    let e = error_of(
        redis::cmd("NDARRAY.STACK")
            .arg(2)
            .arg("e:1")
            .arg("int")
            .query(&mut con),
    );
    assert!(e.contains("key 'int' is int32"), "{e}");
    let e = error_of(
        redis::cmd("NDARRAY.STACK")
            .arg(2)
            .arg("e:1")
            .arg("gone")
            .query(&mut con),
    );
    assert_eq!(e, "NOKEY no such key 'gone'");
    let _: () = redis::cmd("SET").arg("s").arg("x").query(&mut con).unwrap();
    let e = error_of(
        redis::cmd("NDARRAY.STACK")
            .arg(2)
            .arg("e:1")
            .arg("s")
            .query(&mut con),
    );
    assert!(e.starts_with("WRONGTYPE"), "{e}");
    let e = error_of(redis::cmd("NDARRAY.STACK").query(&mut con));
    assert!(e.contains("wrong number of arguments"), "{e}");
}

#[test]
fn mset_replicates_and_notifies() {
    let primary = Server::start_with(&[
        "--notify-keyspace-events",
        "KEA",
        "--repl-diskless-sync-delay",
        "0",
    ]);
    let replica = Server::start();
    let mut p = primary.conn();
    let mut r = replica.conn();
    let _: () = redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg(primary.port)
        .query(&mut r)
        .unwrap();
    let mut sub_con = primary.conn();
    let mut sub = sub_con.as_pubsub();
    sub.psubscribe("__keyevent@0__:ndarray.mset").unwrap();
    sub.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let npy = npy_of(&mut p, "uint8", &[3], &[1, 2, 3]);
    let _: () = redis::cmd("NDARRAY.MSET")
        .arg("x")
        .arg(&npy)
        .arg("y")
        .arg(&npy)
        .query(&mut p)
        .unwrap();
    let keys: Vec<String> = (0..2)
        .map(|_| sub.get_message().unwrap().get_payload::<String>().unwrap())
        .collect();
    assert_eq!(keys, ["x", "y"]);
    let _: Value = redis::cmd("WAIT").arg(1).arg(5000).query(&mut p).unwrap();
    for _ in 0..100 {
        if get_blob(&mut r, "y").is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(get_blob(&mut r, "x").unwrap(), [1, 2, 3]);
    assert_eq!(get_blob(&mut r, "y").unwrap(), [1, 2, 3]);
}

#[test]
fn cluster_routes_batches_by_slot_and_refuses_cross_slot() {
    let (nodes, mut con) = common::start_cluster();
    // Single-key commands land on whichever node owns each key's slot.
    for i in 0..50 {
        let key = format!("emb:{i}");
        let data = f32_bytes(&[i as f32, 1.0]);
        let _: () = redis::cmd("NDARRAY.SET")
            .arg(&key)
            .arg("float32")
            .arg(2)
            .arg("BLOB")
            .arg(&data)
            .query(&mut con)
            .unwrap();
        let got: Vec<u8> = redis::cmd("NDARRAY.GET")
            .arg(&key)
            .arg("FORMAT")
            .arg("BLOB")
            .query(&mut con)
            .unwrap();
        assert_eq!(got, data);
    }
    let holding: Vec<i64> = nodes
        .iter()
        .map(|n| redis::cmd("DBSIZE").query(&mut n.conn()).unwrap())
        .collect();
    assert!(
        holding.iter().all(|n| *n > 0),
        "keys spread over every node: {holding:?}"
    );
    // Hash-tagged batches stay on one slot.
    let keys: Vec<String> = (0..20).map(|i| format!("{{user:7}}:{i}")).collect();
    let mut mset_args: Vec<Vec<u8>> = Vec::new();
    let tmp = redis::cmd("NDARRAY.GET")
        .arg("emb:1")
        .query::<Vec<u8>>(&mut con)
        .unwrap();
    for k in &keys {
        mset_args.push(k.clone().into_bytes());
        mset_args.push(tmp.clone());
    }
    let _: () = redis::cmd("NDARRAY.MSET")
        .arg(&mset_args)
        .query(&mut con)
        .unwrap();
    let got: Vec<Option<Vec<u8>>> = redis::cmd("NDARRAY.MGET")
        .arg(&keys)
        .query(&mut con)
        .unwrap();
    assert!(got.iter().all(|g| g.as_deref() == Some(&tmp[..])));
    // A trailing FORMAT ENCODED is no key: the batch stays on its slot (else CROSSSLOT).
    let encoded: Vec<Option<Vec<u8>>> = redis::cmd("NDARRAY.MGET")
        .arg(&keys)
        .arg("FORMAT")
        .arg("ENCODED")
        .query(&mut con)
        .unwrap();
    assert_eq!(encoded.len(), keys.len());
    assert!(encoded
        .iter()
        .all(|g| g.as_deref().is_some_and(|p| p.starts_with(b"NDAE"))));
    let stacked: Vec<u8> = redis::cmd("NDARRAY.STACK")
        .arg(keys.len())
        .arg(&keys)
        .query(&mut con)
        .unwrap();
    assert!(String::from_utf8_lossy(&stacked).contains("'shape': (20, 2)"));
    // Without a hash tag the keys span slots: CROSSSLOT, from any node that owns the first key.
    for cmd in ["NDARRAY.MGET", "NDARRAY.STACK"] {
        let mut c = redis::cmd(cmd);
        if cmd == "NDARRAY.STACK" {
            c.arg(3);
        }
        let e = error_of(c.arg("emb:1").arg("emb:2").arg("emb:3").query(&mut con));
        assert!(e.starts_with("CROSSSLOT"), "{cmd}: {e}");
    }
    let e = error_of(
        redis::cmd("NDARRAY.MSET")
            .arg("emb:1")
            .arg(&tmp)
            .arg("emb:2")
            .arg(&tmp)
            .query(&mut con),
    );
    assert!(e.starts_with("CROSSSLOT"), "{e}");
    // A plain connection to a node that does not own a key is redirected.
    let mut direct = nodes[0].conn();
    let moved = (0..50)
        .map(|i| {
            redis::cmd("NDARRAY.GET")
                .arg(format!("emb:{i}"))
                .query::<Value>(&mut direct)
        })
        .find_map(|r| r.err())
        .expect("some key lives on another node");
    assert_eq!(moved.code(), Some("MOVED"), "{moved}");
}

/// `used_memory` growth per key while storing `n` keys with `store`.
fn memory_per_key(
    con: &mut Connection,
    n: usize,
    mut store: impl FnMut(&mut redis::Pipeline, usize),
) -> f64 {
    let used = |con: &mut Connection| -> f64 {
        let info: String = redis::cmd("INFO").arg("memory").query(con).unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    // Twice, keeping the smaller: a background free of the previous keys (FLUSHALL is lazy on
    // Valkey 8+) or a client buffer not yet shrunk can inflate one measurement under load.
    let mut best = f64::INFINITY;
    for _ in 0..2 {
        let _: () = redis::cmd("FLUSHALL").arg("SYNC").query(con).unwrap();
        let before = used(con);
        for batch in (0..n).collect::<Vec<_>>().chunks(1000) {
            let mut pipe = redis::pipe();
            for &i in batch {
                store(&mut pipe, i);
            }
            let _: () = pipe.query(con).unwrap();
        }
        best = best.min((used(con) - before) / n as f64);
    }
    best
}

#[test]
fn a_small_array_costs_no_more_than_a_string_of_its_bytes() {
    let server = Server::start();
    let mut con = server.conn();
    let emb = noise(512, 9);
    let plain = memory_per_key(&mut con, 20_000, |p, i| {
        p.cmd("SET").arg(format!("emb:{i}")).arg(&emb).ignore();
    });
    let array = memory_per_key(&mut con, 20_000, |p, i| {
        p.cmd("NDARRAY.SET")
            .arg(format!("emb:{i}"))
            .arg("float32")
            .arg(128)
            .arg("COMPRESS")
            .arg("none")
            .arg("BLOB")
            .arg(&emb)
            .ignore();
    });
    let half = memory_per_key(&mut con, 20_000, |p, i| {
        p.cmd("NDARRAY.SET")
            .arg(format!("emb:{i}"))
            .arg("float32")
            .arg(128)
            .arg("COMPRESS")
            .arg("none")
            .arg("AS")
            .arg("float16")
            .arg("BLOB")
            .arg(&emb)
            .ignore();
    });
    // jemalloc (Redis' default) rounds every allocation to a size class; glibc malloc (the
    // Valkey 8.1 wheel) adds a header to each, and an array is five allocations to a string's
    // two or three: 1.29x there, measured.
    let info: String = redis::cmd("INFO").arg("memory").query(&mut con).unwrap();
    let libc = info.contains("mem_allocator:libc");
    let (bound, half_bound) = if libc { (1.35, 0.95) } else { (1.05, 0.8) };
    assert!(
        array <= plain * bound,
        "NDARRAY {array:.1} B/key vs plain string {plain:.1} B/key"
    );
    assert!(
        half <= plain * half_bound,
        "float16 {half:.1} B/key vs plain string {plain:.1} B/key"
    );
}
