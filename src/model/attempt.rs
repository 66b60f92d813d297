//! Whether a mutation runs for the first time or finishes one a crash (or
//! mysqld going away) interrupted.

/// How a change is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// The first attempt: the state must be as the command expects (the
    /// account to create is absent, the one to drop present).
    First,
    /// The command may have been applied in part before the agent or
    /// mysqld stopped: finish it, taking what is already there as its own.
    Recovery,
}
