//! README.md runs as written. Every example block is run against a fresh server with the module (one
//! server per block: blocks are self-contained and never depend on one another):
//!
//! - a ```` ```text ```` block with `127.0.0.1:6379> ` prompts is a `redis-cli` session. Each command line
//!   is fed on stdin to its own `$REDIS_CLI --no-raw` (so redis-cli's own quoting rules apply and the
//!   output is formatted as in an interactive session), and the reply is compared line by line with the
//!   lines under the prompt. `AUTH [user] pass` is run, then applied to the following commands with
//!   `--user`/`--pass`, since every command is a new connection.
//! - a ```` ```python ```` block runs with `.venv/bin/python` (`make venv`; or `$NDARRAY_PYTHON`), where
//!   `redis.Redis()` connects to the test server. Without the venv the blocks are skipped with a note.
//! - a ```` ```sh ```` block whose commands are all `redis-cli`, `python3` or `head` runs in bash, with
//!   `redis-cli` pointed at the test server and `.venv/bin` first on `PATH`; no output line may be an
//!   error. Other shell blocks (`make run`, paths to fill in) are not run.
//!
//! Replies whose wording differs between servers are kept out of the README, except the one known
//! difference [`normalize`] maps (the `NOPERM` text of Redis 7.0 against 7.2+ and Valkey), and the
//! server's clock: [`mask_clock`] compares the value after an `"updated_at"` field as "a Unix time
//! in milliseconds" on both sides.

mod common;

use common::{redis_cli_bin, redis_server_version, Server};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

const PROMPT: &str = "127.0.0.1:6379> ";
/// How long one redis-cli call, Python snippet or shell block may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(120);
/// Programs a shell block may run for it to be run by this test.
const SHELL_PROGRAMS: [&str; 3] = ["redis-cli", "python3", "head"];

/// Makes Python's `redis.Redis()` connect to the test server, then runs the snippet with its README line
/// numbers in tracebacks.
const PYTHON_PRELUDE: &str = r#"
import os, redis
_port = int(os.environ["NDARRAY_README_PORT"])
_init = redis.Redis.__init__
def _init_on_test_port(self, *args, **kwargs):
    if len(args) < 2 and "port" not in kwargs:
        kwargs["port"] = _port
    _init(self, *args, **kwargs)
redis.Redis.__init__ = _init_on_test_port
with open(os.environ["NDARRAY_README_SNIPPET"]) as f:
    _src = "\n" * (int(os.environ["NDARRAY_README_LINE"]) - 1) + f.read()
exec(compile(_src, "README.md", "exec"), {"__name__": "__main__"})
"#;

/// A fenced block of README.md.
struct Block {
    lang: String,
    /// 1-based line number of the block's first content line.
    first_line: usize,
    lines: Vec<String>,
}

impl Block {
    fn text(&self) -> String {
        self.lines.iter().map(|l| format!("{l}\n")).collect()
    }
}

/// One command of a session and the reply lines the README shows for it.
struct Step {
    line: usize,
    command: String,
    expected: Vec<String>,
}

fn readme_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")
}

fn readme_blocks() -> Vec<Block> {
    let path = readme_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    fenced_blocks(&text)
}

/// The fenced blocks (```` ```lang ```` at the start of a line, up to the next ```` ``` ````).
fn fenced_blocks(text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<Block> = None;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        match open.take() {
            None => {
                if let Some(lang) = line.strip_prefix("```") {
                    open = Some(Block {
                        lang: lang.trim().to_string(),
                        first_line: number + 1,
                        lines: Vec::new(),
                    });
                }
            }
            Some(mut block) => {
                if line.trim_end() == "```" {
                    blocks.push(block);
                } else {
                    block.lines.push(line.to_string());
                    open = Some(block);
                }
            }
        }
    }
    if let Some(block) = open {
        panic!(
            "README.md: the block opened at line {} is never closed",
            block.first_line - 1
        );
    }
    blocks
}

