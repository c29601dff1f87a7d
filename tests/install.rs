//! An offloaded write is installed only when the same write would be accepted as a new command at
//! that moment (`src/admission.rs`). Each test starts a write that keeps a worker busy, changes
//! the server's state while it runs (a pause with AOF or a replica, FAILOVER, SHUTDOWN waiting for
//! a lagging replica, the slot moved or migrating, the primary demoted), and checks that the server
//! lives, that the client gets what a native write would get, and that no node holds a write its
//! client was not told about. Each asserts the `installs_*` counter that proves the race happened.

mod common;
mod util;

use common::Server;
use redis::{Connection, RedisResult, Value};
use std::thread::JoinHandle;
use std::time::Duration;
use util::*;

const MIB: usize = 1 << 20;

/// 64 MiB of noise compressed with zlib level 9: a worker is busy with it for about a second.
fn slow_set(key: &str) -> redis::Cmd {
    let mut cmd = redis::cmd("NDARRAY.SET");
    cmd.arg(key)
        .arg("uint8")
        .arg(64 * MIB)
        .arg("COMPRESS")
        .arg("zlib")
        .arg("LEVEL")
        .arg(9)
        .arg("BLOB")
        .arg(noise(64 * MIB, 7));
    cmd
}

/// The same amount of work as an `NDARRAY.MSET` of two keys (sharing a hash tag), once
/// [`default_to_zlib_9`] made that the default encoding.
fn slow_mset(keys: [&str; 2]) -> redis::Cmd {
    let mut cmd = redis::cmd("NDARRAY.MSET");
    for (i, key) in keys.iter().enumerate() {
        let npy = npy_file("|u1", &[32 * MIB], &noise(32 * MIB, i as u64));
        cmd.arg(*key).arg(npy);
    }
    cmd
}

fn default_to_zlib_9(con: &mut Connection) {
    for (name, value) in [("compression", "zlib"), ("zlib-level", "9")] {
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg(format!("ndarray.{name}"))
            .arg(value)
            .query(con)
            .unwrap();
    }
}

/// Sends `cmd` from its own connection on a thread, and waits until a worker runs it.
fn start(server: &Server, cmd: redis::Cmd) -> JoinHandle<RedisResult<Value>> {
    let mut con = server.conn();
    let mut admin = server.conn();
    let jobs_before = ndarray_stat(&mut admin, "jobs_done");
    let writer = std::thread::spawn(move || cmd.query::<Value>(&mut con));
    wait_for_stat(&mut admin, "jobs_running", 1);
    assert_eq!(
        ndarray_stat(&mut admin, "jobs_done"),
        jobs_before,
        "the write must still be running"
    );
    writer
}

fn exists(con: &mut Connection, key: &str) -> bool {
    redis::cmd("EXISTS").arg(key).query::<i64>(con).unwrap() == 1
}

fn pause_writes(con: &mut Connection) {
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(600_000)
        .arg("WRITE")
        .query(con)
        .unwrap();
}

fn unpause(con: &mut Connection) {
    let _: () = redis::cmd("CLIENT").arg("UNPAUSE").query(con).unwrap();
}

fn assert_alive(server: &mut Server) {
    assert!(server.is_running(), "the server died:\n{}", server.log());
    let pong: String = redis::cmd("PING").query(&mut server.conn()).unwrap();
    assert_eq!(pong, "PONG");
}

