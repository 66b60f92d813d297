//! The AMQP floor: a separate process that answers every request at once,
//! with a reply of the same bytes the agent would send, and does nothing else.
//!
//! Two queues, both bound to the control exchange with their own names:
//!
//! * `<queue>`: consume, publish the answer, acknowledge (no transaction):
//!   the cheapest request/reply the broker allows, the floor;
//! * `<queue>-tx`: the same inside a broker transaction (publish, ack,
//!   `tx.commit`, one at a time), which is how the agent answers: the floor
//!   of its reliability design, reported for attribution only.
//!
//! A request names a template (AMQP `type`), the key to put in it
//! (`correlation_id`) and where to answer (`app_id` = exchange, `reply_to` =
//! routing key). A request of type `template:<name>` installs one: its body,
//! split at `message_id`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_lite::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties};

use crate::broker::{declare_bound, declare_exchange, json_props};
use crate::wire;

type Templates = Arc<Mutex<HashMap<String, Vec<Vec<u8>>>>>;

/// Serves both queues until the process is killed.
pub async fn serve(url: &str, exchange: &str, queue: &str, prefetch: u16) -> Result<(), String> {
    let conn = Connection::connect(url, ConnectionProperties::default())
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let templates: Templates = Arc::default();
    let mut tasks = Vec::new();
    for tx in [false, true] {
        let ch = conn
            .create_channel()
            .await
            .map_err(|e| format!("channel: {e}"))?;
        declare_exchange(&ch, exchange).await?;
        let q = if tx {
            format!("{queue}-tx")
        } else {
            queue.to_owned()
        };
        let opts = QueueDeclareOptions {
            auto_delete: true,
            ..Default::default()
        };
        declare_bound(&ch, exchange, &q, opts).await?;
        ch.basic_qos(prefetch, BasicQosOptions::default())
            .await
            .map_err(|e| format!("qos: {e}"))?;
        if tx {
            ch.tx_select().await.map_err(|e| format!("tx: {e}"))?;
        }
        tasks.push(tokio::spawn(consume(ch, q, tx, templates.clone())));
    }
    for t in tasks {
        match t.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(())
}

async fn consume(ch: Channel, q: String, tx: bool, templates: Templates) -> Result<(), String> {
    let mut consumer = ch
        .basic_consume(
            q.as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|e| format!("consume {q}: {e}"))?;
    while let Some(d) = consumer.next().await {
        let d = d.map_err(|e| format!("delivery: {e}"))?;
        let p = &d.properties;
        let s = |v: &Option<lapin::types::ShortString>| {
            v.as_ref()
                .map(|x| x.as_str().to_owned())
                .unwrap_or_default()
        };
        let (kind, key, exchange, routing_key) = (
            s(p.kind()),
            s(p.correlation_id()),
            s(p.app_id()),
            s(p.reply_to()),
        );
        let body = if let Some(name) = kind.strip_prefix("template:") {
            let token = s(p.message_id());
            let parts = wire::split_on(&d.data, token.as_bytes());
            templates
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(name.to_owned(), parts);
            wire::small_reply(&key)
        } else {
            let t = templates.lock().unwrap_or_else(|e| e.into_inner());
            match t.get(&kind) {
                Some(parts) => wire::join(parts, key.as_bytes()),
                None => wire::small_reply(&key),
            }
        };
        ch.basic_publish(
            exchange.as_str().into(),
            routing_key.as_str().into(),
            Default::default(),
            &body,
            json_props(),
        )
        .await
        .map_err(|e| format!("publish: {e}"))?
        .await
        .map_err(|e| format!("publish: {e}"))?;
        ch.basic_ack(d.delivery_tag, BasicAckOptions::default())
            .await
            .map_err(|e| format!("ack: {e}"))?;
        if tx {
            ch.tx_commit().await.map_err(|e| format!("commit: {e}"))?;
        }
    }
    Ok(())
}
