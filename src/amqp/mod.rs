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
//! Topology (trove-wire §1, [`Topology`]): exchange `trove` (topic), queues
//! `guestagent.<id>` and `guestagent.<id>.<id>`, each bound with its own
//! name as routing key, declared exactly as oslo.messaging declares them for
//! the same `[oslo_messaging_rabbit]` options (classic and non-durable by
//! default; durable, quorum, with their arguments as the options say). The
//! control plane may have declared them first with other flags; a 406 then
//! falls back to a passive declare on a fresh channel instead of failing.
//!
//! A session is one host of the broker URL; the agent moves to the next
//! host when a session cannot be opened or breaks (`agent`). The AMQP
//! heartbeat (`heartbeat_timeout_threshold`) makes a dead TCP path a broken
//! session after twice its interval.

use lapin::options::{BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions};
use lapin::tcp::OwnedTLSConfig;
use lapin::types::ShortString;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, Consumer};
use secrecy::{ExposeSecret, SecretString};

use crate::config::TlsConfig;

mod answer;
pub mod tls;
mod topology;
pub use answer::{Answerer, Commit};
pub use topology::Topology;

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
    /// The broker refuses to declare a queue as the options ask (541).
    #[error("the broker refuses queue {queue}: {source}")]
    Refused {
        /// The queue.
        queue: String,
        /// lapin's error.
        source: lapin::Error,
    },
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

/// One live connection to the broker.
#[derive(Debug)]
pub struct Session {
    conn: Connection,
    publisher: Channel,
    answerer: Answerer,
    consumers: Vec<Consumer>,
}

/// How long a connection attempt to one host may take (kombu's
/// `connect_timeout`): a host that drops packets must not hold the agent
/// away from the next one.
pub const CONNECT_TIMEOUT_MS: u32 = 5_000;

/// Adds `frame_max`, the AMQP heartbeat (oslo's
/// `heartbeat_timeout_threshold`) and the connect timeout to the URL, unless
/// the operator chose them.
fn with_settings(url: &str, heartbeat: u16) -> String {
    let mut out = url.to_owned();
    for (key, value) in [
        ("frame_max", FRAME_MAX),
        ("heartbeat", u32::from(heartbeat)),
        ("connection_timeout", CONNECT_TIMEOUT_MS),
    ] {
        if !url.contains(&format!("{key}=")) {
            let sep = if out.contains('?') { '&' } else { '?' };
            out.push_str(&format!("{sep}{key}={value}"));
        }
    }
    out
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
        heartbeat: u16,
    ) -> Result<Self, AmqpError> {
        let uri = SecretString::from(with_settings(url.expose_secret(), heartbeat));
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
        topology::declare(&conn, topo).await?;
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
        let consumers = topology::consume(&consume, topo).await?;
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
    fn settings_added_once() {
        assert_eq!(
            with_settings("amqp://h/%2f", 60),
            "amqp://h/%2f?frame_max=8192&heartbeat=60&connection_timeout=5000"
        );
        assert_eq!(
            with_settings("amqp://h/%2f?heartbeat=10", 60),
            "amqp://h/%2f?heartbeat=10&frame_max=8192&connection_timeout=5000"
        );
        assert_eq!(
            with_settings("amqp://h/?frame_max=4096&connection_timeout=1", 0),
            "amqp://h/?frame_max=4096&connection_timeout=1&heartbeat=0"
        );
    }
}
