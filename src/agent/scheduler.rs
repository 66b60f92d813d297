//! Which mutations may run at the same time.
//!
//! Every mutation names the things it touches ([`Gate`]s: each account and
//! database of `Write::gates`, and its message's `_unique_id`). Mutations that share none run concurrently; one that
//! shares any with earlier ones waits until those are done, so on any one
//! account or database commands take effect in the order they arrived,
//! exactly as when one worker applied everything in turn.
//!
//! The order is fixed when a mutation is entered (by the one task that
//! receives them, in arrival order): for each of its gates it takes the
//! previous holder's "done" signal and leaves its own. Waiting only on
//! earlier arrivals makes a cycle, and so a deadlock, impossible. At most
//! [`crate::mysql::POOL_SIZE`] mutations hold a slot at once, the
//! connections they can use; a slot is held only while the SQL runs, so a
//! mutation waiting for its journal write or its broker commit leaves it to
//! the next.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{
    OwnedRwLockReadGuard, OwnedRwLockWriteGuard, OwnedSemaphorePermit, RwLock, Semaphore, oneshot,
};

/// A mutation's hold on the whole instance; dropping it lets the next go.
#[derive(Debug)]
pub enum InstanceTurn {
    /// Beside other mutations.
    Shared {
        /// Held until the mutation is done.
        _guard: OwnedRwLockReadGuard<()>,
    },
    /// Alone.
    Alone {
        /// Held until the mutation is done.
        _guard: OwnedRwLockWriteGuard<()>,
    },
}

use crate::model::Resource;

/// Something two mutations must not work on at the same time.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Gate {
    /// An account or a database.
    Resource(Resource),
    /// A message, by `_unique_id`: two deliveries of it must not both find
    /// it unknown to the journal.
    Message(String),
}

/// The gates in use and the slots for SQL.
#[derive(Debug)]
pub struct Scheduler {
    tails: Mutex<HashMap<Gate, Tail>>,
    /// Held shared by every mutation and alone by one that changes every
    /// account (the TLS mode); taken in arrival order, and tokio's lock is
    /// fair, so a mutation after such a one waits for it.
    instance: Arc<RwLock<()>>,
    next: AtomicU64,
    slots: Arc<Semaphore>,
}

/// The newest mutation on one gate: the next one waits for its signal.
#[derive(Debug)]
struct Tail {
    seq: u64,
    done: oneshot::Receiver<()>,
}

/// A mutation's place in line; dropping it lets the next ones on its gates go.
#[derive(Debug)]
pub struct Turn {
    scheduler: Arc<Scheduler>,
    seq: u64,
    gates: Vec<Gate>,
    before: Vec<oneshot::Receiver<()>>,
    // Dropped with the turn: each wakes the next mutation on one gate.
    _signals: Vec<oneshot::Sender<()>>,
}

impl Scheduler {
    /// A scheduler giving out at most `slots` SQL slots at once.
    pub fn new(slots: usize) -> Arc<Scheduler> {
        Arc::new(Scheduler {
            tails: Mutex::new(HashMap::new()),
            instance: Arc::new(RwLock::new(())),
            next: AtomicU64::new(0),
            slots: Arc::new(Semaphore::new(slots.max(1))),
        })
    }

    /// Puts a mutation in line behind every earlier one sharing a gate.
    /// Must be called in arrival order.
    pub fn enter(self: &Arc<Self>, mut gates: Vec<Gate>) -> Turn {
        // A gate named twice would wait on itself.
        gates.sort_unstable();
        gates.dedup();
        let seq = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let mut before = Vec::new();
        let mut signals = Vec::new();
        let mut tails = lock(&self.tails);
        for g in &gates {
            let (tx, rx) = oneshot::channel();
            signals.push(tx);
            if let Some(prev) = tails.insert(g.clone(), Tail { seq, done: rx }) {
                before.push(prev.done);
            }
        }
        drop(tails);
        Turn {
            scheduler: self.clone(),
            seq,
            gates,
            before,
            _signals: signals,
        }
    }

    /// The instance-wide turn of the next mutation to arrive: shared, or
    /// alone when it changes every account. Taken in arrival order.
    pub async fn instance_turn(&self, alone: bool) -> InstanceTurn {
        if alone {
            InstanceTurn::Alone {
                _guard: self.instance.clone().write_owned().await,
            }
        } else {
            InstanceTurn::Shared {
                _guard: self.instance.clone().read_owned().await,
            }
        }
    }