/// The steps of a session block, or `None` when the block is not a session.
fn session_steps(block: &Block) -> Option<Vec<Step>> {
    if block.lang != "text" || !block.lines.iter().any(|l| l.starts_with(PROMPT)) {
        return None;
    }
    let mut steps: Vec<Step> = Vec::new();
    for (offset, line) in block.lines.iter().enumerate() {
        let number = block.first_line + offset;
        if let Some(command) = line.strip_prefix(PROMPT) {
            steps.push(Step {
                line: number,
                command: command.to_string(),
                expected: Vec::new(),
            });
        } else {
            match steps.last_mut() {
                Some(step) => step.expected.push(line.clone()),
                None => panic!("README.md:{number}: a session must start with a `{PROMPT}` line"),
            }
        }
    }
    Some(steps)
}

/// Splits a command line exactly as redis-cli does (`sdssplitargs` in Redis' `sds.c`), or `None` for
/// unbalanced quotes.
fn split_args(line: &str) -> Option<Vec<Vec<u8>>> {
    let p = line.as_bytes();
    let at = |i: usize| p.get(i).copied().unwrap_or(0);
    let is_space = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while at(i) != 0 && is_space(at(i)) {
            i += 1;
        }
        if at(i) == 0 {
            return Some(args);
        }
        let (mut in_double, mut in_single, mut done) = (false, false, false);
        let mut current = Vec::new();
        while !done {
            let c = at(i);
            if in_double {
                let escaped_byte = match (c, at(i + 1), hex(at(i + 2)), hex(at(i + 3))) {
                    (b'\\', b'x', Some(hi), Some(lo)) => Some(hi * 16 + lo),
                    _ => None,
                };
                if let Some(byte) = escaped_byte {
                    current.push(byte);
                    i += 3;
                } else if c == b'\\' && at(i + 1) != 0 {
                    i += 1;
                    current.push(match at(i) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    if at(i + 1) != 0 && !is_space(at(i + 1)) {
                        return None;
                    }
                    done = true;
                } else if c == 0 {
                    return None;
                } else {
                    current.push(c);
                }
            } else if in_single {
                if c == b'\\' && at(i + 1) == b'\'' {
                    i += 1;
                    current.push(b'\'');
                } else if c == b'\'' {
                    if at(i + 1) != 0 && !is_space(at(i + 1)) {
                        return None;
                    }
                    done = true;
                } else if c == 0 {
                    return None;
                } else {
                    current.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => done = true,
                    b'"' => in_double = true,
                    b'\'' => in_single = true,
                    _ => current.push(c),
                }
            }
            if at(i) != 0 {
                i += 1;
            }
        }
        args.push(current);
    }
}

/// The one reply whose wording differs between the servers we support: Redis 7.0 says
/// `NOPERM this user has no permissions …`, Redis 7.2+ and Valkey `NOPERM User <name> has no permissions …`.
fn normalize(line: &str) -> String {
    if let Some(rest) = line.strip_prefix("(error) NOPERM User ") {
        if let Some((_name, tail)) = rest.split_once(" has no permissions") {
            return format!("(error) NOPERM this user has no permissions{tail}");
        }
    }
    line.to_string()
}

/// `(integer) 1767225600123` on the line after one ending in `"updated_at"` becomes
/// `(integer) <unix-ms>` (a write's time is the server's clock when the README runs).
fn mask_clock(mut lines: Vec<String>) -> Vec<String> {
    for i in 1..lines.len() {
        if !lines[i - 1].trim_end().ends_with("\"updated_at\"") {
            continue;
        }
        let line = &lines[i];
        if let Some(pos) = line.find("(integer) ") {
            let digits = &line[pos + 10..];
            if digits.len() >= 12 && digits.bytes().all(|b| b.is_ascii_digit()) {
                lines[i] = format!("{}(integer) <unix-ms>", &line[..pos]);
            }
        }
    }
    lines
}

/// redis-cli prints `(0.52s)` after a command that took over half a second in an interactive session.
fn is_timing_line(line: &str) -> bool {
    line.strip_prefix('(')
        .and_then(|l| l.strip_suffix("s)"))
        .is_some_and(|n| !n.is_empty() && n.parse::<f64>().is_ok())
}

