//! The broker: connection, Trove's topology, consuming and publishing.
//!
//! A [`Session`] is one AMQP connection with two channels: one consumes the
//! agent's queues and, in broker transactions, publishes each answer
//! together with the ack of its request (see [`Answerer`]); one publishes
//! heartbeats and late outcomes with publisher confirms.
//! When anything about the connection fails, the session is
//! dropped whole and the agent opens a new one (see `agent`), which declares
//! the topology again: a queue deleted under the agent comes back.
//!
//! Topology (trove-wire §1): exchange `trove` (topic, not durable), queues
//! `guestagent.<id>` and `guestagent.<id>.<id>` (not durable, no arguments),
//! each bound with its own name as routing key. The control plane may have
//! declared them first with other flags; a 406 then falls back to a passive
//! declare on a fresh channel instead of failing.

use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::tcp::OwnedTLSConfig;
use lapin::types::{FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, Consumer, ExchangeKind};
use secrecy::{ExposeSecret, SecretString};

use crate::config::TlsConfig;

mod answer;
pub mod tls;
pub use answer::{Answerer, Commit};

/// Largest AMQP frame the agent negotiates. lapin keeps 32 frames of buffer
/// each way; RabbitMQ's default of 128 KiB would cost 8 MiB for messages of a
/// few KiB. Bigger messages are simply split into more frames.
pub const FRAME_MAX: u32 = 8192;

