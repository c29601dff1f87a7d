//! Helpers both benchmarks use: seeded test data, output formatting, INFO fields, the run's header.

#![allow(dead_code)]

use redis::Connection;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Days since 1970-01-01 to a (year, month, day) date (Howard Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

pub fn fmt_duration(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1_000.0 {
        format!("{us:.1} µs")
    } else if us < 1_000_000.0 {
        format!("{:.2} ms", us / 1e3)
    } else {
        format!("{:.2} s", us / 1e6)
    }
}

pub fn git_version() -> String {
    Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// One `field:value` line of `INFO section`.
pub fn info_field(con: &mut Connection, section: &str, field: &str) -> String {
    let info: String = query(con, redis::cmd("INFO").arg(section));
    info.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {field} in INFO {section}"))
        .trim()
        .to_string()
}

pub fn query<T: redis::FromRedisValue>(con: &mut Connection, cmd: &mut redis::Cmd) -> T {
    cmd.query(con).unwrap_or_else(|e| {
        panic!(
            "{:?}: {e}",
            String::from_utf8_lossy(&cmd.get_packed_command())
        )
    })
}

pub fn section(title: &str) {
    println!("\n{title}\n{}", "-".repeat(title.chars().count()));
}

/// The current UTC time as `YYYY-MM-DD HH:MM UTC`, computed with std only.
pub fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let (hour, minute) = (secs % 86_400 / 3600, secs % 3600 / 60);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02} UTC")
}

/// Thousands separators.
pub fn fmt_int(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The lines every sectioned bench opens with: title, date, server, module, machine, the sections
/// run and how to reproduce them. `sections` lists the bench's section names, already wrapped.
pub fn print_run_header(
    title: &str,
    con: &mut Connection,
    server_bin: &str,
    module: &std::path::Path,
    bench: &str,
    sections: &str,
    wanted: &[String],
) {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".into());
    let run = if wanted.is_empty() {
        "all".to_string()
    } else {
        wanted.join(" ")
    };
    println!("{title}");
    println!("{}", "=".repeat(title.len()));
    println!("date:       {}", utc_now());
    println!(
        "redis:      {} ({server_bin})",
        info_field(con, "server", "redis_version")
    );
    let source = if std::env::var_os("NDARRAY_MODULE").is_some() {
        "from $NDARRAY_MODULE; this checkout is at git"
    } else {
        "git"
    };
    println!(
        "module:     {} ({source} {})",
        module.display(),
        git_version()
    );
    println!("machine:    {cpus} CPUs shared by clients and server; load average at start {load}");
    println!("sections:   {run}");
    println!(
        "reproduce:  make bench   (= make build && cargo bench --bench {bench} [-- SECTION ...];\n            \
         sections: {sections})"
    );
}
