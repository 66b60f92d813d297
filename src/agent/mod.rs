//! The agent: consume → decode → parse → apply → answer → ack.
//!
//! [`run`] sets up what lives as long as the process (the codec, the
//! journal, mysqld's pool) and hands over to `session`, which connects to
//! the broker's hosts in turn, serves a session until it breaks or shutdown
//! is asked for, and starts again. A session's deliveries go through
//! `handler` (decode → parse → route): reads run concurrently, mutations go
//! to the worker in `mutation`, which runs those on different accounts and
//! databases concurrently and those on the same one in arrival order
//! (`scheduler`). Every answer leaves through `respond`, and a message is
//! acknowledged only in the same broker transaction as its answer.
//!
//! | file | owns |
//! | --- | --- |
//! | `session.rs` | broker sessions, host rotation, the heartbeat |
//! | `handler.rs` | one delivery: decode → parse → route; reads |
//! | `delivery.rs` | [`Delivery`](delivery::Delivery): reply route, span, deadline |
//! | `respond.rs` | [`Outcome`](respond::Outcome) and the one answer path |
//! | `mutation.rs` | the exactly-once worker |
//! | `scheduler.rs` | which mutations may run together |
//! | `retry.rs`, `backoff.rs` | waiting for mysqld and the broker |
//! | `recovery.rs` | settling actions whose messages never came back |
//! | `listings.rs` | large listings one at a time |

mod backoff;
pub(crate) mod delivery;
pub(crate) mod handler;
pub(crate) mod listings;
pub(crate) mod mutation;
pub(crate) mod recovery;
pub(crate) mod respond;
mod retry;
pub(crate) mod scheduler;
mod session;
pub(crate) mod shared;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::amqp::Topology;
use crate::command::Limits;
use crate::conductor::{Conductor, ServiceStatus};
use crate::config::Config;
use crate::instance::Instance;
use crate::journal::Journal;
use crate::model::Protected;
use crate::mysql::Mysql;
use crate::rpc::{Codec, Crypto, ReplayGuard};
use delivery::Patience;
use shared::Shared;

/// How often the memory of ciphertext is written out.
const REPLAY_PERSIST_EVERY: Duration = Duration::from_secs(60);