fn role(con: &mut Connection) -> String {
    let info: String = redis::cmd("INFO").arg("replication").query(con).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("role:"))
        .unwrap_or("")
        .trim()
        .to_string()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn repl_offset(con: &mut Connection) -> i64 {
    let info: String = redis::cmd("INFO").arg("replication").query(con).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("master_repl_offset:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(-1)
}

/// Waits until `replica` has processed everything `primary` has propagated so far. (`WAIT` only
/// waits for the writes of the connection that sends it.)
fn wait_in_sync(primary: &mut Connection, replica: &mut Connection) {
    let target = repl_offset(primary);
    wait_until("the replica to catch up", || repl_offset(replica) >= target);
}

#[test]
fn a_write_done_during_a_write_pause_waits_for_it_then_reaches_the_aof() {
    let mut server = Server::start_with(&["--appendonly", "yes"]);
    let mut admin = server.conn();
    let writer = start(&server, slow_set("k"));
    pause_writes(&mut admin);
    wait_for_stat(&mut admin, "installs_waiting", 1);
    // Paused: nothing installed, reads still served, the client still blocked.
    assert!(!exists(&mut admin, "k"));
    assert!(!writer.is_finished());
    assert_alive(&mut server);
    unpause(&mut admin);
    assert_eq!(writer.join().unwrap().unwrap(), Value::Okay);
    assert_eq!(ndarray_stat(&mut admin, "installs_waiting"), 0);
    assert!(ndarray_stat(&mut admin, "installs_deferred") >= 1);
    let before = digest(&mut admin, "k");
    // The AOF alone brings it back.
    server.kill();
    server.start_again();
    assert_eq!(digest(&mut server.conn(), "k"), before);
}

#[test]
fn a_setslice_done_during_a_write_pause_waits_for_it_then_reaches_the_replica() {
    let mut primary = Server::start();
    let replica = Server::start();
    replica.replicate(&primary);
    let mut admin = primary.conn();
    let _: Value = slow_set("k").query(&mut admin).unwrap();
    let mut on_replica = replica.conn();
    wait_in_sync(&mut admin, &mut on_replica);
    let before = digest(&mut admin, "k");
    let mut rewrite = redis::cmd("NDARRAY.SETSLICE");
    rewrite.arg("k").arg("::2").arg("VALUES").arg(1);
    let writer = start(&primary, rewrite);
    pause_writes(&mut admin);
    wait_for_stat(&mut admin, "installs_waiting", 1);
    assert_eq!(
        digest(&mut admin, "k"),
        before,
        "nothing installed while paused"
    );
    assert_alive(&mut primary);
    unpause(&mut admin);
    assert_eq!(writer.join().unwrap().unwrap(), Value::Okay);
    assert_ne!(digest(&mut admin, "k"), before);
    wait_in_sync(&mut admin, &mut on_replica);
    assert_eq!(db_digest(&mut on_replica), db_digest(&mut admin));
}

#[test]
fn an_apply_done_during_a_write_pause_waits_for_it_then_reaches_the_replica_bit_for_bit() {
    let mut primary = Server::start();
    let replica = Server::start();
    replica.replicate(&primary);
    let mut admin = primary.conn();
    let _: Value = slow_set("k").query(&mut admin).unwrap();
    let mut on_replica = replica.conn();
    wait_in_sync(&mut admin, &mut on_replica);
    let before = digest(&mut admin, "k");
    let mut add = redis::cmd("NDARRAY.APPLY");
    add.arg("k")
        .arg("add")
        .arg("SELECT")
        .arg("::2")
        .arg("VALUES")
        .arg(3);
    let writer = start(&primary, add);
    pause_writes(&mut admin);
    wait_for_stat(&mut admin, "installs_waiting", 1);
    assert_eq!(
        digest(&mut admin, "k"),
        before,
        "nothing installed while paused"
    );
    assert_alive(&mut primary);
    unpause(&mut admin);
    assert_eq!(writer.join().unwrap().unwrap(), Value::Okay);
    let head: Vec<u8> = redis::cmd("NDARRAY.SLICE")
        .arg("k")
        .arg(":4")
        .arg("FORMAT")
        .arg("BLOB")
        .query(&mut admin)
        .unwrap();
    let noise = noise(4, 7);
    assert_eq!(
        head,
        [
            noise[0].wrapping_add(3),
            noise[1],
            noise[2].wrapping_add(3),
            noise[3]
        ]
    );
    wait_in_sync(&mut admin, &mut on_replica);
    assert_eq!(db_digest(&mut on_replica), db_digest(&mut admin));
}

#[test]
fn a_write_whose_replicas_left_meanwhile_is_refused_with_noreplicas() {
    let primary = Server::start_with(&["--min-replicas-to-write", "1"]);
    let mut replica = Server::start();
    replica.replicate(&primary);
    let mut admin = primary.conn();
    let writer = start(&primary, slow_set("k"));
    // The replica goes away while the worker compresses: Redis would now refuse the write.
    replica.kill();
    let e = writer.join().unwrap().unwrap_err().to_string();
    assert!(e.contains("NOREPLICAS"), "{e}");
    assert!(!exists(&mut admin, "k"), "nothing installed");
    assert!(ndarray_stat(&mut admin, "installs_refused") >= 1);
}

#[test]
fn a_batch_done_during_a_write_pause_waits_for_it_then_reaches_the_replica() {
    let mut primary = Server::start();
    let replica = Server::start();
    replica.replicate(&primary);
    let mut admin = primary.conn();
    default_to_zlib_9(&mut admin);
    let writer = start(&primary, slow_mset(["{b}1", "{b}2"]));
    pause_writes(&mut admin);
    wait_for_stat(&mut admin, "installs_waiting", 1);
    assert!(!exists(&mut admin, "{b}1"));
    assert_alive(&mut primary);
    unpause(&mut admin);
    assert_eq!(writer.join().unwrap().unwrap(), Value::Okay);
    let mut on_replica = replica.conn();
    wait_in_sync(&mut admin, &mut on_replica);
    assert!(exists(&mut on_replica, "{b}2"));
    assert_eq!(db_digest(&mut on_replica), db_digest(&mut admin));
}

#[test]
fn a_failover_during_a_write_installs_it_nowhere() {
    let mut primary = Server::start();
    let mut replica = Server::start();
    replica.replicate(&primary);
    let mut admin = primary.conn();
    let writer = start(&primary, slow_set("k"));
    let _: () = redis::cmd("FAILOVER").query(&mut admin).unwrap();
    assert!(
        writer.join().unwrap().is_err(),
        "the write was not acknowledged"
    );
    wait_for_stat(&mut admin, "installs_refused", 1);
    wait_until("the failover", || role(&mut admin) == "slave");
    let mut new_primary = replica.conn();
    assert_eq!(role(&mut new_primary), "master");
    wait_in_sync(&mut new_primary, &mut admin);
    assert!(!exists(&mut admin, "k"));
    assert!(!exists(&mut new_primary, "k"));
    assert_eq!(db_digest(&mut admin), db_digest(&mut new_primary));
    assert_alive(&mut primary);
    assert_alive(&mut replica);
}

#[test]
fn a_failover_during_an_apply_installs_it_nowhere() {
    let mut primary = Server::start();
    let mut replica = Server::start();
    replica.replicate(&primary);
    let mut admin = primary.conn();
    let _: Value = slow_set("k").query(&mut admin).unwrap();
    let mut on_replica = replica.conn();
    wait_in_sync(&mut admin, &mut on_replica);
    let before = digest(&mut admin, "k");
    let mut add = redis::cmd("NDARRAY.APPLY");
    add.arg("k").arg("add").arg("VALUES").arg(1);
    let writer = start(&primary, add);
    let _: () = redis::cmd("FAILOVER").query(&mut admin).unwrap();
    assert!(
        writer.join().unwrap().is_err(),
        "the APPLY was not acknowledged"
    );
    wait_for_stat(&mut admin, "installs_refused", 1);
    wait_until("the failover", || role(&mut admin) == "slave");
    let mut new_primary = replica.conn();
    assert_eq!(role(&mut new_primary), "master");
    wait_in_sync(&mut new_primary, &mut admin);
    // Neither node holds the refused APPLY's result.
    assert_eq!(digest(&mut admin, "k"), before);
    assert_eq!(digest(&mut new_primary, "k"), before);
    assert_alive(&mut primary);
    assert_alive(&mut replica);
}

#[test]
fn a_primary_demoted_during_a_write_keeps_nothing_its_new_primary_lacks() {
    let mut a = Server::start();
    let b = Server::start();
    b.replicate(&a);
    let mut on_a = a.conn();
    let writer = start(&a, slow_set("k"));
    let _: () = redis::cmd("REPLICAOF")
        .arg("NO")
        .arg("ONE")
        .query(&mut b.conn())
        .unwrap();
    a.replicate(&b);
    assert!(writer.join().unwrap().is_err());
    wait_for_stat(&mut on_a, "installs_refused", 1);
    wait_in_sync(&mut b.conn(), &mut on_a);
    assert!(!exists(&mut on_a, "k"));
    assert_eq!(db_digest(&mut on_a), db_digest(&mut b.conn()));
    assert_alive(&mut a);
}

#[test]
fn shutdown_waiting_for_a_lagging_replica_during_a_write_still_saves_every_acknowledged_key() {
    let mut primary = Server::start_with(&["--shutdown-timeout", "2"]);
    let replica = Server::start();
    replica.replicate(&primary);
    let mut admin = primary.conn();
    let mut pipe = redis::pipe();
    for i in 0..1000 {
        pipe.cmd("SET").arg(format!("plain{i}")).arg(i).ignore();
    }
    let _: () = pipe.query(&mut admin).unwrap();
    wait_in_sync(&mut admin, &mut replica.conn());
    let replica_pid = replica.pid().expect("replica running").to_string();
    let signal = |sig: &str| {
        let ok = std::process::Command::new("kill")
            .args([sig, &replica_pid])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
    };
    // The replica stops acknowledging: SHUTDOWN pauses writes and waits for it.
    signal("-STOP");
    let writer = start(&primary, slow_set("k"));
    let mut closer = primary.conn();
    let shutdown = std::thread::spawn(move || {
        redis::cmd("SHUTDOWN")
            .arg("SAVE")
            .query::<Value>(&mut closer)
    });
    let exited = primary.wait_for_exit(Duration::from_secs(60));
    signal("-CONT");
    assert!(exited, "the primary did not shut down:\n{}", primary.log());
    assert!(shutdown.join().unwrap().is_err(), "the connection closed");
    assert!(
        writer.join().unwrap().is_err(),
        "the write was not acknowledged"
    );
    assert!(
        !primary.log().contains("ASSERTION FAILED"),
        "{}",
        primary.log()
    );
    primary.start_again();
    let mut con = primary.conn();
    for i in [0, 499, 999] {
        let v: i64 = redis::cmd("GET")
            .arg(format!("plain{i}"))
            .query(&mut con)
            .unwrap();
        assert_eq!(v, i);
    }
    assert!(!exists(&mut con, "k"));
}

fn setslot(node: &Server, slot: u16, state: &str, id: &str) {
    let _: () = redis::cmd("CLUSTER")
        .arg("SETSLOT")
        .arg(slot)
        .arg(state)
        .arg(id)
        .query(&mut node.conn())
        .unwrap();
}

#[test]
fn a_slot_moved_during_a_write_gets_moved_and_installs_nothing() {
    let (nodes, _cluster) = common::start_cluster();
    let (slot, ids, a) = common::slot_owner(&nodes, "k");
    let b = (a + 1) % nodes.len();
    let writer = start(&nodes[a], slow_set("k"));
    setslot(&nodes[b], slot, "IMPORTING", &ids[a]);
    setslot(&nodes[a], slot, "MIGRATING", &ids[b]);
    setslot(&nodes[a], slot, "NODE", &ids[b]);
    setslot(&nodes[b], slot, "NODE", &ids[b]);
    let err = writer.join().unwrap().unwrap_err();
    assert_eq!(
        err.redirect_node(),
        Some((format!("127.0.0.1:{}", nodes[b].port).as_str(), slot)),
        "{err}"
    );
    assert_eq!(err.code(), Some("MOVED"));
    wait_for_stat(&mut nodes[a].conn(), "installs_refused", 1);
    for node in &nodes {
        assert_eq!(keys_in_slot(&mut node.conn(), slot), 0);
    }
}

#[test]
fn a_slot_migrating_during_a_write_of_a_new_key_gets_ask() {
    let (nodes, _cluster) = common::start_cluster();
    let (slot, ids, a) = common::slot_owner(&nodes, "k");
    let b = (a + 1) % nodes.len();
    let writer = start(&nodes[a], slow_set("k"));
    setslot(&nodes[b], slot, "IMPORTING", &ids[a]);
    setslot(&nodes[a], slot, "MIGRATING", &ids[b]);
    let err = writer.join().unwrap().unwrap_err();
    assert_eq!(err.code(), Some("ASK"), "{err}");
    assert_eq!(
        err.redirect_node(),
        Some((format!("127.0.0.1:{}", nodes[b].port).as_str(), slot))
    );
    assert_eq!(keys_in_slot(&mut nodes[a].conn(), slot), 0);
}

#[test]
fn a_write_that_would_now_exceed_maxmemory_gets_oom_and_installs_nothing() {
    let mut server = Server::start_with(&["--maxmemory-policy", "noeviction"]);
    let mut admin = server.conn();
    let writer = start(&server, slow_set("k"));
    // Memory is now over the limit: a new write would be refused.
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg("1mb")
        .query(&mut admin)
        .unwrap();
    let e = error_of(writer.join().unwrap());
    assert!(e.starts_with("OOM"), "{e}");
    assert_eq!(ndarray_stat(&mut admin, "installs_refused"), 1);
    assert!(!exists(&mut admin, "k"));
    assert_alive(&mut server);
}

/// Valkey 9: a slot export (`CLUSTER MIGRATESLOTS`) starts while a write of a key in the slot runs
/// on a worker, and the worker is done while the export still streams the slot. What the install
/// would replicate, outside any command, carries no slot and never reaches the target: before,
/// the client got `OK` and the target never had the write. Now the write gets `TRYAGAIN` and
/// installs nothing, and the slot's other keys all move. (Other servers have no atomic slot
/// migration: nothing to test there.)
#[test]
fn a_slot_export_started_during_a_write_gets_tryagain_and_installs_nothing() {
    let (nodes, _cluster) = common::start_cluster();
    if !has_atomic_slot_migration(&mut nodes[0].conn()) {
        eprintln!("skipped: this server has no CLUSTER MIGRATESLOTS");
        return;
    }
    let (slot, ids, a) = common::slot_owner(&nodes, "k");
    let b = (a + 1) % nodes.len();
    let mut source = nodes[a].conn();
    // 320 MiB in the slot: the export streams it for seconds, longer than the write's worker.
    let piece = noise(8 * MIB, 3);
    let kept: Vec<String> = (0..40).map(|i| format!("{{k}}kept{i}")).collect();
    for key in &kept {
        let _: () = redis::cmd("NDARRAY.SET")
            .arg(key)
            .arg("uint8")
            .arg(piece.len())
            .arg("COMPRESS")
            .arg("none")
            .arg("BLOB")
            .arg(&piece)
            .query(&mut source)
            .unwrap();
    }
    let writer = start(&nodes[a], slow_set("k"));
    migrate_slot(&mut source, slot, &ids[b]);
    let reply = writer.join().unwrap();
    let (state, message) = wait_for_slot_migration(&mut source, slot);
    assert_eq!(state, "success", "{message}");
    let mut target = nodes[b].conn();
    if reply.is_ok() {
        assert!(
            exists(&mut target, "k"),
            "an acknowledged write is not on the slot's new owner"
        );
    }
    let e = error_of(reply);
    assert!(e.starts_with("TRYAGAIN"), "{e}");
    assert!(!exists(&mut target, "k"));
    wait_for_stat(&mut source, "installs_refused", 1);
    for key in &kept {
        assert_eq!(
            get_blob(&mut target, key).as_deref(),
            Some(&piece[..]),
            "{key}"
        );
    }
    assert_eq!(keys_in_slot(&mut source, slot), 0);
}
