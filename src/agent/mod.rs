//! The agent: consume → decode → parse → apply → answer → ack.
//!
//! [`run`] owns the outer loop: connect to mysqld and the broker (with capped,
//! jittered back-off, logging once per outage), serve a broker session until
//! it breaks or shutdown is asked for, and start again. A session's
//! deliveries go through [`handler`]: reads run concurrently, mutations go to
//! a single worker in arrival order, and a message is acknowledged only once
//! its answer is published.

mod backoff;
mod handler;
mod listings;
mod mutation;
mod recovery;
#[cfg(any(test, feature = "fakes"))]
pub mod testkit;

use std::sync::Arc;
use std::time::Duration;

use futures_lite::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::amqp::{Session, Topology};
use crate::command::Limits;
use crate::conductor::{Conductor, ServiceStatus};
use crate::config::Config;
use crate::journal::Journal;
use crate::mysql::{Mysql, Protected};
use crate::rpc::{Codec, Crypto, ReplayGuard};
use backoff::Backoff;
use handler::{Incoming, Job, Patience, Shared};

/// How long a draining agent waits for the commands in hand.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// A broker session must live this long before the reconnect back-off
/// starts from its first delay again: a broker that accepts connections
/// and drops them at once is not hammered.
const SESSION_PROVEN: Duration = Duration::from_secs(60);
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
    if let Err(e) = mysql.server().await {
        // Not fatal: the agent consumes and heartbeats (`shutdown`/`crashed`)
        // while mysqld is away; commands wait for it within their patience.
        tracing::warn!(socket = %cfg.mysql.socket.display(), error = %e, "mysqld unavailable at start; serving anyway");
    }
    let topology =
        Topology::for_guest(&cfg.amqp.exchange, &cfg.guest_id, &cfg.amqp.conductor_topic);
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
    });
    let reclaimer = {
        let shared = shared.clone();
        tokio::spawn(async move { shared.reclaimer.run(shared.shutdown.clone()).await })
    };
    let persister = tokio::spawn(persist_replay(shared.clone(), replay_dir));

    if let Some(every) = crate::systemd::watchdog_interval() {
        tokio::spawn(watchdog(every, shutdown.clone()));
    }
    let mut backoff = Backoff::new();
    let mut outage_logged = false;
    let mut ready_sent = false;
    while !shutdown.is_cancelled() {
        let opened = tokio::select! {
            _ = shutdown.cancelled() => break,
            s = Session::open(&cfg.amqp.url, &cfg.amqp.tls, &topology, cfg.amqp.prefetch) => s,
        };
        match opened {
            Ok(session) => {
                tracing::info!(queues = ?topology.queues, "consuming");
                if !ready_sent {
                    crate::systemd::ready("consuming");
                    ready_sent = true;
                } else {
                    crate::systemd::status("consuming");
                }
                outage_logged = false;
                // Whatever a previous session (or process) left unanswered
                // belongs to messages that may come back; the sweep settles
                // those that do not.
                let left = shared.journal.unanswered().iter().map(|a| a.id).collect();
                let opened_at = std::time::Instant::now();
                serve(session, &shared, cfg.amqp.report_interval, left).await;
                if opened_at.elapsed() >= SESSION_PROVEN {
                    backoff.reset();
                } else if !shutdown.is_cancelled() {
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(backoff.next_delay()) => {}
                    }
                }
            }
            Err(e) => {
                if !outage_logged {
                    tracing::warn!(broker = %cfg.amqp_url_redacted(), error = %e, "broker unavailable; retrying with back-off");
                    crate::systemd::status("broker unavailable; retrying");
                    outage_logged = true;
                }
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(backoff.next_delay()) => {}
                }
            }
        }
    }
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

/// Serves one broker session until it breaks or shutdown is asked for, then
/// drains: no new deliveries, the commands in hand finish (bounded), and the
/// connection is closed. Unacknowledged deliveries go back to the queue.
async fn serve(
    mut session: Session,
    shared: &Arc<Shared<Mysql>>,
    report_interval: Duration,
    left: std::collections::HashSet<u64>,
) {
    let publisher = session.publisher();
    let answerer = session.answerer();
    let tracker = TaskTracker::new();
    let (delivery_tx, mut deliveries) = mpsc::channel(64);
    let session_done = CancellationToken::new();
    for mut consumer in session.take_consumers() {
        let tx = delivery_tx.clone();
        let done = session_done.clone();
        tracker.spawn(async move {
            loop {
                let next = tokio::select! {
                    _ = done.cancelled() => break,
                    n = consumer.next() => n,
                };
                match next {
                    Some(Ok(d)) => {
                        if tx.send(Ok(d)).await.is_err() {
                            break;
                        }
                    }
                    Some(Err(e)) => {
                        let _ = tx.send(Err(e)).await;
                        break;
                    }
                    None => {
                        let _ = tx
                            .send(Err(lapin::Error::from(
                                lapin::ErrorKind::InvalidConnectionState(
                                    lapin::ConnectionState::Closed,
                                ),
                            )))
                            .await;
                        break;
                    }
                }
            }
        });
    }
    drop(delivery_tx);

    let (job_tx, job_rx) = mpsc::channel::<Job>(shared.limits.max_items.max(16));
    tracker.spawn(mutation::worker(shared.clone(), answerer.clone(), job_rx));
    tracker.spawn(heartbeat(
        shared.clone(),
        publisher.clone(),
        report_interval,
        session_done.clone(),
    ));
    tracker.spawn(recovery::sweep(
        shared.clone(),
        publisher.clone(),
        left,
        session_done.clone(),
    ));

    loop {
        let next = tokio::select! {
            _ = shared.shutdown.cancelled() => break,
            d = deliveries.recv() => d,
        };
        match next {
            Some(Ok(delivery)) => {
                let shared = shared.clone();
                let answerer = answerer.clone();
                let job_tx = job_tx.clone();
                let incoming = Incoming {
                    body: delivery.data,
                    tag: delivery.delivery_tag,
                };
                tracker.spawn(async move {
                    handler::handle(&shared, &answerer, &job_tx, incoming).await
                });
            }
            Some(Err(e)) => {
                tracing::warn!(error = %e, "broker session lost; reconnecting");
                break;
            }
            None => break,
        }
    }
    session_done.cancel();
    drop(job_tx);
    tracker.close();
    if tokio::time::timeout(DRAIN_TIMEOUT, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            timeout_s = DRAIN_TIMEOUT.as_secs(),
            "commands still running after the drain timeout; leaving them to redelivery"
        );
    }
    session.close().await;
}

/// Casts a heartbeat every `interval` with mysqld's state, starting at once.
async fn heartbeat(
    shared: Arc<Shared<Mysql>>,
    publisher: crate::amqp::Publisher,
    interval: Duration,
    done: CancellationToken,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = done.cancelled() => return,
            _ = tick.tick() => {}
        }
        let status = match shared.db.ping().await {
            Ok(()) => ServiceStatus::Healthy,
            Err(e) if e.is_transient() && !shared.mysql_socket_exists() => ServiceStatus::Shutdown,
            Err(_) => ServiceStatus::Crashed,
        };
        if let Err(e) = shared
            .conductor
            .heartbeat(&publisher, &shared.codec, status)
            .await
        {
            tracing::warn!(error = %e, "heartbeat not sent");
        } else {
            tracing::debug!(status = status.as_str(), "heartbeat sent");
        }
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
