//! The bench's side of the broker: it publishes requests the way Trove's
//! client does, reads replies on its own exclusive reply queue, and stands in
//! for the conductor on a queue of its own, where cast outcomes arrive.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_lite::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, Consumer, ExchangeKind};
use tokio::sync::oneshot;

use crate::wire;

/// An answer as it arrived.
#[derive(Debug)]
pub struct Reply {
    /// When the bench took it off the socket.
    pub at: Instant,
    /// The failure, if the answer is one.
    pub failure: Option<String>,
    /// The raw body (kept to make the echo server's templates).
    pub body: Vec<u8>,
}

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Reply>>>>;

/// One connection: a publishing channel and two consumers (replies, conductor).
#[derive(Debug)]
pub struct Client {
    conn: Connection,
    ch: Channel,
    /// This client's reply queue (`reply_<hex>`).
    pub reply_q: String,
    /// The exchange requests go to (`trove`).
    pub exchange: String,
    pending: Pending,
    conductor_q: String,
}

/// Where a request goes and where its answer comes back.
#[derive(Debug, Clone)]
pub struct Route {
    /// Routing key on the control exchange (`guestagent.<id>` or an echo queue).
    pub routing_key: String,
    /// For the echo server: the template to answer with; `None` for the agent.
    pub template: Option<String>,
}

