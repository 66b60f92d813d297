//! Broker sessions, one host at a time: connect, declare, consume, serve
//! until the session breaks, then the next host.
//!
//! Hosts are tried in the order `kombu_failover_strategy` says (round-robin
//! over the URL's hosts, shuffled once at start as oslo shuffles them, or a
//! random one each time), every host of a round without waiting, and the
//! rounds spaced by [`Reconnect`]: fast probes first, then oslo's schedule.
//! A session that broke before it lived [`SESSION_PROVEN`] counts as a
//! failed attempt, so a broker that accepts connections and drops them at
//! once is not hammered; one that lived that long starts the schedule over.
//! Each host's failure is logged once per outage (and again when its reason
//! changes); the host the agent is consuming from is logged when it
//! connects.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::backoff::Reconnect;
use super::handler::{self, Incoming, Job};
use super::shared::Shared;
use super::{mutation, recovery};
use crate::amqp::{Session, Topology};
use crate::conductor::ServiceStatus;
use crate::config::{Config, Failover};
use crate::model::{Classify, Disposition};
use crate::mysql::Mysql;

/// How long a draining agent waits for the commands in hand.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// A broker session must live this long before the reconnect schedule
/// starts over.
pub const SESSION_PROVEN: Duration = Duration::from_secs(30);

/// The order hosts are tried in.
#[derive(Debug)]
struct Rotation {
    order: Vec<usize>,
    at: usize,
    shuffle: bool,
}

fn random_below(n: usize) -> usize {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    usize::try_from(u64::from_le_bytes(b) % n.max(1) as u64).unwrap_or(0)
}

impl Rotation {
    fn new(hosts: usize, failover: Failover) -> Self {
        let mut order: Vec<usize> = (0..hosts).collect();
        // oslo shuffles the hosts once per connection object, so a fleet
        // does not pile onto the first node.
        for i in (1..order.len()).rev() {
            order.swap(i, random_below(i + 1));
        }
        Rotation {
            order,
            at: 0,
            shuffle: failover == Failover::Shuffle,
        }
    }

    fn current(&self) -> usize {
        self.order.get(self.at).copied().unwrap_or(0)
    }

    fn advance(&mut self) {
        let n = self.order.len().max(1);
        self.at = if self.shuffle {
            random_below(n)
        } else {
            (self.at + 1) % n
        };
    }
}

/// Serves broker sessions until shutdown.
pub(super) async fn run(cfg: &Config, topology: &Topology, shared: &Arc<Shared<Mysql>>) {
    let shutdown = shared.shutdown.clone();
    let brokers = &cfg.amqp.brokers;
    let mut rotation = Rotation::new(brokers.len(), cfg.amqp.rabbit.failover);
    let mut reconnect = Reconnect::new(&cfg.amqp.rabbit);
    let mut failed_this_round = 0;
    // Per host, the last reason logged in this outage.
    let mut logged: HashMap<usize, String> = HashMap::new();
    let mut outage_since: Option<Instant> = None;
    let mut ready_sent = false;
    while !shutdown.is_cancelled() {
        let host = rotation.current();
        let Some(broker) = brokers.get(host) else {
            tracing::error!("no broker host configured");
            return;
        };
        let opened = tokio::select! {
            _ = shutdown.cancelled() => break,
            s = Session::open(
                &broker.url,
                &cfg.amqp.tls,
                topology,
                cfg.amqp.prefetch,
                cfg.amqp.rabbit.heartbeat_timeout_threshold,
            ) => s,
        };
        let healthy = match opened {
            Ok(session) => {
                let away = outage_since.take().map(|t| t.elapsed().as_secs_f64());
                tracing::info!(broker = %broker.endpoint, tls = broker.tls, queues = ?topology.queues, away_s = away, "consuming");
                if !ready_sent {
                    crate::systemd::ready("consuming");
                    ready_sent = true;
                } else {
                    crate::systemd::status("consuming");
                }
                logged.clear();
                // Whatever a previous session (or process) left unanswered
                // belongs to messages that may come back; the sweep settles
                // those that do not.
                let left = shared.journal.unanswered().iter().map(|a| a.id).collect();
                let opened_at = Instant::now();
                serve(session, shared, cfg.amqp.report_interval, left).await;
                outage_since = Some(Instant::now());
                opened_at.elapsed() >= SESSION_PROVEN
            }
            Err(e) => {
                outage_since.get_or_insert_with(Instant::now);
                let reason = e.to_string();
                if logged.get(&host) != Some(&reason) {
                    tracing::warn!(broker = %broker.endpoint, tls = broker.tls, error = %reason, hosts = brokers.len(), "broker unavailable; retrying with back-off");
                    crate::systemd::status("broker unavailable; retrying");
                    logged.insert(host, reason);
                } else {
                    tracing::debug!(broker = %broker.endpoint, "broker still unavailable");
                }
                false
            }
        };
        // kombu moves to the next host after a failure or a lost session.
        rotation.advance();
        if healthy {
            reconnect.reset();
            failed_this_round = 0;
            continue;
        }
        failed_this_round += 1;
        if failed_this_round >= brokers.len() {
            failed_this_round = 0;
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(reconnect.next_delay()) => {}
            }
        }
    }
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
                        tracing::warn!(queue = %consumer.queue(), "the broker ended the consumer (queue deleted, or cancelled on failover)");
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
        answerer.clone(),
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
                    delivery_count: delivery_count(&delivery),
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

/// Casts a heartbeat every `interval` with mysqld's state (as the Trove
/// instance's life lets it: see `instance`), starting at once.
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
            // prepare started or ended: say so now, as Trove's agent does.
            _ = shared.instance.changed() => {}
        }
        let mysqld = match shared.db.ping().await {
            Ok(()) => ServiceStatus::Healthy,
            Err(e) if e.disposition() == Disposition::Retry && !shared.mysql_socket_exists() => {
                ServiceStatus::Shutdown
            }
            Err(_) => ServiceStatus::Crashed,
        };
        // Before Trove's prepare, nothing: the instance is not built yet.
        let Some(status) = shared.instance.heartbeat(mysqld) else {
            tracing::debug!("no heartbeat: waiting for Trove's prepare");
            continue;
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

/// `x-delivery-count`: how many times a quorum queue delivered the message
/// before (absent on a first delivery, and on classic queues).
fn delivery_count(delivery: &lapin::message::Delivery) -> Option<u64> {
    let headers = delivery.properties.headers().as_ref()?;
    let value = headers.inner().get("x-delivery-count")?;
    use lapin::types::AMQPValue::*;
    match value {
        LongLongInt(n) => u64::try_from(*n).ok(),
        LongInt(n) => u64::try_from(*n).ok(),
        LongUInt(n) => Some(u64::from(*n)),
        ShortInt(n) => u64::try_from(*n).ok(),
        ShortUInt(n) => Some(u64::from(*n)),
        ShortShortInt(n) => u64::try_from(*n).ok(),
        ShortShortUInt(n) => Some(u64::from(*n)),
        _ => None,
    }
}
