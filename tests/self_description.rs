//! The module describes itself as native commands do: `COMMAND DOCS` carries summary, since,
//! complexity and the full argument tree of every command, the README's syntax line of each command
//! is exactly what those docs say, and a misspelt or malformed module setting refuses to load.

mod common;

use common::Server;
use redis::Value;
use std::collections::BTreeMap;

/// An argument as `COMMAND DOCS` reports it.
#[derive(Debug, Default)]
struct DocArg {
    name: String,
    kind: String,
    token: Option<String>,
    optional: bool,
    multiple: bool,
    multiple_token: bool,
    subargs: Vec<DocArg>,
}

fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        other => format!("{other:?}"),
    }
}

/// A RESP2 flat `[k1, v1, k2, v2, ...]` list as a map.
fn pairs(v: &Value) -> BTreeMap<String, &Value> {
    let Value::Array(items) = v else {
        panic!("expected a flat map, got {v:?}")
    };
    items.chunks(2).map(|kv| (text(&kv[0]), &kv[1])).collect()
}

fn doc_args(v: &Value) -> Vec<DocArg> {
    let Value::Array(items) = v else {
        panic!("expected arguments, got {v:?}")
    };
    items
        .iter()
        .map(|item| {
            let m = pairs(item);
            let flags: Vec<String> = match m.get("flags") {
                Some(Value::Array(f)) => f.iter().map(text).collect(),
                _ => vec![],
            };
            DocArg {
                name: text(m["name"]),
                kind: text(m["type"]),
                token: m.get("token").map(|t| text(t)),
                optional: flags.iter().any(|f| f == "optional"),
                multiple: flags.iter().any(|f| f == "multiple"),
                multiple_token: flags.iter().any(|f| f == "multiple_token"),
                subargs: m.get("arguments").map(|a| doc_args(a)).unwrap_or_default(),
            }
        })
        .collect()
}

/// Redis' documentation syntax: `[x]` optional, `x [x ...]` multiple, `<a | b>` a choice
/// (`[a | b]` when optional and without a token), `TOKEN value`.
fn render(a: &DocArg) -> String {
    let join = |sep: &str| a.subargs.iter().map(render).collect::<Vec<_>>().join(sep);
    let one = match a.kind.as_str() {
        "pure-token" => a.token.clone().unwrap_or_default(),
        "oneof" if a.optional && a.token.is_none() => join(" | "),
        "oneof" => format!("<{}>", join(" | ")),
        "block" => join(" "),
        _ => a.name.clone(),
    };
    let with_token = match (&a.token, a.kind.as_str()) {
        // The token repeats with each value (`ATTR field value [ATTR field value ...]`).
        (Some(t), kind) if kind != "pure-token" && a.multiple_token => {
            format!("{t} {one} [{t} {one} ...]")
        }
        (Some(t), kind) if kind != "pure-token" && a.multiple => {
            format!("{t} {one} [{one} ...]")
        }
        (Some(t), kind) if kind != "pure-token" => format!("{t} {one}"),
        _ if a.multiple => format!("{one} [{one} ...]"),
        _ => one,
    };
    if a.optional {
        format!("[{with_token}]")
    } else {
        with_token
    }
}

/// Each `### NDARRAY.X` section's first line of its first ```text block.
fn readme_syntax_lines() -> BTreeMap<String, String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let mut lines = readme.lines();
    let mut found = BTreeMap::new();
    while let Some(line) = lines.next() {
        let Some(heading) = line.strip_prefix("### NDARRAY.") else {
            continue;
        };
        let name = format!("ndarray.{}", heading.trim().to_lowercase());
        let mut block = lines.by_ref().skip_while(|l| l.trim() != "```text");
        block.next();
        let first = block.next().unwrap_or_default().to_string();
        found.insert(name, first);
    }
    found
}

fn module_docs(con: &mut redis::Connection) -> BTreeMap<String, Value> {
    let all: Value = redis::cmd("COMMAND").arg("DOCS").query(con).unwrap();
    let Value::Array(items) = all else {
        panic!("COMMAND DOCS: {all:?}")
    };
    items
        .chunks(2)
        .filter(|kv| pairs(&kv[1]).get("module").map(|m| text(m)).as_deref() == Some("ndarray"))
        .map(|kv| (text(&kv[0]), kv[1].clone()))
        .collect()
}

