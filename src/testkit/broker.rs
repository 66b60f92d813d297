//! A broker that takes every commit and remembers it, and fails commits on
//! request: the [`Commit`] seam's fake.

use std::sync::{Arc, Mutex};

use crate::amqp::{AmqpError, Commit, Outgoing};

/// One message committed to the fake broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The exchange (`""` for a reply).
    pub exchange: String,
    /// The routing key.
    pub routing_key: String,
    /// The body.
    pub body: Vec<u8>,
}

/// What the agent did with one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// Acknowledged, with what was published in the same transaction.
    Ack {
        /// The delivery.
        tag: u64,
        /// Its answer, if any.
        published: Vec<Published>,
    },
    /// Rejected without requeue.
    Reject {
        /// The delivery.
        tag: u64,
    },
    /// Handed back to the queue.
    Requeue {
        /// The delivery.
        tag: u64,
    },
}

impl Settled {
    /// The delivery this settles.
    pub fn tag(&self) -> u64 {
        match self {
            Settled::Ack { tag, .. } | Settled::Reject { tag } | Settled::Requeue { tag } => *tag,
        }
    }
}

/// A broker that takes every commit and remembers it.
#[derive(Debug, Clone, Default)]
pub struct FakeBroker {
    log: Arc<Mutex<Vec<Settled>>>,
    /// Commits still to fail, as a lost session's would.
    failing: Arc<std::sync::atomic::AtomicUsize>,
    /// What was published without settling a delivery (the recovery sweep).
    sent: Arc<Mutex<Vec<Published>>>,
}

impl FakeBroker {
    /// Makes the next `n` commits fail: nothing is published or settled.
    pub fn fail_next(&self, n: usize) {
        self.failing.store(n, std::sync::atomic::Ordering::SeqCst);
    }

    /// Everything settled so far, in commit order.
    pub fn settled(&self) -> Vec<Settled> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// What was published outside any delivery's answer, in order.
    pub fn sent(&self) -> Vec<Published> {
        self.sent.lock().map(|l| l.clone()).unwrap_or_default()
    }

    fn push(&self, s: Settled) {
        if let Ok(mut l) = self.log.lock() {
            l.push(s);
        }
    }
}

impl Commit for FakeBroker {
    async fn commit(
        &self,
        messages: &[Outgoing<'_>],
        delivery_tag: Option<u64>,
    ) -> Result<(), AmqpError> {
        use std::sync::atomic::Ordering;
        if self
            .failing
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(AmqpError::NotCommitted("fake broker: session lost".into()));
        }
        // The real committer refuses what lapin could not carry; so does this.
        for m in messages {
            crate::amqp::short(m.exchange)?;
            crate::amqp::short(m.routing_key)?;
        }
        let published = messages
            .iter()
            .map(|m| Published {
                exchange: m.exchange.to_owned(),
                routing_key: m.routing_key.to_owned(),
                body: m.body.to_vec(),
            })
            .collect();
        match delivery_tag {
            Some(tag) => self.push(Settled::Ack { tag, published }),
            None => {
                if let Ok(mut l) = self.sent.lock() {
                    l.extend(published);
                }
            }
        }
        Ok(())
    }

    async fn reject(&self, delivery_tag: u64) -> Result<(), AmqpError> {
        self.push(Settled::Reject { tag: delivery_tag });
        Ok(())
    }

    async fn requeue(&self, delivery_tag: u64) -> Result<(), AmqpError> {
        self.push(Settled::Requeue { tag: delivery_tag });
        Ok(())
    }
}
