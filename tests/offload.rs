//! Big reads and writes run on worker threads (`ndarray.threads`, `ndarray.offload-bytes`): the
//! results are exactly those of the inline path, concurrent clients lose no acknowledged write,
//! replicas and the AOF get the encoded value, and blocked clients always get one reply — inside
//! MULTI and Lua (inline), when killed mid-job, and when the key is deleted or flushed meanwhile.

mod common;
mod util;

use common::Server;
use redis::{Connection, Value};
use std::time::{Duration, Instant};
use util::*;

const MIB: usize = 1 << 20;

fn stat(con: &mut Connection, field: &str) -> i64 {
    ndarray_stat(con, field)
}

fn set_blob(con: &mut Connection, key: &str, dims: &[usize], data: &[u8], opts: &[&str]) -> Value {
    redis::cmd("NDARRAY.SET")
        .arg(key)
        .arg("float32")
        .arg(dims)
        .arg(opts)
        .arg("BLOB")
        .arg(data)
        .query(con)
        .unwrap()
}

/// A fixed sequence of big and small reads and writes; returns every reply (errors included).
fn workload(con: &mut Connection) -> Vec<Value> {
    let smooth = smooth_f32(2 * MIB / 4); // 2 MiB: above the 1 MiB threshold
    let mut replies = vec![
        set_blob(con, "a", &[512, 1024], &smooth, &[]),
        set_blob(con, "z", &[2 * MIB / 4], &smooth, &["COMPRESS", "zlib"]),
        set_blob(
            con,
            "n",
            &[2 * MIB / 4],
            &noise(2 * MIB, 7),
            &["COMPRESS", "none"],
        ),
        set_blob(con, "small", &[4], &smooth[..16], &[]),
        set_blob(con, "a", &[512, 1024], &smooth, &["NX"]),
        set_blob(con, "x", &[512, 1024], &smooth, &["XX"]),
        set_blob(con, "t", &[512, 1024], &smooth, &["PX", "100000"]),
    ];
    let reads: [&[&str]; 8] = [
        &["NDARRAY.GET", "a"],
        &["NDARRAY.GET", "z", "FORMAT", "BLOB"],
        &["NDARRAY.GET", "n", "AS", "float64", "FORMAT", "BLOB"],
        &["NDARRAY.SLICE", "a", "100:400, ::3"],
        &["NDARRAY.MGET", "a", "missing", "small", "z"],
        &["NDARRAY.STACK", "2", "a", "t"],
        &["NDARRAY.GET", "a", "AS", "int8"],
        &["NDARRAY.INFO", "z"],
    ];
    for read in reads {
        let reply = redis::cmd(read[0]).arg(&read[1..]).query(con);
        let mut reply = reply.unwrap_or_else(|e| Value::SimpleString(e.to_string()));
        // updated_at is each server's own clock: compare everything else.
        if let Value::Array(fields) = &mut reply {
            if let Some(i) = fields
                .iter()
                .position(|f| *f == Value::BulkString(b"updated_at".to_vec()))
            {
                fields[i + 1] = Value::Int(0);
            }
        }
        replies.push(reply);
    }
    // SETSLICEs over many chunks (a worker with a pool), broadcast and BLOB, and a bad one.
    let slices: [&[&[u8]]; 3] = [
        &[b"z", b"1000:400000", b"VALUES", b"7.5"],
        &[b"a", b"::2, 1:3", b"BLOB", &[1u8; 256 * 2 * 4]],
        &[b"z", b"0:10", b"VALUES", b"1", b"2"],
    ];
    for args in slices {
        let reply = redis::cmd("NDARRAY.SETSLICE").arg(args).query(con);
        replies.push(reply.unwrap_or_else(|e| Value::SimpleString(e.to_string())));
    }
    replies.push(
        redis::cmd("NDARRAY.GET")
            .arg("z")
            .arg("FORMAT")
            .arg("BLOB")
            .query(con)
            .unwrap(),
    );
    let npy: Vec<u8> = redis::cmd("NDARRAY.GET").arg("a").query(con).unwrap();
    replies.push(
        redis::cmd("NDARRAY.MSET")
            .arg("m1")
            .arg(&npy)
            .arg("m2")
            .arg(&npy)
            .query(con)
            .unwrap(),
    );
    replies.push(redis::cmd("NDARRAY.GET").arg("m2").query(con).unwrap());
    replies
}

