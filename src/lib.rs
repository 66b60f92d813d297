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
//! | `config` | TOML (or Trove's own files) → validated `Config`; secrets redacted |
//! | `logging` | the tracing subscriber (journald-friendly under systemd) |
//! | `shutdown` | SIGTERM/SIGINT → one cancellation token |
//! | `systemd` | READY / STATUS / STOPPING / WATCHDOG notifications |
//! | `amqp` | broker connection, Trove's topology, consuming, the `Commit` seam |
//! | `rpc` | the oslo.messaging envelope, request context, replies and failures |
//! | `agent` | sessions and the delivery pipeline: decode → parse → route → answer |
//! | `command` | one file per RPC method: its parse, flags and apply |
//! | `journal` | the durable action journal: admit before ack, outcome after, dedup |
//! | `model` | the vocabulary below both: names, accounts, the `Database` seam, failure classes |
//! | `mysql` | SQL built from `model` values only, over the mysqld socket |
//! | `host` | host and process facts from /proc for hwinfo, diagnostics and filesystem stats |
//! | `instance` | the Trove instance's life: waiting for `prepare`, its markers, what the heartbeat says |
//! | `conductor` | notifications and heartbeats cast to Trove's conductor |
//! | `memory` | what the allocator keeps: glibc tuned for a long-lived daemon, trimmed after bursts |
//! | `testkit` | fakes for both seams and the whole path over them (tests; the `testkit` feature) |
//!
//! Only [`cli`] and [`memory::tune`] are the binary's interface; with the
//! `testkit` feature, [`testkit`] is the fuzz targets' and integration
//! tests'. Everything else is private to the crate, so the compiler sees
//! what is unused.
#![deny(missing_docs, missing_debug_implementations)]

mod agent;
mod amqp;
pub mod cli;
mod command;
mod conductor;
mod config;
mod host;
mod instance;
mod journal;
mod logging;
pub mod memory;
mod model;
mod mysql;
mod rpc;
mod shutdown;
mod systemd;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
