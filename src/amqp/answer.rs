//! Answers and acknowledgements, committed in broker transactions.
//!
//! Every answer (a reply or a conductor notification) and the ack of the
//! request it answers go out in one AMQP transaction on the consuming
//! channel: both or neither. If the agent dies before the commit,
//! the request is redelivered and the journal answers it without applying
//! it again; after the commit, it is gone.
//!
//! A commit covers everything pending on the channel, so units must not
//! interleave. One committer task per session owns the channel's
//! transactions: handlers hand it their unit and wait. When several units
//! are waiting (calls in flight), it commits them together, which is exactly
//! as safe (a failed commit fails each of them, and each is redelivered) and
//! costs one broker round trip for all of them instead of one each.
//!
//! The frames of one commit go out in as few hand-offs to lapin's I/O thread
//! as ordering allows: all publishes at once, then, once their content is
//! written (lapin queues content behind method frames, so a commit queued
//! earlier could overtake it), every ack and the commit at once (method
//! frames leave in the order they were queued).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use lapin::Channel;
use lapin::options::{BasicAckOptions, BasicPublishOptions, BasicRejectOptions};
use lapin::types::ShortString;
use tokio::sync::{mpsc, oneshot};

use super::{AmqpError, Outgoing, json_properties, short};

/// Publishes answers and settles deliveries, all or nothing: the seam
/// between the agent and the broker ([`Answerer`] in production, a fake in
/// the tests that drive the whole delivery path).
pub trait Commit: Clone + Send + Sync + 'static {
    /// Publishes `messages` and acknowledges `delivery_tag` (if any) in one
    /// transaction.
    fn commit(
        &self,
        messages: &[Outgoing<'_>],
        delivery_tag: Option<u64>,
    ) -> impl Future<Output = Result<(), AmqpError>> + Send;

    /// Rejects a delivery without requeue (a message that can never be
    /// served), committed like an answer.
    fn reject(&self, delivery_tag: u64) -> impl Future<Output = Result<(), AmqpError>> + Send;

    /// Hands a delivery back to the queue, to be delivered again (a
    /// command that cannot be journaled now), committed like an answer.
    fn requeue(&self, delivery_tag: u64) -> impl Future<Output = Result<(), AmqpError>> + Send;
}

/// Units committed together at most.
const MAX_BATCH: usize = 64;

/// Hands answers to the session's committer. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Answerer {
    units: mpsc::UnboundedSender<Unit>,
}

/// How a delivery is settled in the transaction.
#[derive(Debug, Clone, Copy)]
enum Settle {
    Ack(u64),
    Reject(u64),
    Requeue(u64),
    Nothing,
}

/// One unit: messages to publish and a delivery to settle, all or nothing.
#[derive(Debug)]
struct Unit {
    messages: Vec<Owned>,
    settle: Settle,
    done: oneshot::Sender<Result<(), String>>,
}

#[derive(Debug)]
struct Owned {
    exchange: ShortString,
    routing_key: ShortString,
    body: Vec<u8>,
}

impl Answerer {
    /// Starts the committer for `consume` (in transaction mode) on the
    /// current runtime; it ends when the last `Answerer` is dropped.
    pub(super) fn start(consume: Channel) -> Self {
        let (units, queue) = mpsc::unbounded_channel();
        tokio::spawn(committer(consume, queue));
        Answerer { units }
    }

    async fn submit(&self, messages: Vec<Owned>, settle: Settle) -> Result<(), AmqpError> {
        let (done, result) = oneshot::channel();
        let unit = Unit {
            messages,
            settle,
            done,
        };
        if self.units.send(unit).is_err() {
            return Err(AmqpError::Closed);
        }
        match result.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(AmqpError::NotCommitted(reason)),
            Err(_) => Err(AmqpError::Closed),
        }
    }
}

impl Commit for Answerer {
    async fn commit(
        &self,
        messages: &[Outgoing<'_>],
        delivery_tag: Option<u64>,
    ) -> Result<(), AmqpError> {
        let messages = messages
            .iter()
            .map(|m| {
                Ok(Owned {
                    exchange: short(m.exchange)?,
                    routing_key: short(m.routing_key)?,
                    body: m.body.to_vec(),
                })
            })
            .collect::<Result<_, AmqpError>>()?;
        let settle = delivery_tag.map_or(Settle::Nothing, Settle::Ack);
        self.submit(messages, settle).await
    }

    async fn reject(&self, delivery_tag: u64) -> Result<(), AmqpError> {
        self.submit(Vec::new(), Settle::Reject(delivery_tag)).await
    }

    async fn requeue(&self, delivery_tag: u64) -> Result<(), AmqpError> {
        self.submit(Vec::new(), Settle::Requeue(delivery_tag)).await
    }
}

/// Commits the units as they come, several at a time when several wait.
async fn committer(channel: Channel, mut queue: mpsc::UnboundedReceiver<Unit>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let result = commit_batch(&channel, &batch).await;
        for unit in batch.drain(..) {
            // A handler that stopped waiting (shutdown) needs no answer.
            let _ = unit.done.send(result.clone());
        }
    }
}

async fn commit_batch(channel: &Channel, batch: &[Unit]) -> Result<(), String> {
    // In transaction mode the broker confirms nothing per message (the
    // confirmation resolves at once, as not requested); the commit is the
    // confirmation.
    let publishes = batch.iter().flat_map(|u| &u.messages).map(|m| async move {
        let written = channel
            .basic_publish(
                m.exchange.clone(),
                m.routing_key.clone(),
                BasicPublishOptions::default(),
                &m.body,
                json_properties(),
            )
            .await?;
        written.await.map(|_| ())
    });
    join_all(publishes)
        .await
        .map_err(|e| format!("publish failed: {e}"))?;
    let settles = batch.iter().filter_map(|u| -> Option<Op<'_>> {
        match u.settle {
            Settle::Ack(tag) => Some(Box::pin(channel.basic_ack(tag, BasicAckOptions::default()))),
            Settle::Reject(tag) => Some(Box::pin(
                channel.basic_reject(tag, BasicRejectOptions { requeue: false }),
            )),
            Settle::Requeue(tag) => Some(Box::pin(
                channel.basic_reject(tag, BasicRejectOptions { requeue: true }),
            )),
            Settle::Nothing => None,
        }
    });
    let commit: Op<'_> = Box::pin(channel.tx_commit());
    join_all(settles.chain(std::iter::once(commit)))
        .await
        .map_err(|e| format!("ack or commit failed: {e}"))
}

/// An ack, a reject or the commit, so they can go in one list.
type Op<'a> = Pin<Box<dyn Future<Output = lapin::Result<()>> + Send + 'a>>;

/// Polls every future, first poll in order (so each queues its frames in
/// order before any waits), until all are done; the first error wins.
async fn join_all<F>(futures: impl IntoIterator<Item = F>) -> lapin::Result<()>
where
    F: Future<Output = lapin::Result<()>>,
{
    let mut pending: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut first_error = None;
    std::future::poll_fn(|cx: &mut Context<'_>| {
        pending.retain_mut(|f| match f.as_mut().poll(cx) {
            Poll::Ready(Ok(())) => false,
            Poll::Ready(Err(e)) => {
                first_error.get_or_insert(e);
                false
            }
            Poll::Pending => true,
        });
        if pending.is_empty() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    first_error.map_or(Ok(()), Err)
}
