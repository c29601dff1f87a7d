//! The host facade: every call into the Redis module API through raw pointers, and every
//! `unsafe` that touches it, lives under this module, so that it can be audited in one place and
//! the rest of the module (commands, offload, admission, settings) is safe Rust. Thin on purpose:
//! each function is one API call (or one fixed sequence of them) and says what it requires.
//!
//! - `reply.rs`: RESP items written straight into a client's buffer;
//! - `server.rs`: the clock, keyspace events, replication of what the module writes itself,
//!   `INFO` fields, loading the settings;
//! - `blocking.rs`: blocked clients, thread-safe contexts, Redis' lock, timers;
//! - `held.rs`: argument strings kept past their command, and `ValuesOnArgs`, the one type that
//!   lets prepared values borrow them on a worker;
//! - `datatype.rs`: the array type and its callbacks (RDB, AOF rewrite, copy, free, memory),
//!   and typed key access;
//! - `registration.rs`: the commands of `commands/table.rs`, declared to Redis;
//! - `server_events.rs`: the server events followed; `stats.rs`: the `INFO ndarray` section;
//! - `thread.rs`: the one OS call, worker threads giving way to the main thread.

pub mod blocking;
pub mod datatype;
pub mod held;
pub mod registration;
pub mod reply;
pub mod server;
pub mod server_events;
pub mod stats;
pub mod thread;