#[test]
fn offloaded_work_gives_exactly_the_inline_results() {
    let pool = Server::start_with_module_args(&["threads", "2"], &[]);
    let inline = Server::start_with_module_args(&["threads", "0"], &[]);
    let (mut p, mut i) = (pool.conn(), inline.conn());
    assert_eq!(workload(&mut p), workload(&mut i));
    let ttl: i64 = redis::cmd("PTTL").arg("t").query(&mut p).unwrap();
    assert!(ttl > 90_000, "TTL set at install: {ttl}");
    // The TTLs differ by the time between the two runs: compare the data without them.
    for con in [&mut p, &mut i] {
        let _: i64 = redis::cmd("PERSIST").arg("t").query(con).unwrap();
    }
    assert_eq!(db_digest(&mut p), db_digest(&mut i));
    assert!(
        stat(&mut p, "jobs_done") >= 10,
        "big commands ran on workers"
    );
    assert!(stat(&mut p, "bytes_offloaded") >= 20 * MIB as i64);
    assert_eq!(
        stat(&mut i, "jobs_done"),
        0,
        "threads 0 runs everything inline"
    );
    assert_eq!(
        stat(&mut p, "jobs_queued") + stat(&mut p, "jobs_running"),
        0
    );
    // A threshold of 0 offloads everything, even a 4-element array; results do not change.
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("ndarray.offload-bytes")
        .arg(0)
        .query(&mut p)
        .unwrap();
    let before = stat(&mut p, "jobs_done");
    let small: Vec<u8> = redis::cmd("NDARRAY.GET")
        .arg("small")
        .query(&mut p)
        .unwrap();
    let expect: Vec<u8> = redis::cmd("NDARRAY.GET")
        .arg("small")
        .query(&mut i)
        .unwrap();
    assert_eq!(small, expect);
    wait_for_idle_pool(&mut p);
    assert_eq!(stat(&mut p, "jobs_done"), before + 1);
    // The pool's size is fixed when the module loads.
    let e = error_of(
        redis::cmd("CONFIG")
            .arg("SET")
            .arg("ndarray.threads")
            .arg(1)
            .query(&mut p),
    );
    assert!(e.contains("immutable"), "{e}");
}

#[test]
fn errors_of_offloaded_commands_are_the_inline_errors() {
    let server = Server::start();
    let mut con = server.conn();
    let big = smooth_f32(2 * MIB / 4);
    set_blob(&mut con, "a", &[2 * MIB / 4], &big, &[]);
    let _: () = redis::cmd("SET")
        .arg("s")
        .arg("text")
        .query(&mut con)
        .unwrap();
    // Validation happens before the work leaves the main thread.
    let e = error_of(
        redis::cmd("NDARRAY.SET")
            .arg("b")
            .arg("float32")
            .arg(2 * MIB / 4 + 1)
            .arg("BLOB")
            .arg(&big)
            .query(&mut con),
    );
    assert!(e.contains("blob is 2097152 bytes"), "{e}");
    let e = error_of(
        redis::cmd("NDARRAY.GET")
            .arg("a")
            .arg("AS")
            .arg("bool")
            .query(&mut con),
    );
    assert!(e.starts_with("ERR") || e.contains("cast"), "{e}");
    let e = error_of(
        redis::cmd("NDARRAY.STACK")
            .arg(2)
            .arg("a")
            .arg("s")
            .query(&mut con),
    );
    assert!(e.contains("WRONGTYPE"), "{e}");
    let e = error_of(
        redis::cmd("NDARRAY.SLICE")
            .arg("a")
            .arg("5:2:0")
            .query(&mut con),
    );
    assert!(e.contains("step"), "{e}");
    let exists: i64 = redis::cmd("EXISTS").arg("b").query(&mut con).unwrap();
    assert_eq!(exists, 0);
}

