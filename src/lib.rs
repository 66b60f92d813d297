//! guestagent: the database-host half of a DBaaS control plane.
//!
//! The control plane (OpenStack Trove, or a Cloud66-style service) sends user,
//! database and root commands over AMQP; this daemon applies them to the local
//! mysqld over its unix socket and reports every outcome back.
//!
//! # Layout
//!
//! One command flows down this list and its outcome flows back up:
//!
//! | module | owns |
//! | --- | --- |
//! | [`cli`] | command line, exit codes (0 ok, 1 runtime failure, 2 bad config) |
//! | [`config`] | TOML → validated [`config::Config`]; secrets redacted |
//! | [`logging`] | the tracing subscriber (journald-friendly under systemd) |
//! | [`shutdown`] | SIGTERM/SIGINT → one cancellation token |
//! | [`systemd`] | READY / STATUS / STOPPING / WATCHDOG notifications |
//! | [`amqp`] | broker connection, Trove's topology, consuming and publishing |
//! | [`rpc`] | the oslo.messaging envelope, request context, replies and failures |
//! | [`command`] | typed commands parsed from wire arguments; nothing below sees JSON |
//! | [`journal`] | the durable action journal: admit before ack, outcome after, dedup, recovery |
//! | [`mysql`] | SQL built from typed values only, over the mysqld socket |
//! | [`host`] | host and process facts from /proc for hwinfo and diagnostics |
//! | [`conductor`] | notifications and heartbeats cast to Trove's conductor |
//! | [`agent`] | the loop tying them together: consume → parse → apply → answer → ack |
//! | [`memory`] | what the allocator keeps: glibc tuned for a long-lived daemon, trimmed after bursts |
#![deny(missing_docs, missing_debug_implementations)]

pub mod agent;
pub mod amqp;
pub mod cli;
pub mod command;
pub mod conductor;
pub mod config;
pub mod host;
pub mod journal;
pub mod logging;
pub mod memory;
pub mod mysql;
pub mod rpc;
pub mod shutdown;
pub mod systemd;
