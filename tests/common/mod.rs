//! The integration-test harness: a real `redis-server` with our module loaded, on a free port, in a fresh
//! temporary directory, killed (and its directory removed) when the [`Server`] is dropped.
//!
//! ```ignore
//! mod common;
//! use common::Server;
//!
//! let server = Server::start();
//! let mut con = server.conn();
//! let pong: String = redis::cmd("PING").query(&mut con).unwrap();
//!
//! let server = Server::builder()
//!     .module_args(&["compression", "zlib"])
//!     .args(&["--appendonly", "yes"])
//!     .start();
//! ```
//!
//! Environment:
//! - `NDARRAY_MODULE`: the module to load (default `<crate>/target/release/libredis_ndarray.so`, built by
//!   `make build`; `cargo test` alone does not build the cdylib).
//! - `REDIS_SERVER`, `REDIS_CLI`: the binaries to run (default `redis-server`, `redis-cli` from `PATH`), so the
//!   suite can run against another Redis version or Valkey (`make test-compat`).
//! - `NDARRAY_KEEP_TEST_DIRS=1`: keep every server directory (they are always kept when a test panics).
//!
//! A server that fails to start (for example because the module refused to load) makes the test panic with
//! the server's log. When a test panics, the tail of the log is printed to stderr and the directory is kept.
//! Only processes started here are ever signalled.

#![allow(dead_code)]

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a server may take to answer PING.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a server that answers LOADING (busy loading its RDB/AOF) may take in all.
const LOADING_TIMEOUT: Duration = Duration::from_secs(120);
/// How long `SHUTDOWN SAVE` may take before the test fails.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);
/// How many fresh ports to try when the chosen one turns out to be taken.
const PORT_ATTEMPTS: usize = 5;
/// Connections give up on a reply after this long, so a hung command fails the test instead of hanging it.
const REPLY_TIMEOUT: Duration = Duration::from_secs(120);
/// Highest port whose cluster bus port (`port + 10000`) is still a valid port.
const MAX_PORT: u16 = 55535;
/// Lines of the server log printed when a test panics.
const LOG_TAIL_LINES: usize = 80;

/// What redis-server (and we) say when the port is taken.
const PORT_TAKEN: &str = "Address already in use";

const LOG_FILE: &str = "redis.log";
const STDIO_FILE: &str = "stdio.log";

static DIR_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The module under test: `$NDARRAY_MODULE`, or the release cdylib in this crate's target directory.
pub fn module_path() -> PathBuf {
    let path = match std::env::var_os("NDARRAY_MODULE") {
        Some(path) => PathBuf::from(path),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/libredis_ndarray.so"),
    };
    assert!(
        path.is_file(),
        "Redis module not found at {}: run `make build` first (`cargo test` does not build the cdylib), \
         or point NDARRAY_MODULE at the module",
        path.display()
    );
    path
}

/// The `redis-server` binary: `$REDIS_SERVER` or `redis-server` from `PATH`.
pub fn redis_server_bin() -> String {
    std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_string())
}

/// The `redis-cli` binary: `$REDIS_CLI` or `redis-cli` from `PATH`.
pub fn redis_cli_bin() -> String {
    std::env::var("REDIS_CLI").unwrap_or_else(|_| "redis-cli".to_string())
}

/// The version of [`redis_server_bin`] as `(major, minor, patch)`, from the `v=` field of its `--version`
/// (`Redis server v=7.4.1 ...`). On Valkey this is *Valkey's* version (`Valkey server v=8.1.8 ...`): Valkey
/// has the module API of Redis 7.2.4, so a check `>= (7, 2, 0)` holds for it, but a check for a Redis 8 API
/// by version would be wrong there.
pub fn redis_server_version() -> (u32, u32, u32) {
    let bin = redis_server_bin();
    let output = Command::new(&bin)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `{bin} --version`: {e} (install Redis with `make deps`)")
        });
    let text = String::from_utf8_lossy(&output.stdout);
    let version = text
        .split_whitespace()
        .find_map(|word| word.strip_prefix("v="))
        .unwrap_or_else(|| panic!("no `v=` in `{bin} --version` output: {text:?}"));
    let mut parts = version.split('.').map(|part| {
        part.parse::<u32>()
            .unwrap_or_else(|_| panic!("unexpected version {version:?} from `{bin} --version`"))
    });
    (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    )
}