#[test]
fn a_pipeline_of_big_commands_gets_one_reply_each_in_order() {
    let server = Server::start();
    let mut con = server.conn();
    let a = smooth_f32(3 * MIB / 4);
    let b = noise(3 * MIB, 1);
    let mut pipe = redis::pipe();
    pipe.cmd("NDARRAY.SET")
        .arg("a")
        .arg("float32")
        .arg(3 * MIB / 4)
        .arg("BLOB")
        .arg(&a);
    pipe.cmd("NDARRAY.GET").arg("a").arg("FORMAT").arg("BLOB");
    pipe.cmd("PING");
    pipe.cmd("NDARRAY.SET")
        .arg("b")
        .arg("float32")
        .arg(3 * MIB / 4)
        .arg("BLOB")
        .arg(&b);
    pipe.cmd("NDARRAY.GET").arg("b").arg("FORMAT").arg("BLOB");
    pipe.cmd("NDARRAY.GET").arg("a").arg("FORMAT").arg("BLOB");
    let (s1, g1, pong, s2, g2, g3): (String, Vec<u8>, String, String, Vec<u8>, Vec<u8>) =
        pipe.query(&mut con).unwrap();
    assert_eq!(
        (s1.as_str(), pong.as_str(), s2.as_str()),
        ("OK", "PONG", "OK")
    );
    assert_eq!((g1, g2, g3), (a.clone(), b, a));
}

#[test]
fn concurrent_clients_lose_no_acknowledged_write() {
    let server = Server::start_with(&["--enable-debug-command", "yes"]);
    let addr = server.url();
    let rounds = 6;
    let writers: Vec<_> = (0..3u64)
        .map(|w| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let mut con = redis::Client::open(addr).unwrap().get_connection().unwrap();
                let mut last = Vec::new();
                for round in 0..rounds {
                    // Own key: each write read back at once; shared key: every client writes it.
                    let data = noise(MIB + 4096 * round as usize, w * 100 + round);
                    let n = data.len() / 4;
                    let codec = ["lz4", "zlib", "none"][(w as usize + round as usize) % 3];
                    for key in [format!("own{w}"), "shared".to_string()] {
                        let r = set_blob(&mut con, &key, &[n], &data, &["COMPRESS", codec]);
                        assert_eq!(r, Value::Okay);
                    }
                    assert_eq!(get_blob(&mut con, &format!("own{w}")).unwrap(), data);
                    let shared = get_blob(&mut con, "shared").unwrap();
                    assert!(shared.len() >= MIB, "a whole value, never a partial one");
                    last = data;
                }
                last
            })
        })
        .collect();
    let finals: Vec<Vec<u8>> = writers.into_iter().map(|t| t.join().unwrap()).collect();
    let mut con = server.conn();
    for (w, data) in finals.iter().enumerate() {
        assert_eq!(&get_blob(&mut con, &format!("own{w}")).unwrap(), data);
    }
    // The shared key holds one of the writes whole; a serial replay of the final values on an
    // inline server gives the same digest.
    let shared = get_blob(&mut con, "shared").unwrap();
    let replay =
        Server::start_with_module_args(&["threads", "0"], &["--enable-debug-command", "yes"]);
    let mut r = replay.conn();
    for (w, data) in finals.iter().enumerate() {
        set_blob(&mut r, &format!("own{w}"), &[data.len() / 4], data, &[]);
    }
    set_blob(&mut r, "shared", &[shared.len() / 4], &shared, &[]);
    assert_eq!(db_digest(&mut r), db_digest(&mut con));
}

/// A 24 MiB array compressed with zlib level 9 keeps a worker busy for a while.
fn slow_set(key: &str) -> redis::Cmd {
    let data = smooth_f32(6 * MIB);
    let mut cmd = redis::cmd("NDARRAY.SET");
    cmd.arg(key)
        .arg("float32")
        .arg(6 * MIB)
        .arg("COMPRESS")
        .arg("zlib")
        .arg("LEVEL")
        .arg(9)
        .arg("BLOB")
        .arg(data);
    cmd
}

