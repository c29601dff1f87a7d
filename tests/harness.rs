//! The test harness itself: servers start with the module loaded, on their own ports and directories, and
//! survive the restarts the persistence tests rely on.

mod common;

use std::collections::HashMap;

use common::Server;

fn module_names(con: &mut redis::Connection) -> Vec<String> {
    let modules: Vec<HashMap<String, redis::Value>> = redis::cmd("MODULE")
        .arg("LIST")
        .query(con)
        .expect("MODULE LIST");
    modules
        .into_iter()
        .filter_map(|mut module| module.remove("name"))
        .map(|name| redis::from_redis_value::<String>(name).expect("module name is a string"))
        .collect()
}

#[test]
fn started_server_answers_ping() {
    let server = Server::start();
    let pong: String = redis::cmd("PING").query(&mut server.conn()).unwrap();
    assert_eq!(pong, "PONG");
}

#[test]
fn started_server_has_the_ndarray_module_loaded() {
    let server = Server::start();
    let names = module_names(&mut server.conn());
    assert!(
        names.iter().any(|name| name == "ndarray"),
        "MODULE LIST: {names:?}"
    );
}

#[test]
fn two_servers_get_different_ports_and_dirs() {
    let first = Server::start();
    let second = Server::start();
    assert_ne!(first.port, second.port);
    assert_ne!(first.dir, second.dir);
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("first")
        .query(&mut first.conn())
        .unwrap();
    let seen: Option<String> = redis::cmd("GET")
        .arg("k")
        .query(&mut second.conn())
        .unwrap();
    assert_eq!(seen, None);
}

#[test]
fn resp3_connection_speaks_resp3() {
    let server = Server::start();
    let info: String = redis::cmd("CLIENT")
        .arg("INFO")
        .query(&mut server.conn_resp3())
        .unwrap();
    assert!(info.contains("resp=3"), "CLIENT INFO: {info}");
    let info: String = redis::cmd("CLIENT")
        .arg("INFO")
        .query(&mut server.conn())
        .unwrap();
    assert!(info.contains("resp=2"), "CLIENT INFO: {info}");
}

#[test]
fn extra_arguments_reach_the_server() {
    let server = Server::start_with(&["--maxmemory", "10mb"]);
    let config: HashMap<String, String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxmemory")
        .query(&mut server.conn())
        .unwrap();
    assert_eq!(config["maxmemory"], "10485760");
}

#[test]
fn restart_keeps_data_saved_on_shutdown() {
    let mut server = Server::start();
    let port = server.port;
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query(&mut server.conn())
        .unwrap();
    server.restart();
    assert_eq!(server.port, port);
    let value: Option<String> = redis::cmd("GET")
        .arg("k")
        .query(&mut server.conn())
        .unwrap();
    assert_eq!(value.as_deref(), Some("v"));
}

#[test]
fn kill_loses_writes_after_the_last_save() {
    let mut server = Server::start();
    let mut con = server.conn();
    let _: () = redis::cmd("SET")
        .arg("saved")
        .arg("1")
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("SAVE").query(&mut con).unwrap();
    let _: () = redis::cmd("SET")
        .arg("unsaved")
        .arg("1")
        .query(&mut con)
        .unwrap();
    server.kill();
    assert!(!server.is_running());
    server.start_again();
    let mut con = server.conn();
    let saved: Option<String> = redis::cmd("GET").arg("saved").query(&mut con).unwrap();
    let unsaved: Option<String> = redis::cmd("GET").arg("unsaved").query(&mut con).unwrap();
    assert_eq!((saved.as_deref(), unsaved), (Some("1"), None));
}

#[test]
fn a_server_that_cannot_start_reports_why() {
    let error = Server::builder()
        .args(&["--no-such-directive", "1"])
        .try_start()
        .err()
        .expect("redis-server must refuse an unknown directive");
    assert!(error.contains("no-such-directive"), "{error}");
}