/// Runs the agent until `shutdown` is cancelled. Only returns an error for
/// problems no retry can fix.
pub async fn run(cfg: Config, shutdown: CancellationToken) -> Result<(), AgentError> {
    let protected = Protected::new(
        &cfg.mysql.user,
        &cfg.mysql.ignore_users,
        &cfg.mysql.ignore_dbs,
    );
    let crypto = cfg.amqp.rpc_encryption_key.as_ref().map(Crypto::new);
    let keyed = crypto.is_some();
    let mut codec = Codec::new(
        crypto,
        cfg.amqp.allow_plaintext,
        cfg.limits.max_message_bytes,
        cfg.guest_id.clone(),
    );
    let replay_dir = cfg.state.dir.join("replay");
    if keyed {
        let guard = ReplayGuard::restore(&replay_dir, cfg.state.dedup_window).map_err(|e| {
            AgentError::Fatal(format!(
                "cannot read the memory of encrypted messages in {}: {e}",
                replay_dir.display()
            ))
        })?;
        let (blocks, ids) = guard.len();
        tracing::info!(
            blocks,
            messages = ids,
            "memory of encrypted messages restored"
        );
        codec = codec.with_replay_guard(guard);
    }
    let journal = Journal::open(&cfg.state.dir, cfg.state.dedup_window).map_err(|e| {
        AgentError::Fatal(format!(
            "cannot open the action journal in {}: {e}",
            cfg.state.dir.display()
        ))
    })?;
    let left = journal.unanswered().len();
    if left > 0 {
        tracing::warn!(
            actions = left,
            "commands were in hand when the agent last stopped; they finish when the broker redelivers them"
        );
    }
    let mysql = Mysql::new(&cfg.mysql, protected);
    match mysql.server().await {
        Ok(_) => {}
        // The configured authentication plugin is not there: no account
        // could be made as configured.
        Err(e @ crate::model::DbError::NotSupported(_)) => {
            return Err(AgentError::Fatal(e.to_string()));
        }
        Err(e) => {
            // Not fatal: the agent consumes and heartbeats (`shutdown` /
            // `crashed`) while mysqld is away; commands wait for it within
            // their patience.
            tracing::warn!(socket = %cfg.mysql.socket.display(), error = %e, "mysqld unavailable at start; serving anyway");
        }
    }
    let topology = Topology::for_guest(&cfg.amqp.exchange, &cfg.guest_id, &cfg.amqp.rabbit);
    let shared = Arc::new(Shared {
        codec,
        db: mysql,
        journal,
        conductor: Conductor::new(&cfg.amqp.exchange, &cfg.amqp.conductor_topic, &cfg.guest_id),
        limits: Limits {
            max_items: cfg.limits.max_items,
        },
        shutdown: shutdown.clone(),
        mysql_socket: cfg.mysql.socket.clone(),
        listings: listings::Listings::default(),
        reclaimer: crate::memory::Reclaimer::default(),
        allow_root_enable: cfg.amqp.allow_root_enable,
        patience: Patience::default(),
        scheduler: scheduler::Scheduler::new(crate::mysql::POOL_SIZE),
        instance: Instance::with_state(
            cfg.trove.await_prepare,
            &cfg.trove.prepare_marker_dir,
            &cfg.mysql.mount_point,
            Some(&cfg.state.dir),
            cfg.trove.ssl_mode,
        ),
    });
    if shared.instance.heartbeat(ServiceStatus::Healthy).is_none() {
        tracing::info!(
            markers = %cfg.trove.prepare_marker_dir.display(),
            "waiting for Trove's prepare: no heartbeat until it runs"
        );
    }
    let reclaimer = {
        let shared = shared.clone();
        tokio::spawn(async move { shared.reclaimer.run(shared.shutdown.clone()).await })
    };
    let persister = tokio::spawn(persist_replay(shared.clone(), replay_dir));

    if let Some(every) = crate::systemd::watchdog_interval() {
        tokio::spawn(watchdog(every, shutdown.clone()));
    }
    session::run(&cfg, &topology, &shared).await;
    // They end with shutdown; their hold on `shared` must be gone before
    // mysqld's pool can be closed.
    let _ = reclaimer.await;
    let _ = persister.await;
    if let Ok(shared) = Arc::try_unwrap(shared) {
        shared.db.close().await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// Writes the memory of ciphertext out now and then, and once more at
/// shutdown, so that a restart does not forget what was seen.
async fn persist_replay<D>(shared: Arc<Shared<D>>, dir: std::path::PathBuf) {
    let Some(guard) = shared.codec.replay_guard() else {
        return;
    };
    let mut tick = tokio::time::interval(REPLAY_PERSIST_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        let stop = tokio::select! {
            _ = shared.shutdown.cancelled() => true,
            _ = tick.tick() => false,
        };
        match guard.persist(&dir) {
            Ok(()) => failing = false,
            Err(e) if !failing => {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot write the memory of encrypted messages; a restart would forget it");
                failing = true;
            }
            Err(_) => {}
        }
        if stop {
            return;
        }
    }
}

/// Errors that stop the agent for good.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// Something about the host makes running impossible.
    #[error("{0}")]
    Fatal(String),
}

impl crate::model::Classify for AgentError {
    fn wire_class(&self) -> crate::model::WireClass {
        crate::model::WireClass::GuestError
    }

    fn disposition(&self) -> crate::model::Disposition {
        crate::model::Disposition::Fatal
    }
}

/// Pings systemd's watchdog while the runtime keeps scheduling this task: a
/// wedged event loop stops the pings and systemd restarts the agent.
async fn watchdog(every: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => crate::systemd::watchdog(),
        }
    }
}