#[test]
fn a_setslice_on_a_worker_keeps_every_write_made_meanwhile() {
    let server = Server::start();
    let mut con = server.conn();
    let mut r = server.conn();
    set_blob(
        &mut con,
        "a",
        &[6 * MIB],
        &smooth_f32(6 * MIB),
        &["COMPRESS", "zlib", "LEVEL", "9"],
    );
    // Rewrites every chunk with zlib-9 on a worker: long enough for another client to write.
    let big = redis::cmd("NDARRAY.SETSLICE")
        .arg("a")
        .arg("1:")
        .arg("VALUES")
        .arg(3)
        .get_packed_command();
    con.send_packed_command(&big).unwrap();
    wait_for_running_job(&mut r);
    let _: () = redis::cmd("NDARRAY.SETSLICE")
        .arg("a")
        .arg("0")
        .arg("VALUES")
        .arg(9)
        .query(&mut r)
        .unwrap();
    assert_eq!(con.recv_response().unwrap(), Value::Okay);
    let head: Vec<f32> = redis::cmd("NDARRAY.SLICE")
        .arg("a")
        .arg("0:3")
        .arg("FORMAT")
        .arg("VALUES")
        .query(&mut r)
        .unwrap();
    assert_eq!(
        head,
        [9.0, 3.0, 3.0],
        "both writes, in the order they were accepted"
    );
    let last: Vec<f32> = redis::cmd("NDARRAY.SLICE")
        .arg("a")
        .arg("-1:")
        .arg("FORMAT")
        .arg("VALUES")
        .query(&mut r)
        .unwrap();
    assert_eq!(last, [3.0]);
}

fn wait_for_running_job(con: &mut Connection) {
    wait_for_stat(con, "jobs_running", 1);
}