    /// A slot for running SQL, waited for.
    pub async fn slot(&self) -> Option<OwnedSemaphorePermit> {
        // The semaphore is never closed; `None` would only mean it was.
        self.slots.clone().acquire_owned().await.ok()
    }

    /// Gates currently held or waited for (for tests).
    #[cfg(test)]
    pub fn gates_in_use(&self) -> usize {
        lock(&self.tails).len()
    }
}

impl Turn {
    /// Waits until every earlier mutation sharing a gate is done.
    pub async fn ready(&mut self) {
        for rx in self.before.drain(..) {
            // A sender dropped without sending is the same signal.
            let _ = rx.await;
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut tails = lock(&self.scheduler.tails);
        for g in &self.gates {
            if tails.get(g).is_some_and(|t| t.seq == self.seq) {
                tails.remove(g);
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Release builds abort on panic; a poisoned lock is only seen in tests.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gates(g: &[&str]) -> Vec<Gate> {
        g.iter().map(|s| Gate::Message(s.to_string())).collect()
    }

    #[tokio::test]
    async fn disjoint_gates_do_not_wait_and_shared_ones_do() {
        let s = Scheduler::new(4);
        let first = s.enter(gates(&["user:a@%"]));
        let mut other = s.enter(gates(&["user:b@%"]));
        let mut second = s.enter(gates(&["user:a@%", "db:x"]));
        // Not waiting: returns at once.
        tokio::time::timeout(std::time::Duration::from_millis(50), other.ready())
            .await
            .expect("a mutation on another account waited");
        let blocked =
            tokio::time::timeout(std::time::Duration::from_millis(50), second.ready()).await;
        assert!(
            blocked.is_err(),
            "a mutation on the same account did not wait"
        );
        drop(first);
        tokio::time::timeout(std::time::Duration::from_millis(50), second.ready())
            .await
            .expect("still waiting after the earlier mutation finished");
        drop((other, second));
        assert_eq!(s.gates_in_use(), 0, "finished gates are forgotten");
    }

    #[tokio::test]
    async fn an_instance_wide_turn_waits_for_earlier_and_holds_later() {
        let s = Scheduler::new(4);
        let earlier = s.instance_turn(false).await;
        let alone = {
            let s = s.clone();
            tokio::spawn(async move { s.instance_turn(true).await })
        };
        tokio::task::yield_now().await;
        assert!(
            !alone.is_finished(),
            "did not wait for the earlier mutation"
        );
        let later = {
            let s = s.clone();
            tokio::spawn(async move { s.instance_turn(false).await })
        };
        tokio::task::yield_now().await;
        drop(earlier);
        let alone = alone.await.unwrap();
        tokio::task::yield_now().await;
        assert!(!later.is_finished(), "a later mutation overtook");
        drop(alone);
        drop(later.await.unwrap());
    }

    #[tokio::test]
    async fn a_gate_named_twice_does_not_wait_on_itself() {
        let s = Scheduler::new(1);
        let mut t = s.enter(gates(&["user:a@%", "user:a@%"]));
        tokio::time::timeout(std::time::Duration::from_millis(50), t.ready())
            .await
            .expect("deadlocked on its own gate");
    }

    #[tokio::test]
    async fn chains_keep_arrival_order() {
        let s = Scheduler::new(4);
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..20 {
            let mut turn = s.enter(gates(&[if i % 2 == 0 { "a" } else { "b" }]));
            let order = order.clone();
            tasks.push(tokio::spawn(async move {
                turn.ready().await;
                // Later arrivals must not overtake while this one yields.
                tokio::task::yield_now().await;
                lock(&order).push(i);
                drop(turn);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let got = lock(&order).clone();
        let evens: Vec<_> = got.iter().copied().filter(|i| i % 2 == 0).collect();
        let odds: Vec<_> = got.iter().copied().filter(|i| i % 2 == 1).collect();
        assert_eq!(evens, (0..20).step_by(2).collect::<Vec<_>>());
        assert_eq!(odds, (1..20).step_by(2).collect::<Vec<_>>());
    }
}
