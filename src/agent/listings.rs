//! Large listings, one at a time.
//!
//! A listing's answer grows with the server: a thousand accounts is about
//! 3 MiB of rows, values, JSON and frames while it is built, and with 16
//! deliveries in hand the agent would build up to 16 at once (42 MiB,
//! measured) on a runtime that is one thread anyway. So while a method's
//! listings are large, they are built one at a time. Small listings (a
//! server with ten accounts) are not held back: serialising them cost a
//! third of their throughput for no memory saved.
//!
//! A listing's size is known only once it is built, so the gate goes by the
//! method's last answer: the size of a server's lists changes slowly. Two at
//! once instead of one would overlap one's SQL with the other's encoding
//! (175 instead of 111 listings of 1,000 accounts per second) but peak at
//! 11.9 MiB instead of 11.0: too close to the 12 MiB the agent is allowed.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::{Semaphore, SemaphorePermit};

use crate::command::Read;

/// An answer at least this large makes its method's next listings wait
/// their turn, and has the allocator's free pages returned once such
/// answers stop (see `memory::Reclaimer`).
pub const LARGE_ANSWER: usize = 64 * 1024;

/// The gate for large listings.
#[derive(Debug)]
pub struct Listings {
    turn: Semaphore,
    /// Per listing method: its last answer was small. A method with no
    /// answer yet counts as large: a first burst of listings on a large
    /// server waits its turn too.
    small: Mutex<HashMap<&'static str, bool>>,
}

impl Default for Listings {
    fn default() -> Self {
        Listings {
            turn: Semaphore::new(1),
            small: Mutex::new(HashMap::new()),
        }
    }
}

impl Listings {
    /// Waits for this command's turn when it is a listing whose last answer
    /// was large; `None` (no waiting) for everything else.
    pub async fn enter(&self, cmd: &Read) -> Option<SemaphorePermit<'_>> {
        if !cmd.is_listing() || self.was_small(cmd.name()) {
            return None;
        }
        // The semaphore is never closed, so acquiring only waits.
        self.turn.acquire().await.ok()
    }

    /// Notes the size of a command's answer.
    pub fn answered(&self, cmd: &Read, size: usize) {
        if cmd.is_listing()
            && let Ok(mut small) = self.small.lock()
        {
            small.insert(cmd.name(), size < LARGE_ANSWER);
        }
    }

    fn was_small(&self, method: &str) -> bool {
        self.small
            .lock()
            .map(|s| s.get(method).copied().unwrap_or(false))
            .unwrap_or(false)
    }
}
