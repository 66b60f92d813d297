//! One delivery as the pipeline carries it: who to answer and how, which
//! broker delivery to settle, and the tracing span every line about it is
//! logged in. Built at decode, before the method's arguments are parsed.

use std::time::Duration;

// tokio's clock: paused in tests, so retry windows can be run through.
use tokio::time::Instant;

use crate::logging::shown;
use crate::rpc::{Call, Context, WireId};

/// Where a delivery's answer goes.
#[derive(Debug)]
pub enum Route {
    /// A call: a reply on its reply queue.
    Reply(Call),
    /// A cast: a notification to the conductor, if its context asks for one.
    Conductor,
}

/// Everything needed to answer and settle one request.
#[derive(Debug)]
pub struct Delivery {
    /// The message's `_unique_id`.
    pub id: Option<WireId>,
    /// The wire method, as sent.
    pub method: String,
    /// Where the answer goes.
    pub route: Route,
    /// The request context, sent back with conductor notifications.
    pub context: Context,
    /// The broker delivery to acknowledge.
    pub tag: u64,
    /// When the delivery arrived.
    pub started: Instant,
    /// The caller asked for the queued action at once (`async: true`).
    pub is_async: bool,
    /// The span of every line logged about it: `id`, `method`, `kind`.
    pub span: tracing::Span,
}

/// How long commands wait for mysqld to come back before they fail, and
/// how long redeliveries get after a restart before the recovery sweep
/// settles what they left (`recovery`). Fields, not constants, so tests on
/// tokio's paused clock can choose them.
#[derive(Debug, Clone, Copy)]
pub struct Patience {
    /// A cast.
    pub cast: Duration,
    /// A call that gave no `_timeout`.
    pub call: Duration,
    /// Redeliveries after the agent starts consuming.
    pub grace: Duration,
}

impl Default for Patience {
    fn default() -> Self {
        Patience {
            cast: Duration::from_secs(300),
            call: Duration::from_secs(60),
            grace: Duration::from_secs(60),
        }
    }
}

impl Delivery {
    /// The span a delivery is logged in, made as soon as its method and id
    /// are known (also for a message that does not decode).
    pub fn span(id: Option<&WireId>, method: &str, call: bool) -> tracing::Span {
        let kind = if call { "call" } else { "cast" };
        tracing::info_span!(
            "delivery",
            id = id.map_or("", WireId::as_str),
            method = %shown(method),
            kind
        )
    }

    /// The call's reply details; `None` for a cast.
    pub fn call(&self) -> Option<&Call> {
        match &self.route {
            Route::Reply(c) => Some(c),
            Route::Conductor => None,
        }
    }

    /// True for a call.
    pub fn is_call(&self) -> bool {
        self.call().is_some()
    }

    /// Until when the command may wait for mysqld: the call's `_timeout`,
    /// or the patience for its kind, from its arrival.
    pub fn deadline(&self, patience: &Patience) -> Instant {
        let window = match self.call() {
            Some(c) => c.timeout.unwrap_or(patience.call),
            None => patience.cast,
        };
        self.started.checked_add(window).unwrap_or(self.started)
    }
}
