//! What the agent declares and consumes, exactly as an oslo.messaging
//! 18.3.1 RPC server on `Target(topic="guestagent.<id>", server="<id>")`
//! declares it for the same `[oslo_messaging_rabbit]` options, so that
//! whichever side declares first (the agent, or Trove's taskmanager, whose
//! `API._create_guest_queue` starts and stops such a server before
//! `prepare`) the other's declare succeeds.
//!
//! From impl_rabbit.py (18.3.1):
//!
//! | what | declared as | lines |
//! | --- | --- | --- |
//! | exchange (`control_exchange`) | topic; durable = `amqp_durable_queues` or `rabbit_quorum_queue` (the `durable` property); auto-delete = `amqp_auto_delete`; no arguments | 913-917, 1459-1466 |
//! | queues `T` and `T.S`, each bound with its own name | durable and auto-delete as the exchange; no `x-expires` ever | 1456-1473 |
//! | their arguments | `{}`; `x-ha-policy: all` with `rabbit_ha_queues`; `x-queue-type: quorum` with `rabbit_quorum_queue`, plus `x-delivery-limit`, `x-max-in-memory-length`, `x-max-in-memory-bytes` when their options are > 0 | 280-361 |
//! | consumer | not exclusive, manual ack; `x-cancel-on-ha-failover: true` with `enable_cancel_on_failover` | 454-460 |
//! | qos | prefetch per consumer, not global | 1157-1170 |
//!
//! The fanout exchange and queue and the reply queue (what
//! `rabbit_transient_quorum_queue`, `rabbit_transient_queues_ttl`,
//! `rabbit_stream_fanout` and `use_queue_manager` change, lines 1433-1508)
//! are not declared: Trove never casts to a guest's fanout, and the agent
//! makes no calls.
//!
//! When the broker refuses ([`declare`]): a 406 (the queue or exchange exists
//! with other flags or arguments) is logged with the agent's declaration
//! and the broker's reason, and the existing one is used through a passive
//! declare, as before; a 404 on a queue (a classic queue whose node is
//! down) deletes and declares it again, as oslo does (503-525); a 541 (a
//! RabbitMQ that refuses what was asked, such as 4.3 and non-durable
//! queues) is an error naming what to change, and the session is retried.

use lapin::options::{
    BasicConsumeOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, Connection, Consumer, ExchangeKind};

use super::{AmqpError, short};
use crate::config::RabbitConfig;

/// Where the agent listens and publishes, and how its queues are declared.
#[derive(Debug, Clone)]
pub struct Topology {
    /// The control exchange (`trove`).
    pub exchange: String,
    /// Queues consumed; each bound to the exchange with its own name.
    pub queues: Vec<String>,
    /// Exchange and queues are durable.
    pub durable: bool,
    /// Exchange and queues are auto-delete.
    pub auto_delete: bool,
    /// The queues' arguments.
    pub queue_args: FieldTable,
    /// The consumers' arguments.
    pub consumer_args: FieldTable,
}

impl Topology {
    /// Trove's topology for one guest, declared as oslo declares it under
    /// `rabbit` (see the module's table).
    pub fn for_guest(exchange: &str, guest_id: &str, rabbit: &RabbitConfig) -> Self {
        let topic = format!("guestagent.{guest_id}");
        let mut queue_args = FieldTable::default();
        if rabbit.ha_queues {
            queue_args.insert("x-ha-policy".into(), text("all"));
        }
        if rabbit.quorum_queue {
            queue_args.insert("x-queue-type".into(), text("quorum"));
            for (name, value) in [
                ("x-delivery-limit", rabbit.quorum_delivery_limit),
                ("x-max-in-memory-length", rabbit.quorum_max_memory_length),
                ("x-max-in-memory-bytes", rabbit.quorum_max_memory_bytes),
            ] {
                if value > 0 {
                    let v = i64::try_from(value).unwrap_or(i64::MAX);
                    queue_args.insert(name.into(), AMQPValue::LongLongInt(v));
                }
            }
        }
        let mut consumer_args = FieldTable::default();
        if rabbit.cancel_on_failover {
            consumer_args.insert("x-cancel-on-ha-failover".into(), AMQPValue::Boolean(true));
        }
        Topology {
            exchange: exchange.to_owned(),
            queues: vec![topic.clone(), format!("{topic}.{guest_id}")],
            durable: rabbit.durable(),
            auto_delete: rabbit.auto_delete,
            queue_args,
            consumer_args,
        }
    }