/// Broker failures. All are transient from the agent's point of view: the
/// session is torn down and opened again with back-off.
#[derive(Debug, thiserror::Error)]
pub enum AmqpError {
    /// Could not connect or the connection broke.
    #[error("broker connection failed: {0}")]
    Connection(lapin::Error),
    /// A channel operation failed.
    #[error("{what} failed: {source}")]
    Channel {
        /// What was being done.
        what: String,
        /// lapin's error.
        source: lapin::Error,
    },
    /// The broker did not confirm a publish.
    #[error("broker refused to take the message for {0}")]
    NotConfirmed(String),
    /// A transaction failed: nothing in it was published or settled.
    #[error("broker transaction failed: {0}")]
    NotCommitted(String),
    /// The session is closing; nothing more is committed on it.
    #[error("broker session closing")]
    Closed,
    /// The TLS files could not be loaded.
    #[error("TLS settings: {0}")]
    Tls(#[from] tls::TlsError),
    /// An exchange or routing key longer than an AMQP short string.
    #[error("{0} bytes is too long for an exchange or routing key (at most 255)")]
    Route(usize),
}

/// An exchange or routing key as lapin takes it. lapin's `From` impls panic
/// beyond 255 bytes; this refuses instead.
pub(crate) fn short(s: &str) -> Result<ShortString, AmqpError> {
    ShortString::try_new(s).map_err(|_| AmqpError::Route(s.len()))
}

impl AmqpError {
    fn channel(what: impl Into<String>) -> impl FnOnce(lapin::Error) -> AmqpError {
        let what = what.into();
        move |source| AmqpError::Channel { what, source }
    }
}

/// Where the agent listens and publishes.
#[derive(Debug, Clone)]
pub struct Topology {
    /// The control exchange (`trove`).
    pub exchange: String,
    /// Queues consumed; each bound to the exchange with its own name.
    pub queues: Vec<String>,
    /// Routing key of the conductor (`trove-conductor`).
    pub conductor_topic: String,
}

impl Topology {
    /// Trove's topology for one guest.
    pub fn for_guest(exchange: &str, guest_id: &str, conductor_topic: &str) -> Self {
        let topic = format!("guestagent.{guest_id}");
        Topology {
            exchange: exchange.to_owned(),
            queues: vec![topic.clone(), format!("{topic}.{guest_id}")],
            conductor_topic: conductor_topic.to_owned(),
        }
    }
}

/// One live connection to the broker.
#[derive(Debug)]
pub struct Session {
    conn: Connection,
    publisher: Channel,
    answerer: Answerer,
    consumers: Vec<Consumer>,
}

/// Adds `frame_max` to the URL unless the operator chose one.
fn with_frame_max(url: &str) -> String {
    if url.contains("frame_max=") {
        return url.to_owned();
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}frame_max={FRAME_MAX}")
}

impl Session {
    /// Connects (over TLS for `amqps://`, see [`tls`]), declares the
    /// topology and starts consuming with `prefetch` unacknowledged messages
    /// at most.
    pub async fn open(
        url: &SecretString,
        tls_config: &TlsConfig,
        topo: &Topology,
        prefetch: u16,
    ) -> Result<Self, AmqpError> {
        let uri = SecretString::from(with_frame_max(url.expose_secret()));
        let tls = if uri.expose_secret().starts_with("amqps://") {
            tls::load(tls_config)?
        } else {
            OwnedTLSConfig::default()
        };
        let runtime = lapin::runtime::default_runtime().map_err(AmqpError::Connection)?;
        let conn = Connection::connect_with_config(
            uri.expose_secret(),
            ConnectionProperties::default(),
            tls,
            runtime,
        )
        .await
        .map_err(AmqpError::Connection)?;
        declare(&conn, topo).await?;
        let consume = conn
            .create_channel()
            .await
            .map_err(AmqpError::channel("open consumer channel"))?;
        consume
            .basic_qos(prefetch, BasicQosOptions::default())
            .await
            .map_err(AmqpError::channel("set prefetch"))?;
        // Answers and acks go out in broker transactions on this channel, so
        // an answer is published if and only if its request is acknowledged.
        consume
            .tx_select()
            .await
            .map_err(AmqpError::channel("select transactions"))?;
        let mut consumers = Vec::with_capacity(topo.queues.len());
        for q in &topo.queues {
            let c = consume
                .basic_consume(
                    q.as_str().into(),
                    "".into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(AmqpError::channel(format!("consume {q}")))?;
            consumers.push(c);
        }
        let publisher = conn
            .create_channel()
            .await
            .map_err(AmqpError::channel("open publisher channel"))?;
        publisher
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(AmqpError::channel("enable publisher confirms"))?;
        let answerer = Answerer::start(consume);
        Ok(Session {
            conn,
            publisher,
            answerer,
            consumers,
        })
    }

    /// The consumers, one per queue; the caller merges them.
    pub fn take_consumers(&mut self) -> Vec<Consumer> {
        std::mem::take(&mut self.consumers)
    }

    /// A publisher handle usable from any task, for messages that answer no
    /// delivery (heartbeats).
    pub fn publisher(&self) -> Publisher {
        Publisher {
            channel: self.publisher.clone(),
        }
    }

    /// The handle that answers and acknowledges deliveries.
    pub fn answerer(&self) -> Answerer {
        self.answerer.clone()
    }

    /// Closes the connection politely.
    pub async fn close(self) {
        let _ = self.conn.close(200, "guestagent stopping".into()).await;
    }
}

async fn declare(conn: &Connection, topo: &Topology) -> Result<(), AmqpError> {
    let mut ch = conn
        .create_channel()
        .await
        .map_err(AmqpError::channel("open declare channel"))?;
    let ex_opts = ExchangeDeclareOptions {
        durable: false,
        auto_delete: false,
        ..Default::default()
    };
    if let Err(e) = ch
        .exchange_declare(
            topo.exchange.as_str().into(),
            ExchangeKind::Topic,
            ex_opts,
            FieldTable::default(),
        )
        .await
    {
        if !is_precondition_failed(&e) {
            return Err(AmqpError::channel(format!(
                "declare exchange {}",
                topo.exchange
            ))(e));
        }
        tracing::warn!(exchange = %topo.exchange, "exchange exists with other flags; using it as it is");
        ch = passive_channel(conn).await?;
    }
    for q in &topo.queues {
        let opts = QueueDeclareOptions {
            durable: false,
            auto_delete: false,
            exclusive: false,
            ..Default::default()
        };
        if let Err(e) = ch
            .queue_declare(q.as_str().into(), opts, FieldTable::default())
            .await
        {
            if !is_precondition_failed(&e) {
                return Err(AmqpError::channel(format!("declare queue {q}"))(e));
            }
            tracing::warn!(queue = %q, "queue exists with other flags; using it as it is");
            ch = passive_channel(conn).await?;
            let passive = QueueDeclareOptions {
                passive: true,
                ..Default::default()
            };
            ch.queue_declare(q.as_str().into(), passive, FieldTable::default())
                .await
                .map_err(AmqpError::channel(format!("declare queue {q} (passive)")))?;
        }
        ch.queue_bind(
            q.as_str().into(),
            topo.exchange.as_str().into(),
            q.as_str().into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(AmqpError::channel(format!("bind queue {q}")))?;
    }
    let _ = ch.close(200, "declared".into()).await;
    Ok(())
}

/// A 406 closes the channel it happened on; carry on with a new one.
async fn passive_channel(conn: &Connection) -> Result<Channel, AmqpError> {
    conn.create_channel()
        .await
        .map_err(AmqpError::channel("reopen declare channel"))
}

fn is_precondition_failed(e: &lapin::Error) -> bool {
    matches!(e.kind(), lapin::ErrorKind::ProtocolError(err) if err.get_id() == 406)
}

/// One message to publish.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    /// Exchange (`""` for the default exchange).
    pub exchange: &'a str,
    /// Routing key.
    pub routing_key: &'a str,
    /// The JSON body.
    pub body: &'a [u8],
}

pub(crate) fn json_properties() -> BasicProperties {
    BasicProperties::default()
        .with_content_type("application/json".into())
        .with_content_encoding("utf-8".into())
        .with_delivery_mode(2)
}

/// Publishes with confirms on the session's publisher channel.
#[derive(Debug, Clone)]
pub struct Publisher {
    channel: Channel,
}

impl Publisher {
    /// Publishes one JSON message and waits for the broker's confirm.
    pub async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
    ) -> Result<(), AmqpError> {
        let props = json_properties();
        let confirm = self
            .channel
            .basic_publish(
                short(exchange)?,
                short(routing_key)?,
                BasicPublishOptions::default(),
                body,
                props,
            )
            .await
            .map_err(AmqpError::channel(format!("publish to {routing_key}")))?
            .await
            .map_err(AmqpError::channel(format!("confirm of {routing_key}")))?;
        if confirm.is_nack() {
            return Err(AmqpError::NotConfirmed(routing_key.to_owned()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_max_added_once() {
        assert_eq!(
            with_frame_max("amqp://h/%2f"),
            "amqp://h/%2f?frame_max=8192"
        );
        assert_eq!(
            with_frame_max("amqp://h/%2f?heartbeat=10"),
            "amqp://h/%2f?heartbeat=10&frame_max=8192"
        );
        assert_eq!(
            with_frame_max("amqp://h/?frame_max=4096"),
            "amqp://h/?frame_max=4096"
        );
    }

    #[test]
    fn trove_topology() {
        let t = Topology::for_guest("trove", "abc", "trove-conductor");
        assert_eq!(t.queues, ["guestagent.abc", "guestagent.abc.abc"]);
    }
}