fn wait_for_idle_pool(con: &mut Connection) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while stat(con, "jobs_running") + stat(con, "jobs_queued") > 0 {
        assert!(Instant::now() < deadline, "jobs did not finish");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_client_killed_mid_job_neither_leaks_nor_crashes_and_its_write_still_happens() {
    let mut server = Server::start();
    let mut admin = server.conn();
    let mut victim = server.conn();
    let id: i64 = redis::cmd("CLIENT").arg("ID").query(&mut victim).unwrap();
    let done = std::thread::spawn(move || slow_set("k").query::<Value>(&mut victim));
    wait_for_running_job(&mut admin);
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(id)
        .query(&mut admin)
        .unwrap();
    assert_eq!(killed, 1);
    assert!(
        done.join().unwrap().is_err(),
        "the killed client saw its connection close"
    );
    wait_for_idle_pool(&mut admin);
    // The write was sent, so it happens (as a plain SET sent before a disconnect does).
    assert_eq!(info_int(&mut admin, "k", "size"), 6 * MIB as i64);
    let pong: String = redis::cmd("PING").query(&mut admin).unwrap();
    assert_eq!(pong, "PONG");
    let clients: String = redis::cmd("INFO").arg("clients").query(&mut admin).unwrap();
    assert!(clients.contains("blocked_clients:0"), "{clients}");
    assert!(server.is_running());
}

#[test]
fn deleting_or_flushing_the_key_during_a_job_changes_no_reply() {
    let server = Server::start();
    let mut con = server.conn();
    let mut other = server.conn();
    let data = smooth_f32(6 * MIB);
    // A read works on its snapshot: DEL and FLUSHALL while it runs do not touch its bytes.
    slow_set("src").query::<()>(&mut con).unwrap();
    for _ in 0..3 {
        let reader = {
            let mut c = server.conn();
            std::thread::spawn(move || get_blob(&mut c, "src"))
        };
        let _: i64 = redis::cmd("DEL").arg("nothing").query(&mut other).unwrap();
        let _: Value = redis::cmd("COPY")
            .arg("src")
            .arg("copy")
            .query(&mut other)
            .unwrap();
        let _: i64 = redis::cmd("DEL").arg("copy").query(&mut other).unwrap();
        assert_eq!(reader.join().unwrap().unwrap(), data);
    }
    let reader = {
        let mut c = server.conn();
        std::thread::spawn(move || get_blob(&mut c, "src"))
    };
    let _: () = redis::cmd("FLUSHALL").query(&mut other).unwrap();
    let got = reader.join().unwrap();
    assert!(got.is_none() || got.as_deref() == Some(&data[..]));
    // A write in progress when the database is flushed installs afterwards, in the client's db.
    let _: () = redis::cmd("SELECT").arg(3).query(&mut con).unwrap();
    let writer = std::thread::spawn(move || slow_set("late").query::<Value>(&mut con));
    wait_for_running_job(&mut other);
    let _: () = redis::cmd("FLUSHALL").query(&mut other).unwrap();
    assert_eq!(writer.join().unwrap().unwrap(), Value::Okay);
    let _: () = redis::cmd("SELECT").arg(3).query(&mut other).unwrap();
    assert_eq!(get_blob(&mut other, "late").unwrap(), data);
    let _: () = redis::cmd("SELECT").arg(0).query(&mut other).unwrap();
    assert_eq!(
        get_blob(&mut other, "late"),
        None,
        "installed in db 3, not db 0"
    );
}

#[test]
fn multi_exec_and_lua_run_big_commands_inline() {
    let server = Server::start();
    let mut con = server.conn();
    let data = smooth_f32(2 * MIB / 4);
    let (set, got, info): (String, Vec<u8>, Vec<Value>) = redis::pipe()
        .atomic()
        .cmd("NDARRAY.SET")
        .arg("a")
        .arg("float32")
        .arg(2 * MIB / 4)
        .arg("BLOB")
        .arg(&data)
        .cmd("NDARRAY.GET")
        .arg("a")
        .arg("FORMAT")
        .arg("BLOB")
        .cmd("NDARRAY.INFO")
        .arg("a")
        .query(&mut con)
        .unwrap();
    assert_eq!((set.as_str(), got), ("OK", data.clone()));
    assert!(!info.is_empty());
    let script = "redis.call('NDARRAY.SET', KEYS[1], 'float32', ARGV[2], 'BLOB', ARGV[1]) \
                  return redis.call('NDARRAY.GET', KEYS[1], 'FORMAT', 'BLOB')";
    let back: Vec<u8> = redis::cmd("EVAL")
        .arg(script)
        .arg(1)
        .arg("b")
        .arg(&data)
        .arg(2 * MIB / 4)
        .query(&mut con)
        .unwrap();
    assert_eq!(back, data);
    assert_eq!(stat(&mut con, "jobs_done"), 0, "no client was blocked");
    // The inline encode still spread its chunks over the idle workers (counted when they finish).
    let deadline = Instant::now() + Duration::from_secs(10);
    while stat(&mut con, "chunk_jobs_helped") == 0 {
        assert!(Instant::now() < deadline, "no worker helped");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn offloaded_writes_reach_a_replica_and_the_aof_as_encoded_values() {
    let mut primary = Server::start_with(&[
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--enable-debug-command",
        "yes",
        "--repl-diskless-sync-delay",
        "0",
    ]);
    let replica = Server::start_with(&["--enable-debug-command", "yes"]);
    let (mut p, mut r) = (primary.conn(), replica.conn());
    let _: () = redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg(primary.port)
        .query(&mut r)
        .unwrap();
    let smooth = smooth_f32(3 * MIB / 4);
    set_blob(
        &mut p,
        "flat",
        &[3 * MIB / 4],
        &smooth,
        &["COMPRESS", "zlib"],
    );
    set_blob(&mut p, "grid", &[768, 1024], &smooth, &["EX", "1000"]);
    set_blob(
        &mut p,
        "raw",
        &[768, 1024],
        &noise(3 * MIB, 5),
        &["COMPRESS", "none"],
    );
    set_blob(&mut p, "gone", &[768, 1024], &smooth, &["PXAT", "1000"]);
    let npy: Vec<u8> = redis::cmd("NDARRAY.GET").arg("grid").query(&mut p).unwrap();
    let _: () = redis::cmd("NDARRAY.MSET")
        .arg("m1")
        .arg(&npy)
        .arg("m2")
        .arg(&npy)
        .query(&mut p)
        .unwrap();
    // A SETSLICE over many chunks, planned on a worker, travels as the command.
    let _: () = redis::cmd("NDARRAY.SETSLICE")
        .arg("flat")
        .arg("10:700000")
        .arg("VALUES")
        .arg(2.5)
        .query(&mut p)
        .unwrap();
    wait_for_idle_pool(&mut p);
    let deadline = Instant::now() + Duration::from_secs(30);
    while db_digest(&mut r) != db_digest(&mut p) {
        assert!(Instant::now() < deadline, "the replica did not catch up");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(info_str(&mut r, "grid", "compression"), "zstd");
    let ttl: i64 = redis::cmd("TTL").arg("grid").query(&mut r).unwrap();
    assert!((990..=1000).contains(&ttl), "replica TTL {ttl}");
    // The replicas and the AOF got the encoded chunks, not commands to compress again.
    let aof_dir = primary.dir.join("appendonlydir");
    let incr = std::fs::read_dir(&aof_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".incr.aof"))
        .unwrap();
    let text = std::fs::read(&incr).unwrap();
    assert!(text.windows(18).any(|w| w == b"NDARRAY.PUTENCODED"));
    assert!(
        !text.windows(13).any(|w| w == b"NDARRAY.SET\r\n"),
        "no SET to redo"
    );
    assert!(text.windows(16).any(|w| w == b"NDARRAY.SETSLICE"));
    assert!(
        !text.windows(12).any(|w| w == b"NDARRAY.MSET"),
        "no MSET to redo"
    );
    let before = db_digest(&mut p);
    primary.kill();
    primary.start_again();
    let mut p = primary.conn();
    assert_eq!(
        db_digest(&mut p),
        before,
        "the AOF replays to the same data"
    );
    let mut expected = smooth.clone();
    for item in expected[10 * 4..700_000 * 4].chunks_mut(4) {
        item.copy_from_slice(&2.5f32.to_le_bytes());
    }
    assert_eq!(get_blob(&mut p, "flat").unwrap(), expected);
}

/// The commands of an AOF file (RESP arrays of bulk strings).
fn aof_commands(path: &std::path::Path) -> Vec<Vec<Vec<u8>>> {
    let data = std::fs::read(path).unwrap();
    let mut rest = &data[..];
    let line = |rest: &mut &[u8]| {
        let end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        let text = std::str::from_utf8(&rest[1..end])
            .unwrap()
            .parse::<usize>()
            .unwrap();
        *rest = &rest[end + 2..];
        text
    };
    let mut commands = Vec::new();
    while !rest.is_empty() {
        let n = line(&mut rest);
        let mut args = Vec::new();
        for _ in 0..n {
            let len = line(&mut rest);
            args.push(rest[..len].to_vec());
            rest = &rest[len + 2..];
        }
        commands.push(args);
    }
    commands
}

#[test]
fn putencoded_validates_its_payload_like_an_rdb_load() {
    let source = Server::start_with(&["--appendonly", "yes", "--appendfsync", "always"]);
    let mut s = source.conn();
    // Noise: the chunks stay near their raw size, so the array needs several pieces.
    let data = noise(3 * MIB, 11);
    set_blob(&mut s, "grid", &[768, 1024], &data, &[]);
    wait_for_idle_pool(&mut s);
    let incr = std::fs::read_dir(source.dir.join("appendonlydir"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".incr.aof"))
        .unwrap();
    let puts: Vec<Vec<Vec<u8>>> = aof_commands(&incr)
        .into_iter()
        .filter(|c| c[0] == b"NDARRAY.PUTENCODED")
        .collect();
    assert!(puts.len() >= 3, "3 MiB travels in pieces of at most 1 MiB");
    assert!(puts.iter().all(|c| c[3].len() <= 1 << 20));

    // PUTENCODED is internal: what it receives comes from a primary or the AOF, so that is where
    // these payloads go. A refusal leaves a log line (Redis discards the reply).
    let mut server = Server::start_with(&["--appendonly", "yes"]);
    let mut con = server.conn();
    set_blob(&mut con, "grid", &[768, 1024], &data, &[]);
    set_blob(
        &mut con,
        "zflat",
        &[1 << 16],
        &data[..1 << 18],
        &["COMPRESS", "zlib"],
    );
    let _: () = redis::cmd("SET")
        .arg("text")
        .arg("x")
        .query(&mut con)
        .unwrap();
    let kept = ["grid", "zflat", "text"];
    let before: Vec<String> = kept.iter().map(|k| digest(&mut con, k)).collect();
    let put = |key: &str, mode: &str, payload: &[u8]| -> Vec<Vec<u8>> {
        vec![
            b"NDARRAY.PUTENCODED".to_vec(),
            key.as_bytes().to_vec(),
            mode.as_bytes().to_vec(),
            payload.to_vec(),
        ]
    };
    // The pieces as sent rebuild the array (then RESHAPE gives its shape).
    let mut replay: Vec<Vec<Vec<u8>>> = puts
        .iter()
        .map(|c| put("copy", std::str::from_utf8(&c[2]).unwrap(), &c[3]))
        .collect();
    let (first, second) = (&puts[0][3], &puts[1][3]);
    let mut refused: Vec<(String, &str, Vec<u8>)> = Vec::new();
    for cut in [
        0,
        4,
        12,
        100,
        first.len() / 2,
        first.len() - 9,
        first.len() - 1,
    ] {
        refused.push(("grid".into(), "NEW", first[..cut].to_vec()));
    }
    let mut longer = first.clone();
    longer.push(0);
    refused.push(("grid".into(), "NEW", longer));
    let mut foreign = first.clone();
    foreign[0] = b'X';
    refused.push(("grid".into(), "NEW", foreign));
    let mut claims_more = first.clone();
    claims_more[12] ^= 0x40; // the dtype code
    refused.push(("grid".into(), "NEW", claims_more));
    refused.push(("grid".into(), "APPEND", second.clone())); // onto a 2-d array
    refused.push(("zflat".into(), "APPEND", second.clone())); // another encoding
    refused.push(("missing".into(), "APPEND", second.clone()));
    refused.push(("grid".into(), "REPLACE", first.clone()));
    refused.push(("text".into(), "APPEND", second.clone())); // WRONGTYPE
    replay.extend(refused.iter().map(|(k, m, p)| put(k, m, p)));
    server.replay_in_aof(&replay);
    let mut con = server.conn();
    let _: () = redis::cmd("NDARRAY.RESHAPE")
        .arg("copy")
        .arg(768)
        .arg(1024)
        .query(&mut con)
        .unwrap();
    assert_eq!(get_blob(&mut con, "copy").unwrap(), data);
    let after: Vec<String> = kept.iter().map(|k| digest(&mut con, k)).collect();
    assert_eq!(after, before, "nothing changed");
    assert!(!exists(&mut con, "missing"));
    let log = server.log();
    let refusals = log
        .matches("NDARRAY.PUTENCODED from the replication link or the AOF was refused")
        .count();
    assert_eq!(refusals, refused.len(), "{log}");
    assert!(log.contains("WRONGTYPE"), "{log}");

    // The size limit applies as to any write.
    let mut small = Server::builder()
        .module_args(&["max-array-bytes", "65536"])
        .args(&["--appendonly", "yes"])
        .start();
    small.replay_in_aof(&[put("big", "NEW", first)]);
    assert!(!exists(&mut small.conn(), "big"));
    assert!(small.log().contains("max-array-bytes"), "{}", small.log());
}

fn exists(con: &mut Connection, key: &str) -> bool {
    redis::cmd("EXISTS").arg(key).query::<i64>(con).unwrap() == 1
}

#[test]
fn a_big_write_nobody_replicates_reaches_a_replica_that_attaches_later() {
    // No AOF and no replica yet: the write is not propagated at all (Redis would drop it); a
    // replica attaching afterwards gets it by full sync.
    let primary = Server::start_with(&[
        "--enable-debug-command",
        "yes",
        "--repl-diskless-sync-delay",
        "0",
    ]);
    let mut p = primary.conn();
    let data = noise(3 * MIB, 21);
    set_blob(&mut p, "early", &[3 * MIB / 4], &data, &["EX", "500"]);
    let replica = Server::start_with(&["--enable-debug-command", "yes"]);
    let mut r = replica.conn();
    let _: () = redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg(primary.port)
        .query(&mut r)
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while db_digest(&mut r) != db_digest(&mut p) {
        assert!(Instant::now() < deadline, "the replica did not sync");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Now the backlog exists: the next big write is propagated, as its encoded value.
    set_blob(&mut p, "late", &[3 * MIB / 4], &data, &[]);
    while db_digest(&mut r) != db_digest(&mut p) {
        assert!(Instant::now() < deadline, "the replica did not catch up");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(get_blob(&mut r, "late").unwrap(), data);
}

#[test]
fn a_read_is_offloaded_by_the_blocks_it_decodes_not_by_its_reply() {
    let pool = Server::start_with_module_args(&["threads", "2"], &[]);
    let inline = Server::start_with_module_args(&["threads", "0"], &[]);
    let (mut p, mut i) = (pool.conn(), inline.conn());
    // 2 MiB of float32 rows of 1024 (4 KiB): a 32 KiB block holds 8 rows.
    let smooth = smooth_f32(2 * MIB / 4);
    for con in [&mut p, &mut i] {
        assert_eq!(set_blob(con, "a", &[512, 1024], &smooth, &[]), Value::Okay);
    }
    let slice = |con: &mut Connection, sel: &str| -> Vec<u8> {
        redis::cmd("NDARRAY.SLICE")
            .arg("a")
            .arg(sel)
            .arg("FORMAT")
            .arg("BLOB")
            .query(con)
            .unwrap()
    };
    // Ten elements decode one block: inline.
    let before = stat(&mut p, "jobs_done");
    assert_eq!(slice(&mut p, "7, 100:110"), slice(&mut i, "7, 100:110"));
    assert_eq!(stat(&mut p, "jobs_done"), before);
    // 64 rows in 64 blocks: a 256 KiB reply, 2 MiB to decode (over offload-bytes' 1 MiB): a job.
    let rows: Vec<String> = (0..64).map(|r| ((r * 8 + 3) % 512).to_string()).collect();
    let gather = format!("[{}], :", rows.join(","));
    let got = slice(&mut p, &gather);
    assert_eq!(got.len(), 64 * 4096);
    assert_eq!(got, slice(&mut i, &gather));
    wait_for_idle_pool(&mut p);
    assert_eq!(
        stat(&mut p, "jobs_done"),
        before + 1,
        "the gather ran on a worker"
    );
}

/// The nice value of each thread of process `pid`: (thread id, name, nice) (Linux `/proc`).
fn thread_nice(pid: u32) -> Vec<(u32, String, i64)> {
    let mut found = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let path = task.unwrap().path();
        let tid: u32 = path.file_name().unwrap().to_str().unwrap().parse().unwrap();
        let name = std::fs::read_to_string(path.join("comm")).unwrap();
        let stat = std::fs::read_to_string(path.join("stat")).unwrap();
        // Fields after the command (in parentheses): state is field 3, nice field 19.
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let nice: i64 = after.split(' ').nth(16).unwrap().parse().unwrap();
        found.push((tid, name.trim().to_string(), nice));
    }
    found
}

#[test]
fn worker_threads_give_way_to_the_main_thread() {
    let server = Server::start();
    let pid = server.pid().unwrap();
    let threads = thread_nice(pid);
    // The main thread's id is the process id (its name is the server's: redis-server,
    // valkey-server, …).
    let main = threads
        .iter()
        .find(|(tid, _, _)| *tid == pid)
        .map(|(_, _, nice)| *nice)
        .unwrap();
    let workers: Vec<&(u32, String, i64)> = threads
        .iter()
        .filter(|(_, name, _)| name.starts_with("ndarray-"))
        .collect();
    assert!(!workers.is_empty(), "{threads:?}");
    for (_, name, nice) in workers {
        assert_eq!(
            *nice,
            main + 5,
            "{name} runs at nice {nice}, main at {main}"
        );
    }
}