/// Runs `cmd` with `stdin` as its input; kills it after [`STEP_TIMEOUT`].
fn run(mut cmd: Command, stdin: &[u8], what: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let mut input = child.stdin.take().expect("piped stdin");
    let stdin = stdin.to_vec();
    let writer = thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let out_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let err_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err.read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + STEP_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{what} did not finish within {STEP_TIMEOUT:?}");
            }
            Err(e) => panic!("cannot wait for {what}: {e}"),
        }
    };
    let _ = writer.join();
    Output {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

/// A note that shows even when the test passes (libtest only captures the print macros).
fn note(text: &str) {
    let _ = writeln!(std::io::stderr(), "note: {text}");
}

fn server_name() -> String {
    let (major, minor, patch) = redis_server_version();
    format!(
        "{} {major}.{minor}.{patch} with {}",
        common::redis_server_bin(),
        redis_cli_bin()
    )
}

/// Line-by-line comparison of one step; `None` when it matches.
fn compare(step: &Step, block: &Block, output: &Output) -> Option<String> {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut actual: Vec<String> = stdout.lines().map(str::to_string).collect();
    if actual.last().is_some_and(|l| is_timing_line(l))
        && !step.expected.last().is_some_and(|l| is_timing_line(l))
    {
        actual.pop();
    }
    let expected: Vec<String> = mask_clock(step.expected.iter().map(|l| normalize(l)).collect());
    let normalized: Vec<String> = mask_clock(actual.iter().map(|l| normalize(l)).collect());
    if expected == normalized {
        return None;
    }
    let mut diff = String::new();
    for i in 0..expected.len().max(actual.len()) {
        let (e, a) = (expected.get(i), normalized.get(i));
        if e.is_some() && e == a {
            diff.push_str(&format!("    {}\n", actual[i]));
            continue;
        }
        if let Some(e) = e {
            diff.push_str(&format!("  - {e}    (README.md:{})\n", step.line + 1 + i));
        }
        if let Some(raw) = actual.get(i) {
            diff.push_str(&format!("  + {raw}\n"));
        }
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Some(format!(
        "README.md:{}: `{}` (session block at line {}): the reply differs (- README, + real):\n{diff}{}",
        step.line,
        step.command,
        block.first_line,
        if stderr.trim().is_empty() {
            String::new()
        } else {
            format!("  stderr: {}\n", stderr.trim())
        }
    ))
}

/// Runs one session on a fresh server; returns the failures and the number of commands run.
fn run_session(block: &Block, steps: &[Step]) -> (Vec<String>, usize) {
    let server = Server::start();
    let cli = redis_cli_bin();
    let mut auth: Vec<String> = Vec::new();
    let mut failures = Vec::new();
    for step in steps {
        let Some(args) = split_args(&step.command) else {
            failures.push(format!(
                "README.md:{}: unbalanced quotes in `{}`",
                step.line, step.command
            ));
            continue;
        };
        let first = args.first().map(|a| String::from_utf8_lossy(a).to_string());
        if first.as_deref().is_some_and(|a| a.parse::<i64>().is_ok()) {
            failures.push(format!(
                "README.md:{}: `{}` starts with a number, which redis-cli takes as a repeat count",
                step.line, step.command
            ));
            continue;
        }
        let mut cmd = Command::new(&cli);
        cmd.args([
            "--no-raw",
            "-h",
            "127.0.0.1",
            "-p",
            &server.port.to_string(),
        ])
        .args(&auth)
        .current_dir(&server.dir);
        let output = run(
            cmd,
            format!("{}\n", step.command).as_bytes(),
            &format!("{cli} for README.md:{}", step.line),
        );
        if let Some(failure) = compare(step, block, &output) {
            failures.push(failure);
        }
        if first.is_some_and(|a| a.eq_ignore_ascii_case("AUTH")) {
            let creds: Vec<String> = args[1..]
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            auth = match creds.as_slice() {
                [pass] => vec!["--pass".into(), pass.clone(), "--no-auth-warning".into()],
                [user, pass] => vec![
                    "--user".into(),
                    user.clone(),
                    "--pass".into(),
                    pass.clone(),
                    "--no-auth-warning".into(),
                ],
                _ => {
                    failures.push(format!(
                        "README.md:{}: AUTH takes a password or a user and a password",
                        step.line
                    ));
                    auth
                }
            };
        }
    }
    (failures, steps.len())
}

#[test]
fn every_redis_cli_session_in_the_readme_replies_as_shown() {
    let started = Instant::now();
    let blocks = readme_blocks();
    let sessions: Vec<(&Block, Vec<Step>)> = blocks
        .iter()
        .filter_map(|b| session_steps(b).map(|steps| (b, steps)))
        .collect();
    assert!(
        sessions.len() >= 5,
        "found only {} redis-cli sessions in README.md: is the `{PROMPT}` prompt still used?",
        sessions.len()
    );
    let mut failures = Vec::new();
    let mut commands = 0;
    for (block, steps) in &sessions {
        let (mut f, n) = run_session(block, steps);
        failures.append(&mut f);
        commands += n;
    }
    assert!(
        failures.is_empty(),
        "{} of {commands} README commands did not reply as shown ({}):\n\n{}",
        failures.len(),
        server_name(),
        failures.join("\n")
    );
    note(&format!(
        "README.md: {} sessions, {commands} commands replied as shown ({}, {:.1?})",
        sessions.len(),
        server_name(),
        started.elapsed()
    ));
}

/// The venv's Python, if it has what the snippets import.
fn venv_python() -> Option<PathBuf> {
    let python = std::env::var_os("NDARRAY_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"));
    let ok = Command::new(&python)
        .args(["-c", "import numpy, redis, ml_dtypes"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(python)
}

fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[test]
fn every_python_snippet_in_the_readme_runs() {
    let started = Instant::now();
    let blocks = readme_blocks();
    let snippets: Vec<&Block> = blocks.iter().filter(|b| b.lang == "python").collect();
    assert!(
        !snippets.is_empty(),
        "no ```python blocks found in README.md"
    );
    let Some(python) = venv_python() else {
        note(&format!(
            "skipped the {} Python snippets of README.md: no .venv with numpy, redis and ml_dtypes \
             (run `make venv`, or set NDARRAY_PYTHON)",
            snippets.len()
        ));
        return;
    };
    let mut failures = Vec::new();
    for block in &snippets {
        let server = Server::start();
        let file = server.dir.join("snippet.py");
        std::fs::write(&file, block.text()).expect("write the snippet");
        let mut cmd = Command::new(&python);
        cmd.args(["-c", PYTHON_PRELUDE])
            .env("NDARRAY_README_PORT", server.port.to_string())
            .env("NDARRAY_README_SNIPPET", &file)
            .env("NDARRAY_README_LINE", block.first_line.to_string())
            .current_dir(&server.dir);
        let output = run(
            cmd,
            b"",
            &format!("the Python snippet at README.md:{}", block.first_line),
        );
        if !output.status.success() {
            failures.push(format!(
                "README.md:{}: the Python snippet failed ({}):\n{}",
                block.first_line,
                output.status,
                tail_lines(&String::from_utf8_lossy(&output.stderr), 30)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} README Python snippets failed ({}):\n\n{}",
        failures.len(),
        snippets.len(),
        server_name(),
        failures.join("\n\n")
    );
    note(&format!(
        "README.md: {} Python snippets ran ({}, {:.1?})",
        snippets.len(),
        server_name(),
        started.elapsed()
    ));
}

/// The program each command line of a shell block runs (comments and blank lines skipped).
fn shell_programs(block: &Block) -> Vec<String> {
    block
        .lines
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
        .collect()
}

#[test]
fn every_redis_cli_shell_example_in_the_readme_runs() {
    let blocks = readme_blocks();
    let runnable: Vec<&Block> = blocks
        .iter()
        .filter(|b| b.lang == "sh" || b.lang == "bash")
        .filter(|b| {
            let programs = shell_programs(b);
            programs.iter().any(|p| p == "redis-cli")
                && programs
                    .iter()
                    .all(|p| SHELL_PROGRAMS.contains(&p.as_str()))
        })
        .collect();
    assert!(
        !runnable.is_empty(),
        "no runnable ```sh block (only redis-cli, python3 and head) found in README.md"
    );
    let venv_bin = venv_python().and_then(|p| p.parent().map(Path::to_path_buf));
    let mut failures = Vec::new();
    let mut ran = 0;
    for block in runnable {
        if venv_bin.is_none() && shell_programs(block).iter().any(|p| p == "python3") {
            note(&format!(
                "skipped the shell block at README.md:{}: it runs python3 with NumPy and there is no \
                 .venv (run `make venv`)",
                block.first_line
            ));
            continue;
        }
        let server = Server::start();
        let script = format!(
            "set -euo pipefail\nredis-cli() {{ command \"$NDARRAY_README_CLI\" -h 127.0.0.1 -p \"$NDARRAY_README_PORT\" \"$@\"; }}\n{}",
            block.text()
        );
        let mut path = std::env::var_os("PATH").unwrap_or_default();
        if let Some(bin) = &venv_bin {
            let mut dirs = vec![bin.clone()];
            dirs.extend(std::env::split_paths(&path));
            path = std::env::join_paths(dirs).expect("a valid PATH");
        }
        let mut cmd = Command::new("bash");
        cmd.arg("-c")
            .arg(&script)
            .env("PATH", path)
            .env("NDARRAY_README_CLI", redis_cli_bin())
            .env("NDARRAY_README_PORT", server.port.to_string())
            .current_dir(&server.dir);
        let output = run(
            cmd,
            b"",
            &format!("the shell block at README.md:{}", block.first_line),
        );
        ran += 1;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let errors: Vec<&str> = stdout
            .lines()
            .filter(|l| {
                l.starts_with("ERR") || l.starts_with("(error)") || l.starts_with("WRONGTYPE")
            })
            .collect();
        if !output.status.success() || !errors.is_empty() {
            failures.push(format!(
                "README.md:{}: the shell block failed ({}):\n--- stdout\n{stdout}--- stderr\n{stderr}",
                block.first_line, output.status
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    note(&format!(
        "README.md: {ran} shell blocks ran ({})",
        server_name()
    ));
}

#[test]
fn command_lines_split_like_redis_cli() {
    let split = |line: &str| {
        split_args(line).map(|args| {
            args.into_iter()
                .map(|a| String::from_utf8_lossy(&a).into_owned())
                .collect::<Vec<_>>()
        })
    };
    assert_eq!(
        split("NDARRAY.SLICE m \":, 0\" FORMAT VALUES").unwrap(),
        ["NDARRAY.SLICE", "m", ":, 0", "FORMAT", "VALUES"]
    );
    assert_eq!(
        split("  AUTH  reader 'sec ret' ").unwrap(),
        ["AUTH", "reader", "sec ret"]
    );
    assert_eq!(split("SET k \"\"").unwrap(), ["SET", "k", ""]);
    assert_eq!(split("SET k \"a\\x41\\n\"").unwrap(), ["SET", "k", "aA\n"]);
    assert_eq!(split("SET k \"unterminated"), None);
    assert_eq!(split("SET k \"a\"b"), None);
}

#[test]
fn sessions_are_parsed_with_their_line_numbers() {
    let blocks = fenced_blocks(
        "# t\n\n```text\nNDARRAY.GET key\n```\n\n```text\n127.0.0.1:6379> PING\nPONG\n127.0.0.1:6379> GET x\n(nil)\n```\n",
    );
    assert_eq!(blocks.len(), 2);
    assert!(session_steps(&blocks[0]).is_none());
    let steps = session_steps(&blocks[1]).expect("a session");
    assert_eq!(blocks[1].first_line, 8);
    assert_eq!(
        steps
            .iter()
            .map(|s| (s.line, s.command.as_str(), s.expected.clone()))
            .collect::<Vec<_>>(),
        [
            (8, "PING", vec!["PONG".to_string()]),
            (10, "GET x", vec!["(nil)".to_string()])
        ]
    );
    assert_eq!(
        normalize("(error) NOPERM User reader has no permissions to run the 'ndarray.set' command"),
        "(error) NOPERM this user has no permissions to run the 'ndarray.set' command"
    );
    assert!(is_timing_line("(0.52s)") && !is_timing_line("(nil)"));
}