#[test]
fn command_docs_are_complete_and_match_the_readme_syntax_lines() {
    let server = Server::start();
    let mut con = server.conn();
    let docs = module_docs(&mut con);
    let mut readme = readme_syntax_lines();
    // Redis 8 hides internal commands from COMMAND DOCS (and from clients); other servers list them.
    for internal in ["ndarray.stamp", "ndarray.putencoded"] {
        if !docs.contains_key(internal) {
            readme.remove(internal);
        }
    }
    assert_eq!(
        docs.keys().collect::<Vec<_>>(),
        readme.keys().collect::<Vec<_>>(),
        "every command has a README section and every section a command"
    );
    let mut mismatches = Vec::new();
    for (name, doc) in &docs {
        let d = pairs(doc);
        for field in ["summary", "since", "complexity"] {
            let value = d.get(field).map(|v| text(v)).unwrap_or_default();
            assert!(!value.is_empty(), "{name}: COMMAND DOCS has no {field}");
        }
        assert_eq!(text(d["group"]), "module", "{name}");
        let args = doc_args(d.get("arguments").expect("arguments"));
        assert!(!args.is_empty(), "{name} documents no arguments");
        // The first argument is a key, or (as native MSET documents it) a block that starts with
        // one, or (as native ZUNION and MSETEX do) `numkeys` before them.
        let keys_at = usize::from(args[0].name == "numkeys" && args[0].kind == "integer");
        let first = match args[keys_at].kind.as_str() {
            "block" => &args[keys_at].subargs[0],
            _ => &args[keys_at],
        };
        assert_eq!(first.kind, "key", "{name}: the first argument is a key");
        let mut line = name.to_uppercase();
        for a in &args {
            line.push(' ');
            line.push_str(&render(a));
        }
        if readme[name] != line {
            mismatches.push(format!(
                "{name}:\n  README:       {}\n  COMMAND DOCS: {line}",
                readme[name]
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn command_docs_describe_options_as_native_set_does() {
    let server = Server::start();
    let mut con = server.conn();
    let docs = module_docs(&mut con);
    let set = doc_args(pairs(&docs["ndarray.set"])["arguments"]);
    let find = |name: &str| {
        set.iter()
            .find(|a| a.name == name)
            .unwrap_or_else(|| panic!("NDARRAY.SET documents no '{name}': {set:?}"))
    };
    let condition = find("condition");
    assert_eq!(condition.kind, "oneof");
    assert!(condition.optional);
    let tokens: Vec<_> = condition.subargs.iter().map(|a| a.token.clone()).collect();
    assert_eq!(tokens, [Some("NX".to_string()), Some("XX".to_string())]);
    let expiration = find("expiration");
    assert_eq!(expiration.subargs.len(), 5, "EX PX EXAT PXAT KEEPTTL");
    let data = find("data");
    assert!(!data.optional, "the data is required");
    let values = data
        .subargs
        .iter()
        .find(|a| a.token.as_deref() == Some("VALUES"));
    assert!(values.is_some_and(|v| v.multiple), "{data:?}");
    // Key specs come with the docs: COMMAND GETKEYS finds every key of a batch write.
    let keys: Vec<String> = redis::cmd("COMMAND")
        .arg("GETKEYS")
        .arg("NDARRAY.MSET")
        .arg("a")
        .arg("x")
        .arg("b")
        .arg("y")
        .query(&mut con)
        .unwrap();
    assert_eq!(keys, ["a", "b"]);
}

#[test]
fn misspelt_or_malformed_module_settings_refuse_to_load() {
    for (args, expected) in [
        (
            &["compresion", "zlib"][..],
            "unknown module setting 'compresion' (did you mean 'compression'?)",
        ),
        (
            &["compression"][..],
            "module setting 'compression' has no value",
        ),
        (
            &["compression", "lz4", "zlib-level"][..],
            "module setting 'zlib-level' has no value",
        ),
        (
            &["zlib-level", "10"][..],
            "module setting 'zlib-level' must be an integer from 0 to 9, got '10'",
        ),
        (
            &["shuffle", "bits"][..],
            "module setting 'shuffle' must be one of none, byte, bit, got 'bits'",
        ),
        (
            &["compression", "brotli"][..],
            "module setting 'compression' must be one of none, lz4, zlib, zstd, auto, got 'brotli'",
        ),
        (
            &["zstd-level", "-8"][..],
            "module setting 'zstd-level' must be an integer from -7 to 22, got '-8'",
        ),
    ] {
        let err = Server::builder()
            .module_args(args)
            .try_start()
            .err()
            .unwrap_or_else(|| panic!("{args:?}: the module loaded"));
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(
            err.contains("valid settings: compression, shuffle, zlib-level, zstd-level")
                || !expected.contains("unknown"),
            "{args:?}: the log lists the valid settings: {err}"
        );
    }
    // Names are case-insensitive, as CONFIG SET's are.
    let server = Server::builder()
        .module_args(&["COMPRESSION", "Zlib", "zlib-level", "3"])
        .start();
    let mut con = server.conn();
    let got: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("ndarray.compression")
        .query(&mut con)
        .unwrap();
    assert_eq!(got, ["ndarray.compression", "zlib"]);
}