fn err(what: &str) -> impl FnOnce(lapin::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// The exchange as the agent declares it (trove-wire §1).
pub async fn declare_exchange(ch: &Channel, exchange: &str) -> Result<(), String> {
    ch.exchange_declare(
        exchange.into(),
        ExchangeKind::Topic,
        ExchangeDeclareOptions {
            durable: false,
            auto_delete: false,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .map_err(err("declare exchange"))
}

/// Declares `queue` (not durable) and binds it with its own name.
pub async fn declare_bound(
    ch: &Channel,
    exchange: &str,
    queue: &str,
    opts: QueueDeclareOptions,
) -> Result<(), String> {
    ch.queue_declare(queue.into(), opts, FieldTable::default())
        .await
        .map_err(err("declare queue"))?;
    ch.queue_bind(
        queue.into(),
        exchange.into(),
        queue.into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .map_err(err("bind queue"))
}

/// The properties Trove's client sets.
pub fn json_props() -> BasicProperties {
    BasicProperties::default()
        .with_content_type("application/json".into())
        .with_content_encoding("utf-8".into())
        .with_delivery_mode(2)
}

impl Client {
    /// Connects, declares the reply queue and the stand-in conductor queue
    /// (bound to `exchange` with `conductor_topic`) and starts reading both.
    pub async fn connect(url: &str, exchange: &str, conductor_topic: &str) -> Result<Self, String> {
        let conn = Connection::connect(url, ConnectionProperties::default())
            .await
            .map_err(err("connect to the broker"))?;
        let ch = conn.create_channel().await.map_err(err("open channel"))?;
        declare_exchange(&ch, exchange).await?;
        let pending: Pending = Arc::default();
        let reply_q = format!("reply_{}", wire::new_id());
        let private = QueueDeclareOptions {
            exclusive: true,
            auto_delete: true,
            ..Default::default()
        };
        let rx = conn.create_channel().await.map_err(err("open channel"))?;
        rx.queue_declare(reply_q.as_str().into(), private, FieldTable::default())
            .await
            .map_err(err("declare reply queue"))?;
        declare_bound(&rx, exchange, conductor_topic, private).await?;
        let no_ack = BasicConsumeOptions {
            no_ack: true,
            ..Default::default()
        };
        for q in [reply_q.as_str(), conductor_topic] {
            let consumer = rx
                .basic_consume(q.into(), "".into(), no_ack, FieldTable::default())
                .await
                .map_err(err("consume"))?;
            tokio::spawn(dispatch(consumer, pending.clone()));
        }
        Ok(Client {
            conn,
            ch,
            reply_q,
            exchange: exchange.to_owned(),
            pending,
            conductor_q: conductor_topic.to_owned(),
        })
    }

    /// True while the connection to the broker holds.
    pub fn connected(&self) -> bool {
        self.conn.status().connected()
    }

    /// A channel for declarations.
    pub fn channel(&self) -> &Channel {
        &self.ch
    }

    /// Publishes `body` and waits for the answer keyed `key` (a call's
    /// `_msg_id`, a cast's request id). For the echo server, `reply` tells it
    /// where to answer: `(exchange, routing key)`.
    pub async fn request(
        &self,
        route: &Route,
        key: &str,
        body: &[u8],
        reply: (&str, &str),
        timeout: Duration,
    ) -> Result<Reply, String> {
        let (tx, rx) = oneshot::channel();
        self.lock().insert(key.to_owned(), tx);
        let mut props = json_props();
        if let Some(t) = &route.template {
            props = props
                .with_type(t.as_str().into())
                .with_correlation_id(key.into())
                .with_app_id(reply.0.into())
                .with_reply_to(reply.1.into());
        } else if reply.0.is_empty() {
            // A call: Trove's client sets the caller's timeout as the expiration.
            props = props.with_expiration("60000".into());
        }
        let sent = self.publish(&route.routing_key, body, props).await;
        if let Err(e) = sent {
            self.lock().remove(key);
            return Err(e);
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(_)) => Err("reply consumer stopped".into()),
            Err(_) => {
                self.lock().remove(key);
                Err(format!("no answer within {timeout:?}"))
            }
        }
    }

    /// Publishes one message on the control exchange.
    pub async fn publish(
        &self,
        routing_key: &str,
        body: &[u8],
        props: BasicProperties,
    ) -> Result<(), String> {
        self.ch
            .basic_publish(
                self.exchange.as_str().into(),
                routing_key.into(),
                BasicPublishOptions::default(),
                body,
                props,
            )
            .await
            .map_err(err("publish"))?
            .await
            .map_err(err("publish"))?;
        Ok(())
    }

    /// Installs a template in the echo server behind `routing_key`: it will
    /// answer requests naming `name` with `body`, `token` replaced by the
    /// request's key.
    pub async fn install_template(
        &self,
        routing_key: &str,
        name: &str,
        body: &[u8],
        token: &str,
    ) -> Result<(), String> {
        let key = wire::new_id();
        let route = Route {
            routing_key: routing_key.to_owned(),
            template: Some(format!("template:{name}")),
        };
        let (tx, rx) = oneshot::channel();
        self.lock().insert(key.clone(), tx);
        let props = json_props()
            .with_type(format!("template:{name}").into())
            .with_correlation_id(key.as_str().into())
            .with_message_id(token.into())
            .with_app_id("".into())
            .with_reply_to(self.reply_q.as_str().into());
        self.publish(&route.routing_key, body, props).await?;
        match tokio::time::timeout(Duration::from_secs(10), rx).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(format!("echo server behind {routing_key} did not answer")),
        }
    }

    /// Deletes a queue (the agent's, after it stopped).
    pub async fn delete_queue(&self, q: &str) {
        let _ = self
            .ch
            .queue_delete(q.into(), QueueDeleteOptions::default())
            .await;
    }

    /// Closes the connection.
    pub async fn close(self) {
        self.delete_queue(&self.conductor_q).await;
        let _ = self.conn.close(200, "bench done".into()).await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, oneshot::Sender<Reply>>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

async fn dispatch(mut consumer: Consumer, pending: Pending) {
    while let Some(Ok(d)) = consumer.next().await {
        let at = Instant::now();
        let Some(answer) = wire::parse_answer(&d.data) else {
            continue;
        };
        let waiter = pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&answer.key);
        if let Some(tx) = waiter {
            let _ = tx.send(Reply {
                at,
                failure: answer.failure,
                body: d.data,
            });
        }
    }
}
