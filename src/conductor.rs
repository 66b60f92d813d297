//! Casts to Trove's conductor: the outcome of every cast the agent served,
//! and the heartbeat.
//!
//! A cast has no reply queue, so its outcome goes to topic `trove-conductor`
//! as a cast of its own (trove-wire §5), carrying the request's context so the
//! conductor can tie it to the API request:
//!
//! * success: `notify_end(serialized_notification, notification_args)`;
//! * failure: `notify_exc_info(serialized_notification + instance_id, message,
//!   exception)`;
//! * every `report_interval`: `heartbeat(instance_id, payload, sent)`.
//!
//! A request without `trove_notification` in its context came from a caller
//! that did not ask to be told, and gets no notification.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use crate::amqp::{AmqpError, Publisher};
use crate::rpc::{Codec, Context, Failure};

/// What the heartbeat reports about mysqld.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceStatus {
    /// mysqld answers queries.
    Healthy,
    /// The socket is gone: mysqld is not running.
    Shutdown,
    /// The socket exists but refuses or fails queries.
    Crashed,
    /// Trove's `prepare` is running.
    Building,
    /// Trove's `prepare` failed (`failed to spawn`, Trove's FAILED).
    FailedToSpawn,
}

impl ServiceStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceStatus::Healthy => "healthy",
            ServiceStatus::Shutdown => "shutdown",
            ServiceStatus::Crashed => "crashed",
            ServiceStatus::Building => "building",
            ServiceStatus::FailedToSpawn => "failed to spawn",
        }
    }
}

/// Addresses casts to the conductor and encodes them.
#[derive(Debug)]
pub struct Conductor {
    exchange: String,
    topic: String,
    guest_id: String,
}

impl Conductor {
    /// A conductor reached on `exchange` with routing key `topic`.
    pub fn new(exchange: &str, topic: &str, guest_id: &str) -> Self {
        Conductor {
            exchange: exchange.to_owned(),
            topic: topic.to_owned(),
            guest_id: guest_id.to_owned(),
        }
    }

    /// Where conductor casts are published: (exchange, routing key).
    pub fn route(&self) -> (&str, &str) {
        (&self.exchange, &self.topic)
    }

    /// The cast reporting a served cast's outcome, or `None` when the request
    /// asked for no notification (its context has no `trove_notification`).
    pub fn notification(
        &self,
        codec: &Codec,
        context: &Context,
        outcome: Result<(), &Failure>,
    ) -> Option<Vec<u8>> {
        let notification = context.trove_notification()?;
        let (method, args) = match outcome {
            Ok(()) => ("notify_end", notify_end_args(notification)),
            Err(failure) => (
                "notify_exc_info",
                notify_exc_info_args(notification, &self.guest_id, failure),
            ),
        };
        Some(codec.encode_cast(method, args, context))
    }

    /// Casts one heartbeat.
    pub async fn heartbeat(
        &self,
        publisher: &Publisher,
        codec: &Codec,
        status: ServiceStatus,
    ) -> Result<(), AmqpError> {
        let body = codec.encode_cast(
            "heartbeat",
            heartbeat_args(&self.guest_id, status),
            &Context::empty(),
        );
        publisher.publish(&self.exchange, &self.topic, &body).await
    }
}

/// `notify_end`'s arguments.
pub fn notify_end_args(notification: &Value) -> Map<String, Value> {
    let mut args = Map::new();
    args.insert("serialized_notification".into(), notification.clone());
    args.insert("notification_args".into(), json!({}));
    args
}

/// `notify_exc_info`'s arguments: the notification gains `instance_id`, as
/// Trove's own agent sends it; `exception` is the traceback Trove's agent
/// sends, its last line only (`trove.common.exception.Class: message`), so
/// the instance's fault names the failure's class.
pub fn notify_exc_info_args(
    notification: &Value,
    guest_id: &str,
    failure: &Failure,
) -> Map<String, Value> {
    let message = failure.message();
    let mut serialized = notification.clone();
    if let Value::Object(m) = &mut serialized {
        m.insert("instance_id".into(), Value::String(guest_id.to_owned()));
    }
    let mut args = Map::new();
    args.insert("serialized_notification".into(), serialized);
    args.insert("message".into(), Value::String(message.to_owned()));
    args.insert("exception".into(), json!([failure.traceback_line()]));
    args
}

/// `heartbeat`'s arguments.
pub fn heartbeat_args(guest_id: &str, status: ServiceStatus) -> Map<String, Value> {
    let sent = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default();
    let mut args = Map::new();
    args.insert("instance_id".into(), Value::String(guest_id.to_owned()));
    args.insert("payload".into(), json!({"service_status": status.as_str()}));
    args.insert("sent".into(), json!(sent));
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exc_info_adds_instance_id() {
        let n = json!({"event_type": "x"});
        let f = Failure::new(crate::model::WireClass::UserNotFound, "boom");
        let a = notify_exc_info_args(&n, "g1", &f);
        assert_eq!(a["serialized_notification"]["instance_id"], "g1");
        assert_eq!(a["message"], "boom");
        assert_eq!(
            a["exception"],
            json!(["trove.common.exception.UserNotFound: boom\n"])
        );
        assert_eq!(notify_end_args(&n)["notification_args"], json!({}));
    }

    #[test]
    fn heartbeat_shape() {
        let a = heartbeat_args("g1", ServiceStatus::Healthy);
        assert_eq!(a["payload"]["service_status"], "healthy");
        assert!(a["sent"].as_f64().unwrap() > 1.7e9);
    }
}