    /// The queues' declaration, for logs: `durable=true auto_delete=false
    /// {x-queue-type: quorum}`.
    pub fn described(&self) -> String {
        let args: Vec<String> = self
            .queue_args
            .inner()
            .iter()
            .map(|(k, v)| format!("{k}: {}", shown_value(v)))
            .collect();
        format!(
            "durable={} auto_delete={} {{{}}}",
            self.durable,
            self.auto_delete,
            args.join(", ")
        )
    }
}

fn text(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s))
}

fn shown_value(v: &AMQPValue) -> String {
    match v {
        AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        AMQPValue::LongLongInt(i) => i.to_string(),
        AMQPValue::Boolean(b) => b.to_string(),
        other => format!("{other:?}"),
    }
}

/// The AMQP reply code of a channel or connection error, if it is one.
pub(super) fn reply_code(e: &lapin::Error) -> Option<u16> {
    match e.kind() {
        lapin::ErrorKind::ProtocolError(err) => Some(err.get_id()),
        _ => None,
    }
}

/// Declares the exchange and the queues and binds them.
pub(super) async fn declare(conn: &Connection, topo: &Topology) -> Result<(), AmqpError> {
    let mut ch = channel(conn).await?;
    let ex_opts = ExchangeDeclareOptions {
        durable: topo.durable,
        auto_delete: topo.auto_delete,
        ..Default::default()
    };
    if let Err(e) = ch
        .exchange_declare(
            short(&topo.exchange)?,
            ExchangeKind::Topic,
            ex_opts,
            FieldTable::default(),
        )
        .await
    {
        if reply_code(&e) != Some(406) {
            return Err(AmqpError::channel(format!(
                "declare exchange {}",
                topo.exchange
            ))(e));
        }
        tracing::warn!(
            exchange = %topo.exchange,
            ours = %format!("topic durable={} auto_delete={}", topo.durable, topo.auto_delete),
            broker = %e,
            "the exchange exists with other flags; using it as it is (set the same [oslo_messaging_rabbit] options on the control plane and the guest)"
        );
        ch = channel(conn).await?;
    }
    for q in &topo.queues {
        ch = declare_queue(conn, ch, topo, q).await?;
        ch.queue_bind(
            short(q)?,
            short(&topo.exchange)?,
            short(q)?,
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(AmqpError::channel(format!("bind queue {q}")))?;
    }
    let _ = ch.close(200, "declared".into()).await;
    Ok(())
}

/// Declares one queue, handling what the broker refuses; returns the channel
/// to go on with (a refusal closes the one it happened on).
async fn declare_queue(
    conn: &Connection,
    ch: Channel,
    topo: &Topology,
    q: &str,
) -> Result<Channel, AmqpError> {
    let opts = QueueDeclareOptions {
        durable: topo.durable,
        auto_delete: topo.auto_delete,
        exclusive: false,
        ..Default::default()
    };
    let e = match ch
        .queue_declare(short(q)?, opts, topo.queue_args.clone())
        .await
    {
        Ok(_) => return Ok(ch),
        Err(e) => e,
    };
    match reply_code(&e) {
        Some(406) => {
            tracing::warn!(
                queue = %q,
                ours = %topo.described(),
                broker = %e,
                "the queue exists with other flags or arguments; consuming it as it is (set the same [oslo_messaging_rabbit] options on the control plane and the guest)"
            );
            let ch = channel(conn).await?;
            let passive = QueueDeclareOptions {
                passive: true,
                ..Default::default()
            };
            ch.queue_declare(short(q)?, passive, FieldTable::default())
                .await
                .map_err(AmqpError::channel(format!("declare queue {q} (passive)")))?;
            Ok(ch)
        }
        Some(404) => {
            // A classic queue whose node is down: oslo deletes it and
            // declares it anew on a node that is up.
            tracing::warn!(queue = %q, broker = %e, "the queue is unreachable (its node is down?); declaring it again");
            let ch = channel(conn).await?;
            ch.queue_delete(short(q)?, QueueDeleteOptions::default())
                .await
                .map_err(AmqpError::channel(format!("delete unreachable queue {q}")))?;
            ch.queue_declare(short(q)?, opts, topo.queue_args.clone())
                .await
                .map_err(AmqpError::channel(format!("declare queue {q} again")))?;
            Ok(ch)
        }
        Some(541) => {
            tracing::error!(
                queue = %q,
                ours = %topo.described(),
                broker = %e,
                "the broker refuses to declare the queue so; with RabbitMQ 4.3 or later set rabbit_quorum_queue = true (or amqp_durable_queues = true) in [oslo_messaging_rabbit] on the control plane and the guest"
            );
            Err(AmqpError::Refused {
                queue: q.to_owned(),
                source: e,
            })
        }
        _ => Err(AmqpError::channel(format!("declare queue {q}"))(e)),
    }
}

/// Starts consuming every queue of the topology on `ch`.
pub(super) async fn consume(ch: &Channel, topo: &Topology) -> Result<Vec<Consumer>, AmqpError> {
    let mut consumers = Vec::with_capacity(topo.queues.len());
    for q in &topo.queues {
        let c = ch
            .basic_consume(
                short(q)?,
                "".into(),
                BasicConsumeOptions::default(),
                topo.consumer_args.clone(),
            )
            .await
            .map_err(AmqpError::channel(format!("consume {q}")))?;
        consumers.push(c);
    }
    Ok(consumers)
}

async fn channel(conn: &Connection) -> Result<Channel, AmqpError> {
    conn.create_channel()
        .await
        .map_err(AmqpError::channel("open declare channel"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trove_topology_by_default() {
        let t = Topology::for_guest("trove", "abc", &RabbitConfig::default());
        assert_eq!(t.queues, ["guestagent.abc", "guestagent.abc.abc"]);
        assert!(!t.durable && !t.auto_delete);
        assert!(t.queue_args.inner().is_empty() && t.consumer_args.inner().is_empty());
    }

    #[test]
    fn quorum_queues_as_oslo_declares_them() {
        let rabbit = RabbitConfig {
            quorum_queue: true,
            quorum_delivery_limit: 5,
            quorum_max_memory_bytes: 1_000_000,
            ..RabbitConfig::default()
        };
        let t = Topology::for_guest("trove", "abc", &rabbit);
        assert!(t.durable && !t.auto_delete);
        assert_eq!(
            t.described(),
            "durable=true auto_delete=false {x-delivery-limit: 5, x-max-in-memory-bytes: 1000000, x-queue-type: quorum}"
        );
        let durable = RabbitConfig {
            durable_queues: true,
            ha_queues: true,
            ..RabbitConfig::default()
        };
        let t = Topology::for_guest("trove", "abc", &durable);
        assert_eq!(
            t.described(),
            "durable=true auto_delete=false {x-ha-policy: all}"
        );
        let cancel = RabbitConfig {
            cancel_on_failover: true,
            ..RabbitConfig::default()
        };
        let t = Topology::for_guest("trove", "abc", &cancel);
        assert!(
            t.consumer_args
                .inner()
                .contains_key("x-cancel-on-ha-failover")
        );
    }
}
