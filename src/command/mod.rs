//! Commands: what the control plane asked for, as typed values, and what
//! each one does.
//!
//! Every RPC method lives in one file, `read/<method>.rs` for the methods
//! that change nothing and `write/<method>.rs` for those that change mysqld:
//! the file holds the method's arguments as a type, its parse (every name
//! validated, every item of a multi-item command checked before anything
//! runs), its flags as associated consts, and its `apply`. The table in
//! `table.rs` lists them once; it generates the method list, parsing by
//! name, and the dispatch. Adding a method is one file and one line there.
//!
//! Nothing below this module sees JSON: arguments become [`crate::model`]
//! values here, and `apply` runs against the [`Database`] trait.
//!
//! | file | owns |
//! | --- | --- |
//! | `mod.rs` | [`Method`], [`ParseError`], [`ParseCx`], [`Env`] |
//! | `table.rs` | the method table: [`Command`], [`Read`], [`Write`] and their dispatch |
//! | `read/mod.rs`, `write/mod.rs` | the traits of the two kinds of method |
//! | `args.rs` | taking typed values out of the keyword arguments |
//! | `parse.rs`, `render.rs` | the argument and result shapes several methods share; [`Answer`] |
//! | `generated.rs` | passwords the agent generates, handed back once |

mod args;
mod generated;
mod parse;
mod read;
mod render;
mod table;
mod write;

pub use args::Args;
pub use generated::Generated;
pub use read::ReadMethod;
pub use render::Answer;
#[cfg(any(test, feature = "testkit"))]
pub use table::method_names;
pub use table::{Command, Read, Write, effect_of, finished, is_write};
pub use write::{Effect, WriteMethod};

use crate::instance::Instance;
use crate::journal::Journal;
use crate::model::{Classify, Disposition, NameError, Protected, WireClass};

/// Size limits applied while parsing.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most users or databases in one command.
    pub max_items: usize,
}

/// What parsing needs besides the arguments.
#[derive(Debug, Clone, Copy)]
pub struct ParseCx<'a> {
    /// The names no command may touch.
    pub protected: &'a Protected,
    /// Size limits.
    pub limits: Limits,
    /// Whether `enable_root` is served (`amqp.allow_root_enable`).
    pub allow_root_enable: bool,
}

/// What every method is: a wire name and a parse.
pub trait Method: Sized {
    /// The wire method name.
    const NAME: &'static str;
    /// Other wire names served by the same method.
    const ALIASES: &'static [&'static str] = &[];

    /// Takes the method's arguments out of the request, validated.
    fn parse(args: &mut Args, cx: &ParseCx<'_>) -> Result<Self, ParseError>;
}

/// What a command runs against.
#[derive(Debug)]
pub struct Env<'a, D> {
    /// mysqld.
    pub db: &'a D,
    /// The action journal.
    pub journal: &'a Journal,
    /// The Trove instance: its prepare, its data's filesystem.
    pub instance: &'a Instance,
}

impl<D> Clone for Env<'_, D> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<D> Copy for Env<'_, D> {}

/// Why a request could not become a command. Never retried: the same
/// request will never parse, so it is refused and nothing is changed.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The agent has no such method (worded as oslo's dispatcher words it).
    #[error("Endpoint does not support RPC method {0}")]
    UnknownMethod(String),
    /// A required argument is absent or null.
    #[error("missing argument {0:?}")]
    Missing(&'static str),
    /// An argument has the wrong JSON type.
    #[error("argument {arg:?} must be {expected}")]
    Type {
        /// The argument.
        arg: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// A list argument is empty.
    #[error("argument {0:?} must not be empty")]
    Empty(&'static str),
    /// A list argument is longer than the configured limit.
    #[error("argument {arg:?} holds more than {limit} items")]
    TooMany {
        /// The argument.
        arg: &'static str,
        /// The limit.
        limit: usize,
    },
    /// A name, host or password broke the naming rules.
    #[error("{0}")]
    Name(#[from] NameError),
    /// The command names a system account.
    #[error("{0} is a system account and cannot be used")]
    SystemUser(String),
    /// The command names a system database.
    #[error("{0} is a system database and cannot be used")]
    SystemDatabase(String),
    /// The same account or database appears twice in one command.
    #[error("{0} appears more than once")]
    Duplicate(String),
    /// A database whose name, escaped for `GRANT` (`_` → `\_`), is longer
    /// than the 64 characters mysqld keeps.
    #[error(
        "database {0:?} cannot be granted on: its name with '_' and '%' escaped is longer than 64 characters"
    )]
    Ungrantable(String),
    /// The method is switched off on this host.
    #[error("{0}")]
    SwitchedOff(&'static str),
    /// The request asks for something the agent cannot do.
    #[error("{0}")]
    Unsupported(String),
}

impl Classify for ParseError {
    fn wire_class(&self) -> WireClass {
        match self {
            ParseError::UnknownMethod(_) => WireClass::NoSuchMethod,
            ParseError::SwitchedOff(_) | ParseError::Unsupported(_) => WireClass::NotSupported,
            _ => WireClass::BadRequest,
        }
    }

    fn disposition(&self) -> Disposition {
        Disposition::Fail
    }
}

#[cfg(test)]
mod tests;
