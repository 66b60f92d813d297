//! What every delivery's handling shares for as long as the agent runs.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::delivery::Patience;
use super::listings::Listings;
use super::respond::Responder;
use super::scheduler::Scheduler;
use crate::amqp::Commit;
use crate::command::{Env, Limits, ParseCx};
use crate::conductor::Conductor;
use crate::instance::Instance;
use crate::journal::Journal;
use crate::model::Database;
use crate::rpc::Codec;

/// What every handler shares.
#[derive(Debug)]
pub struct Shared<D> {
    /// Envelope and crypto.
    pub codec: Codec,
    /// The database.
    pub db: D,
    /// The action journal.
    pub journal: Journal,
    /// Where cast outcomes go.
    pub conductor: Conductor,
    /// Parse limits.
    pub limits: Limits,
    /// Cancelled on shutdown.
    pub shutdown: CancellationToken,
    /// mysqld's socket, to tell "stopped" from "broken" in heartbeats.
    pub mysql_socket: std::path::PathBuf,
    /// Large listings, one at a time.
    pub listings: Listings,
    /// Gives memory back after large answers.
    pub reclaimer: crate::memory::Reclaimer,
    /// Whether `enable_root` is served (`amqp.allow_root_enable`).
    pub allow_root_enable: bool,
    /// Retry windows and the recovery grace.
    pub patience: Patience,
    /// Which mutations may run together, and the slots for their SQL.
    pub scheduler: Arc<Scheduler>,
    /// The Trove instance's life (prepare) as the heartbeat reports it.
    pub instance: Instance,
}

impl<D: Database> Shared<D> {
    /// True while mysqld's socket file exists.
    pub fn mysql_socket_exists(&self) -> bool {
        self.mysql_socket.exists()
    }

    /// What commands run against.
    pub fn env(&self) -> Env<'_, D> {
        Env {
            db: &self.db,
            journal: &self.journal,
            instance: &self.instance,
        }
    }

    /// What parsing a request needs.
    pub fn parse_cx(&self) -> ParseCx<'_> {
        ParseCx {
            protected: self.db.protected(),
            limits: self.limits,
            allow_root_enable: self.allow_root_enable,
        }
    }

    /// The responder answering through `commit`.
    pub fn responder<'a, C: Commit>(&'a self, commit: &'a C) -> Responder<'a, C> {
        Responder::new(&self.codec, &self.conductor, commit)
    }
}