/// A port on 127.0.0.1 that was free a moment ago, low enough for a cluster bus port, whose bus port
/// (`port + 10000`) was free too.
pub fn free_port() -> u16 {
    for _ in 0..100 {
        let listener =
            TcpListener::bind("127.0.0.1:0").expect("cannot bind 127.0.0.1:0 to find a free port");
        let port = listener
            .local_addr()
            .expect("local_addr of a bound listener")
            .port();
        if port > MAX_PORT {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port + 10000)).is_ok() {
            return port;
        }
    }
    panic!("found no free port at or below {MAX_PORT} on 127.0.0.1 in 100 tries");
}

/// A fresh, empty directory under the system temp dir, unique per process, call and time.
fn fresh_dir() -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let counter = DIR_COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!(
        "redis-ndarray-test-{}-{counter}-{nanos}",
        std::process::id()
    ));
    fs::create_dir_all(std::env::temp_dir()).expect("cannot create the temp dir");
    fs::create_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot create test dir {}: {e}", dir.display()));
    dir
}

fn read_lossy(path: &Path) -> String {
    match fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => String::new(),
    }
}

/// The content of `path` from byte `offset` on (what one start attempt wrote to an appended log).
fn read_from(path: &Path, offset: u64) -> String {
    let mut bytes = Vec::new();
    if let Ok(mut file) = File::open(path) {
        if file.seek(SeekFrom::Start(offset)).is_ok() {
            let _ = file.read_to_end(&mut bytes);
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn file_len(path: &Path) -> u64 {
    fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Waits up to `timeout` for `child` to exit.
fn wait_exit(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
            Ok(None) => return None,
            Err(e) => panic!("cannot wait for redis-server (pid {}): {e}", child.id()),
        }
    }
}

/// The configuration of a test server. Later arguments override earlier ones, so `args` can change any of
/// the defaults (for example `--save "60 1"`).
#[derive(Clone, Debug)]
pub struct ServerBuilder {
    module: Option<PathBuf>,
    load_module: bool,
    module_args: Vec<String>,
    args: Vec<String>,
    binary: Option<String>,
}

impl Default for ServerBuilder {
    fn default() -> Self {
        ServerBuilder {
            module: None,
            load_module: true,
            module_args: Vec::new(),
            args: Vec::new(),
            binary: None,
        }
    }
}

impl ServerBuilder {
    /// Appends one module argument (`--loadmodule <path> name value ...`).
    pub fn module_arg(mut self, arg: impl Into<String>) -> Self {
        self.module_args.push(arg.into());
        self
    }

    /// Appends module arguments, e.g. `&["chunk-bytes", "4096", "compression", "zlib"]`.
    pub fn module_args(mut self, args: &[&str]) -> Self {
        self.module_args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    /// Appends one redis-server argument, e.g. `"--appendonly"` then `"yes"`.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Appends redis-server arguments, e.g. `&["--appendonly", "yes", "--aof-use-rdb-preamble", "no"]`.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    /// Sets one config option: `config("maxmemory", "10mb")` is `--maxmemory 10mb`.
    pub fn config(self, name: &str, value: &str) -> Self {
        self.arg(format!("--{name}")).arg(value)
    }

    /// Loads this module file instead of [`module_path`].
    pub fn module(mut self, path: impl Into<PathBuf>) -> Self {
        self.module = Some(path.into());
        self.load_module = true;
        self
    }

    /// Runs this redis-server binary instead of [`redis_server_bin`] (a bench comparing servers).
    pub fn binary(mut self, path: impl Into<String>) -> Self {
        self.binary = Some(path.into());
        self
    }

    /// Starts redis-server without our module (e.g. to show it refuses an RDB holding our type).
    pub fn without_module(mut self) -> Self {
        self.load_module = false;
        self
    }

    /// Starts the server; panics with the server log if it does not come up.
    pub fn start(self) -> Server {
        self.try_start().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts the server, or returns why it did not start (including its log) and removes its directory.
    pub fn try_start(mut self) -> Result<Server, String> {
        if self.load_module && self.module.is_none() {
            self.module = Some(module_path());
        }
        let mut server = Server {
            port: 0,
            dir: fresh_dir(),
            child: None,
            config: self,
        };
        let mut last = String::new();
        for _ in 0..PORT_ATTEMPTS {
            server.port = free_port();
            match server.spawn_and_wait()? {
                Some(child) => {
                    server.child = Some(child);
                    return Ok(server);
                }
                None => last = format!("port {} was taken", server.port),
            }
        }
        Err(server.failure(&format!(
            "redis-server found no free port in {PORT_ATTEMPTS} attempts ({last})"
        )))
    }

    /// The full redis-server command line for `dir` and `port`.
    fn command_line(&self, dir: &Path, port: u16) -> Vec<String> {
        let mut argv: Vec<String> = Vec::new();
        if self.load_module {
            let module = self.module.clone().unwrap_or_else(module_path);
            argv.push("--loadmodule".into());
            argv.push(module.to_string_lossy().into_owned());
            argv.extend(self.module_args.iter().cloned());
        }
        let port = port.to_string();
        let dir_str = dir.to_string_lossy().into_owned();
        let log = dir.join(LOG_FILE).to_string_lossy().into_owned();
        for (name, value) in [
            ("--enable-debug-command", "yes"),
            ("--save", ""),
            ("--appendonly", "no"),
            ("--dir", dir_str.as_str()),
            ("--bind", "127.0.0.1"),
            ("--port", port.as_str()),
            ("--logfile", log.as_str()),
            ("--daemonize", "no"),
        ] {
            argv.push(name.into());
            argv.push(value.into());
        }
        argv.extend(self.args.iter().cloned());
        argv
    }
}

/// A redis-server started by this test, with the module loaded. Killed, and its directory removed, on drop.
pub struct Server {
    pub port: u16,
    /// The server's working directory (`--dir`): its RDB, AOF and `redis.log` live here.
    pub dir: PathBuf,
    child: Option<Child>,
    config: ServerBuilder,
}

impl Server {
    /// A server with the module loaded without arguments and the harness defaults.
    pub fn start() -> Server {
        Server::builder().start()
    }

    /// A configurable server: `Server::builder().module_args(&[..]).args(&[..]).start()`.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// A server with extra redis-server arguments, e.g. `&["--appendonly", "yes"]`.
    pub fn start_with(extra: &[&str]) -> Server {
        Server::builder().args(extra).start()
    }

    /// A server with module arguments (`name value` pairs) and extra redis-server arguments.
    pub fn start_with_module_args(module_args: &[&str], extra: &[&str]) -> Server {
        Server::builder()
            .module_args(module_args)
            .args(extra)
            .start()
    }

    /// The configuration this server was started with (clone it to restart with changes).
    pub fn config(&self) -> &ServerBuilder {
        &self.config
    }

    /// `127.0.0.1:<port>`
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `redis://127.0.0.1:<port>/`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn client(&self) -> redis::Client {
        redis::Client::open(self.url()).expect("a valid redis:// URL")
    }

    /// A RESP2 connection (replies time out after two minutes).
    pub fn conn(&self) -> redis::Connection {
        self.connect(&self.url())
    }

    /// Makes this server a replica of `primary` (`REPLICAOF`) and waits until the link is up
    /// (the initial sync done), for at most 30 seconds.
    pub fn replicate(&self, primary: &Server) {
        let mut con = self.conn();
        let _: () = redis::cmd("REPLICAOF")
            .arg("127.0.0.1")
            .arg(primary.port)
            .query(&mut con)
            .expect("REPLICAOF");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let info: String = redis::cmd("INFO")
                .arg("replication")
                .query(&mut con)
                .expect("INFO replication");
            if info.contains("master_link_status:up") {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "replica did not attach:\n{}",
                self.log()
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// A RESP3 connection (`HELLO 3`).
    pub fn conn_resp3(&self) -> redis::Connection {
        self.connect(&format!("{}?protocol=resp3", self.url()))
    }

    fn connect(&self, url: &str) -> redis::Connection {
        let client = redis::Client::open(url).unwrap_or_else(|e| panic!("bad URL {url}: {e}"));
        let con = client
            .get_connection_with_timeout(Duration::from_secs(5))
            .unwrap_or_else(|e| {
                panic!(
                    "cannot connect to {url}: {e}\n--- server log tail ---\n{}",
                    tail(&self.log(), LOG_TAIL_LINES)
                )
            });
        con.set_read_timeout(Some(REPLY_TIMEOUT))
            .expect("set_read_timeout on a fresh connection");
        con
    }

    /// Runs `redis-cli -h 127.0.0.1 -p <port> <args>` and returns its stdout (panics if it exits non-zero).
    pub fn cli(&self, args: &[&str]) -> String {
        let bin = redis_cli_bin();
        let output = Command::new(&bin)
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"));
        assert!(
            output.status.success(),
            "{bin} {args:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The server log (`<dir>/redis.log`), accumulated over every start of this server.
    pub fn log(&self) -> String {
        read_lossy(&self.dir.join(LOG_FILE))
    }

    /// What redis-server wrote to stdout/stderr (config errors before the log file is open land here).
    pub fn stdio(&self) -> String {
        read_lossy(&self.dir.join(STDIO_FILE))
    }

    /// Waits until the server exits by itself (a `SHUTDOWN` another client sent), for at most
    /// `timeout`; returns whether it exited. The server counts as stopped afterwards.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> bool {
        let Some(child) = self.child.as_mut() else {
            return true;
        };
        let exited = wait_exit(child, timeout).is_some();
        if exited {
            self.child = None;
        }
        exited
    }

    /// Stops the server (which must run with `appendonly yes`), appends `commands` to its AOF as
    /// if it had executed them, and starts it again, so that it replays them while loading: the
    /// way to send what only the replication link and AOF loading may send (internal commands).
    pub fn replay_in_aof(&mut self, commands: &[Vec<Vec<u8>>]) {
        self.kill();
        // Redis 7.0+ keeps the AOF in appendonlydir/ with a manifest naming the incremental file.
        let dir = self.dir.join("appendonlydir");
        let manifest = std::fs::read_to_string(dir.join("appendonly.aof.manifest"))
            .expect("replay_in_aof needs a server running with appendonly yes");
        let incr = manifest
            .lines()
            .find(|l| l.contains("type i"))
            .and_then(|l| l.split_whitespace().nth(1))
            .expect("an incremental AOF file")
            .to_string();
        let mut aof = std::fs::read(dir.join(&incr)).unwrap_or_default();
        for args in commands {
            aof.extend(format!("*{}\r\n", args.len()).into_bytes());
            for a in args {
                aof.extend(format!("${}\r\n", a.len()).into_bytes());
                aof.extend_from_slice(a);
                aof.extend_from_slice(b"\r\n");
            }
        }
        std::fs::write(dir.join(&incr), aof).expect("write the AOF");
        let _ = std::fs::remove_file(self.dir.join("dump.rdb"));
        self.start_again();
    }

    /// SIGKILLs the server: nothing is saved (what is on disk stays as the last SAVE/AOF fsync left it).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server with `SHUTDOWN SAVE` (writing the RDB, and fsyncing the AOF when enabled) and waits
    /// for it to exit; panics with the log if it does not.
    pub fn stop_saving(&mut self) {
        let Some(mut child) = self.child.take() else {
            panic!(
                "stop_saving: the server on port {} is not running",
                self.port
            );
        };
        // The server closes the connection when it exits; an error reply means it refused to shut down.
        let reply = redis::Client::open(self.url())
            .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(5)))
            .and_then(|mut con| {
                redis::cmd("SHUTDOWN")
                    .arg("SAVE")
                    .query::<redis::Value>(&mut con)
            });
        if wait_exit(&mut child, STOP_TIMEOUT).is_none() {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "SHUTDOWN SAVE did not stop the server on port {} within {STOP_TIMEOUT:?} (reply: {reply:?})\n\
                 --- server log tail ---\n{}",
                self.port,
                tail(&self.log(), LOG_TAIL_LINES)
            );
        }
    }

    /// Stops the server with `SHUTDOWN SAVE` and starts it again in the same directory, on the same port,
    /// with the same arguments, waiting until it has loaded its data.
    pub fn restart(&mut self) {
        self.stop_saving();
        self.start_again();
    }

    /// Starts a stopped server again (same directory, port and arguments); waits until it has loaded.
    pub fn start_again(&mut self) {
        let config = self.config.clone();
        self.start_again_with(config);
    }

    /// Like [`Server::start_again`] with another configuration (same directory and port).
    pub fn start_again_with(&mut self, config: ServerBuilder) {
        if let Err(e) = self.try_start_again_with(config) {
            panic!("{e}");
        }
    }

    /// Like [`Server::start_again`], but returns why the server did not start (with its log), for tests
    /// that expect a refusal (e.g. loading an RDB without the module). The directory is kept either way.
    pub fn try_start_again(&mut self) -> Result<(), String> {
        let config = self.config.clone();
        self.try_start_again_with(config)
    }

    /// Like [`Server::start_again_with`], returning the failure instead of panicking.
    pub fn try_start_again_with(&mut self, config: ServerBuilder) -> Result<(), String> {
        assert!(
            self.child.is_none(),
            "start_again: the server on port {} is still running; call kill() or stop_saving() first",
            self.port
        );
        self.config = config;
        // The same port is wanted (replicas may point at it); give a lingering holder a moment.
        for _ in 0..PORT_ATTEMPTS {
            if let Some(child) = self.spawn_and_wait()? {
                self.child = Some(child);
                return Ok(());
            }
            thread::sleep(Duration::from_millis(200));
        }
        Err(format!(
            "redis-server could not bind its old port {} again in {PORT_ATTEMPTS} attempts\n--- server log tail ---\n{}",
            self.port,
            tail(&self.log(), LOG_TAIL_LINES)
        ))
    }

    /// One start attempt on `self.port`: `Ok(Some(child))` when it answers PING, `Ok(None)` when the port was
    /// taken (worth retrying), `Err(message with the log)` otherwise.
    fn spawn_and_wait(&mut self) -> Result<Option<Child>, String> {
        let log_path = self.dir.join(LOG_FILE);
        let stdio_path = self.dir.join(STDIO_FILE);
        let (log_offset, stdio_offset) = (file_len(&log_path), file_len(&stdio_path));
        let argv = self.config.command_line(&self.dir, self.port);
        let bin = self.config.binary.clone().unwrap_or_else(redis_server_bin);

        let stdio = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&stdio_path)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", stdio_path.display()));
        let stderr = stdio.try_clone().expect("clone of the stdio log handle");
        let mut child = match Command::new(&bin)
            .args(&argv)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(stdio)
            .stderr(stderr)
            .spawn()
        {
            Ok(child) => child,
            Err(e) => {
                return Err(format!(
                    "cannot run {bin}: {e} (install Redis with `make deps`, or set REDIS_SERVER)"
                ))
            }
        };

        let reason = match wait_ready(&mut child, self.port, START_TIMEOUT) {
            Ok(()) => return Ok(Some(child)),
            Err(reason) => reason,
        };
        // Not ready: make sure our process is gone before reading what it said.
        let _ = child.kill();
        let status = child.wait().ok();
        let log = read_from(&log_path, log_offset);
        let stdio = read_from(&stdio_path, stdio_offset);
        if [&reason, &log, &stdio]
            .iter()
            .any(|text| text.contains(PORT_TAKEN))
        {
            return Ok(None);
        }
        Err(format!(
            "redis-server did not start on port {}: {reason} (exit status: {})\n\
             command: {bin} {}\n--- server log ({}) ---\n{}\n--- stdout/stderr ---\n{}",
            self.port,
            status.map_or_else(|| "unknown".to_string(), |s| s.to_string()),
            argv.iter()
                .map(|a| if a.is_empty() {
                    "\"\"".to_string()
                } else {
                    a.clone()
                })
                .collect::<Vec<_>>()
                .join(" "),
            log_path.display(),
            tail(&log, 200),
            tail(&stdio, 50),
        ))
    }

    /// Why a fresh server did not start; removes its directory (the message carries the log).
    fn failure(&mut self, reason: &str) -> String {
        self.kill();
        format!(
            "{reason}\n--- server log ---\n{}\n--- stdout/stderr ---\n{}",
            tail(&self.log(), 200),
            tail(&self.stdio(), 50)
        )
    }
}

/// Polls until the server answers PING (not LOADING) and is our process, the process exits, or `timeout`
/// passes (extended up to [`LOADING_TIMEOUT`] while the server answers LOADING: it is alive and busy).
fn wait_ready(child: &mut Child, port: u16, timeout: Duration) -> Result<(), String> {
    let started = Instant::now();
    let mut deadline = started + timeout;
    let client =
        redis::Client::open(format!("redis://127.0.0.1:{port}/")).expect("a valid redis:// URL");
    let mut last = String::from("no answer yet");
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "the process exited ({status}) before answering PING"
            ));
        }
        if Instant::now() >= deadline {
            let waited = started.elapsed();
            return Err(format!("no PONG within {waited:?}; last attempt: {last}"));
        }
        match client.get_connection_with_timeout(Duration::from_millis(500)) {
            Ok(mut con) => {
                let _ = con.set_read_timeout(Some(Duration::from_secs(1)));
                match redis::cmd("PING").query::<String>(&mut con) {
                    // Someone else may own this port: only our own process counts as ready.
                    Ok(_) => match server_pid(&mut con) {
                        Some(pid) if pid == child.id() => return Ok(()),
                        Some(pid) => {
                            return Err(format!(
                                "port {port} is answered by another redis-server (pid {pid}): {PORT_TAKEN}"
                            ))
                        }
                        None => last = "PONG, but INFO server had no process_id".into(),
                    },
                    Err(e) => {
                        if e.code() == Some("LOADING") {
                            deadline = deadline.max((Instant::now() + timeout).min(started + LOADING_TIMEOUT));
                        }
                        last = e.to_string();
                    }
                }
            }
            Err(e) => last = e.to_string(),
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn server_pid(con: &mut redis::Connection) -> Option<u32> {
    let info: String = redis::cmd("INFO").arg("server").query(con).ok()?;
    info.lines()
        .find_map(|line| line.strip_prefix("process_id:"))
        .and_then(|pid| pid.trim().parse().ok())
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        let keep =
            std::env::var_os("NDARRAY_KEEP_TEST_DIRS").is_some_and(|v| !v.is_empty() && v != "0");
        if thread::panicking() {
            eprintln!(
                "--- redis-server on port {} (dir kept: {}): last {LOG_TAIL_LINES} log lines ---\n{}\n--- end of log ---",
                self.port,
                self.dir.display(),
                tail(&self.log(), LOG_TAIL_LINES)
            );
            let stdio = self.stdio();
            if !stdio.trim().is_empty() {
                eprintln!("--- redis-server stdout/stderr ---\n{}", tail(&stdio, 30));
            }
        } else if !keep {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// A three-node Redis Cluster (every slot assigned, no replicas) of servers with the module, and
/// a cluster connection to it. The servers stop when the returned `Vec` drops.
pub fn start_cluster() -> (Vec<Server>, redis::cluster::ClusterConnection) {
    let nodes: Vec<Server> = (0..3)
        .map(|_| {
            Server::start_with(&[
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "5000",
            ])
        })
        .collect();
    let addrs: Vec<String> = nodes
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.port))
        .collect();
    let out = std::process::Command::new(redis_cli_bin())
        .args(["--cluster", "create"])
        .args(&addrs)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .output()
        .expect("redis-cli --cluster create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    for node in &nodes {
        loop {
            let info: String = redis::cmd("CLUSTER")
                .arg("INFO")
                .query(&mut node.conn())
                .unwrap();
            if info.contains("cluster_state:ok") {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "cluster did not come up: {info}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    let urls: Vec<String> = nodes.iter().map(|n| n.url()).collect();
    let client = redis::cluster::ClusterClient::new(urls).unwrap();
    let con = client.get_connection().unwrap();
    (nodes, con)
}

/// In a cluster of `nodes`: the hash slot of `key`, every node's id, and the index of the node
/// that owns the slot.
pub fn slot_owner(nodes: &[Server], key: &str) -> (u16, Vec<String>, usize) {
    let mut con = nodes[0].conn();
    let slot: u16 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(key)
        .query(&mut con)
        .unwrap();
    let ids: Vec<String> = nodes
        .iter()
        .map(|n| {
            redis::cmd("CLUSTER")
                .arg("MYID")
                .query(&mut n.conn())
                .unwrap()
        })
        .collect();
    let owner = nodes
        .iter()
        .position(|n| {
            let here: redis::RedisResult<i64> = redis::cmd("EXISTS").arg(key).query(&mut n.conn());
            here.is_ok() // the others answer MOVED
        })
        .expect("an owner");
    (slot, ids, owner)
}
